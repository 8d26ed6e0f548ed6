//! Inode numbers <-> remote paths.
//!
//! FTP has no inode numbers, so we hand out our own: the kernel learns a number through lookup
//! (counted) and gives it back through forget. A number lives while the kernel holds lookups on
//! it, so the table stays bounded by what the kernel caches, not by the size of the remote tree.
//! Rename re-paths the whole subtree so open directories and cached dentries stay valid.
//! An inode whose name was removed while the kernel still holds it (an open file unlinked) is
//! marked unlinked, so stat shows it with no links, as POSIX says.
//!
//! Each inode's path is allocated once and shared by both maps (`Arc<Path>`): `ls -l` of a
//! big directory makes the kernel hold an inode per name, and two copies of every path were
//! a third of what the mount kept for such a directory.
//!
//! Locking: one mutex around the table, never held across anything but map operations.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// The root directory's inode number (FUSE convention).
pub const ROOT_INO: u64 = 1;

/// Numbers with this bit set are shown in readdir for entries the kernel has not looked up; they
/// never collide with the counted numbers handed out by `lookup` (which count up from 2).
const UNCOUNTED_BIT: u64 = 1 << 63;

#[derive(Debug)]
struct Node {
    path: Arc<Path>,
    lookups: u64,
    /// False once the name was removed (unlink): the inode lives on for its open handles only.
    linked: bool,
}

#[derive(Debug)]
struct Table {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<Arc<Path>, u64>,
    next_ino: u64,
}

/// The inode table. Protects: the two maps and the number counter.
#[derive(Debug)]
pub(crate) struct InodeTable {
    table: Mutex<Table>,
}

impl Default for InodeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    fn mark_unlinked(&mut self, ino: u64) {
        if let Some(node) = self.by_ino.get_mut(&ino) {
            node.linked = false;
        }
    }
}

impl InodeTable {
    pub(crate) fn new() -> Self {
        let root: Arc<Path> = Arc::from(Path::new("/"));
        let mut by_ino = HashMap::new();
        by_ino.insert(
            ROOT_INO,
            Node {
                path: Arc::clone(&root),
                lookups: 1,
                linked: true,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(root, ROOT_INO);
        InodeTable {
            table: Mutex::new(Table {
                by_ino,
                by_path,
                next_ino: ROOT_INO + 1,
            }),
        }
    }

    /// The current path of an inode.
    pub(crate) fn path(&self, ino: u64) -> Option<PathBuf> {
        self.table
            .lock()
            .by_ino
            .get(&ino)
            .map(|node| node.path.to_path_buf())
    }

    /// The inode of `path`, counting one kernel lookup (allocating the number when new).
    pub(crate) fn lookup(&self, path: &Path) -> u64 {
        let mut table = self.table.lock();
        if let Some(&ino) = table.by_path.get(path) {
            if let Some(node) = table.by_ino.get_mut(&ino) {
                node.lookups += 1;
            }
            return ino;
        }
        let ino = table.next_ino;
        table.next_ino += 1;
        let shared: Arc<Path> = Arc::from(path);
        table.by_ino.insert(
            ino,
            Node {
                path: Arc::clone(&shared),
                lookups: 1,
                linked: true,
            },
        );
        table.by_path.insert(shared, ino);
        ino
    }

    /// The number to show in readdir: the counted one when the kernel knows the path, else a
    /// stable hash-derived one (which does not keep anything alive in the table).
    pub(crate) fn readdir_ino(&self, path: &Path) -> u64 {
        if let Some(&ino) = self.table.lock().by_path.get(path) {
            return ino;
        }
        let mut hasher = DefaultHasher::new();
        path.hash(&mut hasher);
        hasher.finish() | UNCOUNTED_BIT
    }

    /// The kernel dropped `count` lookups of `ino`; forget it when none remain.
    pub(crate) fn forget(&self, ino: u64, count: u64) {
        if ino == ROOT_INO {
            return;
        }
        let mut table = self.table.lock();
        let Some(node) = table.by_ino.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(count);
        if node.lookups == 0 {
            let path = Arc::clone(&node.path);
            table.by_ino.remove(&ino);
            if table.by_path.get(&path) == Some(&ino) {
                table.by_path.remove(&path);
            }
        }
    }

    /// `path` was deleted: a later lookup of the same name is a different file and gets a new
    /// number; the old number stays valid (for open handles) until forgotten.
    pub(crate) fn unlinked(&self, path: &Path) {
        let mut table = self.table.lock();
        if let Some(ino) = table.by_path.remove(path) {
            table.mark_unlinked(ino);
        }
    }

    /// The unlinked file `path` was kept under the hidden name `hidden` for its open handles:
    /// its inode follows it there (so it stays reachable) and counts no links.
    pub(crate) fn unlinked_to_hidden(&self, path: &Path, hidden: &Path) {
        self.renamed(path, hidden);
        let mut table = self.table.lock();
        if let Some(&ino) = table.by_path.get(hidden) {
            table.mark_unlinked(ino);
        }
    }

    /// Whether `ino` still has a name (false after `unlinked`, and for unknown numbers).
    pub(crate) fn is_linked(&self, ino: u64) -> bool {
        self.table
            .lock()
            .by_ino
            .get(&ino)
            .is_some_and(|node| node.linked)
    }

    /// `from` was renamed to `to`: re-path it and everything below it. An inode previously at
    /// `to` (replaced by the rename) is detached like an unlinked one.
    pub(crate) fn renamed(&self, from: &Path, to: &Path) {
        let mut table = self.table.lock();
        let table = &mut *table;
        let replaced: Vec<Arc<Path>> = table
            .by_path
            .keys()
            .filter(|path| path.starts_with(to))
            .cloned()
            .collect();
        for path in replaced {
            table.by_path.remove(&path);
        }
        let moved: Vec<(Arc<Path>, u64)> = table
            .by_path
            .iter()
            .filter(|(path, _)| path.starts_with(from))
            .map(|(path, &ino)| (Arc::clone(path), ino))
            .collect();
        for (old_path, ino) in moved {
            let Some(new_path) = super::names::rebase(&old_path, from, to) else {
                continue;
            };
            let new_path: Arc<Path> = Arc::from(new_path);
            table.by_path.remove(&old_path);
            table.by_path.insert(Arc::clone(&new_path), ino);
            if let Some(node) = table.by_ino.get_mut(&ino) {
                node.path = new_path;
            }
        }
    }

    /// How many inodes are alive.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().by_ino.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_one_and_lookups_reuse_numbers() {
        let table = InodeTable::new();
        assert_eq!(table.path(ROOT_INO).unwrap(), Path::new("/"));
        let a = table.lookup(Path::new("/a"));
        assert_eq!(table.lookup(Path::new("/a")), a);
        assert_ne!(a, ROOT_INO);
        assert_eq!(table.path(a).unwrap(), Path::new("/a"));
    }

    #[test]
    fn forget_drops_after_all_lookups() {
        let table = InodeTable::new();
        let a = table.lookup(Path::new("/a"));
        table.lookup(Path::new("/a"));
        table.forget(a, 1);
        assert!(table.path(a).is_some());
        table.forget(a, 1);
        assert!(table.path(a).is_none());
        table.forget(ROOT_INO, 100);
        assert!(table.path(ROOT_INO).is_some());
    }

    #[test]
    fn rename_repaths_the_subtree_and_detaches_the_target() {
        let table = InodeTable::new();
        let dir = table.lookup(Path::new("/d"));
        let child = table.lookup(Path::new("/d/sub/f"));
        let sibling = table.lookup(Path::new("/dx"));
        let old_target = table.lookup(Path::new("/e"));
        table.renamed(Path::new("/d"), Path::new("/e"));
        assert_eq!(table.path(dir).unwrap(), Path::new("/e"));
        assert_eq!(table.path(child).unwrap(), Path::new("/e/sub/f"));
        assert_eq!(table.path(sibling).unwrap(), Path::new("/dx"));
        assert_eq!(table.lookup(Path::new("/e")), dir);
        assert_ne!(table.lookup(Path::new("/e")), old_target);
    }

    #[test]
    fn unlinked_name_gets_a_new_number() {
        let table = InodeTable::new();
        let a = table.lookup(Path::new("/a"));
        table.unlinked(Path::new("/a"));
        let again = table.lookup(Path::new("/a"));
        assert_ne!(a, again);
        assert_eq!(table.path(a).unwrap(), Path::new("/a"));
        assert!(!table.is_linked(a));
        assert!(table.is_linked(again));
        table.forget(a, 1);
        assert_eq!(table.lookup(Path::new("/a")), again);
    }

    #[test]
    fn a_hidden_unlinked_file_keeps_its_number_under_the_hidden_name() {
        let table = InodeTable::new();
        let open = table.lookup(Path::new("/d/f"));
        table.unlinked_to_hidden(Path::new("/d/f"), Path::new("/d/.hidden"));
        assert_eq!(table.path(open).unwrap(), Path::new("/d/.hidden"));
        assert!(!table.is_linked(open));
        let new = table.lookup(Path::new("/d/f"));
        assert_ne!(new, open);
        assert!(table.is_linked(new));
        assert!(table.is_linked(ROOT_INO));
    }

    #[test]
    fn each_path_is_stored_once_for_both_maps() {
        let table = InodeTable::new();
        let a = table.lookup(Path::new("/d/a"));
        table.renamed(Path::new("/d"), Path::new("/e"));
        let b = table.lookup(Path::new("/b"));
        let inner = table.table.lock();
        for ino in [ROOT_INO, a, b] {
            let node = &inner.by_ino[&ino];
            let (key, _) = inner.by_path.get_key_value(&*node.path).unwrap();
            assert!(Arc::ptr_eq(key, &node.path), "{:?}", node.path);
        }
        assert_eq!(&*inner.by_ino[&a].path, Path::new("/e/a"));
    }

    #[test]
    fn readdir_numbers_are_stable_and_do_not_allocate() {
        let table = InodeTable::new();
        let shown = table.readdir_ino(Path::new("/x"));
        assert_eq!(shown, table.readdir_ino(Path::new("/x")));
        assert_ne!(shown & UNCOUNTED_BIT, 0);
        assert_eq!(table.len(), 1);
        let counted = table.lookup(Path::new("/x"));
        assert_eq!(table.readdir_ino(Path::new("/x")), counted);
    }
}
