//! The streaming upload of one open file, and the registry of files being written.
//!
//! Sequential writes (the overwhelming case: cp, rsync, tar, editors saving) go straight into
//! one STOR (or APPE) data connection: no local spool, no second copy on disk. write() only
//! queues the bytes: a background thread per upload feeds the data connection through a bounded
//! queue (`QUEUE_DEPTH` batches of about `BATCH_SIZE`), so memory stays bounded and a slow server
//! slows the writer down instead of filling RAM.
//!
//! Batch buffers travel in a loop: the uploader hands each emptied buffer back (`recycled`),
//! so a long upload reuses the same few megabytes instead of allocating, page-faulting and
//! freeing a fresh megabyte per batch (that churn cost more CPU than the copy itself).
//!
//! The rule is "no silent data loss": only the server's final reply says the file is complete,
//! so `Upload::finish` waits for it and its error is what flush/close return. A failure while
//! streaming shows up at the next write (the queue is closed by the dying uploader) with the
//! server's error. A replacing upload normally streams to a temporary name that `finish` renames
//! over the real one only after that final reply (`upload_target`); a failed one is deleted.
//!
//! `OpenWrites` remembers which paths have writers and how big they are so far, because the
//! server's listing lags behind (and the kernel computes O_APPEND offsets from our size).
//!
//! Locking: an `Upload` lives inside its handle's mutex. `OpenWrites` has its own short mutex and
//! atomics; none is held across network I/O.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::SystemTime;

use parking_lot::Mutex;

use super::error::FsError;
use super::upload_target::UploadTarget;
use crate::remote::{
    CommitAttrs, Remote, RemoteError, RemoteErrorKind, RemoteResult, RemoteWriter,
};
use crate::status::{self, Direction};

/// Bytes collected before a batch is handed to the uploader thread.
pub(crate) const BATCH_SIZE: usize = 1024 * 1024;
/// Batches that may wait in the queue (memory bound: about (QUEUE_DEPTH + 2) x BATCH_SIZE).
pub(crate) const QUEUE_DEPTH: usize = 8;

/// Which command the upload uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UploadKind {
    /// STOR: replaces the file, starts at offset 0.
    Replace,
    /// APPE: continues at the file's current end.
    Append,
}

/// One upload in flight.
pub(crate) struct Upload {
    /// The real path when the upload started (for messages).
    path: PathBuf,
    /// Where the data goes; `None` once finished or abandoned.
    target: Option<UploadTarget>,
    /// File offset just after the last byte accepted by `push`.
    end: u64,
    /// When `push` last accepted bytes (or the upload started).
    last_push: std::time::Instant,
    /// Whether any byte was pushed.
    carried_data: bool,
    pending: Vec<u8>,
    sender: Option<SyncSender<Vec<u8>>>,
    /// Emptied batch buffers coming back from the uploader.
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<RemoteResult<()>>>,
}

impl Upload {
    /// Open the data connection and start the uploader. Refusals show up here, or (where the
    /// remote does not wait for the server's go-ahead: plain passive FTP) at the first write
    /// that would block, or at `finish`.
    /// `start` is the file offset the first pushed byte lands at (0 for `Replace`).
    pub(crate) fn start(
        remote: &dyn Remote,
        target: UploadTarget,
        kind: UploadKind,
        start: u64,
    ) -> Result<Upload, FsError> {
        let path = target.final_path().to_path_buf();
        let writer = match kind {
            UploadKind::Replace => remote.create(target.upload_path()),
            UploadKind::Append => remote.append(target.upload_path()),
        }
        .map_err(|err| FsError::remote(format!("upload {}", path.display()), &err))?;
        let writer = status::track(writer, &path, Direction::Upload, start, None);
        let (sender, receiver) = sync_channel::<Vec<u8>>(QUEUE_DEPTH);
        let (give_back, recycled) = sync_channel::<Vec<u8>>(QUEUE_DEPTH + 2);
        let thread_path = path.to_path_buf();
        let worker = std::thread::Builder::new()
            .name("ftpfs-upload".into())
            .spawn(move || feed(writer, receiver, give_back, &thread_path))
            .map_err(|err| FsError::io("start upload thread", &err))?;
        Ok(Upload {
            path,
            target: Some(target),
            end: start,
            last_push: std::time::Instant::now(),
            carried_data: false,
            pending: Vec::new(),
            sender: Some(sender),
            recycled,
            worker: Some(worker),
        })
    }

    /// The offset the next sequential write must have.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Whether any byte was pushed: if not, the server's file keeps the time the upload began.
    pub(crate) fn carried_data(&self) -> bool {
        self.carried_data
    }

    /// How long nothing was written.
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        self.last_push.elapsed()
    }

    /// Queue bytes for the server; blocks only while the queue is full.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(), FsError> {
        self.last_push = std::time::Instant::now();
        if self.pending.capacity() == 0 {
            self.pending = self
                .recycled
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH_SIZE.max(data.len())));
        }
        self.pending.extend_from_slice(data);
        self.end += data.len() as u64;
        self.carried_data |= !data.is_empty();
        if self.pending.len() >= BATCH_SIZE {
            self.send_pending()?;
        }
        Ok(())
    }

    fn send_pending(&mut self) -> Result<(), FsError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let sent = match &self.sender {
            Some(sender) => sender.send(batch).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The uploader stopped early: its result says why.
        self.sender = None;
        Err(match self.join_worker() {
            Err(err) => err,
            Ok(()) => FsError::new(
                libc::EIO,
                format!("upload of {} stopped early", self.path.display()),
            ),
        })
    }

    fn join_worker(&mut self) -> Result<(), FsError> {
        let Some(worker) = self.worker.take() else {
            return Err(FsError::new(
                libc::EIO,
                format!("upload of {} already ended", self.path.display()),
            ));
        };
        let result = worker.join().unwrap_or_else(|_| {
            Err(RemoteError::new(
                RemoteErrorKind::Other,
                "upload thread panicked",
            ))
        });
        result.map_err(|err| FsError::remote(format!("upload {}", self.path.display()), &err))
    }

    /// Whether the data goes to a temporary name renamed into place by `finish`.
    pub(crate) fn is_atomic(&self) -> bool {
        self.target.as_ref().is_some_and(UploadTarget::is_atomic)
    }

    /// Send what is left, close the data connection and wait for the server's verdict; then
    /// give a temporary upload the real name `path` (the file's name now), with `attrs` (the
    /// replaced file's permissions when known, a time set while open) given to it first.
    /// Returns the file size the upload leaves and how setting `attrs.mtime` went (`None`:
    /// not tried, as for an upload in place). On failure a temporary file is deleted and the
    /// real name is left as it was.
    pub(crate) fn finish(
        mut self,
        remote: &dyn Remote,
        path: &Path,
        attrs: CommitAttrs,
    ) -> Result<(u64, Option<RemoteResult<()>>), FsError> {
        let sent = self.send_pending().and_then(|()| {
            self.sender = None;
            self.join_worker()
        });
        let Some(target) = self.target.take() else {
            return Err(FsError::new(
                libc::EIO,
                format!("upload of {} already ended", self.path.display()),
            ));
        };
        match sent {
            Ok(()) => {
                let mtime = target.commit(remote, path, attrs)?;
                Ok((self.end, mtime))
            }
            Err(err) => {
                target.abandon(remote);
                Err(err)
            }
        }
    }

    /// Give up: end the transfer and delete a temporary file. For an upload that already
    /// failed (its error was reported) or whose handle is going away with an error.
    pub(crate) fn abort(mut self, remote: &dyn Remote) {
        self.sender = None;
        if self.worker.is_some() {
            let _ = self.join_worker();
        }
        if let Some(target) = self.target.take() {
            target.abandon(remote);
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.worker.is_some() || self.target.as_ref().is_some_and(UploadTarget::is_atomic) {
            // Every path of the core finishes its uploads; reaching this is a bug, so say so.
            log::error!(
                "upload of {} dropped without finish; the server may keep a partial file",
                self.path.display()
            );
        }
    }
}

/// The uploader thread: write batches until the queue closes, then collect the final reply.
fn feed(
    mut writer: Box<dyn RemoteWriter>,
    receiver: Receiver<Vec<u8>>,
    give_back: SyncSender<Vec<u8>>,
    path: &Path,
) -> RemoteResult<()> {
    for mut batch in receiver {
        if let Err(err) = writer.write_all(&batch) {
            let err = RemoteError::from_io(err);
            log::warn!("upload of {} failed: {err}", path.display());
            return Err(err);
        }
        batch.clear();
        let _ = give_back.try_send(batch); // a full return queue just lets this one go
    }
    writer.finish()
}

/// Progress of the writers of one path.
#[derive(Debug)]
pub(crate) struct WriteProgress {
    size: AtomicU64,
    /// An mtime set (utimens) while writing: applied after the upload, or the server's own
    /// "modified now" at the end of the transfer would overwrite it.
    pending_mtime: Mutex<Option<SystemTime>>,
    /// A mode set (chmod) while an upload goes to a temporary name: given to that file before
    /// it is renamed into place (the real name does not hold the new file yet).
    pending_mode: Mutex<Option<u32>>,
}

impl WriteProgress {
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    pub(crate) fn set_size(&self, size: u64) {
        self.size.store(size, Ordering::Relaxed);
    }

    /// Grow to at least `end` (a write ended there).
    pub(crate) fn grow_to(&self, end: u64) {
        self.size.fetch_max(end, Ordering::Relaxed);
    }

    pub(crate) fn set_pending_mtime(&self, mtime: SystemTime) {
        *self.pending_mtime.lock() = Some(mtime);
    }

    pub(crate) fn take_pending_mtime(&self) -> Option<SystemTime> {
        self.pending_mtime.lock().take()
    }

    pub(crate) fn pending_mtime(&self) -> Option<SystemTime> {
        *self.pending_mtime.lock()
    }

    pub(crate) fn set_pending_mode(&self, mode: u32) {
        *self.pending_mode.lock() = Some(mode);
    }

    pub(crate) fn pending_mode(&self) -> Option<u32> {
        *self.pending_mode.lock()
    }

    pub(crate) fn take_pending_mode(&self) -> Option<u32> {
        self.pending_mode.lock().take()
    }
}

/// Paths with open writers. Protects: the map (the progress values are atomics).
#[derive(Debug, Default)]
pub(crate) struct OpenWrites {
    paths: Mutex<HashMap<PathBuf, (usize, Arc<WriteProgress>)>>,
}

impl OpenWrites {
    /// A writer opened `path` whose size is `size` now.
    pub(crate) fn register(&self, path: &Path, size: u64) -> Arc<WriteProgress> {
        let mut paths = self.paths.lock();
        let slot = paths.entry(path.to_path_buf()).or_insert_with(|| {
            (
                0,
                Arc::new(WriteProgress {
                    size: AtomicU64::new(size),
                    pending_mtime: Mutex::new(None),
                    pending_mode: Mutex::new(None),
                }),
            )
        });
        slot.0 += 1;
        slot.1.clone()
    }

    /// A writer of `path` was released. When it was the last one, returns an mtime that was
    /// deferred to it and not yet applied: the caller must apply it now.
    pub(crate) fn unregister(&self, path: &Path) -> Option<SystemTime> {
        let mut paths = self.paths.lock();
        let slot = paths.get_mut(path)?;
        slot.0 -= 1;
        if slot.0 > 0 {
            return None;
        }
        let (_, progress) = paths.remove(path)?;
        progress.take_pending_mtime()
    }

    /// Defer `mtime` to the writers of `path` (applied after their upload, or the server's
    /// end-of-transfer "modified now" would overwrite it). Returns false when nobody writes
    /// `path`: the caller applies it itself. Checked and set under the map lock, so it cannot
    /// slip in between the last writer's final check and its `unregister`: the kernel sends
    /// RELEASE asynchronously, and `rsync`'s utimens often races with it.
    pub(crate) fn defer_mtime(&self, path: &Path, mtime: SystemTime) -> bool {
        match self.paths.lock().get(path) {
            Some((_, progress)) => {
                progress.set_pending_mtime(mtime);
                true
            }
            None => false,
        }
    }

    pub(crate) fn get(&self, path: &Path) -> Option<Arc<WriteProgress>> {
        self.paths
            .lock()
            .get(path)
            .map(|(_, progress)| progress.clone())
    }

    /// Follow a rename (of the file or a directory above it) so sizes keep showing under the
    /// new name.
    pub(crate) fn renamed(&self, from: &Path, to: &Path) {
        let mut paths = self.paths.lock();
        let moved: Vec<PathBuf> = paths
            .keys()
            .filter(|path| path.starts_with(from))
            .cloned()
            .collect();
        for old in moved {
            let Some(new) = super::names::rebase(&old, from, to) else {
                continue;
            };
            if let Some(slot) = paths.remove(&old) {
                paths.insert(new, slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::faulty::TestRemote;

    fn start(remote: &TestRemote, path: &str) -> Upload {
        Upload::start(
            remote,
            UploadTarget::atomic(Path::new(path)),
            UploadKind::Replace,
            0,
        )
        .unwrap()
    }

    fn finish(upload: Upload, remote: &TestRemote, path: &str) -> Result<u64, FsError> {
        let (size, mtime) = upload.finish(remote, Path::new(path), CommitAttrs::default())?;
        assert!(mtime.is_none(), "no time asked for");
        Ok(size)
    }

    #[test]
    fn pushed_bytes_reach_the_server_and_finish_reports_size() {
        let remote = TestRemote::new();
        let mut upload = start(&remote, "/f");
        upload.push(b"hello ").unwrap();
        upload.push(&vec![b'x'; BATCH_SIZE]).unwrap();
        upload.push(b"end").unwrap();
        assert_eq!(
            finish(upload, &remote, "/f").unwrap(),
            6 + BATCH_SIZE as u64 + 3
        );
        let data = remote.file("/f").unwrap();
        assert!(data.starts_with(b"hello x") && data.ends_with(b"xend"));
    }

    #[test]
    fn failed_final_reply_is_returned_by_finish() {
        let remote = TestRemote::new();
        let mut upload = start(&remote, "/f");
        upload.push(b"data").unwrap();
        remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
        assert_eq!(
            finish(upload, &remote, "/f").unwrap_err().errno,
            libc::ENOSPC
        );
    }

    #[test]
    fn refused_upload_fails_at_start() {
        let remote = TestRemote::new();
        remote.fail_path("/f", RemoteErrorKind::PermissionDenied);
        let err = Upload::start(
            &remote,
            UploadTarget::in_place(Path::new("/f")),
            UploadKind::Replace,
            0,
        )
        .err()
        .unwrap();
        assert_eq!(err.errno, libc::EACCES);
    }

    #[test]
    fn open_writes_count_writers_and_follow_renames() {
        let writes = OpenWrites::default();
        let progress = writes.register(Path::new("/a"), 5);
        writes.register(Path::new("/a"), 0);
        progress.grow_to(9);
        progress.grow_to(7);
        writes.renamed(Path::new("/a"), Path::new("/b"));
        assert_eq!(writes.get(Path::new("/b")).unwrap().size(), 9);
        writes.register(Path::new("/d/f"), 4);
        writes.renamed(Path::new("/d"), Path::new("/e"));
        assert_eq!(writes.get(Path::new("/e/f")).unwrap().size(), 4);
        writes.unregister(Path::new("/b"));
        assert!(writes.get(Path::new("/b")).is_some());
        writes.unregister(Path::new("/b"));
        assert!(writes.get(Path::new("/b")).is_none());
    }

    #[test]
    fn an_mtime_deferred_to_the_last_writer_comes_back_from_unregister() {
        let writes = OpenWrites::default();
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        assert!(!writes.defer_mtime(Path::new("/f"), when), "no writer");
        writes.register(Path::new("/f"), 0);
        writes.register(Path::new("/f"), 0);
        assert!(writes.defer_mtime(Path::new("/f"), when));
        assert_eq!(writes.unregister(Path::new("/f")), None, "one writer left");
        assert_eq!(writes.unregister(Path::new("/f")), Some(when));
        assert!(!writes.defer_mtime(Path::new("/f"), when));
    }
}
