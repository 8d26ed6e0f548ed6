//! Back pressure for write-back mode: the spool holds at most `spool_size` bytes.
//!
//! A close that would overflow the spool waits until uploads free enough room, instead of
//! failing or growing without bound (issue 11). A file larger than the whole limit can never
//! fit: `reserve` says so at once and the caller uploads it as in the default mode (streaming,
//! close returns when it is on the server). Every wait is bounded by a timeout, so a stalled
//! server turns into an error, never a hang. One leaf mutex, never held across I/O.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// Room taken; give it back with `release` when the entry leaves the spool.
    Granted,
    /// Larger than the whole spool: upload directly, as without write-back.
    TooLarge,
    /// No room freed within the timeout.
    TimedOut,
}

#[derive(Debug)]
pub(crate) struct Budget {
    capacity: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

impl Budget {
    /// A budget of `capacity` bytes of which `used` are already taken (recovered entries).
    pub(crate) fn new(capacity: u64, used: u64) -> Budget {
        Budget {
            capacity,
            used: Mutex::new(used),
            freed: Condvar::new(),
        }
    }

    /// Take `bytes`, waiting up to `timeout` for uploads to free room. Recovered entries may
    /// exceed a smaller new limit; then closes wait until the spool drains below it.
    pub(crate) fn reserve(&self, bytes: u64, timeout: Duration) -> Reserve {
        if bytes > self.capacity {
            return Reserve::TooLarge;
        }
        let deadline = Instant::now() + timeout;
        let mut used = self.used.lock();
        while used.saturating_add(bytes) > self.capacity {
            if self.freed.wait_until(&mut used, deadline).timed_out() {
                return Reserve::TimedOut;
            }
        }
        *used += bytes;
        Reserve::Granted
    }

    pub(crate) fn release(&self, bytes: u64) {
        let mut used = self.used.lock();
        *used = used.saturating_sub(bytes);
        self.freed.notify_all();
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        *self.used.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_full_spool_makes_close_wait_for_an_upload() {
        let budget = Arc::new(Budget::new(10, 0));
        assert_eq!(budget.reserve(8, Duration::ZERO), Reserve::Granted);
        assert_eq!(budget.reserve(3, Duration::ZERO), Reserve::TimedOut);
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.reserve(3, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        budget.release(8); // an upload finished
        assert_eq!(waiter.join().unwrap(), Reserve::Granted);
        assert_eq!(budget.used(), 3);
    }

    #[test]
    fn a_file_larger_than_the_spool_bypasses_it() {
        let budget = Budget::new(10, 0);
        assert_eq!(budget.reserve(11, Duration::ZERO), Reserve::TooLarge);
        assert_eq!(budget.reserve(10, Duration::ZERO), Reserve::Granted);
    }

    #[test]
    fn recovered_bytes_over_a_smaller_limit_hold_new_closes_back() {
        let budget = Budget::new(10, 25);
        assert_eq!(budget.reserve(1, Duration::ZERO), Reserve::TimedOut);
        budget.release(20);
        assert_eq!(budget.reserve(5, Duration::ZERO), Reserve::Granted);
    }
}
