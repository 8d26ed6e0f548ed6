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
//! The cache is bounded: each listing is charged an estimate of its memory (`entry_cost`), and
//! when the total passes the budget, expired listings are swept first, then the least recently
//! fetched ones go. Expired listings are also swept whenever a TTL has passed since the last
//! sweep, so a long walk over a big tree does not keep every directory it ever saw.
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

/// Default memory budget of all cached listings (about 300,000 entries).
pub(crate) const DEFAULT_BUDGET: u64 = 64 * 1024 * 1024;

/// Bookkeeping charged per entry on top of the `Entry` itself and its name: the hash map slot,
/// the name key and the readdir snapshot share.
const ENTRY_OVERHEAD: u64 = 64;

/// Estimated memory one cached entry costs.
fn entry_cost(entry: &Entry) -> u64 {
    let link = entry.link_target.as_ref().map_or(0, |target| target.len());
    (std::mem::size_of::<Entry>() + 2 * entry.name.len() + link) as u64 + ENTRY_OVERHEAD
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
    by_name: HashMap<OsString, Entry>,
    /// Built lazily for readdir and dropped on every edit.
    snapshot: Option<Arc<[Entry]>>,
    fetched_at: Instant,
    /// Sum of `entry_cost` over `by_name`.
    cost: u64,
}

impl Listing {
    fn put(&mut self, entry: Entry) -> i64 {
        let added = entry_cost(&entry) as i64;
        let removed = self
            .by_name
            .insert(entry.name.clone(), entry)
            .map_or(0, |old| entry_cost(&old) as i64);
        self.snapshot = None;
        self.cost = (self.cost as i64 + added - removed) as u64;
        added - removed
    }

    fn take(&mut self, name: &OsStr) -> i64 {
        let Some(old) = self.by_name.remove(name) else {
            return 0;
        };
        let removed = entry_cost(&old);
        self.snapshot = None;
        self.cost -= removed;
        -(removed as i64)
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

    /// All entries of a fresh listing of `dir`.
    pub(crate) fn entries(&self, dir: &Path) -> Option<Arc<[Entry]>> {
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
    pub(crate) fn lookup(&self, dir: &Path, name: &OsStr) -> CachedLookup {
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
    pub(crate) fn insert(&self, dir: &Path, entries: &[Entry], generation: u64) -> bool {
        let mut state = self.state.lock();
        if state.stale_since(dir, generation) {
            log::debug!("not caching listing of {dir:?}: mutated while it was fetched");
            return false;
        }
        let by_name: HashMap<OsString, Entry> = entries
            .iter()
            .map(|entry| (entry.name.clone(), entry.clone()))
            .collect();
        let cost = by_name.values().map(entry_cost).sum();
        let listing = Listing {
            by_name,
            snapshot: None,
            fetched_at: Instant::now(),
            cost,
        };
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
            && let Some(mut entry) = listing.by_name.get(name).cloned()
        {
            edit(&mut entry);
            let change = listing.take(name) + listing.put(entry);
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
    fn listings_are_bounded_by_cost_dropping_the_oldest() {
        let one = entry_cost(&file("a"));
        let cache = DirCache::with_budget(Duration::from_secs(30), 3 * one);
        for dir in ["/1", "/2", "/3", "/4"] {
            assert!(cache.insert(Path::new(dir), &[file("a")], cache.generation()));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.entries(Path::new("/1")).is_none(), "oldest dropped");
        assert!(cache.entries(Path::new("/4")).is_some());
        assert!(cache.cost() <= 3 * one);
        cache.upsert_entry(Path::new("/4"), file("b"));
        cache.remove_entry(Path::new("/3"), OsStr::new("a"));
        cache.modify_entry(Path::new("/2"), OsStr::new("a"), |e| e.size = Some(1));
        assert_eq!(cache.cost(), 3 * one);
        cache.invalidate_tree(Path::new("/"));
        assert_eq!((cache.cost(), cache.len()), (0, 0));
    }

    #[test]
    fn expired_listings_are_swept() {
        let cache = DirCache::with_budget(Duration::from_millis(20), DEFAULT_BUDGET);
        cache.insert(Path::new("/old"), &[file("a")], cache.generation());
        std::thread::sleep(Duration::from_millis(30));
        cache.insert(Path::new("/new"), &[file("a")], cache.generation());
        assert_eq!(cache.len(), 1, "the expired listing is gone");
        assert_eq!(cache.cost(), entry_cost(&file("a")));
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
