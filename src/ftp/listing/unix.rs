//! Unix `ls -l` LIST lines: `mode links owner [group] size DATE name`.
//!
//! Decisions a reader would otherwise have to guess:
//! - Type letters `c b p s D` are listed as **File**; for `c`/`b` the size column holds
//!   "major, minor", so their size is `None`.
//! - Symlinks ("name -> target") are split on the FIRST " -> ": names containing " -> " are
//!   rarer on real servers than targets containing it would be, and either way the listing is
//!   ambiguous.
//! - The name is the rest of the line after exactly one separator following the time/year
//!   column, so leading and repeated spaces inside names survive.
//! - The date is found at the usual column first, then anywhere after the mode where a numeric
//!   size column precedes it (servers that omit the group, or pad oddly).

use std::time::SystemTime;

use super::{Token, bytes_to_os_string, parse_grouped_decimal, tokenize};
use crate::ftp::ftp_time::{
    civil_to_system_time, civil_to_unix_seconds, infer_year, parse_clock, parse_day,
    parse_iso_date, parse_month, parse_year, parse_zone_offset, unix_seconds_to_system_time,
};
use crate::remote::{Entry, EntryKind};

/// `mode links owner [group] size DATE name`, DATE being one of the forms in [`match_date`].
pub(super) fn parse_unix_line(line: &[u8], now: SystemTime) -> Option<Entry> {
    let tokens = tokenize(line);
    let (type_letter, mode) = parse_unix_mode(tokens.first()?.text)?;
    let date = find_unix_date(&tokens, now)?;
    let size_token = tokens.get(date.first_token.checked_sub(1)?)?;
    let rest = line.get(date.end + 1..)?;
    if rest.is_empty() {
        return None;
    }
    let kind = match type_letter {
        b'd' => EntryKind::Dir,
        b'l' => EntryKind::Symlink,
        _ => EntryKind::File,
    };
    let (name, link_target) = match kind {
        EntryKind::Symlink => split_link(rest),
        _ => (rest, None),
    };
    let size = match type_letter {
        b'c' | b'b' => None, // the column holds "major, minor"
        _ => parse_grouped_decimal(size_token.text),
    };
    Some(Entry {
        name: bytes_to_os_string(name),
        kind,
        size,
        mtime: date.mtime,
        mode: Some(mode),
        link_target: link_target.map(bytes_to_os_string),
    })
}

/// "name -> target", split on the first arrow (see module doc).
fn split_link(rest: &[u8]) -> (&[u8], Option<&[u8]>) {
    const ARROW: &[u8] = b" -> ";
    let Some(at) = rest.windows(ARROW.len()).position(|window| window == ARROW) else {
        return (rest, None);
    };
    let (name, arrow_and_target) = rest.split_at(at);
    let target = arrow_and_target
        .get(ARROW.len()..)
        .filter(|target| !target.is_empty());
    (name, target)
}

/// The file type letter and permission bits of "drwxr-sr-t" (optionally with a trailing
/// `+`, `@` or `.` for ACLs, extended attributes or SELinux contexts).
fn parse_unix_mode(text: &[u8]) -> Option<(u8, u32)> {
    let (&type_letter, permissions) = text.split_first()?;
    if !matches!(
        type_letter,
        b'-' | b'd' | b'l' | b'c' | b'b' | b'p' | b's' | b'D'
    ) {
        return None;
    }
    let permissions = match permissions {
        [triples @ .., b'+' | b'@' | b'.'] if triples.len() == 9 => triples,
        triples if triples.len() == 9 => triples,
        _ => return None,
    };
    // (shift of the rwx bits, special bit, letters meaning "special + x" and "special, no x")
    let classes = [
        (6, 0o4000, b's', b'S'),
        (3, 0o2000, b's', b'S'),
        (0, 0o1000, b't', b'T'),
    ];
    let mut mode = 0;
    for (triple, (shift, special, with_exec, without_exec)) in
        permissions.chunks_exact(3).zip(classes)
    {
        let [read, write, exec] = triple else {
            return None;
        };
        let mut bits = 0;
        match read {
            b'r' => bits |= 4,
            b'-' => {}
            _ => return None,
        }
        match write {
            b'w' => bits |= 2,
            b'-' => {}
            _ => return None,
        }
        match *exec {
            b'x' => bits |= 1,
            b'-' => {}
            letter if letter == with_exec => {
                bits |= 1;
                mode |= special;
            }
            letter if letter == without_exec => mode |= special,
            // Solaris/old Linux: mandatory locking shown as setgid without group execute.
            b'l' | b'L' if shift == 3 => mode |= special,
            _ => return None,
        }
        mode |= bits << shift;
    }
    Some((type_letter, mode))
}

/// Where the date columns of an `ls -l` line are and what time they say.
struct UnixDate {
    /// Index of the first date token; the size column is the token before it.
    first_token: usize,
    /// Byte offset just past the last date token; the name starts one byte later.
    end: usize,
    /// `None` when the columns have the shape of a date but name an impossible one.
    mtime: Option<SystemTime>,
}

/// Find the date: first at the usual column (with group: token 5; without: 4), then anywhere
/// after the mode where a numeric size column precedes it.
fn find_unix_date(tokens: &[Token<'_>], now: SystemTime) -> Option<UnixDate> {
    const USUAL: [usize; 2] = [5, 4];
    let others = (2..tokens.len()).filter(|index| !USUAL.contains(index));
    USUAL.into_iter().chain(others).find_map(|first_token| {
        let size = tokens.get(first_token.checked_sub(1)?)?;
        if !is_size_column(size.text) {
            return None;
        }
        let (last_token, mtime) = match_date(tokens.get(first_token..)?, now)?;
        Some(UnixDate {
            first_token,
            end: tokens.get(first_token + last_token)?.end,
            mtime,
        })
    })
}

/// A size column: digits, possibly with commas ("1," of a device's "1,   3", or "1,3").
fn is_size_column(text: &[u8]) -> bool {
    text.iter().any(u8::is_ascii_digit) && text.iter().all(|&b| b.is_ascii_digit() || b == b',')
}

/// Match a date at the start of `tokens`, returning the index of its last token and the time.
/// Forms: "Mon DD HH:MM", "Mon DD YYYY", BSD `-T` "Mon DD HH:MM:SS YYYY", and GNU
/// `--time-style` "YYYY-MM-DD HH:MM[:SS[.frac]] [+HHMM]".
fn match_date(tokens: &[Token<'_>], now: SystemTime) -> Option<(usize, Option<SystemTime>)> {
    let first = tokens.first()?.text;
    let second = tokens.get(1)?.text;
    if let Some((year, month, day)) = parse_iso_date(first) {
        let (hour, minute, second_of_minute) = parse_clock(second, true)?;
        let local = civil_to_unix_seconds(year, month, day, hour, minute, second_of_minute);
        return match tokens.get(2).and_then(|zone| parse_zone_offset(zone.text)) {
            Some(offset) => Some((
                2,
                local.and_then(|l| unix_seconds_to_system_time(l - offset)),
            )),
            None => Some((1, local.and_then(unix_seconds_to_system_time))),
        };
    }
    let month = parse_month(first)?;
    let day = parse_day(second)?;
    let third = tokens.get(2)?.text;
    if let Some(year) = parse_year(third) {
        return Some((2, civil_to_system_time(year, month, day, 0, 0, 0)));
    }
    let (hour, minute, second_of_minute) = parse_clock(third, false)?;
    if let Some(year) = tokens.get(3).and_then(|token| parse_year(token.text))
        && third.len() > 5
    {
        let mtime = civil_to_system_time(year, month, day, hour, minute, second_of_minute);
        return Some((3, mtime));
    }
    if third.len() > 5 {
        return None; // HH:MM:SS without a year is no `ls` format
    }
    Some((2, infer_year(month, day, hour, minute, now)))
}
