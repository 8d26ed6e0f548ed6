//! Where an upload writes, and how it takes the real name: atomic replacement by rename.
//!
//! A STOR straight onto the real name truncates the old file first: an upload that then fails
//! (disk full, connection cut, ftpfs killed) leaves a short file and the previous version is
//! gone. So by default a replacing upload goes to a temporary name in the same directory
//! (`.ftpfs-upload.<id>.<name>`), and only once the server confirmed the data (its final reply,
//! or a SIZE check after a lost reply) is it renamed over the real name with RNFR/RNTO. A failed
//! upload deletes its temporary file; the real name keeps its previous content (or stays absent).
//!
//! Servers that refuse to rename over an existing file get delete-then-rename: between the two
//! commands the name is briefly absent (the new data is complete under the temporary name).
//!
//! Temporary names are hidden from our listings. Leftovers of a crashed mount are hidden too and
//! deleted when a listing shows them untouched for `STALE_AFTER` (only our own prefix, and only
//! files so old that no live upload can still be writing them).
//!
//! `FsConfig::inplace_uploads` turns this off (direct STOR, as before): for servers that forbid
//! renames, or quotas too tight for two copies. APPE (O_APPEND, writes continuing after fsync)
//! always works in place: FTP cannot append to a copy.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::error::FsError;
use super::names::MAX_NAME_LEN;
use crate::remote::{CommitAttrs, Entry, EntryKind, Remote, RemoteErrorKind, RemoteResult};

/// The prefix of every temporary upload name.
pub(crate) const TEMP_PREFIX: &str = ".ftpfs-upload.";

/// A temporary file untouched this long belongs to no live upload: data arriving moves its
/// mtime, and an idle upload is completed or cut by the server long before.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The longest temporary path we upload to. Servers cut command lines at 4096 bytes (vsftpd)
/// and the temporary name is up to ~40 bytes longer than the real one: a path near PATH_MAX
/// that fits in `STOR path` might not fit in `RNFR temp-path`. The margin also covers the
/// mount's remote root prefix. Longer paths are uploaded in place.
pub(crate) const MAX_ATOMIC_PATH: usize = 3840;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `name` is one of our temporary upload names (hidden from listings).
pub(crate) fn is_temp_name(name: &OsStr) -> bool {
    name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// Whether a listed temporary file is a leftover old enough to delete.
pub(crate) fn is_stale_leftover(entry: &Entry, now: SystemTime) -> bool {
    entry.kind == EntryKind::File
        && is_temp_name(&entry.name)
        && entry
            .mtime
            .and_then(|mtime| now.duration_since(mtime).ok())
            .is_some_and(|age| age >= STALE_AFTER)
}

/// A fresh temporary name next to `path`: prefix, a unique id, then as much of the real name
/// as fits in `MAX_NAME_LEN` (so the server shows which file it was).
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    // Process id and counter are unique on this host; the clock's nanoseconds make a clash
    // with another host's mount of the same directory improbable too.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:x}-{nanos:x}-{count:x}.", std::process::id());
    let mut name = Vec::with_capacity(MAX_NAME_LEN);
    name.extend_from_slice(TEMP_PREFIX.as_bytes());
    name.extend_from_slice(id.as_bytes());
    let real = path.file_name().map_or(&[][..], OsStr::as_bytes);
    let room = MAX_NAME_LEN.saturating_sub(name.len());
    name.extend_from_slice(&real[..real.len().min(room)]);
    let name = OsString::from_vec(name);
    match path.parent() {
        Some(parent) => parent.join(name),
        None => PathBuf::from("/").join(name),
    }
}

/// Where one upload writes: the real path (in place) or a temporary one renamed at the end.
#[derive(Debug)]
pub(crate) struct UploadTarget {
    temp: Option<PathBuf>,
    path: PathBuf,
}

impl UploadTarget {
    /// Straight onto `path` (APPE, `inplace`).
    pub(crate) fn in_place(path: &Path) -> Self {
        UploadTarget {
            temp: None,
            path: path.to_path_buf(),
        }
    }

    /// For a replacing upload: atomic, unless the temporary path would be too long for the
    /// server's command line (see `MAX_ATOMIC_PATH`); then in place.
    pub(crate) fn replacing(path: &Path) -> Self {
        let target = UploadTarget::atomic(path);
        if target.upload_path().as_os_str().len() > MAX_ATOMIC_PATH {
            log::debug!(
                "{}: path too long for a temporary name, uploading in place",
                path.display()
            );
            return UploadTarget::in_place(path);
        }
        target
    }

    /// To a temporary name next to `path`, renamed over it by `commit`.
    pub(crate) fn atomic(path: &Path) -> Self {
        UploadTarget {
            temp: Some(temp_path(path)),
            path: path.to_path_buf(),
        }
    }

    /// The real path this upload is for (as at its start).
    pub(crate) fn final_path(&self) -> &Path {
        &self.path
    }

    /// Whether the data goes to a temporary name.
    pub(crate) fn is_atomic(&self) -> bool {
        self.temp.is_some()
    }

    /// The path the data goes to.
    pub(crate) fn upload_path(&self) -> &Path {
        self.temp.as_deref().unwrap_or(&self.path)
    }

    /// The server confirmed the data: give it the real name `path` (the file's current name,
    /// which a rename during the upload may have changed), with `attrs` given to it first (in
    /// the same round trip where the server allows). `attrs.mode` is the permissions to keep
    /// (the replaced file's, or a chmod made during the upload) when known: a fresh file gets
    /// the server's default mode and would lose an executable bit. Returns how setting
    /// `attrs.mtime` went (`None`: not asked, or nothing to rename), for the caller to report
    /// (or retry on the real name).
    pub(crate) fn commit(
        self,
        remote: &dyn Remote,
        path: &Path,
        attrs: CommitAttrs,
    ) -> Result<Option<RemoteResult<()>>, FsError> {
        let Some(temp) = self.temp else {
            return Ok(None);
        };
        let attrs = CommitAttrs {
            mode: attrs.mode.map(|mode| mode & 0o7777),
            ..attrs
        };
        let outcome = remote.commit_upload(&temp, path, attrs);
        if let (Some(mode), Some(Err(err))) = (attrs.mode, &outcome.chmod) {
            log::warn!("could not give {} mode {mode:o}: {err}", path.display());
        }
        let context = || format!("rename upload of {} into place", path.display());
        let first = match outcome.rename {
            Ok(()) => return Ok(outcome.mtime),
            Err(err) => err,
        };
        if first.kind == RemoteErrorKind::NotFound {
            // Our temporary file is gone: nothing to rename, nothing to delete.
            return Err(FsError::remote(context(), &first));
        }
        if first.is_transient() && renamed_anyway(remote, &temp, path) {
            // The reply was lost, not the rename: deleting "the old file" below would delete
            // the new one.
            log::warn!(
                "{}: the reply was lost, but the server shows the rename done",
                context()
            );
            return Ok(outcome.mtime);
        }
        // Some servers refuse to rename over an existing file: delete it, then rename. Only
        // when the target is there, so another refusal cannot cost us the old file.
        let target_exists = matches!(remote.stat(path), Ok(entry) if entry.kind == EntryKind::File);
        if !target_exists {
            discard(remote, &temp);
            return Err(FsError::remote(context(), &first));
        }
        if let Err(err) = remote.delete(path) {
            discard(remote, &temp);
            return Err(FsError::remote(context(), &err));
        }
        log::debug!(
            "replaced {} by delete-then-rename (the server refused to rename over it)",
            path.display()
        );
        remote
            .rename(&temp, path)
            .map(|()| outcome.mtime)
            .map_err(|err| {
                // The old file is gone and the new data sits under the temporary name: keep it.
                log::error!(
                    "{}: the new content is on the server as {}",
                    context(),
                    temp.display()
                );
                FsError::remote(context(), &err)
            })
    }

    /// The upload failed: delete its temporary file (the real name was never touched).
    pub(crate) fn abandon(self, remote: &dyn Remote) {
        if let Some(temp) = self.temp {
            discard(remote, &temp);
        }
    }
}

/// Whether the server shows `temp` renamed to `path`: `temp` gone, `path` a file.
fn renamed_anyway(remote: &dyn Remote, temp: &Path, path: &Path) -> bool {
    matches!(remote.stat(temp), Err(err) if err.kind == RemoteErrorKind::NotFound)
        && matches!(remote.stat(path), Ok(entry) if entry.kind == EntryKind::File)
}

/// Delete a temporary file, logging (not failing) when that is impossible.
pub(crate) fn discard(remote: &dyn Remote, temp: &Path) {
    match remote.delete(temp) {
        Ok(()) => {}
        Err(err) if err.kind == RemoteErrorKind::NotFound => {}
        Err(err) => log::warn!(
            "could not delete the temporary upload {}: {err}",
            temp.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_prefixed_siblings_within_name_max() {
        let a = temp_path(Path::new("/d/file.txt"));
        let b = temp_path(Path::new("/d/file.txt"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/d")));
        let name = a.file_name().unwrap();
        assert!(is_temp_name(name));
        assert!(name.as_bytes().ends_with(b".file.txt"));
        let long = "x".repeat(MAX_NAME_LEN);
        let temp = temp_path(&Path::new("/").join(&long));
        assert_eq!(temp.file_name().unwrap().len(), MAX_NAME_LEN);
        assert_eq!(temp_path(Path::new("/f")).parent(), Some(Path::new("/")));
        assert!(!is_temp_name(OsStr::new("file.txt")));
    }

    #[test]
    fn paths_near_path_max_are_uploaded_in_place() {
        let deep = |len: usize| {
            let part = "d".repeat(99);
            let mut path = PathBuf::from("/");
            while path.as_os_str().len() + 100 < len {
                path.push(&part);
            }
            path.push("f");
            path
        };
        assert!(UploadTarget::replacing(&deep(1000)).is_atomic());
        let long = deep(4000);
        assert!(!UploadTarget::replacing(&long).is_atomic());
        assert_eq!(UploadTarget::replacing(&long).upload_path(), long);
    }

    #[test]
    fn only_old_temp_files_are_stale() {
        let now = SystemTime::now();
        let entry = |name: &str, kind, age: u64| Entry {
            mtime: Some(now - Duration::from_secs(age)),
            ..Entry::new(name, kind)
        };
        let old = STALE_AFTER.as_secs() + 1;
        assert!(is_stale_leftover(
            &entry(".ftpfs-upload.1.f", EntryKind::File, old),
            now
        ));
        assert!(!is_stale_leftover(
            &entry(".ftpfs-upload.1.f", EntryKind::File, 60),
            now
        ));
        assert!(!is_stale_leftover(
            &entry(".ftpfs-upload.1.d", EntryKind::Dir, old),
            now
        ));
        assert!(!is_stale_leftover(
            &entry("other", EntryKind::File, old),
            now
        ));
        let unknown = Entry::new(".ftpfs-upload.1.f", EntryKind::File);
        assert!(!is_stale_leftover(&unknown, now));
    }
}
