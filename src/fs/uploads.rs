//! Starting and finishing uploads: the rules every upload follows, in one place.
//!
//! - A replacing upload (STOR) goes to a temporary name and is renamed into place once the
//!   server confirmed it (`upload_target`), unless `FsConfig::inplace_uploads`; APPE is always
//!   in place.
//! - Before a path is uploaded, every download of it that an open handle keeps is closed (it
//!   resumes with REST when read again): servers such as vsftpd (`lock_upload_files`) make a
//!   STOR or APPE wait for the read lock our own open RETR holds, until it times out.
//! - Before a rename or unlink, uploads into temporary names under that path are finished: the
//!   real name must hold the data before the server is asked to move or delete it, and the
//!   finished upload must not put a name back that was just renamed or removed.
//!
//! Lock order: these run with at most the caller's own handle mutex held, and wait for other
//! handles only with a bound (`HANDLE_WAIT`), so two handles closing each other's downloads at
//! the same moment delay each other, never deadlock.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::handle::{Handle, OpenFile, WriteState};
use super::spool::Spool;
use super::upload_target::{self, UploadTarget};
use super::write::{Upload, UploadKind, WriteProgress};
use super::{FsCore, FsError, names};
use crate::cache::CachedLookup;
use crate::remote::{CommitAttrs, Entry, RemoteResult};

/// How long to wait for another handle (busy with its own read) before giving up on closing
/// its download.
const HANDLE_WAIT: Duration = Duration::from_secs(5);

impl FsCore {
    /// Start uploading `path`; `own` is the handle doing it, if any (its mutex is held).
    pub(super) fn start_upload(
        &self,
        own: Option<&OpenFile>,
        path: &Path,
        kind: UploadKind,
        start: u64,
    ) -> Result<Upload, FsError> {
        self.close_downloads(path, own, HANDLE_WAIT);
        Upload::start(&*self.remote, self.upload_target(path, kind), kind, start)
    }

    /// Finish `upload` under the file's current name `path` and report what the server holds
    /// now (an upload that carried no byte leaves the time shown when it began). `writer` is
    /// the progress of the handle whose upload this is: a time set while it was open goes with
    /// the rename of an atomic upload (one round trip). Uploads of no handle (truncate by
    /// path, mknod) leave such a time to the handle's own upload.
    pub(super) fn finish_upload(
        &self,
        upload: Upload,
        path: &Path,
        writer: Option<&WriteProgress>,
    ) -> Result<u64, FsError> {
        let attrs = if upload.is_atomic() {
            let pending = self.namespace.take_pending_mode(path);
            CommitAttrs {
                mode: pending.or_else(|| self.replaced_mode(path)),
                mtime: writer.and_then(WriteProgress::take_pending_mtime),
            }
        } else {
            CommitAttrs::default()
        };
        let carried_data = upload.carried_data();
        let (size, mtime_result) = match upload.finish(&*self.remote, path, attrs) {
            Ok(done) => done,
            Err(err) => {
                // The cached entry (the one `create` made, or the size we were writing) is not
                // the server's truth any more: the real name is as it was (atomic; a new file:
                // absent), or absent after a refused STOR, or short (in place). Ask next time.
                if let Some((parent, _)) = names::split(path) {
                    self.namespace.forget_listing(parent);
                }
                return Err(err);
            }
        };
        if carried_data {
            self.namespace.written(path, size);
        } else {
            self.namespace.written_nothing(path, size);
        }
        if let Some(mode) = attrs.mode {
            self.namespace.mode_set(path, mode);
        }
        self.mtime_after_commit(path, attrs.mtime, mtime_result)?;
        Ok(size)
    }

    /// The time `mtime` asked of an upload's commit, which went as `result` (`None`: not sent
    /// with it, e.g. an upload in place): shown when set, else set on the real name step by
    /// step, which learns what the server can do (MFMT, MDTM-set, neither) and returns a real
    /// refusal.
    pub(super) fn mtime_after_commit(
        &self,
        path: &Path,
        mtime: Option<SystemTime>,
        result: Option<RemoteResult<()>>,
    ) -> Result<(), FsError> {
        match (mtime, result) {
            (Some(mtime), Some(Ok(()))) => self.namespace.mtime_set(path, mtime),
            (Some(mtime), failed) => {
                if let Some(Err(err)) = failed {
                    log::debug!("{}: time not set with the rename ({err})", path.display());
                }
                self.apply_mtime(path, mtime)?;
            }
            (None, _) => {}
        }
        Ok(())
    }

    /// Upload a spool's whole content to `path`.
    pub(super) fn upload_spool(
        &self,
        own: Option<&OpenFile>,
        spool: &mut Spool,
        path: &Path,
    ) -> Result<(), FsError> {
        self.upload_spool_as(own, spool, path, CommitAttrs::default(), HANDLE_WAIT)
            .map(drop)
    }

    /// `upload_spool` giving the new file `attrs` with its rename (the mode defaults to the
    /// replaced file's, when known), waiting at most `handle_wait` for each busy handle (a
    /// background upload waits for none: a handle's mutex may be held by a close waiting for
    /// this very upload to free room). Returns how setting `attrs.mtime` went, for
    /// `mtime_after_commit`.
    pub(super) fn upload_spool_as(
        &self,
        own: Option<&OpenFile>,
        spool: &mut Spool,
        path: &Path,
        attrs: CommitAttrs,
        handle_wait: Duration,
    ) -> Result<Option<RemoteResult<()>>, FsError> {
        self.close_downloads(path, own, handle_wait);
        let target = self.upload_target(path, UploadKind::Replace);
        let attrs = CommitAttrs {
            mode: attrs.mode.or_else(|| self.replaced_mode(path)),
            ..attrs
        };
        spool.upload(&*self.remote, target, attrs)
    }

    fn upload_target(&self, path: &Path, kind: UploadKind) -> UploadTarget {
        if kind == UploadKind::Replace && !self.config.inplace_uploads {
            UploadTarget::replacing(path)
        } else {
            UploadTarget::in_place(path)
        }
    }

    /// The cached permissions of the file an upload is about to replace (`None` also when the
    /// server cannot change permissions: no point asking it).
    fn replaced_mode(&self, path: &Path) -> Option<u32> {
        if self
            .warned
            .chmod_unsupported
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let (parent, name) = names::split(path)?;
        match self.namespace.cached(parent, name) {
            CachedLookup::Found(entry) => entry.mode,
            _ => None,
        }
    }

    /// Close every download of `path` held by an open handle other than `own`.
    fn close_downloads(&self, path: &Path, own: Option<&OpenFile>, wait: Duration) {
        let own = own.map(|file| file as *const OpenFile);
        for handle in self.handles.all() {
            let Handle::File(file) = &*handle else {
                continue;
            };
            if own == Some(file.data_ptr().cast_const()) {
                continue;
            }
            let Some(mut other) = file.try_lock_for(wait) else {
                log::debug!("a handle stayed busy; not closing its download");
                continue;
            };
            let current = self.namespace.path(other.ino);
            if current.as_deref().unwrap_or(&other.path) == path && other.reader.suspend() {
                log::debug!(
                    "closed a download of {} before uploading it",
                    path.display()
                );
            }
        }
    }

    /// Whether a handle of `ino` is streaming an upload into a temporary name (or, with
    /// `spooled_too`, holds a changed spool: write-back mode uploads it to a temporary name
    /// later). Takes each file handle's mutex in turn (nothing else held).
    pub(super) fn atomic_upload_in_flight(&self, ino: u64, spooled_too: bool) -> bool {
        self.handles.all().iter().any(|handle| match &**handle {
            Handle::File(file) => {
                let file = file.lock();
                file.ino == ino
                    && match &file.write {
                        WriteState::Streaming(upload) => upload.is_atomic(),
                        WriteState::Spooled(spool) => spooled_too && spool.is_dirty(),
                        _ => false,
                    }
            }
            Handle::Dir(_) => false,
        })
    }

    /// Finish the uploads into temporary names of `path` and everything below it (before the
    /// server renames or deletes it); in write-back mode, queue the changed spools there. A
    /// failure stays sticky in its handle, which reports it.
    pub(super) fn finish_uploads_under(&self, path: &Path) {
        for handle in self.handles.all() {
            let Handle::File(file) = &*handle else {
                continue;
            };
            let mut file = file.lock();
            if let Some(current) = self.namespace.path(file.ino) {
                file.path = current;
            }
            let atomic = matches!(&file.write, WriteState::Streaming(upload) if upload.is_atomic());
            // Write-back mode: unqueued data is queued first (it may exist nowhere else).
            let spooled = self.writeback.get().is_some()
                && matches!(&file.write, WriteState::Spooled(spool) if spool.is_dirty());
            if (atomic || spooled) && file.path.starts_with(path) {
                log::debug!("finishing the upload of {} first", file.path.display());
                if let Err(err) = self.settle(&mut file) {
                    log::warn!("{err}");
                }
            }
        }
    }

    /// A fresh listing of `dir` from the server: our temporary upload names are left out,
    /// and leftovers of a crashed mount old enough to belong to no live upload are deleted.
    pub(super) fn without_temp_files(&self, dir: &Path, mut entries: Vec<Entry>) -> Vec<Entry> {
        if !entries
            .iter()
            .any(|entry| upload_target::is_temp_name(&entry.name))
        {
            return entries;
        }
        let now = std::time::SystemTime::now();
        entries.retain(|entry| {
            if !upload_target::is_temp_name(&entry.name) {
                return true;
            }
            if !self.config.read_only && upload_target::is_stale_leftover(entry, now) {
                let path = dir.join(&entry.name);
                log::info!(
                    "deleting {}, left over by an interrupted upload",
                    path.display()
                );
                upload_target::discard(&*self.remote, &path);
            }
            false
        });
        entries
    }
}
