//! Our FTP client (RFC 959, 2389 FEAT, 2428 EPSV/EPRT, 3659 MLSD/MLST/SIZE/MDTM/REST).
//!
//! Never imports fuser, fs or cache: it implements the `remote::Remote` trait and nothing above.
//! Layout: `command` (what we send) and `reply` (what we read) are pure; `reply_code` names
//! the codes; `listing` and `ftp_time` parse what servers list; `transport` is the byte stream;
//! `control` is one logged-in connection; `data_channel` opens data channels; `transfer` wraps
//! a running RETR/STOR; `pool` shares connections (`background`: its threads opening data connections ahead); `commit` ends an atomic upload in one round trip; `reply_errors` maps replies to error kinds
//! and decides when a command counts as not implemented; `client` maps it all onto `Remote`.

mod background;
pub(crate) mod certificate;
pub(crate) mod client;
pub(crate) mod command;
mod commit;
pub(crate) mod config;
pub(crate) mod control;
pub mod data_channel;
pub mod features;
pub mod ftp_time;
pub mod listing;
pub(crate) mod pool;
pub(crate) mod quirks;
mod rename_replies;
pub mod reply;
pub(crate) mod reply_code;
mod reply_errors;
mod stat_listing;
pub(crate) mod tls;
pub(crate) mod tls_sessions;
pub(crate) mod tls_trust;
pub(crate) mod transfer;
pub(crate) mod transport;

pub use client::FtpRemote;
pub use config::{DataMode, Fingerprint, FtpConfig, TlsMode};
