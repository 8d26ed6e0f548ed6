//! Atomic uploads: temporary name, rename into place, nothing lost on failure.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::fs::upload_target::{STALE_AFTER, is_temp_name};
use crate::remote::{Remote, RemoteErrorKind};

const WRONLY_TRUNC: i32 = libc::O_WRONLY | libc::O_TRUNC;

/// Every name in the server's directory `dir` (temporary ones included).
fn server_names(remote: &MemoryRemote, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = remote
        .list(Path::new(dir))
        .unwrap()
        .into_iter()
        .map(|entry| entry.name.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The names readdir shows for directory `dir`.
fn shown_names(fs: &FsCore, dir: u64) -> Vec<String> {
    let fh = fs.opendir(dir).unwrap();
    let mut shown = Vec::new();
    fs.readdir(fh, 0, |entry| {
        shown.push(entry.name.to_string_lossy().into_owned());
        false
    })
    .unwrap();
    fs.releasedir(fh).unwrap();
    shown
}

fn no_temp_files(remote: &MemoryRemote, dir: &str) -> bool {
    !server_names(remote, dir)
        .iter()
        .any(|name| is_temp_name(name.as_ref()))
}

#[test]
fn an_overwrite_goes_to_a_temporary_name_and_is_renamed_into_place() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), WRONLY_TRUNC).unwrap();
    fs.write(fh, 0, b"new").unwrap();
    assert_eq!(
        remote.file("/f").unwrap(),
        b"old content",
        "untouched meanwhile"
    );
    let names = server_names(&remote, "/");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(is_temp_name(names[0].as_ref()), "{names:?}");
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"new");
    assert_eq!(server_names(&remote, "/"), ["f"]);
    assert_eq!(remote.rename_calls(), 1);
}

#[test]
fn a_failed_overwrite_keeps_the_old_content_and_deletes_its_temporary_file() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), WRONLY_TRUNC).unwrap();
    fs.write(fh, 0, &pattern(100_000)).unwrap();
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(fs.flush(fh).unwrap_err().errno, libc::ENOSPC);
    assert_eq!(fs.release(fh).unwrap_err().errno, libc::ENOSPC);
    assert_eq!(remote.file("/f").unwrap(), b"old content");
    assert_eq!(server_names(&remote, "/"), ["f"]);
}

#[test]
fn an_upload_cut_while_streaming_keeps_the_old_content() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content".to_vec());
    let fs = mount(&remote);
    let file = ino(&fs, "/f");
    remote.break_next_upload_after(1000);
    let fh = fs.open(file, WRONLY_TRUNC).unwrap();
    let content = pattern(4 * 1024 * 1024);
    let mut failed = None;
    for (index, piece) in content.chunks(128 * 1024).enumerate() {
        if let Err(err) = fs.write(fh, (index * 128 * 1024) as u64, piece) {
            failed = Some(err);
            break;
        }
    }
    let err = failed
        .or_else(|| fs.flush(fh).err())
        .expect("the upload fails");
    assert_eq!(err.errno, libc::EIO);
    assert!(fs.release(fh).is_err());
    assert_eq!(remote.file("/f").unwrap(), b"old content");
    assert!(
        no_temp_files(&remote, "/"),
        "{:?}",
        server_names(&remote, "/")
    );
}

#[test]
fn a_new_file_whose_upload_fails_leaves_no_file() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("new"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(fs.release(fh).unwrap_err().errno, libc::ENOSPC);
    assert!(server_names(&remote, "/").is_empty());
}

#[test]
fn a_failed_spool_upload_keeps_the_old_content() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"0123456789".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDWR).unwrap();
    fs.write(fh, 3, b"abc").unwrap(); // not sequential: spooled
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(fs.flush(fh).unwrap_err().errno, libc::ENOSPC);
    assert_eq!(remote.file("/f").unwrap(), b"0123456789");
    assert!(no_temp_files(&remote, "/"));
    fs.release(fh).unwrap(); // retried at release, now accepted
    assert_eq!(remote.file("/f").unwrap(), b"012abc6789");
    assert_eq!(server_names(&remote, "/"), ["f"]);
}

#[test]
fn temporary_names_are_hidden_and_old_leftovers_deleted() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/keep", b"x".to_vec());
    remote.add_file("/d/.ftpfs-upload.1-2-3.recent", b"partial".to_vec());
    remote.add_file("/d/.ftpfs-upload.4-5-6.old", b"partial".to_vec());
    let long_ago = SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
    remote
        .set_mtime(Path::new("/d/.ftpfs-upload.4-5-6.old"), long_ago)
        .unwrap();
    let fs = mount(&remote);
    let dir = ino(&fs, "/d");
    assert_eq!(shown_names(&fs, dir), [".", "..", "keep"]);
    assert_eq!(
        fs.lookup(dir, name(".ftpfs-upload.1-2-3.recent"))
            .unwrap_err()
            .errno,
        libc::ENOENT
    );
    assert!(remote.exists("/d/.ftpfs-upload.1-2-3.recent"), "maybe live");
    assert!(
        !remote.exists("/d/.ftpfs-upload.4-5-6.old"),
        "stale: deleted"
    );
}

#[test]
fn a_server_refusing_to_rename_over_a_file_gets_delete_then_rename() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old".to_vec());
    remote.set_rename_refuses_existing_target(true);
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), WRONLY_TRUNC).unwrap();
    fs.write(fh, 0, b"new").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"new");
    assert_eq!(server_names(&remote, "/"), ["f"]);
}

#[test]
fn the_replaced_files_permissions_are_kept() {
    let remote = MemoryRemote::new();
    remote.add_file("/script", b"#!/bin/sh\n".to_vec());
    remote.chmod(Path::new("/script"), 0o755).unwrap();
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/script"), WRONLY_TRUNC).unwrap();
    fs.write(fh, 0, b"#!/bin/sh\nexit 0\n").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.mode(Path::new("/script")), Some(0o755));
}

#[test]
fn o_append_stays_in_place() {
    let remote = MemoryRemote::new();
    remote.add_file("/log", b"one\n".to_vec());
    let fs = mount(&remote);
    let fh = fs
        .open(ino(&fs, "/log"), libc::O_WRONLY | libc::O_APPEND)
        .unwrap();
    fs.write(fh, 4, b"two\n").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/log").unwrap(), b"one\ntwo\n");
    assert_eq!((remote.append_calls(), remote.rename_calls()), (1, 0));
}

#[test]
fn renaming_a_file_while_it_is_uploaded_moves_the_new_content() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("draft"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"first ").unwrap();
    fs.rename(ROOT_INO, name("draft"), ROOT_INO, name("final"), 0)
        .unwrap();
    fs.write(fh, 6, b"second").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/final").unwrap(), b"first second");
    assert_eq!(server_names(&remote, "/"), ["final"]);
}

#[test]
fn unlinking_a_file_while_it_is_uploaded_does_not_bring_it_back() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (_, fh) = fs.create(ROOT_INO, name("tmp"), libc::O_WRONLY).unwrap();
    fs.write(fh, 0, b"scratch").unwrap();
    fs.unlink(ROOT_INO, name("tmp")).unwrap();
    fs.release(fh).unwrap();
    assert!(server_names(&remote, "/").is_empty());
    assert_eq!(
        fs.lookup(ROOT_INO, name("tmp")).unwrap_err().errno,
        libc::ENOENT
    );
}

#[test]
fn inplace_uploads_store_straight_onto_the_name() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content".to_vec());
    let fs = mount_inplace(&remote);
    let fh = fs.open(ino(&fs, "/f"), WRONLY_TRUNC).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"", "truncated at once");
    fs.write(fh, 0, b"new").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"new");
    assert_eq!(remote.rename_calls(), 0);
}

#[test]
fn uploading_a_file_closes_other_handles_downloads_which_resume_later() {
    let remote = MemoryRemote::new();
    let content = pattern(3 * 1024 * 1024);
    remote.add_file("/f", content.clone());
    remote.set_read_piece(4096); // the download stops where the read stopped
    let fs = mount(&remote);
    let file = ino(&fs, "/f");
    let reader = fs.open(file, libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(reader, 0, 4096).unwrap(), content[..4096]);
    assert_eq!(remote.open_read_calls(), 1);
    let appender = fs.open(file, libc::O_WRONLY | libc::O_APPEND).unwrap();
    fs.write(appender, content.len() as u64, b"tail").unwrap();
    fs.release(appender).unwrap();
    // The reader's download was closed before the APPE and resumes where it stopped.
    assert_eq!(fs.read(reader, 4096, 4096).unwrap(), content[4096..8192]);
    assert_eq!(remote.open_read_calls(), 2);
    fs.release(reader).unwrap();
}

#[test]
fn a_chmod_while_uploading_is_given_to_the_new_file() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name("f"), libc::O_WRONLY).unwrap();
    let chmod = crate::fs::SetAttrRequest {
        mode: Some(0o600),
        ..Default::default()
    };
    assert_eq!(fs.setattr(attr.ino, Some(fh), &chmod).unwrap().perm, 0o600);
    fs.write(fh, 0, b"data").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.mode(Path::new("/f")), Some(0o600));
    assert_eq!(fs.getattr(attr.ino).unwrap().perm, 0o600);
}

#[test]
fn an_unlinked_open_file_stays_readable_until_the_last_close() {
    let remote = MemoryRemote::new();
    let content = pattern(100_000);
    remote.add_file("/f", content.clone());
    remote.add_file("/other", b"x".to_vec());
    let fs = mount(&remote);
    let file = ino(&fs, "/f");
    let first = fs.open(file, libc::O_RDONLY).unwrap();
    let second = fs.open(file, libc::O_RDONLY).unwrap();
    fs.unlink(ROOT_INO, name("f")).unwrap();
    assert_eq!(
        fs.lookup(ROOT_INO, name("f")).unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(fs.getattr(file).unwrap().size, content.len() as u64);
    assert_eq!(read_all(&fs, first, 4096), content);
    let shown = server_names(&remote, "/");
    assert_eq!(shown.len(), 2, "{shown:?}"); // "other" and the hidden file
    assert_eq!(shown_names(&fs, ROOT_INO), [".", "..", "other"]);
    fs.release(first).unwrap();
    assert_eq!(server_names(&remote, "/").len(), 2, "still open once");
    assert_eq!(read_all(&fs, second, 65536), content);
    fs.release(second).unwrap();
    assert_eq!(server_names(&remote, "/"), ["other"]);
}

#[test]
fn an_unlinked_open_file_has_no_link_and_keeps_taking_writes() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs
        .create(ROOT_INO, name("f"), libc::O_RDWR | libc::O_CREAT)
        .unwrap();
    assert_eq!(attr.nlink, 1);
    fs.unlink(ROOT_INO, name("f")).unwrap();
    assert_eq!(fs.getattr(attr.ino).unwrap().nlink, 0, "unlinked: no name");
    assert_eq!(fs.write(fh, 0, b"Hello, World!").unwrap(), 13);
    assert_eq!(
        fs.getattr(attr.ino).unwrap().size,
        13,
        "fstat sees the write"
    );
    assert_eq!(fs.read(fh, 0, 100).unwrap().as_ref(), b"Hello, World!");
    let (again, other) = fs
        .create(ROOT_INO, name("f"), libc::O_RDWR | libc::O_CREAT)
        .unwrap();
    assert_ne!(again.ino, attr.ino);
    assert_eq!(
        fs.getattr(again.ino).unwrap().nlink,
        1,
        "a new file, linked"
    );
    fs.release(other).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(server_names(&remote, "/"), ["f"]);
}

#[test]
fn a_release_during_the_unlinks_rename_still_deletes_the_hidden_file() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"data".to_vec());
    remote.add_file("/other", b"x".to_vec());
    let fs = mount(&remote);
    let file = ino(&fs, "/f");
    let fh = fs.open(file, libc::O_RDONLY).unwrap();
    // The unlink finds the file open and renames it (slowly); the last close arrives while
    // that rename is on the wire, as an exec'd program's RELEASE does after kill + unlink.
    remote.set_rename_delay(Duration::from_millis(300));
    let unlinking = {
        let fs = Arc::clone(&fs);
        std::thread::spawn(move || fs.unlink(ROOT_INO, name("f")))
    };
    std::thread::sleep(Duration::from_millis(100));
    fs.release(fh).unwrap();
    unlinking.join().unwrap().unwrap();
    assert_eq!(
        server_names(&remote, "/"),
        ["other"],
        "hidden file left behind"
    );
}

#[test]
fn a_rename_whose_reply_was_lost_is_not_taken_for_a_refusal() {
    // The commit used to go on to delete-then-rename after any failed rename: with the rename
    // done and only its reply lost, "deleting the old file" deleted the new one, and the
    // rename after it found nothing.
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"old content".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), WRONLY_TRUNC).unwrap();
    fs.write(fh, 0, b"new").unwrap();
    remote.set_rename_reply_lost(true);
    fs.flush(fh).unwrap();
    remote.set_rename_reply_lost(false);
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"new");
    assert_eq!(server_names(&remote, "/"), ["f"]);
    assert_eq!(remote.delete_calls(), 0);
}

#[test]
fn the_create_mode_of_a_new_file_reaches_the_server_with_its_rename() {
    // The real name does not exist until the upload is renamed into place: a SITE CHMOD sent
    // right after create would miss it and the mode would be lost.
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let (attr, fh) = fs.create(ROOT_INO, name("secret"), libc::O_WRONLY).unwrap();
    let attr = fs.apply_create_mode(attr, 0o600, 0o022);
    assert_eq!(attr.perm, 0o600, "shown at once");
    fs.write(fh, 0, b"data").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(remote.file("/secret").unwrap(), b"data");
    assert_eq!(remote.mode("/secret"), Some(0o600));
    assert!(no_temp_files(&remote, "/"));
}

#[test]
fn a_create_mode_without_the_owners_write_bit_arrives_once_the_data_is_there() {
    for (inplace, expected) in [(false, Some(0o444)), (true, None)] {
        let remote = MemoryRemote::new();
        let fs = if inplace {
            mount_inplace(&remote)
        } else {
            mount(&remote)
        };
        let (attr, fh) = fs.create(ROOT_INO, name("ro"), libc::O_WRONLY).unwrap();
        fs.apply_create_mode(attr, 0o444, 0o022);
        fs.write(fh, 0, b"read-only data").unwrap();
        fs.release(fh).unwrap();
        assert_eq!(
            remote.file("/ro").unwrap(),
            b"read-only data",
            "inplace {inplace}"
        );
        // In place, the mode would have locked the server's user out of the upload.
        assert_eq!(remote.mode("/ro"), expected, "inplace {inplace}");
    }
}
