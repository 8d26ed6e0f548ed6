//! Fuzz RFC 3659 time-vals (`modify` facts, MDTM replies) and their formatting.
//!
//! Why: `ftp_time` promises to be total (any bytes, any `SystemTime`: `None` or a clamped value,
//! never a panic), and MFMT/MDTM-set must write back exactly the second we read. So the input is
//! used twice: as text for `parse_ftp_time`, whose result must format and re-parse to the same
//! whole second; and as a raw `SystemTime` for `format_ftp_time`, which must always give 14
//! digits that parse back to the clamped, floored time.
//!
//! Input layout: the whole input is the text. Its first 12 bytes (zero-padded) are also read as
//! i64 LE seconds + u32 LE nanoseconds for the formatting check.

#![no_main]

use std::time::{Duration, SystemTime};

use ftpfs::ftp::ftp_time::{
    civil_to_system_time, format_ftp_time, parse_ftp_time, system_time_to_civil,
    unix_seconds_to_system_time,
};
use libfuzzer_sys::fuzz_target;

const EARLIEST_TEXT: &str = "00010101000000";
const LATEST_TEXT: &str = "99991231235959";

/// `format_ftp_time(time)` is 14 digits and parses back to `time` floored to the second, or to
/// the nearest end of the year 1..=9999 range when `time` lies outside it.
fn check_format_round_trip(time: SystemTime) {
    let text = format_ftp_time(time);
    assert_eq!(text.len(), 14, "{text:?}");
    assert!(text.bytes().all(|byte| byte.is_ascii_digit()), "{text:?}");
    let back = parse_ftp_time(text.as_bytes())
        .unwrap_or_else(|| panic!("formatted {text:?} does not parse"));
    let earliest = parse_ftp_time(EARLIEST_TEXT.as_bytes()).expect("year 1 parses");
    let latest = parse_ftp_time(LATEST_TEXT.as_bytes()).expect("year 9999 parses");
    if time < earliest {
        assert_eq!(text, EARLIEST_TEXT);
    } else if time >= latest + Duration::from_secs(1) {
        assert_eq!(text, LATEST_TEXT);
    } else {
        assert!(back <= time, "{text:?} is after the time it formats");
        let floored_by = time.duration_since(back).expect("back <= time");
        assert!(
            floored_by < Duration::from_secs(1),
            "{text:?} off by {floored_by:?}"
        );
        // Formatting is a fixed point on whole seconds.
        assert_eq!(format_ftp_time(back), text);
        let civil = system_time_to_civil(back);
        let rebuilt = civil_to_system_time(
            civil.year,
            civil.month,
            civil.day,
            civil.hour,
            civil.minute,
            civil.second,
        );
        assert_eq!(rebuilt, Some(back), "{civil:?}");
    }
}

fn time_from(input: &[u8]) -> Option<SystemTime> {
    let mut raw = [0u8; 12];
    let n = input.len().min(raw.len());
    raw[..n].copy_from_slice(&input[..n]);
    let (seconds, nanos) = raw.split_at(8);
    let seconds = i64::from_le_bytes(seconds.try_into().ok()?);
    let nanos = u32::from_le_bytes(nanos.try_into().ok()?) % 1_000_000_000;
    unix_seconds_to_system_time(seconds)?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

fuzz_target!(|input: &[u8]| {
    if let Some(parsed) = parse_ftp_time(input) {
        let trimmed = input.trim_ascii();
        assert!(
            trimmed.len() >= 14,
            "{:?} parsed",
            String::from_utf8_lossy(input)
        );
        check_format_round_trip(parsed);
        let civil = system_time_to_civil(parsed);
        assert!((1..=10_000).contains(&civil.year), "{civil:?}");
    }
    if let Some(time) = time_from(input) {
        check_format_round_trip(time);
    }
});
