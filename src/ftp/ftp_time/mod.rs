//! FTP timestamps: RFC 3659 `time-val` ("YYYYMMDDHHMMSS[.fff]", always UTC) and the civil-date
//! arithmetic the listing parsers need.
//!
//! Why hand-written: all we need is "civil UTC date <-> `SystemTime`", which is two short
//! formulas (Howard Hinnant's `days_from_civil` / `civil_from_days`, proleptic Gregorian), so a
//! date crate would be a heavy dependency for a few lines. Everything here is total: any input,
//! including a `SystemTime` far outside the 4-digit-year range, gives `None` or a clamped value,
//! never a panic.
//!
//! The date and clock tokens of LIST lines (`tokens`) live here too, so that every notion of
//! time the client has sits in one module.
//!
//! Range: years 1..=9999 (what a 4-digit year field can express). Times before 1970 are mapped
//! properly (`UNIX_EPOCH - d`), not rejected.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod tokens;

pub use tokens::{
    apply_meridiem, infer_year, is_digits, parse_clock, parse_day, parse_dos_date, parse_dos_time,
    parse_iso_date, parse_meridiem, parse_month, parse_year, parse_zone_offset,
};

const SECONDS_PER_DAY: i64 = 86_400;
const MIN_YEAR: i64 = 1;
const MAX_YEAR: i64 = 9999;

/// A broken-down UTC date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilDateTime {
    /// Gregorian year, proleptic before 1582.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31, within the month's length.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59 (no leap seconds).
    pub second: u32,
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in `month` (1..=12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a valid proleptic Gregorian date (Hinnant's `days_from_civil`).
/// Callers validate the date first; `year` is bounded to `MIN_YEAR..=MAX_YEAR` there.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // [0, 399]
    let month = i64::from(month);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 }; // [0, 11]
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
/// Valid for any `days` derived from a `SystemTime` (|days| < 2^47).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // [1, 31]
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Seconds since the epoch of a UTC civil time, or `None` when any field is out of range
/// (year 1..=9999, month 1..=12, day within the month, hour < 24, minute < 60, second <= 60;
/// a leap second 60 counts as the first second of the next minute).
pub fn civil_to_unix_seconds(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    let valid = (MIN_YEAR..=MAX_YEAR).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !valid {
        return None;
    }
    let time_of_day = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Some(days_from_civil(year, month, day) * SECONDS_PER_DAY + time_of_day)
}

/// The `SystemTime` of a UTC civil time; `None` when a field is out of range (see
/// [`civil_to_unix_seconds`]).
pub fn civil_to_system_time(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<SystemTime> {
    unix_seconds_to_system_time(civil_to_unix_seconds(
        year, month, day, hour, minute, second,
    )?)
}

/// `UNIX_EPOCH + seconds`, also for negative seconds.
pub fn unix_seconds_to_system_time(seconds: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// Whole seconds since the epoch, rounded towards the past (also before 1970).
fn floor_unix_seconds(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::from(after.as_secs()),
        Err(err) => {
            let before = err.duration();
            let partial = i128::from(before.subsec_nanos() > 0);
            -(i128::from(before.as_secs()) + partial)
        }
    }
}

/// The UTC civil time of `time` (fraction of a second dropped, towards the past). Years may
/// fall outside 1..=9999 for extreme inputs.
pub fn system_time_to_civil(time: SystemTime) -> CivilDateTime {
    let seconds = floor_unix_seconds(time);
    let day_seconds = i128::from(SECONDS_PER_DAY);
    // |seconds| < 2^64, so the day count fits an i64 with room to spare.
    let days = i64::try_from(seconds.div_euclid(day_seconds)).unwrap_or(0);
    let second_of_day = u32::try_from(seconds.rem_euclid(day_seconds)).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    CivilDateTime {
        year,
        month,
        day,
        hour: second_of_day / 3600,
        minute: second_of_day / 60 % 60,
        second: second_of_day % 60,
    }
}

/// Parse an RFC 3659 `time-val`: "YYYYMMDDHHMMSS" with an optional ".f+" fraction, UTC, as
/// sent in the MLSx `modify` fact and the MDTM reply. Surrounding ASCII whitespace is ignored.
/// Also accepts the well-known Y2K bug form "19YYY..." (15 digits, "19" + years since 1900,
/// e.g. "19124" for 2024) that some old servers still send. `None` for anything else or any
/// out-of-range field.
pub fn parse_ftp_time(text: &[u8]) -> Option<SystemTime> {
    let text = text.trim_ascii();
    let (digits, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let (digits, dot_and_fraction) = text.split_at(dot);
            (digits, dot_and_fraction.get(1..))
        }
        None => (text, None),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (year, rest) = match digits.len() {
        14 => (decimal(digits.get(..4)?)?, digits.get(4..)?),
        15 if digits.starts_with(b"19") => {
            let years_since_1900 = decimal(digits.get(2..5)?)?;
            if years_since_1900 < 100 {
                return None;
            }
            (1900 + years_since_1900, digits.get(5..)?)
        }
        _ => return None,
    };
    let field = |range: std::ops::Range<usize>| -> Option<u32> {
        u32::try_from(decimal(rest.get(range)?)?).ok()
    };
    let whole = civil_to_system_time(
        i64::try_from(year).ok()?,
        field(0..2)?,
        field(2..4)?,
        field(4..6)?,
        field(6..8)?,
        field(8..10)?,
    )?;
    match fraction {
        None => Some(whole),
        Some(fraction) => whole.checked_add(Duration::from_nanos(fraction_nanos(fraction)?)),
    }
}

/// Format `time` as "YYYYMMDDHHMMSS" in UTC (for MFMT and `MDTM time path`). Fractions are
/// dropped (towards the past); times outside years 1..=9999 are clamped to that range so the
/// result is always 14 digits.
pub fn format_ftp_time(time: SystemTime) -> String {
    let earliest = i128::from(days_from_civil(MIN_YEAR, 1, 1) * SECONDS_PER_DAY);
    let latest = i128::from((days_from_civil(MAX_YEAR, 12, 31) + 1) * SECONDS_PER_DAY - 1);
    let clamped = floor_unix_seconds(time).clamp(earliest, latest);
    let clamped = i64::try_from(clamped).unwrap_or(0);
    let civil = match unix_seconds_to_system_time(clamped) {
        Some(time) => system_time_to_civil(time),
        None => system_time_to_civil(UNIX_EPOCH),
    };
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        civil.year, civil.month, civil.day, civil.hour, civil.minute, civil.second
    )
}

/// A non-empty run of ASCII digits as a number (at most 18 digits, so it cannot overflow).
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0')),
    )
}

/// Nanoseconds of a decimal fraction ("5" = 500 ms); digits past the ninth are ignored.
fn fraction_nanos(fraction: &[u8]) -> Option<u64> {
    if fraction.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos = 0u64;
    for position in 0..9 {
        let digit = fraction.get(position).map_or(0, |&d| u64::from(d - b'0'));
        nanos = nanos * 10 + digit;
    }
    Some(nanos)
}

#[cfg(test)]
mod tests;
