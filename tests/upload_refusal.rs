//! Uploads the server refuses. STOR goes out without waiting for its 150 (issue 10), so a
//! refusal cannot fail the `create`: it fails the first write that would block (a big file),
//! or the finish (a small one), with the server's reason, never by waiting for the timeout,
//! and leaves nothing behind. The refusals come from a directory made read-only on the
//! server's disk (servers that run as root here store anyway, see `Feature::DiskPermissions`).
//! Through the mount: the write or the close fails with EACCES, and the name `create` made
//! goes, with or without `--inplace`.

#[macro_use]
mod common;

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::faults::config_for;
use common::{Feature, Mount, TestServer, pattern};
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

/// An upload the server refuses (a directory it may not write to, which the mount had listed
/// as writable) fails with EACCES at the write or the close: the STOR goes out without waiting
/// for its 150 (issue 10), so the open may succeed. Nothing is left on the server, and the
/// name `create` made does not stay in the mount (its cached listing lasts 30 s).
fn refused_upload_fails_the_write_or_close_and_leaves_nothing(server: &TestServer, mount: &Mount) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::io::IntoRawFd;
    if !server.kind.can_or_skip(common::Feature::DiskPermissions) {
        return;
    }
    let dir = server.seed_dir("locked");
    assert_eq!(fs::read_dir(mount.path("locked")).unwrap().count(), 0);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let outcome = File::create(mount.path("locked/new.txt")).and_then(|mut file| {
        file.write_all(b"refused\n")?;
        // SAFETY: closing the descriptor we own, once (into_raw_fd gave up the ownership).
        match unsafe { libc::close(file.into_raw_fd()) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    });
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let err = outcome.expect_err("an upload into a read-only directory must fail");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EACCES),
        "{}: {err}",
        server.kind
    );
    let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert!(
        left.is_empty(),
        "{}: left on the server: {left:?}",
        server.kind
    );
    // The kernel may keep the name for its entry timeout (1 s); the mount forgets it.
    let gone_by = Instant::now() + Duration::from_secs(3);
    while mount.path("locked/new.txt").exists() && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!mount.path("locked/new.txt").exists(), "{}", server.kind);
}

fn a_refused_upload_fails_the_write_or_close_and_leaves_nothing(
    server: &TestServer,
    mount: &Mount,
) {
    refused_upload_fails_the_write_or_close_and_leaves_nothing(server, mount);
}
mount_tests!(a_refused_upload_fails_the_write_or_close_and_leaves_nothing);

/// The same with `--inplace`: the STOR goes to the real name, whose entry is forgotten too.
fn a_refused_inplace_upload_fails_and_leaves_nothing(server: &TestServer, mount: &Mount) {
    refused_upload_fails_the_write_or_close_and_leaves_nothing(server, mount);
}
mount_tests!(
    a_refused_inplace_upload_fails_and_leaves_nothing,
    "--inplace"
);
