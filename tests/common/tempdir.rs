//! A temporary directory removed on drop, hand-written so the tests need no extra crate.
//!
//! Names combine the prefix, the process id, a process-wide counter and a random value, and the
//! directory is made with `create_dir` (fails if it exists), so directories made concurrently by
//! many tests in many test processes never collide.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A directory under the system temp dir that is deleted (recursively) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as text, for argument lists (temp dir paths are UTF-8).
    pub fn str(&self) -> &str {
        self.path.to_str().expect("temp dir paths are UTF-8")
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("could not remove temp dir {}: {error}", self.path.display());
        }
    }
}

/// A random u64 from the std hasher's per-instance random keys.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(NEXT_ID.load(Ordering::Relaxed));
    hasher.finish()
}

/// Creates a fresh empty directory named `<prefix>-<pid>-<n>-<random>` in the system temp dir.
pub fn temp_dir(prefix: &str) -> TempDir {
    let base = std::env::temp_dir();
    loop {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{prefix}-{}-{id}-{:08x}",
            std::process::id(),
            random_u64() as u32
        );
        let path = base.join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => return TempDir { path },
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => panic!("cannot create temp dir {}: {error}", path.display()),
        }
    }
}
