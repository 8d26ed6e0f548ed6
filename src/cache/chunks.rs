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
//! The cache also keeps a few spare chunk buffers. Every chunk it evicts (and every window block
//! a download drops) whose bytes nobody else holds goes back to `spare`, and downloads take their
//! next buffer from there. A streamed gigabyte therefore cycles through the same few megabytes:
//! allocating fresh buffers instead meant page faults and zeroing for every byte, which cost more
//! CPU than the network copy itself (measured: ~40 % of a streaming read).
//!
//! Locking: one mutex, held only for map operations and copies.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use lru::LruCache;
use parking_lot::Mutex;

use super::data::{Chunk, ReadData};

/// Bytes per chunk (aligned on multiples of this offset).
pub(crate) const CHUNK_SIZE: u64 = 1024 * 1024;

/// Spare buffers kept for reuse (memory bound: this many chunks on top of the budget).
const MAX_SPARE: usize = 8;

/// Bookkeeping cost charged per chunk on top of its bytes, so empty EOF markers still count.
const CHUNK_OVERHEAD: u64 = 128;

/// One version of a remote file, as its listing described it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileVersion {
    pub path: PathBuf,
    pub size: Option<u64>,
    pub mtime: SystemTime,
}

type ChunkKey = (FileVersion, u64);

#[derive(Debug)]
struct Lru {
    chunks: LruCache<ChunkKey, Chunk>,
    bytes: u64,
    /// Emptied full-size buffers, ready to receive the next chunk.
    spare: Vec<Vec<u8>>,
}

/// Protects: the LRU and its byte count. Hit/miss counters are atomics.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    budget: u64,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ChunkCache {
    pub(crate) fn new(budget_bytes: u64) -> Self {
        ChunkCache {
            budget: budget_bytes,
            lru: Mutex::new(Lru {
                chunks: LruCache::unbounded(),
                bytes: 0,
                spare: Vec::new(),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Bytes the cache may hold.
    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    /// Store chunk `index` of `version`; `data` shorter than `CHUNK_SIZE` marks the end of file.
    pub(crate) fn insert(&self, version: &FileVersion, index: u64, data: Chunk) {
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
                Some((_, evicted)) => {
                    lru.bytes -= evicted.len() as u64 + CHUNK_OVERHEAD;
                    keep_spare(&mut lru.spare, evicted);
                }
                None => break,
            }
        }
    }

    /// A buffer of `len` bytes (at most `CHUNK_SIZE`) to receive data into. Its contents are
    /// whatever it held before: callers overwrite it and track how much they filled.
    pub(crate) fn buffer(&self, len: usize) -> Vec<u8> {
        let recycled = self.lru.lock().spare.pop();
        match recycled {
            Some(mut buffer) => {
                buffer.resize(len, 0);
                buffer
            }
            None => vec![0; len],
        }
    }

    /// Offer a chunk that is no longer needed for reuse; kept only if nobody else holds it.
    pub(crate) fn recycle(&self, chunk: Chunk) {
        if Arc::strong_count(&chunk) == 1 {
            keep_spare(&mut self.lru.lock().spare, chunk);
        }
    }

    /// `size` bytes from `offset`, if every chunk needed is cached. The result is shorter than
    /// `size` only when the cached data shows the file ends there. A read inside one chunk
    /// shares that chunk instead of copying it.
    pub(crate) fn read(&self, version: &FileVersion, offset: u64, size: usize) -> Option<ReadData> {
        let mut key = (version.clone(), offset / CHUNK_SIZE);
        let mut out: Option<Vec<u8>> = None;
        let mut position = offset;
        let mut lru = self.lru.lock();
        loop {
            key.1 = position / CHUNK_SIZE;
            let Some(chunk) = lru.chunks.get(&key) else {
                drop(lru);
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let within = (position - key.1 * CHUNK_SIZE) as usize;
            let is_last = (chunk.len() as u64) < CHUNK_SIZE;
            let wanted = size - out.as_ref().map_or(0, Vec::len);
            let available = chunk.len().saturating_sub(within);
            let take = available.min(wanted);
            let done = take == wanted || is_last;
            match out.as_mut() {
                None if done => {
                    let data = ReadData::shared(Arc::clone(chunk), within..within + take);
                    drop(lru);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Some(data);
                }
                None => {
                    let mut bytes = Vec::with_capacity(size);
                    bytes.extend_from_slice(&chunk[within..within + take]);
                    out = Some(bytes);
                }
                Some(bytes) => bytes.extend_from_slice(&chunk[within..within + take]),
            }
            position += take as u64;
            if done {
                break;
            }
        }
        drop(lru);
        self.hits.fetch_add(1, Ordering::Relaxed);
        out.map(ReadData::Owned)
    }

    /// Drop every chunk of every version of `path` (we are changing the file).
    pub(crate) fn invalidate_path(&self, path: &Path) {
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
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Reads that needed the remote.
    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes currently held (including per-chunk overhead).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.lru.lock().bytes
    }
}

/// Keep `chunk`'s buffer as a spare if it is unshared, full-size and there is room.
fn keep_spare(spare: &mut Vec<Vec<u8>>, chunk: Chunk) {
    if spare.len() >= MAX_SPARE || chunk.len() as u64 != CHUNK_SIZE {
        return;
    }
    if let Ok(buffer) = Arc::try_unwrap(chunk) {
        spare.push(buffer);
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

    fn chunk(byte: u8, len: u64) -> Chunk {
        Arc::new(vec![byte; len as usize])
    }

    #[test]
    fn reads_across_chunks_and_stops_at_the_short_last_chunk() {
        let cache = ChunkCache::new(10 * CHUNK_SIZE);
        let v = version("/f");
        cache.insert(&v, 0, chunk(1, CHUNK_SIZE));
        cache.insert(&v, 1, chunk(2, 10));
        let data = cache.read(&v, CHUNK_SIZE - 2, 100).unwrap();
        assert_eq!(data, [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert!(cache.read(&v, CHUNK_SIZE + 10, 5).unwrap().is_empty());
        let inside = cache.read(&v, 5, 10).unwrap();
        assert!(
            matches!(inside, ReadData::Shared { .. }),
            "one chunk: no copy"
        );
        assert_eq!(inside, [1u8; 10]);
        assert_eq!(cache.hits(), 3);
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
    fn evicted_and_recycled_buffers_are_reused() {
        let cache = ChunkCache::new(CHUNK_SIZE + CHUNK_OVERHEAD);
        let v = version("/f");
        let first = chunk(1, CHUNK_SIZE);
        let first_ptr = first.as_ptr();
        cache.insert(&v, 0, first);
        cache.insert(&v, 1, chunk(2, CHUNK_SIZE)); // evicts chunk 0, nobody holds it
        let reused = cache.buffer(CHUNK_SIZE as usize);
        assert_eq!(reused.as_ptr(), first_ptr);
        assert_eq!(reused.len(), CHUNK_SIZE as usize);
        let held = chunk(3, CHUNK_SIZE);
        cache.recycle(Arc::clone(&held)); // still shared: not taken
        let fresh = cache.buffer(100);
        assert_ne!(fresh.as_ptr(), held.as_ptr());
        assert_eq!(fresh.len(), 100);
        cache.recycle(held);
        assert_eq!(cache.buffer(10).len(), 10);
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
