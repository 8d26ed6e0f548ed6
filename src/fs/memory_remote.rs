//! An in-memory `Remote`: a tree of directories, files and symlinks with mtimes.
//!
//! It lets the filesystem core (and a real FUSE mount in `tests/fuse_memory.rs`) be tested
//! without an FTP server, and it can inject the failures that matter for "no silent data loss":
//! uploads whose final reply fails, paths that refuse every operation, servers that will not
//! rename over an existing file or cannot say why RMD failed. It counts calls so tests can check
//! that caches really avoid round trips.
//!
//! Behaviour mirrors an FTP server: `create` truncates immediately and data appears as it is
//! written; `finish` reports the final reply. Readers see a snapshot taken at `open_read`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use crate::remote::{
    Entry, EntryKind, Remote, RemoteError, RemoteErrorKind, RemoteReader, RemoteResult,
    RemoteWriter,
};

#[derive(Clone, Debug)]
enum Node {
    Dir {
        mtime: SystemTime,
        mode: Option<u32>,
    },
    File {
        data: Vec<u8>,
        mtime: SystemTime,
        mode: Option<u32>,
    },
    Symlink {
        target: OsString,
    },
}

/// Knobs a test turns to make the remote misbehave.
#[derive(Debug, Default)]
struct Faults {
    /// How many of the next `finish` calls fail with this kind.
    failing_finishes: u32,
    finish_failure: Option<RemoteErrorKind>,
    /// Every operation on these exact paths fails with the kind.
    failing_paths: HashMap<PathBuf, RemoteErrorKind>,
    /// Servers that refuse RNTO onto an existing file.
    rename_refuses_existing_target: bool,
    /// Servers whose RMD failure on a non-empty directory says nothing specific.
    rmdir_vague: bool,
    set_mtime_unsupported: bool,
    /// Servers that set file times only (vsftpd, pyftpdlib: 550 for a directory).
    dir_mtime_refused: bool,
    chmod_unsupported: bool,
    /// Delay before each `list` answers (slow servers, races).
    list_delay: Duration,
    /// How many listings ahead may run at once (`Remote::list_ahead`); 0 (the default) makes
    /// this remote refuse to list ahead, like one with no spare connection.
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
    /// Listings ahead running now.
    listing_ahead: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    tree: Mutex<BTreeMap<PathBuf, Node>>,
    faults: Mutex<Faults>,
    counters: Counters,
}

/// The in-memory remote. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct MemoryRemote {
    shared: Arc<Shared>,
}

impl Default for MemoryRemote {
    fn default() -> Self {
        Self::new()
    }
}

fn not_found(path: &Path) -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::NotFound,
        format!("550 {}: not found", path.display()),
    )
}

impl MemoryRemote {
    /// An empty tree with only "/".
    pub fn new() -> Self {
        let mut tree = BTreeMap::new();
        tree.insert(
            PathBuf::from("/"),
            Node::Dir {
                mtime: SystemTime::now(),
                mode: None,
            },
        );
        MemoryRemote {
            shared: Arc::new(Shared {
                tree: Mutex::new(tree),
                faults: Mutex::new(Faults::default()),
                counters: Counters::default(),
            }),
        }
    }

    /// Add (or replace) a file, creating missing parent directories.
    pub fn add_file(&self, path: impl AsRef<Path>, data: impl Into<Vec<u8>>) {
        let path = path.as_ref();
        self.add_parents(path);
        self.shared.tree.lock().insert(
            path.to_path_buf(),
            Node::File {
                data: data.into(),
                mtime: SystemTime::now(),
                mode: None,
            },
        );
    }

    /// Add a directory, creating missing parents.
    pub fn add_dir(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        self.add_parents(path);
        self.shared.tree.lock().insert(
            path.to_path_buf(),
            Node::Dir {
                mtime: SystemTime::now(),
                mode: None,
            },
        );
    }

    /// Add a symlink (the listing shows `name -> target`).
    pub fn add_symlink(&self, path: impl AsRef<Path>, target: impl Into<OsString>) {
        let path = path.as_ref();
        self.add_parents(path);
        self.shared.tree.lock().insert(
            path.to_path_buf(),
            Node::Symlink {
                target: target.into(),
            },
        );
    }

    fn add_parents(&self, path: &Path) {
        let mut tree = self.shared.tree.lock();
        for ancestor in path.ancestors().skip(1) {
            tree.entry(ancestor.to_path_buf()).or_insert(Node::Dir {
                mtime: SystemTime::now(),
                mode: None,
            });
        }
    }

    /// A file's content, if it is a file.
    pub fn file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        match self.shared.tree.lock().get(path.as_ref()) {
            Some(Node::File { data, .. }) => Some(data.clone()),
            _ => None,
        }
    }

    /// Whether anything exists at `path`.
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.shared.tree.lock().contains_key(path.as_ref())
    }

    /// The mtime of a file or directory.
    pub fn mtime(&self, path: impl AsRef<Path>) -> Option<SystemTime> {
        match self.shared.tree.lock().get(path.as_ref())? {
            Node::File { mtime, .. } | Node::Dir { mtime, .. } => Some(*mtime),
            Node::Symlink { .. } => None,
        }
    }

    /// The mode set by chmod, if any.
    pub fn mode(&self, path: impl AsRef<Path>) -> Option<u32> {
        match self.shared.tree.lock().get(path.as_ref())? {
            Node::File { mode, .. } | Node::Dir { mode, .. } => *mode,
            Node::Symlink { .. } => None,
        }
    }

    /// Make the next `count` upload `finish` calls fail with `kind` (like a 552 after the data).
    pub fn fail_next_finishes(&self, count: u32, kind: RemoteErrorKind) {
        let mut faults = self.shared.faults.lock();
        faults.failing_finishes = count;
        faults.finish_failure = Some(kind);
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

    pub fn set_rename_refuses_existing_target(&self, refuse: bool) {
        self.shared.faults.lock().rename_refuses_existing_target = refuse;
    }

    pub fn set_rmdir_vague(&self, vague: bool) {
        self.shared.faults.lock().rmdir_vague = vague;
    }

    pub fn set_mtime_unsupported(&self, unsupported: bool) {
        self.shared.faults.lock().set_mtime_unsupported = unsupported;
    }

    pub fn set_dir_mtime_refused(&self, refused: bool) {
        self.shared.faults.lock().dir_mtime_refused = refused;
    }

    pub fn set_chmod_unsupported(&self, unsupported: bool) {
        self.shared.faults.lock().chmod_unsupported = unsupported;
    }

    pub fn set_list_delay(&self, delay: Duration) {
        self.shared.faults.lock().list_delay = delay;
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

    pub fn list_calls(&self) -> u64 {
        self.shared.counters.list.load(Ordering::Relaxed)
    }
    pub fn stat_calls(&self) -> u64 {
        self.shared.counters.stat.load(Ordering::Relaxed)
    }
    pub fn open_read_calls(&self) -> u64 {
        self.shared.counters.open_read.load(Ordering::Relaxed)
    }
    pub fn create_calls(&self) -> u64 {
        self.shared.counters.create.load(Ordering::Relaxed)
    }
    pub fn append_calls(&self) -> u64 {
        self.shared.counters.append.load(Ordering::Relaxed)
    }
    pub fn delete_calls(&self) -> u64 {
        self.shared.counters.delete.load(Ordering::Relaxed)
    }
    pub fn rename_calls(&self) -> u64 {
        self.shared.counters.rename.load(Ordering::Relaxed)
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

    fn entry_of(name: OsString, node: &Node) -> Entry {
        match node {
            Node::Dir { mtime, mode } => Entry {
                mtime: Some(*mtime),
                mode: *mode,
                ..Entry::new(name, EntryKind::Dir)
            },
            Node::File { data, mtime, mode } => Entry {
                size: Some(data.len() as u64),
                mtime: Some(*mtime),
                mode: *mode,
                ..Entry::new(name, EntryKind::File)
            },
            Node::Symlink { target } => Entry {
                link_target: Some(target.clone()),
                ..Entry::new(name, EntryKind::Symlink)
            },
        }
    }

    fn children(tree: &BTreeMap<PathBuf, Node>, dir: &Path) -> Vec<(PathBuf, Node)> {
        tree.range(dir.to_path_buf()..)
            .skip(1)
            .take_while(|(path, _)| path.starts_with(dir))
            .filter(|(path, _)| path.parent() == Some(dir))
            .map(|(path, node)| (path.clone(), node.clone()))
            .collect()
    }

    fn require_parent_dir(tree: &BTreeMap<PathBuf, Node>, path: &Path) -> RemoteResult<()> {
        let parent = path.parent().ok_or_else(|| not_found(path))?;
        match tree.get(parent) {
            Some(Node::Dir { .. }) => Ok(()),
            Some(_) => Err(RemoteError::new(
                RemoteErrorKind::NotADirectory,
                "550 parent is not a directory",
            )),
            None => Err(not_found(parent)),
        }
    }

    /// Like a POSIX server's disk: adding, removing or renaming an entry moves the mtime of the
    /// directory that holds it.
    fn parent_changed(tree: &mut BTreeMap<PathBuf, Node>, path: &Path) {
        if let Some(parent) = path.parent()
            && let Some(Node::Dir { mtime, .. }) = tree.get_mut(parent)
        {
            *mtime = SystemTime::now();
        }
    }

    fn start_upload(&self, path: &Path, truncate: bool) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.check_path(path)?;
        let mut tree = self.shared.tree.lock();
        Self::require_parent_dir(&tree, path)?;
        match tree.get_mut(path) {
            Some(Node::Dir { .. }) | Some(Node::Symlink { .. }) => {
                return Err(RemoteError::new(
                    RemoteErrorKind::IsADirectory,
                    "550 not a plain file",
                ));
            }
            Some(Node::File { data, mtime, .. }) => {
                if truncate {
                    data.clear();
                }
                *mtime = SystemTime::now();
            }
            None => {
                tree.insert(
                    path.to_path_buf(),
                    Node::File {
                        data: Vec::new(),
                        mtime: SystemTime::now(),
                        mode: None,
                    },
                );
                Self::parent_changed(&mut tree, path);
            }
        }
        let break_after = self.shared.faults.lock().break_next_upload_after.take();
        Ok(Box::new(MemoryWriter {
            shared: self.shared.clone(),
            path: path.to_path_buf(),
            break_after,
        }))
    }
}

struct MemoryReader {
    data: Arc<[u8]>,
    position: usize,
    piece: Option<usize>,
    /// Absolute position at which this download breaks.
    break_at: Option<usize>,
}

fn broken_connection() -> io::Error {
    RemoteError::new(
        RemoteErrorKind::Connection,
        "426 connection closed; transfer aborted",
    )
    .into_io()
}

impl io::Read for MemoryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.data.get(self.position..).unwrap_or(&[]);
        let mut take = rest.len().min(buf.len());
        if let Some(piece) = self.piece {
            take = take.min(piece);
        }
        if let Some(break_at) = self.break_at {
            if self.position >= break_at {
                return Err(broken_connection());
            }
            take = take.min(break_at - self.position);
        }
        buf[..take].copy_from_slice(&rest[..take]);
        self.position += take;
        Ok(take)
    }
}

struct MemoryWriter {
    shared: Arc<Shared>,
    path: PathBuf,
    /// Bytes this upload still accepts before its connection breaks.
    break_after: Option<usize>,
}

impl io::Write for MemoryWriter {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        if let Some(remaining) = self.break_after.as_mut() {
            if *remaining == 0 {
                return Err(broken_connection());
            }
            buf = &buf[..buf.len().min(*remaining)];
            *remaining -= buf.len();
        }
        let mut tree = self.shared.tree.lock();
        match tree.get_mut(&self.path) {
            Some(Node::File { data, mtime, .. }) => {
                data.extend_from_slice(buf);
                *mtime = SystemTime::now();
            }
            _ => {
                tree.insert(
                    self.path.clone(),
                    Node::File {
                        data: buf.to_vec(),
                        mtime: SystemTime::now(),
                        mode: None,
                    },
                );
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RemoteWriter for MemoryWriter {
    fn finish(self: Box<Self>) -> RemoteResult<()> {
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
        Ok(())
    }
}

impl Remote for MemoryRemote {
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>> {
        self.shared.counters.list.fetch_add(1, Ordering::Relaxed);
        self.check_path(dir)?;
        let entries = {
            let tree = self.shared.tree.lock();
            match tree.get(dir) {
                Some(Node::Dir { .. }) => {}
                Some(_) => {
                    return Err(RemoteError::new(
                        RemoteErrorKind::NotADirectory,
                        "550 not a directory",
                    ));
                }
                None => return Err(not_found(dir)),
            }
            Self::children(&tree, dir)
                .into_iter()
                .filter_map(|(path, node)| {
                    let name = path.file_name()?.to_os_string();
                    Some(Self::entry_of(name, &node))
                })
                .collect()
        };
        // The listing is taken first and answered late: what a slow server's reply looks like
        // to a client racing with its own mutations.
        let delay = self.shared.faults.lock().list_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        Ok(entries)
    }

    fn stat(&self, path: &Path) -> RemoteResult<Entry> {
        self.shared.counters.stat.fetch_add(1, Ordering::Relaxed);
        self.check_path(path)?;
        let tree = self.shared.tree.lock();
        let node = tree.get(path).ok_or_else(|| not_found(path))?;
        let name = path
            .file_name()
            .map_or_else(|| OsString::from("/"), |name| name.to_os_string());
        Ok(Self::entry_of(name, node))
    }

    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        self.shared
            .counters
            .open_read
            .fetch_add(1, Ordering::Relaxed);
        self.check_path(path)?;
        let (piece, break_after) = {
            let mut faults = self.shared.faults.lock();
            (faults.read_piece, faults.break_next_download_after.take())
        };
        let tree = self.shared.tree.lock();
        match tree.get(path) {
            Some(Node::File { data, .. }) => Ok(Box::new(MemoryReader {
                data: data.clone().into(),
                position: usize::try_from(offset).unwrap_or(usize::MAX),
                piece,
                break_at: break_after.map(|bytes| {
                    usize::try_from(offset)
                        .unwrap_or(usize::MAX)
                        .saturating_add(bytes)
                }),
            })),
            Some(_) => Err(RemoteError::new(
                RemoteErrorKind::IsADirectory,
                "550 not a plain file",
            )),
            None => Err(not_found(path)),
        }
    }

    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.shared.counters.create.fetch_add(1, Ordering::Relaxed);
        self.start_upload(path, true)
    }

    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.shared.counters.append.fetch_add(1, Ordering::Relaxed);
        self.start_upload(path, false)
    }

    fn delete(&self, path: &Path) -> RemoteResult<()> {
        self.shared.counters.delete.fetch_add(1, Ordering::Relaxed);
        self.check_path(path)?;
        let mut tree = self.shared.tree.lock();
        match tree.get(path) {
            Some(Node::File { .. }) | Some(Node::Symlink { .. }) => {
                tree.remove(path);
                Self::parent_changed(&mut tree, path);
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(RemoteError::new(
                RemoteErrorKind::IsADirectory,
                "550 is a directory",
            )),
            None => Err(not_found(path)),
        }
    }

    fn mkdir(&self, path: &Path) -> RemoteResult<()> {
        self.check_path(path)?;
        let mut tree = self.shared.tree.lock();
        Self::require_parent_dir(&tree, path)?;
        if tree.contains_key(path) {
            return Err(RemoteError::new(
                RemoteErrorKind::AlreadyExists,
                "550 already exists",
            ));
        }
        tree.insert(
            path.to_path_buf(),
            Node::Dir {
                mtime: SystemTime::now(),
                mode: None,
            },
        );
        Self::parent_changed(&mut tree, path);
        Ok(())
    }

    fn rmdir(&self, path: &Path) -> RemoteResult<()> {
        self.check_path(path)?;
        let vague = self.shared.faults.lock().rmdir_vague;
        let mut tree = self.shared.tree.lock();
        match tree.get(path) {
            Some(Node::Dir { .. }) => {}
            Some(_) => {
                return Err(RemoteError::new(
                    RemoteErrorKind::NotADirectory,
                    "550 not a directory",
                ));
            }
            None => return Err(not_found(path)),
        }
        if !Self::children(&tree, path).is_empty() {
            let kind = if vague {
                RemoteErrorKind::Other
            } else {
                RemoteErrorKind::NotEmpty
            };
            return Err(RemoteError::new(kind, "550 cannot remove directory"));
        }
        tree.remove(path);
        Self::parent_changed(&mut tree, path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()> {
        self.shared.counters.rename.fetch_add(1, Ordering::Relaxed);
        self.check_path(from)?;
        self.check_path(to)?;
        let refuse_existing = self.shared.faults.lock().rename_refuses_existing_target;
        let mut tree = self.shared.tree.lock();
        if !tree.contains_key(from) {
            return Err(not_found(from));
        }
        Self::require_parent_dir(&tree, to)?;
        if to.starts_with(from) {
            return Err(RemoteError::new(
                RemoteErrorKind::InvalidName,
                "553 cannot move a directory into itself",
            ));
        }
        if let Some(target) = tree.get(to) {
            let target_is_dir = matches!(target, Node::Dir { .. });
            if refuse_existing || target_is_dir {
                return Err(RemoteError::new(
                    RemoteErrorKind::Other,
                    "553 rename target exists",
                ));
            }
            tree.remove(to);
        }
        let moved: Vec<PathBuf> = tree
            .range(from.to_path_buf()..)
            .take_while(|(path, _)| path.starts_with(from))
            .map(|(path, _)| path.clone())
            .collect();
        for old in moved {
            let Some(new) = super::names::rebase(&old, from, to) else {
                continue;
            };
            if let Some(node) = tree.remove(&old) {
                tree.insert(new, node);
            }
        }
        Self::parent_changed(&mut tree, from);
        Self::parent_changed(&mut tree, to);
        Ok(())
    }

    fn set_mtime(&self, path: &Path, new_mtime: SystemTime) -> RemoteResult<()> {
        self.check_path(path)?;
        if self.shared.faults.lock().set_mtime_unsupported {
            return Err(RemoteError::new(
                RemoteErrorKind::Unsupported,
                "502 MFMT not implemented",
            ));
        }
        let dir_refused = self.shared.faults.lock().dir_mtime_refused;
        match self.shared.tree.lock().get_mut(path) {
            Some(Node::Dir { .. }) if dir_refused => Err(RemoteError::new(
                RemoteErrorKind::PermissionDenied,
                "550 Could not set file modification time.",
            )),
            Some(Node::File { mtime, .. }) | Some(Node::Dir { mtime, .. }) => {
                *mtime = new_mtime;
                Ok(())
            }
            Some(Node::Symlink { .. }) => Err(RemoteError::new(
                RemoteErrorKind::Other,
                "550 cannot set mtime of a link",
            )),
            None => Err(not_found(path)),
        }
    }

    fn list_ahead(
        &self,
        dir: &Path,
        starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        let slots = self.shared.faults.lock().list_ahead_slots as u64;
        let running = &self.shared.counters.listing_ahead;
        if running.fetch_add(1, Ordering::SeqCst) >= slots {
            running.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let listed = starting().then(|| self.list(dir));
        running.fetch_sub(1, Ordering::SeqCst);
        listed
    }

    fn chmod(&self, path: &Path, new_mode: u32) -> RemoteResult<()> {
        self.check_path(path)?;
        if self.shared.faults.lock().chmod_unsupported {
            return Err(RemoteError::new(
                RemoteErrorKind::Unsupported,
                "502 SITE CHMOD not implemented",
            ));
        }
        match self.shared.tree.lock().get_mut(path) {
            Some(Node::File { mode, .. }) | Some(Node::Dir { mode, .. }) => {
                *mode = Some(new_mode & 0o7777);
                Ok(())
            }
            Some(Node::Symlink { .. }) => Ok(()),
            None => Err(not_found(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn list_shows_direct_children_only() {
        let remote = MemoryRemote::new();
        remote.add_file("/d/a", b"xy".to_vec());
        remote.add_file("/d/sub/b", b"z".to_vec());
        remote.add_file("/d2", b"".to_vec());
        let mut names: Vec<_> = remote
            .list(Path::new("/d"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, ["a", "sub"]);
        assert_eq!(remote.list(Path::new("/")).unwrap().len(), 2);
    }

    #[test]
    fn upload_appears_as_written_and_finish_can_fail() {
        let remote = MemoryRemote::new();
        let mut writer = remote.create(Path::new("/f")).unwrap();
        writer.write_all(b"hello").unwrap();
        assert_eq!(remote.file("/f").unwrap(), b"hello");
        remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
        assert_eq!(writer.finish().unwrap_err().kind, RemoteErrorKind::NoSpace);
        let writer = remote.append(Path::new("/f")).unwrap();
        writer.finish().unwrap();
    }

    #[test]
    fn reader_starts_at_offset() {
        let remote = MemoryRemote::new();
        remote.add_file("/f", b"0123456789".to_vec());
        let mut data = String::new();
        remote
            .open_read(Path::new("/f"), 7)
            .unwrap()
            .read_to_string(&mut data)
            .unwrap();
        assert_eq!(data, "789");
    }

    #[test]
    fn rename_moves_subtrees_and_can_refuse_existing_targets() {
        let remote = MemoryRemote::new();
        remote.add_file("/d/a", b"1".to_vec());
        remote.rename(Path::new("/d"), Path::new("/e")).unwrap();
        assert_eq!(remote.file("/e/a").unwrap(), b"1");
        remote.add_file("/x", b"2".to_vec());
        remote.set_rename_refuses_existing_target(true);
        assert!(remote.rename(Path::new("/x"), Path::new("/e/a")).is_err());
    }

    #[test]
    fn rmdir_non_empty_is_not_empty_or_vague() {
        let remote = MemoryRemote::new();
        remote.add_file("/d/a", b"1".to_vec());
        let err = remote.rmdir(Path::new("/d")).unwrap_err();
        assert_eq!(err.kind, RemoteErrorKind::NotEmpty);
        remote.set_rmdir_vague(true);
        let err = remote.rmdir(Path::new("/d")).unwrap_err();
        assert_eq!(err.kind, RemoteErrorKind::Other);
    }
}
