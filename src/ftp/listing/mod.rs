//! Parsers for FTP directory listings: MLSD/MLST facts (RFC 3659, `mlsx`) and LIST output in
//! Unix `ls -l` (`unix`) and DOS/IIS (`dos`) styles. Date and clock tokens are read by
//! `ftp_time`, which owns every notion of time the client has.
//!
//! Why pure functions over bytes: the client only fetches the data-channel bytes; everything
//! that can be wrong about a server's listing is decided here, where a table of real-world lines
//! can pin it down (`tests/`, one file per format). Why "never fail": one odd line must not hide
//! a whole directory (the curlftpfs "unsupported LIST line" pain). Unparsable lines are
//! `log::debug!`ged and skipped. Names are bytes, not necessarily UTF-8: they go into `OsString`
//! unchanged.
//!
//! `STAT dir` replies carrying a listing (`stat`) are Unix lines only, and strict.
//!
//! LIST lines are auto-detected per line: Unix first, then DOS. LIST times are server-local;
//! the zone is unknowable, so they are taken as UTC (proftpd's `TimesGMT on` and most hosted
//! servers make that true). "Mon DD HH:MM" rows get the year of `now`, or the previous year
//! when that would be more than a day in the future (the day of slack covers servers east of
//! UTC). MLSx and MDTM times are UTC by RFC.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::SystemTime;

use super::ftp_time::is_digits;
use crate::remote::Entry;

mod dos;
mod mlsx;
mod stat;
mod unix;

pub use mlsx::{parse_mlsd, parse_mlst_line, parse_mlsx_line};
pub use stat::parse_stat_listing;

#[cfg(test)]
mod tests;

/// How many bytes of a rejected line go into a debug log message.
const LOGGED_LINE_LIMIT: usize = 200;

/// A name we accept from a server: non-empty, not "." or "..", no '/', no NUL/CR/LF.
pub fn is_acceptable_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name
            .iter()
            .any(|&byte| matches!(byte, b'/' | b'\0' | b'\r' | b'\n'))
}

// ---------------------------------------------------------------------------------------------
// LIST
// ---------------------------------------------------------------------------------------------

/// What one LIST line turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListLine {
    /// A directory entry with an acceptable name (see [`is_acceptable_name`]).
    Entry(Entry),
    /// Not an entry and not an error: blank, "total N", ".", "..", or a name we refuse.
    Skip,
    /// Neither a Unix nor a DOS listing line.
    Unparsed,
}

/// Parse a whole LIST body: Unix `ls -l` and DOS/IIS formats auto-detected per line. Skips
/// "total N", ".", "..", names with '/', unparsable lines (debug-logged). `now` gives the year of
/// "Mon DD HH:MM" rows (see the module doc). Never fails.
pub fn parse_list(body: &[u8], now: SystemTime) -> Vec<Entry> {
    let mut entries = Vec::new();
    for line in body_lines(body) {
        match parse_list_line(line, now) {
            ListLine::Entry(entry) => entries.push(entry),
            ListLine::Skip => {}
            ListLine::Unparsed => {
                log::debug!("LIST: skipping unparsable line {}", loggable(line));
            }
        }
    }
    entries
}

/// Parse one LIST line (trailing CR/LF ignored), Unix `ls -l` or DOS/IIS style.
pub fn parse_list_line(line: &[u8], now: SystemTime) -> ListLine {
    let line = trim_line_end(line);
    if line.trim_ascii().is_empty() || is_total_line(line) {
        return ListLine::Skip;
    }
    let Some(entry) = unix::parse_unix_line(line, now).or_else(|| dos::parse_dos_line(line)) else {
        return ListLine::Unparsed;
    };
    if is_acceptable_name(entry.name.as_bytes()) {
        ListLine::Entry(entry)
    } else {
        if entry.name != "." && entry.name != ".." {
            log::debug!("LIST: skipping unacceptable name in {}", loggable(line));
        }
        ListLine::Skip
    }
}

/// "total 12" (also "total 1.5K") heading an `ls -l` listing.
fn is_total_line(line: &[u8]) -> bool {
    // Every LIST line comes through here: only one that can be "total" is tokenized.
    if !starts_with_ignore_case(line.trim_ascii_start(), b"total") {
        return false;
    }
    let tokens = tokenize(line);
    match tokens.as_slice() {
        [word, count] => {
            word.text.eq_ignore_ascii_case(b"total")
                && count.text.first().is_some_and(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// A blank-separated field of a line and where it ends (exclusive byte offset).
#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    text: &'a [u8],
    end: usize,
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn tokenize(line: &[u8]) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (index, &byte) in line.iter().enumerate() {
        match (is_blank(byte), start) {
            (true, Some(begin)) => {
                tokens.extend(
                    line.get(begin..index)
                        .map(|text| Token { text, end: index }),
                );
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    if let Some(begin) = start {
        tokens.extend(line.get(begin..).map(|text| Token {
            text,
            end: line.len(),
        }));
    }
    tokens
}

/// "1234" or "12,345" (thousands separators as some IIS configurations print them).
fn parse_grouped_decimal(text: &[u8]) -> Option<u64> {
    if text.first() == Some(&b',') || text.last() == Some(&b',') {
        return None;
    }
    let digits: Vec<u8> = text.iter().copied().filter(|&byte| byte != b',').collect();
    parse_decimal(&digits)
}

// ----- small helpers -----------------------------------------------------------------------

/// Lines of a data-channel body; "\r\n" and "\n" both end a line.
fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&byte| byte == b'\n').map(trim_line_end)
}

/// The line without trailing CR/LF bytes (never part of an acceptable name).
fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut line = line;
    while let Some(rest) = line
        .strip_suffix(b"\n")
        .or_else(|| line.strip_suffix(b"\r"))
    {
        line = rest;
    }
    line
}

fn bytes_to_os_string(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// A decimal size; `None` when not all digits or too big for u64.
fn parse_decimal(text: &[u8]) -> Option<u64> {
    if !is_digits(text) {
        return None;
    }
    text.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A bounded, lossy rendering of a rejected line for the debug log.
fn loggable(line: &[u8]) -> String {
    let shown = line.get(..LOGGED_LINE_LIMIT).unwrap_or(line);
    format!("{:?}", String::from_utf8_lossy(shown))
}
