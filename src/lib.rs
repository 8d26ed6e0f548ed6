//! ftpfs: mount an FTP server as a local filesystem.
//!
//! Layers, dependencies pointing one way only:
//! `cli` -> `mount` -> `fuse` (the only user of `fuser::Reply*`) -> `fs` core -> `cache` ->
//! `remote` trait <- `ftp` client. `ftp` never imports fuser, fs or cache.

pub mod cache;
pub mod cli;
pub mod fs;
pub mod ftp;
pub mod fuse;
pub mod mount;
pub mod remote;
