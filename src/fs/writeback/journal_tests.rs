//! Tests of the journal and of recovery of a spool holding it (a separate file to keep
//! `journal.rs` small).

use std::time::UNIX_EPOCH;

use super::super::entry::{
    COMMIT, ENTRY_VERSION, FRAME, HEADER, crc32, scan, seal_entry, start_entry,
};
use super::super::store::tests::{self as store_tests, record};
use super::super::store::{Record, Store};
use super::*;

/// A fresh, existing directory for test `name`.
fn temp_dir(name: &str) -> PathBuf {
    let dir = store_tests::temp_dir(&format!("journal-{name}"));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn segments(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = segment_files(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.0)
        .collect();
    ids.sort();
    ids
}

fn commit(store: &Store, seq: u64, path: &str, data: &[u8]) {
    let record = record(seq, path, data.len() as u64);
    store.commit(&record, &mut &data[..]).unwrap();
}

/// Paths and data of what a new store recovers from `dir`.
fn recovered(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let store = Store::open(dir).unwrap();
    let found = store.recover().unwrap();
    assert!(found.unreadable.is_empty(), "{:?}", found.unreadable);
    (found.records.iter())
        .map(|r| {
            (
                r.path.clone(),
                store.location(r.seq).unwrap().read().unwrap(),
            )
        })
        .collect()
}

fn pair(path: &str, data: &[u8]) -> (PathBuf, Vec<u8>) {
    (PathBuf::from(path), data.to_vec())
}

#[test]
fn commits_round_trip_small_in_the_journal_large_as_files() {
    let dir = temp_dir("round");
    let store = Store::open(&dir).unwrap();
    let large = vec![7u8; INLINE_MAX as usize + 1];
    commit(&store, 1, "/a", b"alpha");
    commit(&store, 2, "/empty", b"");
    commit(&store, 3, "/large", &large);
    let timed = Record {
        mtime: Some(UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5)),
        mode: Some(0o640),
        ..record(4, "/t", 1)
    };
    store.commit(&timed, &mut &b"t"[..]).unwrap();
    assert!(
        dir.join(format!("{:020}.data", 3)).exists(),
        "large: own file"
    );
    assert!(
        !dir.join(format!("{:020}.data", 1)).exists(),
        "small: inline"
    );
    assert_eq!(segments(&dir), vec![1]);
    assert_eq!(
        recovered(&dir),
        vec![
            pair("/a", b"alpha"),
            pair("/empty", b""),
            pair("/large", &large),
            pair("/t", b"t")
        ]
    );
    let found = Store::open(&dir).unwrap().peek().unwrap();
    assert_eq!(found.records[3], timed);
    assert_eq!(found.next_free_seq, 5);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_torn_or_corrupt_last_entry_drops_only_that_entry() {
    for damage in ["truncate", "flip"] {
        let dir = temp_dir(damage);
        let store = Store::open(&dir).unwrap();
        commit(&store, 1, "/a", b"first");
        commit(&store, 2, "/b", b"second");
        commit(&store, 3, "/c", b"third, never returned");
        drop(store);
        let segment = segment_files(&dir).unwrap().remove(0).1;
        let mut bytes = fs::read(&segment).unwrap();
        let mut last = 0;
        assert_eq!(scan(&bytes, |offset, _, _| last = offset as usize), None);
        match damage {
            "truncate" => bytes.truncate(last + FRAME + HEADER + 3),
            _ => bytes[last + FRAME + HEADER + 20] ^= 0x20,
        }
        fs::write(&segment, &bytes).unwrap();
        let want = vec![pair("/a", b"first"), pair("/b", b"second")];
        assert_eq!(recovered(&dir), want, "{damage}");
        // The next mount appends to a segment of its own: the damaged tail stays dead.
        let store = Store::open(&dir).unwrap();
        store.recover().unwrap();
        commit(&store, 4, "/d", b"fourth");
        drop(store);
        let mut want = want;
        want.push(pair("/d", b"fourth"));
        assert_eq!(recovered(&dir), want, "{damage}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn updates_and_dones_are_applied() {
    let dir = temp_dir("updates");
    let store = Store::open(&dir).unwrap();
    commit(&store, 1, "/a", b"a");
    commit(&store, 2, "/b", b"b");
    commit(&store, 3, "/c", b"c");
    let renamed = Record {
        mode: Some(0o600),
        ..record(2, "/renamed", 1)
    };
    store.write_record(&renamed).unwrap();
    store.remove(1).unwrap();
    store.remove(3).unwrap();
    store.remove(3).unwrap(); // idempotent
    drop(store);
    let found = Store::open(&dir).unwrap().recover().unwrap();
    assert_eq!(found.records, vec![renamed]);
    assert_eq!(found.next_free_seq, 4);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_format_1_spool_is_recovered_then_changed_and_finished() {
    let dir = temp_dir("v1");
    // Written the old way: `<seq>.rec` and `<seq>.data`.
    for (seq, path, data) in [(4u64, "/old", &b"old data"[..]), (6, "/other", b"x")] {
        let record = record(seq, path, data.len() as u64);
        fs::write(dir.join(format!("{seq:020}.data")), data).unwrap();
        fs::write(dir.join(format!("{seq:020}.rec")), record.encode()).unwrap();
    }
    assert_eq!(
        recovered(&dir),
        vec![pair("/old", b"old data"), pair("/other", b"x")]
    );
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.recover().unwrap().next_free_seq, 7);
    // A rename of a format 1 entry is a journal entry; the next recovery applies it.
    store.write_record(&record(4, "/moved", 8)).unwrap();
    store.remove(6).unwrap();
    assert!(!dir.join(format!("{:020}.rec", 6)).exists());
    assert!(!dir.join(format!("{:020}.data", 6)).exists());
    drop(store);
    assert_eq!(recovered(&dir), vec![pair("/moved", b"old data")]);
    fs::remove_dir_all(&dir).unwrap();
}

/// Where the entries of a segment end (the zeros written ahead start).
fn entries_end(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(len) = bytes.get(at..at + 4) {
        match u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize {
            0 => break,
            len => at += FRAME + len,
        }
    }
    at
}

/// A sealed entry of format `version` for `seq` with the given record text (a commit).
fn foreign_entry(version: u8, seq: u64, record: &[u8]) -> Vec<u8> {
    let mut entry = start_entry(seq, COMMIT, Some(record));
    entry[FRAME] = version;
    seal_entry(&mut entry).unwrap();
    entry
}

#[test]
fn unreadable_entries_are_kept_reported_and_numbered_above() {
    let dir = temp_dir("unreadable");
    let store = Store::open(&dir).unwrap();
    commit(&store, 1, "/a", b"a");
    drop(store);
    // A later ftpfs' entries: another entry version, and a record of another format.
    let segment = segment_files(&dir).unwrap().remove(0).1;
    let mut bytes = fs::read(&segment).unwrap();
    bytes.truncate(entries_end(&bytes)); // the zeros written ahead go
    bytes.extend(foreign_entry(9, 40, b"whatever"));
    bytes.extend(foreign_entry(ENTRY_VERSION, 41, b"ftpfs-writeback 9\n"));
    fs::write(&segment, &bytes).unwrap();

    let store = Store::open(&dir).unwrap();
    let found = store.recover().unwrap();
    assert_eq!(found.records, vec![record(1, "/a", 1)]);
    let why: Vec<&str> = found.unreadable.iter().map(|u| u.1.as_str()).collect();
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(
        why[0].contains("format 9") && why[0].contains("40"),
        "{why:?}"
    );
    assert!(why[1].contains("record format 9"), "{why:?}");
    assert_eq!(found.next_free_seq, 42);
    // Everything readable finishes; the segment holding them is still never deleted.
    store.remove(1).unwrap();
    store.close();
    assert!(segment.exists());
    assert_eq!(fs::read(&segment).unwrap()[..bytes.len()], bytes[..]);
    let found = Store::open(&dir).unwrap().recover().unwrap();
    assert!(found.records.is_empty());
    assert_eq!((found.unreadable.len(), found.next_free_seq), (2, 42));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn numbering_stays_above_every_entry_in_the_spool() {
    let dir = temp_dir("numbers");
    let store = Store::open(&dir).unwrap();
    commit(&store, 9, "/a", b"a");
    commit(&store, 3, "/b", b"b");
    store.remove(9).unwrap(); // its commit is still in the segment (kept for seq 3)
    fs::write(dir.join(format!("{:020}.rec", 5)), b"ftpfs-writeback 7\n").unwrap();
    drop(store);
    let found = Store::open(&dir).unwrap().recover().unwrap();
    assert_eq!(found.records, vec![record(3, "/b", 1)]);
    assert_eq!(found.next_free_seq, 10);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn segments_are_deleted_once_nothing_in_them_is_needed() {
    let dir = temp_dir("gc");
    let journal = Journal::open(&dir).unwrap();
    let rec = |seq: u64| record(seq, "/x", 1).encode();
    journal.commit(1, &rec(1), 1, &mut &b"1"[..]).unwrap();
    journal.commit(2, &rec(2), 1, &mut &b"2"[..]).unwrap();
    journal.state.lock().segment_size = 1; // from now on: one entry per segment
    // Segment 1 stays (1 is live); done 2 starts segment 2.
    journal.done(2).unwrap();
    assert_eq!(segments(&dir), vec![1, 2]);
    // Segment 2 is full and holds only done 2, still needed while segment 1 (commit 2)
    // exists: copied to the active segment (5: 4 is full with done 3), then deleted. Segment 3
    // (commit 3, done) goes; 4 is active when the copy starts, so it stays for now.
    journal.commit(3, &rec(3), 1, &mut &b"3"[..]).unwrap();
    journal.done(3).unwrap();
    assert_eq!(segments(&dir), vec![1, 4, 5]);
    let live: Vec<u64> = live_after_reading(&dir);
    assert_eq!(live, vec![1]);
    // 1 done (in segment 6): segment 1 goes, and with it the need for done 2 (5 goes too).
    journal.done(1).unwrap();
    assert_eq!(segments(&dir), vec![6]);
    journal.close();
    assert_eq!(
        segments(&dir),
        Vec::<u64>::new(),
        "unmount leaves no segment"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// The seqs with a commit and no done entry, as a new journal on `dir` reads them.
fn live_after_reading(dir: &Path) -> Vec<u64> {
    let mut live = std::collections::BTreeSet::new();
    for event in Journal::open(dir).unwrap().read().unwrap() {
        match event.what {
            What::Commit { .. } => live.insert(event.seq),
            What::Done => live.remove(&event.seq),
            _ => false,
        };
    }
    live.into_iter().collect()
}

#[test]
fn recovery_deletes_finished_segments_and_keeps_live_ones() {
    let dir = temp_dir("recover-gc");
    let journal = Journal::open(&dir).unwrap();
    journal.state.lock().segment_size = 1;
    let rec = |seq: u64| record(seq, "/x", 1).encode();
    journal.commit(1, &rec(1), 1, &mut &b"1"[..]).unwrap();
    journal.commit(2, &rec(2), 1, &mut &b"2"[..]).unwrap();
    journal.done(1).unwrap();
    drop(journal); // like kill -9: nothing collected at the end
    assert_eq!(segments(&dir), vec![2, 3]);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.recover().unwrap().records, vec![record(2, "/x", 1)]);
    assert_eq!(
        segments(&dir),
        vec![2],
        "segment 3 held only done 1, no longer needed"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn crc32_is_the_zlib_one() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn a_segment_that_cannot_be_read_is_reported_and_kept() {
    let dir = temp_dir("unreadable-segment");
    let store = Store::open(&dir).unwrap();
    commit(&store, 1, "/a", b"a");
    drop(store);
    let odd = dir.join(format!("{PREFIX}{:020}", 7));
    fs::create_dir(&odd).unwrap(); // read(2) fails: EISDIR
    let found = Store::open(&dir).unwrap().recover().unwrap();
    assert_eq!(found.records, vec![record(1, "/a", 1)]);
    assert_eq!(found.unreadable.len(), 1);
    assert!(found.unreadable[0].1.contains("cannot read"), "{found:?}");
    assert!(odd.exists());
    fs::remove_dir_all(&dir).unwrap();
}
