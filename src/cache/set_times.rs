//! Modification times we set ourselves, remembered at full precision.
//!
//! LIST-only servers (vsftpd) show times to the minute, or only the day for files older than
//! six months. After `touch -d`, `tar -x` or `rsync -a` set a file's time, the next listing would
//! show it rounded, and `rsync -a` run again would see every file as changed and copy it again.
//! So we remember the times we set (per path, bounded LRU) and, when a fresh listing shows a time
//! that is that exact time rounded to the listing's precision (second, minute or day), show the
//! exact one. A file changed by someone else gets a new time that does not match, so the listing
//! wins. The memory lasts as long as the mount (documented in README "Attributes").
//!
//! Directories on servers that refuse to set their times (vsftpd, pyftpdlib) are remembered
//! too, differently: the server keeps its own time, so we note the time the first listing after
//! the set shows (`baseline`) and show ours for as long as listings still show that baseline.
//! When a listing shows another time, someone changed the directory: the listing wins.
//!
//! Locking: one mutex, held only for map operations.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lru::LruCache;
use parking_lot::Mutex;

use crate::remote::{Entry, EntryKind};

/// Paths remembered at most (about 100 bytes each).
const CAPACITY: usize = 100_000;

/// What we set: the exact time, and the file's size then (when known).
type SetTime = (SystemTime, Option<u64>);

/// A directory time the server refused to set: ours, and the server's time in the first
/// listing after (None until that listing).
type KeptDirTime = (SystemTime, Option<SystemTime>);

/// Protects: the path -> exact mtime maps (files, refused directories), each alone.
#[derive(Debug)]
pub struct SetTimes {
    times: Mutex<LruCache<PathBuf, SetTime>>,
    dirs: Mutex<LruCache<PathBuf, KeptDirTime>>,
}

impl Default for SetTimes {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        SetTimes {
            times: Mutex::new(LruCache::new(capacity)),
            dirs: Mutex::new(LruCache::new(capacity)),
        }
    }
}

impl SetTimes {
    /// We set `path`'s mtime to `mtime` on the server; `size` is its size then, if known. A
    /// listing with another size means someone changed the file: the listing wins.
    pub fn remember(&self, path: &Path, mtime: SystemTime, size: Option<u64>) {
        self.times.lock().put(path.to_path_buf(), (mtime, size));
    }

    /// The server refused to set directory `path`'s time to `mtime`: show it anyway until a
    /// listing shows that the directory changed.
    pub fn keep_dir_time(&self, path: &Path, mtime: SystemTime) {
        self.dirs.lock().put(path.to_path_buf(), (mtime, None));
    }

    /// `path` was rewritten or removed (or, a directory, changed): its set time no longer
    /// applies.
    pub fn forget(&self, path: &Path) {
        self.times.lock().pop(path);
        self.dirs.lock().pop(path);
    }

    /// `from` (a file, or a directory with everything below it) is now called `to`.
    pub fn renamed(&self, from: &Path, to: &Path) {
        rebase(&mut self.times.lock(), from, to);
        rebase(&mut self.dirs.lock(), from, to);
    }

    /// Replace rounded listing times in `entries` of `dir` by the exact times we set.
    pub fn refine(&self, dir: &Path, entries: &mut [Entry]) {
        self.refine_dirs(dir, entries);
        let mut times = self.times.lock();
        if times.is_empty() {
            return;
        }
        for entry in entries.iter_mut().filter(|e| e.kind == EntryKind::File) {
            let Some(listed) = entry.mtime else { continue };
            if let Some(&(exact, size)) = times.get(&dir.join(&entry.name))
                && listed != exact
                && is_rounded(listed, exact)
                && (size.is_none() || entry.size.is_none() || size == entry.size)
            {
                entry.mtime = Some(exact);
            }
        }
    }
}

impl SetTimes {
    /// Show the directory times we kept while listings show the same server time as the first
    /// listing after we set them; forget them once it moved.
    fn refine_dirs(&self, dir: &Path, entries: &mut [Entry]) {
        let mut dirs = self.dirs.lock();
        if dirs.is_empty() {
            return;
        }
        for entry in entries.iter_mut().filter(|e| e.kind == EntryKind::Dir) {
            let path = dir.join(&entry.name);
            let Some((exact, baseline)) = dirs.get_mut(&path) else {
                continue;
            };
            match *baseline {
                None => *baseline = entry.mtime,
                Some(seen) if entry.mtime == Some(seen) => {}
                Some(_) => {
                    dirs.pop(&path);
                    continue;
                }
            }
            entry.mtime = Some(*exact);
        }
    }
}

/// Move the keys at or below `from` to the same place below `to` (dropping what was at `to`).
fn rebase<V: Copy>(map: &mut LruCache<PathBuf, V>, from: &Path, to: &Path) {
    let moved: Vec<(PathBuf, PathBuf, V)> = map
        .iter()
        .filter_map(|(path, value)| {
            let rest = path.strip_prefix(from).ok()?;
            Some((path.clone(), to.join(rest), *value))
        })
        .collect();
    map.pop(to);
    for (old, _, _) in &moved {
        map.pop(old);
    }
    for (_, new, value) in moved {
        map.put(new, value);
    }
}

/// Whether `listed` is `exact` rounded down to a whole second, minute or (UTC) day.
fn is_rounded(listed: SystemTime, exact: SystemTime) -> bool {
    let Ok(exact) = exact.duration_since(UNIX_EPOCH) else {
        return false;
    };
    [1, 60, 86_400].into_iter().any(|unit| {
        let rounded = UNIX_EPOCH + Duration::from_secs(exact.as_secs() / unit * unit);
        listed == rounded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn file(name: &str, mtime: SystemTime) -> Entry {
        Entry {
            mtime: Some(mtime),
            ..Entry::new(name, EntryKind::File)
        }
    }

    const EXACT: u64 = 1_600_000_000; // 2020-09-13 12:26:40 UTC

    #[test]
    fn rounded_listing_times_are_replaced_by_the_time_we_set() {
        let times = SetTimes::default();
        times.remember(Path::new("/d/day"), at(EXACT), None);
        times.remember(Path::new("/d/minute"), at(EXACT), Some(1));
        times.remember(
            Path::new("/d/nanos"),
            at(EXACT) + Duration::from_nanos(5),
            None,
        );
        times.remember(Path::new("/d/changed"), at(EXACT), None);
        times.remember(Path::new("/d/resized"), at(EXACT), Some(2));
        let mut entries = vec![
            file("day", at(EXACT / 86_400 * 86_400)),
            file("minute", at(EXACT / 60 * 60)),
            file("nanos", at(EXACT)),
            file("changed", at(EXACT + 3_600)), // someone else wrote it since
            file("unknown", at(5)),
            Entry {
                size: Some(3), // rewritten the same day by someone else
                ..file("resized", at(EXACT / 86_400 * 86_400))
            },
        ];
        times.refine(Path::new("/d"), &mut entries);
        let shown: Vec<Option<SystemTime>> = entries.iter().map(|e| e.mtime).collect();
        assert_eq!(
            shown,
            [
                Some(at(EXACT)),
                Some(at(EXACT)),
                Some(at(EXACT) + Duration::from_nanos(5)),
                Some(at(EXACT + 3_600)),
                Some(at(5)),
                Some(at(EXACT / 86_400 * 86_400)),
            ]
        );
    }

    #[test]
    fn refused_directory_times_show_until_the_directory_changes() {
        let times = SetTimes::default();
        let dir = |mtime| Entry {
            mtime: Some(at(mtime)),
            ..Entry::new("d", EntryKind::Dir)
        };
        times.keep_dir_time(Path::new("/d"), at(EXACT));
        let mut first = vec![dir(EXACT + 500)];
        times.refine(Path::new("/"), &mut first);
        assert_eq!(first[0].mtime, Some(at(EXACT)), "first listing: baseline");
        let mut same = vec![dir(EXACT + 500)];
        times.refine(Path::new("/"), &mut same);
        assert_eq!(same[0].mtime, Some(at(EXACT)));
        let mut changed = vec![dir(EXACT + 900)];
        times.refine(Path::new("/"), &mut changed);
        assert_eq!(
            changed[0].mtime,
            Some(at(EXACT + 900)),
            "someone changed it"
        );
        let mut later = vec![dir(EXACT + 500)];
        times.refine(Path::new("/"), &mut later);
        assert_eq!(later[0].mtime, Some(at(EXACT + 500)), "forgotten");
        times.keep_dir_time(Path::new("/d"), at(EXACT));
        times.renamed(Path::new("/d"), Path::new("/e"));
        let mut moved = vec![Entry {
            name: "e".into(),
            ..dir(EXACT + 7)
        }];
        times.refine(Path::new("/"), &mut moved);
        assert_eq!(moved[0].mtime, Some(at(EXACT)));
        times.forget(Path::new("/e"));
        let mut gone = vec![Entry {
            name: "e".into(),
            ..dir(EXACT + 7)
        }];
        times.refine(Path::new("/"), &mut gone);
        assert_eq!(gone[0].mtime, Some(at(EXACT + 7)));
    }

    #[test]
    fn forget_and_rename_follow_the_file() {
        let times = SetTimes::default();
        times.remember(Path::new("/d/.tmp123"), at(EXACT), None);
        times.remember(Path::new("/d/sub/inner"), at(EXACT), None);
        times.renamed(Path::new("/d/.tmp123"), Path::new("/d/final"));
        times.renamed(Path::new("/d/sub"), Path::new("/e"));
        let mut entries = vec![
            file("final", at(EXACT / 60 * 60)),
            file(".tmp123", at(EXACT / 60 * 60)),
        ];
        times.refine(Path::new("/d"), &mut entries);
        assert_eq!(entries[0].mtime, Some(at(EXACT)));
        assert_eq!(
            entries[1].mtime,
            Some(at(EXACT / 60 * 60)),
            "old name forgotten"
        );
        let mut inner = vec![file("inner", at(EXACT / 60 * 60))];
        times.refine(Path::new("/e"), &mut inner);
        assert_eq!(inner[0].mtime, Some(at(EXACT)));
        times.forget(Path::new("/d/final"));
        let mut again = vec![file("final", at(EXACT / 60 * 60))];
        times.refine(Path::new("/d"), &mut again);
        assert_eq!(again[0].mtime, Some(at(EXACT / 60 * 60)));
    }
}
