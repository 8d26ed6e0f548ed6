//! Which upload failures after close are retried, and when.
//!
//! After close returns nobody is waiting for the reply, so a transient failure (broken
//! connection, timeout, 421/425/426, a full server disk that may be cleaned) is retried with an
//! exponential backoff capped at a minute; a permanent one (refused permission, bad name, quota,
//! a reply we cannot read) stops: the data stays in the spool, the error is logged at error
//! level with the path and reply and returned by the next fsync/close of the path.

use std::time::Duration;

use crate::remote::RemoteErrorKind;

/// Whether retrying the same upload later can succeed.
pub fn is_transient(kind: RemoteErrorKind) -> bool {
    use RemoteErrorKind::*;
    match kind {
        TimedOut | Connection | NoSpace => true,
        // NotFound: the parent directory vanished; retrying cannot recreate it.
        NotFound | AlreadyExists | NotEmpty | NotADirectory | IsADirectory | PermissionDenied
        | InvalidName | QuotaExceeded | Unsupported | Auth | Protocol | Other => false,
    }
}

const FIRST: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(60);

/// The wait before retry number `attempt` (1 = the first retry): 1 s, 2 s, 4 s ... 60 s.
pub fn backoff(attempt: u32) -> Duration {
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
        use RemoteErrorKind::*;
        let table = [
            (Connection, true),
            (TimedOut, true),
            (NoSpace, true),
            (PermissionDenied, false),
            (QuotaExceeded, false),
            (InvalidName, false),
            (NotFound, false),
            (Protocol, false),
            (Other, false),
        ];
        for (kind, transient) in table {
            assert_eq!(is_transient(kind), transient, "{kind:?}");
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
