//! The one table from FTP replies to error kinds, per operation (ARCHITECTURE.md section 6),
//! and the one answer to "does this server lack the command?" that every fallback asks.
//!
//! The same code means different things for different commands: 550 on MKD usually means the
//! directory exists, on RETR that the file is missing, on RMD that the directory is not empty.
//! Where the code alone is ambiguous the client probes the tree afterwards (see `client`); the
//! functions that turn a first guess plus the probe's findings into the final kind live here
//! too ([`after_mkd_probe`], [`after_rmd_probe`], [`after_rnto_refused`]), so the whole mapping
//! can be read and table-tested in one file. The text of a reply only refines the guess for
//! the common English wordings.

use super::reply::Reply;
use super::reply_code as code;
use crate::remote::{EntryKind, RemoteError, RemoteErrorKind};

/// The operation a reply answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    List,
    Stat,
    Retr,
    Store,
    Dele,
    Mkd,
    Rmd,
    Rename,
    SetMtime,
    Chmod,
    Login,
    /// Setting up a data channel: EPSV or EPRT (before PASV or PORT).
    DataChannel,
}

/// Whether `reply` says the server does not implement the command we sent for `op` (as
/// opposed to refusing it for this path): the one rule every fallback and every "remember it is
/// refused" decision uses.
///
/// - 500 (unrecognized), 502 (not implemented), 504 (not for that parameter): always.
/// - 501 (bad arguments) for SetMtime and Chmod: `MDTM time path`, `MFMT` and `SITE CHMOD`
///   are forms a server either parses or rejects as a syntax error; for other operations a 501
///   is about the argument (a path), not the command.
/// - Any 5xx for DataChannel: RFC 2428 servers answer 522 when they cannot do EPSV/EPRT for
///   this address family, older ones 500/501/502; PASV and PORT remain.
/// - Never a reply that ends the session (vsftpd's "500 OOPS"): the server broke, it did not
///   refuse the command, and remembering a refusal would disable the feature for the mount.
pub(super) fn is_not_implemented(op: Op, reply: &Reply) -> bool {
    if reply.ends_session() {
        return false;
    }
    match reply.code {
        code::UNRECOGNIZED | code::NOT_IMPLEMENTED | code::NOT_IMPLEMENTED_FOR_PARAMETER => true,
        code::BAD_ARGUMENTS => matches!(op, Op::SetMtime | Op::Chmod | Op::DataChannel),
        _ => op == Op::DataChannel && reply.is_permanent_failure(),
    }
}

/// A server's way of saying "no more connections": 421 at any point of login, or a 530 whose
/// text talks about too many users/connections (pure-ftpd, proftpd MaxClients).
pub(super) fn says_server_full(reply: &Reply) -> bool {
    if reply.code == code::SERVICE_CLOSING {
        return true;
    }
    let text = reply.text().to_ascii_lowercase();
    reply.code == code::NOT_LOGGED_IN
        && (text.contains("too many") || text.contains("maximum") || text.contains("limit"))
}

/// Words with which servers say their storage is full: proftpd and pyftpdlib pass on
/// strerror(ENOSPC) ("No space left on device"), RFC 959 452 is "Insufficient storage space",
/// IIS says "There is not enough space on the disk.", others "Disk full".
const NO_SPACE_WORDS: &[&str] = &[
    "no space",
    "not enough space",
    "insufficient storage",
    "insufficient disk",
    "disk full",
    "disk is full",
    "out of disk",
    "out of space",
];

/// Words with which servers say a quota is used up: pure-ftpd "Quota exceeded", strerror(EDQUOT)
/// "Disk quota exceeded", proftpd mod_quotatab "Quota exceeded".
const QUOTA_WORDS: &[&str] = &["quota"];

/// Classify a failure reply for `op`.
///
/// Storage: 452 and 552 on an operation that writes are ENOSPC (EDQUOT when the text names a
/// quota), and so is any 45x/55x whose text says the disk is full or a quota is used up
/// (proftpd "452 Transfer aborted. No space left on device", pure-ftpd "552 Transfer aborted
/// (quota)"). A 451 that does not say why stays EIO: vsftpd answers every failed write of an
/// upload, disk full included, with a bare "451 Failure writing to local file.", and calling
/// that ENOSPC would be a guess.
pub(super) fn classify(op: Op, reply: &Reply) -> RemoteErrorKind {
    use RemoteErrorKind::*;
    use code::*;
    let text = reply.text().to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let storage_code = matches!(reply.code / 10, 45 | 55);
    let writes = matches!(op, Op::Store | Op::Mkd | Op::Rename);
    match reply.code {
        SERVICE_CLOSING | CANT_OPEN_DATA | TRANSFER_ABORTED => Connection,
        _ if reply.ends_session() => Connection,
        _ if storage_code && says(QUOTA_WORDS) => QuotaExceeded,
        _ if storage_code && says(NO_SPACE_WORDS) => NoSpace,
        FILE_BUSY | FILE_UNAVAILABLE
            if says(&["permission denied", "access denied", "not allowed"]) =>
        {
            PermissionDenied
        }
        FILE_BUSY | FILE_UNAVAILABLE if says(&["not a directory"]) => NotADirectory,
        FILE_BUSY | FILE_UNAVAILABLE if says(&["is a directory"]) => IsADirectory,
        FILE_BUSY | FILE_UNAVAILABLE if says(&["not empty"]) => NotEmpty,
        FILE_BUSY | FILE_UNAVAILABLE if says(&["exists"]) => AlreadyExists,
        FILE_BUSY | FILE_UNAVAILABLE
            if says(&["no such file", "not found", "does not exist", "can't check"]) =>
        {
            NotFound
        }
        FILE_BUSY | FILE_UNAVAILABLE => match op {
            Op::Mkd => AlreadyExists,
            Op::Rmd => NotEmpty,
            Op::Store | Op::Chmod | Op::SetMtime => PermissionDenied,
            _ => NotFound,
        },
        INSUFFICIENT_STORAGE | STORAGE_EXCEEDED if writes => NoSpace,
        INSUFFICIENT_STORAGE | STORAGE_EXCEEDED => Other,
        NOT_LOGGED_IN | NEED_ACCOUNT_TO_STORE => match op {
            Op::Login => Auth,
            _ => PermissionDenied,
        },
        NAME_NOT_ALLOWED if says(&["permission", "could not create"]) => PermissionDenied,
        NAME_NOT_ALLOWED => InvalidName,
        _ if is_not_implemented(op, reply) => Unsupported,
        BAD_ARGUMENTS => InvalidName,
        _ => Other,
    }
}

/// A `RemoteError` for a failure reply to `op` on `what` (a path, for the message).
pub(super) fn reply_error(op: Op, reply: &Reply, what: &str) -> RemoteError {
    RemoteError::new(classify(op, reply), format!("{op:?} {what}: {reply}"))
}

/// MKD was refused as if the directory existed (550 is ambiguous); the client then looked:
/// `target_exists` is whether the path exists now, `parent_exists` whether its parent does.
/// An existing target keeps AlreadyExists; otherwise the parent decides between "no such
/// directory" (ENOENT) and "not allowed to create it here" (EACCES).
pub(super) fn after_mkd_probe(
    error: RemoteError,
    target_exists: bool,
    parent_exists: bool,
) -> RemoteError {
    let kind = match (target_exists, parent_exists) {
        (true, _) => return error,
        (false, true) => RemoteErrorKind::PermissionDenied,
        (false, false) => RemoteErrorKind::NotFound,
    };
    RemoteError::new(kind, error.message)
}

/// RMD was refused as if the directory were not empty (550 is ambiguous); the client then
/// looked: `target` is the kind of what is at the path (None: nothing), `empty` whether a
/// listing of it came back empty (None: not listed or the listing failed).
pub(super) fn after_rmd_probe(
    error: RemoteError,
    target: Option<EntryKind>,
    empty: Option<bool>,
) -> RemoteError {
    let kind = match (target, empty) {
        (None, _) => RemoteErrorKind::NotFound,
        (Some(EntryKind::Dir), Some(true)) => RemoteErrorKind::PermissionDenied,
        (Some(EntryKind::Dir), _) => return error,
        (Some(_), _) => RemoteErrorKind::NotADirectory,
    };
    RemoteError::new(kind, error.message)
}

/// RNTO failed after RNFR succeeded: the source exists, so a "not found" reply is about the
/// target's place (a missing or forbidden directory), which we report as EACCES.
pub(super) fn after_rnto_refused(mut error: RemoteError) -> RemoteError {
    if error.kind == RemoteErrorKind::NotFound {
        error.kind = RemoteErrorKind::PermissionDenied;
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use RemoteErrorKind::*;

    fn r(code: u16, text: &str) -> Reply {
        Reply::line(code, text)
    }

    #[test]
    fn reply_code_table() {
        let cases = [
            (Op::Retr, 550, "Failed to open file.", NotFound),
            (Op::Retr, 550, "/x: No such file or directory", NotFound),
            (Op::Retr, 550, "/x: Permission denied", PermissionDenied),
            (Op::Retr, 550, "/d: Is a directory", IsADirectory),
            (Op::Retr, 450, "busy", NotFound),
            (Op::Dele, 550, "Delete operation failed.", NotFound),
            (
                Op::Mkd,
                550,
                "Create directory operation failed.",
                AlreadyExists,
            ),
            (Op::Mkd, 550, "/d: File exists", AlreadyExists),
            (Op::Rmd, 550, "Remove directory operation failed.", NotEmpty),
            (Op::Rmd, 550, "/d: Directory not empty", NotEmpty),
            (Op::Rmd, 550, "/d: No such file or directory", NotFound),
            (Op::Store, 553, "Could not create file.", PermissionDenied),
            (Op::Store, 553, "File name not allowed", InvalidName),
            (Op::Store, 452, "Insufficient storage", NoSpace),
            (Op::Store, 552, "Exceeded storage allocation", NoSpace),
            (Op::Store, 550, "Permission denied", PermissionDenied),
            (
                Op::Store,
                426,
                "Failure reading network stream.",
                Connection,
            ),
            (Op::List, 421, "Timeout.", Connection),
            (Op::List, 425, "Can't open data connection", Connection),
            (Op::Login, 530, "Login incorrect.", Auth),
            (Op::Dele, 530, "Not logged in", PermissionDenied),
            (Op::SetMtime, 500, "Unknown command.", Unsupported),
            (Op::Store, 500, "OOPS: priv_sock_get_int", Connection),
            (Op::DataChannel, 500, "OOPS: vsf_sysutil_bind", Connection),
            (Op::SetMtime, 501, "Syntax error", Unsupported),
            (Op::Chmod, 502, "Not implemented", Unsupported),
            (Op::Rename, 553, "Bad name", InvalidName),
            (Op::Stat, 451, "Local error", Other),
        ];
        for (op, code, text, want) in cases {
            assert_eq!(classify(op, &r(code, text)), want, "{op:?} {code} {text}");
        }
    }

    /// A reply as a server sends it: `lines` are the wire lines ("451-...", "451 ...").
    fn wire(lines: &[&str]) -> Reply {
        let code = lines[0][..3].parse().unwrap();
        Reply {
            code,
            lines: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
        }
    }

    /// Full disks and quotas, in the words real servers use. Lines marked "seen" were read
    /// from the server on this machine with its root on a full tmpfs (tests/ftp_client.rs).
    #[test]
    fn full_disk_and_quota_replies_of_real_servers() {
        let cases: &[(Op, &[&str], RemoteErrorKind)] = &[
            // vsftpd 3.0.3 (seen): any failed write of an upload; the cause is not said.
            (Op::Store, &["451 Failure writing to local file."], Other),
            // proftpd 1.3.8 (seen), and its MKD on a full disk (strerror(ENOSPC)).
            (
                Op::Store,
                &["452 Transfer aborted. No space left on device"],
                NoSpace,
            ),
            (Op::Mkd, &["550 /d: No space left on device"], NoSpace),
            (Op::Store, &["451 /f: No space left on device"], NoSpace),
            // strerror(EDQUOT) through proftpd or any server that passes errno text on.
            (
                Op::Store,
                &["552 Transfer aborted. Disk quota exceeded"],
                QuotaExceeded,
            ),
            (Op::Store, &["451 /f: Disk quota exceeded"], QuotaExceeded),
            (Op::Mkd, &["550 /d: Disk quota exceeded"], QuotaExceeded),
            // pure-ftpd 1.0.50 (seen): disk full says nothing about space...
            (
                Op::Store,
                &[
                    "451-Error during write to file",
                    "451-Transfer aborted",
                    "451 0.002 seconds (measured here), 1047.66 Mbytes per second",
                ],
                Other,
            ),
            // ...newer pure-ftpd sends the same text as 452...
            (Op::Store, &["452 Error during write to file"], NoSpace),
            // ...its -k limit, and its virtual quotas (-n, seen).
            (Op::Store, &["552 Disk full - please upload later"], NoSpace),
            (
                Op::Store,
                &[
                    "552-Transfer aborted (quota)",
                    "552-0 files used (0%) - authorized: 1000 files",
                    "552-0 Kbytes used (0%) - authorized: 1024 Kb",
                    "552 Quota exceeded: [/big.bin] won't be saved",
                ],
                QuotaExceeded,
            ),
            // pyftpdlib passes the OSError on.
            (
                Op::Store,
                &["550 [Errno 28] No space left on device."],
                NoSpace,
            ),
            // IIS.
            (
                Op::Store,
                &["451 There is not enough space on the disk."],
                NoSpace,
            ),
            // RFC 959's own texts.
            (
                Op::Store,
                &["452 Insufficient storage space in system."],
                NoSpace,
            ),
            (
                Op::Store,
                &["552 Requested file action aborted. Exceeded storage allocation."],
                NoSpace,
            ),
            (
                Op::Rename,
                &["452 Requested action not taken. Insufficient storage space."],
                NoSpace,
            ),
            // Not about storage: the code or the words decide as before.
            (
                Op::Retr,
                &["452 Insufficient storage space in system."],
                NoSpace,
            ),
            (Op::Retr, &["452 Cannot do that now."], Other),
            (Op::Stat, &["451 Local error"], Other),
            (Op::Store, &["451 Disk error"], Other),
            (Op::Store, &["553 Could not create file."], PermissionDenied),
            (
                Op::Store,
                &["426 Failure reading network stream."],
                Connection,
            ),
            (Op::Store, &["421 Quota of connections reached"], Connection),
            (Op::Login, &["530 Login incorrect."], Auth),
        ];
        for (op, lines, want) in cases {
            let reply = wire(lines);
            assert_eq!(classify(*op, &reply), *want, "{op:?} {reply}");
        }
    }

    #[test]
    fn not_implemented_is_one_rule_for_every_fallback() {
        let cases = [
            (Op::List, 500, true),
            (Op::List, 502, true),
            (Op::List, 504, true),
            (Op::List, 501, false),
            (Op::Stat, 501, false),
            (Op::Stat, 550, false),
            (Op::SetMtime, 501, true),
            (Op::SetMtime, 550, false),
            (Op::Chmod, 501, true),
            (Op::Chmod, 502, true),
            (Op::Chmod, 550, false),
            (Op::DataChannel, 522, true),
            (Op::DataChannel, 500, true),
            (Op::DataChannel, 421, false),
            (Op::DataChannel, 425, false),
            (Op::Store, 452, false),
        ];
        for (op, code, want) in cases {
            assert_eq!(is_not_implemented(op, &r(code, "x")), want, "{op:?} {code}");
            if want && op != Op::DataChannel {
                assert_eq!(classify(op, &r(code, "x")), Unsupported, "{op:?} {code}");
            }
        }
        // vsftpd's 500 OOPS (the session died) is never "not implemented".
        for op in [Op::List, Op::SetMtime, Op::Chmod, Op::DataChannel] {
            let oops = r(500, "OOPS: priv_sock_get_int");
            assert!(!is_not_implemented(op, &oops), "{op:?}");
        }
    }

    #[test]
    fn server_full_is_421_or_a_530_about_limits() {
        assert!(says_server_full(&r(421, "Too many connections")));
        assert!(says_server_full(&r(
            530,
            "Sorry, the maximum number of clients (3) from your host are already connected."
        )));
        assert!(says_server_full(&r(530, "Too many users")));
        assert!(!says_server_full(&r(530, "Login incorrect.")));
        assert!(!says_server_full(&r(550, "too many files")));
    }

    #[test]
    fn probes_turn_ambiguous_550s_into_the_right_kind() {
        let e = |kind| RemoteError::new(kind, "550 x");
        let mkd = |exists, parent| after_mkd_probe(e(AlreadyExists), exists, parent).kind;
        assert_eq!(mkd(true, true), AlreadyExists);
        assert_eq!(mkd(true, false), AlreadyExists);
        assert_eq!(mkd(false, true), PermissionDenied);
        assert_eq!(mkd(false, false), NotFound);

        let rmd = |target, empty| after_rmd_probe(e(NotEmpty), target, empty).kind;
        assert_eq!(rmd(None, None), NotFound);
        assert_eq!(rmd(Some(EntryKind::File), None), NotADirectory);
        assert_eq!(rmd(Some(EntryKind::Symlink), None), NotADirectory);
        assert_eq!(rmd(Some(EntryKind::Dir), Some(true)), PermissionDenied);
        assert_eq!(rmd(Some(EntryKind::Dir), Some(false)), NotEmpty);
        assert_eq!(rmd(Some(EntryKind::Dir), None), NotEmpty);
        assert_eq!(
            after_rmd_probe(e(NotEmpty), None, None).message,
            "550 x",
            "the server's words survive"
        );

        assert_eq!(after_rnto_refused(e(NotFound)).kind, PermissionDenied);
        assert_eq!(after_rnto_refused(e(InvalidName)).kind, InvalidName);
        assert_eq!(after_rnto_refused(e(AlreadyExists)).kind, AlreadyExists);
    }
}
