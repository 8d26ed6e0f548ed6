//! Write-back mode (`--writeback`) on real servers, directories and connection limits:
//! - `rsync -a` sets each directory's time last, while the files below are still queued; the
//!   time is shown at once and set on the server after the uploads below it, so after the
//!   unmount (which drains the spool) the server has the source's directory times. (That the
//!   utimens returns while the uploads are still pending is asserted by state in the fs unit
//!   test `utimens_and_chmod_of_a_directory_go_after_the_uploads_below_it`.)
//! - The default `--connections` (8) against a server that allows 2 connections per address:
//!   the pool stops growing at what worked and every queued upload still reaches the server.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use common::faults::vsftpd_for_mount_with;
use common::mount::run_ok;
use common::{Feature, Mount, TestServer, assert_same, fuse_available, pattern, skip, temp_dir};

/// Files per directory of the source tree.
const FILES: usize = 20;
/// The mtime of the source directories (2020-01-02 03:04:05 UTC).
const DIR_MTIME: u64 = 1_577_934_245;

fn content(i: usize) -> Vec<u8> {
    pattern(700 + i * 31, i as u64)
}

/// `dir` gets `FILES` files; `top` and `top/sub` then get `DIR_MTIME`.
fn source_tree() -> common::TempDir {
    let source = temp_dir("ftpfs-wbdir-source");
    let sub = source.path().join("sub");
    fs::create_dir(&sub).unwrap();
    for dir in [source.path(), sub.as_path()] {
        for i in 0..FILES {
            fs::write(dir.join(format!("f{i:02}")), content(i)).unwrap();
        }
    }
    for dir in [sub.as_path(), source.path()] {
        let when = UNIX_EPOCH + Duration::from_secs(DIR_MTIME);
        fs::File::open(dir).unwrap().set_modified(when).unwrap();
    }
    source
}

fn mtime_secs(path: &Path) -> u64 {
    let modified = fs::metadata(path).and_then(|m| m.modified()).unwrap();
    modified.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Every source file is under `dir` (`copy` or `copy/sub`) of the server, byte-exact.
fn assert_files_on_server(server: &TestServer, dir: &str) {
    for i in 0..FILES {
        let path = server.path(&format!("{dir}/f{i:02}"));
        let got = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_same(&got, &content(i), &path.display().to_string());
    }
}

fn rsync_sets_directory_times_after_the_uploads_below(server: &TestServer) {
    if !fuse_available(&skip::current_test()) {
        return;
    }
    let (source, spool) = (source_tree(), temp_dir("ftpfs-wbdir-spool"));
    let args = ["--writeback", "--spool-dir", spool.str()];
    let mount = Mount::foreground(server, server.port, &args);
    run_ok(
        Command::new("rsync")
            .arg("-a")
            .arg(format!("{}/", source.path().display()))
            .arg(mount.path("copy")),
    );
    // Shown at once through the mount, whether or not the uploads below are done.
    assert_eq!(mtime_secs(&mount.path("copy/sub")), DIR_MTIME, "shown");
    assert_eq!(mtime_secs(&mount.path("copy")), DIR_MTIME, "shown");
    mount.unmount(); // drains the spool, then the directory times
    assert_files_on_server(server, "copy");
    assert_files_on_server(server, "copy/sub");
    if server.kind.can(Feature::SetDirTime) {
        for dir in ["copy/sub", "copy"] {
            let got = mtime_secs(&server.path(dir));
            assert_eq!(got, DIR_MTIME, "{dir} on {}", server.kind);
        }
    }
}

server_tests!(rsync_sets_directory_times_after_the_uploads_below);

#[test]
fn default_connections_against_a_two_connection_limit_upload_everything() {
    let Some(server) = vsftpd_for_mount_with("max_per_ip=2\n") else {
        return;
    };
    let (source, spool) = (source_tree(), temp_dir("ftpfs-wbdir-spool"));
    // No --connections: the default (8) asks for more than the server allows.
    let args = ["--writeback", "--spool-dir", spool.str(), "--timeout", "10"];
    let mount = Mount::foreground(&server, server.port, &args);
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(source.path())
            .arg(mount.path("copy")),
    );
    // fsync waits for each upload: the first one sends all 40 queued files to the 7 workers
    // at once, more than the server's 2 connections.
    for dir in ["copy", "copy/sub"] {
        for i in 0..FILES {
            let path = mount.path(&format!("{dir}/f{i:02}"));
            fs::File::open(&path).and_then(|f| f.sync_all()).unwrap();
        }
    }
    let logs = mount.logs();
    assert!(logs.contains("limiting the pool to"), "{logs}");
    mount.unmount();
    assert_files_on_server(&server, "copy");
    assert_files_on_server(&server, "copy/sub");
}
