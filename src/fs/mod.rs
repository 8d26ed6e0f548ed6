//! The filesystem core: inode numbers and handles in, remote operations out.
//!
//! Everything here is testable without the kernel (see `tests` and `crate::remote::memory`); the FUSE
//! adapter (`crate::fuse`) only converts types and replies. Methods take inode numbers and handle
//! numbers and return `Result<_, FsError>` whose errno comes from the one table in `error`.
//!
//! # Lock order
//! 1. a file handle's own mutex (`handle::OpenFile`): may be held across that handle's network
//!    I/O (its download, its upload), which only serialises operations on that one handle;
//! 2. leaf locks, each taken alone and never across network I/O: the handle table, the inode
//!    table, the listing cache, the chunk cache, the open-writes registry, the local times, the
//!    listing-ahead queue (`prefetch`; a request may wait on its condvar, which releases it),
//!    and the write-back engine's queue and budget (`pending`: waited on with no handle held).
//!
//! A leaf lock is never held while taking another lock, and no handle mutex is taken while a
//! leaf lock is held, so no cycle is possible.
//!
//! One place holds one handle's mutex while touching another's: the transfer-pressure hook
//! (`relieve_transfer_pressure`), which the FTP pool calls on a thread waiting for a connection,
//! possibly inside an operation on its own handle. It only ever `try_lock`s other handles and
//! skips the busy ones, so it cannot wait on anybody and cannot deadlock.
//!
//! # Semantics worth knowing
//! - chmod on a server without SITE CHMOD, and utimens on a server without MFMT, succeed with a
//!   warning logged once: failing would make `cp -p`/`rsync -a` abort on servers that simply
//!   cannot store these attributes, while the file data (what matters) is intact.
//!   Likewise a refused utimens on a directory (vsftpd and pyftpdlib set file times only).
//! - chown/chgrp to anything but the configured owner: EPERM.
//! - New files and directories get the create mode with SITE CHMOD when it differs from the
//!   server's default (`setattr::apply_create_mode`, called by the adapter after create/mkdir).
//! - Symlinks are shown (readlink works) but cannot be created: EPERM. Hard links: EPERM.

pub(crate) mod attr;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod handle;
pub(crate) mod inode;
pub(crate) mod names;
pub(crate) mod namespace;
pub(crate) mod read;
pub(crate) mod spool;
pub(crate) mod upload_target;
pub(crate) mod write;
pub(crate) mod writeback;

mod barriers;
mod deferred_dirs;
mod dir_ops;
mod exec;
mod file_ops;
mod pending;
mod prefetch;
mod setattr;
mod unlinked;
mod uploads;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

pub use attr::Attr;
pub use config::FsConfig;
pub use error::FsError;
pub use handle::DirEntryOut;
pub use inode::ROOT_INO;
pub use setattr::SetAttrRequest;

use crate::cache::CachedLookup;
use crate::remote::{Entry, EntryKind, Remote};
use handle::{Handle, HandleTable, WriteState};
use namespace::Namespace;

/// An open file whose download was not read for this long gives its connection back when
/// another transfer is waiting for one (it resumes with REST when read again).
const IDLE_STREAM_GRACE: Duration = Duration::from_secs(1);

/// Numbers statfs reports: FTP cannot tell free space, so we claim plenty rather than zero
/// (zero makes file managers refuse to copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatFs {
    pub(crate) blocks: u64,
    pub(crate) bfree: u64,
    pub(crate) bavail: u64,
    pub(crate) files: u64,
    pub(crate) ffree: u64,
    pub(crate) bsize: u32,
    pub(crate) namelen: u32,
    pub(crate) frsize: u32,
}

/// Warnings we log once per mount instead of on every call.
#[derive(Debug, Default)]
struct WarnedOnce {
    set_mtime_unsupported: AtomicBool,
    dir_mtime_refused: AtomicBool,
    chmod_unsupported: AtomicBool,
}

fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        log::warn!("{message}");
    }
}

/// The filesystem core: the mounted tree as the kernel asks about it, in paths and errnos (the
/// FUSE adapter translates; named apart from `fuser::Filesystem`, the trait it implements).
/// Thread-safe: the FUSE adapter calls it from several threads.
pub struct FsCore {
    remote: Arc<dyn Remote>,
    config: FsConfig,
    /// Every cache of what a path means; changed only through its event methods.
    namespace: Namespace,
    handles: HandleTable,
    warned: WarnedOnce,
    mounted_at: SystemTime,
    prefetch: prefetch::Prefetcher,
    /// Write-back mode's engine, set by `start_writeback` (empty: the default mode).
    writeback: std::sync::OnceLock<writeback::engine::Engine>,
    writeback_drained: AtomicBool,
    /// Write-back mode: directory times and modes set while uploads below were queued,
    /// applied once those end (`deferred_dirs`). A leaf lock.
    deferred_dirs: deferred_dirs::DeferredDirs,
}

impl FsCore {
    /// The core over `remote`, shared: the remote's pressure hook (see
    /// `relieve_transfer_pressure`) holds a weak reference to it.
    pub fn new(remote: Arc<dyn Remote>, config: FsConfig) -> Arc<Self> {
        Arc::new_cyclic(|this: &std::sync::Weak<FsCore>| {
            let prefetch = prefetch::Prefetcher::new(this.clone());
            let this = this.clone();
            remote.set_transfer_pressure_hook(Arc::new(move || {
                if let Some(fs) = this.upgrade() {
                    fs.relieve_transfer_pressure(IDLE_STREAM_GRACE);
                }
            }));
            FsCore {
                namespace: Namespace::new(&config),
                remote,
                config,
                handles: HandleTable::default(),
                warned: WarnedOnce::default(),
                mounted_at: SystemTime::now(),
                prefetch,
                writeback: std::sync::OnceLock::new(),
                writeback_drained: AtomicBool::new(false),
                deferred_dirs: deferred_dirs::DeferredDirs::default(),
            }
        })
    }

    /// A transfer waits for a connection: give back the ones held by open files unused for
    /// `min_idle`. An idle download is suspended (it resumes with REST); an idle upload is
    /// completed like fsync does (later writes continue with APPE after a size check). Handles
    /// busy right now are skipped (`try_lock`). Returns how many connections were freed.
    pub fn relieve_transfer_pressure(&self, min_idle: Duration) -> usize {
        let mut freed = 0;
        for handle in self.handles.all() {
            let Handle::File(file) = &*handle else {
                continue;
            };
            let Some(mut file) = file.try_lock() else {
                continue;
            };
            if file.reader.suspend_if_idle(min_idle) {
                log::debug!("suspended the idle download of {}", file.path.display());
                freed += 1;
            }
            if let WriteState::Streaming(upload) = &file.write
                && upload.idle_for() >= min_idle
            {
                log::debug!("completing the idle upload of {}", file.path.display());
                match self.settle(&mut file) {
                    Ok(()) => freed += 1,
                    // Sticky in the handle: the next write, fsync or close reports it.
                    Err(err) => log::warn!("completing an idle upload failed: {err}"),
                }
            }
        }
        if freed > 0 {
            log::info!("gave back {freed} connection(s) held by idle open files");
        }
        freed
    }

    /// Finish (or loudly fail) every upload in flight; called on unmount/SIGTERM. In write-back
    /// mode, then drain the queue (bounded; what is left stays in the spool and is logged).
    /// Returns the first failure; every failure is logged with its path.
    pub fn shutdown(&self) -> Result<(), FsError> {
        let mut first_error = None;
        for handle in self.handles.all() {
            let Handle::File(file) = &*handle else {
                continue;
            };
            let mut file = file.lock();
            if matches!(file.write, WriteState::Clean { .. }) {
                continue;
            }
            if let Err(err) = self.settle(&mut file) {
                log::error!(
                    "at shutdown, {} could not be saved: {err}",
                    file.path.display()
                );
                first_error.get_or_insert(err);
            }
        }
        if let Err(err) = self.drain_writeback() {
            first_error.get_or_insert(err);
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Hits and misses of the chunk cache (diagnostics and tests).
    pub fn chunk_cache_stats(&self) -> (u64, u64) {
        let chunks = self.namespace.chunks();
        (chunks.hits(), chunks.misses())
    }

    fn check_writable(&self) -> Result<(), FsError> {
        if self.config.read_only {
            Err(FsError::read_only())
        } else {
            Ok(())
        }
    }

    fn path_of(&self, ino: u64) -> Result<PathBuf, FsError> {
        self.namespace
            .path(ino)
            .ok_or_else(|| FsError::new(libc::ESTALE, format!("unknown inode {ino}")))
    }

    /// The mount root: no listing shows it, so its time is the one set on it or of the last
    /// change made in it through this mount, else the time of mounting.
    fn root_entry(&self) -> Entry {
        Entry {
            mtime: Some(self.namespace.root_mtime().unwrap_or(self.mounted_at)),
            ..Entry::new("/", EntryKind::Dir)
        }
    }

    /// The entries of `dir`, from the cache or the remote.
    fn listing(&self, dir: &Path) -> Result<Arc<[Entry]>, FsError> {
        if let Some(entries) = self.namespace.cached_listing(dir) {
            return Ok(entries);
        }
        if self.prefetch.claim(dir)
            && let Some(entries) = self.namespace.cached_listing(dir)
        {
            return Ok(entries);
        }
        let generation = self.namespace.listing_generation();
        let entries = self
            .remote
            .list(dir)
            .map_err(|err| FsError::remote(format!("list {}", dir.display()), &err))?;
        let (entries, cached) = self.accept_listing(dir, entries, generation);
        // The cached copy when there is one: open handles then share it instead of holding
        // a second copy of a big directory.
        if cached && let Some(cached) = self.namespace.cached_listing(dir) {
            return Ok(cached);
        }
        Ok(entries.into())
    }

    /// What every listing of `dir` fresh from the server goes through, whoever asked for it
    /// (a request, or a listing ahead): our upload temporaries hidden (README Semantics),
    /// names queued for write-back added, and cached unless one of our own changes of `dir`
    /// came after `generation` (read before the remote call). Returns the entries to show
    /// and whether they were cached.
    fn accept_listing(
        &self,
        dir: &Path,
        entries: Vec<Entry>,
        generation: u64,
    ) -> (Vec<Entry>, bool) {
        let entries = self.without_temp_files(dir, entries);
        let mut entries = self.with_pending_names(dir, entries);
        let cached = self.namespace.listed(dir, &mut entries, generation);
        (entries, cached)
    }

    /// What is at `path`, answered from the parent's listing (a stat only when the parent cannot
    /// be listed), with the sizes of files we are writing laid over it.
    fn find_entry(&self, path: &Path) -> Result<Option<Entry>, FsError> {
        let Some((parent, name)) = names::split(path) else {
            return Ok(Some(self.root_entry()));
        };
        if upload_target::is_temp_name(name) {
            // Hidden from listings: uploads in progress, and unlinked files still open, which
            // their inode keeps reaching (fstat); ask the server, and show what their handles
            // wrote since.
            return match self.remote.stat(path) {
                Ok(entry) => Ok(self.namespace.overlay(path, name, Some(entry))),
                Err(err) if err.kind == crate::remote::RemoteErrorKind::NotFound => Ok(None),
                Err(err) => Err(FsError::remote(format!("stat {}", path.display()), &err)),
            };
        }
        let listed = match self.namespace.cached(parent, name) {
            CachedLookup::Found(entry) => Some(entry),
            CachedLookup::Absent => None,
            CachedLookup::Unknown => match self.listing(parent) {
                Ok(entries) => {
                    let found = entries.iter().find(|entry| entry.name == name).cloned();
                    if found
                        .as_ref()
                        .is_some_and(|entry| entry.kind == EntryKind::Dir)
                    {
                        self.prefetch.directory(path); // a path walk lists it next
                    }
                    found
                }
                Err(err) if err.errno == libc::ENOENT || err.errno == libc::ENOTDIR => None,
                Err(err) => {
                    log::debug!("{err}; trying a stat of {}", path.display());
                    match self.remote.stat(path) {
                        Ok(entry) => Some(entry),
                        Err(stat_err)
                            if stat_err.kind == crate::remote::RemoteErrorKind::NotFound =>
                        {
                            None
                        }
                        Err(_) => return Err(err),
                    }
                }
            },
        };
        Ok(self.namespace.overlay(path, name, listed))
    }

    /// The attributes shown for `entry`: the server's, with a directory's subdirectories
    /// counted from its cached listing and the times FTP cannot store laid over (`attr`).
    fn attr(&self, ino: u64, entry: &Entry) -> Attr {
        let mut attr = Attr::from_entry(ino, entry, &self.config);
        self.namespace.complete_attr(ino, &mut attr);
        attr
    }

    /// Whether `path` is a directory (from the cache, else its parent's listing).
    fn is_dir(&self, path: &Path) -> bool {
        matches!(
            self.find_entry(path),
            Ok(Some(Entry {
                kind: EntryKind::Dir,
                ..
            }))
        )
    }

    /// Whether the cache knows `path` as a directory (the root always is); never asks the
    /// server.
    fn is_cached_dir(&self, path: &Path) -> bool {
        let Some((parent, name)) = names::split(path) else {
            return true;
        };
        matches!(
            self.namespace.cached(parent, name),
            CachedLookup::Found(Entry {
                kind: EntryKind::Dir,
                ..
            })
        )
    }

    /// Apply an mtime the remote may not support; Unsupported is logged once and ignored.
    fn apply_mtime(&self, path: &Path, mtime: SystemTime) -> Result<(), FsError> {
        if self.warned.dir_mtime_refused.load(Ordering::Relaxed) && self.is_cached_dir(path) {
            // The server refused a directory's time once (vsftpd and pyftpdlib refuse every
            // directory): asking again costs a round trip per directory (rsync -a sets each
            // one's, twice) for the same answer. Shown anyway, as below.
            self.namespace.dir_time_kept(path, mtime);
            return Ok(());
        }
        match self.remote.set_mtime(path, mtime) {
            Ok(()) => {
                self.namespace.mtime_set(path, mtime);
                Ok(())
            }
            Err(err) if err.kind == crate::remote::RemoteErrorKind::Unsupported => {
                warn_once(
                    &self.warned.set_mtime_unsupported,
                    &format!("the server cannot set modification times ({err}); ignoring"),
                );
                Ok(())
            }
            Err(err) if !err.is_transient() && self.is_dir(path) => {
                // Many servers set file times only (vsftpd, pyftpdlib answer 550 for a
                // directory): failing would abort tar -x and rsync -a, like a missing MFMT.
                // The time is shown anyway until the directory changes, like a set one.
                self.namespace.dir_time_kept(path, mtime);
                warn_once(
                    &self.warned.dir_mtime_refused,
                    &format!(
                        "the server refused to set the time of directory {} ({err}); \
                         ignoring this for directories",
                        path.display()
                    ),
                );
                Ok(())
            }
            Err(err) => Err(FsError::remote(
                format!("set mtime of {}", path.display()),
                &err,
            )),
        }
    }
}
