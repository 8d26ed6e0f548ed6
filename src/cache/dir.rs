//! The listing cache: directory path -> its entries, trusted for a TTL.
//!
//! Lookup and getattr are answered from the parent's listing (one MLSD/LIST per directory, never
//! one per stat). A fresh listing that lacks a name is a negative answer, so failed lookups
//! (shells probing PATH, editors probing backup names) cost nothing either.
//!
//! Our own mutations edit cached listings immediately. To stop a slow listing that started
//! *before* a mutation from re-caching stale data afterwards, every mutation bumps a generation
//! counter and is recorded in a short log; an insert carries the generation read before its
//! remote call and is dropped if a mutation touching that directory happened since (or if the
//! log no longer reaches back that far).
//!
//! A listing is stored once, as the entries sorted by name in one shared `Arc<[Entry]>`:
//! lookups binary-search it, and readdir snapshots share it instead of copying (a directory of
//! 100,000 names used to be held three times: a name-keyed map, a readdir copy and each open
//! handle's copy). Our own edits go to a small name-keyed overlay that is merged into a new
//! sorted array once it grows past an eighth of the listing, or when a snapshot is asked for,
//! so a burst of creates in a big directory costs amortised O(1) per edit, not an O(n) copy.
//!
//! The cache is bounded: each listing is charged what it holds on the heap (`entry_cost`:
//! the entry, its name's allocation rounded as malloc rounds it, overlay bookkeeping), and
//! when the total passes the budget, expired listings are swept first, then the least recently
//! fetched ones go. Expired listings are also swept whenever a TTL has passed since the last
//! sweep, so a long walk over a big tree does not keep every directory it ever saw.
//!
//! The kernel may keep its own copy of a listing between opendirs (`FOPEN_CACHE_DIR` with
//! `FOPEN_KEEP_CACHE`), which turns a warm `ls` of a big directory into no request at all. It
//! is allowed to only while the listing it copied is still the one cached here:
//! `kernel_may_keep` says yes only for the same fresh, unedited `sorted` array it saw handed out
//! before. Every change replaces that array (a new listing, a merge of our edits), a stale
//! listing is never handed out, so the kernel's copy is never older than `--dir-cache-ttl`
//! allows or than our own changes. (The kernel also drops its copy by itself when one of our
//! changes through it, or a new directory mtime, touches the directory.)
//!
//! Locking: one mutex, held only for map operations (a merge copies the listing's entries
//! under it, O(n) but no I/O).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::remote::{Entry, EntryKind};

/// How many recent mutations are remembered for the stale-insert check.
const MUTATION_LOG_LEN: usize = 1024;

/// Default memory budget of all cached listings (about 400,000 entries of short names).
pub(crate) const DEFAULT_BUDGET: u64 = 64 * 1024 * 1024;

/// Overlay edits always allowed before a merge (small listings merge rarely).
const MIN_OVERLAY: usize = 64;

/// Bookkeeping of one overlay edit beyond its entry: the key's string and a B-tree slot.
const OVERLAY_OVERHEAD: u64 = 48;

/// Bytes malloc really takes for a heap block of `len` bytes (glibc: 8 bytes of header,
/// 16-byte granules, 32 bytes at least); nothing for an empty string.
fn heap_block(len: usize) -> u64 {
    if len == 0 {
        0
    } else {
        ((len + 8).next_multiple_of(16)).max(32) as u64
    }
}

/// Memory one entry of a sorted listing costs: its slot and its strings' heap blocks.
fn entry_cost(entry: &Entry) -> u64 {
    let link = entry
        .link_target
        .as_ref()
        .map_or(0, |target| heap_block(target.len()));
    std::mem::size_of::<Entry>() as u64 + heap_block(entry.name.len()) + link
}

/// Memory one overlay edit costs (the entry, or a tombstone, plus its key).
fn edit_cost(name: &OsStr, edit: &Option<Entry>) -> u64 {
    let entry = edit.as_ref().map_or(0, entry_cost);
    std::mem::size_of::<Option<Entry>>() as u64 + heap_block(name.len()) + OVERLAY_OVERHEAD + entry
}

/// What the cache knows about one name in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CachedLookup {
    /// The fresh listing has this entry.
    Found(Entry),
    /// The fresh listing does not have the name.
    Absent,
    /// No fresh listing of the directory.
    Unknown,
}

#[derive(Debug)]
struct Listing {
    /// The entries sorted by name (byte order), shared with readdir snapshots.
    sorted: Arc<[Entry]>,
    /// How many of `sorted` are directories (for a directory's link count).
    sorted_dirs: usize,
    /// Our edits since `sorted` was built: `None` is a removed name.
    overlay: BTreeMap<OsString, Option<Entry>>,
    fetched_at: Instant,
    /// `sorted` went to an opendir the kernel was told to cache (see `kernel_may_keep`).
    handed_to_kernel: bool,
    /// What `sorted` and `overlay` hold (see `entry_cost`, `edit_cost`).
    cost: u64,
}

/// `entries` sorted by name, duplicates dropped (the later one wins).
fn sorted(mut entries: Vec<Entry>) -> Arc<[Entry]> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|later, earlier| {
        let same = later.name == earlier.name;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    entries.into()
}

fn sorted_cost(entries: &[Entry]) -> u64 {
    entries.iter().map(entry_cost).sum()
}

fn count_dirs(entries: &[Entry]) -> usize {
    entries.iter().filter(|e| e.kind == EntryKind::Dir).count()
}

impl Listing {
    fn new(sorted: Arc<[Entry]>) -> Self {
        let cost = sorted_cost(&sorted);
        Listing {
            sorted_dirs: count_dirs(&sorted),
            sorted,
            overlay: BTreeMap::new(),
            fetched_at: Instant::now(),
            handed_to_kernel: false,
            cost,
        }
    }

    fn find_sorted(&self, name: &OsStr) -> Option<&Entry> {
        let index = self
            .sorted
            .binary_search_by(|entry| entry.name.as_os_str().cmp(name))
            .ok()?;
        self.sorted.get(index)
    }

    fn get(&self, name: &OsStr) -> Option<&Entry> {
        match self.overlay.get(name) {
            Some(edit) => edit.as_ref(),
            None => self.find_sorted(name),
        }
    }

    /// Records `edit` for `name`; returns the change in cost.
    fn edit(&mut self, name: &OsStr, edit: Option<Entry>) -> i64 {
        let before = self.cost;
        if let Some(old) = self.overlay.get(name) {
            self.cost -= edit_cost(name, old);
        }
        self.cost += edit_cost(name, &edit);
        self.overlay.insert(name.to_os_string(), edit);
        if self.overlay.len() > MIN_OVERLAY.max(self.sorted.len() / 8) {
            self.merge();
        }
        self.cost as i64 - before as i64
    }

    fn put(&mut self, entry: Entry) -> i64 {
        let name = entry.name.clone();
        self.edit(&name, Some(entry))
    }

    fn take(&mut self, name: &OsStr) -> i64 {
        if self.get(name).is_none() {
            return 0;
        }
        self.edit(name, None)
    }

    /// Folds the overlay into a new sorted array (snapshots keep the old one).
    fn merge(&mut self) {
        if self.overlay.is_empty() {
            return;
        }
        let overlay = std::mem::take(&mut self.overlay);
        let mut merged = Vec::with_capacity(self.sorted.len() + overlay.len());
        let mut edits = overlay.into_iter().peekable();
        for entry in self.sorted.iter() {
            while let Some((_, edit)) = edits.next_if(|(name, _)| *name < entry.name) {
                merged.extend(edit);
            }
            match edits.next_if(|(name, _)| *name == entry.name) {
                Some((_, edit)) => merged.extend(edit),
                None => merged.push(entry.clone()),
            }
        }
        merged.extend(edits.filter_map(|(_, edit)| edit));
        self.sorted = merged.into();
        self.handed_to_kernel = false;
        self.sorted_dirs = count_dirs(&self.sorted);
        self.cost = sorted_cost(&self.sorted);
    }

    /// How many entries are directories, counted without merging.
    fn dir_count(&self) -> usize {
        let is_dir = |entry: Option<&Entry>| entry.is_some_and(|e| e.kind == EntryKind::Dir);
        self.overlay
            .iter()
            .fold(self.sorted_dirs, |count, (name, edit)| {
                let was = usize::from(is_dir(self.find_sorted(name)));
                let is = usize::from(is_dir(edit.as_ref()));
                count + is - was
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The listing of exactly this directory changed.
    Dir,
    /// This directory and everything below it changed.
    Tree,
}

#[derive(Debug)]
struct State {
    generation: u64,
    listings: HashMap<PathBuf, Listing>,
    /// (generation after the mutation, path, scope), oldest first.
    mutations: VecDeque<(u64, PathBuf, Scope)>,
    /// Sum of the listings' costs.
    cost: u64,
    last_sweep: Instant,
}

/// Protects: listings, their cost, the generation counter and the mutation log.
#[derive(Debug)]
pub(crate) struct DirCache {
    ttl: Duration,
    budget: u64,
    state: Mutex<State>,
}

impl DirCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self::with_budget(ttl, DEFAULT_BUDGET)
    }

    /// A cache holding listings worth about `budget` bytes.
    pub(crate) fn with_budget(ttl: Duration, budget: u64) -> Self {
        DirCache {
            ttl,
            budget,
            state: Mutex::new(State {
                generation: 0,
                listings: HashMap::new(),
                mutations: VecDeque::new(),
                cost: 0,
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Estimated bytes held by cached listings.
    #[cfg(test)]
    pub(crate) fn cost(&self) -> u64 {
        self.state.lock().cost
    }

    /// How many listings are held, fresh or not.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state.lock().listings.len()
    }

    /// Read before starting a remote listing; pass to `insert`.
    pub(crate) fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// All entries of a fresh listing of `dir`, sorted by name (shared, not copied).
    pub(crate) fn entries(&self, dir: &Path) -> Option<Arc<[Entry]>> {
        let mut state = self.state.lock();
        let listing = state.fresh_mut(dir, self.ttl)?;
        let before = listing.cost;
        listing.merge();
        let change = listing.cost as i64 - before as i64;
        let sorted = Arc::clone(&listing.sorted);
        state.add_cost(change);
        Some(sorted)
    }

    /// Whether the kernel may keep the copy of `dir`'s listing it made at an earlier opendir:
    /// only when `entries`, this opendir's snapshot, is the fresh cached listing without edits
    /// that an earlier call already handed out. Marks it handed out (see the module doc).
    pub(crate) fn kernel_may_keep(&self, dir: &Path, entries: &Arc<[Entry]>) -> bool {
        let mut state = self.state.lock();
        let Some(listing) = state.fresh_mut(dir, self.ttl) else {
            return false;
        };
        if !listing.overlay.is_empty() || !Arc::ptr_eq(&listing.sorted, entries) {
            return false;
        }
        std::mem::replace(&mut listing.handed_to_kernel, true)
    }

    /// How many directories a fresh listing of `dir` has (no merge, no copy).
    pub(crate) fn dir_count(&self, dir: &Path) -> Option<usize> {
        let state = self.state.lock();
        let listing = state.listings.get(dir)?;
        (listing.fetched_at.elapsed() < self.ttl).then(|| listing.dir_count())
    }

    /// How long the cached listing of `dir` stays fresh (`None`: not cached or expired), so
    /// the kernel may keep attributes from it exactly that long.
    pub(crate) fn fresh_for(&self, dir: &Path) -> Option<Duration> {
        let state = self.state.lock();
        let listing = state.listings.get(dir)?;
        self.ttl
            .checked_sub(listing.fetched_at.elapsed())
            .filter(|left| !left.is_zero())
    }

    /// One name in a fresh listing of `dir`.
    pub(crate) fn lookup(&self, dir: &Path, name: &OsStr) -> CachedLookup {
        let state = self.state.lock();
        match state.listings.get(dir) {
            Some(listing) if listing.fetched_at.elapsed() < self.ttl => match listing.get(name) {
                Some(entry) => CachedLookup::Found(entry.clone()),
                None => CachedLookup::Absent,
            },
            _ => CachedLookup::Unknown,
        }
    }

    /// Cache a listing fetched from the remote, unless `dir` was mutated since `generation`
    /// was read. Returns whether it was cached.
    pub(crate) fn insert(&self, dir: &Path, entries: &[Entry], generation: u64) -> bool {
        if self.state.lock().stale_since(dir, generation) {
            log::debug!("not caching listing of {dir:?}: mutated while it was fetched");
            return false;
        }
        // Copied and sorted outside the lock; checked again below.
        let listing = Listing::new(sorted(entries.to_vec()));
        let mut state = self.state.lock();
        if state.stale_since(dir, generation) {
            log::debug!("not caching listing of {dir:?}: mutated while it was fetched");
            return false;
        }
        let cost = listing.cost;
        if let Some(old) = state.listings.insert(dir.to_path_buf(), listing) {
            state.cost -= old.cost;
        }
        state.cost += cost;
        state.keep_within(self.ttl, self.budget, dir);
        true
    }

    /// Our own mutation created or changed `entry` in `dir`.
    pub(crate) fn upsert_entry(&self, dir: &Path, entry: Entry) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(listing) = state.listings.get_mut(dir) {
            let change = listing.put(entry);
            state.add_cost(change);
        }
    }

    /// Edit the cached entry `name` in `dir` in place, if cached.
    pub(crate) fn modify_entry(&self, dir: &Path, name: &OsStr, edit: impl FnOnce(&mut Entry)) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(listing) = state.listings.get_mut(dir)
            && let Some(mut entry) = listing.get(name).cloned()
        {
            edit(&mut entry);
            let change = listing.put(entry);
            state.add_cost(change);
        }
    }

    /// Our own mutation removed `name` from `dir`.
    pub(crate) fn remove_entry(&self, dir: &Path, name: &OsStr) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(listing) = state.listings.get_mut(dir) {
            let change = listing.take(name);
            state.add_cost(change);
        }
    }

    /// Forget the listing of `dir` (refetched on next use).
    pub(crate) fn invalidate(&self, dir: &Path) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(old) = state.listings.remove(dir) {
            state.cost -= old.cost;
        }
    }

    /// Forget the listings of `dir` and everything below it (a directory was renamed/removed).
    pub(crate) fn invalidate_tree(&self, dir: &Path) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Tree);
        let mut dropped = 0;
        state.listings.retain(|path, listing| {
            let keep = !path.starts_with(dir);
            if !keep {
                dropped += listing.cost;
            }
            keep
        });
        state.cost -= dropped;
    }
}

impl State {
    /// The listing of `dir` if it is still fresh.
    fn fresh_mut(&mut self, dir: &Path, ttl: Duration) -> Option<&mut Listing> {
        self.listings
            .get_mut(dir)
            .filter(|listing| listing.fetched_at.elapsed() < ttl)
    }

    fn add_cost(&mut self, change: i64) {
        self.cost = (self.cost as i64 + change).max(0) as u64;
    }

    /// Sweep expired listings (over budget, or a TTL after the last sweep), then drop the
    /// least recently fetched ones other than `keep` until the total fits the budget.
    fn keep_within(&mut self, ttl: Duration, budget: u64, keep: &Path) {
        if self.cost > budget || self.last_sweep.elapsed() >= ttl {
            self.last_sweep = Instant::now();
            let mut dropped = 0;
            self.listings.retain(|_, listing| {
                let fresh = listing.fetched_at.elapsed() < ttl;
                if !fresh {
                    dropped += listing.cost;
                }
                fresh
            });
            self.cost -= dropped;
        }
        if self.cost <= budget {
            return;
        }
        let mut by_age: Vec<(Instant, PathBuf)> = self
            .listings
            .iter()
            .filter(|(path, _)| path.as_path() != keep)
            .map(|(path, listing)| (listing.fetched_at, path.clone()))
            .collect();
        by_age.sort();
        for (_, path) in by_age {
            if self.cost <= budget {
                break;
            }
            if let Some(old) = self.listings.remove(&path) {
                self.cost -= old.cost;
            }
        }
    }

    fn record(&mut self, path: &Path, scope: Scope) {
        self.generation += 1;
        self.mutations
            .push_back((self.generation, path.to_path_buf(), scope));
        if self.mutations.len() > MUTATION_LOG_LEN {
            self.mutations.pop_front();
        }
    }

    fn stale_since(&self, dir: &Path, generation: u64) -> bool {
        if generation == self.generation {
            return false;
        }
        match self.mutations.front() {
            // The log lost mutations that happened after `generation`: assume the worst.
            Some((oldest, _, _)) if *oldest > generation + 1 => return true,
            None => return true,
            _ => {}
        }
        self.mutations
            .iter()
            .filter(|(mutation_generation, _, _)| *mutation_generation > generation)
            .any(|(_, path, scope)| match scope {
                Scope::Dir => path == dir,
                Scope::Tree => dir.starts_with(path),
            })
    }
}

#[cfg(test)]
mod tests;
