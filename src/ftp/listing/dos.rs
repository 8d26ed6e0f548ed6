//! DOS/IIS LIST lines: `MM-DD-YY[YY]  HH:MM[AM|PM]  (<DIR>|size)  name`.
//!
//! The columns are padded, so the name starts at the first non-blank after the size / `<DIR>`
//! column (unlike `ls -l`, where exactly one separator precedes it). Dates are month first;
//! times 12-hour with AM/PM (12:xxAM is 00:xx) or 24-hour.

use super::{bytes_to_os_string, parse_grouped_decimal, tokenize};
use crate::ftp::ftp_time::{
    apply_meridiem, civil_to_system_time, parse_clock, parse_dos_date, parse_dos_time,
    parse_meridiem,
};
use crate::remote::{Entry, EntryKind};

/// `MM-DD-YY[YY]  HH:MM[AM|PM]  (<DIR>|size)  name`, also with '/' separators, "YYYY-MM-DD",
/// 24-hour times and a separate "AM"/"PM" token.
pub(super) fn parse_dos_line(line: &[u8]) -> Option<Entry> {
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
