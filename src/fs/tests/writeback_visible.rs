//! Write-back mode: reads of a file whose upload is still pending see the spooled data at once;
//! the barriers for many files (fsync of a directory, `ftpfs sync`) and the queue's status view.

use std::sync::mpsc;
use std::time::Duration;

use super::writeback::{created_in, mount_writeback, spool_dir};
use super::*;

/// Open `path` read-only and read it whole on another thread; the content, or a panic when
/// that takes longer than a few seconds (it would be waiting for the held upload).
fn read_without_waiting(fs: &Arc<FsCore>, path: &str) -> Vec<u8> {
    let (fs, ino) = (Arc::clone(fs), ino(fs, path));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let read = fs.open(ino, libc::O_RDONLY).and_then(|fh| {
            let data = fs.read(fh, 0, 1 << 16).map(|d| d.as_ref().to_vec());
            fs.release(fh)?;
            data
        });
        let _ = tx.send(read);
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the read waited for the upload")
        .unwrap()
}

/// Replace the content of the existing file `path` (O_TRUNC) and close: queued.
fn rewrite(fs: &FsCore, path: &str, data: &[u8]) {
    let fh = fs
        .open(ino(fs, path), libc::O_WRONLY | libc::O_TRUNC)
        .unwrap();
    fs.write(fh, 0, data).unwrap();
    fs.release(fh).unwrap();
}

#[test]
fn reads_of_a_pending_file_see_the_spooled_data_without_waiting() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("reads"));
    remote.add_file("/old", b"server version".to_vec());
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();

    rewrite(&fs, "/old", b"pending version");
    created_in(&fs, ROOT_INO, "new", b"fresh");

    assert_eq!(read_without_waiting(&fs, "/old"), b"pending version");
    assert_eq!(read_without_waiting(&fs, "/new"), b"fresh");
    assert_eq!(
        remote.file("/old").unwrap(),
        b"server version",
        "the upload is still held back"
    );
    assert!(!remote.exists("/new"));

    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/old").unwrap(), b"pending version");
    assert_eq!(
        read_without_waiting(&fs, "/new"),
        b"fresh",
        "after the upload"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fsync_of_a_directory_and_sync_wait_for_the_uploads_below_and_report_failures() {
    use crate::remote::RemoteErrorKind;
    use crate::status::UploadState;

    let (remote, dir) = (MemoryRemote::new(), spool_dir("barriers"));
    remote.add_dir("/d");
    remote.add_dir("/clean");
    let fs = mount_writeback(&remote, &dir);
    let d = ino(&fs, "/d");
    let gate = remote.hold_uploads();
    for file in ["a", "b"] {
        created_in(&fs, d, file, file.as_bytes());
    }
    let view = fs.queue_view();
    assert_eq!(view.pending.len(), 2);
    assert!(
        view.pending
            .iter()
            .all(|p| p.bytes == 1 && p.failed_attempts == 0)
    );
    let timed_out = fs.sync_all(Duration::from_millis(300));
    assert_eq!(timed_out.left, ["/d/a", "/d/b"], "held back: both left");
    assert!(timed_out.failed.is_empty());

    remote.fail_next_finishes(1, RemoteErrorKind::PermissionDenied);
    drop(gate);
    let err = fs.fsyncdir(ROOT_INO).unwrap_err();
    assert_eq!(err.errno, libc::EIO);
    assert!(err.message.contains("1 upload(s) below / failed"), "{err}");
    assert_eq!(fs.fsyncdir(d).unwrap_err().errno, libc::EIO, "below /d too");
    let done = fs.sync_all(Duration::from_secs(5));
    assert!(done.left.is_empty());
    assert_eq!(done.failed.len(), 1, "{done:?}");
    let view = fs.queue_view();
    assert_eq!(view.pending.len(), 1, "only the failed one is left");
    assert_eq!(view.pending[0].state, UploadState::Failed);
    assert!(view.pending[0].last_error.is_some());
    let on_server = ["/d/a", "/d/b"].iter().filter(|p| remote.exists(p));
    assert_eq!(on_server.count(), 1, "the other one was uploaded");

    // A directory without failures below it: fsync succeeds.
    fs.fsyncdir(ino(&fs, "/clean")).unwrap();
    let _ = fs.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rename_of_a_queued_file_renames_the_server_copy_first_and_uploads_to_the_new_name() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("rename"));
    remote.add_file("/old", b"v1".to_vec());
    remote.add_file("/target", b"replaced".to_vec());
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    rewrite(&fs, "/old", b"v2");

    // Returns with the upload still held back: the server's copy moved, the upload follows.
    fs.rename(ROOT_INO, name("old"), ROOT_INO, name("target"), 0)
        .unwrap();
    assert!(!remote.exists("/old"));
    assert_eq!(remote.file("/target").unwrap(), b"v1", "renamed in order");
    assert_eq!(
        read_without_waiting(&fs, "/target"),
        b"v2",
        "the mount shows v2"
    );
    assert_eq!(
        fs.lookup(ROOT_INO, name("old")).unwrap_err().errno,
        libc::ENOENT
    );
    let view = fs.queue_view();
    assert_eq!(view.pending.len(), 1);
    assert_eq!(view.pending[0].path, "/target", "renamed in the queue");

    drop(gate);
    fs.fsyncdir(ROOT_INO).unwrap();
    assert_eq!(remote.file("/target").unwrap(), b"v2");
    assert!(!remote.exists("/old"), "the upload went to the new name");
    fs.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unlink_of_a_queued_file_never_on_the_server_cancels_it_without_waiting() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("unlink"));
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    created_in(&fs, ROOT_INO, "tmp", b"scratch");
    fs.unlink(ROOT_INO, name("tmp")).unwrap();
    assert!(fs.queue_view().pending.is_empty(), "cancelled in the queue");
    assert_eq!(
        fs.lookup(ROOT_INO, name("tmp")).unwrap_err().errno,
        libc::ENOENT
    );
    drop(gate);
    fs.shutdown().unwrap();
    assert!(!remote.exists("/tmp"), "never uploaded");
    std::fs::remove_dir_all(&dir).unwrap();
}
