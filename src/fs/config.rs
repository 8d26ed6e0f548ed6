//! Settings of the filesystem core, filled in by the CLI.

use std::time::Duration;

/// How the mounted tree looks and caches. `Default` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// Owner shown for every file (default: the mounting user).
    pub uid: u32,
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
        }
    }
}
