//! The one harness of the integration tests: real FTP servers on 127.0.0.1, FUSE mounts over
//! either backend, one skip rule, one test pattern. Each test binary includes it with
//! `#[macro_use] mod common;`, so items unused by one binary are expected (`dead_code`).
//!
//! - `TestServer::start(kind)` runs vsftpd, proftpd, pure-ftpd, pyftpdlib or libunftp through
//!   scripts/servers/start.sh on a reserved port slot, with a fresh root directory.
//! - `Mount` (mount.rs): the real binary on a real server (`Mount::new`, `Mount::with_args`,
//!   `Mount::foreground` for a proxy port), or the core over a `TestRemote` in-process
//!   (`Mount::memory`).
//! - `SmallDisk::over(&server, bytes)` (small_disk.rs): a tmpfs over a server's root, so an
//!   upload really fills the disk.
//! - `server_tests!(f)` / `mount_tests!(f, args...)`: one `#[test]` per server kind
//!   (`f::vsftpd`, `f::proftpd`, ...), so the first failing server does not hide the others.
//! - The skip rule (skip.rs): without root, /dev/fuse or an installed server a test skips with
//!   a note locally and fails under CI=true. What a server cannot do comes from ONE table,
//!   `kind::LIMITATIONS` (`kind.lacks(Feature::X)`), and is skipped everywhere.
#![allow(dead_code)]

pub mod certs;
pub mod faults;
pub mod files;
mod kind;
pub mod mount;
mod ports;
pub mod proxy;
mod server;
pub mod skip;
pub mod small_disk;
mod tempdir;

use std::path::PathBuf;

#[allow(unused_imports)]
pub use kind::{Feature, LIMITATIONS, ServerKind};
#[allow(unused_imports)]
pub use mount::Mount;
#[allow(unused_imports)]
pub use ports::PortSlot;
#[allow(unused_imports)]
pub use server::{TEST_PASSWORD, TEST_USER, TestServer, lookup_system_user};
#[allow(unused_imports)]
pub use skip::{fuse_available, in_ci};
#[allow(unused_imports)]
pub use small_disk::SmallDisk;
#[allow(unused_imports)]
pub use tempdir::{TempDir, temp_dir};

use ftpfs::remote::faulty::TestRemote;

/// The selected and installed server kinds (skip rule applied to the others). Kept for tests
/// written before the per-kind macros; new tests use `server_tests!`/`mount_tests!`, which
/// give each kind its own `#[test]`.
pub fn kinds_for_tests() -> Vec<ServerKind> {
    ServerKind::ALL
        .into_iter()
        .filter(|kind| kind.available_or_skip())
        .collect()
}

/// Runs `body` on a fresh server of `kind`, or skips (see `ServerKind::available_or_skip`).
pub fn with_server(kind: ServerKind, body: impl FnOnce(&TestServer)) {
    with_configured_server(kind, "", body);
}

/// Like `with_server`, the server started with `extra` config (see `TestServer`).
pub fn with_configured_server(kind: ServerKind, extra: &str, body: impl FnOnce(&TestServer)) {
    if let Some(server) = TestServer::try_start_with_extra_config(kind, extra) {
        body(&server);
    }
}

/// Runs `body` on a fresh server of `kind` mounted by the binary with `args`; skips when FUSE
/// or the server is missing. The mount is checked to unmount cleanly afterwards.
pub fn with_mount(kind: ServerKind, args: &[&str], body: impl FnOnce(&TestServer, &Mount)) {
    if !fuse_available(&format!("{} on {kind}", skip::current_test())) {
        return;
    }
    with_server(kind, |server| {
        let mount = Mount::with_args(server, args);
        body(server, &mount);
        mount.unmount();
    });
}

/// A `Mount::memory` of `remote`, or None (after the skip rule) when FUSE is missing here.
pub fn memory_mount(remote: TestRemote) -> Option<Mount> {
    fuse_available(&skip::current_test()).then(|| Mount::memory(remote))
}

/// A FUSE-only precondition for tests that mount servers themselves: true when FUSE works and
/// `kind` can run; otherwise the skip rule applied and false.
pub fn can_mount(kind: ServerKind) -> bool {
    fuse_available(&format!("{} on {kind}", skip::current_test())) && kind.available_or_skip()
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const MIB: usize = 1024 * 1024;

/// Deterministic pseudo-random test bytes, the one generator of the tests: xorshift noise
/// seeded by `seed`, and every MiB starts with its index and the seed, so a misplaced block or
/// a mixed-up file is caught, not only a wrong byte.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut block = Vec::with_capacity(MIB.min(len) + 8);
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    while block.len() < MIB.min(len) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        block.extend_from_slice(&x.to_le_bytes());
    }
    let mut out = Vec::with_capacity(len);
    let mut index: u64 = 0;
    while out.len() < len {
        let start = out.len();
        let take = (len - start).min(MIB);
        out.extend_from_slice(&block[..take]);
        let stamp = [index.to_le_bytes(), seed.to_le_bytes()].concat();
        let stamped = take.min(stamp.len());
        out[start..start + stamped].copy_from_slice(&stamp[..stamped]);
        index += 1;
    }
    out
}

/// First differing offset, for readable failures on big buffers.
pub fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    got.iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .or((got.len() != want.len()).then(|| got.len().min(want.len())))
}

/// Asserts `got == want` without printing megabytes: sizes and the first differing offset.
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if let Some(at) = first_difference(got, want) {
        panic!(
            "{what}: got {} bytes, want {}; first difference at offset {at}",
            got.len(),
            want.len()
        );
    }
}

/// One `#[test]` per server kind for `fn $body(&TestServer)`: `$body::vsftpd`, ... Each starts
/// its own server (or skips by the one rule).
#[allow(unused_macros)]
macro_rules! server_tests {
    ($body:ident) => {
        server_tests!(@kinds $body, |kind| $crate::common::with_server(kind, super::$body));
    };
    (@kinds $body:ident, |$kind:ident| $run:expr) => {
        mod $body {
            #[test]
            fn vsftpd() { let $kind = $crate::common::ServerKind::Vsftpd; $run }
            #[test]
            fn proftpd() { let $kind = $crate::common::ServerKind::Proftpd; $run }
            #[test]
            fn pureftpd() { let $kind = $crate::common::ServerKind::PureFtpd; $run }
            #[test]
            fn pyftpdlib() { let $kind = $crate::common::ServerKind::Pyftpdlib; $run }
            #[test]
            fn unftp() { let $kind = $crate::common::ServerKind::Unftp; $run }
        }
    };
}

/// One `#[test]` per server kind for `fn $body(&TestServer, &Mount)`, each on a fresh server
/// mounted by the binary with the given extra `ftpfs mount` arguments.
#[allow(unused_macros)]
macro_rules! mount_tests {
    ($body:ident $(, $arg:expr)* $(,)?) => {
        server_tests!(@kinds $body, |kind| $crate::common::with_mount(kind, &[$($arg),*], super::$body));
    };
}
