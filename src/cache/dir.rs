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
//! Locking: one mutex, held only for map operations.

use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::remote::Entry;

/// How many recent mutations are remembered for the stale-insert check.
const MUTATION_LOG_LEN: usize = 1024;

/// What the cache knows about one name in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CachedLookup {
    /// The fresh listing has this entry.
    Found(Entry),
    /// The fresh listing does not have the name.
    Absent,
    /// No fresh listing of the directory.
    Unknown,
}

#[derive(Debug)]
struct Listing {
    by_name: HashMap<OsString, Entry>,
    /// Built lazily for readdir and dropped on every edit.
    snapshot: Option<Arc<[Entry]>>,
    fetched_at: Instant,
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
}

/// Protects: listings, the generation counter and the mutation log.
#[derive(Debug)]
pub struct DirCache {
    ttl: Duration,
    state: Mutex<State>,
}

impl DirCache {
    pub fn new(ttl: Duration) -> Self {
        DirCache {
            ttl,
            state: Mutex::new(State {
                generation: 0,
                listings: HashMap::new(),
                mutations: VecDeque::new(),
            }),
        }
    }

    /// Read before starting a remote listing; pass to `insert`.
    pub fn generation(&self) -> u64 {
        self.state.lock().generation
    }

    /// All entries of a fresh listing of `dir`.
    pub fn entries(&self, dir: &Path) -> Option<Arc<[Entry]>> {
        let mut state = self.state.lock();
        let ttl = self.ttl;
        let listing = state.listings.get_mut(dir)?;
        if listing.fetched_at.elapsed() >= ttl {
            return None;
        }
        let snapshot = listing
            .snapshot
            .get_or_insert_with(|| listing.by_name.values().cloned().collect());
        Some(snapshot.clone())
    }

    /// One name in a fresh listing of `dir`.
    pub fn lookup(&self, dir: &Path, name: &OsStr) -> CachedLookup {
        let state = self.state.lock();
        match state.listings.get(dir) {
            Some(listing) if listing.fetched_at.elapsed() < self.ttl => {
                match listing.by_name.get(name) {
                    Some(entry) => CachedLookup::Found(entry.clone()),
                    None => CachedLookup::Absent,
                }
            }
            _ => CachedLookup::Unknown,
        }
    }

    /// Cache a listing fetched from the remote, unless `dir` was mutated since `generation`
    /// was read. Returns whether it was cached.
    pub fn insert(&self, dir: &Path, entries: &[Entry], generation: u64) -> bool {
        let mut state = self.state.lock();
        if state.stale_since(dir, generation) {
            log::debug!("not caching listing of {dir:?}: mutated while it was fetched");
            return false;
        }
        let by_name = entries
            .iter()
            .map(|entry| (entry.name.clone(), entry.clone()))
            .collect();
        state.listings.insert(
            dir.to_path_buf(),
            Listing {
                by_name,
                snapshot: None,
                fetched_at: Instant::now(),
            },
        );
        true
    }

    /// Our own mutation created or changed `entry` in `dir`.
    pub fn upsert_entry(&self, dir: &Path, entry: Entry) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(listing) = state.listings.get_mut(dir) {
            listing.snapshot = None;
            listing.by_name.insert(entry.name.clone(), entry);
        }
    }

    /// Edit the cached entry `name` in `dir` in place, if cached.
    pub fn modify_entry(&self, dir: &Path, name: &OsStr, edit: impl FnOnce(&mut Entry)) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(listing) = state.listings.get_mut(dir)
            && let Some(entry) = listing.by_name.get_mut(name)
        {
            listing.snapshot = None;
            edit(entry);
        }
    }

    /// Our own mutation removed `name` from `dir`.
    pub fn remove_entry(&self, dir: &Path, name: &OsStr) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        if let Some(listing) = state.listings.get_mut(dir) {
            listing.snapshot = None;
            listing.by_name.remove(name);
        }
    }

    /// Forget the listing of `dir` (refetched on next use).
    pub fn invalidate(&self, dir: &Path) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Dir);
        state.listings.remove(dir);
    }

    /// Forget the listings of `dir` and everything below it (a directory was renamed/removed).
    pub fn invalidate_tree(&self, dir: &Path) {
        let mut state = self.state.lock();
        state.record(dir, Scope::Tree);
        state.listings.retain(|path, _| !path.starts_with(dir));
    }
}

impl State {
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
mod tests {
    use super::*;
    use crate::remote::EntryKind;

    fn file(name: &str) -> Entry {
        Entry::new(name, EntryKind::File)
    }

    #[test]
    fn fresh_listing_answers_hits_and_negative_lookups() {
        let cache = DirCache::new(Duration::from_secs(30));
        let dir = Path::new("/d");
        assert_eq!(cache.lookup(dir, OsStr::new("a")), CachedLookup::Unknown);
        assert!(cache.insert(dir, &[file("a")], cache.generation()));
        assert_eq!(
            cache.lookup(dir, OsStr::new("a")),
            CachedLookup::Found(file("a"))
        );
        assert_eq!(cache.lookup(dir, OsStr::new("b")), CachedLookup::Absent);
        assert_eq!(cache.entries(dir).unwrap().len(), 1);
    }

    #[test]
    fn expired_listing_is_unknown() {
        let cache = DirCache::new(Duration::ZERO);
        cache.insert(Path::new("/"), &[file("a")], cache.generation());
        assert_eq!(
            cache.lookup(Path::new("/"), OsStr::new("a")),
            CachedLookup::Unknown
        );
        assert!(cache.entries(Path::new("/")).is_none());
    }

    #[test]
    fn listing_started_before_a_mutation_of_its_dir_is_not_cached() {
        let cache = DirCache::new(Duration::from_secs(30));
        let dir = Path::new("/d");
        let before = cache.generation();
        cache.remove_entry(dir, OsStr::new("a"));
        assert!(!cache.insert(dir, &[file("a")], before));
        assert_eq!(cache.lookup(dir, OsStr::new("a")), CachedLookup::Unknown);
    }

    #[test]
    fn mutation_elsewhere_does_not_discard_a_listing() {
        let cache = DirCache::new(Duration::from_secs(30));
        let before = cache.generation();
        cache.upsert_entry(Path::new("/other"), file("x"));
        assert!(cache.insert(Path::new("/d"), &[file("a")], before));
    }

    #[test]
    fn tree_invalidation_covers_subdirectories() {
        let cache = DirCache::new(Duration::from_secs(30));
        let before = cache.generation();
        cache.insert(Path::new("/d/sub"), &[file("a")], before);
        cache.invalidate_tree(Path::new("/d"));
        assert!(cache.entries(Path::new("/d/sub")).is_none());
        assert!(!cache.insert(Path::new("/d/sub/deeper"), &[], before));
    }

    #[test]
    fn own_mutations_edit_the_cached_listing() {
        let cache = DirCache::new(Duration::from_secs(30));
        let dir = Path::new("/");
        cache.insert(dir, &[file("a")], cache.generation());
        cache.upsert_entry(dir, file("b"));
        cache.modify_entry(dir, OsStr::new("a"), |entry| entry.size = Some(9));
        cache.remove_entry(dir, OsStr::new("b"));
        assert_eq!(cache.lookup(dir, OsStr::new("b")), CachedLookup::Absent);
        match cache.lookup(dir, OsStr::new("a")) {
            CachedLookup::Found(entry) => assert_eq!(entry.size, Some(9)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overflowing_the_log_makes_old_inserts_stale() {
        let cache = DirCache::new(Duration::from_secs(30));
        let before = cache.generation();
        for _ in 0..MUTATION_LOG_LEN + 5 {
            cache.invalidate(Path::new("/elsewhere"));
        }
        assert!(!cache.insert(Path::new("/d"), &[], before));
    }
}
