//! The bytes a read hands back: a slice of a shared chunk, or a buffer of its own.
//!
//! Sequential reads are the hot path. Data arrives from the socket straight into a chunk buffer
//! that the download window, the chunk LRU and the reply all share through an `Arc`, so the
//! common read (one kernel request inside one chunk) is answered without copying a byte in user
//! space. Only a read that spans two chunks, or comes from a spool file, owns a fresh buffer.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// One chunk of file data, shared between the download window, the LRU and replies.
pub(crate) type Chunk = Arc<Vec<u8>>;

/// Bytes returned by a read.
#[derive(Clone)]
pub enum ReadData {
    /// `range` of a shared chunk.
    Shared { chunk: Chunk, range: Range<usize> },
    /// A buffer assembled for this read.
    Owned(Vec<u8>),
}

impl ReadData {
    /// The bytes `range` of `chunk` (clamped to the chunk).
    pub fn shared(chunk: Chunk, range: Range<usize>) -> ReadData {
        let end = range.end.min(chunk.len());
        let start = range.start.min(end);
        ReadData::Shared {
            chunk,
            range: start..end,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            ReadData::Shared { chunk, range } => &chunk[range.clone()],
            ReadData::Owned(bytes) => bytes,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            ReadData::Shared { chunk, range } => chunk[range].to_vec(),
            ReadData::Owned(bytes) => bytes,
        }
    }
}

impl Default for ReadData {
    fn default() -> Self {
        ReadData::Owned(Vec::new())
    }
}

impl From<Vec<u8>> for ReadData {
    fn from(bytes: Vec<u8>) -> Self {
        ReadData::Owned(bytes)
    }
}

impl Deref for ReadData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for ReadData {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<T: AsRef<[u8]> + ?Sized> PartialEq<T> for ReadData {
    fn eq(&self, other: &T) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl fmt::Debug for ReadData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.as_slice();
        if bytes.len() <= 64 {
            write!(f, "ReadData({bytes:?})")
        } else {
            write!(
                f,
                "ReadData({} bytes, starting {:?})",
                bytes.len(),
                &bytes[..64]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_slices_without_copying_and_clamps() {
        let chunk: Chunk = Arc::new(vec![1, 2, 3, 4, 5]);
        let data = ReadData::shared(chunk.clone(), 1..3);
        assert_eq!(data, [2u8, 3]);
        assert_eq!(data.as_slice().as_ptr(), chunk[1..].as_ptr());
        assert_eq!(ReadData::shared(chunk.clone(), 3..99), [4u8, 5]);
        assert!(ReadData::shared(chunk, 9..12).is_empty());
    }

    #[test]
    fn owned_and_into_vec() {
        let data = ReadData::from(vec![7, 8]);
        assert_eq!(data, vec![7u8, 8]);
        assert_eq!(data.into_vec(), vec![7, 8]);
        assert_eq!(
            ReadData::shared(Arc::new(vec![1, 2, 3]), 1..2).into_vec(),
            [2]
        );
    }
}
