use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::fs::SetAttrRequest;
use crate::remote::{EntryKind, RemoteErrorKind};

#[test]
fn lookups_and_getattr_are_served_from_one_parent_listing() {
    let remote = MemoryRemote::new();
    for file in ["a", "b", "c"] {
        remote.add_file(format!("/d/{file}"), b"x".to_vec());
    }
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    for file in ["a", "b", "c"] {
        let attr = fs.lookup(d, name(file)).unwrap();
        fs.getattr(attr.ino).unwrap();
    }
    assert_eq!(
        fs.lookup(d, name("missing")).unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(remote.list_calls(), 2, "one listing of / and one of /d");
    assert_eq!(remote.stat_calls(), 0);
}

#[test]
fn attributes_use_configured_owner_and_server_facts() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", pattern(5000));
    remote.add_symlink("/l", "f");
    let fs = mount(&remote);
    let attr = fs.lookup(ROOT_INO, name("f")).unwrap();
    assert_eq!((attr.uid, attr.gid), (1234, 5678));
    assert_eq!(attr.size, 5000);
    assert_eq!(attr.perm, 0o644);
    assert_eq!(attr.mtime, remote.mtime("/f").unwrap());
    let link = fs.lookup(ROOT_INO, name("l")).unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(fs.readlink(link.ino).unwrap(), "f");
    assert_eq!(fs.readlink(attr.ino).unwrap_err().errno, libc::EINVAL);
}

#[test]
fn readdir_is_a_stable_snapshot_with_dots() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/one", b"1".to_vec());
    remote.add_dir("/d/two");
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    let fh = fs.opendir(d).unwrap();
    fs.create(d, name("three"), libc::O_WRONLY)
        .map(|(_, file)| fs.release(file).unwrap())
        .unwrap();
    let mut first = Vec::new();
    fs.readdir(fh, 0, |entry| {
        first.push((entry.name.to_os_string(), entry.offset, entry.ino));
        first.len() == 2 // pretend the buffer holds two
    })
    .unwrap();
    assert_eq!(first.len(), 2);
    let mut rest = Vec::new();
    fs.readdir(fh, first[1].1, |entry| {
        rest.push((entry.name.to_os_string(), entry.offset, entry.ino));
        false
    })
    .unwrap();
    let names: BTreeSet<_> = first.iter().chain(&rest).map(|e| e.0.clone()).collect();
    let expected: BTreeSet<std::ffi::OsString> =
        [".", "..", "one", "two"].iter().map(Into::into).collect();
    assert_eq!(
        names, expected,
        "the file created after opendir is not in the snapshot"
    );
    assert_eq!(first[0].2, d);
    fs.releasedir(fh).unwrap();

    let fh = fs.opendir(d).unwrap();
    let mut count = 0;
    fs.readdir(fh, 0, |_| {
        count += 1;
        false
    })
    .unwrap();
    assert_eq!(
        count, 5,
        "a new opendir sees our own create without relisting"
    );
    assert_eq!(remote.list_calls(), 2);
}

#[test]
fn readdirplus_gives_attributes_and_counts_each_entry_handed_out() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/one", b"1".to_vec());
    remote.add_file("/d/three", b"333".to_vec());
    remote.add_dir("/d/two");
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    let fh = fs.opendir(d).unwrap();
    let lists = remote.list_calls();
    let mut handed_out = Vec::new();
    let mut offered = 0;
    fs.readdirplus(d, fh, 0, |entry, attr, valid_for| {
        offered += 1;
        if offered == 5 {
            return true; // the buffer is full: this one was not handed out
        }
        // As long as the listing stays fresh (60 s here), not the adapter's default.
        assert!(valid_for.is_some_and(|left| left > Duration::from_secs(50)));
        handed_out.push((entry.name.to_os_string(), attr.clone()));
        false
    })
    .unwrap();
    let by_name: BTreeMap<_, _> = handed_out.into_iter().collect();
    assert_eq!(by_name.len(), 4, "., .., and two of the three entries");
    assert_eq!(by_name[OsStr::new(".")].ino, d);
    let listed: Vec<_> = by_name
        .iter()
        .filter(|(name, _)| !name.to_string_lossy().starts_with('.'))
        .collect();
    for (name, attr) in &listed {
        // The same inode as a lookup, with the listing's attributes.
        let looked_up = fs.lookup(d, name).unwrap();
        assert_eq!(looked_up.ino, attr.ino, "{name:?}");
        assert_eq!(looked_up.size, attr.size, "{name:?}");
        // Two lookups now (readdirplus + lookup): forgetting both releases the inode.
        fs.forget(attr.ino, 2);
        assert!(fs.getattr(attr.ino).is_err(), "{name:?} forgotten");
    }
    assert_eq!(
        remote.list_calls(),
        lists,
        "attributes come from the snapshot's listing"
    );
    fs.releasedir(fh).unwrap();
}

#[test]
fn readdirplus_shows_changes_made_after_opendir() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/grows", b"1".to_vec());
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    let dir = fs.opendir(d).unwrap();
    let fh = fs
        .open(ino(&fs, "/d/grows"), libc::O_WRONLY | libc::O_TRUNC)
        .unwrap();
    fs.write(fh, 0, b"now twelve b").unwrap();
    fs.release(fh).unwrap();
    let mut sizes = BTreeMap::new();
    fs.readdirplus(d, dir, 0, |entry, attr, _| {
        sizes.insert(entry.name.to_os_string(), attr.size);
        false
    })
    .unwrap();
    assert_eq!(
        sizes[OsStr::new("grows")],
        12,
        "not the snapshot's stale size"
    );
    fs.releasedir(dir).unwrap();
}

#[test]
fn names_with_cr_lf_nul_are_refused_before_anything_is_sent() {
    let remote = MemoryRemote::new();
    let fs = mount(&remote);
    let calls_before = remote.list_calls();
    for bad in ["a\r\nDELE x", "b\n", "c\0d"] {
        assert_eq!(
            fs.lookup(ROOT_INO, name(bad)).unwrap_err().errno,
            libc::EINVAL
        );
        assert_eq!(
            fs.mkdir(ROOT_INO, name(bad)).unwrap_err().errno,
            libc::EINVAL
        );
        assert_eq!(
            fs.create(ROOT_INO, name(bad), libc::O_WRONLY)
                .err()
                .unwrap()
                .errno,
            libc::EINVAL
        );
    }
    remote.add_file("/ok", b"".to_vec());
    assert_eq!(
        fs.rename(ROOT_INO, name("ok"), ROOT_INO, name("x\ry"), 0)
            .unwrap_err()
            .errno,
        libc::EINVAL
    );
    assert_eq!(remote.list_calls(), calls_before);
    assert_eq!(remote.create_calls(), 0);
    assert_eq!(remote.rename_calls(), 0);
}

#[test]
fn read_only_mount_refuses_every_mutation() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"data".to_vec());
    let fs = mount_with(
        &remote,
        FsConfig {
            read_only: true,
            ..config()
        },
    );
    let f = ino(&fs, "/f");
    let erofs = libc::EROFS;
    assert_eq!(fs.mkdir(ROOT_INO, name("d")).unwrap_err().errno, erofs);
    assert_eq!(fs.unlink(ROOT_INO, name("f")).unwrap_err().errno, erofs);
    assert_eq!(fs.open(f, libc::O_WRONLY).unwrap_err().errno, erofs);
    assert_eq!(
        fs.create(ROOT_INO, name("n"), libc::O_WRONLY)
            .err()
            .unwrap()
            .errno,
        erofs
    );
    let truncate = SetAttrRequest {
        size: Some(0),
        ..SetAttrRequest::default()
    };
    assert_eq!(fs.setattr(f, None, &truncate).unwrap_err().errno, erofs);
    assert_eq!(fs.access(f, libc::W_OK).unwrap_err().errno, erofs);
    fs.access(f, libc::R_OK).unwrap();
    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"data");
    assert_eq!(remote.file("/f").unwrap(), b"data");
}

#[test]
fn rmdir_reports_not_empty_even_from_a_vague_server() {
    let remote = MemoryRemote::new();
    remote.add_file("/full/x", b"".to_vec());
    remote.add_dir("/empty");
    let fs = mount(&remote);
    assert_eq!(
        fs.rmdir(ROOT_INO, name("full")).unwrap_err().errno,
        libc::ENOTEMPTY
    );
    remote.set_rmdir_vague(true);
    assert_eq!(
        fs.rmdir(ROOT_INO, name("full")).unwrap_err().errno,
        libc::ENOTEMPTY
    );
    // With the listing cached, the answer comes without asking the server.
    let full = ino(&fs, "/full");
    fs.releasedir(fs.opendir(full).unwrap()).unwrap();
    assert_eq!(
        fs.rmdir(ROOT_INO, name("full")).unwrap_err().errno,
        libc::ENOTEMPTY
    );
    fs.rmdir(ROOT_INO, name("empty")).unwrap();
    assert!(!remote.exists("/empty"));
    assert_eq!(
        fs.lookup(ROOT_INO, name("empty")).unwrap_err().errno,
        libc::ENOENT
    );
}

#[test]
fn mkdir_existing_is_eexist_and_new_dir_needs_no_listing() {
    let remote = MemoryRemote::new();
    remote.add_dir("/d");
    let fs = mount(&remote);
    assert_eq!(
        fs.mkdir(ROOT_INO, name("d")).unwrap_err().errno,
        libc::EEXIST
    );
    let new = fs.mkdir(ROOT_INO, name("n")).unwrap();
    assert_eq!(new.kind, EntryKind::Dir);
    let lists = remote.list_calls();
    assert_eq!(
        fs.lookup(new.ino, name("x")).unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(remote.list_calls(), lists);
}

#[test]
fn rename_repaths_the_subtree_for_open_inodes() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/sub/f", b"content".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/d/sub/f");
    let sub = ino(&fs, "/d/sub");
    fs.rename(ROOT_INO, name("d"), ROOT_INO, name("e"), 0)
        .unwrap();
    assert!(remote.exists("/e/sub/f"));
    assert_eq!(fs.getattr(f).unwrap().size, 7);
    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"content");
    assert_eq!(fs.lookup(sub, name("f")).unwrap().ino, f);
    assert_eq!(
        fs.lookup(ROOT_INO, name("d")).unwrap_err().errno,
        libc::ENOENT
    );
}

#[test]
fn rename_over_an_existing_file_deletes_it_when_the_server_refuses() {
    let remote = MemoryRemote::new();
    remote.add_file("/new", b"new".to_vec());
    remote.add_file("/old", b"old".to_vec());
    remote.set_rename_refuses_existing_target(true);
    let fs = mount(&remote);
    ino(&fs, "/old");
    fs.rename(ROOT_INO, name("new"), ROOT_INO, name("old"), 0)
        .unwrap();
    assert_eq!(remote.file("/old").unwrap(), b"new");
    assert!(!remote.exists("/new"));
    assert_eq!(remote.delete_calls(), 1);
    let attr = fs.lookup(ROOT_INO, name("old")).unwrap();
    assert_eq!(attr.size, 3);
    assert_eq!(
        fs.rename(ROOT_INO, name("gone"), ROOT_INO, name("old"), 0)
            .unwrap_err()
            .errno,
        libc::ENOENT
    );
}

#[test]
fn rename_file_onto_non_empty_dir_fails_cleanly() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"1".to_vec());
    remote.add_file("/d/x", b"2".to_vec());
    let fs = mount(&remote);
    let err = fs
        .rename(ROOT_INO, name("f"), ROOT_INO, name("d"), 0)
        .unwrap_err();
    assert_eq!(err.errno, libc::EISDIR);
    assert_eq!(remote.file("/d/x").unwrap(), b"2");
    let noreplace = libc::RENAME_NOREPLACE;
    remote.add_file("/g", b"3".to_vec());
    let err = fs
        .rename(ROOT_INO, name("f"), ROOT_INO, name("g"), noreplace)
        .unwrap_err();
    assert_eq!(err.errno, libc::EEXIST);
}

#[test]
fn unlink_removes_and_forgets_the_name() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"1".to_vec());
    let fs = mount(&remote);
    let old = ino(&fs, "/f");
    fs.unlink(ROOT_INO, name("f")).unwrap();
    assert!(!remote.exists("/f"));
    assert_eq!(
        fs.lookup(ROOT_INO, name("f")).unwrap_err().errno,
        libc::ENOENT
    );
    remote.add_file("/f", b"22".to_vec());
    fs.namespace.forget_listing(Path::new("/"));
    assert_ne!(fs.lookup(ROOT_INO, name("f")).unwrap().ino, old);
}

#[test]
fn setattr_mtime_chmod_and_chown() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"1".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/f");
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let attr = fs
        .setattr(
            f,
            None,
            &SetAttrRequest {
                mtime: Some(when),
                mode: Some(0o600),
                ..SetAttrRequest::default()
            },
        )
        .unwrap();
    assert_eq!(remote.mtime("/f").unwrap(), when);
    assert_eq!(remote.mode("/f").unwrap(), 0o600);
    assert_eq!((attr.mtime, attr.perm), (when, 0o600));

    remote.set_mtime_unsupported(true);
    remote.set_chmod_unsupported(true);
    let later = when + Duration::from_secs(60);
    fs.setattr(
        f,
        None,
        &SetAttrRequest {
            mtime: Some(later),
            mode: Some(0o644),
            ..SetAttrRequest::default()
        },
    )
    .unwrap();
    assert_eq!(
        remote.mtime("/f").unwrap(),
        when,
        "unsupported: ignored, not failed"
    );

    let chown = |uid| SetAttrRequest {
        uid: Some(uid),
        ..SetAttrRequest::default()
    };
    fs.setattr(f, None, &chown(1234)).unwrap();
    assert_eq!(
        fs.setattr(f, None, &chown(0)).unwrap_err().errno,
        libc::EPERM
    );
}

#[test]
fn slow_listing_started_before_a_create_is_not_cached() {
    let remote = MemoryRemote::new();
    remote.add_dir("/d");
    let fs = Arc::new(mount(&remote));
    let d = ino(&fs, "/d");
    remote.set_list_delay(Duration::from_millis(300));
    let lister = {
        let fs = fs.clone();
        std::thread::spawn(move || fs.releasedir(fs.opendir(d).unwrap()).unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    let (_, fh) = fs.create(d, name("new"), libc::O_WRONLY).unwrap();
    fs.release(fh).unwrap();
    lister.join().unwrap();
    remote.set_list_delay(Duration::ZERO);
    assert_eq!(fs.lookup(d, name("new")).unwrap().size, 0);
}

#[test]
fn listing_failure_falls_back_to_stat() {
    let remote = MemoryRemote::new();
    remote.add_file("/hidden/f", b"abc".to_vec());
    let fs = mount(&remote);
    let hidden = ino(&fs, "/hidden");
    remote.fail_path("/hidden", RemoteErrorKind::PermissionDenied);
    assert_eq!(fs.lookup(hidden, name("f")).unwrap().size, 3);
    assert_eq!(remote.stat_calls(), 1);
}

#[test]
fn forget_releases_inodes() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/f");
    fs.lookup(ROOT_INO, name("f")).unwrap();
    fs.forget(f, 2);
    assert_eq!(fs.getattr(f).unwrap_err().errno, libc::ESTALE);
    let stats = fs.statfs();
    assert!(stats.bavail > 0 && stats.namelen == 255);
}

#[test]
fn changing_a_directorys_entries_moves_its_cached_mtime_like_the_server_does() {
    // rsync -a sets a new directory's time, fills it, then re-applies the time only if a stat
    // shows it changed: the cached time must not stay at the value it set.
    let remote = MemoryRemote::new();
    remote.add_dir("/d");
    remote.add_file("/d/old", b"o".to_vec());
    let fs = mount(&remote);
    let d = ino(&fs, "/d");
    let past = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let set_past = || {
        fs.setattr(
            d,
            None,
            &SetAttrRequest {
                mtime: Some(past),
                ..SetAttrRequest::default()
            },
        )
        .unwrap()
    };
    type Change<'a> = Box<dyn Fn() + 'a>;
    let changes: Vec<(&str, Change)> = vec![
        (
            "create",
            Box::new(|| {
                let (_, fh) = fs.create(d, name("new"), libc::O_WRONLY).unwrap();
                fs.release(fh).unwrap();
            }),
        ),
        (
            "mkdir",
            Box::new(|| {
                fs.mkdir(d, name("sub")).unwrap();
            }),
        ),
        ("rmdir", Box::new(|| fs.rmdir(d, name("sub")).unwrap())),
        (
            "rename",
            Box::new(|| {
                fs.rename(d, name("old"), ROOT_INO, name("moved"), 0)
                    .unwrap()
            }),
        ),
        (
            "rename back",
            Box::new(|| {
                fs.rename(ROOT_INO, name("moved"), d, name("old"), 0)
                    .unwrap()
            }),
        ),
        ("unlink", Box::new(|| fs.unlink(d, name("old")).unwrap())),
    ];
    for (what, change) in changes {
        assert_eq!(set_past().mtime, past);
        change();
        assert!(
            fs.getattr(d).unwrap().mtime > past,
            "{what} left the cached mtime of /d in the past"
        );
    }
}

#[test]
fn the_mount_root_shows_the_time_set_on_it_and_the_changes_made_in_it() {
    // No listing shows the root: rsync -a into the mount root set (or the server refused) a
    // time the root never showed, and set it again on every run.
    let remote = MemoryRemote::new();
    remote.set_dir_mtime_refused(true);
    let fs = mount(&remote);
    let past = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let set_past = SetAttrRequest {
        mtime: Some(past),
        ..SetAttrRequest::default()
    };
    assert_eq!(fs.setattr(ROOT_INO, None, &set_past).unwrap().mtime, past);
    assert_eq!(fs.getattr(ROOT_INO).unwrap().mtime, past);
    fs.mkdir(ROOT_INO, name("d")).unwrap();
    let changed = fs.getattr(ROOT_INO).unwrap().mtime;
    assert!(changed > past, "mkdir in the root moves its time");
    assert_eq!(fs.getattr(ROOT_INO).unwrap().mtime, changed, "and it stays");
    remote.set_dir_mtime_refused(false);
    assert_eq!(fs.setattr(ROOT_INO, None, &set_past).unwrap().mtime, past);
}

#[test]
fn a_server_refusing_directory_times_does_not_fail_utimens_on_directories() {
    // vsftpd and pyftpdlib answer 550 to MFMT/MDTM on a directory; tar -x and rsync -a set
    // directory times and would abort on EACCES.
    let remote = MemoryRemote::new();
    remote.add_dir("/d");
    remote.add_dir("/e");
    remote.add_file("/f", b"1".to_vec());
    remote.set_dir_mtime_refused(true);
    let fs = mount(&remote);
    let when = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let set_time = SetAttrRequest {
        mtime: Some(when),
        ..SetAttrRequest::default()
    };
    fs.setattr(ino(&fs, "/d"), None, &set_time).unwrap();
    fs.setattr(ino(&fs, "/f"), None, &set_time).unwrap();
    assert_eq!(
        remote.mtime("/f").unwrap(),
        when,
        "files still get their time"
    );
    // After the first refusal a directory is not asked again: one round trip each at WAN
    // (rsync -a sets every directory's time twice) for the same 550.
    assert_eq!(remote.set_mtime_calls(), 2);
    let shown = fs.setattr(ino(&fs, "/e"), None, &set_time).unwrap();
    assert_eq!(shown.mtime, when, "shown anyway");
    fs.setattr(ROOT_INO, None, &set_time).unwrap();
    assert_eq!(remote.set_mtime_calls(), 2, "no directory asked again");

    // A file's refusal is still an error.
    remote.fail_path("/f", RemoteErrorKind::PermissionDenied);
    let err = fs.setattr(ino(&fs, "/f"), None, &set_time).unwrap_err();
    assert_eq!(err.errno, libc::EACCES);
}
