//! Shared harness for the integration tests: real FTP servers on 127.0.0.1, temp dirs and
//! paths. Each test binary includes it with `mod common;`, so items unused by one binary are
//! expected (hence the `dead_code` allowance).
//!
//! - `TestServer::start(kind)` runs vsftpd, proftpd, pure-ftpd or pyftpdlib through
//!   scripts/servers/start.sh on a reserved port slot, with a fresh root directory.
//! - `kinds_for_tests()` is the list of server kinds a test should loop over.
//! - Servers are installed by scripts/servers/install.sh (scripts/test.sh runs it). A missing
//!   server is a skip note locally and a panic in CI (env CI=true): tests must run there.
#![allow(dead_code)]

pub mod mount;
mod ports;
pub mod proxy;
mod server;
mod tempdir;

use std::path::PathBuf;

#[allow(unused_imports)]
pub use ports::PortSlot;
#[allow(unused_imports)]
pub use server::{ServerKind, TEST_PASSWORD, TEST_USER, TestServer, in_ci, lookup_system_user};
#[allow(unused_imports)]
pub use tempdir::{TempDir, temp_dir};

/// The server kinds to test against: all four, or those named in env FTPFS_TEST_SERVERS
/// (comma separated, e.g. `vsftpd,proftpd`). Kinds not installed here are left out with a
/// skip note, except in CI, where that panics.
pub fn kinds_for_tests() -> Vec<ServerKind> {
    let requested: Vec<ServerKind> = match std::env::var("FTPFS_TEST_SERVERS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .filter(|name| !name.trim().is_empty())
            .map(|name| {
                ServerKind::from_name(name).unwrap_or_else(|| {
                    panic!("FTPFS_TEST_SERVERS: unknown server {name:?} (vsftpd, proftpd, pureftpd, pyftpdlib)")
                })
            })
            .collect(),
        _ => ServerKind::ALL.to_vec(),
    };
    requested
        .into_iter()
        .filter(|kind| match kind.unavailable_reason() {
            None => true,
            Some(reason) if in_ci() => {
                panic!(
                    "{kind} test server unavailable in CI: {reason}; run scripts/servers/install.sh"
                )
            }
            Some(reason) => {
                eprintln!("SKIP {kind}: {reason} (run scripts/servers/install.sh as root)");
                false
            }
        })
        .collect()
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Deterministic pseudo-random bytes, so corruption anywhere is visible.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
