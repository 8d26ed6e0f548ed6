//! The counters and the table of transfers in flight that `ftpfs status` shows.
//!
//! Fed from several layers without them knowing each other: the fs read/write paths register
//! transfers (through `track`) and the FUSE adapter counts failed requests. Facts that already
//! have an owner stay there: the composition root installs probes that ask the FTP pool for its
//! connection counts and the chunk cache for its hits and misses. `snapshot` copies everything
//! into plain data for rendering.
//!
//! Locking: `transfers`, `last_error` and the probe slots are leaf mutexes, each held only to
//! copy or replace a small value; a probe is cloned out and called with no lock of ours held
//! (it takes the pool's or the cache's own lock briefly). Counters are atomics. Nothing here does I/O.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

/// Which way a transfer moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the server (RETR).
    Download,
    /// To the server (STOR or APPE).
    Upload,
}

impl Direction {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

/// Connection counts as the pool sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    /// Checked out (or being opened).
    pub busy: usize,
    /// Logged in and waiting in the pool for the next request.
    pub idle: usize,
    /// The cap in force: lower than `configured` once the server turned a login away as full.
    pub limit: usize,
    /// `--connections`.
    pub configured: usize,
}

/// Asks the connection pool for its counts (installed by the composition root).
pub(crate) type ConnectionsProbe = Arc<dyn Fn() -> Connections + Send + Sync>;
/// Asks the chunk cache for (hits, misses) since the mount.
pub(crate) type CacheProbe = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;
/// Asks the write-back queue what it holds (installed when write-back mode starts).
pub(crate) type WritebackProbe = Arc<dyn Fn() -> Writeback + Send + Sync>;
/// `ftpfs sync`: waits up to the given time for the write-back queue to drain (installed when
/// write-back mode starts).
pub(crate) type SyncProbe = Arc<dyn Fn(Duration) -> SyncOutcome + Send + Sync>;

/// Where one file of the write-back queue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadState {
    /// Closed, waiting for a worker.
    Queued,
    /// Being uploaded (or waiting out a retry's backoff).
    Uploading,
    /// Failed for good: the data stays in the spool, the next fsync/close of the path says so.
    Failed,
}

impl UploadState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            UploadState::Queued => "queued",
            UploadState::Uploading => "uploading",
            UploadState::Failed => "FAILED",
        }
    }
}

/// One file of the write-back queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUpload {
    /// The path on the server it goes to.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Where it is.
    pub state: UploadState,
    /// Failed attempts so far (retried while the state is not `Failed`).
    pub failed_attempts: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// The write-back queue, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writeback {
    /// The spool directory.
    pub spool: String,
    /// Every file not on the server yet (failed ones included).
    pub pending: Vec<PendingUpload>,
}

/// What `ftpfs sync` found when it stopped waiting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Still queued or uploading (the wait timed out): their paths.
    pub left: Vec<String>,
    /// Failed for good: path and message.
    pub failed: Vec<(String, String)>,
}

/// One transfer in flight, shared between its guard (which counts) and the table.
#[derive(Debug)]
struct Live {
    path: String,
    direction: Direction,
    /// File offset the transfer started at (REST), so "done" counts from the file's start.
    start_offset: u64,
    total: Option<u64>,
    moved: AtomicU64,
    started: Instant,
    /// Rate bookkeeping, advanced by snapshots (not by the transfer's own hot path).
    window: Mutex<RateWindow>,
}

/// The bytes moved since `start`, to tell the recent rate: a paused reader's download shows
/// as slowing to 0, not as its average since it started.
#[derive(Debug)]
struct RateWindow {
    start: Instant,
    moved_at_start: u64,
    /// The rate over the last completed window.
    last_rate: Option<f64>,
}

/// How long a rate window lasts before the next snapshot starts a new one.
const RATE_WINDOW: Duration = Duration::from_secs(1);

impl Live {
    /// Bytes per second recently: over the last completed window (at least `RATE_WINDOW`
    /// long), or since the start when no window completed yet.
    fn rate(&self, moved: u64) -> f64 {
        let now = Instant::now();
        let mut window = self.window.lock();
        let span = now.duration_since(window.start);
        let current = (span > Duration::ZERO)
            .then(|| moved.saturating_sub(window.moved_at_start) as f64 / span.as_secs_f64());
        if span >= RATE_WINDOW {
            window.start = now;
            window.moved_at_start = moved;
            window.last_rate = current;
            return current.unwrap_or(0.0);
        }
        window.last_rate.or(current).unwrap_or(0.0)
    }
}

/// A copy of one transfer for rendering.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferSnapshot {
    pub path: String,
    pub direction: Direction,
    /// File offset reached: start offset plus the bytes moved by this transfer.
    pub done: u64,
    /// File size when known (downloads of a listed file).
    pub total: Option<u64>,
    /// Bytes moved per second over about the last second (see `RateWindow`).
    pub rate: f64,
    pub elapsed: Duration,
}

/// Everything `ftpfs status` shows about the process, as plain data.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The pool's counts; `None` before the composition root installed its probe.
    pub connections: Option<Connections>,
    /// Every transfer in flight, in the order they started.
    pub transfers: Vec<TransferSnapshot>,
    /// Chunk-cache lookups that found the data, since the mount.
    pub cache_hits: u64,
    /// Chunk-cache lookups that did not, since the mount.
    pub cache_misses: u64,
    /// FUSE requests that failed since the mount.
    pub errors: u64,
    /// The most recent failure: when, and the logged message.
    pub last_error: Option<(SystemTime, String)>,
    /// The write-back queue; `None` when write-back mode is off.
    pub writeback: Option<Writeback>,
}

/// The process-wide registry (see `super::global`).
#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    transfers: Mutex<BTreeMap<u64, Arc<Live>>>,
    errors: AtomicU64,
    last_error: Mutex<Option<(SystemTime, String)>>,
    connections: Mutex<Option<ConnectionsProbe>>,
    cache: Mutex<Option<CacheProbe>>,
    writeback: Mutex<Option<WritebackProbe>>,
    sync: Mutex<Option<SyncProbe>>,
}

/// Keeps a transfer in the table until dropped; `add` counts moved bytes.
pub struct TransferGuard {
    registry: &'static Registry,
    id: u64,
    live: Arc<Live>,
}

impl TransferGuard {
    pub fn add(&self, bytes: usize) {
        self.live.moved.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.registry.transfers.lock().remove(&self.id);
    }
}

impl Registry {
    /// Register a transfer of `path` starting at file offset `start_offset`.
    pub fn transfer(
        &'static self,
        path: &Path,
        direction: Direction,
        start_offset: u64,
        total: Option<u64>,
    ) -> TransferGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let live = Arc::new(Live {
            path: path.to_string_lossy().into_owned(),
            direction,
            start_offset,
            total,
            moved: AtomicU64::new(0),
            started,
            window: Mutex::new(RateWindow {
                start: started,
                moved_at_start: 0,
                last_rate: None,
            }),
        });
        self.transfers.lock().insert(id, live.clone());
        TransferGuard {
            registry: self,
            id,
            live,
        }
    }

    /// A request failed (what the FUSE adapter logs as a warning).
    pub fn record_error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some((SystemTime::now(), message));
    }

    /// Install (or with `None` remove) what asks the pool for its connection counts.
    pub fn set_connections_probe(&self, probe: Option<ConnectionsProbe>) {
        *self.connections.lock() = probe;
    }

    /// Install (or with `None` remove) what asks the chunk cache for its hits and misses.
    pub fn set_cache_probe(&self, probe: Option<CacheProbe>) {
        *self.cache.lock() = probe;
    }

    /// Install (or with `None` remove) what lists the write-back queue and what waits for it.
    pub(crate) fn set_writeback_probes(&self, probes: Option<(WritebackProbe, SyncProbe)>) {
        let (list, sync) = probes.unzip();
        *self.writeback.lock() = list;
        *self.sync.lock() = sync;
    }

    /// `ftpfs sync`: wait up to `timeout` for the write-back queue; None: write-back is off
    /// (every close already reached the server).
    pub(crate) fn sync(&self, timeout: Duration) -> Option<SyncOutcome> {
        let probe = self.sync.lock().clone();
        probe.map(|probe| probe(timeout))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let connections = self.connections.lock().clone();
        let cache = self.cache.lock().clone();
        let (cache_hits, cache_misses) = cache.map_or((0, 0), |probe| probe());
        let writeback = self.writeback.lock().clone();
        let live: Vec<Arc<Live>> = self.transfers.lock().values().cloned().collect();
        let transfers = live
            .iter()
            .map(|live| {
                let moved = live.moved.load(Ordering::Relaxed);
                TransferSnapshot {
                    path: live.path.clone(),
                    direction: live.direction,
                    done: live.start_offset.saturating_add(moved),
                    total: live.total,
                    rate: live.rate(moved),
                    elapsed: live.started.elapsed(),
                }
            })
            .collect();
        Snapshot {
            connections: connections.map(|probe| probe()),
            transfers,
            cache_hits,
            cache_misses,
            errors: self.errors.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
            writeback: writeback.map(|probe| probe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked() -> &'static Registry {
        Box::leak(Box::new(Registry::default()))
    }

    #[test]
    fn transfers_are_listed_while_their_guard_lives() {
        let registry = leaked();
        let guard = registry.transfer(Path::new("/a"), Direction::Download, 100, Some(1000));
        guard.add(20);
        guard.add(30);
        let snapshot = registry.snapshot();
        assert_eq!(snapshot.transfers.len(), 1);
        let transfer = &snapshot.transfers[0];
        assert_eq!(transfer.path, "/a");
        assert_eq!(transfer.done, 150);
        assert_eq!(transfer.total, Some(1000));
        drop(guard);
        assert!(registry.snapshot().transfers.is_empty());
    }

    #[test]
    fn rate_is_recent_not_an_average_since_the_start() {
        let registry = leaked();
        let guard = registry.transfer(Path::new("/r"), Direction::Upload, 0, None);
        guard.add(1 << 20);
        std::thread::sleep(RATE_WINDOW + Duration::from_millis(50));
        let busy = registry.snapshot().transfers[0].rate;
        assert!(busy > 0.0, "{busy}");
        // Nothing moves for a whole window: the rate drops to 0 (an average would not).
        std::thread::sleep(RATE_WINDOW + Duration::from_millis(50));
        let paused = registry.snapshot().transfers[0].rate;
        assert_eq!(paused, 0.0);
        // Within a window, the last complete window's rate is what shows.
        assert_eq!(registry.snapshot().transfers[0].rate, 0.0);
    }

    #[test]
    fn counters_and_probe() {
        let registry = leaked();
        registry.set_cache_probe(Some(Arc::new(|| (1, 2))));
        registry.record_error("read /x failed".into());
        assert_eq!(registry.snapshot().connections, None);
        registry.set_connections_probe(Some(Arc::new(|| Connections {
            busy: 1,
            idle: 2,
            limit: 3,
            configured: 4,
        })));
        let snapshot = registry.snapshot();
        assert_eq!((snapshot.cache_hits, snapshot.cache_misses), (1, 2));
        assert_eq!(snapshot.errors, 1);
        assert_eq!(snapshot.last_error.unwrap().1, "read /x failed");
        assert_eq!(snapshot.connections.unwrap().idle, 2);
    }
}
