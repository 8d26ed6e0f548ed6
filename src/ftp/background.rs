//! Threads for the pool's short background jobs (opening the next data connection ahead after
//! a transfer), kept a few seconds for the next job instead of one thread started per job.
//!
//! Why: a thread of its own per job meant a thread start and exit after every transfer. In a
//! write-back `tar -x` of 1,000 small files that was 1,000 of each, about 15 system calls apiece
//! (clone3, mmap, mprotect, sigaltstack, munmap, ...), a sixth of all the system calls ftpfs made
//! and its biggest single cost after the transfers themselves. Now an idle thread waits `KEEP`
//! for the next job, so a burst of transfers reuses the same few threads and a quiet mount keeps
//! none.
//!
//! A job never waits for another: each job talks to the network, so when no thread is idle a
//! new one starts, and as many jobs run at once as before.
//!
//! Locking: one leaf mutex around the job queue, never held while a job runs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How long an idle thread waits for another job before it ends.
const KEEP: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// Runs jobs on reused threads named `name` (see the module doc).
pub(super) struct Background {
    name: &'static str,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Idle threads wait here for a job.
    work: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    /// Threads waiting on `work` (each takes a queued job when woken).
    idle: usize,
}

impl Background {
    pub(super) fn new(name: &'static str) -> Background {
        Background {
            name,
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    jobs: VecDeque::new(),
                    idle: 0,
                }),
                work: Condvar::new(),
            }),
        }
    }

    /// Run `job` on an idle thread, else on a new one; on the calling thread when no thread
    /// can be started (the job's work is then done late rather than lost).
    pub(super) fn run(&self, job: impl FnOnce() + Send + 'static) {
        let mut state = self.shared.state.lock();
        state.jobs.push_back(Box::new(job));
        // Every queued job has an idle thread of its own woken for it: one more suffices.
        if state.idle >= state.jobs.len() {
            self.shared.work.notify_one();
            return;
        }
        drop(state);
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || serve(&shared));
        if let Err(err) = spawned {
            log::debug!("cannot start a {} thread: {err}", self.name);
            let job = self.shared.state.lock().jobs.pop_back();
            if let Some(job) = job {
                job();
            }
        }
    }
}

/// A thread's life: jobs as long as there are any, then waiting up to `KEEP` for the next.
fn serve(shared: &Shared) {
    let mut state = shared.state.lock();
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            job();
            state = shared.state.lock();
            continue;
        }
        state.idle += 1;
        let timed_out = shared.work.wait_for(&mut state, KEEP).timed_out();
        state.idle -= 1;
        if timed_out && state.jobs.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::mpsc;

    #[test]
    fn jobs_one_after_another_reuse_one_thread() {
        let background = Background::new("test-background");
        let (tx, rx) = mpsc::channel();
        let mut threads = HashSet::new();
        for i in 0..20 {
            let tx = tx.clone();
            background.run(move || tx.send((i, std::thread::current().id())).unwrap());
            let (got, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(got, i);
            threads.insert(thread);
            // Let the thread reach its wait, so the next job finds it idle.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while background.shared.state.lock().idle == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the thread never idled"
                );
                std::thread::yield_now();
            }
        }
        assert_eq!(threads.len(), 1, "one thread ran every job");
        assert!(!threads.contains(&std::thread::current().id()));
    }

    #[test]
    fn a_job_never_waits_behind_a_running_one() {
        let background = Background::new("test-background");
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        let started = started_tx.clone();
        // The first job blocks until told; the second must run meanwhile.
        background.run(move || {
            started.send(1).unwrap();
            release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        });
        assert_eq!(started_rx.recv_timeout(Duration::from_secs(10)), Ok(1));
        background.run(move || started_tx.send(2).unwrap());
        assert_eq!(started_rx.recv_timeout(Duration::from_secs(10)), Ok(2));
        release_tx.send(()).unwrap();
    }
}
