//! readdirplus: how long the kernel may keep each name and its attributes. The rest of the
//! listing's TTL only for names the current listing has and nobody writes; the adapter's short
//! default for the others, so none outlives our own invalidations.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use super::writeback::{mount_writeback, spool_dir};
use super::*;
use crate::remote::{Remote, RemoteErrorKind};

/// Whether an entry may be kept for the listing's remaining TTL (60 s in `config`), not the
/// adapter's default.
#[derive(Debug, PartialEq, Eq)]
enum Kept {
    Long,
    Short,
}

/// What readdirplus of handle `fh` of `dir` hands out: name -> how long it may be kept.
fn lifetimes(fs: &FsCore, dir: u64, fh: u64) -> BTreeMap<OsString, Kept> {
    let mut out = BTreeMap::new();
    let mut handed_out = Vec::new();
    fs.readdirplus(dir, fh, 0, |entry, attr, valid_for| {
        if entry.listed.is_some() {
            let kept = match valid_for {
                Some(left) if left > Duration::from_secs(50) => Kept::Long,
                None => Kept::Short,
                Some(left) => panic!("{:?}: {left:?}: neither", entry.name),
            };
            out.insert(entry.name.to_os_string(), kept);
            handed_out.push(attr.ino);
        }
        false
    })
    .unwrap();
    for ino in handed_out {
        fs.forget(ino, 1);
    }
    out
}

/// `lifetimes` of a new handle of `dir`.
fn lifetimes_now(fs: &FsCore, dir: u64) -> BTreeMap<OsString, Kept> {
    let fh = fs.opendir(dir).unwrap();
    let out = lifetimes(fs, dir, fh);
    fs.releasedir(fh).unwrap();
    out
}

fn kept<const N: usize>(names: [(&str, Kept); N]) -> BTreeMap<OsString, Kept> {
    names
        .into_iter()
        .map(|(name, kept)| (OsString::from(name), kept))
        .collect()
}

#[test]
fn names_known_only_from_the_handles_snapshot_get_the_short_default() {
    let remote = MemoryRemote::new();
    for file in ["kept", "unlinked", "deleted-there"] {
        remote.add_file(format!("/d/{file}"), b"x".to_vec());
    }
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    let fh = fs.opendir(d).unwrap();
    fs.unlink(d, name("unlinked")).unwrap();
    assert_eq!(
        lifetimes(&fs, d, fh),
        kept([
            ("deleted-there", Kept::Long),
            ("kept", Kept::Long),
            ("unlinked", Kept::Short),
        ]),
        "a name we removed is not handed out for the listing's TTL"
    );
    // Another client deletes a file; our listing is fetched again (as after its TTL).
    remote.delete(Path::new("/d/deleted-there")).unwrap();
    fs.namespace.forget_listing(Path::new("/d"));
    fs.lookup(d, name("kept")).unwrap();
    assert_eq!(
        lifetimes(&fs, d, fh),
        kept([
            ("deleted-there", Kept::Short),
            ("kept", Kept::Long),
            ("unlinked", Kept::Short),
        ]),
        "nor is one the current listing lacks"
    );
    fs.releasedir(fh).unwrap();
}

#[test]
fn files_being_written_get_the_short_default() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/kept", b"x".to_vec());
    remote.add_file("/d/rewritten", b"old".to_vec());
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    let rewritten = fs
        .open(ino(&fs, "/d/rewritten"), libc::O_WRONLY | libc::O_TRUNC)
        .unwrap();
    fs.write(rewritten, 0, b"new").unwrap();
    let (_, created) = fs.create(d, name("created"), libc::O_WRONLY).unwrap();
    fs.write(created, 0, b"data").unwrap();
    assert_eq!(
        lifetimes_now(&fs, d),
        kept([
            ("created", Kept::Short),
            ("kept", Kept::Long),
            ("rewritten", Kept::Short),
        ]),
        "an upload in flight may still be refused and take the name back"
    );
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(fs.release(created).unwrap_err().errno, libc::ENOSPC);
    fs.release(rewritten).unwrap();
    assert_eq!(
        lifetimes_now(&fs, d),
        kept([("kept", Kept::Long), ("rewritten", Kept::Long)]),
        "the refused name is gone, the finished upload kept for the TTL again"
    );
}

#[test]
fn files_waiting_in_the_writeback_queue_get_the_short_default() {
    let (remote, spool) = (MemoryRemote::new(), spool_dir("readdirplus-ttl"));
    remote.add_file("/kept", b"x".to_vec());
    let fs = mount_writeback(&remote, &spool);
    let gate = remote.hold_uploads();
    let (_, fh) = fs
        .create(ROOT_INO, name("queued"), libc::O_WRONLY | libc::O_CREAT)
        .unwrap();
    fs.write(fh, 0, b"data").unwrap();
    fs.release(fh).unwrap();
    assert_eq!(
        lifetimes_now(&fs, ROOT_INO),
        kept([("kept", Kept::Long), ("queued", Kept::Short)]),
        "closed, but its upload has not reached the server"
    );
    drop(gate);
    fs.wait_uploaded(Path::new("/queued")).unwrap();
    assert_eq!(
        lifetimes_now(&fs, ROOT_INO),
        kept([("kept", Kept::Long), ("queued", Kept::Long)]),
        "uploaded"
    );
    let _ = std::fs::remove_dir_all(&spool);
}
