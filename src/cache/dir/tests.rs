//! Unit tests of the listing cache.

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
    assert!(cache.cost() > 3 * one, "the overlay is charged");
    for dir in ["/2", "/3", "/4"] {
        cache.entries(Path::new(dir)); // merges the overlay
    }
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

fn dir(name: &str) -> Entry {
    Entry::new(name, EntryKind::Dir)
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.to_str().unwrap()).collect()
}

#[test]
fn listings_are_sorted_deduplicated_and_shared_with_snapshots() {
    let cache = DirCache::new(Duration::from_secs(30));
    let d = Path::new("/d");
    let listed = [file("c"), file("a"), dir("b"), file("a")];
    assert!(cache.insert(d, &listed, cache.generation()));
    let first = cache.entries(d).unwrap();
    assert_eq!(names(&first), ["a", "b", "c"]);
    assert!(
        Arc::ptr_eq(&first, &cache.entries(d).unwrap()),
        "not copied"
    );
    assert_eq!(cache.dir_count(d), Some(1));
    assert_eq!(cache.cost(), sorted_cost(&first));
}

#[test]
fn edits_overlay_the_listing_until_a_snapshot_merges_them() {
    let cache = DirCache::new(Duration::from_secs(30));
    let d = Path::new("/d");
    cache.insert(d, &[file("b"), dir("d"), file("f")], cache.generation());
    let before = cache.entries(d).unwrap();
    // (edit, then what the listing must say)
    cache.upsert_entry(d, file("a"));
    cache.upsert_entry(d, dir("e"));
    cache.remove_entry(d, OsStr::new("d"));
    cache.remove_entry(d, OsStr::new("missing"));
    cache.upsert_entry(d, dir("z"));
    cache.modify_entry(d, OsStr::new("b"), |e| e.size = Some(7));
    cache.upsert_entry(d, file("c"));
    cache.remove_entry(d, OsStr::new("c"));
    let cases: [(&str, Option<EntryKind>); 8] = [
        ("a", Some(EntryKind::File)),
        ("b", Some(EntryKind::File)),
        ("c", None),
        ("d", None),
        ("e", Some(EntryKind::Dir)),
        ("f", Some(EntryKind::File)),
        ("z", Some(EntryKind::Dir)),
        ("missing", None),
    ];
    for (name, kind) in cases {
        let found = match cache.lookup(d, OsStr::new(name)) {
            CachedLookup::Found(entry) => Some(entry.kind),
            CachedLookup::Absent => None,
            CachedLookup::Unknown => panic!("{name}: unknown"),
        };
        assert_eq!(found, kind, "{name}");
    }
    assert_eq!(cache.dir_count(d), Some(2), "d removed, e and z added");
    let merged = cache.entries(d).unwrap();
    assert_eq!(names(&merged), ["a", "b", "e", "f", "z"]);
    assert_eq!(merged[1].size, Some(7));
    assert_eq!(
        names(&before),
        ["b", "d", "f"],
        "an open snapshot stays as it was"
    );
    assert_eq!(
        cache.cost(),
        sorted_cost(&merged),
        "the overlay's cost left with it"
    );
}

#[test]
fn many_edits_merge_on_their_own_and_keep_the_cost_honest() {
    let cache = DirCache::new(Duration::from_secs(30));
    let d = Path::new("/d");
    cache.insert(d, &[], cache.generation());
    for i in 0..1000 {
        cache.upsert_entry(d, file(&format!("f{i:04}")));
    }
    for i in (0..1000).step_by(2) {
        cache.remove_entry(d, OsStr::new(&format!("f{i:04}")));
    }
    let overlay_cost = cache.cost();
    let merged = cache.entries(d).unwrap();
    assert_eq!(merged.len(), 500);
    assert!(merged.windows(2).all(|w| w[0].name < w[1].name));
    assert_eq!(cache.cost(), sorted_cost(&merged));
    assert!(overlay_cost >= cache.cost(), "edits are charged too");
    assert_eq!(cache.dir_count(d), Some(0));
}

#[test]
fn entry_cost_counts_what_malloc_takes() {
    let size = std::mem::size_of::<Entry>() as u64;
    assert_eq!(heap_block(0), 0);
    assert_eq!(heap_block(1), 32);
    assert_eq!(heap_block(24), 32);
    assert_eq!(heap_block(25), 48);
    assert_eq!(entry_cost(&file("entry-0000001.dat")), size + 32);
    let link = Entry {
        link_target: Some("t".repeat(40).into()),
        ..Entry::new("l", EntryKind::Symlink)
    };
    assert_eq!(entry_cost(&link), size + 32 + 48);
}

#[test]
fn fresh_for_counts_down_the_ttl() {
    let cache = DirCache::new(Duration::from_secs(30));
    assert_eq!(cache.fresh_for(Path::new("/d")), None);
    cache.insert(Path::new("/d"), &[], cache.generation());
    let left = cache.fresh_for(Path::new("/d")).unwrap();
    assert!(left <= Duration::from_secs(30) && left > Duration::from_secs(29));
    let expired = DirCache::new(Duration::ZERO);
    expired.insert(Path::new("/d"), &[], expired.generation());
    assert_eq!(expired.fresh_for(Path::new("/d")), None);
    assert_eq!(expired.dir_count(Path::new("/d")), None);
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

#[test]
fn the_kernel_keeps_its_copy_only_of_the_same_unchanged_listing() {
    let cache = DirCache::new(Duration::from_millis(200));
    let dir = Path::new("/d");
    cache.insert(dir, &[file("a"), file("b")], cache.generation());
    let first = cache.entries(dir).unwrap();
    // The first opendir fills the kernel's copy; the next ones may keep it.
    assert!(!cache.kernel_may_keep(dir, &first));
    assert!(cache.kernel_may_keep(dir, &first));
    assert!(cache.kernel_may_keep(dir, &cache.entries(dir).unwrap()));

    // An edit of ours: the snapshot after it is a new listing, filled again once.
    cache.upsert_entry(dir, file("c"));
    let edited = cache.entries(dir).unwrap();
    assert!(!Arc::ptr_eq(&first, &edited));
    assert!(!cache.kernel_may_keep(dir, &first), "an old snapshot");
    assert!(!cache.kernel_may_keep(dir, &edited));
    assert!(cache.kernel_may_keep(dir, &edited));
    // An edit not merged yet (a snapshot taken before it) is not kept either.
    cache.remove_entry(dir, OsStr::new("a"));
    assert!(!cache.kernel_may_keep(dir, &edited));

    // A listing fetched again is new, even with the same names.
    cache.insert(dir, &[file("b"), file("c")], cache.generation());
    let refetched = cache.entries(dir).unwrap();
    assert!(!cache.kernel_may_keep(dir, &refetched));
    assert!(cache.kernel_may_keep(dir, &refetched));

    // An expired listing is never kept, nor is one that is not cached.
    std::thread::sleep(Duration::from_millis(250));
    assert!(!cache.kernel_may_keep(dir, &refetched));
    let uncached: Arc<[Entry]> = vec![file("b")].into();
    assert!(!cache.kernel_may_keep(Path::new("/other"), &uncached));
}
