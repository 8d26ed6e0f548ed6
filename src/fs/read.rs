//! The read path of one open file: a single sequential download stream plus the chunk cache.
//!
//! A download (RETR) costs a round trip and a data connection, so a handle keeps one stream
//! open and consecutive reads simply continue it. The kernel's readahead may deliver reads a
//! little out of order across threads, so the last `WINDOW` bytes stay in memory: a read slightly
//! behind the stream is served from there, a read slightly ahead discards bytes from the stream
//! (up to `SKIP_LIMIT`). Anything farther drops the stream and reopens it at the new offset
//! (REST). End of file is where the server ends the download, never the listed size, so files
//! whose listing says 0 bytes (/proc-like virtual files) still read fully.
//!
//! Bytes come off the socket straight into chunk-aligned buffers (`Block`s). A completed block
//! is, without copying, at once part of the window, an entry of the shared chunk LRU (which
//! serves re-reads from any handle without a new download) and the reply to a kernel read
//! that falls inside it. That keeps the user-space cost of a streamed byte at one copy (socket to
//! block); the earlier design copied each byte about six times and could not keep up with curl.
//!
//! A failed download is remembered for `FAIL_FAST_FOR`: reads of the same handle that need the
//! network meanwhile fail at once with the same error. With the page cache on, the kernel queues
//! several readahead requests behind the one that is failing; without this each would wait out
//! its own timeouts in turn and one read(2) from a dead server would take minutes, not seconds.
//!
//! A stream nobody has read for a while can be suspended (`suspend_if_idle`) when another
//! transfer waits for a connection: its download is dropped, giving the connection back, and the
//! next read resumes it with REST at the same offset, keeping the window.
//!
//! Locking: a `ReadStream` lives inside its handle's mutex, which the caller holds for the whole
//! read, network included; that only serialises reads of this handle. The chunk cache lock is
//! taken briefly inside `ChunkCache` methods and never while calling the remote.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FsError;
use crate::cache::{CHUNK_SIZE, Chunk, ChunkCache, FileVersion, ReadData};
use crate::remote::{Remote, RemoteError, RemoteReader};
use crate::status::{self, Direction};

/// Bytes kept behind the stream position for slightly reordered reads.
const WINDOW: u64 = 2 * 1024 * 1024;
/// Largest forward gap bridged by reading and discarding instead of reopening.
const SKIP_LIMIT: u64 = 1024 * 1024;
/// Reopen attempts after a transient failure in the middle of a stream.
const TRANSIENT_RETRIES: u32 = 1;
/// One handle feeds the chunk cache with at most 1/this of its budget (plus the file's last
/// chunk): a long sequential read cannot flush everything else out of the cache, and its
/// buffers are recycled through the window instead of growing the cache with fresh memory
/// (first-touch page faults cost a 1 GiB read up to a third of its CPU time).
const STREAM_CACHE_SHARE: u64 = 4;
/// How long a download failure answers further reads of the handle without a new attempt.
const FAIL_FAST_FOR: Duration = Duration::from_secs(2);

/// What a read needs to know about the file besides the stream.
pub struct ReadTarget<'a> {
    pub remote: &'a dyn Remote,
    pub path: &'a Path,
    /// The cache key when the file's version is known and we are not changing it.
    pub version: Option<&'a FileVersion>,
    pub chunks: &'a ChunkCache,
}

/// Received bytes of the stream from file offset `start`. Blocks end on chunk boundaries, so a
/// block that starts on one and is complete is exactly a cacheable chunk.
struct Block {
    start: u64,
    data: Chunk,
}

impl Block {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

/// The block the socket is writing into: `buffer[..filled]` holds data from `start`.
struct Filling {
    start: u64,
    buffer: Vec<u8>,
    filled: usize,
    /// Part came from an earlier download: the file may have changed in between, so this
    /// block is never offered to the cache (a chunk must come from one download).
    spans_downloads: bool,
}

/// One handle's download state.
#[derive(Default)]
pub struct ReadStream {
    reader: Option<Box<dyn RemoteReader>>,
    /// Offset of the next byte `reader` yields.
    position: u64,
    /// The download ended at `position`.
    at_eof: bool,
    /// Completed blocks just behind the stream, oldest first, at most about `WINDOW` bytes.
    behind: VecDeque<Block>,
    /// The partly received block ending at `position`, if any.
    filling: Option<Filling>,
    /// The last download failure and when it happened.
    recent_failure: Option<(Instant, FsError)>,
    /// When the last read finished.
    last_used: Option<Instant>,
    /// Bytes this handle has put into the chunk cache.
    cached_bytes: u64,
}

impl ReadStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Read up to `size` bytes at `offset`; fewer only at end of file.
    pub fn read(
        &mut self,
        target: &ReadTarget<'_>,
        offset: u64,
        size: usize,
    ) -> Result<ReadData, FsError> {
        // The window is sized for reads of at most one chunk (the kernel asks at most 1 MiB):
        // anything bigger is served piece by piece so no piece can outgrow the window.
        if size > CHUNK_SIZE as usize {
            let mut out = Vec::with_capacity(size);
            while out.len() < size {
                let want = (size - out.len()).min(CHUNK_SIZE as usize);
                let piece = self.read_piece(target, offset + out.len() as u64, want)?;
                out.extend_from_slice(&piece);
                if piece.len() < want {
                    break; // end of file
                }
            }
            return Ok(ReadData::Owned(out));
        }
        self.read_piece(target, offset, size)
    }

    /// `read` for at most one chunk.
    fn read_piece(
        &mut self,
        target: &ReadTarget<'_>,
        offset: u64,
        size: usize,
    ) -> Result<ReadData, FsError> {
        if size == 0 {
            return Ok(ReadData::default());
        }
        if let Some(version) = target.version
            && let Some(data) = target.chunks.read(version, offset, size)
        {
            return Ok(data);
        }
        let end = offset.saturating_add(size as u64);
        let in_window = self.window_start() <= offset && offset < self.position;
        // Fewer bytes than asked means end of file (the page cache even shrinks the file to
        // it), so a read may stop short of `end` only when the download really ended there.
        let needs_stream = !in_window || (self.position < end && !self.at_eof);
        if needs_stream {
            if let Some((when, error)) = &self.recent_failure
                && when.elapsed() < FAIL_FAST_FOR
            {
                return Err(error.clone());
            }
            let fetched = self.fetch(target, offset, end, in_window);
            self.last_used = Some(Instant::now());
            if let Err(error) = fetched {
                self.recent_failure = Some((Instant::now(), error.clone()));
                return Err(error);
            }
        }
        Ok(self.copy_out(offset, end.min(self.position)))
    }

    /// Drop the download now (the next read resumes it with REST). Returns whether one was open.
    pub fn suspend(&mut self) -> bool {
        self.suspend_if_idle(Duration::ZERO)
    }

    /// Drop the download if it has not been read for `min_idle`, freeing its connection.
    /// Returns whether it did.
    pub fn suspend_if_idle(&mut self, min_idle: Duration) -> bool {
        let idle = self.last_used.is_none_or(|at| at.elapsed() >= min_idle);
        if self.reader.is_none() || !idle {
            return false;
        }
        self.reader = None; // `fetch` resumes at `position` when needed
        true
    }

    /// Position the stream (unless `offset` is held already) and receive up to `end`.
    fn fetch(
        &mut self,
        target: &ReadTarget<'_>,
        offset: u64,
        end: u64,
        in_window: bool,
    ) -> Result<(), FsError> {
        // A download that was suspended, or failed, continues where it stopped when the read
        // is in or just after the window (keeping the window); farther reads reopen anyway.
        let resumable = self.reader.is_none() && !self.at_eof && self.position > 0;
        if resumable
            && (in_window || (offset >= self.position && offset - self.position <= SKIP_LIMIT))
        {
            log::debug!("resuming the download at {}", self.position);
            self.connect(target, self.position)?;
        }
        if !in_window {
            self.seek(target, offset)?;
        }
        while self.position < end && self.pull(target)? > 0 {}
        Ok(())
    }

    /// The first offset still held in memory (equal to `position` when nothing is).
    fn window_start(&self) -> u64 {
        match (self.behind.front(), &self.filling) {
            (Some(block), _) => block.start,
            (None, Some(filling)) => filling.start,
            (None, None) => self.position,
        }
    }

    /// The held bytes `[offset, end)`: shared when one completed block has them all.
    fn copy_out(&self, offset: u64, end: u64) -> ReadData {
        if end <= offset {
            return ReadData::default();
        }
        debug_assert!(
            self.window_start() <= offset,
            "read start fell out of the window"
        );
        if let Some(block) = self
            .behind
            .iter()
            .find(|block| block.start <= offset && end <= block.end())
        {
            let from = (offset - block.start) as usize;
            let to = (end - block.start) as usize;
            return ReadData::shared(Arc::clone(&block.data), from..to);
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        let pieces = self
            .behind
            .iter()
            .map(|block| (block.start, block.data.as_slice()))
            .chain(
                self.filling
                    .iter()
                    .map(|filling| (filling.start, &filling.buffer[..filling.filled])),
            );
        for (start, bytes) in pieces {
            let piece_end = start + bytes.len() as u64;
            if piece_end <= offset || start >= end {
                continue;
            }
            let from = offset.max(start) - start;
            let to = end.min(piece_end) - start;
            out.extend_from_slice(&bytes[from as usize..to as usize]);
        }
        ReadData::Owned(out)
    }

    /// Bring the stream to `offset`: continue, skip forward, or reopen.
    fn seek(&mut self, target: &ReadTarget<'_>, offset: u64) -> Result<(), FsError> {
        let have_stream = self.reader.is_some() || self.at_eof;
        if have_stream && offset == self.position {
            return Ok(());
        }
        if self.reader.is_some() && offset > self.position && offset - self.position <= SKIP_LIMIT {
            // The skipped bytes go through the blocks too, so they end up in the cache.
            while self.position < offset && self.pull(target)? > 0 {}
            return Ok(());
        }
        if self.at_eof && offset >= self.position {
            return Ok(()); // known to be past the end
        }
        self.reopen(target, offset)
    }

    fn reopen(&mut self, target: &ReadTarget<'_>, offset: u64) -> Result<(), FsError> {
        for block in self.behind.drain(..) {
            target.chunks.recycle(block.data);
        }
        self.filling = None;
        self.connect(target, offset)
    }

    /// Start a download at `offset`, keeping what is held in memory.
    fn connect(&mut self, target: &ReadTarget<'_>, offset: u64) -> Result<(), FsError> {
        log::debug!("RETR {} from {offset}", target.path.display());
        self.reader = None;
        let reader = target
            .remote
            .open_read(target.path, offset)
            .map_err(|err| FsError::remote(format!("read {}", target.path.display()), &err))?;
        let total = target.version.and_then(|version| version.size);
        let reader = status::track(reader, target.path, Direction::Download, offset, total);
        self.reader = Some(reader);
        self.position = offset;
        self.at_eof = false;
        if let Some(filling) = self.filling.as_mut()
            && filling.filled > 0
        {
            filling.spans_downloads = true;
        }
        Ok(())
    }

    /// One read from the stream into the filling block (reopening once after a transient
    /// failure). Returns the bytes received, 0 at end of file.
    fn pull(&mut self, target: &ReadTarget<'_>) -> Result<usize, FsError> {
        let mut retries = 0;
        loop {
            let Some(reader) = self.reader.as_mut() else {
                if self.at_eof {
                    return Ok(0);
                }
                // Never report "end of file" for a download that is merely not running.
                return Err(FsError::new(
                    libc::EIO,
                    format!("read {}: no download in progress", target.path.display()),
                ));
            };
            let position = self.position;
            let filling = self.filling.get_or_insert_with(|| {
                let block_end = (position / CHUNK_SIZE + 1) * CHUNK_SIZE;
                Filling {
                    start: position,
                    buffer: target.chunks.buffer((block_end - position) as usize),
                    filled: 0,
                    spans_downloads: false,
                }
            });
            match reader.read(&mut filling.buffer[filling.filled..]) {
                Ok(0) => {
                    self.reader = None;
                    self.at_eof = true;
                    self.complete_block(target);
                    return Ok(0);
                }
                Ok(got) => {
                    filling.filled += got;
                    self.position += got as u64;
                    if filling.filled == filling.buffer.len() {
                        self.complete_block(target);
                    }
                    return Ok(got);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let err = RemoteError::from_io(err);
                    if err.is_transient() && retries < TRANSIENT_RETRIES {
                        retries += 1;
                        log::warn!(
                            "download of {} broke at {} ({err}); resuming",
                            target.path.display(),
                            self.position
                        );
                        self.connect(target, self.position)?;
                        continue;
                    }
                    self.reader = None;
                    return Err(FsError::remote(
                        format!("read {}", target.path.display()),
                        &err,
                    ));
                }
            }
        }
    }

    /// Move the filling block behind the stream (at EOF even when short or empty) and offer it
    /// to the cache when it is a whole chunk or the file's last one.
    fn complete_block(&mut self, target: &ReadTarget<'_>) {
        let (block, spans_downloads) = match self.filling.take() {
            Some(Filling {
                start,
                mut buffer,
                filled,
                spans_downloads,
            }) => {
                buffer.truncate(filled);
                let data = Arc::new(buffer);
                (Block { start, data }, spans_downloads)
            }
            // At EOF with nothing pending: an empty block records where the file ends.
            None => {
                let data = Arc::new(Vec::new());
                (
                    Block {
                        start: self.position,
                        data,
                    },
                    false,
                )
            }
        };
        let within_share = self.cached_bytes < target.chunks.budget() / STREAM_CACHE_SHARE;
        if let Some(version) = target.version
            && block.start.is_multiple_of(CHUNK_SIZE)
            && (block.data.len() as u64 == CHUNK_SIZE || self.at_eof)
            && (within_share || self.at_eof)
            && !spans_downloads
        {
            self.cached_bytes += block.data.len() as u64;
            target
                .chunks
                .insert(version, block.start / CHUNK_SIZE, Arc::clone(&block.data));
        }
        if block.data.is_empty() {
            return;
        }
        self.behind.push_back(block);
        let mut held: u64 = self
            .behind
            .iter()
            .map(|block| block.data.len() as u64)
            .sum();
        while held > WINDOW {
            match self.behind.pop_front() {
                Some(oldest) => {
                    held -= oldest.data.len() as u64;
                    target.chunks.recycle(oldest.data);
                }
                None => break,
            }
        }
    }
}
