//! The chunk LRU: recently read file data, served again without a new RETR.
//!
//! Backup tools, file managers and `file` re-read headers and tails; a new RETR costs a round
//! trip plus a data connection. Chunks are keyed by the file's version as listed (path, size,
//! mtime), so a file changed on the server gets a new key instead of stale bytes. Files without a
//! known mtime are never cached (we could not tell versions apart).
//!
//! A chunk shorter than `CHUNK_SIZE` (possibly empty) is the last one: the download ended there.
//! That is how the cache knows EOF without trusting the listed size.
//!
//! Locking: one mutex, held only for map operations and copies.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use lru::LruCache;
use parking_lot::Mutex;

/// Bytes per chunk (aligned on multiples of this offset).
pub const CHUNK_SIZE: u64 = 256 * 1024;

/// Bookkeeping cost charged per chunk on top of its bytes, so empty EOF markers still count.
const CHUNK_OVERHEAD: u64 = 128;

/// One version of a remote file, as its listing described it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileVersion {
    pub path: PathBuf,
    pub size: Option<u64>,
    pub mtime: SystemTime,
}

type ChunkKey = (FileVersion, u64);

#[derive(Debug)]
struct Lru {
    chunks: LruCache<ChunkKey, Arc<[u8]>>,
    bytes: u64,
}

/// Protects: the LRU and its byte count. Hit/miss counters are atomics.
#[derive(Debug)]
pub struct ChunkCache {
    budget: u64,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ChunkCache {
    pub fn new(budget_bytes: u64) -> Self {
        ChunkCache {
            budget: budget_bytes,
            lru: Mutex::new(Lru {
                chunks: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Store chunk `index` of `version`; `data` shorter than `CHUNK_SIZE` marks the end of file.
    pub fn insert(&self, version: &FileVersion, index: u64, data: Arc<[u8]>) {
        let cost = data.len() as u64 + CHUNK_OVERHEAD;
        if cost > self.budget {
            return;
        }
        let mut lru = self.lru.lock();
        if let Some(old) = lru.chunks.put((version.clone(), index), data) {
            lru.bytes -= old.len() as u64 + CHUNK_OVERHEAD;
        }
        lru.bytes += cost;
        while lru.bytes > self.budget {
            match lru.chunks.pop_lru() {
                Some((_, evicted)) => lru.bytes -= evicted.len() as u64 + CHUNK_OVERHEAD,
                None => break,
            }
        }
    }

    /// `size` bytes from `offset`, if every chunk needed is cached. The result is shorter than
    /// `size` only when the cached data shows the file ends there.
    pub fn read(&self, version: &FileVersion, offset: u64, size: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(size);
        let mut position = offset;
        let mut lru = self.lru.lock();
        while out.len() < size {
            let index = position / CHUNK_SIZE;
            let Some(chunk) = lru.chunks.get(&(version.clone(), index)) else {
                drop(lru);
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let within = (position - index * CHUNK_SIZE) as usize;
            let available = chunk.get(within..).unwrap_or(&[]);
            let take = available.len().min(size - out.len());
            out.extend_from_slice(&available[..take]);
            position += take as u64;
            if (chunk.len() as u64) < CHUNK_SIZE && within + take >= chunk.len() {
                break; // the file ends in this chunk
            }
        }
        drop(lru);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(out)
    }

    /// Drop every chunk of every version of `path` (we are changing the file).
    pub fn invalidate_path(&self, path: &Path) {
        let mut lru = self.lru.lock();
        let doomed: Vec<ChunkKey> = lru
            .chunks
            .iter()
            .filter(|((version, _), _)| version.path == path)
            .map(|(key, _)| key.clone())
            .collect();
        for key in doomed {
            if let Some(data) = lru.chunks.pop(&key) {
                lru.bytes -= data.len() as u64 + CHUNK_OVERHEAD;
            }
        }
    }

    /// Reads answered entirely from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Reads that needed the remote.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes currently held (including per-chunk overhead).
    pub fn bytes(&self) -> u64 {
        self.lru.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn version(path: &str) -> FileVersion {
        FileVersion {
            path: PathBuf::from(path),
            size: Some(10),
            mtime: UNIX_EPOCH,
        }
    }

    fn chunk(byte: u8, len: u64) -> Arc<[u8]> {
        vec![byte; len as usize].into()
    }

    #[test]
    fn reads_across_chunks_and_stops_at_the_short_last_chunk() {
        let cache = ChunkCache::new(10 * CHUNK_SIZE);
        let v = version("/f");
        cache.insert(&v, 0, chunk(1, CHUNK_SIZE));
        cache.insert(&v, 1, chunk(2, 10));
        let data = cache.read(&v, CHUNK_SIZE - 2, 100).unwrap();
        assert_eq!(data, [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(
            cache.read(&v, CHUNK_SIZE + 10, 5).unwrap(),
            Vec::<u8>::new()
        );
        assert_eq!(cache.hits(), 2);
    }

    #[test]
    fn missing_chunk_is_a_miss() {
        let cache = ChunkCache::new(10 * CHUNK_SIZE);
        let v = version("/f");
        cache.insert(&v, 0, chunk(1, CHUNK_SIZE));
        assert!(cache.read(&v, 0, CHUNK_SIZE as usize + 1).is_none());
        assert_eq!(cache.misses(), 1);
    }

    #[test]
    fn other_versions_do_not_hit() {
        let cache = ChunkCache::new(10 * CHUNK_SIZE);
        let v = version("/f");
        cache.insert(&v, 0, chunk(1, 5));
        let changed = FileVersion {
            size: Some(11),
            ..v.clone()
        };
        assert!(cache.read(&changed, 0, 5).is_none());
    }

    #[test]
    fn budget_evicts_least_recently_used() {
        let cache = ChunkCache::new(2 * (CHUNK_SIZE + CHUNK_OVERHEAD));
        let v = version("/f");
        cache.insert(&v, 0, chunk(0, CHUNK_SIZE));
        cache.insert(&v, 1, chunk(1, CHUNK_SIZE));
        assert!(cache.read(&v, 0, 1).is_some());
        cache.insert(&v, 2, chunk(2, CHUNK_SIZE));
        assert!(cache.read(&v, CHUNK_SIZE, 1).is_none(), "chunk 1 was LRU");
        assert!(cache.read(&v, 0, 1).is_some());
        assert!(cache.bytes() <= 2 * (CHUNK_SIZE + CHUNK_OVERHEAD));
    }

    #[test]
    fn zero_budget_caches_nothing() {
        let cache = ChunkCache::new(0);
        cache.insert(&version("/f"), 0, chunk(1, 3));
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn invalidate_path_drops_all_versions() {
        let cache = ChunkCache::new(10 * CHUNK_SIZE);
        cache.insert(&version("/f"), 0, chunk(1, 3));
        cache.insert(&version("/g"), 0, chunk(1, 3));
        cache.invalidate_path(Path::new("/f"));
        assert!(cache.read(&version("/f"), 0, 1).is_none());
        assert!(cache.read(&version("/g"), 0, 1).is_some());
    }
}
