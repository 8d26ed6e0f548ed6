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
use super::queue::{Queue, State};
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
    workers: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Open the spool at `dir`, resume what a previous mount left there and start `workers`
    /// uploaders. Returns the records that could not be read (left in place; log them).
    pub fn start(
        dir: &Path,
        spool_size: u64,
        workers: usize,
        upload: Box<Uploader>,
        backoff: fn(u32) -> Duration,
    ) -> io::Result<(Engine, Vec<(PathBuf, String)>)> {
        let store = Store::open(dir)?;
        let recovered = store.recover()?;
        let used = Store::bytes(&recovered.records);
        let shared = Arc::new(Shared {
            store,
            queue: Mutex::new(Queue::resume(recovered.records)),
            changed: Condvar::new(),
            budget: Budget::new(spool_size, used),
            stop: AtomicBool::new(false),
            upload,
            backoff,
        });
        let workers = (0..workers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || worker(&shared))
            })
            .collect();
        Ok((Engine { shared, workers }, recovered.unreadable))
    }

    /// close in write-back mode: make `size` bytes of `source` durable for `path`.
    /// Ok(false): the file is larger than the whole spool; upload it as without write-back.
    pub fn close(
        &self,
        path: &Path,
        size: u64,
        source: &mut impl io::Read,
        timeout: Duration,
    ) -> Result<bool, FsError> {
        let shared = &self.shared;
        match shared.budget.reserve(size, timeout) {
            Reserve::Granted => {}
            Reserve::TooLarge => return Ok(false),
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
            mtime: None,
            mode: None,
        };
        if let Err(err) = shared.store.commit(&record, source) {
            shared.budget.release(size);
            return Err(FsError::io(format!("spool {}", path.display()), &err));
        }
        let superseded = shared.queue.lock().push(record);
        self.forget(&superseded);
        shared.changed.notify_all();
        Ok(true)
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
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.queue.lock();
        loop {
            match queue.get(path).map(|p| &p.state) {
                None => return Ok(()),
                Some(State::Failed(message)) => {
                    return Err(FsError::new(
                        libc::EIO,
                        format!("{}: upload after close failed: {message}", path.display()),
                    ));
                }
                Some(_) => {}
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

    /// Unmount/SIGTERM: wait up to `timeout` for the queue to empty (failed entries do not
    /// count as waitable), stop the workers, and return the paths left in the spool.
    pub fn drain(mut self, timeout: Duration) -> Vec<PathBuf> {
        let deadline = Instant::now() + timeout;
        {
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

    fn stop_workers(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }

    /// The queue, for rename/unlink/setattr hooks and status.
    pub fn with_queue<T>(&self, f: impl FnOnce(&mut Queue) -> T) -> T {
        f(&mut self.shared.queue.lock())
    }
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
                Err(f) if f.transient => {
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

    #[test]
    fn close_returns_then_fsync_waits_for_the_upload() {
        let (server, d) = (Server::default(), dir("fsync"));
        let (engine, _) = Engine::start(&d, 1 << 20, 2, uploader(&server, 2, true), |_| {
            Duration::ZERO
        })
        .unwrap();
        assert!(
            engine
                .close(Path::new("/a"), 3, &mut &b"abc"[..], LONG)
                .unwrap()
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
        let (engine, _) =
            Engine::start(&d, 1 << 20, 1, uploader(&server, 1, false), |_| LONG).unwrap();
        engine
            .close(Path::new("/a"), 1, &mut &b"x"[..], LONG)
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
        let (engine, _) =
            Engine::start(&d, 1 << 20, 0, uploader(&server, 0, true), |_| LONG).unwrap();
        engine
            .close(Path::new("/a"), 2, &mut &b"aa"[..], LONG)
            .unwrap();
        engine
            .close(Path::new("/b"), 1, &mut &b"b"[..], LONG)
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
        let (engine, unreadable) =
            Engine::start(&d, 1 << 20, 1, uploader(&server, 0, true), |_| LONG).unwrap();
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
    fn a_full_spool_makes_close_wait_and_large_files_bypass_it() {
        let (server, d) = (Server::default(), dir("full"));
        let (engine, _) = Engine::start(&d, 4, 0, uploader(&server, 0, true), |_| LONG).unwrap();
        assert!(
            !engine
                .close(Path::new("/big"), 5, &mut &b"12345"[..], LONG)
                .unwrap()
        );
        assert!(
            engine
                .close(Path::new("/a"), 4, &mut &b"1234"[..], LONG)
                .unwrap()
        );
        let err = engine.close(
            Path::new("/b"),
            1,
            &mut &b"1"[..],
            Duration::from_millis(10),
        );
        assert!(err.unwrap_err().message.contains("spool stayed full"));
        drop(engine);
        // With an uploader running, the waiting close gets the room /a's upload frees.
        let (engine, _) = Engine::start(&d, 4, 1, uploader(&server, 0, true), |_| LONG).unwrap();
        assert!(
            engine
                .close(Path::new("/b"), 1, &mut &b"1"[..], LONG)
                .unwrap()
        );
        assert_eq!(server.lock()[Path::new("/a")], b"1234");
        assert!(engine.drain(LONG).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
