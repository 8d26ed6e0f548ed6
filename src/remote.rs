//! The seam between the filesystem core and the FTP client.
//!
//! `fs` and `cache` only ever see this trait, so the core can be unit-tested against an
//! in-memory implementation and the FTP layer never learns about inodes or FUSE. Remote paths are
//! absolute `Path`s ("/dir/file") whose bytes go to the server unchanged: names are bytes, not
//! necessarily UTF-8.
//!
//! Errors are classified here into a small set of kinds. The FTP client decides the kind from the
//! reply code *and* the operation (550 on MKD means "exists", on RETR "not found"); the fs core has
//! the one table from kind to errno (`fs::error`).
//!
//! Test doubles live below this module, compiled only for unit tests and with the `testing`
//! feature (which the integration tests switch on): `memory::MemoryRemote`, a tree in memory,
//! and `faulty::FaultyRemote`, which wraps any `Remote` to inject failures and count calls.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::SystemTime;

#[cfg(any(test, feature = "testing"))]
pub mod faulty;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file: its bytes can be downloaded and uploaded.
    File,
    /// A directory: it can be listed.
    Dir,
    /// A symbolic link as the listing showed it (`link_target` holds the target when known).
    Symlink,
}

/// One entry of a remote directory listing (or the result of a stat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name inside its directory: never empty, never contains `/`, never `.` or `..`.
    pub name: std::ffi::OsString,
    /// File, directory or symlink, as the listing says (never followed).
    pub kind: EntryKind,
    /// Size in bytes when the server told us (directories: often meaningless).
    pub size: Option<u64>,
    /// Modification time when the server told us.
    pub mtime: Option<SystemTime>,
    /// Permission bits (0o7777 mask) when the server told us (UNIX.mode fact or ls -l mode).
    pub mode: Option<u32>,
    /// Link target when the listing showed one (`name -> target`).
    pub link_target: Option<std::ffi::OsString>,
}

impl Entry {
    /// A bare entry of the given kind with nothing else known.
    pub fn new(name: impl Into<std::ffi::OsString>, kind: EntryKind) -> Self {
        Entry {
            name: name.into(),
            kind,
            size: None,
            mtime: None,
            mode: None,
            link_target: None,
        }
    }
}

/// Why a remote operation failed, as far as the filesystem cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteErrorKind {
    /// The path does not exist on the server.
    NotFound,
    /// The name to create is taken already (550 on MKD, "exists" in a reply).
    AlreadyExists,
    /// The directory to remove still has entries.
    NotEmpty,
    /// A path component, or the target of a directory operation, is not a directory.
    NotADirectory,
    /// A file operation (RETR, STOR, DELE) was aimed at a directory.
    IsADirectory,
    /// The server refused this user the operation (550 on STOR, a reply naming permission).
    PermissionDenied,
    /// A name the server refused, or one we refuse to send (CR, LF, NUL).
    InvalidName,
    /// The server's storage is full (452, 552, or a reply that says so).
    NoSpace,
    /// The user's quota on the server is used up (a reply that names a quota).
    QuotaExceeded,
    /// The server does not implement this (500/502/504 with no fallback).
    Unsupported,
    /// The server did not answer within the configured timeout: possibly transient.
    TimedOut,
    /// The connection broke or the server said 421/425/426: possibly transient.
    Connection,
    /// Login refused (bad user or password).
    Auth,
    /// The server said something we could not make sense of.
    Protocol,
    /// Anything else the server refused.
    Other,
}

/// A classified remote failure with the server's words for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteError {
    /// What the filesystem makes of the failure (the errno is chosen from this alone).
    pub kind: RemoteErrorKind,
    /// For the log: the operation and path, and the server's reply when there was one.
    pub message: String,
}

impl RemoteError {
    /// A failure of `kind`; `message` should name the operation and path for the log.
    pub fn new(kind: RemoteErrorKind, message: impl Into<String>) -> Self {
        RemoteError {
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying the same idempotent operation on a fresh connection may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            RemoteErrorKind::Connection | RemoteErrorKind::TimedOut
        )
    }

    /// Wrap into an `io::Error` (for `Read`/`Write` impls) so that the kind survives the trip.
    pub fn into_io(self) -> io::Error {
        let io_kind = match self.kind {
            RemoteErrorKind::TimedOut => io::ErrorKind::TimedOut,
            RemoteErrorKind::NotFound => io::ErrorKind::NotFound,
            RemoteErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(io_kind, self)
    }

    /// Recover a `RemoteError` from an `io::Error` produced by a remote reader or writer;
    /// a plain I/O error becomes `Connection` (or `TimedOut`).
    pub fn from_io(err: io::Error) -> Self {
        let kind = RemoteErrorKind::of_io(&err);
        let io_kind = err.kind();
        match err.into_inner() {
            Some(inner) => match inner.downcast::<RemoteError>() {
                Ok(remote) => *remote,
                Err(other) => RemoteError::new(kind, other.to_string()),
            },
            None => RemoteError::new(kind, io_kind.to_string()),
        }
    }

    /// A socket operation that failed: `context` says which (e.g. "data connection for /f").
    pub fn io(context: impl fmt::Display, err: &io::Error) -> Self {
        RemoteError::new(RemoteErrorKind::of_io(err), format!("{context}: {err}"))
    }
}

impl RemoteErrorKind {
    /// The one reading of a failed socket operation: a timeout (Linux reports a socket
    /// timeout as `WouldBlock`) or a broken connection, worth a retry on a fresh one.
    pub fn of_io(err: &io::Error) -> RemoteErrorKind {
        match err.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => RemoteErrorKind::TimedOut,
            _ => RemoteErrorKind::Connection,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for RemoteError {}

/// What every `Remote` operation returns.
pub type RemoteResult<T> = Result<T, RemoteError>;

/// A download in progress. `read` returns `Ok(0)` only once the transfer is complete and the
/// server confirmed it; a transfer the server reports as failed surfaces as an `Err`. Dropping
/// the reader early aborts the transfer cleanly.
pub trait RemoteReader: io::Read + Send {}
impl<T: io::Read + Send> RemoteReader for T {}

/// An upload in progress. Bytes passed to `write` are on their way to the server; only
/// `finish` says whether the server accepted the whole file. Dropping without `finish` aborts
/// the upload (and the partial file may remain on the server).
pub trait RemoteWriter: io::Write + Send {
    /// Close the data connection and wait for the server's final reply.
    fn finish(self: Box<Self>) -> RemoteResult<()>;
}

/// A remote file tree. Every method is blocking and thread-safe; implementations must time out
/// rather than hang.
pub trait Remote: Send + Sync {
    /// The entries of a directory (without `.` and `..`).
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>>;
    /// One entry by path (the root "/" is always a directory).
    fn stat(&self, path: &Path) -> RemoteResult<Entry>;
    /// Start downloading `path` from byte `offset`.
    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>>;
    /// Start uploading `path`, replacing any existing content (STOR).
    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>>;
    /// Start appending to `path` (APPE); creates it when missing.
    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>>;
    /// Remove the file `path` (DELE); a directory is refused.
    fn delete(&self, path: &Path) -> RemoteResult<()>;
    /// Create the directory `path` (MKD); `AlreadyExists` when something has that name.
    fn mkdir(&self, path: &Path) -> RemoteResult<()>;
    /// Remove the directory `path` (RMD); most servers refuse one that is not empty.
    fn rmdir(&self, path: &Path) -> RemoteResult<()>;
    /// Rename `from` to `to`; whether an existing `to` is replaced depends on the server.
    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()>;
    /// Set the modification time of `path` (whole seconds, UTC); `Unsupported` when the
    /// server has no way to.
    fn set_mtime(&self, path: &Path, mtime: SystemTime) -> RemoteResult<()>;
    /// Set the permission bits (0o7777 mask) of `path` (SITE CHMOD); `Unsupported` when the
    /// server has no way to.
    fn chmod(&self, path: &Path, mode: u32) -> RemoteResult<()>;
    /// Register what to call while a transfer waits for a connection that other transfers
    /// hold: the caller can then give back connections it holds without using them (an open
    /// file nobody reads). Remotes without a connection limit ignore it.
    fn set_transfer_pressure_hook(&self, _hook: PressureHook) {}
    /// `list`, for a listing nobody waits for yet (listing ahead of a tree walk): only when it
    /// delays no other request, i.e. on a connection that is spare right now. `starting` is
    /// called once that connection is ready, just before the listing is sent; when it returns
    /// false the listing is not sent (nobody wants it any more) and the answer is `None`.
    /// `None` also means nothing is spare (or this remote does not list ahead). No retries.
    /// `small`: its parent's listing shows the directory small (a few KiB, so a few hundred
    /// entries at most; only a hint), so the remote may use a listing that suits only small
    /// directories (FTP: `STAT dir` over the control connection, one round trip).
    fn list_ahead(
        &self,
        _dir: &Path,
        _small: bool,
        _starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        None
    }
    /// The end of an atomic upload whose data the server confirmed: give the temporary file
    /// `temp` the attributes in `attrs`, then rename it to `to`. Every step is tried whatever
    /// the one before it gave (the data is complete; the caller deals with a failed chmod or
    /// mtime). Step by step here; the FTP client sends all of it in one round trip.
    fn commit_upload(&self, temp: &Path, to: &Path, attrs: CommitAttrs) -> CommitOutcome {
        commit_step_by_step(self, temp, to, attrs)
    }
}

/// What an atomic upload's commit gives its temporary file before the rename.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitAttrs {
    /// Permission bits (0o7777 mask): the replaced file's, or a chmod made during the upload.
    pub mode: Option<u32>,
    /// A modification time set while the file was open (tar's futimens before close).
    pub mtime: Option<SystemTime>,
}

/// What each step of [`Remote::commit_upload`] came to.
#[derive(Debug)]
pub struct CommitOutcome {
    /// The chmod of the temporary file; `None` when no mode was asked for.
    pub chmod: Option<RemoteResult<()>>,
    /// Setting its mtime; `None` when no time was asked for.
    pub mtime: Option<RemoteResult<()>>,
    /// The rename onto the real name: the commit's own result.
    pub rename: RemoteResult<()>,
}

/// [`Remote::commit_upload`] one command (and one round trip) after the other.
pub fn commit_step_by_step<R: Remote + ?Sized>(
    remote: &R,
    temp: &Path,
    to: &Path,
    attrs: CommitAttrs,
) -> CommitOutcome {
    CommitOutcome {
        chmod: attrs.mode.map(|mode| remote.chmod(temp, mode)),
        mtime: attrs.mtime.map(|mtime| remote.set_mtime(temp, mtime)),
        rename: remote.rename(temp, to),
    }
}

/// See [`Remote::set_transfer_pressure_hook`]. Called without any remote lock held.
pub type PressureHook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A shared remote is a remote (so one `Arc<FtpRemote>` can serve the fs core and shutdown).
impl<R: Remote + ?Sized> Remote for std::sync::Arc<R> {
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>> {
        (**self).list(dir)
    }
    fn stat(&self, path: &Path) -> RemoteResult<Entry> {
        (**self).stat(path)
    }
    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        (**self).open_read(path, offset)
    }
    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        (**self).create(path)
    }
    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        (**self).append(path)
    }
    fn delete(&self, path: &Path) -> RemoteResult<()> {
        (**self).delete(path)
    }
    fn mkdir(&self, path: &Path) -> RemoteResult<()> {
        (**self).mkdir(path)
    }
    fn rmdir(&self, path: &Path) -> RemoteResult<()> {
        (**self).rmdir(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()> {
        (**self).rename(from, to)
    }
    fn set_mtime(&self, path: &Path, mtime: SystemTime) -> RemoteResult<()> {
        (**self).set_mtime(path, mtime)
    }
    fn chmod(&self, path: &Path, mode: u32) -> RemoteResult<()> {
        (**self).chmod(path, mode)
    }
    fn set_transfer_pressure_hook(&self, hook: PressureHook) {
        (**self).set_transfer_pressure_hook(hook)
    }
    fn list_ahead(
        &self,
        dir: &Path,
        small: bool,
        starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        (**self).list_ahead(dir, small, starting)
    }
    fn commit_upload(&self, temp: &Path, to: &Path, attrs: CommitAttrs) -> CommitOutcome {
        (**self).commit_upload(temp, to, attrs)
    }
}

/// A `Remote` seen from a sub-directory: the mount's root is `root` on the server (the path
/// part of `ftp://host/some/dir`). Paths from the fs core ("/x") become "root/x".
pub struct Rooted<R> {
    inner: R,
    root: std::path::PathBuf,
}

impl<R> Rooted<R> {
    /// `root` must be absolute; "/" makes this a transparent wrapper.
    pub fn new(inner: R, root: impl Into<std::path::PathBuf>) -> Self {
        Rooted {
            inner,
            root: root.into(),
        }
    }

    fn on_server(&self, path: &Path) -> std::path::PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        if relative.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(relative)
        }
    }
}

impl<R: Remote> Remote for Rooted<R> {
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>> {
        self.inner.list(&self.on_server(dir))
    }
    fn stat(&self, path: &Path) -> RemoteResult<Entry> {
        let mut entry = self.inner.stat(&self.on_server(path))?;
        if path == Path::new("/") {
            entry.name = "/".into();
        }
        Ok(entry)
    }
    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        self.inner.open_read(&self.on_server(path), offset)
    }
    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.inner.create(&self.on_server(path))
    }
    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.inner.append(&self.on_server(path))
    }
    fn delete(&self, path: &Path) -> RemoteResult<()> {
        self.inner.delete(&self.on_server(path))
    }
    fn mkdir(&self, path: &Path) -> RemoteResult<()> {
        self.inner.mkdir(&self.on_server(path))
    }
    fn rmdir(&self, path: &Path) -> RemoteResult<()> {
        self.inner.rmdir(&self.on_server(path))
    }
    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()> {
        self.inner
            .rename(&self.on_server(from), &self.on_server(to))
    }
    fn set_mtime(&self, path: &Path, mtime: SystemTime) -> RemoteResult<()> {
        self.inner.set_mtime(&self.on_server(path), mtime)
    }
    fn chmod(&self, path: &Path, mode: u32) -> RemoteResult<()> {
        self.inner.chmod(&self.on_server(path), mode)
    }
    fn set_transfer_pressure_hook(&self, hook: PressureHook) {
        self.inner.set_transfer_pressure_hook(hook)
    }
    fn list_ahead(
        &self,
        dir: &Path,
        small: bool,
        starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        self.inner.list_ahead(&self.on_server(dir), small, starting)
    }
    fn commit_upload(&self, temp: &Path, to: &Path, attrs: CommitAttrs) -> CommitOutcome {
        self.inner
            .commit_upload(&self.on_server(temp), &self.on_server(to), attrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_error_survives_a_trip_through_io_error() {
        let err = RemoteError::new(RemoteErrorKind::NoSpace, "disk full");
        let back = RemoteError::from_io(err.clone().into_io());
        assert_eq!(back, err);
        let plain = io::Error::new(io::ErrorKind::WouldBlock, "slow");
        assert_eq!(RemoteError::from_io(plain).kind, RemoteErrorKind::TimedOut);
    }

    #[test]
    fn rooted_paths_are_joined_under_the_root() {
        struct Dummy;
        let rooted = Rooted::new(Dummy, "/srv/data");
        assert_eq!(rooted.on_server(Path::new("/")), Path::new("/srv/data"));
        assert_eq!(
            rooted.on_server(Path::new("/a/b")),
            Path::new("/srv/data/a/b")
        );
        let plain = Rooted::new(Dummy, "/");
        assert_eq!(plain.on_server(Path::new("/a")), Path::new("/a"));
    }
}
