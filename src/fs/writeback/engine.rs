//! The write-back engine: store + queue + budget + uploader workers, with the barriers.
//!
//! The upload itself is a closure given by the filesystem (the same upload function close uses,
//! so write-back inherits atomic uploads), which keeps this module free of the fs core and
//! testable on its own.
//!
//! # Lock order
//! One leaf mutex (`queue`) with one condvar (`changed`), never held across I/O: spool files are
//! written and uploads run with it released. `budget` has its own leaf lock, never taken while
//! `queue` is held.
//!
//! Known limitation: `close` reserves room before a queued older version of the same path is
//! superseded, so rewriting a pending file while the spool is full waits for other uploads
//! (or times out) although superseding would free room.
//!
//! Retries run inside the worker (the entry stays in flight during its backoff, so an operation
//! on that path waits like for any upload in flight).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::budget::{Budget, Reserve};
use super::queue::{Outcome, Queue, State};
use super::store::{Record, Store};
use crate::fs::FsError;

/// Why an upload failed; `transient` failures are retried (see `retry::is_transient`).
#[derive(Clone, Debug)]
pub struct UploadFailure {
    pub transient: bool,
    pub message: String,
}

/// Upload the data file (second argument) to `record.path`, then apply its recorded attributes.
pub type Uploader = dyn Fn(&Record, &Path) -> Result<(), UploadFailure> + Send + Sync;

struct Shared {
    store: Store,
    queue: Mutex<Queue>,
    changed: Condvar,
    budget: Budget,
    stop: AtomicBool,
    upload: Box<Uploader>,
    backoff: fn(u32) -> Duration,
}

pub struct Engine {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// The spool's lock file, flock'd while this engine lives (the kernel drops it on kill -9).
    _lock: std::fs::File,
}

/// Transient failures of one upload retried before it counts as permanent (about five minutes
/// of backoff): a reply we misclassify as transient must still end up reported.
pub const MAX_RETRIES: u32 = 10;

impl Engine {
    /// Open the spool at `dir`, resume what a previous mount left there and start `workers`
    /// uploaders. `recovered` sees each resumed record before any worker runs (the filesystem
    /// shows them as pending). Returns the records that could not be read (left in place).
    pub fn start(
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
        let shared = Arc::new(Shared {
            store,
            queue: Mutex::new(Queue::resume(found.records)),
            changed: Condvar::new(),
            budget: Budget::new(spool_size, used),
            stop: AtomicBool::new(false),
            upload,
            backoff,
        });
        let workers = (0..workers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name("ftpfs-writeback".into())
                    .spawn(move || worker(&shared))
            })
            .collect::<io::Result<Vec<_>>>()?;
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
    pub fn close(
        &self,
        path: &Path,
        size: u64,
        source: &mut impl io::Read,
        attributes: (Option<std::time::SystemTime>, Option<u32>),
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
        let superseded = shared.queue.lock().push(record);
        self.forget(&superseded);
        shared.changed.notify_all();
        Ok(Some(superseded.len()))
    }

    /// Remove cancelled/superseded entries from the store and give their room back.
    fn forget(&self, seqs: &[u64]) {
        for &seq in seqs {
            let size = std::fs::metadata(self.shared.store.data_path(seq)).map(|m| m.len());
            if let Err(err) = self.shared.store.remove(seq) {
                log::warn!("write-back spool: cannot remove entry {seq}: {err}");
            }
            self.shared.budget.release(size.unwrap_or(0));
        }
    }

    /// fsync barrier: wait until nothing is pending for `path`; a permanent failure of its
    /// upload is returned (the data stays in the spool).
    pub fn wait(&self, path: &Path, timeout: Duration) -> Result<(), FsError> {
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
    pub fn wait_settled(&self, path: &Path, timeout: Duration) -> Result<(), FsError> {
        self.wait_until(path, timeout, |queue| {
            let busy = queue
                .pending()
                .any(|p| p.record.path.starts_with(path) && !matches!(p.state, State::Failed(_)));
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
        loop {
            if let Some(result) = done(&queue) {
                return result;
            }
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(FsError::new(
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
                return Err(FsError::new(
                    libc::ETIMEDOUT,
                    format!("{}: upload still pending", path.display()),
                ));
            }
        }
    }

    /// The permanent failure recorded for `path`, if any (returned by close and fsync).
    pub fn failure(&self, path: &Path) -> Option<FsError> {
        match &self.shared.queue.lock().get(path)?.state {
            State::Failed(message) => Some(failed(path, message)),
            _ => None,
        }
    }

    /// chmod/utimens of a file whose upload is queued: recorded durably in its entry and
    /// applied after the upload. False: nothing queued there, or its upload is in flight (then
    /// the caller waits and acts on the server). The record is rewritten under the queue lock,
    /// so no worker takes (and finishes) the entry before its record says the same.
    pub fn set_attributes(
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

    /// The server renamed `from` to `to`: entries still in the spool there (failed ones, or a
    /// close that raced the rename) follow, durably. Returns the paths of entries the rename
    /// replaced (cancelled).
    pub fn renamed(&self, from: &Path, to: &Path) -> Vec<PathBuf> {
        let paths = self.paths_of(to);
        let outcome = self.shared.queue.lock().rename(from, to);
        self.apply(outcome, paths)
    }

    /// The server removed `path`: entries at or below it are cancelled. Returns their paths.
    pub fn removed(&self, path: &Path) -> Vec<PathBuf> {
        let paths = self.paths_of(path);
        let outcome = self.shared.queue.lock().remove(path);
        self.apply(outcome, paths)
    }

    fn paths_of(&self, under: &Path) -> Vec<(u64, PathBuf)> {
        let queue = self.shared.queue.lock();
        queue
            .pending()
            .filter(|p| p.record.path.starts_with(under))
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
    pub fn drain(&self, timeout: Duration) -> Vec<PathBuf> {
        let deadline = Instant::now() + timeout;
        if !self.shared.stop.load(Ordering::SeqCst) {
            let mut queue = self.shared.queue.lock();
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
        self.shared.changed.notify_all();
        let workers = std::mem::take(&mut *self.workers.lock());
        let me = std::thread::current().id();
        // A worker may drop the last reference to the filesystem owning us: never join itself.
        for worker in workers.into_iter().filter(|w| w.thread().id() != me) {
            let _ = worker.join();
        }
    }

    /// The queue, for status and tests.
    pub fn with_queue<T>(&self, f: impl FnOnce(&mut Queue) -> T) -> T {
        f(&mut self.shared.queue.lock())
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

fn worker(shared: &Shared) {
    loop {
        let record = {
            let mut queue = shared.queue.lock();
            loop {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(record) = queue.take_next() {
                    break record;
                }
                shared.changed.wait_for(&mut queue, Duration::from_secs(1));
            }
        };
        let data = shared.store.data_path(record.seq);
        let mut attempt = 0;
        let result = loop {
            match (shared.upload)(&record, &data) {
                Ok(()) => break Ok(()),
                // Stopping during a retry: left queued (not failed) for the next mount.
                Err(f) if f.transient && shared.stop.load(Ordering::SeqCst) => break Err(None),
                Err(f) if f.transient && attempt < MAX_RETRIES => {
                    attempt += 1;
                    log::warn!(
                        "{}: upload after close failed, retry {attempt}: {}",
                        record.path.display(),
                        f.message
                    );
                    std::thread::sleep((shared.backoff)(attempt));
                }
                Err(f) => break Err(Some(f.message)),
            }
        };
        match &result {
            Ok(()) => {
                if let Err(err) = shared.store.remove(record.seq) {
                    log::warn!(
                        "write-back spool: cannot remove entry {}: {err}",
                        record.seq
                    );
                }
                shared.budget.release(record.size);
            }
            Err(Some(message)) => log::error!(
                "{}: upload after close failed, data kept in the spool: {message}",
                record.path.display()
            ),
            Err(None) => {}
        }
        let mut queue = shared.queue.lock();
        match result {
            Ok(()) => queue.finished(record.seq, Ok(())),
            Err(Some(message)) => queue.finished(record.seq, Err(message)),
            Err(None) => queue.requeue(record.seq),
        }
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    type Server = Arc<Mutex<HashMap<PathBuf, Vec<u8>>>>;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ftpfs-wbe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// An uploader into `server`; the first `fail` calls fail (transient or not).
    fn uploader(server: &Server, fail: usize, transient: bool) -> Box<Uploader> {
        let server = Arc::clone(server);
        let calls = AtomicUsize::new(0);
        Box::new(move |record: &Record, data: &Path| {
            if calls.fetch_add(1, Ordering::SeqCst) < fail {
                return Err(UploadFailure {
                    transient,
                    message: "451 try later".into(),
                });
            }
            let bytes = std::fs::read(data).map_err(|e| UploadFailure {
                transient: false,
                message: e.to_string(),
            })?;
            server.lock().insert(record.path.clone(), bytes);
            Ok(())
        })
    }

    const LONG: Duration = Duration::from_secs(30);

    /// An engine on `d` whose retries wait `LONG` (none happen unless a test makes them).
    fn start(d: &Path, size: u64, workers: usize, upload: Box<Uploader>) -> Engine {
        Engine::start(d, size, workers, upload, |_| LONG, &|_| {})
            .unwrap()
            .0
    }

    #[test]
    fn close_returns_then_fsync_waits_for_the_upload() {
        let (server, d) = (Server::default(), dir("fsync"));
        let (engine, _) = Engine::start(
            &d,
            1 << 20,
            2,
            uploader(&server, 2, true),
            |_| Duration::ZERO,
            &|_| {},
        )
        .unwrap();
        assert_eq!(
            engine
                .close(Path::new("/a"), 3, &mut &b"abc"[..], (None, None), LONG)
                .unwrap(),
            Some(0)
        );
        engine.wait(Path::new("/a"), LONG).unwrap();
        assert_eq!(
            server.lock()[Path::new("/a")],
            b"abc",
            "retried after transient failures"
        );
        assert!(engine.drain(LONG).is_empty());
        assert!(
            Store::open(&d)
                .unwrap()
                .recover()
                .unwrap()
                .records
                .is_empty()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_permanent_failure_is_returned_and_the_data_kept() {
        let (server, d) = (Server::default(), dir("perm"));
        let engine = start(&d, 1 << 20, 1, uploader(&server, 1, false));
        engine
            .close(Path::new("/a"), 1, &mut &b"x"[..], (None, None), LONG)
            .unwrap();
        let err = engine.wait(Path::new("/a"), LONG).unwrap_err();
        assert!(err.message.contains("451 try later"), "{err:?}");
        assert_eq!(engine.drain(LONG), vec![PathBuf::from("/a")]);
        let left = Store::open(&d).unwrap().recover().unwrap().records;
        assert_eq!(left.len(), 1, "the data stays in the spool");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_next_mount_resumes_what_a_dropped_one_left() {
        let (server, d) = (Server::default(), dir("resume"));
        let engine = start(&d, 1 << 20, 0, uploader(&server, 0, true));
        engine
            .close(Path::new("/a"), 2, &mut &b"aa"[..], (None, None), LONG)
            .unwrap();
        engine
            .close(Path::new("/b"), 1, &mut &b"b"[..], (None, None), LONG)
            .unwrap();
        assert_eq!(
            engine.with_queue(|q| q.rename(Path::new("/b"), Path::new("/c"))),
            super::super::queue::Outcome::Changed {
                rewrite: vec![Record {
                    seq: 2,
                    path: "/c".into(),
                    size: 1,
                    mtime: None,
                    mode: None
                }],
                cancelled: vec![]
            }
        );
        // The hook makes the rename durable (what the fs will do on Outcome::Changed).
        Store::open(&d)
            .unwrap()
            .write_record(&Record {
                seq: 2,
                path: "/c".into(),
                size: 1,
                mtime: None,
                mode: None,
            })
            .unwrap();
        drop(engine); // like kill -9: no drain, no upload (no workers)
        assert!(server.lock().is_empty());
        let (engine, unreadable) = Engine::start(
            &d,
            1 << 20,
            1,
            uploader(&server, 0, true),
            |_| LONG,
            &|_| {},
        )
        .unwrap();
        assert!(unreadable.is_empty());
        assert!(engine.drain(LONG).is_empty());
        let server = server.lock();
        assert_eq!(
            (&server[Path::new("/a")][..], &server[Path::new("/c")][..]),
            (&b"aa"[..], &b"b"[..])
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_spool_serves_one_engine_at_a_time() {
        let (server, d) = (Server::default(), dir("lock"));
        let first = start(&d, 1 << 20, 1, uploader(&server, 0, true));
        let second = Engine::start(
            &d,
            1 << 20,
            1,
            uploader(&server, 0, true),
            |_| LONG,
            &|_| {},
        );
        let err = second.err().expect("the spool is taken");
        assert!(err.to_string().contains("in use by another mount"), "{err}");
        drop(first);
        drop(start(&d, 1 << 20, 1, uploader(&server, 0, true)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_full_spool_makes_close_wait_and_large_files_bypass_it() {
        let (server, d) = (Server::default(), dir("full"));
        let (engine, _) =
            Engine::start(&d, 4, 0, uploader(&server, 0, true), |_| LONG, &|_| {}).unwrap();
        assert_eq!(
            engine
                .close(Path::new("/big"), 5, &mut &b"12345"[..], (None, None), LONG)
                .unwrap(),
            None
        );
        assert_eq!(
            engine
                .close(Path::new("/a"), 4, &mut &b"1234"[..], (None, None), LONG)
                .unwrap(),
            Some(0)
        );
        let err = engine.close(
            Path::new("/b"),
            1,
            &mut &b"1"[..],
            (None, None),
            Duration::from_millis(10),
        );
        assert!(err.unwrap_err().message.contains("spool stayed full"));
        drop(engine);
        // With an uploader running, the waiting close gets the room /a's upload frees.
        let (engine, _) =
            Engine::start(&d, 4, 1, uploader(&server, 0, true), |_| LONG, &|_| {}).unwrap();
        assert_eq!(
            engine
                .close(Path::new("/b"), 1, &mut &b"1"[..], (None, None), LONG)
                .unwrap(),
            Some(0)
        );
        assert_eq!(server.lock()[Path::new("/a")], b"1234");
        assert!(engine.drain(LONG).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
