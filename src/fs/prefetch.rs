//! Listing ahead: when a directory is read, its subdirectories are listed in the background.
//!
//! Why: a tree walk (`find`, `du`, `rsync` of a remote tree, a backup's scan) reads one
//! directory at a time and waits for each listing. Over a WAN each listing costs several round
//! trips (EPSV, the data connection, LIST/MLSD and its replies), so 100 directories at 50 ms RTT
//! take 20 s walked one by one. Listing the subdirectories of a directory as soon as it is read,
//! on connections nobody else needs, turns the walk into a few parallel waves.
//!
//! Rules (what the rest of the filesystem can rely on):
//! - Never delays a request the kernel is waiting for: a listing ahead only runs on a
//!   connection the remote calls spare ([`Remote::list_ahead`]: the FTP pool keeps at least one
//!   connection free for real requests). No spare connection: the job is put back and the
//!   worker tries again shortly (a request gives its connection back soon), and stops after
//!   about a second of that (transfers hold the pool); the next directory read starts workers
//!   again.
//! - Bounded: at most [`MAX_WORKERS`] threads, a queue of at most [`MAX_QUEUED`] directories,
//!   and a queued job older than [`JOB_MAX_AGE`] is dropped (the walk went elsewhere). Workers
//!   exit when the queue is empty, so an idle mount runs no prefetch thread.
//! - Depth first, like the walks it serves: the subdirectories of the directory read last go to
//!   the front of the queue; the oldest jobs fall off the back when it is full.
//! - A listing ahead is shown like any listing: it goes through `FsCore::accept_listing`, the
//!   one path of a fresh listing (upload temporaries hidden, queued write-back names added).
//! - Freshness is the listing cache's: a result is inserted with the cache generation read
//!   before the remote call, so a listing that started before one of our own mutations of that
//!   directory is dropped (`Namespace::listed`), and it ages out after `--dir-cache-ttl` like
//!   any other listing. Errors of a listing ahead are only logged (debug): the kernel asked for
//!   nothing, and a real request for the directory lists it again and reports the error.
//! - How: [`Remote::list_ahead`] is told whether the parent's listing shows the subdirectory
//!   small ([`SMALL_DIR_BYTES`]): a small one may be listed a cheaper way (FTP: `STAT dir`, one
//!   round trip on LIST-only servers). The directory the kernel waits for is always listed the
//!   usual way (its size may be anything).
//! - What is listed ahead: the subdirectories of a directory read for the first time since it
//!   was listed (an `opendir` that had to list it, or the first `opendir` of a listing made
//!   ahead: so a walk stays a level or two ahead of `find`), and a directory that a lookup
//!   found in a parent it had to list (the path walk of `ls -l dir` or `cd a/b/c` lists it
//!   next).
//! - A request for a directory whose listing ahead is already sent waits for it instead of
//!   sending a second one (bounded by [`WAIT_LIMIT`], then it lists by itself). A request for a
//!   directory that is only queued, or whose listing ahead still waits for a connection to be
//!   opened, cancels that job and lists at once on its own connection: a request never waits
//!   behind a login.
//!
//! Locking: one mutex (`State`), a leaf lock: never held across the remote call or while
//! taking another lock. The workers call back into the filesystem through a `Weak`, so they do
//! not keep an unmounted filesystem alive.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::FsCore;
use crate::remote::{Entry, EntryKind};

/// Most listings ahead in flight (the remote's spare connections bound it further).
pub(super) const MAX_WORKERS: usize = 8;
/// Most directories waiting to be listed ahead.
pub(super) const MAX_QUEUED: usize = 512;
/// A job not started within this is dropped: the walk has moved on or never came.
pub(super) const JOB_MAX_AGE: Duration = Duration::from_secs(10);
/// Longest a request waits for a listing ahead of the same directory before listing itself.
pub(super) const WAIT_LIMIT: Duration = Duration::from_secs(30);
/// A subdirectory whose size in its parent's listing is at most this is listed ahead as a
/// small one ([`crate::remote::Remote::list_ahead`] with `small`: by `STAT` over the control
/// connection on LIST-only FTP servers). A directory's size is its on-disk size: ext4 4 KiB
/// per block (about 100-200 entries), tmpfs 20 bytes per entry; 32 KiB stays far below the
/// 256 KiB a control-connection reply may have. Only a hint: on ZFS and btrfs the size is
/// the entry count, so a huge directory passes; its too-long `STAT` reply then costs one
/// connection and ends `STAT` listings for the session (`ftp::stat_listing`).
pub(super) const SMALL_DIR_BYTES: u64 = 32 * 1024;
/// A worker with an empty queue waits this long for new work before it exits.
const WORKER_LINGER: Duration = Duration::from_millis(200);
/// A worker that found no spare connection tries again after this long (a request or another
/// listing is about to give one back)...
const NO_SPARE_RETRY: Duration = Duration::from_millis(25);
/// ...this many times in a row, then exits (the pool is busy with transfers).
const NO_SPARE_TRIES: u32 = 40;

/// What one attempt to list a directory ahead came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ahead {
    /// Listed and cached.
    Listed,
    /// No longer needed: fresh in the cache already, cancelled, or failed (logged).
    Done,
    /// No spare connection now: try again later.
    NoSpare,
}

#[derive(Default)]
struct State {
    /// (directory, small, queued at), the next to list first.
    queue: VecDeque<(PathBuf, bool, Instant)>,
    /// Taken from the queue, waiting for a spare connection; a request removes its directory
    /// from here to cancel the job.
    connecting: HashSet<PathBuf>,
    /// Listings ahead sent to the server: a request for one of these waits for it.
    in_flight: HashSet<PathBuf>,
    /// Listed ahead and not read yet: reading one is a cold read for `subdirectories_of`.
    listed: HashSet<PathBuf>,
    workers: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or a listing ahead ends.
    changed: Condvar,
    fs: Weak<FsCore>,
}

/// The listing-ahead queue and its workers; owned by the `FsCore`.
pub(super) struct Prefetcher {
    shared: Arc<Shared>,
}

impl Prefetcher {
    pub(super) fn new(fs: Weak<FsCore>) -> Self {
        Prefetcher {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                fs,
            }),
        }
    }

    /// Whether `dir` was listed ahead and not read since (forgets it: true once).
    pub(super) fn take_listed(&self, dir: &Path) -> bool {
        self.shared.state.lock().listed.remove(dir)
    }

    /// `dir` is read for the first time since it was listed and holds `entries`: queue its
    /// subdirectories.
    pub(super) fn subdirectories_of(&self, dir: &Path, entries: &[Entry]) {
        let subdirectories = entries
            .iter()
            .filter(|entry| entry.kind == EntryKind::Dir)
            .map(|entry| {
                let small = entry.size.is_some_and(|size| size <= SMALL_DIR_BYTES);
                (dir.join(&entry.name), small)
            });
        self.queue(subdirectories.collect());
    }

    /// A lookup found the directory `path` in a listing it had to fetch: queue it.
    pub(super) fn directory(&self, path: &Path) {
        self.queue(vec![(path.to_path_buf(), false)]);
    }

    /// Puts `dirs` at the front of the queue, in this order, and starts workers for them.
    fn queue(&self, dirs: Vec<(PathBuf, bool)>) {
        if dirs.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut state = self.shared.state.lock();
        for (path, small) in dirs.into_iter().rev() {
            if state.in_flight.contains(&path) || state.connecting.contains(&path) {
                continue;
            }
            if let Some(at) = state.queue.iter().position(|(queued, ..)| *queued == path) {
                state.queue.remove(at);
            }
            state.queue.push_front((path, small, now));
        }
        state.queue.truncate(MAX_QUEUED);
        let wanted = state.queue.len().min(MAX_WORKERS);
        let to_start = wanted.saturating_sub(state.workers);
        state.workers += to_start;
        drop(state);
        for _ in 0..to_start {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("ftpfs-list-ahead".into())
                .spawn(move || work(&shared));
            if let Err(err) = spawned {
                log::debug!("could not start a list-ahead worker: {err}");
                self.shared.state.lock().workers -= 1;
            }
        }
        self.shared.changed.notify_all();
    }

    /// A request needs the listing of `dir` and the cache has none: cancel a queued or
    /// connecting job for it, or wait (bounded) for its listing ahead already sent. Returns
    /// whether it waited, i.e. whether the cache is worth a second look.
    pub(super) fn claim(&self, dir: &Path) -> bool {
        let mut state = self.shared.state.lock();
        if let Some(at) = state.queue.iter().position(|(queued, ..)| queued == dir) {
            state.queue.remove(at);
        }
        state.connecting.remove(dir);
        if !state.in_flight.contains(dir) {
            return false;
        }
        let deadline = Instant::now() + WAIT_LIMIT;
        while state.in_flight.contains(dir) {
            if self
                .shared
                .changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                log::debug!("gave up waiting for the listing ahead of {}", dir.display());
                break;
            }
        }
        true
    }

    /// Whether every worker has stopped (tests).
    #[cfg(test)]
    pub(super) fn stopped(&self) -> bool {
        self.shared.state.lock().workers == 0
    }

    /// Jobs queued and listings ahead taken from the queue (tests, diagnostics).
    #[cfg(test)]
    pub(super) fn pending(&self) -> (usize, usize) {
        let state = self.shared.state.lock();
        (
            state.queue.len(),
            state.connecting.len() + state.in_flight.len(),
        )
    }
}

/// A worker: lists queued directories until the queue stays empty for a moment or no
/// connection is spare.
fn work(shared: &Shared) {
    let mut no_spare = 0;
    loop {
        let mut state = shared.state.lock();
        let job = loop {
            let now = Instant::now();
            state
                .queue
                .retain(|(.., queued_at)| now.duration_since(*queued_at) < JOB_MAX_AGE);
            if let Some(job) = state.queue.pop_front() {
                break Some(job);
            }
            if shared
                .changed
                .wait_for(&mut state, WORKER_LINGER)
                .timed_out()
                && state.queue.is_empty()
            {
                break None;
            }
        };
        let Some((dir, small, queued_at)) = job else {
            state.workers -= 1;
            return;
        };
        state.connecting.insert(dir.clone());
        drop(state);

        // Called by the remote once a connection is ready: still wanted?
        let mut starting = || {
            let mut state = shared.state.lock();
            let wanted = state.connecting.remove(&dir);
            if wanted {
                state.in_flight.insert(dir.clone());
            }
            wanted
        };
        let outcome = match shared.fs.upgrade() {
            Some(fs) => fs.list_ahead(&dir, small, &mut starting),
            None => Ahead::NoSpare, // unmounted: stop
        };

        let mut state = shared.state.lock();
        // Still there when no connection was spare, unless a request cancelled the job.
        let wanted = state.connecting.remove(&dir);
        state.in_flight.remove(&dir);
        shared.changed.notify_all();
        if outcome == Ahead::NoSpare {
            if wanted {
                state.queue.push_front((dir, small, queued_at));
            }
            no_spare += 1;
            if no_spare >= NO_SPARE_TRIES {
                state.workers -= 1;
                return;
            }
            shared.changed.wait_for(&mut state, NO_SPARE_RETRY);
            continue;
        }
        no_spare = 0;
        if outcome == Ahead::Listed {
            if state.listed.len() >= MAX_QUEUED {
                state.listed.clear(); // only a hint: forgetting costs a walk some speed
            }
            state.listed.insert(dir);
        }
    }
}

impl FsCore {
    /// One listing ahead of `dir`, on a spare connection only; see the module doc.
    pub(super) fn list_ahead(
        &self,
        dir: &Path,
        small: bool,
        starting: &mut dyn FnMut() -> bool,
    ) -> Ahead {
        if self.namespace.cached_listing(dir).is_some() {
            return Ahead::Done;
        }
        let generation = self.namespace.listing_generation();
        // Whether the remote got a connection and asked (then `None` means cancelled).
        let mut asked = false;
        let mut starting = || {
            asked = true;
            starting()
        };
        match self.remote.list_ahead(dir, small, &mut starting) {
            None if asked => Ahead::Done,
            None => Ahead::NoSpare,
            Some(Ok(entries)) => match self.accept_listing(dir, entries, generation) {
                (_, true) => Ahead::Listed,
                (_, false) => Ahead::Done,
            },
            Some(Err(err)) => {
                log::debug!("listing {} ahead failed: {err}", dir.display());
                Ahead::Done
            }
        }
    }
}
