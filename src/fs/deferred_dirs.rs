//! Write-back mode: a directory's time and mode set while uploads below it are still queued.
//!
//! `rsync -a`, `tar -x` and `cp -a` set each directory's time (and `tar` its mode) after filling
//! it. In write-back mode the files are still queued then, and each of their uploads ends with
//! a rename into the directory, which moves the directory's time on the server; a mode without
//! the owner's write bit would even make them fail. Waiting for the uploads (as the other
//! ordered operations do) made `rsync` return only once everything was on the server. So the
//! attributes are shown at once, kept here, and applied on the server once nothing is pending
//! below the directory any more: when an upload ends, before an operation ordered after the
//! uploads below (a rename or rmdir of the directory), and at unmount.
//!
//! A time is applied only while it is still the one this mount shows: a create, unlink or
//! rename made here in the directory afterwards moved it, and that later change wins, as on a
//! local disk. Failures are logged; the call that set the attribute had already returned.
//!
//! Locking: one leaf mutex, never held while the engine's queue is asked or the server is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;

use super::{FsCore, SetAttrRequest};

/// What was set on one directory and not sent yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Deferred {
    mtime: Option<SystemTime>,
    mode: Option<u32>,
}

/// The deferred attributes per directory.
#[derive(Debug, Default)]
pub(crate) struct DeferredDirs(Mutex<HashMap<PathBuf, Deferred>>);

impl FsCore {
    /// setattr in write-back mode: a utimens and/or chmod (nothing else) of a directory with
    /// uploads pending below it is shown now and applied after them. True: recorded.
    pub(super) fn defer_dir_attributes(&self, path: &Path, changes: &SetAttrRequest) -> bool {
        let Some(engine) = self.writeback.get() else {
            return false;
        };
        let only_mode_and_time = changes.size.is_none()
            && changes.uid.is_none()
            && changes.gid.is_none()
            && (changes.mtime.is_some() || changes.mode.is_some());
        if !only_mode_and_time || !self.is_cached_dir(path) || !engine.pending_below(path) {
            return false;
        }
        let mode = changes.mode.map(|mode| mode & 0o7777);
        // Shown at once; the remembered time is also the mark `apply_settled_dir_attributes`
        // checks (a later change made here in the directory moves it).
        if let Some(mtime) = changes.mtime {
            self.namespace.mtime_set(path, mtime);
        }
        if let Some(mode) = mode {
            self.namespace.mode_set(path, mode);
        }
        {
            let mut deferred = self.deferred_dirs.0.lock();
            let entry = deferred.entry(path.to_path_buf()).or_default();
            entry.mtime = changes.mtime.or(entry.mtime);
            entry.mode = mode.or(entry.mode);
        }
        // The last upload below may have ended between the check and the insert.
        self.apply_settled_dir_attributes();
        true
    }

    /// Apply the deferred attributes of the directories with nothing pending below any more.
    pub(super) fn apply_settled_dir_attributes(&self) {
        let Some(engine) = self.writeback.get() else {
            return;
        };
        let candidates: Vec<(PathBuf, Deferred)> = {
            let deferred = self.deferred_dirs.0.lock();
            if deferred.is_empty() {
                return;
            }
            deferred.iter().map(|(dir, d)| (dir.clone(), *d)).collect()
        };
        for (dir, attributes) in candidates {
            if engine.pending_below(&dir) {
                continue;
            }
            {
                // Another caller may have taken it, or a newer setattr changed it, meanwhile.
                let mut deferred = self.deferred_dirs.0.lock();
                if deferred.get(&dir) != Some(&attributes) {
                    continue;
                }
                deferred.remove(&dir);
            }
            self.apply_dir_attributes(&dir, attributes);
        }
    }

    fn apply_dir_attributes(&self, dir: &Path, attributes: Deferred) {
        if let Some(mode) = attributes.mode
            && let Err(err) = self.chmod(dir, mode)
        {
            log::warn!(
                "{}: the mode set while uploads below were pending was not applied: {err}",
                dir.display()
            );
        }
        let Some(mtime) = attributes.mtime else {
            return;
        };
        if self.namespace.remembered_mtime(dir) != Some(mtime) {
            log::debug!(
                "{}: changed here after its time was set; that time is not sent",
                dir.display()
            );
            return;
        }
        if let Err(err) = self.apply_mtime(dir, mtime) {
            log::warn!(
                "{}: the time set while uploads below were pending was not applied: {err}",
                dir.display()
            );
        }
    }
}
