//! What a running mount is doing, for `ftpfs status`: connections, transfers in flight, cache
//! hits and misses, errors since the mount, the write-back queue; and `ftpfs sync`, which
//! waits for that queue.
//!
//! A neutral module: it imports nothing of fs, cache or ftp (only the `remote` stream traits,
//! to count bytes), so each layer can feed it without learning about the others:
//! - the fs read/write paths wrap each download/upload stream with `track_download` /
//!   `track_upload` (one line each), which lists the transfer until the stream ends;
//! - the FUSE adapter reports failed requests (`record_error`);
//! - the composition root installs probes that ask the FTP pool for its connection counts and
//!   the chunk cache for its hits and misses (each fact stays with its owner); write-back mode
//!   installs one that lists its queue and one that waits for it; the root runs the
//!   socket server (`socket`) that answers `ftpfs status` (`client`).
//!
//! The registry is process-wide, like the `log` crate's logger: observability crosses every
//! layer, and threading a handle through all of them would put status plumbing into every
//! constructor. One process serves one mount, so "process-wide" is "this mount". Unit tests of
//! other layers feed it too; nothing reads it there.

pub(crate) mod client;
pub(crate) mod queue_view;
pub(crate) mod registry;
pub(crate) mod render;
pub mod socket;
pub(crate) mod track;

use std::sync::OnceLock;

pub use client::{StatusRequest, SyncRequest};
pub use registry::{
    Connections, Direction, PendingUpload, Registry, Snapshot, SyncOutcome, UploadState, Writeback,
};
pub use socket::StatusServer;
pub use track::{Counted, track};

/// The registry of this process.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}
