//! Open files that are unlinked: still readable and stat-able until the last close.
//!
//! POSIX lets a program keep using a file after unlinking it (temp files, editors, pjdfstest).
//! FTP deletes at once, so, like NFS's `.nfsXXXX` files, an unlink of a file that an open
//! handle uses renames it to a hidden name in the same directory instead (our temporary-name
//! prefix: hidden from listings, and deleted by a later mount once hours old should we crash).
//! The inode follows the file to the hidden name, so fstat (link count 0: it has no name),
//! pread and further writes keep working on it; the last release deletes it, or the unlink
//! itself when that release came while the rename was on the wire (each side acts first and
//! checks the other after, so one of them sees the file hidden and unused). The name itself is free at once: a new file
//! under it is a new inode. An upload in flight is finished before (see `uploads`), so it can
//! never bring the name back.
//!
//! Lock order: handle mutexes are taken one at a time with nothing else held.

use std::path::Path;

use super::handle::Handle;
use super::upload_target;
use super::{FsCore, names};

impl FsCore {
    /// If an open handle uses `path`, rename it to a hidden name and report the unlink done.
    pub(super) fn hide_if_open(&self, path: &Path) -> bool {
        if !self.file_is_open(path, None) {
            return false;
        }
        let hidden = upload_target::temp_path(path);
        match self.remote.rename(path, &hidden) {
            Ok(()) => {
                log::debug!("{} is open: hidden as {}", path.display(), hidden.display());
                self.namespace.unlinked_while_open(path, &hidden);
                // The last handle may have been released while the rename was on the wire:
                // its release still saw the old name and left the file alone.
                if !self.file_is_open(&hidden, None) {
                    self.delete_hidden(&hidden);
                }
                true
            }
            Err(err) => {
                log::debug!(
                    "could not hide open {} ({err}); deleting it",
                    path.display()
                );
                false
            }
        }
    }

    /// A handle of `ino` (at `path` when it was closed) was released: delete a hidden unlinked
    /// file when no other handle uses it any more. The name is read again now: an unlink may
    /// have hidden the file meanwhile.
    pub(super) fn delete_hidden_if_last(&self, ino: u64, path: &Path) {
        let path = self
            .namespace
            .path(ino)
            .unwrap_or_else(|| path.to_path_buf());
        let hidden = names::split(&path).is_some_and(|(_, name)| upload_target::is_temp_name(name));
        if !hidden || self.file_is_open(&path, Some(ino)) {
            return;
        }
        self.delete_hidden(&path);
    }

    fn delete_hidden(&self, hidden: &Path) {
        // Write-back mode: its last close may have queued an upload; cancel or outwait it.
        self.pending_removed(hidden);
        if let Err(err) = self.wait_pending(hidden) {
            log::warn!("{err}");
        }
        upload_target::discard(&*self.remote, hidden);
        self.namespace.removed(hidden);
    }

    /// Whether an open file handle uses `path` (or inode `ino`). Takes each handle's mutex in
    /// turn, nothing else held.
    pub(super) fn file_is_open(&self, path: &Path, ino: Option<u64>) -> bool {
        self.handles.all().iter().any(|handle| match &**handle {
            Handle::File(file) => {
                let file = file.lock();
                ino == Some(file.ino)
                    || self
                        .namespace
                        .path(file.ino)
                        .as_deref()
                        .unwrap_or(&file.path)
                        == path
            }
            Handle::Dir(_) => false,
        })
    }
}
