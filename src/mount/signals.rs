//! Shutdown signals (SIGINT, SIGTERM, SIGHUP) received synchronously with `sigtimedwait`.
//!
//! They are blocked in the main thread before any other thread exists, so every thread
//! (FUSE workers, FTP pool) inherits the block and the signal can only be picked up by the
//! main thread's wait. No async signal handler runs, so the shutdown path may lock, log and do
//! network I/O freely.

use std::io;
use std::time::Duration;

/// Proof that the shutdown signals are blocked in this thread, and the way to wait for them.
pub(crate) struct ShutdownSignals {
    set: libc::sigset_t,
}

impl ShutdownSignals {
    /// Block SIGINT, SIGTERM and SIGHUP in the calling thread (call before spawning threads).
    pub(crate) fn block() -> io::Result<ShutdownSignals> {
        // SAFETY: sigemptyset/sigaddset initialise the set we own; pthread_sigmask only reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, signal);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(ShutdownSignals { set })
        }
    }

    /// Wait up to `timeout` for one of the signals; `None` when none arrived.
    pub(crate) fn wait(&self, timeout: Duration) -> Option<i32> {
        let timespec = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: the set was initialised in `block`; a null siginfo pointer is allowed.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &timespec) };
        (signal > 0).then_some(signal)
    }
}

/// A readable name for the log.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_signal_is_picked_up_by_wait() {
        // Runs in its own test thread: the block and the signal stay in this thread.
        let signals = ShutdownSignals::block().unwrap();
        assert_eq!(signals.wait(Duration::ZERO), None);
        // SAFETY: signalling our own thread; SIGHUP is blocked here so it stays pending.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGHUP) };
        assert_eq!(signals.wait(Duration::from_secs(5)), Some(libc::SIGHUP));
        assert_eq!(signal_name(libc::SIGHUP), "SIGHUP");
    }
}
