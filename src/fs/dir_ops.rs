//! Namespace operations: lookup, getattr, readdir, mkdir, rmdir, unlink, rename, readlink,
//! statfs, access. Each validates names first, calls the remote, then updates the caches so our
//! own changes are visible at once.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::Duration;

use super::handle::{DirEntryOut, DirSnapshot, Handle};
use super::{Attr, FsCore, FsError, StatFs, names};
use crate::cache::CachedLookup;
use crate::remote::{Entry, EntryKind, RemoteErrorKind};

/// `rename(2)` flags (Linux values).
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

impl FsCore {
    /// Find `name` in directory `parent`; counts one kernel lookup on success.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let path = names::child_path(&self.path_of(parent)?, name)?;
        if super::upload_target::is_temp_name(name) {
            // Hidden: uploads in progress and unlinked open files (reached by inode only).
            return Err(FsError::not_found(path.display()));
        }
        let entry = self
            .find_entry(&path)?
            .ok_or_else(|| FsError::not_found(path.display()))?;
        let ino = self.namespace.lookup_ino(&path);
        Ok(self.attr(ino, &entry))
    }

    /// The kernel dropped `count` lookups of `ino`.
    pub fn forget(&self, ino: u64, count: u64) {
        self.namespace.forget(ino, count);
    }

    pub(crate) fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        let path = self.path_of(ino)?;
        let entry = self
            .find_entry(&path)?
            .ok_or_else(|| FsError::not_found(path.display()))?;
        Ok(self.attr(ino, &entry))
    }

    pub(crate) fn readlink(&self, ino: u64) -> Result<OsString, FsError> {
        let path = self.path_of(ino)?;
        match self.find_entry(&path)? {
            Some(Entry {
                kind: EntryKind::Symlink,
                link_target: Some(target),
                ..
            }) => Ok(target),
            Some(_) => Err(FsError::new(
                libc::EINVAL,
                format!("{} is not a symlink", path.display()),
            )),
            None => Err(FsError::not_found(path.display())),
        }
    }

    /// Take a snapshot of the directory for readdir.
    pub fn opendir(&self, ino: u64) -> Result<u64, FsError> {
        let path = self.path_of(ino)?;
        // First read of this listing: a walk is likely to read the subdirectories next.
        let cold =
            self.namespace.cached_listing(&path).is_none() || self.prefetch.take_listed(&path);
        let entries = self.listing(&path)?;
        if cold {
            self.prefetch.subdirectories_of(&path, &entries);
        }
        let parent_ino = match path.parent() {
            Some(parent) => self.namespace.readdir_ino(parent),
            None => ino,
        };
        Ok(self.handles.insert(Handle::Dir(DirSnapshot {
            ino,
            parent_ino,
            entries,
        })))
    }

    /// Whether the kernel may answer readdir on the directory handle `fh` from the copy it
    /// made at an earlier opendir (`FOPEN_KEEP_CACHE`): only when nothing changed since, as
    /// `DirCache::kernel_may_keep` decides. A warm `ls -l` of a big directory then costs no
    /// readdir request.
    pub fn kernel_may_keep_listing(&self, fh: u64) -> Result<bool, FsError> {
        let handle = self.handles.get(fh)?;
        let snapshot = dir_snapshot(&handle)?;
        let dir = self.path_of(snapshot.ino)?;
        Ok(self
            .namespace
            .kernel_may_keep_listing(&dir, &snapshot.entries))
    }

    /// Hand entries from `offset` on to `add` until it returns true (buffer full).
    pub fn readdir(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(&DirEntryOut<'_>) -> bool,
    ) -> Result<(), FsError> {
        let handle = self.handles.get(fh)?;
        let snapshot = dir_snapshot(&handle)?;
        // The current path (a rename since opendir moved it), for the entries' numbers.
        let dir_path = self.path_of(snapshot.ino)?;
        for index in entry_index(offset)..snapshot.entries.len() + 2 {
            let Some(mut out) = snapshot_entry(snapshot, index) else {
                break;
            };
            if out.listed.is_some() {
                out.ino = self.namespace.readdir_ino(&dir_path.join(out.name));
            }
            if add(&out) {
                break;
            }
        }
        Ok(())
    }

    /// Like `readdir`, with each entry's attributes, so `ls -l` needs no lookup per name. The
    /// kernel keeps every entry it accepts (`add` returned false) as a lookup it will forget
    /// later, so those are counted like `lookup`; "." and ".." are not (the kernel skips them).
    /// `add` also gets how long the name and attributes stay true: as long as the current
    /// listing stays fresh, so `ls -l` of a big directory stats from the kernel's cache, not
    /// with a getattr per name once a second has passed. Only for an entry that listing has
    /// and nobody writes, though: `None` (the adapter's short default) for one known only from
    /// the handle's older snapshot (we removed it, or a re-fetch lacks it) and for a file with
    /// a write or upload in flight (a refused upload takes its name back, and the kernel would
    /// keep a name we hand out for longer than forgetting our listing can reach).
    pub fn readdirplus(
        &self,
        dir: u64,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(&DirEntryOut<'_>, &Attr, Option<Duration>) -> bool,
    ) -> Result<(), FsError> {
        // `attr.ino` is the inode to reply (counted for listed entries), not `out.ino`.
        let handle = self.handles.get(fh)?;
        let snapshot = dir_snapshot(&handle)?;
        let dir_path = self.path_of(dir)?;
        let valid_for = self.namespace.listing_fresh_for(&dir_path);
        for index in entry_index(offset)..snapshot.entries.len() + 2 {
            let Some(out) = snapshot_entry(snapshot, index) else {
                break;
            };
            let Some(listed) = out.listed else {
                let dot = Entry::new(out.name, EntryKind::Dir);
                if add(&out, &self.attr(out.ino, &dot), valid_for) {
                    break;
                }
                continue;
            };
            let path = dir_path.join(out.name);
            // The listing cache is newer than the snapshot when we changed the file since
            // opendir; stale attributes here would override fresher ones in the kernel.
            let (current, in_listing) = match self.namespace.cached(&dir_path, out.name) {
                CachedLookup::Found(entry) => (entry, true),
                _ => (listed.clone(), false),
            };
            let lasts = valid_for.filter(|_| in_listing && !self.namespace.is_written(&path));
            // The overlay of an entry is always an entry.
            let Some(entry) = self.namespace.overlay(&path, out.name, Some(current)) else {
                continue;
            };
            let ino = self.namespace.lookup_ino(&path);
            if add(&out, &self.attr(ino, &entry), lasts) {
                self.namespace.forget(ino, 1); // not handed out after all
                break;
            }
        }
        Ok(())
    }

    /// Closes a directory handle. After a big directory, the memory its listing's parse and
    /// readdir left free is handed back to the system (see `trim_heap`).
    pub(crate) fn releasedir(&self, fh: u64) -> Result<(), FsError> {
        let handle = self.handles.remove(fh)?;
        let big = matches!(&*handle, Handle::Dir(s) if s.entries.len() >= TRIM_AFTER_ENTRIES);
        drop(handle);
        if big {
            trim_heap();
        }
        Ok(())
    }

    pub(crate) fn mkdir(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        self.check_writable()?;
        let parent_path = self.path_of(parent)?;
        let path = names::child_path(&parent_path, name)?;
        self.remote
            .mkdir(&path)
            .map_err(|err| FsError::remote(format!("mkdir {}", path.display()), &err))?;
        let entry = self.namespace.created_dir(&parent_path, name, &path);
        let ino = self.namespace.lookup_ino(&path);
        Ok(self.attr(ino, &entry))
    }

    pub(crate) fn rmdir(&self, parent: u64, name: &OsStr) -> Result<(), FsError> {
        self.check_writable()?;
        let parent_path = self.path_of(parent)?;
        let path = names::child_path(&parent_path, name)?;
        self.wait_pending(&path)?;
        let not_empty =
            || FsError::new(libc::ENOTEMPTY, format!("{} is not empty", path.display()));
        if self
            .namespace
            .cached_listing(&path)
            .is_some_and(|entries| !entries.is_empty())
        {
            return Err(not_empty());
        }
        if let Err(err) = self.remote.rmdir(&path) {
            let fs_err = FsError::remote(format!("rmdir {}", path.display()), &err);
            return Err(match err.kind {
                RemoteErrorKind::NotEmpty => not_empty(),
                RemoteErrorKind::NotFound | RemoteErrorKind::NotADirectory => fs_err,
                // Servers often answer a bare 550: find out whether emptiness was the reason.
                _ => match self.remote.list(&path) {
                    Ok(entries) if !entries.is_empty() => not_empty(),
                    _ => fs_err,
                },
            });
        }
        self.pending_removed(&path);
        self.namespace.removed(&path);
        Ok(())
    }

    pub(crate) fn unlink(&self, parent: u64, name: &OsStr) -> Result<(), FsError> {
        self.check_writable()?;
        let parent_path = self.path_of(parent)?;
        let path = names::child_path(&parent_path, name)?;
        self.finish_uploads_under(&path);
        if self.unlink_queued(&path)? {
            return Ok(());
        }
        self.wait_pending(&path)?;
        if self.hide_if_open(&path) {
            return Ok(());
        }
        if let Err(err) = self.remote.delete(&path)
            && !self.only_in_spool(&path, &err)
        {
            return Err(FsError::remote(format!("delete {}", path.display()), &err));
        }
        self.pending_removed(&path);
        self.namespace.removed(&path);
        Ok(())
    }

    /// Rename, replacing an existing target like rename(2) does even when the server refuses
    /// to (then the target is deleted first: not atomic, but what FTP allows).
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> Result<(), FsError> {
        self.check_writable()?;
        let from_parent = self.path_of(parent)?;
        let to_parent = self.path_of(new_parent)?;
        let from = names::child_path(&from_parent, name)?;
        let to = names::child_path(&to_parent, new_name)?;
        if flags & RENAME_EXCHANGE != 0 {
            return Err(FsError::new(
                libc::EINVAL,
                "RENAME_EXCHANGE is not possible over FTP",
            ));
        }
        if flags & RENAME_NOREPLACE != 0 {
            // Ask the server, not a listing that may be seconds old.
            self.namespace.forget_listing(&to_parent);
            if self.find_entry(&to)?.is_some() {
                return Err(FsError::new(
                    libc::EEXIST,
                    format!("{} exists", to.display()),
                ));
            }
        }
        if from == to {
            return Ok(());
        }
        self.finish_uploads_under(&from);
        if self.rename_in_spool(&from, &to)? || self.rename_queued(&from, &to)? {
            return Ok(());
        }
        self.wait_pending(&from)?;
        self.wait_pending(&to)?;
        let context = || format!("rename {} to {}", from.display(), to.display());
        if let Err(err) = self.remote.rename(&from, &to)
            && !self.only_in_spool(&from, &err)
        {
            if err.kind == RemoteErrorKind::NotFound {
                return Err(FsError::remote(context(), &err));
            }
            self.replace_target_and_retry(&from, &to, &to_parent)
                .map_err(|retry_err| match retry_err {
                    Some(retry_err) => retry_err,
                    None => FsError::remote(context(), &err),
                })?;
        }
        self.pending_renamed(&from, &to);
        self.namespace.renamed(&from, &to);
        Ok(())
    }

    /// The server refused the rename: if the target exists, remove it and try once more.
    /// `Err(None)` means there was no target to blame (report the original error).
    fn replace_target_and_retry(
        &self,
        from: &Path,
        to: &Path,
        to_parent: &Path,
    ) -> Result<(), Option<FsError>> {
        self.namespace.forget_listing(to_parent);
        let target = self.find_entry(to).map_err(Some)?.ok_or(None)?;
        let source_is_dir = self
            .find_entry(from)
            .map_err(Some)?
            .is_some_and(|entry| entry.kind == EntryKind::Dir);
        match (source_is_dir, target.kind == EntryKind::Dir) {
            (false, true) => {
                return Err(Some(FsError::new(
                    libc::EISDIR,
                    format!("{} is a directory", to.display()),
                )));
            }
            (true, false) => {
                return Err(Some(FsError::new(
                    libc::ENOTDIR,
                    format!("{} is not a directory", to.display()),
                )));
            }
            _ => {}
        }
        let removed = if target.kind == EntryKind::Dir {
            self.remote.rmdir(to).map_err(|err| match err.kind {
                RemoteErrorKind::NotEmpty | RemoteErrorKind::Other => {
                    FsError::new(libc::ENOTEMPTY, format!("{} is not empty", to.display()))
                }
                _ => FsError::remote(format!("rmdir {}", to.display()), &err),
            })
        } else {
            self.remote
                .delete(to)
                .map_err(|err| FsError::remote(format!("delete {}", to.display()), &err))
        };
        removed.map_err(Some)?;
        log::debug!("removed {} so the rename can replace it", to.display());
        self.namespace.removed(to);
        self.remote.rename(from, to).map_err(|err| {
            Some(FsError::remote(
                format!("rename {} to {}", from.display(), to.display()),
                &err,
            ))
        })
    }

    pub(crate) fn statfs(&self) -> StatFs {
        const BLOCKS: u64 = 1 << 32; // 16 TiB of 4 KiB blocks
        StatFs {
            blocks: BLOCKS,
            bfree: BLOCKS,
            bavail: BLOCKS,
            files: 1 << 24,
            ffree: 1 << 24,
            bsize: super::attr::BLOCK_SIZE,
            namelen: names::MAX_NAME_LEN as u32,
            frsize: super::attr::BLOCK_SIZE,
        }
    }

    /// access(2): the inode must exist; writing needs a writable mount. The server decides
    /// real permissions when we act.
    pub fn access(&self, ino: u64, mask: i32) -> Result<(), FsError> {
        self.getattr(ino)?;
        if mask & libc::W_OK != 0 {
            self.check_writable()?;
        }
        Ok(())
    }
}

/// A directory at least this big is worth a `trim_heap` when its handle closes.
const TRIM_AFTER_ENTRIES: usize = 10_000;

/// Returns the heap's free pages to the system. Listing a big directory frees as much as it
/// keeps (the reply body, the parsed entries, per-name temporaries of readdirplus) in many
/// small blocks scattered over the allocator's per-thread arenas, which glibc never gives
/// back on its own: without this, 100,000 names left the mount ~50 MiB larger than what it
/// still holds. Cost: one pass over the arenas, a few milliseconds, once per big listing.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The snapshot of an open directory handle.
fn dir_snapshot(handle: &Handle) -> Result<&DirSnapshot, FsError> {
    match handle {
        Handle::Dir(snapshot) => Ok(snapshot),
        Handle::File(_) => Err(FsError::new(libc::ENOTDIR, "readdir on a file handle")),
    }
}

/// Entry `index` of a snapshot ("." and ".." first), its `ino` the listed entries' to fill in.
fn snapshot_entry(snapshot: &DirSnapshot, index: usize) -> Option<DirEntryOut<'_>> {
    let (ino, name, kind, listed) = match index {
        0 => (snapshot.ino, OsStr::new("."), EntryKind::Dir, None),
        1 => (snapshot.parent_ino, OsStr::new(".."), EntryKind::Dir, None),
        _ => {
            let entry = snapshot.entries.get(index - 2)?;
            (0, entry.name.as_os_str(), entry.kind, Some(entry))
        }
    };
    Some(DirEntryOut {
        ino,
        offset: index as u64 + 1,
        kind,
        name,
        listed,
    })
}

/// The snapshot index a readdir offset (the kernel's cookie) starts at.
fn entry_index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}
