//! The one owner of what a name means: inode numbers, cached listings, remembered times, open
//! writes and cached file data, kept consistent by events.
//!
//! Five structures describe a path: the inode table (number <-> path), the listing cache (what
//! the parent lists), the remembered mtimes we set (`SetTimes`), the open-writes registry (sizes
//! still travelling to the server) and the chunk cache (file data). A change made through this
//! mount must update all of them together; one forgotten update is a stale-cache bug. So the rest
//! of `fs` never edits them directly: it reports what happened (`created_file`, `removed`,
//! `renamed`, `written`, `mtime_set`, ...) and this module applies the event to every structure.
//! mountpoint-s3's superblock is the model. Queries (`cached`, `listed`, `overlay`, `path`) are
//! read-only and may be called freely. Per inode it also keeps which files programs run from
//! (`exec`: O_TRUNC opens of those get ETXTBSY) and the times FTP cannot store.
//!
//! This module never talks to the server: callers do the remote call first and report the
//! outcome, so nothing here can be held across network I/O.
//!
//! # Lock order
//! Each structure has its own leaf lock, taken inside that structure's methods for map
//! operations only. An event takes them one after another, never two at once (a closure passed
//! to the listing cache touches only the entry it is given). No handle mutex is taken here.
//! Events of different threads may interleave between the steps of one event; each step is
//! correct on its own (generation counter for listings, per-path keys elsewhere), which is what
//! the old hand-written call sequences relied on too.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::attr::{self, Attr, LocalTimes};
use super::config::FsConfig;
use super::exec::Executing;
use super::inode::InodeTable;
use super::names;
use super::write::{OpenWrites, WriteProgress};
use crate::cache::{CachedLookup, ChunkCache, DirCache, SetTimes};
use crate::remote::{Entry, EntryKind};

/// Namespace state of one mount. Protects: nothing itself; see the lock order above.
pub(crate) struct Namespace {
    inodes: InodeTable,
    dirs: DirCache,
    chunks: ChunkCache,
    set_times: SetTimes,
    open_writes: OpenWrites,
    local_times: LocalTimes,
    executing: Executing,
}

impl Namespace {
    pub(crate) fn new(config: &FsConfig) -> Self {
        Namespace {
            inodes: InodeTable::new(),
            dirs: DirCache::new(config.dir_cache_ttl),
            chunks: ChunkCache::new(config.cache_size),
            set_times: SetTimes::default(),
            open_writes: OpenWrites::default(),
            local_times: LocalTimes::default(),
            executing: Executing::default(),
        }
    }

    // ---- inode numbers ----

    /// The current path of an inode.
    pub(crate) fn path(&self, ino: u64) -> Option<PathBuf> {
        self.inodes.path(ino)
    }

    /// The inode of `path`, counting one kernel lookup.
    pub(crate) fn lookup_ino(&self, path: &Path) -> u64 {
        self.inodes.lookup(path)
    }

    /// The kernel dropped `count` lookups of `ino`.
    pub(crate) fn forget(&self, ino: u64, count: u64) {
        self.inodes.forget(ino, count);
    }

    /// The number readdir shows for `path` (not counted).
    pub(crate) fn readdir_ino(&self, path: &Path) -> u64 {
        self.inodes.readdir_ino(path)
    }

    // ---- listings ----

    /// A fresh cached listing of `dir`.
    pub(crate) fn cached_listing(&self, dir: &Path) -> Option<Arc<[Entry]>> {
        self.dirs.entries(dir)
    }

    /// Whether the kernel may keep its copy of `dir`'s listing (see `DirCache::kernel_may_keep`).
    pub(crate) fn kernel_may_keep_listing(&self, dir: &Path, entries: &Arc<[Entry]>) -> bool {
        self.dirs.kernel_may_keep(dir, entries)
    }

    /// How long the cached listing of `dir` stays fresh, if it is.
    pub(crate) fn listing_fresh_for(&self, dir: &Path) -> Option<std::time::Duration> {
        self.dirs.fresh_for(dir)
    }

    /// What a fresh cached listing says about `name` in `dir`.
    pub(crate) fn cached(&self, dir: &Path, name: &OsStr) -> CachedLookup {
        self.dirs.lookup(dir, name)
    }

    /// Read before listing `dir` on the server; pass to `listed`.
    pub(crate) fn listing_generation(&self) -> u64 {
        self.dirs.generation()
    }

    /// The server listed `entries` in `dir` (the listing started at `generation`): lay the
    /// times we set over rounded ones and cache it unless one of our changes overtook it.
    /// Returns whether it was cached.
    pub(crate) fn listed(&self, dir: &Path, entries: &mut [Entry], generation: u64) -> bool {
        self.set_times.refine(dir, entries);
        self.dirs.insert(dir, entries, generation)
    }

    /// Ask the server next time instead of trusting the cached listing of `dir`.
    pub(crate) fn forget_listing(&self, dir: &Path) {
        self.dirs.invalidate(dir);
    }

    // ---- events ----

    /// We created directory `path` (named `name` in `parent`); returns its entry.
    pub(crate) fn created_dir(&self, parent: &Path, name: &OsStr, path: &Path) -> Entry {
        let now = SystemTime::now();
        let entry = Entry {
            mtime: Some(now),
            ..Entry::new(name, EntryKind::Dir)
        };
        // Its time, like that of a directory we change, must not move to a rounded one.
        self.set_times.dir_changed(path, now);
        self.dirs.upsert_entry(parent, entry.clone());
        self.directory_changed(parent);
        // A directory we just made is empty: no need to list it.
        let generation = self.dirs.generation();
        self.dirs.insert(path, &[], generation);
        entry
    }

    /// We created the empty file `path` (named `name` in `parent`); returns its entry.
    pub(crate) fn created_file(&self, parent: &Path, name: &OsStr, path: &Path) -> Entry {
        let entry = Entry {
            size: Some(0),
            mtime: Some(SystemTime::now()),
            ..Entry::new(name, EntryKind::File)
        };
        self.dirs.upsert_entry(parent, entry.clone());
        self.directory_changed(parent);
        self.chunks.invalidate_path(path);
        self.set_times.forget(path);
        entry
    }

    /// We removed `path` (a file, or a directory with everything below it). Open handles keep
    /// their inode; a new file under the same name gets a new number.
    pub(crate) fn removed(&self, path: &Path) {
        let Some((parent, name)) = names::split(path) else {
            return;
        };
        self.dirs.remove_entry(parent, name);
        self.directory_changed(parent);
        self.dirs.invalidate_tree(path);
        self.inodes.unlinked(path);
        self.chunks.invalidate_path(path);
        self.set_times.forget(path);
    }

    /// We renamed the unlinked, still open file `path` to the hidden name `hidden`: gone from
    /// the listing, its inode (and sizes in flight) follow it, the name is free for a new file.
    pub(crate) fn unlinked_while_open(&self, path: &Path, hidden: &Path) {
        if let Some((parent, name)) = names::split(path) {
            self.dirs.remove_entry(parent, name);
            self.directory_changed(parent);
        }
        self.inodes.unlinked_to_hidden(path, hidden);
        self.set_times.forget(path);
        self.open_writes.renamed(path, hidden);
        self.chunks.invalidate_path(path);
    }

    /// We renamed `from` to `to` (replacing whatever was at `to`).
    pub(crate) fn renamed(&self, from: &Path, to: &Path) {
        let (Some((from_parent, name)), Some((to_parent, new_name))) =
            (names::split(from), names::split(to))
        else {
            return;
        };
        let moved = match self.dirs.lookup(from_parent, name) {
            CachedLookup::Found(entry) => Some(entry),
            _ => None,
        };
        self.dirs.remove_entry(from_parent, name);
        match moved {
            Some(entry) => self.dirs.upsert_entry(
                to_parent,
                Entry {
                    name: new_name.to_os_string(),
                    ..entry
                },
            ),
            None => self.dirs.invalidate(to_parent),
        }
        self.directory_changed(from_parent);
        self.directory_changed(to_parent);
        self.dirs.invalidate_tree(from);
        self.dirs.invalidate_tree(to);
        self.inodes.renamed(from, to);
        self.set_times.renamed(from, to);
        self.open_writes.renamed(from, to);
        self.chunks.invalidate_path(from);
        self.chunks.invalidate_path(to);
    }

    /// The content of `path` is about to change through this mount: cached data is stale.
    pub(crate) fn data_changing(&self, path: &Path) {
        self.chunks.invalidate_path(path);
    }

    /// The server now holds `size` bytes at `path`, written by us just now.
    pub(crate) fn written(&self, path: &Path, size: u64) {
        self.upload_done(path, size, Some(SystemTime::now()));
    }

    /// An upload that carried no byte finished: the server holds `size` bytes at `path` with
    /// the time the upload began (the server made the file then and wrote nothing after). That
    /// time was shown then (`created_file`, or `written` at an `O_TRUNC` open), so it stays:
    /// moving it to now would show a change that never reached the file.
    pub(crate) fn written_nothing(&self, path: &Path, size: u64) {
        self.upload_done(path, size, None);
    }

    /// `written` with `mtime`, or keeping the shown mtime when `None`.
    fn upload_done(&self, path: &Path, size: u64, mtime: Option<SystemTime>) {
        self.chunks.invalidate_path(path);
        self.set_times.forget(path);
        if let Some(progress) = self.open_writes.get(path) {
            progress.set_size(size);
        }
        let Some((parent, name)) = names::split(path) else {
            return;
        };
        let entry = match self.dirs.lookup(parent, name) {
            CachedLookup::Found(entry) => Entry {
                size: Some(size),
                mtime: mtime.or(entry.mtime).or_else(|| Some(SystemTime::now())),
                ..entry
            },
            CachedLookup::Absent => Entry {
                size: Some(size),
                mtime: Some(mtime.unwrap_or_else(SystemTime::now)),
                ..Entry::new(name, EntryKind::File)
            },
            CachedLookup::Unknown => {
                self.dirs.invalidate(parent);
                return;
            }
        };
        self.dirs.upsert_entry(parent, entry);
    }

    /// The server took `mtime` as the modification time of `path`.
    pub(crate) fn mtime_set(&self, path: &Path, mtime: SystemTime) {
        let Some((parent, name)) = names::split(path) else {
            self.set_times.remember(path, mtime, None); // the root
            return;
        };
        let size = match self.dirs.lookup(parent, name) {
            CachedLookup::Found(entry) => entry.size,
            _ => None,
        };
        self.set_times.remember(path, mtime, size);
        self.dirs
            .modify_entry(parent, name, |entry| entry.mtime = Some(mtime));
    }

    /// The mount root's time as far as this mount knows it (set, kept or moved by a change
    /// made here), if any: no listing shows the root.
    pub(crate) fn root_mtime(&self) -> Option<SystemTime> {
        self.remembered_mtime(Path::new("/"))
    }

    /// The exact time this mount set, kept or moved for `path` (a change made here in a
    /// directory moves it to that moment), if any.
    pub(crate) fn remembered_mtime(&self, path: &Path) -> Option<SystemTime> {
        self.set_times.remembered(path)
    }

    /// A handle truncated `path` at `when`; the server sees it only at the next upload, so the
    /// new mtime is shown now (ftruncate on an open file).
    pub(crate) fn truncated_locally(&self, path: &Path, when: SystemTime) {
        if let Some((parent, name)) = names::split(path) {
            self.dirs
                .modify_entry(parent, name, |entry| entry.mtime = Some(when));
        }
    }

    /// The server refused to set directory `path`'s time to `mtime` (vsftpd, pyftpdlib): show it
    /// anyway until a listing shows the directory changed (so `rsync -a` twice is quiet).
    pub(crate) fn dir_time_kept(&self, path: &Path, mtime: SystemTime) {
        self.set_times.keep_dir_time(path, mtime);
        if let Some((parent, name)) = names::split(path) {
            self.dirs
                .modify_entry(parent, name, |entry| entry.mtime = Some(mtime));
        }
    }

    /// The server took `mode` as the permissions of `path`.
    pub(crate) fn mode_set(&self, path: &Path, mode: u32) {
        if let Some((parent, name)) = names::split(path) {
            self.dirs
                .modify_entry(parent, name, |entry| entry.mode = Some(mode));
        }
    }

    /// An entry was created, removed or renamed in `dir`: the server moved the directory's own
    /// mtime to "now", so show that too instead of a cached older time. Tools that restore
    /// directory times after filling them (rsync -a, tar, cp -a) stat the directory first and
    /// re-apply the time only when it differs; a stale cached mtime made them skip that. The
    /// time is remembered at full precision (`SetTimes::dir_changed`): a later listing showing
    /// it rounded must not move it, or rsync, which found it equal to the source's and set
    /// nothing, sees it differ the next time.
    fn directory_changed(&self, dir: &Path) {
        let now = SystemTime::now();
        self.set_times.dir_changed(dir, now);
        if let Some((parent, name)) = names::split(dir) {
            self.dirs
                .modify_entry(parent, name, |entry| entry.mtime = Some(now));
        }
    }

    // ---- open writes ----

    /// A handle opened `path` for writing; the file has `size` bytes now (when other handles
    /// already write it, the size they reached stands).
    pub(crate) fn writer_opened(&self, path: &Path, size: u64) -> Arc<WriteProgress> {
        self.open_writes.register(path, size)
    }

    /// A writer of `path` was released; returns a deferred mtime the caller must apply now.
    pub(crate) fn writer_closed(&self, path: &Path) -> Option<SystemTime> {
        self.open_writes.unregister(path)
    }

    /// A chmod of `path` while its upload goes to a temporary name: applied to that file when it
    /// is renamed into place (`take_pending_mode`); shown at once. False when nobody writes it.
    pub(crate) fn defer_mode(&self, path: &Path, mode: u32) -> bool {
        let Some(progress) = self.open_writes.get(path) else {
            return false;
        };
        progress.set_pending_mode(mode);
        self.mode_set(path, mode);
        true
    }

    /// The mode deferred by `defer_mode`, if any.
    pub(crate) fn take_pending_mode(&self, path: &Path) -> Option<u32> {
        self.open_writes.get(path)?.take_pending_mode()
    }

    /// Defer `mtime` to the writers of `path`; false when nobody writes it.
    pub(crate) fn defer_mtime(&self, path: &Path, mtime: SystemTime) -> bool {
        self.open_writes.defer_mtime(path, mtime)
    }

    /// Whether a handle writes `path` or its upload is still on the way (write-back queue).
    pub(crate) fn is_written(&self, path: &Path) -> bool {
        self.open_writes.get(path).is_some()
    }

    /// `listed` (what the listing says about `path`, named `name`) with the size and pending
    /// mtime of writes in flight laid over it.
    pub(crate) fn overlay(
        &self,
        path: &Path,
        name: &OsStr,
        listed: Option<Entry>,
    ) -> Option<Entry> {
        let Some(progress) = self.open_writes.get(path) else {
            return listed;
        };
        let mut entry = listed.unwrap_or_else(|| Entry {
            mtime: Some(SystemTime::now()),
            ..Entry::new(name, EntryKind::File)
        });
        if entry.kind == EntryKind::File {
            entry.size = Some(progress.size());
            if let Some(mtime) = progress.pending_mtime() {
                entry.mtime = Some(mtime);
            }
            if let Some(mode) = progress.pending_mode() {
                entry.mode = Some(mode);
            }
        }
        Some(entry)
    }

    // ---- programs running from the mount (see `exec`) ----

    /// The kernel opened `ino` to execute it.
    pub(crate) fn exec_opened(&self, ino: u64) {
        self.executing.opened(ino);
    }

    /// A handle `exec_opened` counted was released.
    pub(crate) fn exec_released(&self, ino: u64) {
        self.executing.released(ino);
    }

    /// Whether a program runs from `ino` (its exec handle is still open).
    pub(crate) fn is_executing(&self, ino: u64) -> bool {
        self.executing.is_executing(ino)
    }

    // ---- times and counts FTP cannot store ----

    /// `utimensat` set `atime` on `ino` (FTP cannot store it: remembered here).
    pub(crate) fn atime_set(&self, ino: u64, atime: SystemTime) {
        self.local_times.set_atime(ino, atime);
    }

    /// An attribute of `ino` changed through this mount at `when` (moves its ctime).
    pub(crate) fn attributes_changed(&self, ino: u64, when: SystemTime) {
        self.local_times.changed(ino, when);
    }

    /// `attr` as shown: a directory's subdirectories counted from its cached listing, no link
    /// for an unlinked file still open, and the times FTP cannot store laid over.
    pub(crate) fn complete_attr(&self, ino: u64, attr: &mut Attr) {
        if !self.inodes.is_linked(ino) {
            attr.nlink = 0;
        } else if attr.kind == EntryKind::Dir
            && let Some(path) = self.inodes.path(ino)
            && let Some(subdirs) = self.dirs.dir_count(&path)
        {
            attr.nlink = attr::dir_nlink(subdirs);
        }
        self.local_times.apply(attr);
    }

    // ---- file data ----

    /// The chunk cache, for the read path (which fills and reads it).
    pub(crate) fn chunks(&self) -> &ChunkCache {
        &self.chunks
    }
}
