//! The one table from FTP reply codes to error kinds, per operation (ARCHITECTURE.md section 6).
//!
//! The same code means different things for different commands: 550 on MKD usually means the
//! directory exists, on RETR that the file is missing, on RMD that the directory is not empty.
//! Where the code alone is ambiguous the client probes afterwards (see `client`); the text of
//! the reply only refines the guess for the common English wordings.

use super::reply::Reply;
use crate::remote::{RemoteError, RemoteErrorKind};

/// The operation a reply answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
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
}

/// Classify a failure reply for `op`.
pub fn classify(op: Op, reply: &Reply) -> RemoteErrorKind {
    use RemoteErrorKind::*;
    let text = reply.text().to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
    match reply.code {
        421 | 425 | 426 => Connection,
        450 | 550 if says(&["permission denied", "access denied", "not allowed"]) => {
            PermissionDenied
        }
        450 | 550 if says(&["not a directory"]) => NotADirectory,
        450 | 550 if says(&["is a directory"]) => IsADirectory,
        450 | 550 if says(&["not empty"]) => NotEmpty,
        450 | 550 if says(&["exists"]) => AlreadyExists,
        450 | 550 if says(&["no such file", "not found", "does not exist", "can't check"]) => {
            NotFound
        }
        450 | 550 => match op {
            Op::Mkd => AlreadyExists,
            Op::Rmd => NotEmpty,
            Op::Store | Op::Chmod | Op::SetMtime => PermissionDenied,
            _ => NotFound,
        },
        452 | 552 => match op {
            Op::Store | Op::Mkd => NoSpace,
            _ => Other,
        },
        530 | 532 => match op {
            Op::Login => Auth,
            _ => PermissionDenied,
        },
        553 if says(&["permission", "could not create"]) => PermissionDenied,
        553 => InvalidName,
        501 => match op {
            Op::SetMtime | Op::Chmod => Unsupported,
            _ => InvalidName,
        },
        500 | 502 | 504 => Unsupported,
        _ => Other,
    }
}

/// A `RemoteError` for a failure reply to `op` on `what` (a path, for the message).
pub fn reply_error(op: Op, reply: &Reply, what: &str) -> RemoteError {
    RemoteError::new(classify(op, reply), format!("{op:?} {what}: {reply}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RemoteErrorKind::*;

    fn r(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![format!("{code} {text}").into_bytes()],
        }
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
            (Op::SetMtime, 501, "Syntax error", Unsupported),
            (Op::Chmod, 502, "Not implemented", Unsupported),
            (Op::Rename, 553, "Bad name", InvalidName),
            (Op::Stat, 451, "Local error", Other),
        ];
        for (op, code, text, want) in cases {
            assert_eq!(classify(op, &r(code, text)), want, "{op:?} {code} {text}");
        }
    }
}
