//! Write-back mode (`--writeback`) on a real vsftpd while uploads are held back (the fault proxy
//! cuts every upload, so each is retried and stays pending): reads through the mount see the
//! pending data, not the server's older version, and do not wait for the upload; once uploads
//! get through, fsync of the file waits for its upload and the server has the new data.
//! `ftpfs status` lists the queue with its failed attempts; `ftpfs sync` times out naming what is
//! left (exit 1), and fsync of the mount's root waits for every upload. A rename of a queued file
//! returns at once: the server's old copy moves first, the upload follows the new name.

#[macro_use]
mod common;

use std::fs::{self, File};
use std::time::Duration;

use common::faults::{vsftpd_for_mount, within};
use common::mount::run_ftpfs;
use common::proxy::{CutRule, FaultProxy};
use common::{Mount, TempDir, TestServer, temp_dir};

/// `ftpfs ARGS... MOUNTPOINT`: exit status, stdout, stderr.
fn ftpfs_on(mount: &Mount, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push(mount.dir().as_os_str());
    let output = run_ftpfs(&all);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// fsync of the mount's root (FUSE fsyncdir): waits for every upload.
fn fsync_root(mount: &Mount) {
    let root = mount.dir().to_path_buf();
    let (synced, _) = within(Duration::from_secs(120), "fsync of the root", move || {
        File::open(&root)?.sync_all()
    });
    synced.unwrap_or_else(|e| panic!("fsync of the root: {e}\n{}", mount.logs()));
}

/// vsftpd with `old.txt` holding `seed`, mounted in write-back mode through the fault proxy
/// with `extra` arguments; None when FUSE or the server is missing (skip rule applied).
fn writeback_mount(
    seed: &[u8],
    extra: &[&str],
) -> Option<(TestServer, TempDir, FaultProxy, Mount)> {
    let server = vsftpd_for_mount()?;
    server.seed_file("old.txt", seed);
    let spool = temp_dir("ftpfs-wb-pending");
    let proxy = FaultProxy::start(server.addr());
    let mut args = vec!["--writeback", "--spool-dir", spool.str(), "--timeout", "5"];
    args.extend_from_slice(extra);
    let mount = Mount::foreground(&server, proxy.port, &args);
    Some((server, spool, proxy, mount))
}

#[test]
fn reads_of_pending_files_see_the_spooled_data_while_uploads_fail() {
    let Some((server, _spool, proxy, mount)) = writeback_mount(b"server version", &[]) else {
        return;
    };
    proxy.add_cut(CutRule::upload_after(0, 1_000_000));

    fs::write(mount.path("old.txt"), b"pending version").unwrap();
    fs::write(mount.path("new.txt"), b"fresh file").unwrap();
    // Long enough for several upload attempts to be cut (the first starts after 200 ms).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(proxy.cuts_fired() > 0, "uploads were tried and cut");

    for (name, want) in [
        ("old.txt", &b"pending version"[..]),
        ("new.txt", b"fresh file"),
    ] {
        let path = mount.path(name);
        let (read, _) = within(Duration::from_secs(10), "read a pending file", move || {
            fs::read(&path)
        });
        let got = read.unwrap_or_else(|e| panic!("{name}: {e}\n{}", mount.logs()));
        assert_eq!(got, want, "{name} shows the pending data");
    }
    assert_eq!(
        fs::read(server.path("old.txt")).unwrap(),
        b"server version",
        "the upload has not reached the server yet"
    );
    assert!(!server.path("new.txt").exists());

    proxy.clear_cuts();
    for name in ["old.txt", "new.txt"] {
        let path = mount.path(name);
        let (synced, _) = within(Duration::from_secs(120), "fsync", move || {
            File::open(&path)?.sync_all()
        });
        synced.unwrap_or_else(|e| panic!("{name}: {e}\n{}", mount.logs()));
    }
    assert_eq!(
        fs::read(server.path("old.txt")).unwrap(),
        b"pending version"
    );
    assert_eq!(fs::read(server.path("new.txt")).unwrap(), b"fresh file");
    mount.unmount();
}

#[test]
fn status_lists_the_queue_and_sync_and_fsync_of_the_root_wait_for_it() {
    let Some((server, _spool, proxy, mount)) = writeback_mount(b"", &[]) else {
        return;
    };
    let (code, _, stderr) = ftpfs_on(&mount, &["sync", "--timeout", "5"]);
    assert_eq!(code, Some(0), "nothing pending: {stderr}");

    proxy.add_cut(CutRule::upload_after(0, 1_000_000));
    fs::create_dir(mount.path("d")).unwrap();
    for i in 0..3 {
        fs::write(mount.path(&format!("d/f{i}")), vec![b'x'; 1000 + i]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(2500));

    let (code, status, _) = ftpfs_on(&mount, &["status"]);
    assert_eq!(code, Some(0));
    assert!(
        status.contains("write-back: 3 file(s) not on the server yet"),
        "{status}"
    );
    assert!(status.contains("/d/f1"), "{status}");
    assert!(status.contains("failed attempt(s), last: "), "{status}");
    let (_, json, _) = ftpfs_on(&mount, &["status", "--json"]);
    assert!(json.contains("\"writeback\":{\"spool\":"), "{json}");
    assert!(json.contains("\"pending_count\":3"), "{json}");

    let (code, _, stderr) = ftpfs_on(&mount, &["sync", "--timeout", "1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not uploaded yet: /d/f0"), "{stderr}");
    assert!(
        stderr.contains("timed out after 1 s with 3 upload(s)"),
        "{stderr}"
    );

    proxy.clear_cuts();
    // Retries back off for seconds: only a wait for every upload finds them all on the server.
    fsync_root(&mount);
    for i in 0..3 {
        let on_server = fs::read(server.path(&format!("d/f{i}"))).unwrap();
        assert_eq!(on_server, vec![b'x'; 1000 + i], "d/f{i}");
    }
    let (code, _, stderr) = ftpfs_on(&mount, &["sync"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, status, _) = ftpfs_on(&mount, &["status"]);
    assert!(status.contains("write-back: nothing pending"), "{status}");
    mount.unmount();
}

#[test]
fn rename_of_a_queued_file_does_not_wait_and_its_upload_follows_the_new_name() {
    // One upload worker: while it retries `first`, `old.txt` stays queued behind it.
    let Some((server, _spool, proxy, mount)) = writeback_mount(b"v1", &["--connections", "2"])
    else {
        return;
    };
    proxy.add_cut(CutRule::upload_after(0, 1_000_000));
    fs::write(mount.path("first"), b"holds the worker").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    fs::write(mount.path("old.txt"), b"v2").unwrap();

    let (from, to) = (mount.path("old.txt"), mount.path("new.txt"));
    let (renamed, _) = within(
        Duration::from_secs(10),
        "rename of a queued file",
        move || fs::rename(&from, &to),
    );
    renamed.unwrap_or_else(|e| panic!("rename: {e}\n{}", mount.logs()));
    assert!(!server.path("old.txt").exists(), "the server's copy moved");
    assert_eq!(fs::read(server.path("new.txt")).unwrap(), b"v1");
    assert_eq!(
        fs::read(mount.path("new.txt")).unwrap(),
        b"v2",
        "the mount shows v2"
    );

    proxy.clear_cuts();
    fsync_root(&mount);
    assert_eq!(fs::read(server.path("new.txt")).unwrap(), b"v2");
    assert!(
        !server.path("old.txt").exists(),
        "nothing uploaded to the old name"
    );
    assert_eq!(fs::read(server.path("first")).unwrap(), b"holds the worker");
    mount.unmount();
}
