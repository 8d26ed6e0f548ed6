//! Directory listings inside a `STAT dir` reply (RFC 959 allows it; vsftpd, proftpd and
//! pure-ftpd answer with `ls -l` lines between the first and last line of a 211/212/213 reply).
//!
//! Why: such a listing costs one round trip on the control connection, where `LIST` needs a
//! data connection (EPSV, connect, `150`, the data, `226`). Used for listings ahead on servers
//! without MLSD (see `ftp::client`).
//!
//! Strict, because a wrong listing is worse than a slow one: the reply is taken only when every
//! inner line is a Unix `ls -l` line (after the one leading blank proftpd indents with), and
//! when a `.` entry is there. An existing directory always shows `.` on these servers; a
//! missing one gives an empty reply (vsftpd, pure-ftpd) and a file gives its own line, so
//! without `.` the caller lists the usual way (which also gives the right error). `None` means
//! "not a listing we trust", never an error of its own.

use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use super::{is_acceptable_name, is_total_line, trim_line_end, unix};
use crate::remote::{Entry, EntryKind};

/// The entries of a `STAT dir` reply given its inner lines (see the module doc), or `None`
/// when the reply is not a directory listing we can trust.
pub fn parse_stat_listing(inner_lines: &[Vec<u8>], now: SystemTime) -> Option<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut has_dot = false;
    for raw in inner_lines {
        let line = trim_line_end(raw);
        // proftpd indents every line with one blank (RFC 959: a line may not start with a
        // digit); the name column keeps its own leading blanks.
        let line = line.strip_prefix(b" ").unwrap_or(line);
        if line.trim_ascii().is_empty() || is_total_line(line) {
            continue;
        }
        let entry = unix::parse_unix_line(line, now)?;
        if entry.name == "." {
            has_dot |= entry.kind == EntryKind::Dir;
        } else if is_acceptable_name(entry.name.as_bytes()) {
            entries.push(entry);
        } else if entry.name != ".." {
            log::debug!("STAT listing: skipping unacceptable name {:?}", entry.name);
        }
    }
    has_dot.then_some(entries)
}
