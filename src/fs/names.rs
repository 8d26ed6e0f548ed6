//! Validation of names coming from the kernel before they turn into remote paths.
//!
//! FTP commands are CRLF-terminated lines: a name containing CR or LF could end a command early
//! and smuggle in another one, and NUL is cut off by many servers. We refuse such names with
//! EINVAL here, before anything is sent, instead of relying on the client layer alone.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::error::FsError;

/// Longest name we accept (the usual NAME_MAX).
pub(crate) const MAX_NAME_LEN: usize = 255;

/// Check one path component given by the kernel.
pub(crate) fn validate_name(name: &OsStr) -> Result<(), FsError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." {
        return Err(FsError::new(libc::EINVAL, format!("invalid name {name:?}")));
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err(FsError::new(
            libc::ENAMETOOLONG,
            format!("name longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    if bytes
        .iter()
        .any(|b| matches!(b, b'\r' | b'\n' | b'\0' | b'/'))
    {
        return Err(FsError::new(
            libc::EINVAL,
            format!("name {name:?} contains CR, LF, NUL or '/', which FTP cannot carry"),
        ));
    }
    Ok(())
}

/// `parent/name` after validating `name`.
pub(crate) fn child_path(parent: &Path, name: &OsStr) -> Result<PathBuf, FsError> {
    validate_name(name)?;
    Ok(parent.join(name))
}

/// Split a remote path into its parent directory and its name; `None` for the root.
pub(crate) fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    Some((path.parent()?, path.file_name()?))
}

/// Where `path` ends up when `from` (itself or an ancestor of `path`) is renamed to `to`;
/// `None` when `path` is not inside `from`.
pub(crate) fn rebase(path: &Path, from: &Path, to: &Path) -> Option<PathBuf> {
    let suffix = path.strip_prefix(from).ok()?;
    Some(if suffix.as_os_str().is_empty() {
        to.to_path_buf()
    } else {
        to.join(suffix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_with_einval() {
        for bad in ["a\rb", "a\nb", "a\0b", "a/b", "", ".", ".."] {
            let err = validate_name(OsStr::new(bad)).unwrap_err();
            assert_eq!(err.errno, libc::EINVAL, "{bad:?}");
        }
    }

    #[test]
    fn spaces_and_non_utf8_pass() {
        validate_name(OsStr::new("two  spaces.txt")).unwrap();
        validate_name(OsStr::from_bytes(b"caf\xe9")).unwrap();
    }

    #[test]
    fn overlong_names_get_enametoolong() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            validate_name(OsStr::new(&long)).unwrap_err().errno,
            libc::ENAMETOOLONG
        );
    }

    #[test]
    fn split_gives_parent_and_name() {
        let (parent, name) = split(Path::new("/a/b")).unwrap();
        assert_eq!(parent, Path::new("/a"));
        assert_eq!(name, "b");
        assert!(split(Path::new("/")).is_none());
    }
}
