//! The entries of the write-back journal (`journal`): framing, checksum and parsing, apart
//! from the segment bookkeeping so each file stays one concept.
//!
//! # Entry format (spool format 2)
//! Every entry is `len: u32 LE | crc32: u32 LE | body` (`len` bytes, CRC-32/IEEE of `body`).
//! That frame never changes with the version, so a later format can still be skipped over.
//! `body` is `version: u8 | seq: u64 LE | kind: u8 | ...`:
//! - kind 1, commit: `record_len: u32 LE | record (store::Record text) | data`;
//! - kind 2, update: `record_len: u32 LE | record` (a renamed path, a recorded chmod/utimens);
//! - kind 3, done: nothing (uploaded or cancelled).
//!
//! A short or bad-checksum entry ends its segment: it is the torn tail of a write no close
//! waited for (a close returns only after the `fdatasync` that covers its entry), so recovery
//! drops it. An entry of another version (or one that does not parse) is reported and its
//! segment is kept for good, like an unreadable record of format 1; its `seq` (always at the
//! same place) still counts for numbering. A segment's all-zero rest (written ahead, see
//! `journal`) is its end.

use std::io;

use super::journal::INLINE_MAX;

/// The version byte of every entry this ftpfs writes (spool format 2).
pub(super) const ENTRY_VERSION: u8 = 2;
/// `len` and `crc32`.
pub(super) const FRAME: usize = 8;
/// `version`, `seq`, `kind`.
pub(super) const HEADER: usize = 10;
/// The longest body this version accepts (larger: a torn or foreign length).
const MAX_BODY: usize = HEADER + 4 + (1 << 16) + INLINE_MAX as usize;

pub(super) const COMMIT: u8 = 1;
pub(super) const UPDATE: u8 = 2;
pub(super) const DONE: u8 = 3;

/// An entry's frame and header (and record), the length and checksum still zero.
pub(super) fn start_entry(seq: u64, kind: u8, record: Option<&[u8]>) -> Vec<u8> {
    let mut entry = Vec::with_capacity(FRAME + HEADER + 4 + record.map_or(0, <[u8]>::len));
    entry.extend_from_slice(&[0; FRAME]);
    entry.push(ENTRY_VERSION);
    entry.extend_from_slice(&seq.to_le_bytes());
    entry.push(kind);
    if let Some(record) = record {
        entry.extend_from_slice(&(record.len() as u32).to_le_bytes());
        entry.extend_from_slice(record);
    }
    entry
}

/// Fill in the length and checksum.
pub(super) fn seal_entry(entry: &mut [u8]) -> io::Result<()> {
    let body = &entry[FRAME..];
    if body.len() > MAX_BODY {
        return Err(io::Error::other("journal entry too large"));
    }
    let (len, crc) = (body.len() as u32, crc32(body));
    entry[..4].copy_from_slice(&len.to_le_bytes());
    entry[4..FRAME].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A parsed body (borrowing the segment's bytes).
pub(super) enum Body<'a> {
    Commit {
        record: &'a [u8],
        data_at: usize,
        data_len: usize,
    },
    Update {
        record: &'a [u8],
    },
    Done,
    Unreadable(String),
}

/// Call `found(offset, seq, body)` for each entry of a segment, in order (a commit's data is
/// `data_len` bytes from `data_at`, relative to the entry). Returns where a torn or corrupt
/// tail starts, and why, if there is one.
pub(super) fn scan(
    bytes: &[u8],
    mut found: impl FnMut(u64, u64, Body<'_>),
) -> Option<(u64, &'static str)> {
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(frame) = bytes.get(at..at + FRAME) else {
            return Some((at as u64, "short frame"));
        };
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if len == 0 && bytes[at..].iter().all(|&b| b == 0) {
            return None; // the zeros written ahead: the end
        }
        if !(HEADER..=MAX_BODY).contains(&len) {
            return Some((at as u64, "bad length"));
        }
        let Some(body) = bytes.get(at + FRAME..at + FRAME + len) else {
            return Some((at as u64, "short entry"));
        };
        if crc32(body) != crc {
            return Some((at as u64, "bad checksum"));
        }
        let mut seq = [0; 8];
        seq.copy_from_slice(&body[1..9]);
        found(at as u64, u64::from_le_bytes(seq), parse(body));
        at += FRAME + len;
    }
    None
}

pub(super) fn parse(body: &[u8]) -> Body<'_> {
    if body[0] != ENTRY_VERSION {
        return Body::Unreadable(format!(
            "journal entry format {}, this ftpfs reads format {ENTRY_VERSION}",
            body[0]
        ));
    }
    let rest = &body[HEADER..];
    let record = || {
        let len = rest.get(..4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        Some((rest.get(4..4 + len)?, HEADER + 4 + len))
    };
    match (body[9], record()) {
        (COMMIT, Some((record, end))) => Body::Commit {
            record,
            data_at: FRAME + end,
            data_len: body.len() - end,
        },
        (UPDATE, Some((record, end))) if end == body.len() => Body::Update { record },
        (DONE, _) if rest.is_empty() => Body::Done,
        (kind, _) => Body::Unreadable(format!("malformed journal entry (kind {kind})")),
    }
}

/// CRC-32 (IEEE 802.3, as zlib). crc32fast, not a byte-at-a-time table: every write-back
/// close checksums its file's data on the FUSE thread the application waits for, and the table
/// loop was 2.5 % of ftpfs' CPU in `tar -x` of 4 KiB files (crc32fast uses the CPU's carry-less
/// multiply where there is one).
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
