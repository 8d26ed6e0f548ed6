//! Write-back barriers for many files, and the queue shown by `ftpfs status` (issue 11).
//!
//! Linux does not pass sync(2)/syncfs(2) on to an ordinary FUSE server: `fuse_sync_fs`
//! (fs/fuse/inode.c) returns at once unless the connection set `sync_fs`, which only virtiofs
//! does, and fuser has no syncfs request either. So `sync` cannot wait for pending uploads.
//! What waits instead:
//! - fsync of a directory (FUSE fsyncdir): every upload queued or in flight at or below it
//!   (on the mount root: all of them), then reports a permanent failure there as EIO;
//! - `ftpfs sync MOUNTPOINT`, through the status socket (`Registry::sync`): the whole queue,
//!   with the caller's timeout, answering what is left and what failed.
//!
//! Locks: the waits take only the engine's leaf lock, through its condvar; no handle is held.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{FsCore, FsError};
use crate::fs::writeback::queue::State;
use crate::status::{self, PendingUpload, SyncOutcome, UploadState, Writeback};

impl FsCore {
    /// fsync of a directory: wait for every upload at or below it; its permanent failures are
    /// the error (the data stays in the spool). Without write-back: nothing to wait for.
    pub fn fsyncdir(&self, ino: u64) -> Result<(), FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(());
        };
        let dir = self.path_of(ino)?;
        self.wait_pending(&dir)?;
        let failed = engine.failures(&dir);
        match failed.first() {
            None => Ok(()),
            Some((path, message)) => Err(FsError::new(
                libc::EIO,
                format!(
                    "{} upload(s) below {} failed for good (kept in the write-back spool); \
                     first: {}: {message}",
                    failed.len(),
                    dir.display(),
                    path.display()
                ),
            )),
        }
    }

    /// Let `ftpfs status` list the queue and `ftpfs sync` wait for it (write-back mode only).
    pub(super) fn install_writeback_probes(self: &Arc<Self>) {
        let (list, sync) = (Arc::downgrade(self), Arc::downgrade(self));
        status::global().set_writeback_probes(Some((
            Arc::new(move || list.upgrade().map(|fs| fs.queue_view()).unwrap_or_default()),
            Arc::new(move |timeout| match sync.upgrade() {
                Some(fs) => fs.sync_all(timeout),
                None => SyncOutcome::default(),
            }),
        )));
    }

    /// The write-back queue as `ftpfs status` shows it.
    pub(super) fn queue_view(&self) -> Writeback {
        let Some(engine) = self.writeback.get() else {
            return Writeback::default();
        };
        let pending = engine.with_queue(|queue| {
            let list = queue.pending().map(|p| {
                let retries = queue.retries_of(p.record.seq);
                let (state, last_error) = match &p.state {
                    State::Queued => (UploadState::Queued, None),
                    State::InFlight => (UploadState::Uploading, None),
                    State::Failed(message) => (UploadState::Failed, Some(message.clone())),
                };
                PendingUpload {
                    path: p.record.path.to_string_lossy().into_owned(),
                    bytes: p.record.size,
                    state,
                    failed_attempts: retries.map_or(0, |r| r.0),
                    last_error: last_error.or_else(|| retries.map(|r| r.1.clone())),
                }
            });
            list.collect()
        });
        Writeback {
            spool: self.config.writeback_dir.to_string_lossy().into_owned(),
            pending,
        }
    }

    /// `ftpfs sync`: wait up to `timeout` for every upload; what is left and what failed.
    pub(super) fn sync_all(&self, timeout: Duration) -> SyncOutcome {
        let Some(engine) = self.writeback.get() else {
            return SyncOutcome::default();
        };
        let root = Path::new("/");
        let left = match engine.wait_settled(root, timeout) {
            Ok(()) => Vec::new(),
            Err(_) => engine.with_queue(|queue| {
                let busy = queue
                    .pending()
                    .filter(|p| !matches!(p.state, State::Failed(_)));
                busy.map(|p| p.record.path.to_string_lossy().into_owned())
                    .collect()
            }),
        };
        let failed = engine.failures(root).into_iter();
        SyncOutcome {
            left,
            failed: failed
                .map(|(path, message)| (path.to_string_lossy().into_owned(), message))
                .collect(),
        }
    }
}
