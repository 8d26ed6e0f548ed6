//! Caches between the filesystem core and the remote: directory listings and file chunks.
//!
//! Both are plain data structures with short internal locks; they never call the remote
//! themselves, so no lock here is ever held across network I/O.

pub(crate) mod chunks;
pub(crate) mod data;
pub(crate) mod dir;
pub(crate) mod set_times;

pub(crate) use chunks::{CHUNK_SIZE, ChunkCache, FileVersion};
pub(crate) use data::{Chunk, ReadData};
pub(crate) use dir::{CachedLookup, DirCache};
pub(crate) use set_times::SetTimes;
