//! Remote entry -> attributes shown to the kernel.
//!
//! FTP has no owners we could map to local users, so every file belongs to the configured
//! uid/gid. Permission bits come from the server when it tells us (MLSD `UNIX.mode` or the
//! `ls -l` mode); otherwise we show 0o644 / 0o755 minus the configured umask.
//!
//! FTP stores one time per file, the mtime. The other two are kept here, in `LocalTimes`, for
//! the inodes the kernel knows (keyed by inode number, so they follow a rename and a new file
//! under an old name starts fresh; bounded LRU, so they may be forgotten):
//! - atime: shown equal to mtime, unless utimensat set one; that one is remembered (the mount
//!   is `noatime`: reads never move it). FTP cannot store it, so it is gone after a remount.
//! - ctime: the later of mtime and the last change we made to the inode's attributes (chmod,
//!   truncate, utimens), so chmod moves it as POSIX says and data changes move it with mtime.
//!
//! A directory's link count is 2 + its subdirectories when its listing is cached (counting them
//! costs no round trip then), else 2.
//!
//! Locking: `LocalTimes` has one mutex, held only for map operations (a leaf lock).

use std::num::NonZeroUsize;
use std::time::{SystemTime, UNIX_EPOCH};

use lru::LruCache;
use parking_lot::Mutex;

use super::config::FsConfig;
use crate::remote::{Entry, EntryKind};

/// Inodes whose local times are remembered at most (about 50 bytes each).
const LOCAL_TIMES_CAPACITY: usize = 100_000;

/// Block size reported by stat and used to count blocks.
pub(crate) const BLOCK_SIZE: u32 = 4096;

/// The attributes of one inode, independent of fuser's types (the adapter converts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// The inode number the kernel knows the entry by (`ROOT_INO` for the mount's root).
    pub ino: u64,
    /// File, directory or symlink, as listed (symlinks are not followed).
    pub kind: EntryKind,
    /// In bytes, 0 when the server did not say; a symlink's is its target's length.
    pub size: u64,
    /// In 512-byte units, as stat(2) counts.
    pub blocks: u64,
    /// Last modification (the epoch when the server gave none).
    pub mtime: SystemTime,
    /// Last access: mtime unless utimensat set it (see `LocalTimes`).
    pub atime: SystemTime,
    /// Last status change: see `LocalTimes`.
    pub ctime: SystemTime,
    /// Permission bits (0o7777 mask).
    pub perm: u16,
    /// 1 for files and symlinks; a directory counts `.`, its name and each subdirectory's `..`.
    pub nlink: u32,
    /// Owner shown: `FsConfig::uid` for every entry (FTP owners mean nothing locally).
    pub uid: u32,
    /// Group shown: `FsConfig::gid` for every entry.
    pub gid: u32,
}

impl Attr {
    pub(crate) fn from_entry(ino: u64, entry: &Entry, config: &FsConfig) -> Self {
        let size = match entry.kind {
            EntryKind::Symlink => entry
                .link_target
                .as_ref()
                .map_or(0, |target| target.len() as u64),
            _ => entry.size.unwrap_or(0),
        };
        let default_mode = match entry.kind {
            EntryKind::File => 0o644 & !config.umask,
            EntryKind::Dir => 0o755 & !config.umask,
            EntryKind::Symlink => 0o777,
        };
        let perm = entry.mode.map_or(default_mode, |mode| mode & 0o7777);
        let mtime = entry.mtime.unwrap_or(UNIX_EPOCH);
        Attr {
            ino,
            kind: entry.kind,
            size,
            blocks: size.div_ceil(512),
            mtime,
            atime: mtime,
            ctime: mtime,
            perm: perm as u16,
            nlink: if entry.kind == EntryKind::Dir { 2 } else { 1 },
            uid: config.uid,
            gid: config.gid,
        }
    }
}

/// The link count of a directory with `subdirs` subdirectories: `.`, its name in the parent,
/// and each subdirectory's `..`.
pub(crate) fn dir_nlink(subdirs: usize) -> u32 {
    2u32.saturating_add(u32::try_from(subdirs).unwrap_or(u32::MAX))
}

/// What we remember of one inode beyond what the server stores.
#[derive(Clone, Copy, Debug, Default)]
struct Remembered {
    atime: Option<SystemTime>,
    changed: Option<SystemTime>,
}

/// atime set by utimensat and the time of our last attribute change, per inode number (see
/// the module doc). Protects: the inode -> times map.
#[derive(Debug)]
pub(crate) struct LocalTimes {
    times: Mutex<LruCache<u64, Remembered>>,
}

impl Default for LocalTimes {
    fn default() -> Self {
        LocalTimes {
            times: Mutex::new(LruCache::new(
                NonZeroUsize::new(LOCAL_TIMES_CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl LocalTimes {
    /// utimensat set `ino`'s atime.
    pub(crate) fn set_atime(&self, ino: u64, atime: SystemTime) {
        self.times
            .lock()
            .get_or_insert_mut(ino, Remembered::default)
            .atime = Some(atime);
    }

    /// We changed `ino`'s attributes (or size) at `when`.
    pub(crate) fn changed(&self, ino: u64, when: SystemTime) {
        self.times
            .lock()
            .get_or_insert_mut(ino, Remembered::default)
            .changed = Some(when);
    }

    /// Lays the remembered times over `attr` (built from the server's entry).
    pub(crate) fn apply(&self, attr: &mut Attr) {
        let Some(remembered) = self.times.lock().get(&attr.ino).copied() else {
            return;
        };
        if let Some(atime) = remembered.atime {
            attr.atime = atime;
        }
        if let Some(changed) = remembered.changed {
            attr.ctime = attr.ctime.max(changed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FsConfig {
        FsConfig {
            uid: 1000,
            gid: 100,
            umask: 0o027,
            ..FsConfig::default()
        }
    }

    #[test]
    fn defaults_apply_umask_when_server_gives_no_mode() {
        let file = Attr::from_entry(5, &Entry::new("f", EntryKind::File), &config());
        assert_eq!(file.perm, 0o640);
        assert_eq!((file.uid, file.gid), (1000, 100));
        let dir = Attr::from_entry(6, &Entry::new("d", EntryKind::Dir), &config());
        assert_eq!(dir.perm, 0o750);
        assert_eq!(dir.nlink, 2);
    }

    #[test]
    fn server_mode_size_and_mtime_win() {
        let mtime = UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let entry = Entry {
            size: Some(1025),
            mtime: Some(mtime),
            mode: Some(0o100_600),
            ..Entry::new("f", EntryKind::File)
        };
        let attr = Attr::from_entry(7, &entry, &config());
        assert_eq!(attr.perm, 0o600);
        assert_eq!(attr.size, 1025);
        assert_eq!(attr.blocks, 3);
        assert_eq!(attr.mtime, mtime);
    }

    #[test]
    fn atime_and_ctime_default_to_mtime() {
        let mtime = UNIX_EPOCH + std::time::Duration::from_secs(5_000);
        let entry = Entry {
            mtime: Some(mtime),
            ..Entry::new("f", EntryKind::File)
        };
        let attr = Attr::from_entry(9, &entry, &config());
        assert_eq!((attr.atime, attr.ctime), (mtime, mtime));
    }

    #[test]
    fn local_times_lay_atime_and_a_later_change_over_the_entry() {
        let at = |seconds| UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        let entry = Entry {
            mtime: Some(at(1_000)),
            ..Entry::new("f", EntryKind::File)
        };
        let times = LocalTimes::default();
        times.set_atime(10, at(7));
        times.changed(10, at(2_000));
        times.changed(11, at(500));
        let mut attr = Attr::from_entry(10, &entry, &config());
        times.apply(&mut attr);
        assert_eq!(
            (attr.atime, attr.mtime, attr.ctime),
            (at(7), at(1_000), at(2_000))
        );
        // A change older than the mtime (the data changed since) leaves ctime at mtime.
        let mut other = Attr::from_entry(11, &entry, &config());
        times.apply(&mut other);
        assert_eq!((other.atime, other.ctime), (at(1_000), at(1_000)));
    }

    #[test]
    fn dir_nlink_counts_subdirectories() {
        assert_eq!(dir_nlink(0), 2);
        assert_eq!(dir_nlink(2), 4);
        assert_eq!(dir_nlink(usize::MAX), u32::MAX);
    }

    #[test]
    fn symlink_size_is_target_length() {
        let entry = Entry {
            link_target: Some("../target".into()),
            ..Entry::new("l", EntryKind::Symlink)
        };
        let attr = Attr::from_entry(8, &entry, &config());
        assert_eq!(attr.size, 9);
        assert_eq!(attr.kind, EntryKind::Symlink);
    }
}
