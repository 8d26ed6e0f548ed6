//! Write-back mode (issue 11): close returns once the data is durable in a local spool, and
//! background workers upload it later.
//!
//! STATUS: building blocks only, NOT wired into the filesystem yet (no option turns it on, so
//! the default close-to-open behaviour is untouched). What exists:
//! - `store`: the durable spool directory (versioned records, tmp+fsync+rename commits,
//!   recovery of what a killed mount left behind);
//! - `queue`: the in-memory per-path ordering of pending uploads (rename/unlink/attributes of
//!   pending files, oldest-first hand-out, one upload per path at a time);
//! - `budget`: the spool-size bound (close waits for room; a file larger than the spool
//!   bypasses it);
//! - `retry`: transient vs permanent upload failures and the backoff;
//! - `engine`: the above plus uploader workers (given the upload as a closure), the fsync
//!   barrier (`wait`), the unmount drain with a bound naming what is left, and resuming a spool
//!   left by a killed mount;
//! - `default_spool_dir`: one directory per mount source.
//!
//! # Wiring plan (not done yet)
//! - Config: `FsConfig { writeback: bool (default false), spool_size: u64, spool_dir }` (the
//!   existing `spool_dir` is the anonymous random-write spool; the write-back one defaults to
//!   `default_spool_dir(source)`), each listed in `config::pipe::visit_fields`; CLI
//!   `--writeback`, `--spool-size` (clap long options give the `-o key=value` forms).
//! - Open: in write-back mode O_TRUNC/create must not start a STOR (`file_ops::open/create`
//!   start one today): the handle starts in `WriteState::Spooled`; create reports
//!   `namespace.created_file` without a server call.
//! - Close (`file_ops::settle` for a `Spooled` handle): `budget.reserve(len)` (TooLarge: upload
//!   as today), `store.commit`, `queue.push`, remove superseded entries; keep the path in the
//!   namespace's open-writes registry until the upload ends, so `overlay`/listings show the
//!   pending size and name even after the listing cache refreshes from the server (item 3).
//! - Workers (connections - 1 threads): `queue.take_next`, upload the data file through the
//!   same function close uses (`Spool::upload`, which H1 makes atomic), apply recorded
//!   mode/mtime, `store.remove`, `budget.release`, `namespace.written`; failures per `retry`.
//! - rename/unlink/setattr in `dir_ops`/`setattr`: ask the queue first (`Outcome::Changed`:
//!   make durable and report the namespace event, no server call; `Busy`: wait for the path's
//!   upload, then proceed as today). open of a pending path waits for (or supersedes) it;
//!   reads of a pending path read the spool data file.
//! - Barriers: fsync waits for the path's entry and returns a `State::Failed` message;
//!   `Filesystem::shutdown` drains with a bound and logs every path left in the spool.
//! - Recovery: at mount, `store.recover` -> `Queue::resume`, `Budget::new(size, bytes)`.

#![allow(dead_code)] // Not wired yet; see above.

pub mod budget;
pub mod engine;
pub mod queue;
pub mod retry;
pub mod store;

use std::path::{Path, PathBuf};

/// The spool directory of one mount source when none is given: `$XDG_CACHE_HOME/ftpfs/spool/`
/// (else `~/.cache/...`, else `/var/cache/ftpfs/spool/` for root or when no home is known)
/// plus the source (`user@host:port/path`) with `/` and `%` percent-escaped, so each source
/// has its own directory and the next mount of the same source finds what is pending.
pub fn default_spool_dir(source: &str, xdg_cache: Option<&Path>, home: Option<&Path>) -> PathBuf {
    let base = match (xdg_cache, home) {
        (Some(xdg), _) if xdg.is_absolute() => xdg.join("ftpfs"),
        (_, Some(home)) if home.is_absolute() => home.join(".cache/ftpfs"),
        _ => PathBuf::from("/var/cache/ftpfs"),
    };
    let mut name = String::with_capacity(source.len());
    for c in source.chars() {
        match c {
            '/' => name.push_str("%2F"),
            '%' => name.push_str("%25"),
            c if c.is_control() => name.push_str(&format!("%{:02X}", c as u32)),
            c => name.push(c),
        }
    }
    if matches!(name.as_str(), "" | "." | "..") {
        // Never a path step of its own: the directory must stay under `spool/`.
        name = name.replace('.', "%2E") + "%";
    }
    base.join("spool").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_dir_per_source() {
        let table: &[(Option<&str>, Option<&str>, &str, &str)] = &[
            (
                Some("/x"),
                Some("/h"),
                "u@h:21/a/b",
                "/x/ftpfs/spool/u@h:21%2Fa%2Fb",
            ),
            (None, Some("/h"), "u@h:21", "/h/.cache/ftpfs/spool/u@h:21"),
            (
                Some("rel"),
                None,
                "h:21/%",
                "/var/cache/ftpfs/spool/h:21%2F%25",
            ),
            (None, None, "h:21/..", "/var/cache/ftpfs/spool/h:21%2F.."),
            (None, None, "..", "/var/cache/ftpfs/spool/%2E%2E%"),
            (None, None, "", "/var/cache/ftpfs/spool/%"),
        ];
        for (xdg, home, source, want) in table {
            let got = default_spool_dir(source, xdg.map(Path::new), home.map(Path::new));
            assert_eq!(got, PathBuf::from(want), "{source}");
        }
    }
}
