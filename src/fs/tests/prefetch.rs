//! Listing ahead (`fs::prefetch`): subdirectories are listed in the background once a
//! directory is read, without double listings, stale caching or unbounded work.

use std::time::{Duration, Instant};

use super::*;
use crate::fs::prefetch::MAX_QUEUED;

/// Reads directory `path` like `find` does (opendir + releasedir).
fn read_dir(fs: &FsCore, path: &str) {
    let fh = fs.opendir(ino(fs, path)).unwrap();
    fs.releasedir(fh).unwrap();
}

/// Waits (bounded) until no listing ahead is queued or running.
fn settle(fs: &FsCore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs.prefetch.pending() != (0, 0) {
        assert!(Instant::now() < deadline, "listing ahead never settled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (bounded) until every worker has given up for want of a spare connection.
fn stopped(fs: &FsCore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs.prefetch.stopped() {
        assert!(Instant::now() < deadline, "workers never stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tree(remote: &MemoryRemote, dirs: usize) {
    for d in 0..dirs {
        remote.add_file(format!("/walk/d{d}/file"), b"x".to_vec());
    }
}

#[test]
fn subdirectories_are_listed_ahead_once_and_then_served_from_the_cache() {
    let remote = MemoryRemote::new();
    remote.set_list_ahead_slots(3);
    tree(&remote, 5);
    let fs = mount(&remote);
    read_dir(&fs, "/walk");
    settle(&fs);
    // "/" (lookup of walk), "/walk", and its 5 subdirectories ahead.
    assert_eq!(remote.list_calls(), 7);
    for d in 0..5 {
        read_dir(&fs, &format!("/walk/d{d}"));
    }
    settle(&fs);
    assert_eq!(remote.list_calls(), 7, "the walk itself listed nothing");
}

#[test]
fn without_a_spare_connection_nothing_is_listed_ahead() {
    let remote = MemoryRemote::new();
    tree(&remote, 3); // no list-ahead slots: like a pool with no spare connection
    let fs = mount(&remote);
    read_dir(&fs, "/walk");
    stopped(&fs); // the workers found no spare connection
    assert_eq!(remote.list_calls(), 2);
    read_dir(&fs, "/walk/d0");
    assert_eq!(remote.list_calls(), 3, "the request lists by itself");
    let (queued, in_flight) = fs.prefetch.pending();
    assert_eq!(
        (queued, in_flight),
        (2, 0),
        "d0's job was claimed by the request"
    );
}

#[test]
fn a_request_joins_a_listing_ahead_instead_of_listing_twice() {
    let remote = MemoryRemote::new();
    remote.add_file("/d/sub/a", b"x".to_vec());
    remote.add_file("/d/sub2/b", b"x".to_vec());
    let fs = mount(&remote);
    ino(&fs, "/d"); // no slots yet: nothing listed ahead
    stopped(&fs);
    remote.set_list_ahead_slots(8);
    remote.set_list_delay(Duration::from_millis(100));
    let before = remote.list_calls();
    read_dir(&fs, "/d"); // lists d, queues sub and sub2
    read_dir(&fs, "/d/sub"); // queued or in flight: either way one listing of it
    read_dir(&fs, "/d/sub2");
    settle(&fs);
    assert_eq!(remote.list_calls() - before, 3, "d, sub and sub2 once each");
}

#[test]
fn a_listing_ahead_started_before_our_mutation_is_not_cached() {
    let remote = MemoryRemote::new();
    tree(&remote, 1);
    let fs = mount(&remote);
    ino(&fs, "/walk"); // no slots yet: "/walk" itself is not listed ahead
    stopped(&fs);
    remote.set_list_ahead_slots(8);
    // The listing ahead of d0 is taken at once but answered after 300 ms.
    remote.set_list_delay(Duration::from_millis(300));
    let walk = ino(&fs, "/walk");
    let fh = fs.opendir(walk).unwrap();
    fs.releasedir(fh).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fs.prefetch.pending().1 == 0 {
        assert!(Instant::now() < deadline, "the listing ahead never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50)); // its listing is taken, the reply is late
    remote.set_list_delay(Duration::ZERO);
    // Our own mutation while the old listing is on its way.
    let d0 = fs.lookup(walk, name("d0")).unwrap().ino;
    fs.mkdir(d0, name("new")).unwrap();
    settle(&fs);
    let mut names = Vec::new();
    let fh = fs.opendir(d0).unwrap();
    fs.readdir(fh, 0, |entry| {
        names.push(entry.name.to_string_lossy().into_owned());
        false
    })
    .unwrap();
    fs.releasedir(fh).unwrap();
    assert!(names.contains(&"new".to_string()), "{names:?}");
    assert!(names.contains(&"file".to_string()), "{names:?}");
}

#[test]
fn the_queue_is_bounded() {
    let remote = MemoryRemote::new();
    tree(&remote, MAX_QUEUED + 100); // no slots: jobs stay queued
    let fs = mount(&remote);
    read_dir(&fs, "/walk");
    stopped(&fs);
    assert_eq!(fs.prefetch.pending(), (MAX_QUEUED, 0));
}

#[test]
fn a_listing_ahead_that_fails_is_dropped_quietly() {
    let remote = MemoryRemote::new();
    remote.set_list_ahead_slots(2);
    tree(&remote, 2);
    remote.fail_path("/walk/d1", crate::remote::RemoteErrorKind::PermissionDenied);
    let fs = mount(&remote);
    read_dir(&fs, "/walk");
    settle(&fs);
    let calls = remote.list_calls();
    // The request asks again and gets the error itself.
    let d1 = ino(&fs, "/walk/d1");
    assert_eq!(fs.opendir(d1).unwrap_err().errno, libc::EACCES);
    assert_eq!(remote.list_calls(), calls + 1);
}

#[test]
fn a_directory_found_by_a_lookup_is_listed_ahead() {
    let remote = MemoryRemote::new();
    remote.set_list_ahead_slots(2);
    tree(&remote, 2);
    let fs = mount(&remote);
    ino(&fs, "/walk"); // lists "/", finds the directory walk
    settle(&fs);
    assert_eq!(remote.list_calls(), 2, "\"/\" and, ahead, \"/walk\"");
    read_dir(&fs, "/walk");
    settle(&fs);
    assert_eq!(
        remote.list_calls(),
        4,
        "/walk served from the listing ahead, which read made its subdirectories next"
    );
}

#[test]
fn a_listing_ahead_hides_upload_temporary_names_like_any_listing() {
    let remote = MemoryRemote::new();
    remote.set_list_ahead_slots(2);
    tree(&remote, 1);
    let temp = format!("{}abc-file", crate::fs::upload_target::TEMP_PREFIX);
    remote.add_file(format!("/walk/d0/{temp}"), b"partial".to_vec());
    let fs = mount(&remote);
    read_dir(&fs, "/walk"); // lists d0 ahead
    settle(&fs);
    let calls = remote.list_calls();
    let mut names = Vec::new();
    let fh = fs.opendir(ino(&fs, "/walk/d0")).unwrap();
    fs.readdir(fh, 0, |entry| {
        names.push(entry.name.to_string_lossy().into_owned());
        false
    })
    .unwrap();
    fs.releasedir(fh).unwrap();
    assert_eq!(remote.list_calls(), calls, "d0 came from its listing ahead");
    assert!(names.contains(&"file".to_string()), "{names:?}");
    assert!(!names.contains(&temp), "{names:?}");
}
