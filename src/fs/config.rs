//! Settings of the filesystem core, filled in by the CLI.

use std::time::Duration;

/// How the mounted tree looks and caches. `Default` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// Owner shown for every file (default: the mounting user).
    pub uid: u32,
    /// Group shown for every file (default: the mounting user's group).
    pub gid: u32,
    /// Bits removed from the permissions shown (default 0o022).
    pub umask: u32,
    /// Refuse every modification with EROFS.
    pub read_only: bool,
    /// How long a directory listing is trusted (default 30 s).
    pub dir_cache_ttl: Duration,
    /// Byte budget of the chunk LRU for file data (default 64 MiB).
    pub cache_size: u64,
    /// Where spool files for random writes go (default: std::env::temp_dir()).
    pub spool_dir: std::path::PathBuf,
    /// Upload straight onto the real name (STOR) instead of to a temporary name renamed into
    /// place when complete (default false: atomic uploads; see `fs::upload_target`).
    pub inplace_uploads: bool,
    /// Write-back mode (`--writeback`, default false): close returns once the data is durable
    /// in the spool `writeback_dir`, background workers upload it (see `fs::writeback`).
    pub writeback: bool,
    /// Byte limit of the write-back spool (default 1 GiB): a close waits for room; a larger
    /// file is uploaded at close as without write-back.
    pub spool_size: u64,
    /// The write-back spool of this mount source (the CLI sets
    /// `writeback::default_spool_dir(source)` unless `--spool-dir` is given; the bare default
    /// is `temp_dir()/ftpfs-writeback`).
    pub writeback_dir: std::path::PathBuf,
    /// Background uploaders in write-back mode (default 1; the CLI sets connections - 1, at
    /// least 1, leaving a connection for everything else).
    pub writeback_workers: usize,
}

impl Default for FsConfig {
    fn default() -> Self {
        // SAFETY: getuid/getgid cannot fail and have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        FsConfig {
            uid,
            gid,
            umask: 0o022,
            read_only: false,
            dir_cache_ttl: Duration::from_secs(30),
            cache_size: 64 * 1024 * 1024,
            spool_dir: std::env::temp_dir(),
            inplace_uploads: false,
            writeback: false,
            spool_size: 1 << 30,
            writeback_dir: std::env::temp_dir().join("ftpfs-writeback"),
            writeback_workers: 1,
        }
    }
}
