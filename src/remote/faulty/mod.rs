//! `FaultyRemote<R>`: wraps any `Remote` and makes it misbehave on request, and counts calls.
//!
//! The failures that matter for "no silent data loss" are injected here rather than inside one
//! test double, so the same switches work over the in-memory remote (fs unit tests, in-process
//! FUSE mounts) and over a real FTP client: uploads whose final reply fails, paths that refuse
//! every operation, data connections that break after N bytes, readers that deliver in small
//! pieces, slow listings, a limited number of listings ahead (the spare connections of a pool;
//! none unless a test asks), and servers that lack a feature (MFMT, SITE CHMOD, setting
//! directory times, renaming over an existing file, a specific reason for a failed RMD). The
//! call counters let tests check that caches really avoid round trips.
//!
//! Cloning shares the switches and counters (and clones the inner remote, which for
//! `MemoryRemote` shares the tree), so a test keeps a clone to steer the one the core owns.
//! `Deref` reaches the inner remote's own helpers (`add_file`, `file`, ...).
//!
//! Lock order: the switch mutex is a leaf; it is never held while calling the inner remote.

use std::collections::HashMap;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use super::memory::MemoryRemote;
use super::{
    Entry, EntryKind, PressureHook, Remote, RemoteError, RemoteErrorKind, RemoteReader,
    RemoteResult, RemoteWriter,
};

/// The in-memory remote with fault switches: what fs unit tests and in-process mounts use.
pub type TestRemote = FaultyRemote<MemoryRemote>;

/// Knobs a test turns to make the remote misbehave.
#[derive(Debug, Default)]
struct Faults {
    /// How many of the next `finish` calls fail with `finish_failure`.
    failing_finishes: u32,
    finish_failure: Option<RemoteErrorKind>,
    /// Every operation on these exact paths fails with the kind.
    failing_paths: HashMap<PathBuf, RemoteErrorKind>,
    /// Servers that refuse RNTO onto an existing file.
    rename_refuses_existing_target: bool,
    /// Renames happen, but their reply is lost (`Connection`).
    rename_reply_lost: bool,
    /// Servers whose RMD failure on a non-empty directory says nothing specific.
    rmdir_vague: bool,
    set_mtime_unsupported: bool,
    /// Servers that set file times only (vsftpd, pyftpdlib: 550 for a directory).
    dir_mtime_refused: bool,
    chmod_unsupported: bool,
    /// Delay before each `list` answers (slow servers, races).
    list_delay: Duration,
    /// How long a rename takes (`set_rename_delay`), done before it is carried out.
    rename_delay: Duration,
    /// How many listings ahead may run at once (`Remote::list_ahead`, the spare connections of
    /// a real pool); 0 (the default) refuses them all, like a pool with nothing spare, so tests
    /// that do not opt in count exactly the listings they asked for.
    list_ahead_slots: usize,
    /// Largest slice one reader `read` returns (networks deliver in pieces).
    read_piece: Option<usize>,
    /// The next download breaks (Connection) once this many bytes were delivered.
    break_next_download_after: Option<usize>,
    /// The next upload's data connection breaks once this many bytes were written.
    break_next_upload_after: Option<usize>,
}

#[derive(Debug, Default)]
struct Counters {
    list: AtomicU64,
    stat: AtomicU64,
    open_read: AtomicU64,
    create: AtomicU64,
    append: AtomicU64,
    delete: AtomicU64,
    rename: AtomicU64,
    chmod: AtomicU64,
    set_mtime: AtomicU64,
    /// Listings ahead running now (bounded by `list_ahead_slots`).
    listing_ahead: AtomicU64,
}

#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Faults>,
    counters: Counters,
    /// Held for writing by `hold_uploads`: every upload start waits for it.
    upload_gate: parking_lot::RwLock<()>,
}

/// A `Remote` that forwards to `R` unless a switch says otherwise. Clones share the switches.
#[derive(Clone, Debug)]
pub struct FaultyRemote<R> {
    inner: R,
    shared: Arc<Shared>,
}

impl FaultyRemote<MemoryRemote> {
    /// A fresh, empty in-memory tree with every switch off.
    pub fn new() -> Self {
        Self::wrap(MemoryRemote::new())
    }
}

impl Default for FaultyRemote<MemoryRemote> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Deref for FaultyRemote<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.inner
    }
}

fn broken_connection() -> io::Error {
    RemoteError::new(
        RemoteErrorKind::Connection,
        "426 connection closed; transfer aborted",
    )
    .into_io()
}

impl<R> FaultyRemote<R> {
    /// Wraps `inner` with every switch off.
    pub fn wrap(inner: R) -> Self {
        FaultyRemote {
            inner,
            shared: Arc::new(Shared::default()),
        }
    }

    /// Make the next `count` upload `finish` calls fail with `kind` (like a 552 after the data).
    pub fn fail_next_finishes(&self, count: u32, kind: RemoteErrorKind) {
        let mut faults = self.shared.faults.lock();
        faults.failing_finishes = count;
        faults.finish_failure = Some(kind);
    }

    /// Every STOR (`create`) waits until the returned guard is dropped.
    pub fn hold_uploads(&self) -> parking_lot::RwLockWriteGuard<'_, ()> {
        self.shared.upload_gate.write()
    }

    /// Make every operation naming `path` fail with `kind`.
    pub fn fail_path(&self, path: impl AsRef<Path>, kind: RemoteErrorKind) {
        self.shared
            .faults
            .lock()
            .failing_paths
            .insert(path.as_ref().to_path_buf(), kind);
    }

    /// Undo `fail_path`.
    pub fn heal_path(&self, path: impl AsRef<Path>) {
        self.shared
            .faults
            .lock()
            .failing_paths
            .remove(path.as_ref());
    }

    /// Refuse RNTO onto an existing file (553), as some servers do.
    pub fn set_rename_refuses_existing_target(&self, refuse: bool) {
        self.shared.faults.lock().rename_refuses_existing_target = refuse;
    }

    /// Do the renames but answer them like a connection cut before the reply came.
    pub fn set_rename_reply_lost(&self, lost: bool) {
        self.shared.faults.lock().rename_reply_lost = lost;
    }

    /// Turn RMD's "not empty" into a reason-less `Other` ("550 cannot remove directory").
    pub fn set_rmdir_vague(&self, vague: bool) {
        self.shared.faults.lock().rmdir_vague = vague;
    }

    /// Answer every `set_mtime` with `Unsupported` (a server without MFMT).
    pub fn set_mtime_unsupported(&self, unsupported: bool) {
        self.shared.faults.lock().set_mtime_unsupported = unsupported;
    }

    /// Refuse `set_mtime` on directories with `PermissionDenied` (vsftpd, pyftpdlib).
    pub fn set_dir_mtime_refused(&self, refused: bool) {
        self.shared.faults.lock().dir_mtime_refused = refused;
    }

    /// Answer every `chmod` with `Unsupported` (a server without SITE CHMOD).
    pub fn set_chmod_unsupported(&self, unsupported: bool) {
        self.shared.faults.lock().chmod_unsupported = unsupported;
    }

    /// Sleep `delay` before each listing answers (a slow server; races with mutations).
    pub fn set_list_delay(&self, delay: Duration) {
        self.shared.faults.lock().list_delay = delay;
    }

    /// Every rename waits `delay` before it is carried out: a slow RNFR/RNTO round trip that
    /// other operations race with.
    pub fn set_rename_delay(&self, delay: Duration) {
        self.shared.faults.lock().rename_delay = delay;
    }

    /// Let up to `slots` listings ahead run at once (the spare connections of a real pool).
    pub fn set_list_ahead_slots(&self, slots: usize) {
        self.shared.faults.lock().list_ahead_slots = slots;
    }

    /// Readers return at most `piece` bytes per `read`.
    pub fn set_read_piece(&self, piece: usize) {
        self.shared.faults.lock().read_piece = Some(piece.max(1));
    }

    /// The next download delivers `bytes` bytes, then fails like a dropped data connection.
    pub fn break_next_download_after(&self, bytes: usize) {
        self.shared.faults.lock().break_next_download_after = Some(bytes);
    }

    /// The next upload accepts `bytes` bytes, then fails like a dropped data connection.
    pub fn break_next_upload_after(&self, bytes: usize) {
        self.shared.faults.lock().break_next_upload_after = Some(bytes);
    }

    /// Listings that reached this remote (`list`, and `list_ahead` ones that ran).
    pub fn list_calls(&self) -> u64 {
        self.shared.counters.list.load(Ordering::Relaxed)
    }
    /// `stat` calls so far.
    pub fn stat_calls(&self) -> u64 {
        self.shared.counters.stat.load(Ordering::Relaxed)
    }
    /// Downloads started so far (`open_read`).
    pub fn open_read_calls(&self) -> u64 {
        self.shared.counters.open_read.load(Ordering::Relaxed)
    }
    /// Uploads started with `create` (STOR) so far.
    pub fn create_calls(&self) -> u64 {
        self.shared.counters.create.load(Ordering::Relaxed)
    }
    /// Uploads started with `append` (APPE) so far.
    pub fn append_calls(&self) -> u64 {
        self.shared.counters.append.load(Ordering::Relaxed)
    }
    /// `delete` calls so far.
    pub fn delete_calls(&self) -> u64 {
        self.shared.counters.delete.load(Ordering::Relaxed)
    }
    /// `rename` calls so far.
    pub fn rename_calls(&self) -> u64 {
        self.shared.counters.rename.load(Ordering::Relaxed)
    }
    /// `chmod` calls (SITE CHMOD) so far, refused ones included.
    pub fn chmod_calls(&self) -> u64 {
        self.shared.counters.chmod.load(Ordering::Relaxed)
    }
    /// `set_mtime` calls so far, refused ones included.
    pub fn set_mtime_calls(&self) -> u64 {
        self.shared.counters.set_mtime.load(Ordering::Relaxed)
    }

    fn check_path(&self, path: &Path) -> RemoteResult<()> {
        match self.shared.faults.lock().failing_paths.get(path) {
            Some(&kind) => Err(RemoteError::new(
                kind,
                format!("injected failure on {}", path.display()),
            )),
            None => Ok(()),
        }
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A listing is taken first and answered late (`set_list_delay`): what a slow server's
    /// reply looks like to a client racing with its own mutations.
    fn answer_late(&self) {
        let delay = self.shared.faults.lock().list_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
}

impl<R: Remote> FaultyRemote<R> {
    fn wrap_writer(&self, path: &Path, inner: Box<dyn RemoteWriter>) -> Box<dyn RemoteWriter> {
        let break_after = self.shared.faults.lock().break_next_upload_after.take();
        Box::new(FaultyWriter {
            inner,
            shared: self.shared.clone(),
            path: path.to_path_buf(),
            break_after,
        })
    }

    fn is_dir(&self, path: &Path) -> bool {
        matches!(self.inner.stat(path), Ok(entry) if entry.kind == EntryKind::Dir)
    }
}

struct FaultyReader {
    inner: Box<dyn RemoteReader>,
    piece: Option<usize>,
    /// Bytes this download still delivers before its connection breaks.
    break_after: Option<usize>,
}

impl io::Read for FaultyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut take = buf.len();
        if let Some(piece) = self.piece {
            take = take.min(piece);
        }
        if let Some(remaining) = self.break_after {
            if remaining == 0 {
                return Err(broken_connection());
            }
            take = take.min(remaining);
        }
        let read = self.inner.read(&mut buf[..take])?;
        if let Some(remaining) = self.break_after.as_mut() {
            *remaining -= read;
        }
        Ok(read)
    }
}

struct FaultyWriter {
    inner: Box<dyn RemoteWriter>,
    shared: Arc<Shared>,
    path: PathBuf,
    /// Bytes this upload still accepts before its connection breaks.
    break_after: Option<usize>,
}

impl io::Write for FaultyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut take = buf.len();
        if let Some(remaining) = self.break_after {
            if remaining == 0 {
                return Err(broken_connection());
            }
            take = take.min(remaining);
        }
        let written = self.inner.write(&buf[..take])?;
        if let Some(remaining) = self.break_after.as_mut() {
            *remaining -= written;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl RemoteWriter for FaultyWriter {
    fn finish(self: Box<Self>) -> RemoteResult<()> {
        {
            let mut faults = self.shared.faults.lock();
            if faults.failing_finishes > 0 {
                faults.failing_finishes -= 1;
                let kind = faults.finish_failure.unwrap_or(RemoteErrorKind::Connection);
                return Err(RemoteError::new(
                    kind,
                    format!("injected upload failure on {}", self.path.display()),
                ));
            }
            if let Some(&kind) = faults.failing_paths.get(&self.path) {
                return Err(RemoteError::new(kind, "injected upload failure"));
            }
        }
        self.inner.finish()
    }
}

impl<R: Remote> Remote for FaultyRemote<R> {
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>> {
        Self::count(&self.shared.counters.list);
        self.check_path(dir)?;
        let entries = self.inner.list(dir)?;
        self.answer_late();
        Ok(entries)
    }

    /// Counted, failed and delayed like `list`, once the inner remote started it; at most
    /// `list_ahead_slots` at once.
    fn list_ahead(
        &self,
        dir: &Path,
        small: bool,
        starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        let slots = self.shared.faults.lock().list_ahead_slots as u64;
        let running = &self.shared.counters.listing_ahead;
        if running.fetch_add(1, Ordering::SeqCst) >= slots {
            running.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let listed = self.inner.list_ahead(dir, small, &mut || {
            let wanted = starting();
            if wanted {
                Self::count(&self.shared.counters.list);
            }
            wanted
        });
        let listed = listed.map(|entries| {
            self.check_path(dir)?;
            let entries = entries?;
            self.answer_late();
            Ok(entries)
        });
        running.fetch_sub(1, Ordering::SeqCst);
        listed
    }

    fn stat(&self, path: &Path) -> RemoteResult<Entry> {
        Self::count(&self.shared.counters.stat);
        self.check_path(path)?;
        self.inner.stat(path)
    }

    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        Self::count(&self.shared.counters.open_read);
        self.check_path(path)?;
        let (piece, break_after) = {
            let mut faults = self.shared.faults.lock();
            (faults.read_piece, faults.break_next_download_after.take())
        };
        let inner = self.inner.open_read(path, offset)?;
        Ok(Box::new(FaultyReader {
            inner,
            piece,
            break_after,
        }))
    }

    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        Self::count(&self.shared.counters.create);
        drop(self.shared.upload_gate.read());
        self.check_path(path)?;
        let inner = self.inner.create(path)?;
        Ok(self.wrap_writer(path, inner))
    }

    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        Self::count(&self.shared.counters.append);
        self.check_path(path)?;
        let inner = self.inner.append(path)?;
        Ok(self.wrap_writer(path, inner))
    }

    fn delete(&self, path: &Path) -> RemoteResult<()> {
        Self::count(&self.shared.counters.delete);
        self.check_path(path)?;
        self.inner.delete(path)
    }

    fn mkdir(&self, path: &Path) -> RemoteResult<()> {
        self.check_path(path)?;
        self.inner.mkdir(path)
    }

    fn rmdir(&self, path: &Path) -> RemoteResult<()> {
        self.check_path(path)?;
        let vague = self.shared.faults.lock().rmdir_vague;
        self.inner.rmdir(path).map_err(|error| {
            if vague && error.kind == RemoteErrorKind::NotEmpty {
                RemoteError::new(RemoteErrorKind::Other, "550 cannot remove directory")
            } else {
                error
            }
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()> {
        Self::count(&self.shared.counters.rename);
        let delay = self.shared.faults.lock().rename_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        self.check_path(from)?;
        self.check_path(to)?;
        let refuse_existing = self.shared.faults.lock().rename_refuses_existing_target;
        if refuse_existing && self.inner.stat(from).is_ok() && self.inner.stat(to).is_ok() {
            return Err(RemoteError::new(
                RemoteErrorKind::Other,
                "553 rename target exists",
            ));
        }
        self.inner.rename(from, to)?;
        if self.shared.faults.lock().rename_reply_lost {
            return Err(RemoteError::new(
                RemoteErrorKind::Connection,
                "connection closed before the reply to RNTO",
            ));
        }
        Ok(())
    }

    fn set_mtime(&self, path: &Path, mtime: SystemTime) -> RemoteResult<()> {
        Self::count(&self.shared.counters.set_mtime);
        self.check_path(path)?;
        let (unsupported, dir_refused) = {
            let faults = self.shared.faults.lock();
            (faults.set_mtime_unsupported, faults.dir_mtime_refused)
        };
        if unsupported {
            return Err(RemoteError::new(
                RemoteErrorKind::Unsupported,
                "502 MFMT not implemented",
            ));
        }
        if dir_refused && self.is_dir(path) {
            return Err(RemoteError::new(
                RemoteErrorKind::PermissionDenied,
                "550 Could not set file modification time.",
            ));
        }
        self.inner.set_mtime(path, mtime)
    }

    fn chmod(&self, path: &Path, mode: u32) -> RemoteResult<()> {
        Self::count(&self.shared.counters.chmod);
        self.check_path(path)?;
        if self.shared.faults.lock().chmod_unsupported {
            return Err(RemoteError::new(
                RemoteErrorKind::Unsupported,
                "502 SITE CHMOD not implemented",
            ));
        }
        self.inner.chmod(path, mode)
    }

    fn set_transfer_pressure_hook(&self, hook: PressureHook) {
        self.inner.set_transfer_pressure_hook(hook)
    }
}

#[cfg(test)]
mod tests;
