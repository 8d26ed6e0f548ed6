//! Write-back mode (`--writeback`) on a real vsftpd while uploads are held back (the fault proxy
//! cuts every upload, so each is retried and stays pending): reads through the mount see the
//! pending data, not the server's older version, and do not wait for the upload; once uploads
//! get through, fsync of the file waits for its upload and the server has the new data.

#[macro_use]
mod common;

use std::fs::{self, File};
use std::time::Duration;

use common::faults::{vsftpd_for_mount, within};
use common::proxy::{CutRule, FaultProxy};
use common::{Mount, temp_dir};

#[test]
fn reads_of_pending_files_see_the_spooled_data_while_uploads_fail() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    server.seed_file("old.txt", b"server version");
    let spool = temp_dir("ftpfs-wb-pending");
    let proxy = FaultProxy::start(server.addr());
    let args = ["--writeback", "--spool-dir", spool.str(), "--timeout", "5"];
    let mount = Mount::foreground(&server, proxy.port, &args);
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
