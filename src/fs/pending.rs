//! Write-back mode in the filesystem core (issue 11): the engine (`writeback`) wired to handles,
//! the namespace and the upload function every close uses.
//!
//! Only with `FsConfig::writeback` (off by default): without it `writeback` stays empty and every
//! function here is a no-op, so the default close-to-open behaviour is untouched.
//!
//! - Open with O_TRUNC and create start no STOR: the handle writes into an anonymous spool.
//! - Close (`settle` of a dirty spool) copies the data into the durable write-back spool
//!   (`write_back`) and returns; a file larger than the whole spool is uploaded at close as
//!   without write-back. Background workers upload queued files oldest first through the same
//!   atomic `upload_spool_as` close uses, the recorded mode and mtime going with its rename.
//! - Until its upload ends, a pending file keeps a registration in the namespace's open-writes
//!   registry (one per queue entry), so lookups and getattr show the size the program wrote;
//!   a fresh listing from the server gets the pending new names added (`with_pending_names`).
//! - A read-only open of a pending file reads its spooled data (`pending_contents`), not the
//!   server's older version, without waiting for the upload.
//! - Order, in its simplest safe form: a writable open, rename, unlink, rmdir and setattr of a path with an
//!   upload queued or in flight (at or below it) first wait for that upload, then go on as
//!   without write-back (`wait_pending`). Except a chmod/utimens of a file whose upload is
//!   still queued: recorded with it, applied after it (`record_pending_attributes`; tar sets
//!   times by name after close); a chmod/utimens of a directory with uploads pending below it
//!   (`deferred_dirs`: shown now, sent after them); and a rename of a *fresh* file (created here under a name the
//!   server lacked, upload still queued): done in the queue alone (`rename_in_spool`; rsync's
//!   temporary name); and a rename of another file whose upload is still queued: the entry
//!   moves in the queue, held while the server's old copy is renamed (`rename_queued`); an
//!   unlink of a queued file deletes the server's copy and cancels the entry (`unlink_queued`). Before a rename or unlink, open handles' unqueued data there is queued
//!   (`finish_uploads_under`), as the default mode finishes their uploads.
//! - Barriers: fsync waits for the path's upload and returns its permanent failure; so does the
//!   next close of the path that did not write new data. Unmount drains with a bound, logging
//!   every path left; the next mount resumes them (`start_writeback`).
//!
//! Locks: the engine's locks are leaves. fsync and the ordered operations wait for uploads with
//! no handle mutex held; a close waiting for spool room (or a release applying a late utimens)
//! holds only its own handle, as any close does. Background uploads never wait for a handle
//! (they skip busy ones when closing downloads of their path), so no wait can close a cycle.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::handle::OpenFile;
use super::spool::Spool;
use super::writeback::engine::{Engine, UploadFailure, Uploader};
use super::writeback::{journal::Location, retry, store::Record};
use super::{FsCore, FsError, SetAttrRequest};
use crate::remote::{CommitAttrs, Entry, EntryKind, RemoteError, RemoteErrorKind};

/// Bound for a wait on the queue: fsync, an operation ordered after an upload, a full spool.
const WAIT: Duration = Duration::from_secs(300);
/// Bound for draining the queue at unmount (systemd stops a unit after 90 s).
const DRAIN: Duration = Duration::from_secs(60);

impl FsCore {
    /// Turn write-back mode on when configured: open the spool, show what a previous mount left
    /// there as pending, and start the uploaders (which resume it).
    pub fn start_writeback(self: &Arc<Self>) -> Result<(), FsError> {
        if !self.config.writeback {
            return Ok(());
        }
        let dir = &self.config.writeback_dir;
        if self.config.read_only {
            log::warn!(
                "write-back mode is off on a read-only mount; uploads pending in {} wait for a \
                 writable mount",
                dir.display()
            );
            return Ok(());
        }
        let weak = Arc::downgrade(self);
        let upload: Box<Uploader> =
            Box::new(
                move |record: &Record, data: &Location| match weak.upgrade() {
                    Some(fs) => fs.upload_pending(record, data),
                    None => Err(UploadFailure {
                        transient: true,
                        message: "the filesystem is gone".into(),
                    }),
                },
            );
        let show_pending = |record: &Record| {
            let pending = self.namespace.writer_opened(&record.path, record.size);
            pending.set_size(record.size);
        };
        let (engine, unreadable) = Engine::start(
            dir,
            self.config.spool_size,
            self.config.writeback_workers.max(1),
            upload,
            retry::backoff,
            &show_pending,
        )
        .map_err(|err| FsError::io(format!("write-back spool {}", dir.display()), &err))?;
        for (file, why) in unreadable {
            log::error!(
                "write-back spool entry {} cannot be read ({why}); left in place",
                file.display()
            );
        }
        let resumed = engine.with_queue(|queue| queue.pending().count());
        if resumed > 0 {
            log::info!(
                "resuming {resumed} upload(s) left in {} by an earlier mount",
                dir.display()
            );
        }
        let weak = Arc::downgrade(self);
        engine.on_upload_ended(Box::new(move |_path: &Path| {
            if let Some(fs) = weak.upgrade() {
                fs.apply_settled_dir_attributes();
            }
        }));
        log::info!("write-back mode: spool {}", dir.display());
        self.writeback
            .set(engine)
            .map_err(|_| FsError::new(libc::EINVAL, "write-back mode started twice"))?;
        self.install_writeback_probes();
        Ok(())
    }

    /// A fresh spool for a handle that replaces its file, in write-back mode only (`None`:
    /// start a STOR as usual).
    pub(super) fn writeback_spool(&self) -> Result<Option<Spool>, FsError> {
        if self.writeback.get().is_none() {
            return Ok(None);
        }
        let mut spool = Spool::create(&self.config.spool_dir);
        spool.mark_dirty(); // even empty, the file must reach the server
        Ok(Some(spool))
    }

    /// Close of a dirty spool in write-back mode: make it durable and queue it. Ok(true): queued
    /// (the handle is clean); Ok(false): upload it now (no write-back, or larger than the spool).
    pub(super) fn write_back(
        &self,
        file: &mut OpenFile,
        spool: &mut Spool,
    ) -> Result<bool, FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(false);
        };
        let path = &file.path;
        let mtime = file.progress.as_ref().and_then(|p| p.take_pending_mtime());
        let mode = self.namespace.take_pending_mode(path);
        // Registered before the entry exists, so a fast upload cannot end before it is shown.
        self.namespace
            .writer_opened(path, spool.len())
            .set_size(spool.len());
        let queued = spool.contents().and_then(|mut source| {
            engine.close(
                path,
                spool.len(),
                &mut source,
                (mtime, mode),
                file.fresh,
                WAIT,
            )
        });
        match queued {
            Ok(Some(superseded)) => {
                for _ in 0..superseded {
                    self.namespace.writer_closed(path);
                }
                spool.mark_clean();
                file.fresh = false; // its next close may find this upload done
                Ok(true)
            }
            other => {
                self.namespace.writer_closed(path);
                if let (Some(progress), Some(mtime)) = (&file.progress, mtime) {
                    progress.set_pending_mtime(mtime);
                }
                if let Some(mode) = mode {
                    self.namespace.defer_mode(path, mode);
                }
                other.map(|_| false)
            }
        }
    }

    /// A worker uploads one queued file (the engine retries transient failures).
    fn upload_pending(&self, record: &Record, data: &Location) -> Result<(), UploadFailure> {
        let path = &record.path;
        let mut spool = Spool::open_committed(data).map_err(failure)?;
        // The recorded time goes with the rename (one round trip less than setting it after).
        let attrs = CommitAttrs {
            mode: record.mode,
            mtime: record.mtime,
        };
        let mtime_result = self
            .upload_spool_as(None, &mut spool, path, attrs, Duration::ZERO)
            .map_err(failure)?;
        // A newer close of the path, queued meanwhile, owns the size shown.
        let newer = self.writeback.get().is_some_and(|engine| {
            engine.with_queue(|q| q.get(path).is_some_and(|p| p.record.seq > record.seq))
        });
        if !newer {
            self.namespace.written(path, record.size);
        }
        if let Some(mode) = record.mode {
            self.namespace.mode_set(path, mode);
        }
        if let Err(err) = self.mtime_after_commit(path, record.mtime, mtime_result) {
            log::warn!(
                "{} was uploaded, but its time was not set: {err}",
                path.display()
            );
        }
        log::debug!("uploaded {} after close", path.display());
        if let Some(mtime) = self.namespace.writer_closed(path)
            && Some(mtime) != record.mtime
            && let Err(err) = self.apply_mtime(path, mtime)
        {
            log::warn!("{err}");
        }
        Ok(())
    }

    /// A fresh listing of `dir` from the server, with the pending files it does not show yet
    /// (new names whose upload has not ended) added, so `ls` sees what the program wrote.
    pub(super) fn with_pending_names(&self, dir: &Path, mut entries: Vec<Entry>) -> Vec<Entry> {
        let Some(engine) = self.writeback.get() else {
            return entries;
        };
        let pending: Vec<(OsString, u64)> = engine.with_queue(|queue| {
            queue
                .children(dir)
                .into_iter()
                .filter_map(|p| Some((p.record.path.file_name()?.to_owned(), p.record.size)))
                .collect()
        });
        for (name, size) in pending {
            if !entries.iter().any(|entry| entry.name == name) {
                entries.push(Entry {
                    size: Some(size),
                    mtime: Some(SystemTime::now()),
                    ..Entry::new(name, EntryKind::File)
                });
            }
        }
        entries
    }

    /// setattr in write-back mode: a chmod and/or utimens (nothing else) of a file whose
    /// upload is queued is recorded with it and shown at once. True: done, no server call.
    pub(super) fn record_pending_attributes(
        &self,
        path: &Path,
        changes: &SetAttrRequest,
    ) -> Result<bool, FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(false);
        };
        let only_mode_and_times = changes.size.is_none()
            && changes.uid.is_none()
            && changes.gid.is_none()
            && (changes.mode.is_some() || changes.mtime.is_some());
        let mode = changes.mode.map(|mode| mode & 0o7777);
        if !only_mode_and_times || !engine.set_attributes(path, changes.mtime, mode)? {
            return Ok(false);
        }
        if let Some(mode) = mode {
            self.namespace.defer_mode(path, mode);
        }
        if let Some(mtime) = changes.mtime {
            self.namespace.defer_mtime(path, mtime);
        }
        Ok(true)
    }

    /// rename of a file that exists only in the spool (created here, upload still queued):
    /// done in the queue alone, like the server would see it after the upload. True: done.
    pub(super) fn rename_in_spool(&self, from: &Path, to: &Path) -> Result<bool, FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(false);
        };
        if matches!(self.find_entry(to)?, Some(entry) if entry.kind == EntryKind::Dir) {
            return Ok(false); // the server says EISDIR
        }
        let Some(replaced) = engine.rename_fresh(from, to)? else {
            return Ok(false);
        };
        for path in replaced {
            self.namespace.writer_closed(&path);
        }
        self.namespace.renamed(from, to);
        Ok(true)
    }

    /// A read-only open of a pending file: its spooled data, opened now, so reads see what the
    /// program wrote without waiting for the upload (the open descriptor keeps the data even
    /// when the upload ends and the spool entry is removed). None: nothing pending there.
    pub(super) fn pending_contents(&self, path: &Path) -> Option<Spool> {
        let data = self.writeback.get()?.pending_data(path)?;
        match Spool::open_committed(&data) {
            Ok(mut spool) => {
                spool.mark_clean(); // a copy to read, nothing to upload
                Some(spool)
            }
            // Uploaded (or superseded) meanwhile: the caller waits and reads the server.
            Err(_) => None,
        }
    }

    /// rename of a file whose upload is still queued and whose older version is on the server:
    /// the queue entry moves to `to`, then the server's copy is renamed, and only then may the
    /// upload (now to `to`) run, so the server ends as the program saw it without waiting for
    /// the upload. True: done. False: not such a file, or the server refused (then the caller
    /// waits and renames as without write-back, handling a target in the way).
    pub(super) fn rename_queued(&self, from: &Path, to: &Path) -> Result<bool, FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(false);
        };
        let Some(seq) = engine.hold_renamed(from, to)? else {
            return Ok(false);
        };
        match self.remote.rename(from, to) {
            // NotFound: never uploaded, the spool held the only version.
            Ok(()) => {}
            Err(err) if err.kind == RemoteErrorKind::NotFound => {}
            Err(err) => {
                log::debug!(
                    "rename {} to {} of a queued file: {err}; waiting for its upload",
                    from.display(),
                    to.display()
                );
                engine.unhold(seq, from);
                return Ok(false);
            }
        }
        self.namespace.renamed(from, to);
        engine.release(seq);
        Ok(true)
    }

    /// unlink of a file whose upload is still queued (and that no handle has open): the server's
    /// copy is deleted while the entry is held, then the entry is cancelled; no waiting for an
    /// upload that would be deleted anyway. True: done; false: not such a file.
    pub(super) fn unlink_queued(&self, path: &Path) -> Result<bool, FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(false);
        };
        if self.file_is_open(path, None) {
            return Ok(false); // hidden, not deleted: see `unlinked`
        }
        let Some(seq) = engine.hold_removed(path) else {
            return Ok(false);
        };
        match self.remote.delete(path) {
            // NotFound: never uploaded, the spool held the only version.
            Ok(()) => {}
            Err(err) if err.kind == RemoteErrorKind::NotFound => {}
            Err(err) => {
                engine.release(seq);
                return Err(FsError::remote(format!("delete {}", path.display()), &err));
            }
        }
        for cancelled in engine.cancel_held(seq, path) {
            self.namespace.writer_closed(&cancelled);
        }
        self.namespace.removed(path);
        Ok(true)
    }

    /// Order: wait until no upload is queued or in flight at or below `path`.
    pub(super) fn wait_pending(&self, path: &Path) -> Result<(), FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(());
        };
        engine.wait_settled(path, WAIT)?;
        // Deferred directory attributes below go before the operation that waited (a rename).
        self.apply_settled_dir_attributes();
        Ok(())
    }

    /// fsync barrier: wait for the upload of `path`; its permanent failure is the error.
    pub(super) fn wait_uploaded(&self, path: &Path) -> Result<(), FsError> {
        match self.writeback.get() {
            Some(engine) => engine.wait(path, WAIT),
            None => Ok(()),
        }
    }

    /// The permanent upload failure of `path` still in the spool, for close.
    pub(super) fn pending_failure(&self, path: &Path) -> Result<(), FsError> {
        match self.writeback.get().and_then(|engine| engine.failure(path)) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Whether the server's `err` about `path` only means that its one version is a failed
    /// upload still in the spool (a new file never uploaded): the operation acts on the spool.
    pub(super) fn only_in_spool(&self, path: &Path, err: &RemoteError) -> bool {
        err.kind == RemoteErrorKind::NotFound && self.pending_failure(path).is_err()
    }

    /// The server removed `path`: spool entries left there (failed uploads) are cancelled.
    pub(super) fn pending_removed(&self, path: &Path) {
        if let Some(engine) = self.writeback.get() {
            for cancelled in engine.removed(path) {
                self.namespace.writer_closed(&cancelled);
            }
        }
    }

    /// The server renamed `from` to `to`: spool entries left at `from` follow; those at `to` are
    /// replaced. Call before `namespace.renamed`.
    pub(super) fn pending_renamed(&self, from: &Path, to: &Path) {
        if let Some(engine) = self.writeback.get() {
            for cancelled in engine.renamed(from, to) {
                self.namespace.writer_closed(&cancelled);
            }
        }
    }

    /// Unmount: wait (bounded) for the queue; every path left is logged. Only the first call
    /// waits. Err names how many uploads the next mount will resume.
    pub(super) fn drain_writeback(&self) -> Result<(), FsError> {
        let Some(engine) = self.writeback.get() else {
            return Ok(());
        };
        if self
            .writeback_drained
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(());
        }
        let left = engine.drain(DRAIN);
        self.apply_settled_dir_attributes();
        for path in &left {
            log::error!(
                "{}: not uploaded yet; kept in the write-back spool for the next mount",
                path.display()
            );
        }
        if left.is_empty() {
            return Ok(());
        }
        Err(FsError::new(
            libc::EIO,
            format!(
                "{} upload(s) left in the write-back spool {}; the next mount of this source \
                 resumes them",
                left.len(),
                self.config.writeback_dir.display()
            ),
        ))
    }
}

/// An upload failure, transient when retrying may help (`retry::is_transient`).
fn failure(err: FsError) -> UploadFailure {
    UploadFailure {
        transient: retry::is_transient(err.errno),
        message: err.message,
    }
}
