//! Helpers for tests that look at files on disk and through a mount: times, sorted names,
//! `ls -l` parsed, `diff -r`, and the mtime precision a server's listing can show.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::kind::ServerKind;
use super::mount::run_ok;

pub fn unix_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

pub fn seconds_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn now_seconds() -> u64 {
    seconds_of(SystemTime::now())
}

/// Sets the mtime of a file or directory on the local disk (the server's root or a source tree).
pub fn set_disk_mtime(path: &Path, time: SystemTime) {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.set_modified(time)
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

pub fn disk_mtime(path: &Path) -> u64 {
    seconds_of(fs::metadata(path).unwrap().modified().unwrap())
}

/// Sorted names in a directory on disk (or in the mount).
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `diff -r` of two trees, asserting they are identical (names, types and contents).
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    run_ok(Command::new("diff").arg("-r").arg(expected).arg(actual));
}

/// Splits `count` whitespace-separated fields off `line`; the rest is after one more space.
pub fn split_fields(line: &str, count: usize) -> (Vec<&str>, &str) {
    let mut fields = Vec::new();
    let mut rest = line;
    for _ in 0..count {
        rest = rest.trim_start();
        let end = rest.find(' ').unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    (fields, rest.strip_prefix(' ').unwrap_or(rest))
}

/// One row of `ls -l` with a numeric time.
#[derive(Debug)]
pub struct LsRow {
    pub mode: String,
    pub size: u64,
    pub mtime: u64,
}

/// `ls -l --time-style=+%s DIR`, parsed into name -> row.
pub fn ls_l(dir: &Path) -> BTreeMap<String, LsRow> {
    let output = run_ok(
        Command::new("ls")
            .arg("-l")
            .arg("--time-style=+%s")
            .arg(dir)
            .env("LC_ALL", "C"),
    );
    output
        .lines()
        .filter(|line| !line.starts_with("total "))
        .map(|line| {
            let (fields, name) = split_fields(line, 6);
            let row = LsRow {
                mode: fields[0].to_string(),
                size: fields[4].parse().unwrap(),
                mtime: fields[5].parse().unwrap(),
            };
            (name.to_string(), row)
        })
        .collect()
}

/// The mtime a listing of this server can show for a file whose real mtime is `actual`: MLSD
/// has seconds; vsftpd's LIST has minutes for files from the last six months, days before.
pub fn listed_mtime(kind: ServerKind, actual: u64) -> u64 {
    if kind.supports_mlsd() {
        actual
    } else if now_seconds().saturating_sub(actual) < 150 * 86_400 {
        actual - actual % 60
    } else {
        actual - actual % 86_400
    }
}
