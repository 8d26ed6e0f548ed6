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
//!
//! # The per-path index
//! Almost every question asked of the queue is about one path or one subtree (is anything
//! pending at or below it, the newest version of it, is it in flight), once or several times
//! per file operation. Answering them by scanning every entry made each operation cost O(queue),
//! which a `tar -x` of many small files paid on every close while the queue was long. So the
//! queue keeps `by_path`, path -> its entries' sequence numbers (oldest first), updated by the
//! same few private functions that add, move and drop entries (`insert`, `take_out`,
//! `move_entry`): the queue is the one owner of both, so they cannot drift apart. It is a
//! `BTreeMap` ordered by path components rather than a hash map because paths are compared
//! component by component: everything at or below a path is one contiguous range after it,
//! so subtree questions (a rename or removal of a directory, `pending_below`) cost
//! O(log n + what is there) too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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
    /// Each path's entries (sequence numbers, ascending); see "The per-path index".
    by_path: BTreeMap<PathBuf, Vec<u64>>,
    /// The entries in state `Queued`, so hand-out looks at those only (not at uploads in
    /// flight or failed ones); kept by the same private functions as `by_path`.
    queued: BTreeSet<u64>,
    next_seq: u64,
    /// How long a new entry stays queued before a worker takes it (0 unless the owner sets it).
    pub settle: Duration,
    /// Callers waiting at a barrier (fsync, an ordered operation, unmount): while any wait,
    /// entries are handed out without settling.
    pub hurry: usize,
    /// The time an idle worker sleeps until, to take the entry that settles then (None: no
    /// worker keeps one). A close whose entry settles later needs no wake-up (`wake_for`);
    /// see `worker` for who sets and clears it.
    pub timer: Option<Instant>,
    /// Transient failures so far of entries being retried (or failed for good): the count and
    /// the last message, for `ftpfs status`.
    retries: BTreeMap<u64, (u32, String)>,
}

impl Default for Queue {
    /// An empty queue; sequence numbers start at 1.
    fn default() -> Self {
        Queue::resume(Vec::new(), 1)
    }
}

impl Queue {
    /// A queue resuming `records` (from `Store::recover`), oldest first, numbering new entries
    /// from `next_free_seq` (or above the records, if higher).
    pub(crate) fn resume(records: Vec<Record>, next_free_seq: u64) -> Queue {
        let above_records = records.iter().map(|r| r.seq + 1).max().unwrap_or(1);
        let next_seq = above_records.max(next_free_seq);
        let mut queue = Queue {
            entries: BTreeMap::new(),
            by_path: BTreeMap::new(),
            queued: BTreeSet::new(),
            next_seq,
            settle: Duration::ZERO,
            hurry: 0,
            timer: None,
            retries: BTreeMap::new(),
        };
        for record in records {
            queue.insert(Pending {
                record,
                state: State::Queued,
                fresh: false,
                queued_at: None,
            });
        }
        queue
    }

    /// Add an entry (and its place in the index).
    fn insert(&mut self, pending: Pending) {
        let seq = pending.record.seq;
        self.detach(seq); // never there: sequence numbers are not reused
        let seqs = self.by_path.entry(pending.record.path.clone()).or_default();
        let at = seqs.partition_point(|&s| s < seq);
        seqs.insert(at, seq);
        if pending.state == State::Queued {
            self.queued.insert(seq);
        }
        self.entries.insert(seq, pending);
    }

    /// Drop an entry (its place in the index and its retry notes too).
    fn take_out(&mut self, seq: u64) -> Option<Pending> {
        self.retries.remove(&seq);
        self.detach(seq)
    }

    /// Give entry `seq` the path `to` (rename), keeping everything else. Returns its record.
    fn move_entry(&mut self, seq: u64, to: PathBuf) -> Option<Record> {
        let mut pending = self.detach(seq)?;
        pending.record.path = to;
        let record = pending.record.clone();
        self.insert(pending);
        Some(record)
    }

    /// Remove entry `seq` from `entries` and the index.
    fn detach(&mut self, seq: u64) -> Option<Pending> {
        let pending = self.entries.remove(&seq)?;
        self.unindex(&pending.record.path, seq);
        self.queued.remove(&seq);
        Some(pending)
    }

    fn unindex(&mut self, path: &Path, seq: u64) {
        if let Some(seqs) = self.by_path.get_mut(path) {
            seqs.retain(|&s| s != seq);
            if seqs.is_empty() {
                self.by_path.remove(path);
            }
        }
    }

    /// Change the state of entry `seq` (keeping `queued` in step).
    fn set_state(&mut self, seq: u64, state: State) {
        let Some(p) = self.entries.get_mut(&seq) else {
            return;
        };
        if state == State::Queued {
            self.queued.insert(seq);
        } else {
            self.queued.remove(&seq);
        }
        p.state = state;
    }

    /// The entries exactly at `path`, oldest first.
    pub(crate) fn at<'a>(&'a self, path: &Path) -> impl Iterator<Item = &'a Pending> + 'a {
        let seqs = self
            .by_path
            .get(path)
            .map(Vec::as_slice)
            .unwrap_or_default();
        seqs.iter().filter_map(|seq| self.entries.get(seq))
    }

    /// The entries at `path` or below it, grouped by path (not oldest first; see
    /// `below_oldest_first`).
    pub(crate) fn below<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a Pending> + 'a {
        self.by_path
            .range::<Path, _>((std::ops::Bound::Included(path), std::ops::Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(path))
            .flat_map(|(_, seqs)| seqs.iter().filter_map(|seq| self.entries.get(seq)))
    }

    /// The entries at `path` or below it, oldest first.
    pub(crate) fn below_oldest_first<'a>(&'a self, path: &'a Path) -> Vec<&'a Pending> {
        let mut found: Vec<&Pending> = self.below(path).collect();
        found.sort_by_key(|p| p.record.seq);
        found
    }

    /// The entries directly in directory `dir` (not deeper), oldest first.
    pub(crate) fn children<'a>(&'a self, dir: &'a Path) -> Vec<&'a Pending> {
        let mut found: Vec<&Pending> = self
            .below(dir)
            .filter(|p| p.record.path.parent() == Some(dir))
            .collect();
        found.sort_by_key(|p| p.record.seq);
        found
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
            .at(&record.path)
            .filter(|p| p.state != State::InFlight)
            .map(|p| p.record.seq)
            .collect();
        for &seq in &superseded {
            self.take_out(seq);
        }
        self.insert(Pending {
            record,
            state: State::Queued,
            fresh: false,
            queued_at: Some(Instant::now()),
        });
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
        let seq = self.queued.iter().copied().find(|seq| {
            self.entries.get(seq).is_some_and(|p| {
                self.ready_at(p).is_none_or(|at| at <= now) && !self.in_flight(&p.record.path)
            })
        })?;
        self.set_state(seq, State::InFlight);
        Some(self.entries.get(&seq)?.record.clone())
    }

    /// Whether any entry waits for a worker.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Whether a worker must be woken for the entry `seq` just queued: no idle worker keeps a
    /// time (`timer`) at or before the one it settles at.
    pub(crate) fn wake_for(&self, seq: u64) -> bool {
        let Some(p) = self.entries.get(&seq) else {
            return false;
        };
        match (self.ready_at(p), self.timer) {
            (Some(at), Some(timer)) => timer > at,
            _ => true,
        }
    }

    /// When `p` has settled (None: now).
    fn ready_at(&self, p: &Pending) -> Option<Instant> {
        if self.hurry > 0 {
            return None;
        }
        p.queued_at.map(|at| at + self.settle)
    }

    /// When the next queued entry settles, for a worker that found nothing ready. Entries whose
    /// path has an upload in flight do not count: the worker of that upload takes them when it
    /// ends (counting them made idle workers spin once they had settled).
    ///
    /// The path of an entry is looked up (`in_flight`, component-wise path comparisons) only
    /// when its time would be the earliest so far: entries settle in about the order they were
    /// queued, so that is the first few, not every queued entry (1,000 lookups per idle worker
    /// wake-up during a `tar -x` showed in its profile).
    pub(crate) fn next_ready_at(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for p in self.queued.iter().filter_map(|seq| self.entries.get(seq)) {
            if let Some(at) = self.ready_at(p)
                && next.is_none_or(|next| at < next)
                && !self.in_flight(&p.record.path)
            {
                next = Some(at);
            }
        }
        next
    }

    fn in_flight(&self, path: &Path) -> bool {
        self.at(path).any(|p| p.state == State::InFlight)
    }

    /// The upload of `seq` ended. Ok: the entry is gone (the caller removed it from the
    /// store). Err: kept as failed, with the message for the next fsync/close, unless a newer
    /// version of the path is pending (closed while this one was in flight): what the program
    /// wrote last is that one, so the failed one is dropped, as `push` drops a failed entry.
    /// Kept, it would be uploaded again by the next mount, over the newer version. (So an Ok
    /// never leaves an older failed version behind.) Returns the entries dropped here, for the
    /// caller to remove from the store before it lets go of the queue (so no crash can leave
    /// one to be resumed after the newer upload).
    pub(crate) fn finished(&mut self, seq: u64, result: Result<(), String>) -> Vec<u64> {
        let Some(path) = self.entries.get(&seq).map(|p| p.record.path.clone()) else {
            return Vec::new();
        };
        match result {
            Ok(()) => {
                self.take_out(seq);
                Vec::new()
            }
            Err(_) if self.at(&path).any(|p| p.record.seq > seq) => {
                self.take_out(seq);
                vec![seq]
            }
            Err(message) => {
                self.set_state(seq, State::Failed(message));
                Vec::new()
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
        self.set_state(seq, State::InFlight);
    }

    /// A transient failure: back to the queue (the caller waits its backoff first).
    pub(crate) fn requeue(&mut self, seq: u64) {
        self.set_state(seq, State::Queued);
    }

    /// Entries at `path` or below it (a renamed or removed directory moves its pending files).
    fn affected(&self, path: &Path) -> Vec<u64> {
        let below = self.below_oldest_first(path).into_iter();
        below.map(|p| p.record.seq).collect()
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
        for &seq in &replaced {
            self.take_out(seq);
        }
        let mut rewrite = Vec::new();
        for seq in moving {
            let Some(p) = self.entries.get(&seq) else {
                continue;
            };
            let rest = p.record.path.strip_prefix(from).unwrap_or(Path::new(""));
            let new = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            rewrite.extend(self.move_entry(seq, new));
        }
        Outcome::Changed {
            rewrite,
            cancelled: replaced,
        }
    }

    /// Entry `seq` alone goes (back) to `to`: a held entry whose server rename was refused.
    /// Entries closed at its held name meanwhile stay there. Returns its record to rewrite.
    pub(crate) fn move_back(&mut self, seq: u64, to: &Path) -> Option<Record> {
        self.move_entry(seq, to.to_path_buf())
    }

    /// Entry `seq` alone is cancelled (a held entry whose server copy was deleted; a close at
    /// its path meanwhile is newer data and stays).
    pub(crate) fn cancel(&mut self, seq: u64) -> Outcome {
        match self.take_out(seq) {
            Some(_) => Outcome::Changed {
                rewrite: Vec::new(),
                cancelled: vec![seq],
            },
            None => Outcome::NotPending,
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
        for &seq in &seqs {
            self.take_out(seq);
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
        // Recorded on the newest version (the one the server ends with); while any version
        // is in flight, the change waits for it (recorded on an older one, it would be lost
        // when a newer one uploads after it; on a newer one, applied before the older lands).
        if self.in_flight(path) {
            return Outcome::Busy;
        }
        let newest = self.get(path).map(|p| p.record.seq);
        let Some(p) = newest.and_then(|seq| self.entries.get_mut(&seq)) else {
            return Outcome::NotPending;
        };
        p.record.mtime = mtime.or(p.record.mtime);
        p.record.mode = mode.or(p.record.mode);
        Outcome::Changed {
            rewrite: vec![p.record.clone()],
            cancelled: Vec::new(),
        }
    }

    /// The pending entry for `path` (reads and listings show its size), newest first.
    pub(crate) fn get(&self, path: &Path) -> Option<&Pending> {
        let newest = self.by_path.get(path)?.last()?;
        self.entries.get(newest)
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
#[path = "queue_tests.rs"]
mod tests;
