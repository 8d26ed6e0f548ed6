//! The one place where remote failures become errnos.
//!
//! Every filesystem operation returns `FsError`; the FUSE adapter replies with `errno` and logs
//! `message`. Keeping the table here (ARCHITECTURE section 6) means the FTP client only has to
//! classify a failure (`RemoteErrorKind`), never to know what the kernel expects.

use std::fmt;

use crate::remote::{RemoteError, RemoteErrorKind};

/// A failed filesystem operation: the errno for the kernel and a message for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsError {
    /// What the kernel is told (a positive `libc::E*` value).
    pub errno: i32,
    /// For the log: the operation, the path and the server's words when it had any.
    pub message: String,
}

impl FsError {
    pub(crate) fn new(errno: i32, message: impl Into<String>) -> Self {
        FsError {
            errno,
            message: message.into(),
        }
    }

    /// A remote failure of `operation` (e.g. "list /dir"), with its errno from the table.
    pub fn remote(operation: impl fmt::Display, error: &RemoteError) -> Self {
        FsError::new(errno_for(error.kind), format!("{operation}: {error}"))
    }

    /// A local I/O failure (spool files).
    pub fn io(operation: impl fmt::Display, error: &std::io::Error) -> Self {
        FsError::new(
            error.raw_os_error().unwrap_or(libc::EIO),
            format!("{operation}: {error}"),
        )
    }

    pub(crate) fn not_found(what: impl fmt::Display) -> Self {
        FsError::new(libc::ENOENT, format!("{what}: no such file or directory"))
    }

    pub(crate) fn read_only() -> Self {
        FsError::new(libc::EROFS, "the filesystem is mounted read-only")
    }

    pub(crate) fn bad_handle(fh: u64) -> Self {
        FsError::new(libc::EBADF, format!("unknown file handle {fh}"))
    }
}

/// The table from remote failure kinds to errnos.
pub(crate) fn errno_for(kind: RemoteErrorKind) -> i32 {
    match kind {
        RemoteErrorKind::NotFound => libc::ENOENT,
        RemoteErrorKind::AlreadyExists => libc::EEXIST,
        RemoteErrorKind::NotEmpty => libc::ENOTEMPTY,
        RemoteErrorKind::NotADirectory => libc::ENOTDIR,
        RemoteErrorKind::IsADirectory => libc::EISDIR,
        RemoteErrorKind::PermissionDenied | RemoteErrorKind::Auth => libc::EACCES,
        RemoteErrorKind::InvalidName => libc::EINVAL,
        RemoteErrorKind::NoSpace => libc::ENOSPC,
        RemoteErrorKind::QuotaExceeded => libc::EDQUOT,
        RemoteErrorKind::Unsupported => libc::ENOTSUP,
        RemoteErrorKind::TimedOut => libc::ETIMEDOUT,
        RemoteErrorKind::Connection | RemoteErrorKind::Protocol | RemoteErrorKind::Other => {
            libc::EIO
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.message, self.errno)
    }
}

impl std::error::Error for FsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_maps_the_kinds_the_kernel_distinguishes() {
        let cases = [
            (RemoteErrorKind::NotFound, libc::ENOENT),
            (RemoteErrorKind::AlreadyExists, libc::EEXIST),
            (RemoteErrorKind::NotEmpty, libc::ENOTEMPTY),
            (RemoteErrorKind::PermissionDenied, libc::EACCES),
            (RemoteErrorKind::InvalidName, libc::EINVAL),
            (RemoteErrorKind::NoSpace, libc::ENOSPC),
            (RemoteErrorKind::QuotaExceeded, libc::EDQUOT),
            (RemoteErrorKind::Unsupported, libc::ENOTSUP),
            (RemoteErrorKind::TimedOut, libc::ETIMEDOUT),
            (RemoteErrorKind::Connection, libc::EIO),
        ];
        for (kind, errno) in cases {
            assert_eq!(errno_for(kind), errno, "{kind:?}");
        }
    }

    #[test]
    fn remote_error_keeps_the_server_words() {
        let err = FsError::remote(
            "STOR /a",
            &RemoteError::new(RemoteErrorKind::NoSpace, "552 quota"),
        );
        assert_eq!(err.errno, libc::ENOSPC);
        assert!(err.message.contains("552 quota"), "{}", err.message);
    }
}
