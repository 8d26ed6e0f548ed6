//! DOS/IIS LIST lines: two- and four-digit years, AM/PM, 24-hour times, grouped sizes.

use super::*;

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
