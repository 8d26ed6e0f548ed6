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
//! # Wake-ups
//! A new entry settles for a moment before upload (`Queue::settle`). Waking every idle worker
//! on every close (they all looked, found nothing settled, and slept again) cost more CPU
//! than the close itself during a `tar -x`. So idle workers wait on their own condvar (`work`)
//! and are woken one at a time:
//! - one idle worker keeps the time the next entry settles (`Queue::timer`); the others sleep
//!   (bounded by `IDLE`). A close wakes one worker only when its entry would settle before that
//!   time (or none is kept), which for a run of closes is the first one;
//! - a worker that takes an entry while others are queued wakes one more, which takes the next
//!   one or keeps its time, so uploads still run in parallel;
//! - a barrier (`hurry`), a released held entry and unmount wake workers directly; an upload
//!   that ends is followed by its own worker looking at the queue again, which also takes an
//!   entry that was waiting for that path.
//!
//! Uploaders run at a lower CPU priority (`NICE`) than the filesystem's request threads: they
//! are background work, and on a busy machine the program writing should not wait for them.
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

/// The longest an idle worker sleeps without being told of work (a bound on any wake-up this
/// scheme might miss, never a wait that matters: see the module doc).
const IDLE: Duration = Duration::from_secs(1);

/// Nice value of the uploader threads (and the threads they start), relative to the rest.
const NICE: i32 = 10;

/// Let this thread yield the CPU to the filesystem's request threads: on a busy machine a
/// `tar -x` otherwise spends its time waiting for the uploads of what it wrote a moment ago.
/// nice(3) adds to the calling thread's own nice value (on Linux, `PRIO_PROCESS` 0 is the
/// calling thread), capped at 19: relative to what ftpfs was started with, so `nice -n 15
/// ftpfs ...` never raises its uploaders. Threads it starts inherit it. A failure only costs
/// the head start, so it is logged, not fatal.
fn lower_priority() {
    // nice returns the new value, which may be -1: errno tells a failure apart.
    // SAFETY: plain syscalls on this thread and its errno; no memory is passed.
    let failed = unsafe {
        *libc::__errno_location() = 0;
        libc::nice(NICE) == -1 && *libc::__errno_location() != 0
    };
    if failed {
        log::debug!(
            "write-back uploader: cannot lower its priority: {}",
            io::Error::last_os_error()
        );
    }
}

/// Sleep `pause` (a retry's backoff, up to a minute) unless the engine stops meanwhile:
/// false then. Checked in short steps so an unmount never waits for a backoff to end.
fn sleep_unless_stopped(shared: &Shared, pause: Duration) -> bool {
    const STEP: Duration = Duration::from_millis(100);
    let until = Instant::now() + pause;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(STEP));
    }
}

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
    lower_priority();
    loop {
        let record = {
            let mut queue = shared.queue.lock();
            loop {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(record) = queue.take_next() {
                    if queue.has_queued() {
                        shared.work.notify_one(); // the next one: taken or timed by another
                    }
                    break record;
                }
                let idle = Instant::now() + IDLE;
                let deadline = match queue.next_ready_at() {
                    Some(at) if at < idle && queue.timer.is_none_or(|timer| at < timer) => {
                        queue.timer = Some(at);
                        at
                    }
                    _ => idle,
                };
                shared.work.wait_until(&mut queue, deadline);
                if queue.timer == Some(deadline) {
                    queue.timer = None;
                }
            }
        };
        let data = shared.store.location(record.seq);
        let mut attempt = 0;
        let result = loop {
            let Some(data) = &data else {
                break Err(Some("its spool entry is gone".to_string()));
            };
            match (shared.upload)(&record, data) {
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
                    if !sleep_unless_stopped(shared, (shared.backoff)(attempt)) {
                        // Unmount during the backoff: left queued (not failed) for the next
                        // mount, without one more attempt that could outlast the drain.
                        break Err(None);
                    }
                }
                Err(f) => break Err(Some(f.message)),
            }
        };
        if result.is_ok() {
            if let Err(err) = shared.store.remove(record.seq) {
                log::warn!(
                    "write-back spool: cannot remove entry {}: {err}",
                    record.seq
                );
            }
            shared.budget.release(record.size);
        }
        let ended = result.is_ok() || matches!(result, Err(Some(_)));
        {
            let mut queue = shared.queue.lock();
            let dropped = match result {
                Ok(()) => queue.finished(record.seq, Ok(())),
                Err(Some(message)) => {
                    let dropped = queue.finished(record.seq, Err(message.clone()));
                    if dropped.contains(&record.seq) {
                        log::warn!(
                            "{}: upload of an older version failed ({message}); a newer \
                             version is pending and replaces it",
                            record.path.display()
                        );
                    } else {
                        log::error!(
                            "{}: upload after close failed, data kept in the spool: {message}",
                            record.path.display()
                        );
                    }
                    dropped
                }
                Err(None) => {
                    queue.requeue(record.seq);
                    Vec::new()
                }
            };
            // Under the queue lock: no worker takes the newer version before these are gone.
            shared.forget(&dropped);
        }
        shared.changed.notify_all();
        if let Some(hook) = shared.ended.get().filter(|_| ended) {
            hook(&record.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        // SAFETY: a plain syscall about the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn lower_priority_adds_to_this_thread_alone() {
        let before = own_nice();
        let (inside, lowered) = std::thread::spawn(|| {
            let inside = own_nice();
            lower_priority();
            (inside, own_nice())
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (inside + NICE).min(19));
        assert_eq!(own_nice(), before, "the other threads keep theirs");
    }
}
