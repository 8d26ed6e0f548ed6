//! Write-back mode: close returns before the upload, the barriers, ordering, failures, resume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::fs::FsError;
use crate::fs::SetAttrRequest;
use crate::fs::writeback::store::{Record, Store};
use crate::remote::{Remote, RemoteErrorKind};

const CREATE: i32 = libc::O_WRONLY | libc::O_CREAT;

/// A fresh spool directory for one test.
pub(super) fn spool_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ftpfs-wbfs-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A write-back mount over `remote` with its spool in `dir`.
pub(super) fn mount_writeback(remote: &MemoryRemote, dir: &Path) -> Arc<FsCore> {
    let fs = mount_with(
        remote,
        FsConfig {
            writeback: true,
            writeback_dir: dir.to_path_buf(),
            writeback_workers: 2,
            ..config()
        },
    );
    fs.start_writeback().unwrap();
    fs
}

/// Create `name` in the root with `data` and keep the handle open.
fn created(fs: &FsCore, name_: &str, data: &[u8]) -> u64 {
    open_written(fs, ROOT_INO, name_, data)
}

/// Create `name` in directory `parent` with `data` and close it (write-back mode: queued).
pub(super) fn created_in(fs: &FsCore, parent: u64, name_: &str, data: &[u8]) {
    let fh = open_written(fs, parent, name_, data);
    fs.release(fh).unwrap();
}

fn open_written(fs: &FsCore, parent: u64, name_: &str, data: &[u8]) -> u64 {
    let (_, fh) = fs.create(parent, name(name_), CREATE).unwrap();
    fs.write(fh, 0, data).unwrap();
    fh
}

/// Records still in the spool.
fn spooled(dir: &Path) -> Vec<Record> {
    Store::open(dir).unwrap().peek().unwrap().records
}

/// Run `op` on another thread; give it time to block, then check it has not finished.
fn blocked<T: Send + 'static>(
    op: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let thread = std::thread::spawn(op);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!thread.is_finished(), "should wait for the upload");
    thread
}

#[test]
fn close_returns_before_the_upload_and_fsync_waits_for_it() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("fsync"));
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    let fh = created(&fs, "f", b"hello");
    fs.flush(fh).unwrap();
    assert_eq!(remote.file("/f"), None, "close did not wait for the server");
    assert_eq!(
        spooled(&dir).len(),
        1,
        "but the data is durable in the spool"
    );
    assert_eq!(
        fs.getattr(ino(&fs, "/f")).unwrap().size,
        5,
        "pending size shown"
    );
    let fsync = blocked({
        let fs = fs.clone();
        move || fs.fsync(fh)
    });
    drop(gate);
    fsync.join().unwrap().unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"hello");
    assert!(spooled(&dir).is_empty());
    fs.release(fh).unwrap();
    fs.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rename_unlink_and_truncate_of_pending_files_keep_the_order() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("order"));
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    for file in ["a", "gone"] {
        created_in(&fs, ROOT_INO, file, file.as_bytes());
    }
    // A queued file's rename does not wait: it moves in the queue (see writeback_visible).
    fs.rename(ROOT_INO, name("a"), ROOT_INO, name("b"), 0)
        .unwrap();
    assert!(!remote.exists("/b"));
    drop(gate);
    fs.fsyncdir(ROOT_INO).unwrap();
    assert_eq!(remote.file("/b").unwrap(), b"a", "uploaded to the new name");
    assert!(!remote.exists("/a"));

    let gate = remote.hold_uploads();
    created_in(&fs, ROOT_INO, "gone", b"again");
    // Queued: the server's copy is deleted and the entry cancelled, without waiting.
    fs.unlink(ROOT_INO, name("gone")).unwrap();
    assert!(!remote.exists("/gone"));
    drop(gate);
    fs.fsyncdir(ROOT_INO).unwrap();
    assert!(!remote.exists("/gone"), "the upload did not bring it back");
    assert!(spooled(&dir).iter().all(|r| r.path != Path::new("/gone")));

    let gate = remote.hold_uploads();
    created_in(&fs, ROOT_INO, "cut", b"long content");
    let ino = ino(&fs, "/cut");
    let truncate = blocked({
        let fs = fs.clone();
        move || {
            let cut = SetAttrRequest {
                size: Some(4),
                ..SetAttrRequest::default()
            };
            fs.setattr(ino, None, &cut)
        }
    });
    drop(gate);
    truncate.join().unwrap().unwrap();
    assert_eq!(
        remote.file("/cut").unwrap(),
        b"long",
        "cut after the upload"
    );
    fs.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn chmod_and_utimens_of_a_queued_file_go_with_its_upload() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("queued-attrs"));
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    // Both workers (oldest first) take these and wait at the gate: /timed stays queued.
    for file in ["a", "b", "timed"] {
        created_in(&fs, ROOT_INO, file, b"t");
    }
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let attrs = SetAttrRequest {
        mode: Some(0o640),
        mtime: Some(when),
        ..SetAttrRequest::default()
    };
    // tar: utimensat and chmod by name after close; no wait for the upload.
    let shown = fs.setattr(ino(&fs, "/timed"), None, &attrs).unwrap();
    assert_eq!((shown.perm, shown.mtime), (0o640, when));
    assert_eq!(remote.file("/timed"), None, "still queued");
    let record = &spooled(&dir)[2];
    assert_eq!((record.mode, record.mtime), (Some(0o640), Some(when)));
    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/timed").unwrap(), b"t");
    assert_eq!(remote.mode("/timed"), Some(0o640));
    assert_eq!(remote.mtime("/timed"), Some(when), "set after the upload");
    fs.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Wait for the upload of `path` (through fsync of a read-only handle): its error.
fn upload_error(fs: &FsCore, path: &str) -> FsError {
    let fh = fs.open(ino(fs, path), libc::O_RDONLY).unwrap();
    let err = fs.fsync(fh).unwrap_err();
    assert_eq!(fs.flush(fh).unwrap_err().errno, libc::EIO, "close too");
    fs.release(fh).unwrap();
    err
}

#[test]
fn a_permanent_failure_is_reported_by_the_next_fsync_and_close() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("fail"));
    let fs = mount_writeback(&remote, &dir);
    remote.fail_next_finishes(2, RemoteErrorKind::PermissionDenied);
    for file in ["f", "x"] {
        created_in(&fs, ROOT_INO, file, b"data");
    }
    for file in ["/f", "/x"] {
        let err = upload_error(&fs, file);
        assert_eq!(err.errno, libc::EIO);
        assert!(err.message.contains("upload after close failed"), "{err}");
    }
    assert_eq!(remote.file("/f"), None);
    assert_eq!(spooled(&dir).len(), 2, "the data stays in the spool");
    // Never on the server: unlink and rename act on the spool.
    fs.unlink(ROOT_INO, name("x")).unwrap();
    fs.rename(ROOT_INO, name("f"), ROOT_INO, name("g"), 0)
        .unwrap();
    let left: Vec<PathBuf> = spooled(&dir).into_iter().map(|r| r.path).collect();
    assert_eq!(left, [PathBuf::from("/g")]);
    assert!(fs.shutdown().is_err(), "unmount names what is left");
    drop(fs);

    // The next mount resumes it.
    let fs = mount_writeback(&remote, &dir);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/g").unwrap(), b"data");
    assert!(!remote.exists("/f") && !remote.exists("/x"));
    assert!(spooled(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_next_mount_resumes_and_shows_what_a_killed_one_left() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("resume"));
    let record = Record {
        seq: 7,
        path: "/left".into(),
        size: 4,
        mtime: None,
        mode: Some(0o600),
    };
    Store::open(&dir)
        .unwrap()
        .commit(&record, &mut &b"kept"[..])
        .unwrap();
    let gate = remote.hold_uploads();
    let fs = mount_writeback(&remote, &dir);
    assert_eq!(fs.getattr(ino(&fs, "/left")).unwrap().size, 4);
    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/left").unwrap(), b"kept");
    assert_eq!(remote.mode("/left"), Some(0o600));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn many_files_upload_in_parallel_and_unmount_drains_them() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("drain"));
    let fs = mount_writeback(&remote, &dir);
    for i in 0..30 {
        created_in(&fs, ROOT_INO, &format!("f{i}"), &pattern(100 + i));
    }
    fs.shutdown().unwrap();
    for i in 0..30 {
        assert_eq!(remote.file(format!("/f{i}")).unwrap(), pattern(100 + i));
    }
    assert!(spooled(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_larger_than_the_spool_is_uploaded_at_close() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("large"));
    let fs = mount_with(
        &remote,
        FsConfig {
            writeback: true,
            writeback_dir: dir.clone(),
            spool_size: 10,
            ..config()
        },
    );
    fs.start_writeback().unwrap();
    let fh = created(&fs, "big", &pattern(11));
    fs.flush(fh).unwrap();
    assert_eq!(
        remote.file("/big").unwrap(),
        pattern(11),
        "on the server at close"
    );
    fs.release(fh).unwrap();
    fs.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn chmod_and_utimens_through_the_open_handle_travel_with_the_upload() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("attrs"));
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    let fh = created(&fs, "f", b"data");
    let ino = ino(&fs, "/f");
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_200_000_000);
    let attrs = SetAttrRequest {
        mode: Some(0o600),
        mtime: Some(when),
        ..SetAttrRequest::default()
    };
    // cp -p: fchmod and futimens before close; the file is not on the server yet.
    let shown = fs.setattr(ino, Some(fh), &attrs).unwrap();
    assert_eq!((shown.perm, shown.mtime), (0o600, when));
    fs.release(fh).unwrap();
    let record = &spooled(&dir)[0];
    assert_eq!((record.mode, record.mtime), (Some(0o600), Some(when)));
    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"data");
    assert_eq!(remote.mode("/f"), Some(0o600));
    assert_eq!(remote.mtime("/f"), Some(when));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_unlinked_while_open_is_never_uploaded() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("unlinked"));
    remote.add_file("/f", b"old".to_vec());
    let fs = mount_writeback(&remote, &dir);
    let fh = fs
        .open(ino(&fs, "/f"), libc::O_WRONLY | libc::O_TRUNC)
        .unwrap();
    fs.write(fh, 0, b"new data").unwrap();
    fs.unlink(ROOT_INO, name("f")).unwrap();
    fs.release(fh).unwrap();
    fs.shutdown().unwrap();
    let left: Vec<_> = remote
        .list(Path::new("/"))
        .unwrap()
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(spooled(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Hold the uploads and keep both workers busy with two files, so later closes stay queued.
fn occupy_workers(fs: &FsCore, remote: &MemoryRemote) -> impl Drop {
    let gate = remote.hold_uploads();
    for file in ["busy1", "busy2"] {
        created_in(fs, ROOT_INO, file, b"x");
    }
    gate
}

#[test]
fn rsync_pattern_renames_a_queued_new_file_in_the_spool() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("rsync"));
    remote.add_file("/final", b"old version".to_vec());
    let fs = mount_writeback(&remote, &dir);
    let gate = occupy_workers(&fs, &remote);
    // rsync: lookup (absent), create the temporary name, write, close, chmod + utimens, rename.
    assert!(fs.lookup(ROOT_INO, name(".final.Xy12")).is_err());
    created_in(&fs, ROOT_INO, ".final.Xy12", b"new version");
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_300_000_000);
    let attrs = SetAttrRequest {
        mode: Some(0o600),
        mtime: Some(when),
        ..SetAttrRequest::default()
    };
    fs.setattr(ino(&fs, "/.final.Xy12"), None, &attrs).unwrap();
    let renames = remote.rename_calls();
    fs.rename(ROOT_INO, name(".final.Xy12"), ROOT_INO, name("final"), 0)
        .unwrap();
    assert_eq!(remote.rename_calls(), renames, "no server call, no wait");
    assert_eq!(remote.file("/final").unwrap(), b"old version", "not yet");
    let shown = fs.getattr(ino(&fs, "/final")).unwrap();
    assert_eq!((shown.size, shown.perm, shown.mtime), (11, 0o600, when));
    assert!(fs.lookup(ROOT_INO, name(".final.Xy12")).is_err());
    let paths: Vec<PathBuf> = spooled(&dir).into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths.last(),
        Some(&PathBuf::from("/final")),
        "durably renamed"
    );
    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/final").unwrap(), b"new version");
    assert_eq!(remote.mode("/final"), Some(0o600));
    assert_eq!(remote.mtime("/final"), Some(when));
    assert!(!remote.exists("/.final.Xy12"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_file_renamed_or_unlinked_while_open_is_queued_first() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("open-rename"));
    let fs = mount_writeback(&remote, &dir);
    assert!(fs.lookup(ROOT_INO, name("part")).is_err());
    let fh = created(&fs, "part", b"downloaded");
    fs.rename(ROOT_INO, name("part"), ROOT_INO, name("done"), 0)
        .unwrap();
    fs.write(fh, 10, b" and more").unwrap();
    fs.release(fh).unwrap();
    let gone = created(&fs, "scratch", b"temporary");
    fs.unlink(ROOT_INO, name("scratch")).unwrap();
    fs.release(gone).unwrap();
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/done").unwrap(), b"downloaded and more");
    assert!(!remote.exists("/part") && !remote.exists("/scratch"));
    let names: Vec<_> = remote
        .list(Path::new("/"))
        .unwrap()
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    assert_eq!(names, ["done"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_time_and_mode_set_while_its_files_upload_are_applied_after_them() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("dir-time"));
    remote.add_dir("/d");
    remote.add_dir("/e");
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();
    let (d, e) = (ino(&fs, "/d"), ino(&fs, "/e"));
    for (parent, file) in [(d, "f"), (e, "g")] {
        created_in(&fs, parent, file, b"x");
    }
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let times = SetAttrRequest {
        mtime: Some(when),
        ..SetAttrRequest::default()
    };
    // rsync and tar end with the directories' times (tar: and modes): no wait for the uploads.
    for dir_ino in [d, e] {
        assert_eq!(fs.setattr(dir_ino, None, &times).unwrap().mtime, when);
    }
    let read_only = SetAttrRequest {
        mode: Some(0o555),
        ..SetAttrRequest::default()
    };
    assert_eq!(fs.setattr(d, None, &read_only).unwrap().perm, 0o555);
    assert_ne!(remote.mtime("/d"), Some(when), "not before its upload");
    assert_eq!(
        remote.mode("/d"),
        None,
        "a mode locking out the upload waits too"
    );
    // A change made here afterwards wins, as on a local disk.
    created_in(&fs, e, "h", b"");
    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/d/f").unwrap(), b"x");
    assert_eq!(remote.mtime("/d"), Some(when), "applied after the upload");
    assert_eq!(remote.mode("/d"), Some(0o555));
    assert_ne!(remote.mtime("/e"), Some(when), "a later change moved it");
    std::fs::remove_dir_all(&dir).unwrap();
}
