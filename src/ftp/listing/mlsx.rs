//! MLSD and MLST lines (RFC 3659 section 7): `fact=value;fact=value; name`.
//!
//! Decisions a reader would otherwise have to guess:
//! - The name is everything after the FIRST space (it may contain spaces and `;`). Fact names
//!   and `type` values are case-insensitive. A fact without `=` makes the line unparsable (that
//!   is how error text on the data channel is told from a listing). Unknown or bad fact values
//!   are ignored, not fatal. Missing `type` means File. `type=OS.unix=slink:/t` is a Symlink to
//!   `/t`; `OS.unix=symlink` a Symlink with unknown target. Other types (`OS.unix=blk`, `chr`,
//!   `fifo`, `socket`, ...) are listed as **File**: the entry exists and `ls` should show it;
//!   reading it fails or returns whatever the server sends.
//! - `size` wins over `sizd` (the directory size fact) when both are present.
//! - `modify` is UTC by RFC.

use std::time::SystemTime;

use super::{
    body_lines, bytes_to_os_string, is_acceptable_name, loggable, parse_decimal,
    starts_with_ignore_case, trim_line_end,
};
use crate::ftp::ftp_time::parse_ftp_time;
use crate::remote::{Entry, EntryKind};

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
