//! An in-memory `Remote`: a tree of directories, files and symlinks with mtimes.
//!
//! It lets the filesystem core (unit tests under `cfg(test)`, and a real FUSE mount in the
//! integration tests through the `testing` feature) be tested without an FTP server. It only
//! models a well-behaved server; misbehaviour (failed final replies, broken connections,
//! refused renames, slow listings) and call counting live in `faulty::FaultyRemote`, which wraps
//! this or any other `Remote`.
//!
//! Behaviour mirrors an FTP server: `create` truncates immediately and data appears as it is
//! written; `finish` reports the final reply. Readers see a snapshot taken at `open_read`.
//! A directory's mtime moves when an entry is added, removed or renamed in it (as on a POSIX
//! disk).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

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

#[derive(Debug)]
struct Shared {
    tree: Mutex<BTreeMap<PathBuf, Node>>,
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
        Ok(Box::new(MemoryWriter {
            shared: self.shared.clone(),
            path: path.to_path_buf(),
        }))
    }
}

struct MemoryReader {
    data: Arc<[u8]>,
    position: usize,
}

impl io::Read for MemoryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.data.get(self.position..).unwrap_or(&[]);
        let take = rest.len().min(buf.len());
        buf[..take].copy_from_slice(&rest[..take]);
        self.position += take;
        Ok(take)
    }
}

struct MemoryWriter {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl io::Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
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
        Ok(())
    }
}

impl Remote for MemoryRemote {
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>> {
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
        Ok(Self::children(&tree, dir)
            .into_iter()
            .filter_map(|(path, node)| {
                let name = path.file_name()?.to_os_string();
                Some(Self::entry_of(name, &node))
            })
            .collect())
    }

    fn stat(&self, path: &Path) -> RemoteResult<Entry> {
        let tree = self.shared.tree.lock();
        let node = tree.get(path).ok_or_else(|| not_found(path))?;
        let name = path
            .file_name()
            .map_or_else(|| OsString::from("/"), |name| name.to_os_string());
        Ok(Self::entry_of(name, node))
    }

    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        let tree = self.shared.tree.lock();
        match tree.get(path) {
            Some(Node::File { data, .. }) => Ok(Box::new(MemoryReader {
                data: data.clone().into(),
                position: usize::try_from(offset).unwrap_or(usize::MAX),
            })),
            Some(_) => Err(RemoteError::new(
                RemoteErrorKind::IsADirectory,
                "550 not a plain file",
            )),
            None => Err(not_found(path)),
        }
    }

    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.start_upload(path, true)
    }

    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.start_upload(path, false)
    }

    fn delete(&self, path: &Path) -> RemoteResult<()> {
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
            return Err(RemoteError::new(
                RemoteErrorKind::NotEmpty,
                "550 cannot remove directory",
            ));
        }
        tree.remove(path);
        Self::parent_changed(&mut tree, path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()> {
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
            if target_is_dir {
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
            let Ok(suffix) = old.strip_prefix(from) else {
                continue;
            };
            let new = if suffix.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(suffix)
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
        match self.shared.tree.lock().get_mut(path) {
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

    /// No connections to run out of: every listing ahead may run (`FaultyRemote` limits them).
    fn list_ahead(
        &self,
        dir: &Path,
        _small: bool,
        starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        starting().then(|| self.list(dir))
    }

    fn chmod(&self, path: &Path, new_mode: u32) -> RemoteResult<()> {
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
    fn upload_appears_as_written() {
        let remote = MemoryRemote::new();
        let mut writer = remote.create(Path::new("/f")).unwrap();
        writer.write_all(b"hello").unwrap();
        assert_eq!(remote.file("/f").unwrap(), b"hello");
        writer.finish().unwrap();
        let mut writer = remote.append(Path::new("/f")).unwrap();
        writer.write_all(b"!").unwrap();
        writer.finish().unwrap();
        assert_eq!(remote.file("/f").unwrap(), b"hello!");
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
    fn rename_moves_subtrees_and_replaces_files() {
        let remote = MemoryRemote::new();
        remote.add_file("/d/a", b"1".to_vec());
        remote.rename(Path::new("/d"), Path::new("/e")).unwrap();
        assert_eq!(remote.file("/e/a").unwrap(), b"1");
        assert!(!remote.exists("/d/a"));
        remote.add_file("/x", b"2".to_vec());
        remote.rename(Path::new("/x"), Path::new("/e/a")).unwrap();
        assert_eq!(remote.file("/e/a").unwrap(), b"2");
    }

    #[test]
    fn rmdir_non_empty_is_not_empty() {
        let remote = MemoryRemote::new();
        remote.add_file("/d/a", b"1".to_vec());
        let err = remote.rmdir(Path::new("/d")).unwrap_err();
        assert_eq!(err.kind, RemoteErrorKind::NotEmpty);
    }
}
