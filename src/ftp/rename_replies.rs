//! Making sense of the two replies to RNFR and RNTO sent in one write (issue 10: a rename in
//! one round trip instead of two).
//!
//! RFC 959 servers handle commands in order, so the replies are RNFR's then RNTO's, and a
//! refused RNFR turns the RNTO into "503 bad sequence". libunftp runs commands concurrently:
//! RNTO may overtake RNFR (and be answered "450 Please tell me what file you want to rename
//! first") and the replies may come in either order. This module sorts both cases out from the
//! replies alone; the client then stops pipelining renames on such a server (a quirk flag).
//! Pure, with a table test.

use super::reply::Reply;
use super::reply_code as code;

/// "Bad sequence of commands": 503 by RFC 959, or libunftp's 450 "Please tell me what file you
/// want to rename first" when RNTO overtook RNFR.
pub(super) fn is_bad_sequence(reply: &Reply) -> bool {
    reply.code == 503 || (reply.code == 450 && reply.text().contains("rename first"))
}

/// What the two replies to a pipelined RNFR+RNTO say happened.
#[derive(Debug, PartialEq)]
pub(super) enum PipelinedRename {
    /// In order: RNFR's 350, then this RNTO reply.
    Done(Reply),
    /// In order: RNFR refused with this reply (the RNTO's "bad sequence" is dropped).
    FromRefused(Reply),
    /// The server handled them out of order. `Some`: RNTO's real verdict; `None`: RNTO came
    /// too early and nothing was renamed.
    OutOfOrder(Option<Reply>),
}

/// Sort out the replies to RNFR+RNTO sent together, whichever order the server handled and
/// answered them in (pure; table-tested below).
pub(super) fn pipelined_rename_outcome(first: Reply, second: Reply) -> PipelinedRename {
    match (first.code == code::PENDING, second.code == code::PENDING) {
        (true, _) if is_bad_sequence(&second) => PipelinedRename::OutOfOrder(None),
        (true, _) => PipelinedRename::Done(second),
        (false, true) if is_bad_sequence(&first) => PipelinedRename::OutOfOrder(None),
        (false, true) => PipelinedRename::OutOfOrder(Some(first)),
        // RNFR refused. A reordering server may have put RNTO's "bad sequence" first.
        (false, false) if is_bad_sequence(&first) => PipelinedRename::FromRefused(second),
        (false, false) => PipelinedRename::FromRefused(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PipelinedRename::*;

    fn r(code: u16, text: &str) -> Reply {
        Reply::line(code, text)
    }

    #[test]
    fn outcome_table() {
        let pending = || r(350, "Ready for RNTO");
        let renamed = || r(250, "Renamed");
        let bad = || r(503, "Bad sequence of commands");
        let unftp_early = || r(450, "Please tell me what file you want to rename first");
        let missing = || r(550, "No such file");
        let cases = [
            // In order (vsftpd, proftpd, pure-ftpd, pyftpdlib).
            (pending(), renamed(), Done(renamed())),
            (pending(), missing(), Done(missing())),
            (missing(), bad(), FromRefused(missing())),
            (
                r(530, "Not logged in"),
                r(530, "Not logged in"),
                FromRefused(r(530, "Not logged in")),
            ),
            // libunftp: RNTO handled first, replies in either order.
            (pending(), unftp_early(), OutOfOrder(None)),
            (unftp_early(), pending(), OutOfOrder(None)),
            // libunftp: both handled in order, answers swapped.
            (renamed(), pending(), OutOfOrder(Some(renamed()))),
            (missing(), pending(), OutOfOrder(Some(missing()))),
            // libunftp: RNFR refused, RNTO's complaint first or second.
            (unftp_early(), missing(), FromRefused(missing())),
            (missing(), unftp_early(), FromRefused(missing())),
        ];
        for (first, second, expected) in cases {
            let label = format!("{first} / {second}");
            assert_eq!(pipelined_rename_outcome(first, second), expected, "{label}");
        }
    }

    #[test]
    fn bad_sequence_is_503_or_unftps_450() {
        assert!(is_bad_sequence(&r(503, "RNFR required first")));
        assert!(is_bad_sequence(&r(
            450,
            "Please tell me what file you want to rename first"
        )));
        assert!(!is_bad_sequence(&r(450, "File busy")));
        assert!(!is_bad_sequence(&r(550, "rename first")));
    }
}
