//! Write-back mode (issue 11): close returns once the data is durable in a local spool, and
//! background workers upload it later.
//!
//! Wired by `fs::pending` (only with `--writeback`, off by default); see there for what the
//! filesystem does, and README "Write-back mode" for what is promised. The building blocks:
//! - `store`: the durable spool directory (versioned records, recovery of what a killed mount
//!   left behind, numbering above every entry it holds), with `journal`: the append-only
//!   segments a small file's close is committed to with one fdatasync;
//! - `queue`: the in-memory per-path ordering of pending uploads (rename/unlink/attributes of
//!   pending files, oldest-first hand-out, one upload per path at a time);
//! - `budget`: the spool-size bound (close waits for room; a file larger than the spool
//!   bypasses it);
//! - `retry`: transient vs permanent upload failures and the backoff;
//! - `engine`: the above with the upload given as a closure, the fsync barrier (`wait`), the
//!   unmount drain with a bound naming what is left, and resuming a spool left by a killed mount;
//! - `worker`: the uploader threads the engine starts (take, upload, retry, settle);
//! - `default_spool_dir`: one directory per mount source.
//!
//! # Not done (see README "Write-back mode")
//! - a rename or unlink of a file whose upload is running or being retried waits for it;
//! - `sync`/`syncfs(2)` cannot wait for the queue: Linux forwards them only to FUSE servers
//!   that set `sync_fs` (virtiofs); `ftpfs sync` and a directory `fsync` are the barriers;
//! - closes commit one at a time (the journal's lock is held across its fdatasync): parallel
//!   writers do not share an fdatasync (no group commit).

pub(crate) mod budget;
pub(crate) mod engine;
mod entry;
pub(crate) mod journal;
pub(crate) mod queue;
pub(crate) mod retry;
pub(crate) mod store;
mod worker;

use std::path::{Path, PathBuf};

/// The spool directory of one mount source when none is given: `$XDG_CACHE_HOME/ftpfs/spool/`
/// (else `~/.cache/...`, else `/var/cache/ftpfs/spool/` for root or when no home is known)
/// plus the source (`user@host:port/path`) with `/` and `%` percent-escaped, so each source
/// has its own directory and the next mount of the same source finds what is pending.
pub(crate) fn default_spool_dir(
    source: &str,
    xdg_cache: Option<&Path>,
    home: Option<&Path>,
) -> PathBuf {
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
