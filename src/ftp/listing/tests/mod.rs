//! Table tests of the listing parsers, one file per format, with lines from real servers.
//! Helpers shared by the format files are here, with the tests of what all formats share
//! (acceptable names, skipped and unparsable LIST lines).

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::ftp::ftp_time::{
    civil_to_system_time, format_ftp_time, parse_ftp_time, system_time_to_civil,
};
use crate::remote::EntryKind;

/// The "now" of the LIST tables: 2024-06-15 12:00:00 UTC.
fn now() -> SystemTime {
    utc("20240615120000")
}

fn utc(text: &str) -> SystemTime {
    parse_ftp_time(text.as_bytes()).unwrap()
}

fn entry(
    name: &[u8],
    kind: EntryKind,
    size: Option<u64>,
    mtime: Option<&str>,
    mode: Option<u32>,
) -> Entry {
    Entry {
        name: bytes_to_os_string(name),
        kind,
        size,
        mtime: mtime.map(utc),
        mode,
        link_target: None,
    }
}

fn file(name: &[u8], size: Option<u64>, mtime: Option<&str>, mode: Option<u32>) -> Entry {
    entry(name, EntryKind::File, size, mtime, mode)
}

fn dir(name: &[u8], size: Option<u64>, mtime: Option<&str>, mode: Option<u32>) -> Entry {
    entry(name, EntryKind::Dir, size, mtime, mode)
}

fn link(name: &[u8], target: Option<&[u8]>, size: u64, mtime: &str, mode: u32) -> Entry {
    Entry {
        link_target: target.map(bytes_to_os_string),
        ..entry(
            name,
            EntryKind::Symlink,
            Some(size),
            Some(mtime),
            Some(mode),
        )
    }
}

fn describe(entry: &Entry) -> String {
    format!("{entry:?} mtime={:?}", entry.mtime.map(format_ftp_time))
}

fn assert_mlsx_rows(rows: &[(&[u8], Entry)]) {
    for (line, expected) in rows {
        let parsed =
            parse_mlsx_line(line).unwrap_or_else(|| panic!("unparsed: {}", loggable(line)));
        assert_eq!(
            parsed,
            *expected,
            "line {}: got {}",
            loggable(line),
            describe(&parsed)
        );
        assert_eq!(
            parse_mlsd(line),
            vec![expected.clone()],
            "{}",
            loggable(line)
        );
    }
}

fn assert_list_rows(rows: &[(&[u8], Entry)]) {
    for (line, expected) in rows {
        match parse_list_line(line, now()) {
            ListLine::Entry(parsed) => assert_eq!(
                parsed,
                *expected,
                "line {}: got {}",
                loggable(line),
                describe(&parsed)
            ),
            other => panic!("line {}: got {other:?}", loggable(line)),
        }
        assert_eq!(parse_list(line, now()), vec![expected.clone()]);
    }
}

fn assert_list_outcome(lines: &[&[u8]], outcome: &ListLine) {
    for line in lines {
        assert_eq!(parse_list_line(line, now()), *outcome, "{}", loggable(line));
        assert!(parse_list(line, now()).is_empty(), "{}", loggable(line));
    }
}

mod dos;
mod mlsx;
mod robustness;
mod stat;
mod unix;

// ----- names ---------------------------------------------------------------------------

#[test]
fn acceptable_names_are_non_empty_without_slash_nul_cr_lf_and_not_dot_entries() {
    let good: &[&[u8]] = &[
        b"a", b"...", b".hidden", b" ", b"a b", b"caf\xe9", b"-x", b"a;b",
    ];
    let bad: &[&[u8]] = &[b"", b".", b"..", b"a/b", b"/", b"a\0b", b"a\rb", b"a\nb"];
    for name in good {
        assert!(is_acceptable_name(name), "{name:?}");
    }
    for name in bad {
        assert!(!is_acceptable_name(name), "{name:?}");
    }
}

// ----- LIST: skips and failures --------------------------------------------------------

#[test]
fn list_skips_total_blank_and_dot_entries_and_slashed_names() {
    assert_list_outcome(
        &[
            b"total 12",
            b"total 0\r\n",
            b"TOTAL 1.5K",
            b"",
            b"   ",
            b"\r\n",
            b"drwxr-xr-x   2 u g 4096 Jan  1 12:00 .",
            b"drwxr-xr-x   5 u g 4096 Jan  1 12:00 ..",
            b"-rw-r--r--   1 u g 0 Jan  1  2024 a/b",
            b"07-13-98  09:06PM       <DIR>          .",
            b"07-13-98  09:06PM       <DIR>          ..",
        ],
        &ListLine::Skip,
    );
}

#[test]
fn list_lines_of_no_known_format_are_unparsed() {
    assert_list_outcome(
        &[
            b"ls: cannot open directory .: Permission denied",
            b"random garbage",
            b"total",
            b"-rw-r--r-- 1 u g notanumber Jan 1 2024 x",
            b"-rw-r--r-- 1 u g 10 Jan  1  2024",
            b"-rw-r--r-- 1 u g 10 Jan  1  2024 ",
            b"xrw-r--r-- 1 u g 10 Jan 1 2024 badtype",
            b"-rwxrwxrwz 1 u g 10 Jan 1 2024 badperm",
            b"-rw-r--r-- 1 u g 10 Jan 32 2024 badday",
            b"-rw-r--r-- 1 u g 10 Jan 1 24:00 badhour",
            b"-rw-r--r-- 1 u g 10 Jan 1 12:00:00 noyear",
            b"07-13-98  25:06PM  <DIR> x",
            b"07-13-98  13:06PM  <DIR> x",
            b"07-13-98  09:06PM  <FILE> x",
            b"07-13-98  09:06PM  1234",
            b"07-13-98  09:06PM  ,12 x",
            b"7-13-1998-1 09:06PM 1 x",
        ],
        &ListLine::Unparsed,
    );
}

#[test]
fn list_body_accepts_crlf_and_lf_and_keeps_going_past_bad_lines() {
    let body = b"total 3\r\n\
        drwxr-xr-x   2 u g 4096 Jan  1 12:00 .\r\n\
        -rw-r--r--   1 u g 1 Jan  1 12:00 one\r\n\
        what is this\n\
        07-13-98  09:06PM       <DIR>          two\n\
        lrwxrwxrwx   1 u g 1 Jan  1 12:00 three -> one";
    let names: Vec<_> = parse_list(body, now())
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["one", "two", "three"]);
}

#[test]
fn total_lines_are_told_apart_from_entries() {
    // (line, is a "total N" heading)
    let table: [(&[u8], bool); 10] = [
        (b"total 12", true),
        (b"TOTAL 1.5K", true),
        (b"  total 0", true),
        (b"total\t7", true),
        (b"total", false),
        (b"total x", false),
        (b"totally 3", false),
        (b"total 3 more", false),
        (b"-rw-r--r-- 1 u g 5 Jan 01 2020 total 3", false),
        (b"", false),
    ];
    for (line, expected) in table {
        assert_eq!(
            super::is_total_line(line),
            expected,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}
