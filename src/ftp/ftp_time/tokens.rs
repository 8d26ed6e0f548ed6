//! Date and clock tokens of LIST lines: month names, day and year columns, `HH:MM[:SS]`
//! clocks, ISO dates and zone offsets (`ls -l --time-style`), DOS dates and AM/PM times, and
//! the year of a year-less `ls -l` row.
//!
//! Why here and not in `listing`: every notion of time the client has lives in `ftp_time`, so
//! the range checks (a day within its month, leap years, hour < 24) are made once, by
//! [`civil_to_system_time`](super::civil_to_system_time). These functions only split and
//! range-check single tokens; they are total (any bytes give `None` or a value, never a panic).

use std::time::{Duration, SystemTime};

use super::{civil_to_system_time, decimal, system_time_to_civil};

/// How far in the future a year-less `ls -l` date may lie before it is taken as last year's.
const FUTURE_SLACK: Duration = Duration::from_secs(86_400);

/// The time of a year-less "Mon DD HH:MM" row: this year, or last year when this year's date
/// would be more than [`FUTURE_SLACK`] ahead of `now`.
pub fn infer_year(
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    now: SystemTime,
) -> Option<SystemTime> {
    let this_year = system_time_to_civil(now).year;
    let latest = now.checked_add(FUTURE_SLACK);
    [this_year, this_year - 1].into_iter().find_map(|year| {
        civil_to_system_time(year, month, day, hour, minute, 0)
            .filter(|time| latest.is_none_or(|latest| *time <= latest))
    })
}

/// English month name, abbreviated or full, any case.
pub fn parse_month(text: &[u8]) -> Option<u32> {
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
pub fn parse_day(text: &[u8]) -> Option<u32> {
    if !(1..=2).contains(&text.len()) {
        return None;
    }
    let day = small_number(text)?;
    (1..=31).contains(&day).then_some(day)
}

/// Year column: exactly 4 digits.
pub fn parse_year(text: &[u8]) -> Option<i64> {
    if text.len() != 4 {
        return None;
    }
    small_number(text).map(i64::from)
}

/// "H:MM", "HH:MM" or "HH:MM:SS" (and with `allow_fraction`, "HH:MM:SS.fff").
pub fn parse_clock(text: &[u8], allow_fraction: bool) -> Option<(u32, u32, u32)> {
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
pub fn parse_iso_date(text: &[u8]) -> Option<(i64, u32, u32)> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = text else {
        return None;
    };
    let year = small_number(&[*y1, *y2, *y3, *y4])?;
    let month = small_number(&[*m1, *m2])?;
    let day = small_number(&[*d1, *d2])?;
    Some((i64::from(year), month, day))
}

/// "+0100" / "-0530": seconds east of UTC.
pub fn parse_zone_offset(text: &[u8]) -> Option<i64> {
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

/// "07-13-98", "02-05-2024", "12/25/2023" (month first) or "2024-03-04". Two-digit years below
/// 70 are 20xx, others 19xx. Field ranges are checked later, by the time conversion.
pub fn parse_dos_date(text: &[u8]) -> Option<(i64, u32, u32)> {
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
pub fn parse_dos_time(text: &[u8]) -> Option<(u32, u32)> {
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
pub fn parse_meridiem(text: &[u8]) -> Option<bool> {
    if text.eq_ignore_ascii_case(b"AM") {
        Some(false)
    } else if text.eq_ignore_ascii_case(b"PM") {
        Some(true)
    } else {
        None
    }
}

/// 12-hour clock to 24-hour: 12:xxAM is 00:xx, 12:xxPM is 12:xx.
pub fn apply_meridiem(hour: u32, is_pm: bool) -> Option<u32> {
    match (hour, is_pm) {
        (1..=11, false) => Some(hour),
        (12, false) => Some(0),
        (1..=11, true) => Some(hour + 12),
        (12, true) => Some(12),
        _ => None,
    }
}

/// A non-empty run of ASCII digits.
pub fn is_digits(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(u8::is_ascii_digit)
}

/// A short run of digits (date and time fields).
fn small_number(text: &[u8]) -> Option<u32> {
    if text.len() > 9 {
        return None;
    }
    decimal(text).and_then(|value| u32::try_from(value).ok())
}
