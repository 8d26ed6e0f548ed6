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
//! Bytes coming off the stream are also assembled into aligned chunks for the shared chunk LRU,
//! which serves re-reads from any handle without a new download.
//!
//! Locking: a `ReadStream` lives inside its handle's mutex, which the caller holds for the whole
//! read, network included; that only serialises reads of this handle. The chunk cache lock is
//! taken briefly inside `ChunkCache` methods and never while calling the remote.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::error::FsError;
use crate::cache::{CHUNK_SIZE, ChunkCache, FileVersion};
use crate::remote::{Remote, RemoteError, RemoteReader};

/// Bytes kept behind the stream position for slightly reordered reads.
const WINDOW: usize = 2 * 1024 * 1024;
/// Largest forward gap bridged by reading and discarding instead of reopening.
const SKIP_LIMIT: u64 = 1024 * 1024;
/// Reopen attempts after a transient failure in the middle of a stream.
const TRANSIENT_RETRIES: u32 = 1;

/// What a read needs to know about the file besides the stream.
pub struct ReadTarget<'a> {
    pub remote: &'a dyn Remote,
    pub path: &'a Path,
    /// The cache key when the file's version is known and we are not changing it.
    pub version: Option<&'a FileVersion>,
    pub chunks: &'a ChunkCache,
}

/// One handle's download state.
#[derive(Default)]
pub struct ReadStream {
    reader: Option<Box<dyn RemoteReader>>,
    /// Offset of the next byte `reader` yields.
    position: u64,
    /// The download ended at `position`.
    at_eof: bool,
    /// The bytes just before `position`.
    recent: VecDeque<u8>,
    /// A chunk being assembled: its index and the bytes so far (starting at its boundary).
    assembling: Option<(u64, Vec<u8>)>,
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
    ) -> Result<Vec<u8>, FsError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        if let Some(version) = target.version
            && let Some(data) = target.chunks.read(version, offset, size)
        {
            return Ok(data);
        }
        let mut out = Vec::with_capacity(size);
        let window_start = self.position - self.recent.len() as u64;
        let mut wanted_from = offset;
        if offset >= window_start && offset < self.position {
            let skip = (offset - window_start) as usize;
            let take = (self.recent.len() - skip).min(size);
            out.extend(self.recent.range(skip..skip + take));
            wanted_from = offset + take as u64;
            if out.len() == size {
                return Ok(out);
            }
        }
        self.seek(target, wanted_from)?;
        self.fill(target, &mut out, size)?;
        Ok(out)
    }

    /// Bring the stream to `offset`: continue, skip forward, or reopen.
    fn seek(&mut self, target: &ReadTarget<'_>, offset: u64) -> Result<(), FsError> {
        let have_stream = self.reader.is_some() || self.at_eof;
        if have_stream && offset == self.position {
            return Ok(());
        }
        if self.reader.is_some() && offset > self.position && offset - self.position <= SKIP_LIMIT {
            let mut gap = (offset - self.position) as usize;
            let mut sink = vec![0u8; gap.min(64 * 1024)];
            while gap > 0 {
                let want = gap.min(sink.len());
                let got = self.pull(target, &mut sink[..want])?;
                if got == 0 {
                    return Ok(()); // EOF before the offset: the read returns nothing
                }
                gap -= got;
            }
            return Ok(());
        }
        if self.at_eof && offset >= self.position {
            return Ok(()); // known to be past the end
        }
        self.reopen(target, offset)
    }

    fn reopen(&mut self, target: &ReadTarget<'_>, offset: u64) -> Result<(), FsError> {
        log::debug!("RETR {} from {offset}", target.path.display());
        self.reader = None;
        let reader = target
            .remote
            .open_read(target.path, offset)
            .map_err(|err| FsError::remote(format!("read {}", target.path.display()), &err))?;
        self.reader = Some(reader);
        self.position = offset;
        self.at_eof = false;
        self.recent.clear();
        self.assembling = None;
        Ok(())
    }

    /// Read from the stream into `out` until it holds `size` bytes or the download ends.
    fn fill(
        &mut self,
        target: &ReadTarget<'_>,
        out: &mut Vec<u8>,
        size: usize,
    ) -> Result<(), FsError> {
        let mut buffer = vec![0u8; (size - out.len()).min(1024 * 1024)];
        while out.len() < size {
            let want = (size - out.len()).min(buffer.len());
            let got = self.pull(target, &mut buffer[..want])?;
            if got == 0 {
                break;
            }
            out.extend_from_slice(&buffer[..got]);
        }
        Ok(())
    }

    /// One read from the stream (reopening once after a transient failure); records the bytes.
    fn pull(&mut self, target: &ReadTarget<'_>, buffer: &mut [u8]) -> Result<usize, FsError> {
        let mut retries = 0;
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return Ok(0); // at EOF
            };
            match reader.read(buffer) {
                Ok(0) => {
                    self.reader = None;
                    self.at_eof = true;
                    self.finish_assembly(target, true);
                    return Ok(0);
                }
                Ok(got) => {
                    self.record(target, &buffer[..got]);
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
                        let resume_at = self.position;
                        let recent = std::mem::take(&mut self.recent);
                        let assembling = self.assembling.take();
                        self.reopen(target, resume_at)?;
                        self.recent = recent;
                        self.assembling = assembling;
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

    /// Account bytes that just came off the stream at `position`.
    fn record(&mut self, target: &ReadTarget<'_>, mut data: &[u8]) {
        self.recent.extend(data);
        if self.recent.len() > WINDOW {
            let excess = self.recent.len() - WINDOW;
            self.recent.drain(..excess);
        }
        let mut position = self.position;
        self.position += data.len() as u64;
        if target.version.is_none() {
            return;
        }
        while !data.is_empty() {
            match self.assembling.as_mut() {
                Some((_, bytes)) => {
                    let take = data.len().min(CHUNK_SIZE as usize - bytes.len());
                    bytes.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    position += take as u64;
                    if bytes.len() as u64 == CHUNK_SIZE {
                        self.finish_assembly(target, false);
                    }
                }
                None => {
                    let next_boundary = position.div_ceil(CHUNK_SIZE) * CHUNK_SIZE;
                    let skip = (next_boundary - position) as usize;
                    if skip > data.len() {
                        return;
                    }
                    data = &data[skip..];
                    position = next_boundary;
                    self.assembling = Some((next_boundary / CHUNK_SIZE, Vec::new()));
                }
            }
        }
    }

    /// Hand the chunk being assembled to the cache (at EOF even when short or empty).
    fn finish_assembly(&mut self, target: &ReadTarget<'_>, at_eof: bool) {
        let Some(version) = target.version else {
            self.assembling = None;
            return;
        };
        let Some((index, bytes)) = self.assembling.take() else {
            if at_eof && self.position.is_multiple_of(CHUNK_SIZE) {
                // The file ends exactly on a boundary: remember that with an empty chunk.
                target
                    .chunks
                    .insert(version, self.position / CHUNK_SIZE, Arc::from(Vec::new()));
            }
            return;
        };
        if bytes.len() as u64 == CHUNK_SIZE || at_eof {
            target.chunks.insert(version, index, Arc::from(bytes));
        }
        if !at_eof {
            self.assembling = Some((index + 1, Vec::new()));
        }
    }
}
