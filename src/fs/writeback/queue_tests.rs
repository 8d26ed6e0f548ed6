//! Tests of the write-back queue: ordering rules and the per-path index.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;

fn rec(seq: u64, path: &str) -> Record {
    Record {
        seq,
        path: PathBuf::from(path),
        size: seq,
        mtime: None,
        mode: None,
    }
}

fn queue(paths: &[&str]) -> Queue {
    let mut q = Queue::default();
    for path in paths {
        let seq = q.allocate();
        assert!(q.push(rec(seq, path)).is_empty());
    }
    q
}

fn paths(q: &Queue) -> Vec<String> {
    q.pending()
        .map(|p| p.record.path.display().to_string())
        .collect()
}

/// The index holds exactly the entries' paths, each path's seqs ascending.
fn assert_index_consistent(q: &Queue) {
    let mut want: BTreeMap<PathBuf, Vec<u64>> = BTreeMap::new();
    for p in q.pending() {
        want.entry(p.record.path.clone())
            .or_default()
            .push(p.record.seq);
    }
    assert_eq!(q.by_path, want);
    let queued: BTreeSet<u64> = q
        .pending()
        .filter(|p| p.state == State::Queued)
        .map(|p| p.record.seq)
        .collect();
    assert_eq!(q.queued, queued, "the queued set");
    assert_eq!(q.has_queued(), !queued.is_empty());
    // Every answer agrees with a scan of all entries.
    let mut probes: Vec<PathBuf> = want.keys().cloned().collect();
    probes.extend(["/", "/d", "/d/sub", "/dd", "/none"].map(PathBuf::from));
    for probe in &probes {
        let scanned: Vec<u64> = q
            .pending()
            .filter(|p| p.record.path.starts_with(probe))
            .map(|p| p.record.seq)
            .collect();
        let indexed: Vec<u64> = q
            .below_oldest_first(probe)
            .iter()
            .map(|p| p.record.seq)
            .collect();
        assert_eq!(indexed, scanned, "below {}", probe.display());
        let newest = q.pending().filter(|p| p.record.path == *probe).last();
        assert_eq!(q.get(probe), newest, "get {}", probe.display());
        let children: Vec<u64> = q
            .pending()
            .filter(|p| p.record.path.parent() == Some(probe.as_path()))
            .map(|p| p.record.seq)
            .collect();
        let indexed: Vec<u64> = q.children(probe).iter().map(|p| p.record.seq).collect();
        assert_eq!(indexed, children, "children of {}", probe.display());
    }
}

#[test]
fn the_path_index_follows_enqueue_rename_finish_and_fail() {
    let mut q = Queue::resume(vec![rec(3, "/d/r")], 1);
    assert_index_consistent(&q);
    for path in ["/d/a", "/d/sub/b", "/dd/c", "/d/a", "/d.x", "/d/sub/b"] {
        let seq = q.allocate();
        q.push(rec(seq, path));
        assert_index_consistent(&q);
    }
    // In flight, then a newer close of the same path: two entries at one path.
    let first = q.take_next().unwrap();
    assert_eq!(first.path, PathBuf::from("/d/r"));
    let seq = q.allocate();
    q.push(rec(seq, "/d/r"));
    assert_index_consistent(&q);
    assert_eq!(q.at(Path::new("/d/r")).count(), 2);
    q.finished(first.seq, Ok(()));
    assert_index_consistent(&q);
    // A failure keeps the entry where it is.
    let failed = q.take_next().unwrap();
    q.finished(failed.seq, Err("553".into()));
    assert_index_consistent(&q);
    assert!(q.get(&failed.path).is_some());
    // A rename of a directory (replacing what was at the target) and of a file.
    assert!(matches!(
        q.rename(Path::new("/d/sub"), Path::new("/dd")),
        Outcome::Changed { .. }
    ));
    assert_index_consistent(&q);
    assert!(matches!(
        q.rename(Path::new("/d.x"), Path::new("/d/sub/x")),
        Outcome::Changed { .. }
    ));
    assert_index_consistent(&q);
    // Held and requeued entries stay; removed ones go.
    let held = q.get(Path::new("/d/sub/x")).unwrap().record.seq;
    q.hold(held);
    assert_eq!(q.remove(Path::new("/d/sub")), Outcome::Busy);
    q.requeue(held);
    assert!(matches!(
        q.remove(Path::new("/d/sub")),
        Outcome::Changed { .. }
    ));
    assert_index_consistent(&q);
    while let Some(r) = q.take_next() {
        q.finished(r.seq, Ok(()));
        assert_index_consistent(&q);
    }
    q.remove(Path::new("/"));
    assert_index_consistent(&q);
    assert!(q.is_empty() && q.by_path.is_empty());
}

#[test]
fn the_path_index_survives_a_long_mixed_sequence() {
    // A deterministic pseudo-random mix of every operation on a few paths.
    let paths = ["/a", "/d/a", "/d/b", "/d/sub/c", "/dd/a", "/d.b"];
    let dirs = ["/d", "/dd", "/d/sub", "/e"];
    let mut q = Queue::default();
    let (mut renamed, mut removed) = (0, 0);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    for _ in 0..2000 {
        match next(7) {
            0 | 1 => {
                let seq = q.allocate();
                q.push(rec(seq, paths[next(paths.len())]));
            }
            2 => {
                q.take_next();
            }
            3 => {
                let in_flight: Vec<u64> = q
                    .pending()
                    .filter(|p| p.state == State::InFlight)
                    .map(|p| p.record.seq)
                    .collect();
                if let Some(&seq) = in_flight.first() {
                    let result = if next(3) == 0 {
                        Err("x".into())
                    } else {
                        Ok(())
                    };
                    q.finished(seq, result);
                }
            }
            4 => {
                let all: Vec<&str> = paths.iter().chain(dirs.iter()).copied().collect();
                let (from, to) = (all[next(all.len())], all[next(all.len())]);
                if !Path::new(to).starts_with(from) && !Path::new(from).starts_with(to) {
                    let outcome = q.rename(Path::new(from), Path::new(to));
                    renamed += usize::from(matches!(outcome, Outcome::Changed { .. }));
                }
            }
            5 => {
                let outcome = q.remove(Path::new(dirs[next(dirs.len())]));
                removed += usize::from(matches!(outcome, Outcome::Changed { .. }));
            }
            _ => {
                q.set_attributes(Path::new(paths[next(paths.len())]), None, Some(0o600));
            }
        }
        assert_index_consistent(&q);
    }
    assert!(
        renamed > 20 && removed > 20,
        "{renamed} renames, {removed} removals"
    );
}

#[test]
fn uploads_go_oldest_first_and_one_per_path() {
    let mut q = queue(&["/a", "/b"]);
    assert_eq!(q.take_next().map(|r| r.seq), Some(1));
    // A newer close of /a while its upload is in flight: queued behind it, not superseding.
    let seq = q.allocate();
    assert!(q.push(rec(seq, "/a")).is_empty());
    assert_eq!(q.take_next().map(|r| r.seq), Some(2));
    assert_eq!(q.take_next(), None, "/a has an upload in flight");
    q.finished(1, Ok(()));
    assert_eq!(q.take_next().map(|r| r.seq), Some(3));
}

#[test]
fn a_newer_close_supersedes_a_queued_or_failed_one() {
    let mut q = queue(&["/a", "/b"]);
    let seq = q.allocate();
    assert_eq!(q.push(rec(seq, "/a")), vec![1]);
    assert_eq!(paths(&q), ["/b", "/a"]);
    let first = q.take_next().unwrap();
    q.finished(first.seq, Err("553 refused".into()));
    assert_eq!(
        q.get(Path::new("/b")).unwrap().state,
        State::Failed("553 refused".into())
    );
    let seq = q.allocate();
    assert_eq!(q.push(rec(seq, "/b")), vec![2]);
}

#[test]
fn rename_of_a_queued_file_moves_it_in_the_queue() {
    // rsync: write .f.XXXX, then rename over f (which has an older pending version).
    let mut q = queue(&["/d/f", "/d/.f.XXXX"]);
    let outcome = q.rename(Path::new("/d/.f.XXXX"), Path::new("/d/f"));
    assert_eq!(
        outcome,
        Outcome::Changed {
            rewrite: vec![Record {
                path: PathBuf::from("/d/f"),
                ..rec(2, "/d/.f.XXXX")
            }],
            cancelled: vec![1],
        }
    );
    assert_eq!(paths(&q), ["/d/f"]);
    assert_eq!(
        q.rename(Path::new("/x"), Path::new("/y")),
        Outcome::NotPending
    );
}

#[test]
fn rename_of_a_directory_moves_its_pending_files() {
    let mut q = queue(&["/d/a", "/d/sub/b", "/dd/c"]);
    let Outcome::Changed { rewrite, cancelled } = q.rename(Path::new("/d"), Path::new("/e")) else {
        panic!("expected a change");
    };
    assert_eq!(rewrite.len(), 2);
    assert!(cancelled.is_empty());
    assert_eq!(paths(&q), ["/e/a", "/e/sub/b", "/dd/c"]);
}

#[test]
fn the_next_settling_time_skips_paths_in_flight() {
    let mut q = Queue {
        settle: std::time::Duration::from_secs(3600),
        ..Queue::default()
    };
    let first = q.allocate();
    q.push(rec(first, "/a"));
    q.hold(first); // in flight
    let older = q.allocate();
    q.push(rec(older, "/a")); // waits for /a's upload, whenever it settles
    let newer = q.allocate();
    q.push(rec(newer, "/b"));
    let settles = |q: &Queue, path: &str| {
        q.get(Path::new(path)).and_then(|p| p.queued_at).unwrap() + q.settle
    };
    let (a, b) = (settles(&q, "/a"), settles(&q, "/b"));
    assert!(a <= b);
    assert_eq!(
        q.next_ready_at(),
        Some(b),
        "not /a's: its path is in flight"
    );
    assert_eq!(q.finished(first, Ok(())), Vec::<u64>::new());
    assert_eq!(q.next_ready_at(), Some(a), "the earliest once /a is free");
}

#[test]
fn a_new_entry_settles_before_upload_unless_a_barrier_waits() {
    let mut q = Queue::resume(vec![rec(1, "/resumed")], 1);
    q.settle = std::time::Duration::from_secs(3600);
    let seq = q.allocate();
    assert!(q.push(rec(seq, "/new")).is_empty());
    // A resumed entry goes at once; the new one settles (its rename and times land here).
    assert_eq!(q.take_next().map(|r| r.seq), Some(1));
    assert_eq!(q.take_next(), None, "/new is settling");
    let ready_at = q.next_ready_at().expect("/new settles at some point");
    assert!(ready_at > std::time::Instant::now());
    assert!(matches!(
        q.rename(Path::new("/new"), Path::new("/renamed")),
        Outcome::Changed { .. }
    ));
    // Someone waits at a barrier (fsync, unmount): it goes now.
    q.hurry += 1;
    assert_eq!(q.next_ready_at(), None);
    assert_eq!(q.take_next().map(|r| r.seq), Some(seq));
}

#[test]
fn operations_on_an_upload_in_flight_wait() {
    let mut q = queue(&["/a"]);
    q.take_next().unwrap();
    assert_eq!(q.rename(Path::new("/a"), Path::new("/b")), Outcome::Busy);
    assert_eq!(q.remove(Path::new("/a")), Outcome::Busy);
    assert_eq!(
        q.set_attributes(Path::new("/a"), None, Some(0o600)),
        Outcome::Busy
    );
    q.finished(1, Ok(()));
    assert_eq!(q.remove(Path::new("/a")), Outcome::NotPending);
    assert!(q.is_empty());
}

#[test]
fn unlink_cancels_and_attributes_are_recorded() {
    let mut q = queue(&["/a", "/b"]);
    assert_eq!(
        q.remove(Path::new("/a")),
        Outcome::Changed {
            rewrite: vec![],
            cancelled: vec![1]
        }
    );
    let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
    q.set_attributes(Path::new("/b"), Some(mtime), None);
    let Outcome::Changed { rewrite, .. } = q.set_attributes(Path::new("/b"), None, Some(0o640))
    else {
        panic!("expected a change");
    };
    assert_eq!(
        (rewrite[0].mtime, rewrite[0].mode),
        (Some(mtime), Some(0o640))
    );
    assert_eq!(q.bytes(), 2);
}

#[test]
fn resume_continues_numbering_after_recovered_records() {
    let mut q = Queue::resume(vec![rec(4, "/a"), rec(9, "/b")], 1);
    assert_eq!(q.allocate(), 10);
    assert_eq!(q.take_next().map(|r| r.seq), Some(4));
    assert_eq!(Queue::resume(Vec::new(), 1).allocate(), 1);
    // An unreadable record numbered 12 stays in the spool: its number is not reused.
    assert_eq!(Queue::resume(vec![rec(4, "/a")], 13).allocate(), 13);
}

#[test]
fn a_close_wakes_a_worker_only_when_none_keeps_an_earlier_time() {
    let mut q = Queue {
        settle: Duration::from_secs(3600),
        ..Queue::default()
    };
    let first = q.allocate();
    q.push(rec(first, "/a"));
    assert!(q.wake_for(first), "no worker keeps a time yet");
    // An idle worker now waits for /a to settle; a later close settles later still.
    q.timer = q.next_ready_at();
    let second = q.allocate();
    q.push(rec(second, "/b"));
    assert!(!q.wake_for(second));
    // A barrier makes everything ready at once: wake.
    q.hurry += 1;
    assert!(q.wake_for(second));
    q.hurry -= 1;
    // A worker keeping a later time (the earlier entry was renamed away, say) is woken.
    q.timer = Some(Instant::now() + Duration::from_secs(7200));
    assert!(q.wake_for(second));
}

#[test]
fn an_entry_waiting_for_its_path_does_not_count_as_settling() {
    // /a is in flight and a newer /a settled long ago: no worker may spin on it; the worker
    // of the upload in flight takes it when that ends.
    let mut q = queue(&["/a"]);
    q.take_next().unwrap();
    let seq = q.allocate();
    q.push(rec(seq, "/a"));
    assert_eq!(q.take_next(), None);
    assert_eq!(q.next_ready_at(), None);
    assert!(q.has_queued());
    q.finished(1, Ok(()));
    assert_eq!(q.take_next().map(|r| r.seq), Some(seq));
    assert!(!q.has_queued());
}

#[test]
fn an_older_version_that_fails_under_a_newer_one_is_dropped_not_kept_to_resume() {
    let mut q = queue(&["/a"]);
    let older = q.take_next().unwrap();
    // Closed again while the older version is on the wire.
    let newer = q.allocate();
    assert!(
        q.push(rec(newer, "/a")).is_empty(),
        "in flight: not superseded"
    );
    // The older upload fails for good: the newer one is what the program wrote last.
    assert_eq!(
        q.finished(older.seq, Err("553 refused".into())),
        vec![older.seq]
    );
    assert_eq!(q.get(Path::new("/a")).map(|p| p.record.seq), Some(newer));
    assert_eq!(q.take_next().map(|r| r.seq), Some(newer));
    assert!(q.finished(newer, Ok(())).is_empty());
    assert!(
        q.is_empty(),
        "nothing left for a later mount to upload over the newer version"
    );
    // Alone, a failure is kept (the next fsync/close reports it).
    let mut q = queue(&["/b"]);
    let only = q.take_next().unwrap();
    assert!(q.finished(only.seq, Err("553".into())).is_empty());
    assert!(matches!(
        q.get(Path::new("/b")).map(|p| &p.state),
        Some(State::Failed(_))
    ));
}

#[test]
fn attributes_wait_for_a_version_in_flight_then_go_to_the_newest() {
    let mut q = queue(&["/a"]);
    let older = q.take_next().unwrap();
    let newer = q.allocate();
    q.push(rec(newer, "/a"));
    assert_eq!(
        q.set_attributes(Path::new("/a"), None, Some(0o600)),
        Outcome::Busy
    );
    q.finished(older.seq, Ok(()));
    let Outcome::Changed { rewrite, .. } = q.set_attributes(Path::new("/a"), None, Some(0o600))
    else {
        panic!("recorded on the queued version");
    };
    assert_eq!((rewrite[0].seq, rewrite[0].mode), (newer, Some(0o600)));
}

#[test]
fn a_held_entry_goes_back_or_is_cancelled_alone_leaving_a_close_made_meanwhile() {
    // A refused server rename: the held entry returns to its old name; a close at the new
    // name while the server was asked (another handle) stays there.
    let mut q = queue(&["/from"]);
    let held = q.get(Path::new("/from")).unwrap().record.seq;
    assert!(matches!(
        q.rename(Path::new("/from"), Path::new("/to")),
        Outcome::Changed { .. }
    ));
    q.hold(held);
    let meanwhile = q.allocate();
    assert!(
        q.push(rec(meanwhile, "/to")).is_empty(),
        "held: not superseded"
    );
    q.requeue(held);
    let back = q.move_back(held, Path::new("/from")).unwrap();
    assert_eq!(back.path, PathBuf::from("/from"));
    assert_eq!(
        q.get(Path::new("/to")).map(|p| p.record.seq),
        Some(meanwhile)
    );
    assert_index_consistent(&q);
    // A server delete of the held entry's copy: only that entry is cancelled.
    q.hold(held);
    let newer = q.allocate();
    q.push(rec(newer, "/from"));
    assert_eq!(
        q.cancel(held),
        Outcome::Changed {
            rewrite: Vec::new(),
            cancelled: vec![held]
        }
    );
    assert_eq!(q.get(Path::new("/from")).map(|p| p.record.seq), Some(newer));
    assert_eq!(q.cancel(held), Outcome::NotPending);
    assert_index_consistent(&q);
}
