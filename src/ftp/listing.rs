//! Parsers for FTP directory listings: MLSD/MLST facts (RFC 3659) and LIST output in Unix
//! `ls -l` and DOS/IIS styles.
//!
//! Why pure functions over bytes: the client only fetches the data-channel bytes; everything
//! that can be wrong about a server's listing is decided here, where a table of real-world lines
//! can pin it down. Why "never fail": one odd line must not hide a whole directory (the
//! curlftpfs "unsupported LIST line" pain). Unparsable lines are `log::debug!`ged and skipped.
//! Names are bytes, not necessarily UTF-8: they go into `OsString` unchanged.
//!
//! Decisions a reader would otherwise have to guess:
//! - MLSx: the name is everything after the FIRST space (it may contain spaces and `;`). Fact
//!   names and `type` values are case-insensitive. A fact without `=` makes the line unparsable
//!   (that is how error text on the data channel is told from a listing). Unknown or bad fact
//!   values are ignored, not fatal. Missing `type` means File. `type=OS.unix=slink:/t` is a
//!   Symlink to `/t`; `OS.unix=symlink` a Symlink with unknown target. Other types
//!   (`OS.unix=blk`, `chr`, `fifo`, `socket`, ...) are listed as **File**: the entry exists and
//!   `ls` should show it; reading it fails or returns whatever the server sends.
//! - `size` wins over `sizd` (the directory size fact) when both are present.
//! - `ls -l` type letters `c b p s D` are likewise listed as **File**; for `c`/`b` the size
//!   column holds "major, minor", so their size is `None`.
//! - `ls -l` symlinks ("name -> target") are split on the FIRST " -> ": names containing " -> "
//!   are rarer on real servers than targets containing it would be, and either way the listing
//!   is ambiguous.
//! - `ls -l` names are the rest of the line after exactly one separator following the time/year
//!   column, so leading and repeated spaces inside names survive. DOS/IIS columns are padded,
//!   so there the name starts at the first non-blank after the size / `<DIR>` column.
//! - LIST times are server-local; the zone is unknowable, so they are taken as UTC (proftpd's
//!   `TimesGMT on` and most hosted servers make that true). "Mon DD HH:MM" rows get the year of
//!   `now`, or the previous year when that would be more than a day in the future (the day of
//!   slack covers servers east of UTC). MLSx and MDTM times are UTC by RFC.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::{Duration, SystemTime};

use super::ftp_time::{
    civil_to_system_time, civil_to_unix_seconds, parse_ftp_time, system_time_to_civil,
    unix_seconds_to_system_time,
};
use crate::remote::{Entry, EntryKind};

/// How many bytes of a rejected line go into a debug log message.
const LOGGED_LINE_LIMIT: usize = 200;

/// How far in the future a year-less `ls -l` date may lie before it is taken as last year's.
const FUTURE_SLACK: Duration = Duration::from_secs(86_400);

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
// MLSD / MLST
// ---------------------------------------------------------------------------------------------

/// What the `type` fact said, including the two kinds MLSD lists but we never return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MlsxType {
    Kind(EntryKind),
    /// `type=cdir`: the listed directory itself.
    CurrentDir,
    /// `type=pdir`: its parent.
    ParentDir,
}

/// One parsed facts line, borrowing from the input.
struct MlsxFacts<'a> {
    entry_type: MlsxType,
    name: &'a [u8],
    size: Option<u64>,
    mtime: Option<SystemTime>,
    mode: Option<u32>,
    link_target: Option<&'a [u8]>,
}

impl MlsxFacts<'_> {
    fn into_entry(self, name: &[u8]) -> Entry {
        let kind = match self.entry_type {
            MlsxType::Kind(kind) => kind,
            MlsxType::CurrentDir | MlsxType::ParentDir => EntryKind::Dir,
        };
        Entry {
            name: bytes_to_os_string(name),
            kind,
            size: self.size,
            mtime: self.mtime,
            mode: self.mode,
            link_target: self
                .link_target
                .filter(|target| !target.is_empty())
                .map(bytes_to_os_string),
        }
    }
}

/// Parse a whole MLSD body (lines end in \r\n or \n). Skips type=cdir/pdir, "." and "..", names
/// containing '/', empty names, and unparsable lines (debug-logged). Never fails. A line
/// indented by one space before its facts (as MLST replies are) is accepted too.
pub fn parse_mlsd(body: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for line in body_lines(body) {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Some(facts) = parse_mlsx_facts(line) else {
            log::debug!("MLSD: skipping unparsable line {}", loggable(line));
            continue;
        };
        if matches!(facts.entry_type, MlsxType::CurrentDir | MlsxType::ParentDir) {
            continue;
        }
        let name = facts.name;
        if !is_acceptable_name(name) {
            log::debug!("MLSD: skipping unacceptable name {}", loggable(name));
            continue;
        }
        entries.push(facts.into_entry(name));
    }
    entries
}

/// Parse one MLSx facts line: "fact=val;fact=val; name". Name = everything after the FIRST
/// space (may contain spaces, semicolons). Facts case-insensitive. `None` when unparsable.
/// The name is returned as given (it may be a path for MLST); cdir/pdir come back as Dir.
pub fn parse_mlsx_line(line: &[u8]) -> Option<Entry> {
    let facts = parse_mlsx_facts(line)?;
    let name = facts.name;
    Some(facts.into_entry(name))
}

/// Parse one MLST reply body line (the server gives a pathname, normally after one leading
/// space): returns the entry with `name` = last path component (trailing '/' trimmed). For the
/// pathname "/" the name is "/". A last component of "." or ".." is returned as is: the caller
/// knows which path it asked about.
pub fn parse_mlst_line(line: &[u8]) -> Option<Entry> {
    let line = trim_line_end(line);
    // The leading space is dropped by `parse_mlsx_facts`; a facts list that lost its pathname
    // (" type=file;size=1;") would otherwise come back as a factless entry named after it.
    let facts = parse_mlsx_facts(line).filter(|facts| !looks_like_fact_list(facts.name))?;
    let name = last_path_component(facts.name);
    Some(facts.into_entry(name))
}

fn parse_mlsx_facts(line: &[u8]) -> Option<MlsxFacts<'_>> {
    let line = trim_line_end(line);
    // MLST reply lines (and MLSD lines of some servers) start with one space: " facts name".
    let line = match line.strip_prefix(b" ") {
        Some(rest) if starts_with_fact_list(rest) => rest,
        _ => line,
    };
    let space = line.iter().position(|&byte| byte == b' ')?;
    let (fact_list, space_and_name) = line.split_at(space);
    let name = space_and_name.get(1..)?;
    if name.is_empty() {
        return None;
    }
    let mut facts = MlsxFacts {
        entry_type: MlsxType::Kind(EntryKind::File),
        name,
        size: None,
        mtime: None,
        mode: None,
        link_target: None,
    };
    let mut dir_size = None;
    for fact in fact_list.split(|&byte| byte == b';') {
        if fact.is_empty() {
            continue;
        }
        let equals = fact.iter().position(|&byte| byte == b'=')?;
        let (key, equals_and_value) = fact.split_at(equals);
        let value = equals_and_value.get(1..)?;
        if key.is_empty() {
            return None;
        }
        if key.eq_ignore_ascii_case(b"type") {
            let (entry_type, link_target) = parse_mlsx_type(value);
            facts.entry_type = entry_type;
            facts.link_target = link_target;
        } else if key.eq_ignore_ascii_case(b"size") {
            facts.size = parse_decimal(value);
        } else if key.eq_ignore_ascii_case(b"sizd") {
            dir_size = parse_decimal(value);
        } else if key.eq_ignore_ascii_case(b"modify") {
            facts.mtime = parse_ftp_time(value);
        } else if key.eq_ignore_ascii_case(b"unix.mode") {
            facts.mode = parse_octal_mode(value);
        }
    }
    facts.size = facts.size.or(dir_size);
    Some(facts)
}

/// The `type` fact value; the link target when it is `OS.unix=slink:target`.
fn parse_mlsx_type(value: &[u8]) -> (MlsxType, Option<&[u8]>) {
    const SLINK: &[u8] = b"os.unix=slink";
    if value.eq_ignore_ascii_case(b"file") {
        (MlsxType::Kind(EntryKind::File), None)
    } else if value.eq_ignore_ascii_case(b"dir") {
        (MlsxType::Kind(EntryKind::Dir), None)
    } else if value.eq_ignore_ascii_case(b"cdir") {
        (MlsxType::CurrentDir, None)
    } else if value.eq_ignore_ascii_case(b"pdir") {
        (MlsxType::ParentDir, None)
    } else if value.eq_ignore_ascii_case(b"os.unix=symlink") {
        (MlsxType::Kind(EntryKind::Symlink), None)
    } else if starts_with_ignore_case(value, SLINK) {
        let target = value
            .get(SLINK.len()..)
            .and_then(|rest| rest.strip_prefix(b":"));
        (MlsxType::Kind(EntryKind::Symlink), target)
    } else {
        // Unknown types (devices, fifos, sockets, vendor types): listed as files, see module doc.
        (MlsxType::Kind(EntryKind::File), None)
    }
}

/// "fact=value; name": a facts list, a space, then something.
fn starts_with_fact_list(line: &[u8]) -> bool {
    match line.iter().position(|&byte| byte == b' ') {
        Some(space) => line.get(..space).is_some_and(looks_like_fact_list),
        None => false,
    }
}

/// "type=file;size=1;": a facts list that lost its pathname, not a pathname.
fn looks_like_fact_list(text: &[u8]) -> bool {
    text.len() > 1
        && text.ends_with(b";")
        && text
            .split(|&byte| byte == b';')
            .filter(|fact| !fact.is_empty())
            .all(|fact| fact.contains(&b'='))
}

/// The last component of an MLST pathname: trailing slashes trimmed, "/" for the root.
fn last_path_component(path: &[u8]) -> &[u8] {
    let mut trimmed = path;
    while let Some(rest) = trimmed.strip_suffix(b"/") {
        trimmed = rest;
    }
    if trimmed.is_empty() {
        return if path.is_empty() { path } else { b"/" };
    }
    match trimmed.iter().rposition(|&byte| byte == b'/') {
        Some(slash) => trimmed.get(slash + 1..).unwrap_or(trimmed),
        None => trimmed,
    }
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
    let Some(entry) = parse_unix_line(line, now).or_else(|| parse_dos_line(line)) else {
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

// ----- Unix `ls -l` ------------------------------------------------------------------------

/// `mode links owner [group] size DATE name`, DATE being one of the forms in [`match_date`].
fn parse_unix_line(line: &[u8], now: SystemTime) -> Option<Entry> {
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

/// The time of a year-less "Mon DD HH:MM" row: this year, or last year when this year's date
/// would be more than [`FUTURE_SLACK`] ahead of `now`.
fn infer_year(month: u32, day: u32, hour: u32, minute: u32, now: SystemTime) -> Option<SystemTime> {
    let this_year = system_time_to_civil(now).year;
    let latest = now.checked_add(FUTURE_SLACK);
    [this_year, this_year - 1].into_iter().find_map(|year| {
        civil_to_system_time(year, month, day, hour, minute, 0)
            .filter(|time| latest.is_none_or(|latest| *time <= latest))
    })
}

/// English month name, abbreviated or full, any case.
fn parse_month(text: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8]; 12] = [
        b"january",
        b"february",
        b"march",
        b"april",
        b"may",
        b"june",
        b"july",
        b"august",
        b"september",
        b"october",
        b"november",
        b"december",
    ];
    let position = MONTHS.iter().position(|full| {
        text.len() >= 3
            && text.len() <= full.len()
            && full
                .get(..text.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(text))
            && (text.len() == 3 || text.len() == full.len())
    })?;
    u32::try_from(position + 1).ok()
}

/// Day of month column: 1 or 2 digits, 1..=31.
fn parse_day(text: &[u8]) -> Option<u32> {
    if !(1..=2).contains(&text.len()) {
        return None;
    }
    let day = small_number(text)?;
    (1..=31).contains(&day).then_some(day)
}

/// Year column: exactly 4 digits.
fn parse_year(text: &[u8]) -> Option<i64> {
    if text.len() != 4 {
        return None;
    }
    small_number(text).map(i64::from)
}

/// "H:MM", "HH:MM" or "HH:MM:SS" (and with `allow_fraction`, "HH:MM:SS.fff").
fn parse_clock(text: &[u8], allow_fraction: bool) -> Option<(u32, u32, u32)> {
    let text = match text.iter().position(|&byte| byte == b'.') {
        Some(dot) if allow_fraction => {
            let (clock, fraction) = text.split_at(dot);
            if !fraction.get(1..).is_some_and(is_digits) {
                return None;
            }
            clock
        }
        Some(_) => return None,
        None => text,
    };
    let mut parts = text.split(|&byte| byte == b':');
    let hour = parts.next()?;
    let minute = parts.next()?;
    let second = parts.next();
    if parts.next().is_some()
        || !(1..=2).contains(&hour.len())
        || minute.len() != 2
        || second.is_some_and(|s| s.len() != 2)
    {
        return None;
    }
    let hour = small_number(hour)?;
    let minute = small_number(minute)?;
    let second = match second {
        Some(second) => small_number(second)?,
        None => 0,
    };
    (hour < 24 && minute < 60 && second <= 60).then_some((hour, minute, second))
}

/// "YYYY-MM-DD".
fn parse_iso_date(text: &[u8]) -> Option<(i64, u32, u32)> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = text else {
        return None;
    };
    let year = small_number(&[*y1, *y2, *y3, *y4])?;
    let month = small_number(&[*m1, *m2])?;
    let day = small_number(&[*d1, *d2])?;
    Some((i64::from(year), month, day))
}

/// "+0100" / "-0530": seconds east of UTC.
fn parse_zone_offset(text: &[u8]) -> Option<i64> {
    let [sign, h1, h2, m1, m2] = text else {
        return None;
    };
    let hours = i64::from(small_number(&[*h1, *h2])?);
    let minutes = i64::from(small_number(&[*m1, *m2])?);
    if hours > 14 || minutes > 59 {
        return None;
    }
    let magnitude = hours * 3600 + minutes * 60;
    match sign {
        b'+' => Some(magnitude),
        b'-' => Some(-magnitude),
        _ => None,
    }
}

// ----- DOS / IIS ---------------------------------------------------------------------------

/// `MM-DD-YY[YY]  HH:MM[AM|PM]  (<DIR>|size)  name`, also with '/' separators, "YYYY-MM-DD",
/// 24-hour times and a separate "AM"/"PM" token.
fn parse_dos_line(line: &[u8]) -> Option<Entry> {
    let tokens = tokenize(line);
    let (year, month, day) = parse_dos_date(tokens.first()?.text)?;
    let time_token = tokens.get(1)?.text;
    let separate_meridiem = tokens.get(2).and_then(|token| parse_meridiem(token.text));
    let (hour, minute, size_index) = match separate_meridiem {
        Some(is_pm) => {
            let (hour, minute, _) = parse_clock(time_token, false)?;
            (apply_meridiem(hour, is_pm)?, minute, 3)
        }
        None => {
            let (hour, minute) = parse_dos_time(time_token)?;
            (hour, minute, 2)
        }
    };
    let size_token = tokens.get(size_index)?;
    let (kind, size) = if size_token.text.eq_ignore_ascii_case(b"<DIR>") {
        (EntryKind::Dir, None)
    } else {
        (
            EntryKind::File,
            Some(parse_grouped_decimal(size_token.text)?),
        )
    };
    let name = line.get(size_token.end..)?.trim_ascii_start();
    if name.is_empty() {
        return None;
    }
    let mut entry = Entry::new(bytes_to_os_string(name), kind);
    entry.size = size;
    entry.mtime = civil_to_system_time(year, month, day, hour, minute, 0);
    Some(entry)
}

/// "07-13-98", "02-05-2024", "12/25/2023" (month first) or "2024-03-04". Two-digit years below
/// 70 are 20xx, others 19xx. Field ranges are checked later, by the time conversion.
fn parse_dos_date(text: &[u8]) -> Option<(i64, u32, u32)> {
    let separator = *text.iter().find(|&&byte| byte == b'-' || byte == b'/')?;
    let mut parts = text.split(|&byte| byte == separator);
    let (first, second, third) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    if first.len() == 4 {
        if second.len() > 2 || third.len() > 2 {
            return None;
        }
        return Some((
            i64::from(small_number(first)?),
            small_number(second)?,
            small_number(third)?,
        ));
    }
    if first.len() > 2 || second.len() > 2 {
        return None;
    }
    let year = i64::from(small_number(third)?);
    let year = match third.len() {
        2 if year < 70 => 2000 + year,
        2 => 1900 + year,
        4 => year,
        _ => return None,
    };
    Some((year, small_number(first)?, small_number(second)?))
}

/// "09:06PM", "12:30am" or 24-hour "13:45" (seconds allowed, ignored).
fn parse_dos_time(text: &[u8]) -> Option<(u32, u32)> {
    let meridiem_start = text.len().checked_sub(2)?;
    let (clock, suffix) = text.split_at(meridiem_start);
    if let Some(is_pm) = parse_meridiem(suffix) {
        let (hour, minute, _) = parse_clock(clock, false)?;
        return Some((apply_meridiem(hour, is_pm)?, minute));
    }
    let (hour, minute, _) = parse_clock(text, false)?;
    Some((hour, minute))
}

/// "AM" -> false, "PM" -> true, any case.
fn parse_meridiem(text: &[u8]) -> Option<bool> {
    if text.eq_ignore_ascii_case(b"AM") {
        Some(false)
    } else if text.eq_ignore_ascii_case(b"PM") {
        Some(true)
    } else {
        None
    }
}

/// 12-hour clock to 24-hour: 12:xxAM is 00:xx, 12:xxPM is 12:xx.
fn apply_meridiem(hour: u32, is_pm: bool) -> Option<u32> {
    match (hour, is_pm) {
        (1..=11, false) => Some(hour),
        (12, false) => Some(0),
        (1..=11, true) => Some(hour + 12),
        (12, true) => Some(12),
        _ => None,
    }
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

fn is_digits(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(u8::is_ascii_digit)
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

/// A short run of digits (date and time fields).
fn small_number(text: &[u8]) -> Option<u32> {
    if text.len() > 9 {
        return None;
    }
    parse_decimal(text).and_then(|value| u32::try_from(value).ok())
}

/// `UNIX.mode`: octal digits ("0755", "755", "04755"), masked to the permission bits.
fn parse_octal_mode(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    let value = text
        .iter()
        .fold(0u32, |value, &digit| (value << 3) | u32::from(digit - b'0'));
    Some(value & 0o7777)
}

/// A bounded, lossy rendering of a rejected line for the debug log.
fn loggable(line: &[u8]) -> String {
    let shown = line.get(..LOGGED_LINE_LIMIT).unwrap_or(line);
    format!("{:?}", String::from_utf8_lossy(shown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::ftp_time::format_ftp_time;
    use std::time::UNIX_EPOCH;

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

    // ----- MLSx ----------------------------------------------------------------------------

    #[test]
    fn rfc3659_mlsx_name_is_everything_after_the_first_space() {
        assert_mlsx_rows(&[
            (
                b"Type=file;Size=12303;Modify=19970124132601;Perm=r; mail serv;FAQ",
                file(b"mail serv;FAQ", Some(12303), Some("19970124132601"), None),
            ),
            (
                b"type=file;size=1;  leading space",
                file(b" leading space", Some(1), None, None),
            ),
            (
                b"type=file;size=2; semi;colon;=eq",
                file(b"semi;colon;=eq", Some(2), None, None),
            ),
            (
                b"type=file; trail  \r\n",
                file(b"trail  ", None, None, None),
            ),
            (b" no facts", file(b"no facts", None, None, None)),
            (
                b" type=file;size=4; indented like mlst",
                file(b"indented like mlst", Some(4), None, None),
            ),
            (b" a=b c", file(b"a=b c", None, None, None)),
        ]);
    }

    #[test]
    fn rfc3659_example_lines_parse() {
        assert_mlsx_rows(&[
            (
                b"Type=file;Perm=awr;Unique=keVO1+8G4; file2",
                file(b"file2", None, None, None),
            ),
            (
                b"Type=dir;Perm=cpmel;Unique=keVO1+7G4; dir1",
                dir(b"dir1", None, None, None),
            ),
            (
                b"Type=file;Size=25730;Modify=19940728095854;Perm=; capmux.tar.z",
                file(b"capmux.tar.z", Some(25730), Some("19940728095854"), None),
            ),
            (
                b"type=dir;unique=AQkAAAAAAAABCAAA; bin",
                dir(b"bin", None, None, None),
            ),
            (
                b"modify=19990929011440;perm=fle;type=dir;unique=806U246E0B1;UNIX.group=1;UNIX.mode=0755;UNIX.owner=0; bin",
                dir(b"bin", None, Some("19990929011440"), Some(0o755)),
            ),
        ]);
    }

    #[test]
    fn pyftpdlib_mlsd_lines_parse() {
        assert_mlsx_rows(&[
            (
                b"type=file;size=12;modify=20240101120000;perm=radfw;unique=803g1a2b; hello.txt",
                file(b"hello.txt", Some(12), Some("20240101120000"), None),
            ),
            (
                b"type=dir;size=4096;modify=20231231235959;perm=elradfmwMT;unique=803g1a2c; sub dir",
                dir(b"sub dir", Some(4096), Some("20231231235959"), None),
            ),
        ]);
    }

    #[test]
    fn proftpd_mlsd_lines_with_unix_facts_and_symlinks_parse() {
        assert_mlsx_rows(&[
            (
                b"modify=20240102030405;perm=adfrw;size=1234;type=file;unique=FD00U2A3C4;UNIX.group=1000;UNIX.groupname=user;UNIX.mode=0644;UNIX.owner=1000;UNIX.ownername=user; report.pdf",
                file(b"report.pdf", Some(1234), Some("20240102030405"), Some(0o644)),
            ),
            (
                b"modify=20240102030405;perm=adfr;size=11;type=OS.unix=slink:/etc/hostname;unique=FD00U2A3C5;UNIX.mode=0777; hostlink",
                link(b"hostlink", Some(b"/etc/hostname"), 11, "20240102030405", 0o777),
            ),
            (
                b"type=OS.unix=symlink;size=7;modify=20240102030405;UNIX.mode=0777; plainlink",
                link(b"plainlink", None, 7, "20240102030405", 0o777),
            ),
            (
                b"type=OS.unix=slink:;size=7;modify=20240102030405;UNIX.mode=0777; emptytarget",
                link(b"emptytarget", None, 7, "20240102030405", 0o777),
            ),
        ]);
    }

    #[test]
    fn pure_ftpd_mlsd_lines_with_sizd_and_octal_modes_parse() {
        assert_mlsx_rows(&[
            (
                b"type=file;size=5;modify=20240301101010;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=803ga; pure.txt",
                file(b"pure.txt", Some(5), Some("20240301101010"), Some(0o644)),
            ),
            (
                b"type=dir;sizd=4096;modify=20240301101011;UNIX.mode=02775;UNIX.uid=1000;UNIX.gid=1000;unique=803gb; shared",
                dir(b"shared", Some(4096), Some("20240301101011"), Some(0o2775)),
            ),
            (
                b"type=dir;size=1;sizd=4096; size-wins",
                dir(b"size-wins", Some(1), None, None),
            ),
        ]);
    }

    #[test]
    fn iis_mlsd_lines_with_fractional_modify_parse() {
        let mut with_millis = file(b"win.txt", Some(10), Some("20240101120000"), None);
        with_millis.mtime = Some(utc("20240101120000") + Duration::from_millis(123));
        assert_mlsx_rows(&[
            (
                b"type=file;modify=20240101120000.123;size=10; win.txt",
                with_millis,
            ),
            (
                b"Type=Dir;Modify=20230405060708; Program Files",
                dir(b"Program Files", None, Some("20230405060708"), None),
            ),
        ]);
    }

    #[test]
    fn mlsx_fact_names_and_type_values_are_case_insensitive() {
        assert_mlsx_rows(&[
            (
                b"TYPE=FILE;SIZE=5;MODIFY=20240101120000;unix.MODE=644; upper",
                file(b"upper", Some(5), Some("20240101120000"), Some(0o644)),
            ),
            (b"Type=DIR; upperdir", dir(b"upperdir", None, None, None)),
            (
                b"type=os.UNIX=SLINK:Target;size=1;modify=20240101120000;unix.mode=777; mixed",
                link(b"mixed", Some(b"Target"), 1, "20240101120000", 0o777),
            ),
        ]);
    }

    #[test]
    fn mlsx_unix_mode_is_octal_masked_to_permission_bits() {
        assert_mlsx_rows(&[
            (
                b"type=file;UNIX.mode=755; a",
                file(b"a", None, None, Some(0o755)),
            ),
            (
                b"type=file;UNIX.mode=04755; b",
                file(b"b", None, None, Some(0o4755)),
            ),
            (
                b"type=file;UNIX.mode=0100644; c",
                file(b"c", None, None, Some(0o644)),
            ),
            (b"type=file;UNIX.mode=0; d", file(b"d", None, None, Some(0))),
        ]);
    }

    #[test]
    fn mlsx_missing_or_unknown_type_is_a_file() {
        assert_mlsx_rows(&[
            (
                b"size=3;modify=20240101120000; no-type",
                file(b"no-type", Some(3), Some("20240101120000"), None),
            ),
            (
                b"type=OS.unix=blk;size=0;UNIX.mode=0660; sda",
                file(b"sda", Some(0), None, Some(0o660)),
            ),
            (b"type=OS.unix=fifo; pipe", file(b"pipe", None, None, None)),
            (
                b"type=;size=3; empty-type",
                file(b"empty-type", Some(3), None, None),
            ),
        ]);
    }

    #[test]
    fn mlsx_bad_fact_values_are_ignored_not_fatal() {
        assert_mlsx_rows(&[
            (
                b"type=file;size=huge;modify=2024;UNIX.mode=9999;perm=; bad-values",
                file(b"bad-values", None, None, None),
            ),
            (
                b"type=file;size=99999999999999999999;modify=20241301000000; overflow",
                file(b"overflow", None, None, None),
            ),
            (
                b"type=file;unique=a=b; extra-equals",
                file(b"extra-equals", None, None, None),
            ),
        ]);
    }

    #[test]
    fn mlsx_names_are_bytes_not_utf8() {
        assert_mlsx_rows(&[
            (
                "type=file;size=8; résumé.txt".as_bytes(),
                file("résumé.txt".as_bytes(), Some(8), None, None),
            ),
            (
                b"type=file;size=3; caf\xe9\xff",
                file(b"caf\xe9\xff", Some(3), None, None),
            ),
        ]);
    }

    #[test]
    fn mlsx_line_without_space_or_with_factless_garbage_is_unparsable() {
        let bad: &[&[u8]] = &[
            b"",
            b"type=file;size=1;",
            b"type=file; ",
            b"550 No such directory",
            b"=x; name",
            b"type=file;garbage; name",
            b"\r\n",
        ];
        for line in bad {
            assert_eq!(parse_mlsx_line(line), None, "{}", loggable(line));
            assert!(parse_mlsd(line).is_empty(), "{}", loggable(line));
        }
    }

    #[test]
    fn mlsd_skips_cdir_pdir_dot_entries_and_slashes() {
        let skipped: &[&[u8]] = &[
            b"type=cdir;sizd=4096;modify=20240301101010;UNIX.mode=0755; .",
            b"type=pdir;sizd=4096;modify=20240301101010;UNIX.mode=0755; ..",
            b"Type=cdir;Perm=el;Unique=keVO1+ZF4; test",
            b"Type=pdir;Perm=e;Unique=keVO1+d?3; ..",
            b"type=cdir;unique=AQkAAAAAAAABCAAA; /",
            b"type=dir; .",
            b"type=dir; ..",
            b"type=file; a/b",
            b"type=file; nul\0name",
        ];
        for line in skipped {
            assert!(parse_mlsd(line).is_empty(), "{}", loggable(line));
        }
        // The single-line parser still reports them, cdir/pdir as directories.
        assert_eq!(
            parse_mlsx_line(b"Type=cdir;Perm=el;Unique=keVO1+ZF4; test"),
            Some(dir(b"test", None, None, None))
        );
    }

    #[test]
    fn mlsd_body_accepts_crlf_and_lf_and_keeps_going_past_bad_lines() {
        let body = b"type=cdir; /pub\r\n\
            type=pdir; /\r\n\
            type=file;size=1; one\r\n\
            \r\n\
            garbage line\n\
            type=dir; two\n\
            type=file;size=3; three";
        let names: Vec<_> = parse_mlsd(body).into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["one", "two", "three"]);
    }

    #[test]
    fn mlst_name_is_the_last_path_component() {
        let rows: &[(&[u8], Entry)] = &[
            (
                b" Type=file;Size=1024990;Perm=r; /tmp/cap60.pl198.tar.gz",
                file(b"cap60.pl198.tar.gz", Some(1024990), None, None),
            ),
            (
                b" type=dir;modify=20240101120000; /",
                dir(b"/", None, Some("20240101120000"), None),
            ),
            (b" type=dir; //", dir(b"/", None, None, None)),
            (b" type=dir; /home/user/", dir(b"user", None, None, None)),
            (b" type=cdir; /pub\r\n", dir(b"pub", None, None, None)),
            (
                b"type=file;size=5; /a b/c d.txt",
                file(b"c d.txt", Some(5), None, None),
            ),
            (b" type=file; relative", file(b"relative", None, None, None)),
            (b"  /nofacts", file(b"nofacts", None, None, None)),
            (b" /x", file(b"x", None, None, None)),
            (
                b" modify=20240102030405;type=OS.unix=slink:../t;UNIX.mode=0777; /l",
                Entry {
                    size: None,
                    ..link(b"l", Some(b"../t"), 0, "20240102030405", 0o777)
                },
            ),
        ];
        for (line, expected) in rows {
            assert_eq!(
                parse_mlst_line(line).as_ref(),
                Some(expected),
                "{}",
                loggable(line)
            );
        }
        assert_eq!(parse_mlst_line(b" type=file;size=1;"), None);
        assert_eq!(parse_mlst_line(b""), None);
    }

    // ----- LIST: Unix ----------------------------------------------------------------------

    #[test]
    fn unix_ls_lines_from_the_architecture_table_parse() {
        assert_list_rows(&[
            (
                b"-rw-r--r--   1 lav      root         1349 Feb  2 14:10 lftp.lsm",
                file(b"lftp.lsm", Some(1349), Some("20240202141000"), Some(0o644)),
            ),
            (
                b"-rwxr-xr-x   1 lav      root         4771 Sep 12  1996 install-sh",
                file(b"install-sh", Some(4771), Some("19960912000000"), Some(0o755)),
            ),
            (
                b"drwxr-xr-x    4 1235     1235         4096 Dec 06 01:29 testdir",
                dir(b"testdir", Some(4096), Some("20231206012900"), Some(0o755)),
            ),
            (
                b"-rw-r--r--+  1 u        g             10 Jan  1  2024 acl-flag",
                file(b"acl-flag", Some(10), Some("20240101000000"), Some(0o644)),
            ),
            (
                b"lrwxrwxrwx   1 lav      root           33 Feb 14 17:45 ltconfig -> /usr/share/libtool/ltconfig",
                link(
                    b"ltconfig",
                    Some(b"/usr/share/libtool/ltconfig"),
                    33,
                    "20240214174500",
                    0o777,
                ),
            ),
            (
                b"-rw-r--r--   1 u        g             10 Jan  1  2024 two  spaces.txt",
                file(b"two  spaces.txt", Some(10), Some("20240101000000"), Some(0o644)),
            ),
        ]);
    }

    #[test]
    fn unix_ls_lines_from_real_servers_parse() {
        assert_list_rows(&[
            // vsftpd: numeric ids, zero-padded day
            (
                b"-rw-r--r--    1 1000     1000         1024 Jan 05 10:30 vs.txt\r\n",
                file(b"vs.txt", Some(1024), Some("20240105103000"), Some(0o644)),
            ),
            (
                b"drwxr-xr-x    2 1000     1000         4096 Jun 15  2023 old",
                dir(b"old", Some(4096), Some("20230615000000"), Some(0o755)),
            ),
            // proftpd
            (
                b"-rw-r--r--   1 user     user          123 Jun 14 09:00 proftpd.txt",
                file(
                    b"proftpd.txt",
                    Some(123),
                    Some("20240614090000"),
                    Some(0o644),
                ),
            ),
            // pure-ftpd
            (
                b"-rw-r--r--    1 1000       1000              5 Mar  1 10:10 pure.txt",
                file(b"pure.txt", Some(5), Some("20240301101000"), Some(0o644)),
            ),
            // busybox ftpd
            (
                b"-rw-r--r--    1 0        0             1234 Jan  1 00:00 busybox.txt",
                file(
                    b"busybox.txt",
                    Some(1234),
                    Some("20240101000000"),
                    Some(0o644),
                ),
            ),
            // nobody's ids
            (
                b"-rw-rw-r--   1 4294967294 4294967294      0 Jun  1 08:00 nobody.txt",
                file(b"nobody.txt", Some(0), Some("20240601080000"), Some(0o664)),
            ),
            // macOS extended attributes, SELinux context
            (
                b"-rw-r--r--@  1 user  staff  6148 Nov  3  2023 .DS_Store",
                file(
                    b".DS_Store",
                    Some(6148),
                    Some("20231103000000"),
                    Some(0o644),
                ),
            ),
            (
                b"-rw-r--r--.  1 root root 42 May  5  2022 selinux.conf",
                file(
                    b"selinux.conf",
                    Some(42),
                    Some("20220505000000"),
                    Some(0o644),
                ),
            ),
            (
                b"-rw-r--r-- 1 u g 1099511627776 Jan  1  2024 big.iso",
                file(
                    b"big.iso",
                    Some(1 << 40),
                    Some("20240101000000"),
                    Some(0o644),
                ),
            ),
        ]);
    }

    #[test]
    fn unix_ls_without_group_column_parses() {
        assert_list_rows(&[
            (
                b"-rw-r--r--   1 owner        1234 Jun 14 09:00 nogroup.txt",
                file(
                    b"nogroup.txt",
                    Some(1234),
                    Some("20240614090000"),
                    Some(0o644),
                ),
            ),
            (
                b"drwxr-xr-x 3 1000 4096 Jan  1  2024 nogroup dir",
                dir(
                    b"nogroup dir",
                    Some(4096),
                    Some("20240101000000"),
                    Some(0o755),
                ),
            ),
        ]);
    }

    #[test]
    fn unix_mode_letters_map_to_permission_bits_including_setid_and_sticky() {
        assert_list_rows(&[
            (
                b"-rwsr-xr-x   1 root     root        54256 Mar 22  2019 passwd",
                file(b"passwd", Some(54256), Some("20190322000000"), Some(0o4755)),
            ),
            (
                b"drwxrwxrwt  10 root     root         4096 Jun 15 11:59 tmp",
                dir(b"tmp", Some(4096), Some("20240615115900"), Some(0o1777)),
            ),
            (
                b"-rwSr-Sr-T   1 u g 0 Jan  1  2024 specials",
                file(b"specials", Some(0), Some("20240101000000"), Some(0o7644)),
            ),
            (
                b"-r-xr-sr-x   1 u g 0 Jan  1  2024 setgid",
                file(b"setgid", Some(0), Some("20240101000000"), Some(0o2555)),
            ),
            (
                b"----------   1 u g 0 Jan  1  2024 nothing",
                file(b"nothing", Some(0), Some("20240101000000"), Some(0)),
            ),
            (
                b"-rw-r-lr--   1 u g 0 Jan  1  2024 locking",
                file(b"locking", Some(0), Some("20240101000000"), Some(0o2644)),
            ),
        ]);
    }

    #[test]
    fn unix_special_file_types_are_listed_as_files_devices_without_size() {
        assert_list_rows(&[
            (
                b"crw-rw-rw-   1 root     root       1,   3 Jan  1  2024 null",
                file(b"null", None, Some("20240101000000"), Some(0o666)),
            ),
            (
                b"brw-rw----   1 root     disk       8,0 Jan  1  2024 sda",
                file(b"sda", None, Some("20240101000000"), Some(0o660)),
            ),
            (
                b"prw-r--r--   1 u g 0 Jan  1  2024 fifo",
                file(b"fifo", Some(0), Some("20240101000000"), Some(0o644)),
            ),
            (
                b"srwxrwxrwx   1 u g 0 Jan  1  2024 sock",
                file(b"sock", Some(0), Some("20240101000000"), Some(0o777)),
            ),
        ]);
    }

    #[test]
    fn unix_name_is_rest_of_line_after_one_separator() {
        assert_list_rows(&[
            (
                b"-rw-r--r--   1 u g 0 Jan  1  2024 -dash-",
                file(b"-dash-", Some(0), Some("20240101000000"), Some(0o644)),
            ),
            (
                b"-rw-r--r--   1 u g 0 Jan  1  2024  leading",
                file(b" leading", Some(0), Some("20240101000000"), Some(0o644)),
            ),
            (
                b"-rw-r--r--   1 u g 0 Jan  1 12:00 trailing  \r\n",
                file(b"trailing  ", Some(0), Some("20240101120000"), Some(0o644)),
            ),
            (
                b"-rw-r--r--   1 u g 7 Jan  1  2024 semi;colon.txt",
                file(
                    b"semi;colon.txt",
                    Some(7),
                    Some("20240101000000"),
                    Some(0o644),
                ),
            ),
            (
                b"-rw-r--r-- 1 u g 5 Jan  1  2024 Feb 2 2020 x",
                file(
                    b"Feb 2 2020 x",
                    Some(5),
                    Some("20240101000000"),
                    Some(0o644),
                ),
            ),
            (
                b"-rw-r--r--\t1\tu\tg\t5\tJan\t1\t2024\ttabs\there",
                file(b"tabs\there", Some(5), Some("20240101000000"), Some(0o644)),
            ),
        ]);
    }

    #[test]
    fn unix_names_are_bytes_not_utf8() {
        assert_list_rows(&[
            (
                "-rw-r--r--   1 u g 7 Jan  1  2024 résumé ünï.txt".as_bytes(),
                file(
                    "résumé ünï.txt".as_bytes(),
                    Some(7),
                    Some("20240101000000"),
                    Some(0o644),
                ),
            ),
            (
                b"-rw-r--r--   1 u g 7 Jan  1  2024 caf\xe9 \xff",
                file(
                    b"caf\xe9 \xff",
                    Some(7),
                    Some("20240101000000"),
                    Some(0o644),
                ),
            ),
        ]);
    }

    #[test]
    fn unix_symlink_splits_on_the_first_arrow() {
        assert_list_rows(&[
            (
                b"lrwxrwxrwx 1 u g 5 Jan  1  2024 a -> b -> c",
                link(b"a", Some(b"b -> c"), 5, "20240101000000", 0o777),
            ),
            (
                b"lrwxrwxrwx 1 u g 5 Jan  1  2024 lonely",
                link(b"lonely", None, 5, "20240101000000", 0o777),
            ),
            (
                b"lrwxrwxrwx 1 u g 9 Jan  1  2024 sp ace -> ../t a/rget",
                link(b"sp ace", Some(b"../t a/rget"), 9, "20240101000000", 0o777),
            ),
        ]);
    }

    #[test]
    fn unix_month_names_are_english_any_case() {
        assert_list_rows(&[
            (
                b"-rw-r--r-- 1 u g 5 JAN  1  2024 upper",
                file(b"upper", Some(5), Some("20240101000000"), Some(0o644)),
            ),
            (
                b"-rw-r--r-- 1 u g 5 oct 31  2020 lower",
                file(b"lower", Some(5), Some("20201031000000"), Some(0o644)),
            ),
            (
                b"-rw-r--r-- 1 u g 5 September 9  2020 full",
                file(b"full", Some(5), Some("20200909000000"), Some(0o644)),
            ),
        ]);
    }

    #[test]
    fn unix_iso_and_bsd_full_time_styles_parse() {
        assert_list_rows(&[
            (
                b"-rw-r--r-- 1 u g 10 2024-01-02 03:04 iso.txt",
                file(b"iso.txt", Some(10), Some("20240102030400"), Some(0o644)),
            ),
            (
                b"-rw-r--r-- 1 u g 10 2024-01-02 03:04:05.123456789 +0100 full.txt",
                file(b"full.txt", Some(10), Some("20240102020405"), Some(0o644)),
            ),
            (
                b"-rw-r--r-- 1 u g 10 2024-01-02 03:04:05 -0530 west.txt",
                file(b"west.txt", Some(10), Some("20240102083405"), Some(0o644)),
            ),
            (
                b"-rw-r--r-- 1 u staff 10 Jan  2 03:04:05 2024 bsd.txt",
                file(b"bsd.txt", Some(10), Some("20240102030405"), Some(0o644)),
            ),
        ]);
    }

    #[test]
    fn unix_impossible_date_keeps_the_entry_without_mtime() {
        assert_list_rows(&[(
            b"-rw-r--r-- 1 u g 1 Feb 30  2024 feb30",
            file(b"feb30", Some(1), None, Some(0o644)),
        )]);
    }

    #[test]
    fn year_less_dates_take_nows_year_unless_more_than_a_day_ahead() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("20240615120000", b"Jun 16 11:00", "20240616110000"),
            ("20240615120000", b"Jun 16 12:00", "20240616120000"),
            ("20240615120000", b"Jun 16 12:01", "20230616120100"),
            ("20240615120000", b"Dec 31 23:59", "20231231235900"),
            ("20240615120000", b"Jan  1 00:00", "20240101000000"),
            ("20240101003000", b"Dec 31 23:00", "20231231230000"),
            ("20240101003000", b"Jan  2 00:00", "20240102000000"),
            ("20250301000000", b"Feb 29 10:00", "20240229100000"),
        ];
        for &(now, date, expected) in cases {
            let mut line = b"-rw-r--r-- 1 u g 1 ".to_vec();
            line.extend_from_slice(date);
            line.extend_from_slice(b" f");
            let ListLine::Entry(entry) = parse_list_line(&line, utc(now)) else {
                panic!("unparsed {}", loggable(&line));
            };
            assert_eq!(
                entry.mtime.map(format_ftp_time).as_deref(),
                Some(expected),
                "now {now} line {}",
                loggable(&line)
            );
        }
        // Feb 29 neither this year nor last: the entry stays, without a time.
        let line = b"-rw-r--r-- 1 u g 1 Feb 29 10:00 f";
        let ListLine::Entry(entry) = parse_list_line(line, utc("20230601000000")) else {
            panic!("unparsed");
        };
        assert_eq!(entry.mtime, None);
    }

    // ----- LIST: DOS / IIS -----------------------------------------------------------------

    #[test]
    fn dos_iis_lines_parse_with_two_and_four_digit_years() {
        assert_list_rows(&[
            (
                b"07-13-98  09:06PM       <DIR>          aix",
                dir(b"aix", None, Some("19980713210600"), None),
            ),
            (
                b"02-05-2024  12:30AM              1234 four-digit-year.txt",
                file(
                    b"four-digit-year.txt",
                    Some(1234),
                    Some("20240205003000"),
                    None,
                ),
            ),
            (
                b"04-27-00  09:09PM       <DIR>          licensed",
                dir(b"licensed", None, Some("20000427210900"), None),
            ),
            (
                b"10-23-69  11:59PM                  0 y2069.txt",
                file(b"y2069.txt", Some(0), Some("20691023235900"), None),
            ),
            (
                b"01-01-70  12:00AM                  0 y1970.txt\r\n",
                file(b"y1970.txt", Some(0), Some("19700101000000"), None),
            ),
            (
                b"06-15-24  10:00AM       <DIR>          Program Files",
                dir(b"Program Files", None, Some("20240615100000"), None),
            ),
        ]);
    }

    #[test]
    fn dos_twelve_am_is_midnight_and_twelve_pm_is_noon() {
        assert_list_rows(&[
            (
                b"02-05-2024  12:30AM              1 am.txt",
                file(b"am.txt", Some(1), Some("20240205003000"), None),
            ),
            (
                b"01-01-24  12:15PM                 10 noon.txt",
                file(b"noon.txt", Some(10), Some("20240101121500"), None),
            ),
            (
                b"06-15-24  10:00am                  1 lower.txt",
                file(b"lower.txt", Some(1), Some("20240615100000"), None),
            ),
            (
                b"12/25/2023  08:00 PM   55 sep-ampm.txt",
                file(b"sep-ampm.txt", Some(55), Some("20231225200000"), None),
            ),
        ]);
    }

    #[test]
    fn dos_variants_with_24h_times_iso_dates_and_grouped_sizes_parse() {
        assert_list_rows(&[
            (
                b"03-04-2024  13:45                 99 twentyfour.txt",
                file(b"twentyfour.txt", Some(99), Some("20240304134500"), None),
            ),
            (
                b"2024-03-04  13:45    <DIR>    iso dir",
                dir(b"iso dir", None, Some("20240304134500"), None),
            ),
            (
                b"11-30-05  01:02AM             12,345 commas.txt",
                file(b"commas.txt", Some(12345), Some("20051130010200"), None),
            ),
            (
                b"11-30-05  01:02AM      1,234,567,890 big.bin",
                file(
                    b"big.bin",
                    Some(1_234_567_890),
                    Some("20051130010200"),
                    None,
                ),
            ),
            (
                "06-15-24  10:00AM                  3 naïve ☃.txt".as_bytes(),
                file(
                    "naïve ☃.txt".as_bytes(),
                    Some(3),
                    Some("20240615100000"),
                    None,
                ),
            ),
        ]);
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

    // ----- never panic ---------------------------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    const SEED_LINES: &[&[u8]] = &[
        b"type=file;size=12;modify=20240101120000;perm=radfw;unique=803g1a2b; hello.txt",
        b"modify=20240102030405;size=11;type=OS.unix=slink:/etc/hostname;UNIX.mode=0777; l",
        b" Type=file;Size=1024990;Perm=r; /tmp/cap60.pl198.tar.gz",
        b"type=cdir;sizd=4096; /",
        b"-rw-r--r--   1 lav      root         1349 Feb  2 14:10 lftp.lsm",
        b"-rwxr-xr-x   1 lav      root         4771 Sep 12  1996 install-sh",
        b"lrwxrwxrwx   1 lav      root           33 Feb 14 17:45 ltconfig -> /usr/x",
        b"crw-rw-rw-   1 root     root       1,   3 Jan  1  2024 null",
        b"-rw-r--r-- 1 u g 10 2024-01-02 03:04:05.123456789 +0100 full.txt",
        b"-rw-r--r-- 1 u staff 10 Jan  2 03:04:05 2024 bsd.txt",
        b"07-13-98  09:06PM       <DIR>          aix",
        b"02-05-2024  12:30AM              1,234 four-digit-year.txt",
        b"12/25/2023  08:00 PM   55 sep-ampm.txt",
        b"total 12",
        b"20240101120000.123",
        b"191240101120000",
    ];

    const INTERESTING_BYTES: &[u8] =
        b" \t;=:-,./<>+@0123456789aAbcdDeFiJlLMnNoOpPrRsStTuUwxyz\r\n\0\xff\xe9";

    fn random_line(rng: &mut XorShift) -> Vec<u8> {
        let length = rng.below(120);
        (0..length)
            .map(|_| match rng.below(4) {
                0 => (rng.next() & 0xff) as u8,
                _ => INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())],
            })
            .collect()
    }

    fn mutated_line(rng: &mut XorShift) -> Vec<u8> {
        let mut line = SEED_LINES[rng.below(SEED_LINES.len())].to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(line.len() + 1);
            let byte = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            match rng.below(5) {
                0 if at < line.len() => line[at] = byte,
                1 => line.insert(at, byte),
                2 if at < line.len() => {
                    line.remove(at);
                }
                3 => line.truncate(at),
                _ => {
                    let from = rng.below(line.len() + 1);
                    let piece = line[from.min(at)..from.max(at)].to_vec();
                    line.splice(at..at, piece);
                }
            }
        }
        line
    }

    fn random_time(rng: &mut XorShift) -> SystemTime {
        let seconds = Duration::from_secs(rng.next() >> rng.below(64));
        let shifted = if rng.below(4) == 0 {
            UNIX_EPOCH.checked_sub(seconds)
        } else {
            UNIX_EPOCH.checked_add(seconds)
        };
        shifted.unwrap_or(UNIX_EPOCH)
    }

    fn assert_entries_sane(entries: &[Entry], line: &[u8]) {
        for entry in entries {
            assert!(
                is_acceptable_name(entry.name.as_bytes()),
                "{}",
                loggable(line)
            );
            assert!(entry.mode.is_none_or(|mode| mode <= 0o7777));
        }
    }

    #[test]
    fn no_parser_panics_on_random_or_mutated_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut parsed_entries = 0;
        for round in 0..20_000 {
            let line = if round % 4 == 0 {
                random_line(&mut rng)
            } else {
                mutated_line(&mut rng)
            };
            let now = if round % 8 == 0 {
                random_time(&mut rng)
            } else {
                now()
            };
            let mlsd = parse_mlsd(&line);
            assert_entries_sane(&mlsd, &line);
            let list = parse_list(&line, now);
            assert_entries_sane(&list, &line);
            parsed_entries += mlsd.len() + list.len();
            if let ListLine::Entry(entry) = parse_list_line(&line, now) {
                assert_entries_sane(&[entry], &line);
            }
            let _ = parse_mlsx_line(&line);
            let _ = parse_mlst_line(&line);
            let _ = is_acceptable_name(&line);
            if let Some(time) = parse_ftp_time(&line) {
                assert_eq!(format_ftp_time(time).len(), 14);
            }
            let random = random_time(&mut rng);
            assert_eq!(format_ftp_time(random).len(), 14);
            let civil = system_time_to_civil(random);
            let _ = civil_to_system_time(
                civil.year + (rng.below(3) as i64) - 1,
                civil.month + rng.below(2) as u32,
                civil.day + rng.below(2) as u32,
                rng.next() as u32 % 26,
                rng.next() as u32 % 62,
                rng.next() as u32,
            );
        }
        // The mutations must leave enough lines intact to exercise the success paths too.
        assert!(
            parsed_entries > 2_000,
            "only {parsed_entries} entries parsed"
        );
    }
}
