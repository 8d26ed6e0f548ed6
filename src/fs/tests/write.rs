use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::fs::SetAttrRequest;
use crate::remote::RemoteErrorKind;

const WRONLY_TRUNC: i32 = libc::O_WRONLY | libc::O_TRUNC;

/// A setattr that sets the mtime only (utimensat, tar's futimens).
fn mtime_only(when: std::time::SystemTime) -> SetAttrRequest {
    SetAttrRequest {
        mtime: Some(when),
        ..SetAttrRequest::default()
    }
}

fn write_in_pieces(fs: &FsCore, fh: u64, data: &[u8], piece: usize) {
    for (index, chunk) in data.chunks(piece).enumerate() {
        let written = fs.write(fh, (index * piece) as u64, chunk).unwrap();
        assert_eq!(written as usize, chunk.len());
    }
}

#[test]
fn sequential_writes_stream_into_one_upload() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let content = pattern(3 * 1024 * 1024 + 5);
    let (attr, fh) = fs.create(ROOT_INO, name("new"), libc::O_WRONLY).unwrap();
    assert!(
        !remote.exists("/new"),
        "the file takes its name on the server only when complete"
    );
    write_in_pieces(&fs, fh, &content, 128 * 1024);
    assert_eq!(fs.getattr(attr.ino).unwrap().size, content.len() as u64);
    fs.flush(fh).unwrap();
    assert_eq!(remote.file("/new").unwrap(), content);
    fs.release(fh).unwrap();
    assert_eq!(remote.create_calls(), 1);
    assert_eq!(remote.append_calls(), 0);
    assert_eq!(
        fs.lookup(ROOT_INO, name("new")).unwrap().size,
        content.len() as u64
    );
}

#[test]
fn fsync_finishes_and_later_writes_append() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("log"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"abc").unwrap();
    fs.fsync(fh).unwrap();
    assert_eq!(remote.file("/log").unwrap(), b"abc");
    fs.write(fh, 3, b"def").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/log").unwrap(), b"abcdef");
    assert_eq!((remote.create_calls(), remote.append_calls()), (1, 1));
}

#[test]
fn append_after_fsync_refuses_when_the_server_lost_bytes() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"abc").unwrap();
    fs.fsync(fh).unwrap();
    remote.add_file("/f", b"ab".to_vec());
    assert_eq!(fs.write(fh, 3, b"d").unwrap_err().errno, libc::EIO);
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"ab");
}

#[test]
fn o_append_uses_appe() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"123".to_vec());
    let fs = mount(&remote);
    let fh = fs
        .open(ino(&fs, "/f"), libc::O_WRONLY | libc::O_APPEND)
        .unwrap();
    fs.write(fh, 3, b"45").unwrap();
    fs.write(fh, 5, b"6").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"123456");
    assert_eq!((remote.create_calls(), remote.append_calls()), (0, 1));
}

#[test]
fn o_trunc_replaces_the_content() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/f");
    let fh = fs.open(f, WRONLY_TRUNC).unwrap();
    assert_eq!(fs.getattr(f).unwrap().size, 0);
    fs.write(fh, 0, b"new").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"new");
}

#[test]
fn random_writes_switch_to_a_spool() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"hello world".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 6, b"WORLD").unwrap();
    fs.write(fh, 0, b"J").unwrap();
    assert_eq!(
        remote.file("/f").unwrap(),
        b"hello world",
        "nothing sent before close"
    );
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"Jello WORLD");
    assert_eq!(remote.create_calls(), 1);
}

#[test]
fn streaming_then_seeking_back_keeps_everything() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs
        .create(ROOT_INO, name("archive"), libc::O_WRONLY)
        .unwrap();
    fs.write(fh, 0, b"HEADER??").unwrap();
    fs.write(fh, 8, b"body").unwrap();
    fs.write(fh, 6, b"OK").unwrap(); // patch the header afterwards, like zip writers do
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/archive").unwrap(), b"HEADEROKbody");
}

#[test]
fn rdwr_read_modify_write() {
    let remote = MemoryRemote::new();
    remote.add_file("/db", b"aaaa bbbb".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/db"), libc::O_RDWR).unwrap();
    assert_eq!(fs.read(fh, 5, 4).unwrap(), b"bbbb");
    fs.write(fh, 0, b"AA").unwrap();
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"AAaa bbbb");
    fs.flush(fh).unwrap();
    assert_eq!(remote.file("/db").unwrap(), b"AAaa bbbb");
    fs.write(fh, 9, b"!").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/db").unwrap(), b"AAaa bbbb!");
}

#[test]
fn reading_back_what_was_just_streamed() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("f"), libc::O_RDWR).unwrap();
    fs.write(fh, 0, b"written").unwrap();
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"written");
    fs.write(fh, 7, b" more").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"written more");
}

#[test]
fn truncate_through_setattr() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"0123456789".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/f");
    let size = |size| SetAttrRequest {
        size: Some(size),
        ..SetAttrRequest::default()
    };
    assert_eq!(fs.setattr(f, None, &size(4)).unwrap().size, 4);
    assert_eq!(remote.file("/f").unwrap(), b"0123");
    fs.setattr(f, None, &size(6)).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"0123\0\0");
    fs.setattr(f, None, &size(0)).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"");
    assert_eq!(fs.getattr(f).unwrap().size, 0);
}

#[test]
fn ftruncate_on_a_writing_handle() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"abcdef").unwrap();
    let shrink = SetAttrRequest {
        size: Some(3),
        ..SetAttrRequest::default()
    };
    assert_eq!(fs.setattr(attr.ino, Some(fh), &shrink).unwrap().size, 3);
    fs.write(fh, 3, b"XY").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"abcXY");
}

#[test]
fn o_excl_create_of_an_existing_file_is_eexist() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"keep".to_vec());
    let fs = mount(&remote);
    let err = fs
        .create(
            ROOT_INO,
            name("f"),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        )
        .err()
        .unwrap();
    assert_eq!(err.errno, libc::EEXIST);
    assert_eq!(remote.file("/f").unwrap(), b"keep");
}

#[test]
fn failed_upload_is_reported_by_flush_and_release() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"precious").unwrap();
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(fs.flush(fh).unwrap_err().errno, libc::ENOSPC);
    assert_eq!(
        fs.flush(fh).unwrap_err().errno,
        libc::ENOSPC,
        "a dup'd fd sees it too"
    );
    assert_eq!(fs.write(fh, 8, b"x").unwrap_err().errno, libc::ENOSPC);
    assert_eq!(fs.release(fh).unwrap_err().errno, libc::ENOSPC);
}

#[test]
fn failed_spool_upload_is_retried_at_release() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"hello".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 1, b"E").unwrap();
    remote.fail_next_finishes(1, RemoteErrorKind::Connection);
    assert_eq!(fs.flush(fh).unwrap_err().errno, libc::EIO);
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"hEllo");
}

#[test]
fn refused_create_fails_at_open() {
    let remote = MemoryRemote::new();
    remote.fail_path("/locked", RemoteErrorKind::PermissionDenied);
    // In place, the STOR goes to the refused name itself (atomic uploads: see the
    // upload tests, where the refusal comes with the rename at close).
    let fs = mount_inplace(&remote);
    let err = fs
        .create(ROOT_INO, name("locked"), libc::O_WRONLY)
        .err()
        .unwrap();
    assert_eq!(err.errno, libc::EACCES);
    assert_eq!(
        fs.lookup(ROOT_INO, name("locked")).unwrap_err().errno,
        libc::ENOENT
    );
}

#[test]
fn in_place_uploads_create_the_file_at_once() {
    let remote = MemoryRemote::new();
    let fs = mount_inplace(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("new"), libc::O_WRONLY).unwrap();
    assert!(
        remote.exists("/new"),
        "the file exists as soon as it is created"
    );
    fs.write(fh, 0, b"data").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/new").unwrap(), b"data");
    assert_eq!(remote.rename_calls(), 0);
}

#[test]
fn mtime_set_while_writing_survives_the_upload() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let set = mtime_only(when);
    assert_eq!(fs.setattr(attr.ino, Some(fh), &set).unwrap().mtime, when);
    fs.release(fh).unwrap();
    assert_eq!(remote.mtime("/f").unwrap(), when);
    assert_eq!(fs.getattr(attr.ino).unwrap().mtime, when);
}

#[test]
fn mtime_set_after_close_is_applied_at_once_not_at_the_asynchronous_release() {
    // rsync: write, close (flush), utimens, rename, while the kernel's RELEASE of the closed
    // descriptor arrives whenever it likes. Deferring the time to that RELEASE made it race
    // the rename and hit the old name (550 No such file) on a real pure-ftpd mount.
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name(".f.tmp"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    fs.flush(fh).unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let set = mtime_only(when);
    fs.setattr(attr.ino, None, &set).unwrap();
    assert_eq!(
        remote.mtime("/.f.tmp").unwrap(),
        when,
        "applied by setattr itself"
    );
    fs.rename(ROOT_INO, name(".f.tmp"), ROOT_INO, name("f"), 0)
        .unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.mtime("/f").unwrap(), when);
    assert_eq!(remote.file("/f").unwrap(), b"data");
}

#[test]
fn shutdown_finishes_uploads_in_flight() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("a"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"first").unwrap();
    let (_, spooled) = fs.create(ROOT_INO, name("b"), libc::O_WRONLY).unwrap();
    fs.write(spooled, 3, b"x").unwrap();
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/a").unwrap(), b"first");
    assert_eq!(remote.file("/b").unwrap(), b"\0\0\0x");

    let (_, failing) = fs.create(ROOT_INO, name("c"), libc::O_WRONLY).unwrap();
    fs.write(failing, 0, b"lost?").unwrap();
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(fs.shutdown().unwrap_err().errno, libc::ENOSPC);
}

#[test]
fn write_on_a_read_only_handle_is_ebadf() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"x".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    assert_eq!(fs.write(fh, 0, b"y").unwrap_err().errno, libc::EBADF);
}

#[test]
fn an_upload_broken_while_streaming_fails_writes_and_close() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    remote.break_next_upload_after(1000);
    let (_, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    let piece = vec![7u8; 256 * 1024];
    let mut first_error = None;
    for index in 0..40u64 {
        if let Err(err) = fs.write(fh, index * piece.len() as u64, &piece) {
            first_error = Some(err);
            break;
        }
    }
    let err = first_error.expect("a write must fail once the uploader died");
    assert_eq!(err.errno, libc::EIO);
    assert_eq!(fs.flush(fh).unwrap_err().errno, libc::EIO);
    assert_eq!(fs.release(fh).unwrap_err().errno, libc::EIO);
}

/// A handle that read the old content and then rewrites the file must read back the new
/// content, not its stale download window; and its own idle download must not hold the
/// connection its upload needs.
#[test]
fn reading_back_after_truncate_and_rewrite_on_the_same_handle_sees_the_new_content() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content, rather long".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/f");
    let fh = fs.open(f, libc::O_RDWR).unwrap();
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"old content, rather long");
    let truncate = SetAttrRequest {
        size: Some(0),
        ..SetAttrRequest::default()
    };
    fs.setattr(f, Some(fh), &truncate).unwrap();
    fs.write(fh, 0, b"new").unwrap();
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"new");
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"new");
}

/// Under connection pressure an idle upload is completed (like fsync) and writing on later
/// continues with APPE: the file ends up whole.
#[test]
fn an_idle_upload_is_completed_under_pressure_and_later_writes_append() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let root = ino(&fs, "/");
    let (_, fh) = fs.create(root, name("w"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"first half, ").unwrap();
    assert_eq!(
        fs.relieve_transfer_pressure(Duration::from_secs(60)),
        0,
        "not idle yet"
    );
    assert_eq!(fs.relieve_transfer_pressure(Duration::ZERO), 1);
    assert_eq!(
        remote.file("/w").unwrap(),
        b"first half, ",
        "completed on the server"
    );
    fs.write(fh, 12, b"second half").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/w").unwrap(), b"first half, second half");
}

#[test]
fn closing_a_new_file_without_writing_keeps_the_time_create_showed() {
    // The server made the file when the upload began and wrote nothing after: its mtime is the
    // create's, and pjdfstest (utimensat::utime_omit) compares the one create showed.
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    // The kernel looks a name up before creating it: the listing is cached then.
    assert!(fs.lookup(ROOT_INO, name("empty")).is_err());
    let (attr, fh) = fs
        .create(ROOT_INO, name("empty"), libc::O_RDONLY | libc::O_CREAT)
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    fs.flush(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(fs.getattr(attr.ino).unwrap().mtime, attr.mtime);
    // With data, the time moves to when the upload finished.
    let (attr, fh) = fs.create(ROOT_INO, name("full"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    fs.release(fh).unwrap();
    assert!(fs.getattr(attr.ino).unwrap().mtime > attr.mtime);
}

#[test]
fn read_only_o_trunc_of_a_running_program_is_refused_before_anything_changes() {
    let remote = MemoryRemote::new();
    remote.add_file("/prog", b"\x7fELF program".to_vec());
    let fs = mount(&remote);
    let prog = ino(&fs, "/prog");
    let exec_open = libc::O_RDONLY | crate::fs::exec::FMODE_EXEC;
    let running = fs.open(prog, exec_open).unwrap();
    let second = fs.open(prog, exec_open).unwrap();
    let refused = fs.open(prog, libc::O_RDONLY | libc::O_TRUNC).err();
    assert_eq!(refused.map(|err| err.errno), Some(libc::ETXTBSY));
    fs.release(running).unwrap();
    let refused = fs.open(prog, libc::O_RDONLY | libc::O_TRUNC).err();
    assert_eq!(
        refused.map(|err| err.errno),
        Some(libc::ETXTBSY),
        "one program still runs from it"
    );
    fs.release(second).unwrap();
    assert_eq!(remote.file("/prog").unwrap(), b"\x7fELF program");
    let plain = fs.open(prog, libc::O_RDONLY).unwrap();
    let fh = fs.open(prog, libc::O_RDONLY | libc::O_TRUNC).unwrap();
    assert_eq!(
        remote.file("/prog").unwrap(),
        b"",
        "no program runs it: truncated"
    );
    assert_eq!(fs.getattr(prog).unwrap().size, 0);
    fs.release(fh).unwrap();
    fs.release(plain).unwrap();
}

#[test]
fn tar_s_mode_and_time_go_to_the_temporary_file_with_the_rename() {
    // tar: create 0600, write, futimens, fchmod 0644, close. Mode and time are given to the
    // temporary upload just before its rename (the FTP client sends the three together);
    // nothing is sent to the real name, which the server does not have yet.
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs
        .create(ROOT_INO, name("t"), libc::O_WRONLY | libc::O_CREAT)
        .unwrap();
    let attr = fs.apply_create_mode(attr, libc::S_IFREG | 0o600, 0o022);
    fs.write(fh, 0, b"data").unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let times = mtime_only(when);
    fs.setattr(attr.ino, Some(fh), &times).unwrap();
    let chmod = SetAttrRequest {
        mode: Some(0o644),
        ..SetAttrRequest::default()
    };
    fs.setattr(attr.ino, Some(fh), &chmod).unwrap();
    assert_eq!((remote.chmod_calls(), remote.set_mtime_calls()), (0, 0));
    fs.flush(fh).unwrap();
    assert_eq!(
        remote.chmod_calls(),
        1,
        "one SITE CHMOD, of the temporary file"
    );
    assert_eq!(
        remote.set_mtime_calls(),
        1,
        "one time set, before the rename"
    );
    assert_eq!(remote.rename_calls(), 1);
    assert_eq!(remote.mode("/t"), Some(0o644));
    assert_eq!(remote.mtime("/t"), Some(when));
    fs.release(fh).unwrap();
    assert_eq!(remote.set_mtime_calls(), 1, "nothing left for the release");
    let shown = fs.getattr(attr.ino).unwrap();
    assert_eq!((shown.mtime, shown.perm), (when, 0o644));
}

#[test]
fn a_commit_that_cannot_rename_fails_close_and_one_that_cannot_set_times_does_not() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name("u"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let times = mtime_only(when);
    fs.setattr(attr.ino, Some(fh), &times).unwrap();
    remote.fail_path("/u", RemoteErrorKind::PermissionDenied);
    // The real name refuses everything: the rename onto it fails, so close does.
    assert!(fs.flush(fh).is_err());
    assert!(!remote.exists("/u"), "no file under the real name");
    fs.release(fh).ok();

    // A server that cannot set times at all: the data is in place, close succeeds.
    remote.heal_path("/u");
    remote.set_mtime_unsupported(true);
    let before = remote.set_mtime_calls();
    let (attr, fh) = fs.create(ROOT_INO, name("v"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    fs.setattr(attr.ino, Some(fh), &times).unwrap();
    fs.flush(fh).unwrap();
    assert_eq!(remote.file("/v").unwrap(), b"data");
    assert_eq!(
        remote.set_mtime_calls() - before,
        2,
        "with the rename, then on the real name"
    );
    fs.release(fh).unwrap();
}

#[test]
fn a_time_deferred_to_a_writer_stays_with_its_upload_when_the_path_is_truncated_meanwhile() {
    // truncate(2) by path uploads an empty file of its own; the time utimens gave the open
    // writer belongs to that writer's upload, which replaces the file last.
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    fs.setattr(attr.ino, Some(fh), &mtime_only(when)).unwrap();
    let empty = SetAttrRequest {
        size: Some(0),
        ..SetAttrRequest::default()
    };
    fs.setattr(attr.ino, None, &empty).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"data");
    assert_eq!(remote.mtime("/f"), Some(when));
}
