//! A real FUSE mount of the filesystem core over the in-memory remote, driven with std::fs.
//!
//! This checks what unit tests cannot: that the kernel's sequence of calls (lookup, create,
//! flush on every close, release, setattr for O_TRUNC, readdir offsets, rename flags) meets the
//! core's expectations, and that upload failures really reach close(2) in an application.

#[macro_use]
mod common;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::IntoRawFd;
use std::path::Path;

use common::{memory_mount, pattern};
use ftpfs::remote::RemoteErrorKind;
use ftpfs::remote::faulty::TestRemote;

fn names(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    names
}

#[test]
fn create_write_read_append_pwrite() {
    let Some(mount) = memory_mount(TestRemote::new()) else {
        return;
    };
    let file = mount.path("a.txt");

    fs::write(&file, b"hello").unwrap();
    assert_eq!(mount.remote().file("/a.txt").unwrap(), b"hello");
    assert_eq!(fs::read(&file).unwrap(), b"hello");

    let mut appender = OpenOptions::new().append(true).open(&file).unwrap();
    appender.write_all(b" world").unwrap();
    drop(appender);
    assert_eq!(mount.remote().file("/a.txt").unwrap(), b"hello world");

    let patcher = OpenOptions::new().write(true).open(&file).unwrap();
    patcher.write_at(b"HELLO", 0).unwrap();
    drop(patcher);
    assert_eq!(mount.remote().file("/a.txt").unwrap(), b"HELLO world");
    assert_eq!(fs::metadata(&file).unwrap().len(), 11);

    // Truncating rewrite of an existing file.
    fs::write(&file, b"short").unwrap();
    assert_eq!(mount.remote().file("/a.txt").unwrap(), b"short");

    let big = pattern(5 * 1024 * 1024 + 3, 1);
    fs::write(mount.path("big.bin"), &big).unwrap();
    assert_eq!(mount.remote().file("/big.bin").unwrap(), big);
    let mut read_back = Vec::new();
    File::open(mount.path("big.bin"))
        .unwrap()
        .read_to_end(&mut read_back)
        .unwrap();
    assert_eq!(read_back, big);
    mount.unmount();
}

#[test]
fn directories_rename_and_readdir() {
    let Some(mount) = memory_mount(TestRemote::new()) else {
        return;
    };
    mount.remote().add_file("/existing/one", b"1".to_vec());
    fs::create_dir(mount.path("d")).unwrap();
    fs::write(mount.path("d/f"), b"data").unwrap();
    assert_eq!(names(&mount.path("")), ["d", "existing"]);
    assert_eq!(names(&mount.path("existing")), ["one"]);

    let err = fs::remove_dir(mount.path("d")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTEMPTY));

    fs::rename(mount.path("d/f"), mount.path("existing/moved")).unwrap();
    assert_eq!(names(&mount.path("existing")), ["moved", "one"]);
    assert_eq!(fs::read(mount.path("existing/moved")).unwrap(), b"data");

    // Over an existing file.
    fs::rename(mount.path("existing/moved"), mount.path("existing/one")).unwrap();
    assert_eq!(mount.remote().file("/existing/one").unwrap(), b"data");

    // A whole directory.
    fs::rename(mount.path("existing"), mount.path("d/inner")).unwrap();
    assert_eq!(fs::read(mount.path("d/inner/one")).unwrap(), b"data");
    assert!(mount.remote().exists("/d/inner/one"));

    fs::remove_file(mount.path("d/inner/one")).unwrap();
    fs::remove_dir(mount.path("d/inner")).unwrap();
    fs::remove_dir(mount.path("d")).unwrap();
    assert_eq!(names(&mount.path("")), Vec::<OsString>::new());
    assert!(!mount.remote().exists("/d"));

    let bad = fs::write(mount.path("bad\nname"), b"x").unwrap_err();
    assert_eq!(bad.raw_os_error(), Some(libc::EINVAL));
    mount.unmount();
}

#[test]
fn failed_upload_makes_close_and_fsync_fail() {
    let Some(mount) = memory_mount(TestRemote::new()) else {
        return;
    };

    let mut file = File::create(mount.path("doomed")).unwrap();
    file.write_all(b"important").unwrap();
    mount
        .remote()
        .fail_next_finishes(1, RemoteErrorKind::NoSpace);
    let fd = file.into_raw_fd();
    // SAFETY: `fd` is an open descriptor we own (into_raw_fd) and close exactly once.
    let rc = unsafe { libc::close(fd) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert_eq!(rc, -1, "close must report the failed upload");
    assert_eq!(errno, Some(libc::ENOSPC));

    let mut file = File::create(mount.path("synced")).unwrap();
    file.write_all(b"important").unwrap();
    mount
        .remote()
        .fail_next_finishes(1, RemoteErrorKind::Connection);
    let err = file.sync_all().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    drop(file);
    mount.unmount();
}

/// The mount clears set-ID bits itself (FUSE_HANDLE_KILLPRIV, which spares a GETATTR per
/// chown): chown drops S_ISUID, and S_ISGID of a group-executable file, as the kernel does;
/// a set-group-ID file without group execute keeps its bit, a directory keeps both.
#[test]
fn chown_drops_set_id_bits_like_the_kernel() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
    let Some(mount) = memory_mount(TestRemote::new()) else {
        return;
    };
    let mode_of =
        |name: &str| fs::metadata(mount.path(name)).unwrap().permissions().mode() & 0o7777;
    // To the shown owner, as tar -x run as root does.
    let owner = |name: &str| {
        let meta = fs::metadata(mount.path(name)).unwrap();
        (Some(meta.uid()), Some(meta.gid()))
    };
    for (name, before, after) in [
        ("setid", 0o6755, 0o755),
        ("setuid", 0o4700, 0o700),
        ("lock", 0o2745, 0o2745),
    ] {
        fs::write(mount.path(name), b"x").unwrap();
        fs::set_permissions(mount.path(name), fs::Permissions::from_mode(before)).unwrap();
        assert_eq!(mode_of(name), before, "{name} before chown");
        let (uid, gid) = owner(name);
        chown(mount.path(name), uid, gid).unwrap();
        assert_eq!(mode_of(name), after, "{name} after chown");
        assert_eq!(
            mount.remote().mode(format!("/{name}")),
            Some(after),
            "{name} on the server"
        );
    }
    fs::create_dir(mount.path("d")).unwrap();
    fs::set_permissions(mount.path("d"), fs::Permissions::from_mode(0o2775)).unwrap();
    chown(mount.path("d"), owner("d").0, None).unwrap();
    assert_eq!(
        mode_of("d"),
        0o2775,
        "a directory keeps its set-group-ID bit"
    );
}
