//! Tests of the filesystem core against `MemoryRemote` (no kernel, no FTP).

mod namespace;
mod prefetch;
mod read;
mod readdirplus;
mod upload;
mod write;
mod writeback;
mod writeback_visible;

use std::ffi::OsStr;
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

// The old name, kept so tests written before the move to `remote::faulty` still merge.
use super::{FsConfig, FsCore, ROOT_INO};
use crate::remote::faulty::TestRemote as MemoryRemote;

fn config() -> FsConfig {
    FsConfig {
        uid: 1234,
        gid: 5678,
        dir_cache_ttl: Duration::from_secs(60),
        ..FsConfig::default()
    }
}

fn mount(remote: &MemoryRemote) -> Arc<FsCore> {
    FsCore::new(Arc::new(remote.clone()), config())
}

fn mount_with(remote: &MemoryRemote, config: FsConfig) -> Arc<FsCore> {
    FsCore::new(Arc::new(remote.clone()), config)
}

/// A mount that uploads straight onto the real names (`-o inplace`).
fn mount_inplace(remote: &MemoryRemote) -> Arc<FsCore> {
    mount_with(
        remote,
        FsConfig {
            inplace_uploads: true,
            ..config()
        },
    )
}

/// The inode of an absolute path, looked up component by component like the kernel does.
fn ino(fs: &FsCore, path: &str) -> u64 {
    let mut ino = ROOT_INO;
    for component in Path::new(path).components() {
        if let Component::Normal(name) = component {
            ino = fs.lookup(ino, name).unwrap().ino;
        }
    }
    ino
}

fn name(text: &str) -> &OsStr {
    OsStr::new(text)
}

/// Read a handle to its end in `piece`-sized reads.
fn read_all(fs: &FsCore, fh: u64, piece: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let data = fs.read(fh, out.len() as u64, piece).unwrap();
        if data.is_empty() {
            return out;
        }
        out.extend_from_slice(&data);
    }
}

/// Deterministic test content.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}
