//! Fuzz the directory listing parsers (MLSD/MLST facts, Unix `ls -l`, DOS/IIS LIST).
//!
//! Why: listings are the largest untrusted input we parse, and whatever these functions return
//! becomes directory entries the kernel sees. So beyond "no panic", every returned name must be
//! one the filesystem can use (`is_acceptable_name`), modes must be permission bits only, and the
//! whole-body parsers must agree with their per-line versions.
//!
//! Input layout: `[8 bytes: i64 little-endian seconds since the epoch = "now"][listing body]`.
//! "now" decides the year of "Mon DD HH:MM" rows; extreme values exercise the date arithmetic's
//! promise to be total. Seeds in `fuzz/corpus/listing/` carry a real "now" then a real body.

#![no_main]

use std::os::unix::ffi::OsStrExt;
use std::time::{SystemTime, UNIX_EPOCH};

use ftpfs::ftp::ftp_time::unix_seconds_to_system_time;
use ftpfs::ftp::listing::{
    ListLine, is_acceptable_name, parse_list, parse_list_line, parse_mlsd, parse_mlst_line,
    parse_mlsx_line, parse_stat_listing,
};
use ftpfs::remote::Entry;
use libfuzzer_sys::fuzz_target;

const NOW_BYTES: usize = 8;

fn check_fields(entry: &Entry) {
    if let Some(mode) = entry.mode {
        assert!(mode <= 0o7777, "mode {mode:o}");
    }
    if let Some(target) = &entry.link_target {
        assert!(!target.is_empty(), "empty link target");
    }
}

fn check_listed(entry: &Entry) {
    assert!(
        is_acceptable_name(entry.name.as_bytes()),
        "unacceptable name {:?}",
        entry.name
    );
    check_fields(entry);
}

fn now_from(header: &[u8]) -> SystemTime {
    let mut seconds = [0u8; NOW_BYTES];
    seconds.copy_from_slice(header);
    unix_seconds_to_system_time(i64::from_le_bytes(seconds)).unwrap_or(UNIX_EPOCH)
}

fuzz_target!(|input: &[u8]| {
    if input.len() < NOW_BYTES {
        return;
    }
    let (header, body) = input.split_at(NOW_BYTES);
    let now = now_from(header);

    let mlsd = parse_mlsd(body);
    mlsd.iter().for_each(check_listed);

    let list = parse_list(body, now);
    list.iter().for_each(check_listed);

    let lines: Vec<&[u8]> = body.split(|&byte| byte == b'\n').collect();
    assert!(mlsd.len() <= lines.len() && list.len() <= lines.len());

    // The same body as the inner lines of a `STAT dir` reply: acceptable names only, never
    // more entries than lines, and only Unix lines (so never more than LIST finds).
    let inner: Vec<Vec<u8>> = lines.iter().map(|line| line.to_vec()).collect();
    if let Some(stat) = parse_stat_listing(&inner, now) {
        stat.iter().for_each(check_listed);
        assert!(stat.len() < lines.len(), "STAT listing without its '.' line");
    }

    let mut list_by_line = Vec::new();
    for line in &lines {
        match parse_list_line(line, now) {
            ListLine::Entry(entry) => {
                check_listed(&entry);
                list_by_line.push(entry);
            }
            ListLine::Skip | ListLine::Unparsed => {}
        }
        if let Some(entry) = parse_mlst_line(line) {
            // MLST names a path we asked about: "/" for the root, "." and ".." returned as is,
            // but never empty and never a multi-component path.
            let name = entry.name.as_bytes();
            assert!(!name.is_empty(), "empty MLST name");
            assert!(name == b"/" || !name.contains(&b'/'), "MLST name {name:?}");
            check_fields(&entry);
        }
        if let Some(entry) = parse_mlsx_line(line) {
            assert!(!entry.name.is_empty(), "empty MLSx name");
            check_fields(&entry);
        }
    }
    assert_eq!(
        list, list_by_line,
        "parse_list disagrees with parse_list_line"
    );
});
