//! Byte counting for transfers: wrappers around a remote reader or writer that register the
//! transfer in the status table for as long as they live.
//!
//! Wrapping the stream where it is opened keeps the hook in the fs layer to one line per
//! transfer kind, and counts exactly the bytes that crossed the data connection.

use std::io::{self, Read, Write};
use std::path::Path;

use super::registry::{Direction, TransferGuard};
use crate::remote::{RemoteResult, RemoteWriter};

/// A stream that counts what passes through it into its transfer's entry.
pub struct Counted<S> {
    inner: S,
    guard: TransferGuard,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.guard.add(got);
        Ok(got)
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sent = self.inner.write(buf)?;
        self.guard.add(sent);
        Ok(sent)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl RemoteWriter for Counted<Box<dyn RemoteWriter>> {
    fn finish(self: Box<Self>) -> RemoteResult<()> {
        // The transfer stays listed until the server's final reply is in.
        let Counted { inner, guard } = *self;
        let result = inner.finish();
        drop(guard);
        result
    }
}

/// Show `stream` (a download or upload of `path` from file offset `offset`; `total` = the
/// file's size when known) in `ftpfs status` until it is dropped (an upload: until finished).
/// The box coerces to `Box<dyn RemoteReader>` / `Box<dyn RemoteWriter>`.
pub fn track<S>(
    stream: S,
    path: &Path,
    direction: Direction,
    offset: u64,
    total: Option<u64>,
) -> Box<Counted<S>> {
    let guard = super::global().transfer(path, direction, offset, total);
    Box::new(Counted {
        inner: stream,
        guard,
    })
}
