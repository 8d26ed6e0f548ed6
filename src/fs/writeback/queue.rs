//! The in-memory order of pending uploads in write-back mode.
//!
//! Rules (issue 11, "order is kept per path"):
//! - at most one *queued* entry per path: a newer close of the same path supersedes the queued
//!   one (its spool entry is dropped, the newer data is what the program saw last);
//! - at most one upload *in flight* per path: a path with an upload in flight is skipped by
//!   `take_next` until `finished`, so a newer version never overtakes an older one on the wire;
//! - rename and unlink of a *queued* entry act on the queue only (rsync's `.name.XXXX` then
//!   rename never waits for the network); on an entry *in flight* they return `Busy` and the
//!   caller waits for `finished`, then applies the operation normally;
//! - chmod/utimens of a queued entry are recorded and applied after its upload;
//! - uploads are handed out oldest first (by sequence number), each once it has been queued
//!   for `settle` (unless someone waits at a barrier: then at once). rsync and tar set times and
//!   rename right after close; while the entry is still queued those land in the queue, where
//!   they cost nothing, instead of waiting for an upload that a worker took a moment earlier.
//!
//! Pure data structure: no I/O, no locks (the owner wraps it in one leaf mutex and never holds
//! it across network I/O); every change that must be made durable is returned to the caller.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::store::Record;

/// Where a pending entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Queued,
    InFlight,
    /// A permanent failure: the data stays in the spool; the message is returned by the next
    /// fsync/close of the path.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub record: Record,
    pub state: State,
    /// No version of the file is on the server (created by this mount, never uploaded): a
    /// rename acts on the queue alone. Not persisted: a resumed entry is never fresh.
    pub fresh: bool,
    /// When the close queued it; None: ready at once (resumed from the spool).
    pub queued_at: Option<Instant>,
}

/// The answer to an operation on a path that may be pending.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing pending there: apply the operation to the server as usual.
    NotPending,
    /// Done in the queue. The caller makes it durable: first rewrite `rewrite` (renamed path,
    /// recorded attributes), then remove the `cancelled` spool entries.
    Changed {
        rewrite: Vec<Record>,
        cancelled: Vec<u64>,
    },
    /// An upload of this path is in flight: wait for `finished`, then apply normally.
    Busy,
}

#[derive(Debug)]
pub(crate) struct Queue {
    entries: BTreeMap<u64, Pending>,
    next_seq: u64,
    /// How long a new entry stays queued before a worker takes it (0 unless the owner sets it).
    pub settle: Duration,
    /// Callers waiting at a barrier (fsync, an ordered operation, unmount): while any wait,
    /// entries are handed out without settling.
    pub hurry: usize,
    /// Transient failures so far of entries being retried (or failed for good): the count and
    /// the last message, for `ftpfs status`.
    retries: BTreeMap<u64, (u32, String)>,
}

impl Default for Queue {
    /// An empty queue; sequence numbers start at 1.
    fn default() -> Self {
        Queue::resume(Vec::new())
    }
}

impl Queue {
    /// A queue resuming `records` (from `Store::recover`), oldest first.
    pub(crate) fn resume(records: Vec<Record>) -> Queue {
        let next_seq = records.iter().map(|r| r.seq + 1).max().unwrap_or(1);
        let entries = records
            .into_iter()
            .map(|record| {
                let pending = Pending {
                    record,
                    state: State::Queued,
                    fresh: false,
                    queued_at: None,
                };
                (pending.record.seq, pending)
            })
            .collect();
        Queue {
            entries,
            next_seq,
            settle: Duration::ZERO,
            hurry: 0,
            retries: BTreeMap::new(),
        }
    }

    /// The sequence number for the next close (its record is built by the caller).
    pub(crate) fn allocate(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// A close committed `record` to the store. Returns the superseded queued entries of the
    /// same path (to remove from the store). A failed entry of the path is superseded too: the
    /// program has written newer content over it.
    pub(crate) fn push(&mut self, record: Record) -> Vec<u64> {
        let superseded: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, p)| p.record.path == record.path && p.state != State::InFlight)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in &superseded {
            self.entries.remove(seq);
            self.retries.remove(seq);
        }
        self.entries.insert(
            record.seq,
            Pending {
                record,
                state: State::Queued,
                fresh: false,
                queued_at: Some(Instant::now()),
            },
        );
        superseded
    }

    /// Mark `seq` fresh (see `Pending::fresh`).
    pub(crate) fn mark_fresh(&mut self, seq: u64) {
        if let Some(p) = self.entries.get_mut(&seq) {
            p.fresh = true;
        }
    }

    /// The oldest settled queued entry whose path has nothing in flight, now marked in flight.
    pub(crate) fn take_next(&mut self) -> Option<Record> {
        let now = Instant::now();
        let seq = self.entries.iter().find_map(|(&seq, p)| {
            let ready = p.state == State::Queued
                && self.ready_at(p).is_none_or(|at| at <= now)
                && !self.in_flight(&p.record.path);
            ready.then_some(seq)
        })?;
        let pending = self.entries.get_mut(&seq)?;
        pending.state = State::InFlight;
        Some(pending.record.clone())
    }

    /// When `p` has settled (None: now).
    fn ready_at(&self, p: &Pending) -> Option<Instant> {
        if self.hurry > 0 {
            return None;
        }
        p.queued_at.map(|at| at + self.settle)
    }

    /// When the next queued entry settles, for a worker that found nothing ready.
    pub(crate) fn next_ready_at(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter(|p| p.state == State::Queued)
            .filter_map(|p| self.ready_at(p))
            .min()
    }

    fn in_flight(&self, path: &Path) -> bool {
        self.entries
            .values()
            .any(|p| p.state == State::InFlight && p.record.path == path)
    }

    /// The upload of `seq` ended. Ok: the entry is gone (remove it from the store). Err: kept
    /// as failed, with the message for the next fsync/close.
    pub(crate) fn finished(&mut self, seq: u64, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.entries.remove(&seq);
                self.retries.remove(&seq);
            }
            Err(message) => {
                if let Some(p) = self.entries.get_mut(&seq) {
                    p.state = State::Failed(message);
                }
            }
        }
    }

    /// Attempt `attempt` of the upload of `seq` failed transiently with `message` (it is retried).
    pub(crate) fn note_retry(&mut self, seq: u64, attempt: u32, message: String) {
        self.retries.insert(seq, (attempt, message));
    }

    /// Transient failures of `seq` so far and the last message (for `ftpfs status`).
    pub(crate) fn retries_of(&self, seq: u64) -> Option<&(u32, String)> {
        self.retries.get(&seq)
    }

    /// Keep workers off the queued entry `seq` (marked in flight) while its rename is applied
    /// to the server; `requeue` lets them have it again.
    pub(crate) fn hold(&mut self, seq: u64) {
        if let Some(p) = self.entries.get_mut(&seq) {
            p.state = State::InFlight;
        }
    }

    /// A transient failure: back to the queue (the caller waits its backoff first).
    pub(crate) fn requeue(&mut self, seq: u64) {
        if let Some(p) = self.entries.get_mut(&seq) {
            p.state = State::Queued;
        }
    }

    /// Entries at `path` or below it (a renamed or removed directory moves its pending files).
    fn affected(&self, path: &Path) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(_, p)| p.record.path.starts_with(path))
            .map(|(&seq, _)| seq)
            .collect()
    }

    fn any_in_flight(&self, seqs: &[u64]) -> bool {
        seqs.iter()
            .any(|s| self.entries.get(s).map(|p| &p.state) == Some(&State::InFlight))
    }

    /// rename(from, to): pending entries at or under `from` move to `to`; queued entries
    /// already at `to` are replaced (rename replaces the target), their seqs cancelled.
    pub(crate) fn rename(&mut self, from: &Path, to: &Path) -> Outcome {
        let moving = self.affected(from);
        let replaced: Vec<u64> = self
            .affected(to)
            .into_iter()
            .filter(|s| !moving.contains(s))
            .collect();
        if moving.is_empty() && replaced.is_empty() {
            return Outcome::NotPending;
        }
        if self.any_in_flight(&moving) || self.any_in_flight(&replaced) {
            return Outcome::Busy;
        }
        for seq in &replaced {
            self.entries.remove(seq);
        }
        let mut rewrite = Vec::new();
        for seq in moving {
            if let Some(p) = self.entries.get_mut(&seq) {
                let rest = p.record.path.strip_prefix(from).unwrap_or(Path::new(""));
                p.record.path = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
                rewrite.push(p.record.clone());
            }
        }
        Outcome::Changed {
            rewrite,
            cancelled: replaced,
        }
    }

    /// unlink/rmdir: pending entries at or under `path` are cancelled.
    pub(crate) fn remove(&mut self, path: &Path) -> Outcome {
        let seqs = self.affected(path);
        if seqs.is_empty() {
            return Outcome::NotPending;
        }
        if self.any_in_flight(&seqs) {
            return Outcome::Busy;
        }
        for seq in &seqs {
            self.entries.remove(seq);
        }
        Outcome::Changed {
            rewrite: Vec::new(),
            cancelled: seqs,
        }
    }

    /// chmod/utimens of a pending file: recorded, applied after its upload.
    pub(crate) fn set_attributes(
        &mut self,
        path: &Path,
        mtime: Option<SystemTime>,
        mode: Option<u32>,
    ) -> Outcome {
        let Some(p) = self.entries.values_mut().find(|p| p.record.path == path) else {
            return Outcome::NotPending;
        };
        if p.state == State::InFlight {
            return Outcome::Busy;
        }
        p.record.mtime = mtime.or(p.record.mtime);
        p.record.mode = mode.or(p.record.mode);
        Outcome::Changed {
            rewrite: vec![p.record.clone()],
            cancelled: Vec::new(),
        }
    }

    /// The pending entry for `path` (reads and listings show its size), newest first.
    pub(crate) fn get(&self, path: &Path) -> Option<&Pending> {
        self.entries.values().rev().find(|p| p.record.path == path)
    }

    /// Everything pending (for unmount messages and `ftpfs status`), oldest first.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.entries.values()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of data held in the spool.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.entries.values().map(|p| p.record.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
        let Outcome::Changed { rewrite, cancelled } = q.rename(Path::new("/d"), Path::new("/e"))
        else {
            panic!("expected a change");
        };
        assert_eq!(rewrite.len(), 2);
        assert!(cancelled.is_empty());
        assert_eq!(paths(&q), ["/e/a", "/e/sub/b", "/dd/c"]);
    }

    #[test]
    fn a_new_entry_settles_before_upload_unless_a_barrier_waits() {
        let mut q = Queue::resume(vec![rec(1, "/resumed")]);
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
        let mut q = Queue::resume(vec![rec(4, "/a"), rec(9, "/b")]);
        assert_eq!(q.allocate(), 10);
        assert_eq!(q.take_next().map(|r| r.seq), Some(4));
        assert_eq!(Queue::resume(Vec::new()).allocate(), 1);
    }
}
