//! Uploads the server refuses. STOR goes out without waiting for its 150 (issue 10), so a
//! refusal cannot fail the `create`: it fails the first write that would block (a big file),
//! or the finish (a small one), with the server's reason, never by waiting for the timeout,
//! and leaves nothing behind. The refusals come from a directory made read-only on the
//! server's disk (servers that run as root here store anyway, see `Feature::DiskPermissions`).

#[macro_use]
mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::faults::config_for;
use common::{Feature, TestServer, pattern};
use ftpfs::ftp::FtpRemote;
use ftpfs::remote::{Remote, RemoteError, RemoteErrorKind};

/// A STOR the server refuses (a read-only directory) fails the upload loudly with
/// PermissionDenied: small, at `finish`; big, at a write once the socket buffers are full
/// (the command goes out without waiting for the 150, issue 10), never by hanging until the
/// timeout. The connection stays usable and nothing is left on the server.
fn a_refused_stor_fails_the_write_or_finish_with_permission_denied(server: &TestServer) {
    use std::os::unix::fs::PermissionsExt;
    if !server.kind.can_or_skip(Feature::DiskPermissions) {
        return;
    }
    let dir = server.seed_dir("locked");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let remote = FtpRemote::connect(config_for(server, server.port, Duration::from_secs(10)))
        .expect("login");
    for (name, size) in [("small", 4096), ("big", 32 * 1024 * 1024)] {
        let path = format!("/locked/{name}");
        let outcome = remote.create(Path::new(&path)).and_then(|mut writer| {
            writer
                .write_all(&pattern(size, 3))
                .map_err(RemoteError::from_io)?;
            writer.finish()
        });
        // An upload that waited for the reply timeout would end in a Timeout error instead.
        let err = outcome.expect_err("a STOR into a read-only directory must fail");
        assert_eq!(
            err.kind,
            RemoteErrorKind::PermissionDenied,
            "{:?} {name}: {err}",
            server.kind
        );
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "{:?}", server.kind);
    assert!(remote.list(Path::new("/locked")).unwrap().is_empty());
}
server_tests!(a_refused_stor_fails_the_write_or_finish_with_permission_denied);
