//! Caches between the filesystem core and the remote: directory listings and file chunks.
//!
//! Both are plain data structures with short internal locks; they never call the remote
//! themselves, so no lock here is ever held across network I/O.

pub mod chunks;
pub mod data;
pub mod dir;
pub mod set_times;

pub use chunks::{CHUNK_SIZE, ChunkCache, FileVersion};
pub use data::{Chunk, ReadData};
pub use dir::{CachedLookup, DirCache};
pub use set_times::SetTimes;
