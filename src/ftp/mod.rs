//! Our FTP client (RFC 959, 2389 FEAT, 2428 EPSV/EPRT, 3659 MLSD/MLST/SIZE/MDTM/REST).
//!
//! Never imports fuser, fs or cache: it implements the `remote::Remote` trait and nothing above.

pub mod config;
pub mod ftp_time;
pub mod listing;

pub use config::{DataMode, FtpConfig, TlsMode};
pub mod client;
pub use client::FtpRemote;
