//! Remote entry -> attributes shown to the kernel.
//!
//! FTP has no owners we could map to local users, so every file belongs to the configured
//! uid/gid. Permission bits come from the server when it tells us (MLSD `UNIX.mode` or the
//! `ls -l` mode); otherwise we show 0o644 / 0o755 minus the configured umask.

use std::time::{SystemTime, UNIX_EPOCH};

use super::config::FsConfig;
use crate::remote::{Entry, EntryKind};

/// Block size reported by stat and used to count blocks.
pub const BLOCK_SIZE: u32 = 4096;

/// The attributes of one inode, independent of fuser's types (the adapter converts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: EntryKind,
    pub size: u64,
    /// In 512-byte units, as stat(2) counts.
    pub blocks: u64,
    pub mtime: SystemTime,
    /// Permission bits (0o7777 mask).
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Attr {
    pub fn from_entry(ino: u64, entry: &Entry, config: &FsConfig) -> Self {
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
        Attr {
            ino,
            kind: entry.kind,
            size,
            blocks: size.div_ceil(512),
            mtime: entry.mtime.unwrap_or(UNIX_EPOCH),
            perm: perm as u16,
            nlink: if entry.kind == EntryKind::Dir { 2 } else { 1 },
            uid: config.uid,
            gid: config.gid,
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
