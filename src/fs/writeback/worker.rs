//! The write-back uploader threads: each takes the oldest settled queue entry, uploads it
//! (retrying transient failures with backoff), then records the outcome in the queue and the
//! store.
//!
//! Separate from `engine` because it is the one part that runs on its own threads: the engine's
//! methods are called by the filesystem and only change the queue (and wait on it), while this
//! loop is the queue's only consumer. Keeping it apart keeps each file to one concept and lets
//! the engine's API be read without the retry and clean-up details.
//!
//! Retries run inside the worker (the entry stays in flight during its backoff, so an operation
//! on that path waits like for any upload in flight).
//!
//! Locks: as in `engine`, the queue mutex is a leaf held only to take or settle an entry, never
//! across the upload, the backoff sleep or a store change; the budget is released with the queue
//! unlocked.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::engine::{MAX_RETRIES, Shared};

/// Start `count` uploader threads on `shared`.
pub(super) fn spawn(shared: &Arc<Shared>, count: usize) -> io::Result<Vec<JoinHandle<()>>> {
    (0..count)
        .map(|_| {
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name("ftpfs-writeback".into())
                .spawn(move || worker(&shared))
        })
        .collect()
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
                let mut wait = Duration::from_secs(1);
                if let Some(at) = queue.next_ready_at() {
                    wait = wait.min(at.saturating_duration_since(Instant::now()));
                }
                shared.changed.wait_for(&mut queue, wait);
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
                    let note = f.message.clone();
                    shared.queue.lock().note_retry(record.seq, attempt, note);
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
        let ended = result.is_ok() || matches!(result, Err(Some(_)));
        {
            let mut queue = shared.queue.lock();
            match result {
                Ok(()) => queue.finished(record.seq, Ok(())),
                Err(Some(message)) => queue.finished(record.seq, Err(message)),
                Err(None) => queue.requeue(record.seq),
            }
        }
        shared.changed.notify_all();
        if let Some(hook) = shared.ended.get().filter(|_| ended) {
            hook(&record.path);
        }
    }
}
