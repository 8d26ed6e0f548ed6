//! Which upload failures after close are retried, and when.
//!
//! After close returns nobody is waiting for the reply, so a transient failure (broken
//! connection, timeout, 421/425/426, a full server disk that may be cleaned) is retried with an
//! exponential backoff capped at a minute; a permanent one (refused permission, bad name, quota,
//! a reply we cannot read) stops: the data stays in the spool, the error is logged at error
//! level with the path and reply and returned by the next fsync/close of the path.

use std::time::Duration;

/// Whether retrying the same upload later can succeed, from the errno the upload failed with
/// (what reaches the writer: see `fs::error`). Lost connections and unreadable replies are EIO,
/// timeouts ETIMEDOUT, a full server disk ENOSPC: transient (`engine::MAX_RETRIES` bounds an
/// EIO that never clears). Refused permission, quota, bad names, a vanished parent directory
/// (ENOENT: retrying cannot recreate it): permanent.
pub(crate) fn is_transient(errno: i32) -> bool {
    matches!(errno, libc::EIO | libc::ETIMEDOUT | libc::ENOSPC)
}

const FIRST: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(60);

/// The wait before retry number `attempt` (1 = the first retry): 1 s, 2 s, 4 s ... 60 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    FIRST.saturating_mul(factor).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_failures() {
        use crate::fs::error::FsError;
        use crate::remote::{RemoteError, RemoteErrorKind::*};
        let table = [
            (Connection, true),
            (TimedOut, true),
            (NoSpace, true),
            (Protocol, true),
            (Other, true),
            (PermissionDenied, false),
            (QuotaExceeded, false),
            (InvalidName, false),
            (NotFound, false),
        ];
        for (kind, transient) in table {
            // The errno an upload's error carries, through the one reply-kind -> errno table.
            let errno = FsError::remote("upload /f", &RemoteError::new(kind, "x")).errno;
            assert_eq!(is_transient(errno), transient, "{kind:?} (errno {errno})");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = [1, 2, 3, 6, 7, 40, u32::MAX]
            .iter()
            .map(|&a| backoff(a).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 32, 60, 60, 60]);
        assert_eq!(backoff(0), FIRST);
    }
}
