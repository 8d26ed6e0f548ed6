//! The table of open file and directory handles.
//!
//! A file handle carries its own download stream and upload state behind its own mutex, so two
//! handles never wait for each other's network I/O. A directory handle is an immutable snapshot
//! taken at opendir: readdir offsets index into it, so entries never shift under a reader even
//! when the directory changes meanwhile.
//!
//! Locking: the table mutex is held only to insert/look up/remove an `Arc`; a handle's mutex is
//! taken after the table lock has been released (never both at once).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::error::FsError;
use super::read::ReadStream;
use super::spool::Spool;
use super::write::{Upload, WriteProgress};
use crate::cache::FileVersion;
use crate::remote::{Entry, EntryKind};

/// One entry of a directory snapshot, as readdir hands it out (borrowed from the snapshot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntryOut<'a> {
    /// The inode number of the entry (that of the directory itself for ".").
    pub ino: u64,
    /// The offset of the *next* entry (what the kernel passes back to continue).
    pub offset: u64,
    /// File, directory or symlink, for the kernel's `d_type`.
    pub kind: EntryKind,
    /// The name inside the directory, bytes as the server sent them.
    pub name: &'a OsStr,
    /// The listing's entry (None for "." and ".."), for readdirplus attributes.
    pub listed: Option<&'a Entry>,
}

/// An open directory: the listing as it was at opendir, shared with the listing cache (not
/// copied: a directory of 100,000 names costs an `Arc` here). Offsets index it: 0 is ".",
/// 1 "..", then the entries in name order.
pub(crate) struct DirSnapshot {
    pub ino: u64,
    pub parent_ino: u64,
    pub entries: Arc<[Entry]>,
}

/// Where a writable handle's data stands.
pub(crate) enum WriteState {
    /// Nothing pending: the remote file has `size` bytes as far as we know.
    Clean { size: u64 },
    /// A STOR/APPE stream is open.
    Streaming(Upload),
    /// Data lives in a local spool file, uploaded whole on flush/close.
    Spooled(Spool),
    /// An upload failed: reported again to every later write, flush and close.
    Failed(FsError),
}

/// An open file.
pub(crate) struct OpenFile {
    pub ino: u64,
    /// The path at open, refreshed from the inode table before each operation.
    pub path: PathBuf,
    pub writable: bool,
    /// Opened by the kernel to execute the file (counted in `Namespace`'s `exec` registry).
    pub exec: bool,
    /// Opened with O_APPEND: every write goes to the end (APPE).
    pub append: bool,
    /// The cached-chunk key while we have not changed the file through this handle.
    pub version: Option<FileVersion>,
    pub reader: ReadStream,
    pub write: WriteState,
    /// Shared size/mtime progress for getattr while this handle writes.
    pub progress: Option<Arc<WriteProgress>>,
    /// Write-back mode: created here under a name the server did not have, and not queued yet
    /// (its first upload may then be renamed in the spool alone: `pending`).
    pub fresh: bool,
}

impl OpenFile {
    /// Forget this handle's download before it changes the file: its window would be stale
    /// after the change, and its connection would count against the one the upload (or the
    /// spool's download) is about to wait for, on the same thread, forever.
    pub(crate) fn drop_download(&mut self) {
        self.reader = ReadStream::new();
    }
}

// Handles live behind an Arc already; boxing the file variant would only add an indirection.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Handle {
    File(Mutex<OpenFile>),
    Dir(DirSnapshot),
}

/// Protects: the map from handle numbers to handles.
#[derive(Default)]
pub(crate) struct HandleTable {
    next: AtomicU64,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
}

impl HandleTable {
    pub(crate) fn insert(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.handles.lock().insert(fh, Arc::new(handle));
        fh
    }

    pub(crate) fn get(&self, fh: u64) -> Result<Arc<Handle>, FsError> {
        self.handles
            .lock()
            .get(&fh)
            .cloned()
            .ok_or_else(|| FsError::bad_handle(fh))
    }

    pub(crate) fn remove(&self, fh: u64) -> Result<Arc<Handle>, FsError> {
        self.handles
            .lock()
            .remove(&fh)
            .ok_or_else(|| FsError::bad_handle(fh))
    }

    /// Every open handle (for shutdown).
    pub(crate) fn all(&self) -> Vec<Arc<Handle>> {
        self.handles.lock().values().cloned().collect()
    }
}
