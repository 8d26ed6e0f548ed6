//! The write-back engine: store + queue + budget + uploader workers, with the barriers.
//!
//! The upload itself is a closure given by the filesystem (the same upload function close uses,
//! so write-back inherits atomic uploads), which keeps this module free of the fs core and
//! testable on its own.
//!
//! # Lock order
//! One leaf mutex (`queue`) with two condvars, never held across I/O: `changed` for callers
//! waiting at a barrier (told of every upload that ends), `work` for idle workers (told only
//! when an entry may be taken sooner than a worker already waits for: see `worker`). Spool files are
//! written and uploads run with it released. `budget` has its own leaf lock, never taken while
//! `queue` is held.
//!
//! Known limitation: `close` reserves room before a queued older version of the same path is
//! superseded, so rewriting a pending file while the spool is full waits for other uploads
//! (or times out) although superseding would free room.
//!
//! The uploader threads themselves live in `worker`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::budget::{Budget, Reserve};
use super::journal::Location;
use super::queue::{Outcome, Queue, State};
use super::store::{Record, Store};
use crate::fs::FsError;

/// Why an upload failed; `transient` failures are retried (see `retry::is_transient`).
#[derive(Clone, Debug)]
pub(crate) struct UploadFailure {
    pub transient: bool,
    pub message: String,
}

/// Upload the spooled data (second argument) to `record.path`, then apply its recorded
/// attributes.
pub(crate) type Uploader = dyn Fn(&Record, &Location) -> Result<(), UploadFailure> + Send + Sync;

/// What the engine and its workers (`worker`) share.
pub(super) struct Shared {
    pub(super) store: Store,
    pub(super) queue: Mutex<Queue>,
    pub(super) changed: Condvar,
    /// Idle workers wait here (see `worker` for when they are woken).
    pub(super) work: Condvar,
    pub(super) budget: Budget,
    pub(super) stop: AtomicBool,
    pub(super) upload: Box<Uploader>,
    pub(super) backoff: fn(u32) -> Duration,
    /// Told the path of each upload that ended (done or failed for good), queue unlocked.
    pub(super) ended: std::sync::OnceLock<Box<UploadEnded>>,
}

impl Shared {
    /// Remove cancelled/superseded entries from the store and give their room back.
    pub(super) fn forget(&self, seqs: &[u64]) {
        for &seq in seqs {
            let size = self.store.location(seq).map_or(0, |data| data.len);
            if let Err(err) = self.store.remove(seq) {
                log::warn!("write-back spool: cannot remove entry {seq}: {err}");
            }
            self.budget.release(size);
        }
    }
}

/// See `Engine::on_upload_ended`.
pub(crate) type UploadEnded = dyn Fn(&Path) + Send + Sync;

pub(crate) struct Engine {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// The spool's lock file, flock'd while this engine lives (the kernel drops it on kill -9).
    _lock: std::fs::File,
}

/// Transient failures of one upload retried before it counts as permanent (about five minutes
/// of backoff): a reply we misclassify as transient must still end up reported.
pub(crate) const MAX_RETRIES: u32 = 10;

/// How long a closed file stays queued before its upload starts, unless a barrier waits (see
/// `Queue::settle`): long enough for the utimens, chmod and rename that rsync and tar send
/// right after close (each a few round trips at most) to find it still queued.
const SETTLE: Duration = Duration::from_millis(200);

impl Engine {
    /// Open the spool at `dir`, resume what a previous mount left there and start `workers`
    /// uploaders. `recovered` sees each resumed record before any worker runs (the filesystem
    /// shows them as pending). Returns the records that could not be read (left in place).
    pub(crate) fn start(
        dir: &Path,
        spool_size: u64,
        workers: usize,
        upload: Box<Uploader>,
        backoff: fn(u32) -> Duration,
        recovered: &dyn Fn(&Record),
    ) -> io::Result<(Engine, Vec<(PathBuf, String)>)> {
        let store = Store::open(dir)?;
        let lock = super::store::lock(dir)?;
        let found = store.recover()?;
        let used = Store::bytes(&found.records);
        found.records.iter().for_each(recovered);
        let mut queue = Queue::resume(found.records, found.next_free_seq);
        queue.settle = SETTLE;
        let shared = Arc::new(Shared {
            store,
            queue: Mutex::new(queue),
            changed: Condvar::new(),
            work: Condvar::new(),
            budget: Budget::new(spool_size, used),
            stop: AtomicBool::new(false),
            upload,
            backoff,
            ended: std::sync::OnceLock::new(),
        });
        let workers = super::worker::spawn(&shared, workers)?;
        let engine = Engine {
            shared,
            workers: Mutex::new(workers),
            _lock: lock,
        };
        Ok((engine, found.unreadable))
    }

    /// close in write-back mode: make `size` bytes of `source` durable for `path`, with the
    /// attributes to apply after the upload. `Some(n)`: queued, superseding `n` older entries of
    /// the path. `None`: the file is larger than the whole spool; upload it as without
    /// write-back.
    pub(crate) fn close(
        &self,
        path: &Path,
        size: u64,
        source: &mut impl io::Read,
        attributes: (Option<std::time::SystemTime>, Option<u32>),
        fresh: bool,
        timeout: Duration,
    ) -> Result<Option<usize>, FsError> {
        let shared = &self.shared;
        match shared.budget.reserve(size, timeout) {
            Reserve::Granted => {}
            Reserve::TooLarge => return Ok(None),
            Reserve::TimedOut => {
                return Err(FsError::new(
                    libc::EIO,
                    format!("{}: the write-back spool stayed full", path.display()),
                ));
            }
        }
        let record = Record {
            seq: shared.queue.lock().allocate(),
            path: path.to_path_buf(),
            size,
            mtime: attributes.0,
            mode: attributes.1,
        };
        if let Err(err) = shared.store.commit(&record, source) {
            shared.budget.release(size);
            return Err(FsError::io(format!("spool {}", path.display()), &err));
        }
        let seq = record.seq;
        let superseded = {
            let mut queue = shared.queue.lock();
            let superseded = queue.push(record);
            if fresh {
                queue.mark_fresh(seq);
            }
            // Waking every worker on every close cost more CPU than the close itself in a
            // `tar -x`: only when no idle worker already waits for an earlier time.
            if queue.wake_for(seq) {
                shared.work.notify_one();
            }
            superseded
        };
        self.forget(&superseded);
        shared.changed.notify_all();
        Ok(Some(superseded.len()))
    }

    fn forget(&self, seqs: &[u64]) {
        self.shared.forget(seqs);
    }

    /// fsync barrier: wait until nothing is pending for `path`; a permanent failure of its
    /// upload is returned (the data stays in the spool).
    pub(crate) fn wait(&self, path: &Path, timeout: Duration) -> Result<(), FsError> {
        self.wait_until(path, timeout, |queue| {
            match queue.get(path).map(|p| &p.state) {
                None => Some(Ok(())),
                Some(State::Failed(message)) => Some(Err(failed(path, message))),
                Some(_) => None,
            }
        })
    }

    /// Ordering: wait until no upload is queued or in flight for `path` or anything below it
    /// (failed entries do not count: nothing will happen to them any more).
    pub(crate) fn wait_settled(&self, path: &Path, timeout: Duration) -> Result<(), FsError> {
        self.wait_until(path, timeout, |queue| {
            let busy = queue
                .below(path)
                .any(|p| !matches!(p.state, State::Failed(_)));
            (!busy).then_some(Ok(()))
        })
    }

    /// Wait (bounded) until `done` answers; ETIMEDOUT naming `path` otherwise.
    fn wait_until(
        &self,
        path: &Path,
        timeout: Duration,
        done: impl Fn(&Queue) -> Option<Result<(), FsError>>,
    ) -> Result<(), FsError> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.queue.lock();
        // Nothing to wait for (tar's fchown/fchmod of a file not queued yet): no barrier, so
        // the queue keeps settling instead of every such call sending all of it out at once.
        if let Some(result) = done(&queue) {
            return result;
        }
        // A barrier: what is queued goes out now, without settling.
        queue.hurry += 1;
        self.shared.work.notify_all();
        let result = loop {
            if let Some(result) = done(&queue) {
                break result;
            }
            if self.shared.stop.load(Ordering::SeqCst) {
                break Err(FsError::new(
                    libc::EIO,
                    format!("{}: upload pending at unmount", path.display()),
                ));
            }
            if self
                .shared
                .changed
                .wait_until(&mut queue, deadline)
                .timed_out()
            {
                break Err(FsError::new(
                    libc::ETIMEDOUT,
                    format!("{}: upload still pending", path.display()),
                ));
            }
        };
        queue.hurry -= 1;
        result
    }

    /// Where the spooled data of the newest pending version of `path` (queued, in flight or
    /// failed) is, for reads that must see it. Its file may vanish once its upload ends: the
    /// caller opens it and, if gone, acts as if nothing were pending.
    pub(crate) fn pending_data(&self, path: &Path) -> Option<Location> {
        let queue = self.shared.queue.lock();
        let pending = queue.get(path)?;
        self.shared.store.location(pending.record.seq)
    }

    /// Every permanent failure at or below `under`: the path and the upload's message.
    pub(crate) fn failures(&self, under: &Path) -> Vec<(PathBuf, String)> {
        let queue = self.shared.queue.lock();
        queue
            .below_oldest_first(under)
            .into_iter()
            .filter_map(|p| match &p.state {
                State::Failed(message) => Some((p.record.path.clone(), message.clone())),
                _ => None,
            })
            .collect()
    }

    /// The permanent failure recorded for `path`, if any (returned by close and fsync).
    pub(crate) fn failure(&self, path: &Path) -> Option<FsError> {
        match &self.shared.queue.lock().get(path)?.state {
            State::Failed(message) => Some(failed(path, message)),
            _ => None,
        }
    }

    /// chmod/utimens of a file whose upload is queued: recorded durably in its entry and
    /// applied after the upload. False: nothing queued there, or its upload is in flight (then
    /// the caller waits and acts on the server). The record is rewritten under the queue lock,
    /// so no worker takes (and finishes) the entry before its record says the same.
    pub(crate) fn set_attributes(
        &self,
        path: &Path,
        mtime: Option<std::time::SystemTime>,
        mode: Option<u32>,
    ) -> Result<bool, FsError> {
        let mut queue = self.shared.queue.lock();
        let Outcome::Changed { rewrite, .. } = queue.set_attributes(path, mtime, mode) else {
            return Ok(false);
        };
        for record in &rewrite {
            self.shared.store.write_record(record).map_err(|err| {
                FsError::io(format!("record attributes of {}", path.display()), &err)
            })?;
        }
        Ok(true)
    }

    /// rename(from, to) of a file that exists only in the spool (one fresh queued entry at
    /// `from`, nothing below it): done in the queue alone, durably, under the queue lock so no
    /// worker takes the entry meanwhile. None: not such a file (or an upload at `to` is in
    /// flight); the caller waits and renames on the server. Some: the paths of entries at `to`
    /// the rename replaced.
    pub(crate) fn rename_fresh(
        &self,
        from: &Path,
        to: &Path,
    ) -> Result<Option<Vec<PathBuf>>, FsError> {
        let mut queue = self.shared.queue.lock();
        let only = {
            let mut under = queue.below(from);
            match (under.next(), under.next()) {
                (Some(p), None) => p.record.path == from && p.fresh && p.state == State::Queued,
                _ => false,
            }
        };
        if !only {
            return Ok(None);
        }
        let replaced: Vec<(u64, PathBuf)> = queue
            .below_oldest_first(to)
            .into_iter()
            .map(|p| (p.record.seq, p.record.path.clone()))
            .collect();
        let Outcome::Changed { rewrite, cancelled } = queue.rename(from, to) else {
            return Ok(None);
        };
        for record in &rewrite {
            self.shared.store.write_record(record).map_err(|err| {
                FsError::io(format!("record the rename to {}", to.display()), &err)
            })?;
        }
        drop(queue); // `forget` takes the budget lock, never while the queue is held
        self.forget(&cancelled);
        self.shared.changed.notify_all();
        Ok(Some(
            replaced
                .into_iter()
                .filter(|(seq, _)| cancelled.contains(seq))
                .map(|(_, path)| path)
                .collect(),
        ))
    }

    /// rename(from, to) of a file whose upload is queued and whose older version may be on the
    /// server: the entry moves to `to` now (durably) and is held (no worker takes it) while the
    /// caller renames the server's copy, so the upload follows that rename. Then `release`
    /// (renamed) or `unhold` (the server refused: back to `from`). None: not such a file (one
    /// queued entry exactly at `from`, nothing pending at or below `to`).
    pub(crate) fn hold_renamed(&self, from: &Path, to: &Path) -> Result<Option<u64>, FsError> {
        let mut queue = self.shared.queue.lock();
        let Some(seq) = only_queued(&queue, from) else {
            return Ok(None);
        };
        if queue.below(to).next().is_some() {
            return Ok(None);
        }
        let Outcome::Changed { rewrite, .. } = queue.rename(from, to) else {
            return Ok(None);
        };
        queue.hold(seq);
        for record in &rewrite {
            if let Err(err) = self.shared.store.write_record(record) {
                queue.requeue(seq);
                queue.rename(to, from);
                return Err(FsError::io(
                    format!("record the rename to {}", to.display()),
                    &err,
                ));
            }
        }
        Ok(Some(seq))
    }

    /// unlink of a file whose upload is queued: held (no worker takes it) while the caller
    /// deletes the server's copy; then `cancel_held`, or `release` if the server refused.
    /// None: not one queued entry exactly at `path` with nothing below it.
    pub(crate) fn hold_removed(&self, path: &Path) -> Option<u64> {
        let mut queue = self.shared.queue.lock();
        let seq = only_queued(&queue, path)?;
        queue.hold(seq);
        Some(seq)
    }

    /// The server's copy of the held entry `seq` at `path` is gone: cancel that entry (a
    /// close at `path` while the server deleted it is newer data and stays). Returns the
    /// paths of the cancelled entries.
    pub(crate) fn cancel_held(&self, seq: u64, path: &Path) -> Vec<PathBuf> {
        let paths = self.paths_of(path);
        let outcome = self.shared.queue.lock().cancel(seq);
        self.apply(outcome, paths)
    }

    /// The held entry `seq` (see `hold_renamed`) may be uploaded again.
    pub(crate) fn release(&self, seq: u64) {
        self.shared.queue.lock().requeue(seq);
        self.shared.work.notify_one();
        self.shared.changed.notify_all();
    }

    /// The server refused the rename of the held entry `seq`: back to `from`, released.
    pub(crate) fn unhold(&self, seq: u64, from: &Path) {
        let mut queue = self.shared.queue.lock();
        queue.requeue(seq);
        // That entry alone: a close at `to` meanwhile (another handle) stays at `to`.
        if let Some(record) = queue.move_back(seq, from)
            && let Err(err) = self.shared.store.write_record(&record)
        {
            log::error!(
                "write-back spool: cannot record the name {} again: {err}",
                from.display()
            );
        }
        drop(queue);
        self.shared.work.notify_one();
        self.shared.changed.notify_all();
    }

    /// The server renamed `from` to `to`: entries still in the spool there (failed ones, or a
    /// close that raced the rename) follow, durably. Returns the paths of entries the rename
    /// replaced (cancelled).
    pub(crate) fn renamed(&self, from: &Path, to: &Path) -> Vec<PathBuf> {
        let paths = self.paths_of(to);
        let outcome = self.shared.queue.lock().rename(from, to);
        self.apply(outcome, paths)
    }

    /// The server removed `path`: entries at or below it are cancelled. Returns their paths.
    pub(crate) fn removed(&self, path: &Path) -> Vec<PathBuf> {
        let paths = self.paths_of(path);
        let outcome = self.shared.queue.lock().remove(path);
        self.apply(outcome, paths)
    }

    fn paths_of(&self, under: &Path) -> Vec<(u64, PathBuf)> {
        let queue = self.shared.queue.lock();
        queue
            .below_oldest_first(under)
            .into_iter()
            .map(|p| (p.record.seq, p.record.path.clone()))
            .collect()
    }

    /// Make a queue change durable; the paths of the cancelled entries (from `before`).
    fn apply(&self, outcome: Outcome, before: Vec<(u64, PathBuf)>) -> Vec<PathBuf> {
        let Outcome::Changed { rewrite, cancelled } = outcome else {
            return Vec::new();
        };
        for record in &rewrite {
            if let Err(err) = self.shared.store.write_record(record) {
                log::error!(
                    "write-back spool: cannot record the new name {}: {err}",
                    record.path.display()
                );
            }
        }
        self.forget(&cancelled);
        self.shared.changed.notify_all();
        before
            .into_iter()
            .filter(|(seq, _)| cancelled.contains(seq))
            .map(|(_, path)| path)
            .collect()
    }

    /// Unmount/SIGTERM: wait up to `timeout` for the queue to empty (failed entries do not
    /// count as waitable), stop the workers, and return the paths left in the spool.
    pub(crate) fn drain(&self, timeout: Duration) -> Vec<PathBuf> {
        let deadline = Instant::now() + timeout;
        if !self.shared.stop.load(Ordering::SeqCst) {
            let mut queue = self.shared.queue.lock();
            // Unmount: everything goes out now (the count stays up: no later wait settles).
            queue.hurry += 1;
            self.shared.work.notify_all();
            while queue
                .pending()
                .any(|p| !matches!(p.state, State::Failed(_)))
            {
                if self
                    .shared
                    .changed
                    .wait_until(&mut queue, deadline)
                    .timed_out()
                {
                    break;
                }
            }
        }
        self.stop_workers();
        self.shared.store.close();
        let left: Vec<PathBuf> = self
            .shared
            .queue
            .lock()
            .pending()
            .map(|p| p.record.path.clone())
            .collect();
        left
    }

    fn stop_workers(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.work.notify_all();
        self.shared.changed.notify_all();
        let workers = std::mem::take(&mut *self.workers.lock());
        let me = std::thread::current().id();
        // A worker may drop the last reference to the filesystem owning us: never join itself.
        for worker in workers.into_iter().filter(|w| w.thread().id() != me) {
            let _ = worker.join();
        }
    }

    /// Call `hook` with the path of every upload that ends from now on (uploaded, or failed
    /// for good), after the queue shows it ended. Only the first hook is kept.
    pub(crate) fn on_upload_ended(&self, hook: Box<UploadEnded>) {
        if self.shared.ended.set(hook).is_err() {
            log::warn!("write-back: a second upload-ended hook was ignored");
        }
    }

    /// Whether an upload of anything below directory `dir` is queued or in flight (failed
    /// entries do not count: nothing will happen to them any more).
    pub(crate) fn pending_below(&self, dir: &Path) -> bool {
        let queue = self.shared.queue.lock();
        queue
            .below(dir)
            .any(|p| p.record.path != dir && !matches!(p.state, State::Failed(_)))
    }

    /// The queue, for status and tests.
    pub(crate) fn with_queue<T>(&self, f: impl FnOnce(&mut Queue) -> T) -> T {
        f(&mut self.shared.queue.lock())
    }
}

/// The one entry at or below `path`, when it is exactly at `path` and queued (not running).
fn only_queued(queue: &Queue, path: &Path) -> Option<u64> {
    let mut under = queue.below(path);
    match (under.next(), under.next()) {
        (Some(p), None) if p.record.path == path && p.state == State::Queued => Some(p.record.seq),
        _ => None,
    }
}

fn failed(path: &Path, message: &str) -> FsError {
    FsError::new(
        libc::EIO,
        format!("{}: upload after close failed: {message}", path.display()),
    )
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
