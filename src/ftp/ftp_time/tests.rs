//! Tests of time-vals and civil-date arithmetic (the LIST date tokens are tested through
//! whole listing lines, in `listing/tests`).

use super::*;

fn at(seconds: i64) -> SystemTime {
    unix_seconds_to_system_time(seconds).unwrap()
}

#[test]
fn days_from_civil_matches_known_day_numbers() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2038, 1, 19), 24_855);
    assert_eq!(days_from_civil(1, 1, 1), -719_162);
}

#[test]
fn civil_from_days_inverts_days_from_civil_over_every_day_of_many_centuries() {
    let mut expected_days = days_from_civil(1590, 1, 1);
    for year in 1590..=2410 {
        for month in 1..=12 {
            for day in 1..=days_in_month(year, month) {
                assert_eq!(days_from_civil(year, month, day), expected_days);
                assert_eq!(civil_from_days(expected_days), (year, month, day));
                expected_days += 1;
            }
        }
    }
}

#[test]
fn leap_years_follow_gregorian_rules() {
    assert!(is_leap_year(2000) && is_leap_year(2024) && is_leap_year(1996));
    assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(2023));
    assert_eq!(days_in_month(2024, 2), 29);
    assert_eq!(days_in_month(2023, 2), 28);
    assert_eq!(days_in_month(2023, 13), 0);
}

#[test]
fn rfc3659_time_val_is_utc_seconds() {
    let cases: &[(&[u8], i64)] = &[
        (b"19700101000000", 0),
        (b"19970124132601", 854_112_361),
        (b"20000229235959", 951_868_799),
        (b"20240101120000", 1_704_110_400),
        (b"20380119031408", 2_147_483_648),
        (b"19691231235959", -1),
        (b"19000101000000", -2_208_988_800),
        (b"  20240101120000\r\n", 1_704_110_400),
    ];
    for &(text, seconds) in cases {
        assert_eq!(parse_ftp_time(text), Some(at(seconds)), "{text:?}");
    }
}

#[test]
fn rfc3659_time_val_fraction_adds_sub_second_precision() {
    let base = at(1_704_110_400);
    let cases: &[(&[u8], u64)] = &[
        (b"20240101120000.5", 500_000_000),
        (b"20240101120000.123", 123_000_000),
        (b"20240101120000.000000001", 1),
        (b"20240101120000.1234567899", 123_456_789),
    ];
    for &(text, nanos) in cases {
        assert_eq!(
            parse_ftp_time(text),
            Some(base + Duration::from_nanos(nanos)),
            "{text:?}"
        );
    }
}

#[test]
fn y2k_bug_form_19yyy_is_read_as_years_since_1900() {
    assert_eq!(parse_ftp_time(b"191240101120000"), Some(at(1_704_110_400)));
    assert_eq!(parse_ftp_time(b"191000101000000"), Some(at(946_684_800)));
    assert_eq!(parse_ftp_time(b"190990101000000"), None);
}

#[test]
fn time_val_rejects_out_of_range_fields_and_malformed_text() {
    let bad: &[&[u8]] = &[
        b"",
        b"2024",
        b"2024010112000",
        b"202401011200000",
        b"20241301120000",
        b"20240001120000",
        b"20240100120000",
        b"20240132120000",
        b"20230229120000",
        b"20240431120000",
        b"20240101240000",
        b"20240101126000",
        b"20240101120061",
        b"00000101000000",
        b"2024010112000x",
        b"+2024010112000",
        b"20240101120000.",
        b"20240101120000.12a",
        b"20240101 120000",
        b"\xff\xfe",
    ];
    for text in bad {
        assert_eq!(parse_ftp_time(text), None, "{text:?}");
    }
}

#[test]
fn leap_second_60_is_accepted_as_next_minute() {
    assert_eq!(
        parse_ftp_time(b"20161231235960"),
        parse_ftp_time(b"20170101000000")
    );
}

#[test]
fn format_ftp_time_is_fourteen_utc_digits() {
    assert_eq!(format_ftp_time(UNIX_EPOCH), "19700101000000");
    assert_eq!(format_ftp_time(at(1_704_110_400)), "20240101120000");
    assert_eq!(format_ftp_time(at(951_868_799)), "20000229235959");
    assert_eq!(format_ftp_time(at(-1)), "19691231235959");
    assert_eq!(
        format_ftp_time(at(1_704_110_400) + Duration::from_millis(999)),
        "20240101120000"
    );
    assert_eq!(
        format_ftp_time(UNIX_EPOCH - Duration::from_millis(1)),
        "19691231235959"
    );
}

#[test]
fn format_ftp_time_clamps_to_four_digit_years() {
    let far_future = UNIX_EPOCH + Duration::from_secs(1 << 40);
    assert_eq!(format_ftp_time(far_future), "99991231235959");
    let far_past = UNIX_EPOCH - Duration::from_secs(1 << 40);
    assert_eq!(format_ftp_time(far_past), "00010101000000");
}

#[test]
fn format_then_parse_round_trips_whole_seconds() {
    let mut seconds = -62_135_596_800i64; // 0001-01-01
    while seconds < 253_402_300_799 {
        let time = at(seconds);
        let text = format_ftp_time(time);
        assert_eq!(parse_ftp_time(text.as_bytes()), Some(time), "{text}");
        seconds += 7_777_777;
    }
}

#[test]
fn system_time_to_civil_breaks_down_utc() {
    assert_eq!(
        system_time_to_civil(at(1_704_110_400 + 3723)),
        CivilDateTime {
            year: 2024,
            month: 1,
            day: 1,
            hour: 13,
            minute: 2,
            second: 3
        }
    );
    assert_eq!(system_time_to_civil(at(-1)).year, 1969);
}

#[test]
fn civil_to_system_time_rejects_invalid_fields_without_panicking() {
    assert_eq!(civil_to_system_time(2024, 2, 30, 0, 0, 0), None);
    assert_eq!(civil_to_system_time(i64::MAX, 1, 1, 0, 0, 0), None);
    assert_eq!(civil_to_system_time(i64::MIN, 1, 1, 0, 0, 0), None);
    assert_eq!(civil_to_system_time(2024, u32::MAX, 1, 0, 0, 0), None);
    assert_eq!(civil_to_system_time(2024, 1, 1, u32::MAX, 0, 0), None);
    assert_eq!(
        civil_to_system_time(2024, 1, 1, 12, 0, 0),
        Some(at(1_704_110_400))
    );
}

#[test]
fn extreme_system_times_break_down_without_panicking() {
    let mut extremes = vec![UNIX_EPOCH];
    for shift in [0u32, 20, 40, 50, 60, 62] {
        let span = Duration::from_secs(1u64 << shift);
        extremes.extend(UNIX_EPOCH.checked_add(span));
        extremes.extend(UNIX_EPOCH.checked_sub(span));
    }
    for time in extremes {
        let civil = system_time_to_civil(time);
        assert!((1..=12).contains(&civil.month) && (1..=31).contains(&civil.day));
        assert_eq!(format_ftp_time(time).len(), 14);
    }
}
