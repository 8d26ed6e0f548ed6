//! Unix `ls -l` LIST lines: the architecture table, real servers, modes, names, dates.

use super::*;

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
