//! `STAT dir` listings: the inner lines of real replies (vsftpd, proftpd, pure-ftpd, pyftpdlib,
//! taken by hand from the test servers), and the replies that must not count as a listing.

use super::*;

fn lines(rows: &[&[u8]]) -> Vec<Vec<u8>> {
    rows.iter().map(|row| row.to_vec()).collect()
}

fn names(entries: &[Entry]) -> Vec<&[u8]> {
    entries.iter().map(|e| e.name.as_bytes()).collect()
}

#[test]
fn stat_listings_of_real_servers_parse_with_every_name_intact() {
    let vsftpd: &[&[u8]] = &[
        b"drwxr-xr-x    2 999      995          4096 Dec 05 16:11  lead space",
        b"drwxr-xr-x    4 999      995          4096 Dec 05 16:11 .",
        b"drwxr-xr-x    3 994      993          4096 Dec 05 16:11 ..",
        b"-rw-r--r--    1 999      995             0 Dec 05 16:11 .hidden",
        b"-rw-r--r--    1 999      995             0 Dec 05 16:11 a b",
        b"drwxr-xr-x    2 999      995          4096 Dec 05 16:11 sub",
        "-rw-r--r--    1 999      995             0 Dec 05 16:11 ünï".as_bytes(),
    ];
    let proftpd: &[&[u8]] = &[
        b" drwxr-xr-x   2 h22user  h22user      4096 Dec  5 16:11  lead space",
        b" drwxr-xr-x   4 h22user  h22user      4096 Dec  5 16:11 .",
        b" drwxr-xr-x   3 994      993          4096 Dec  5 16:11 ..",
        b" -rw-r--r--   1 h22user  h22user         0 Dec  5 16:11 .hidden",
        b" -rw-r--r--   1 h22user  h22user         0 Dec  5 16:11 a b",
        b" drwxr-xr-x   2 h22user  h22user      4096 Dec  5 16:11 sub",
        " -rw-r--r--   1 h22user  h22user         0 Dec  5 16:11 ünï".as_bytes(),
    ];
    let pure_ftpd: &[&[u8]] = &[
        b"drwxr-xr-x    2 999        ftpfs-test       4096 Dec  5 16:11  lead space",
        b"drwxr-xr-x    4 999        ftpfs-test       4096 Dec  5 16:11 .",
        b"drwxr-xr-x    3 994        993              4096 Dec  5 16:11 ..",
        b"-rw-r--r--    1 999        ftpfs-test          0 Dec  5 16:11 .hidden",
        b"-rw-r--r--    1 999        ftpfs-test          0 Dec  5 16:11 a b",
        b"drwxr-xr-x    2 999        ftpfs-test       4096 Dec  5 16:11 sub",
        "-rw-r--r--    1 999        ftpfs-test          0 Dec  5 16:11 ünï".as_bytes(),
    ];
    let expected: Vec<&[u8]> = vec![b" lead space", b".hidden", b"a b", b"sub", "ünï".as_bytes()];
    for (server, rows) in [
        ("vsftpd", vsftpd),
        ("proftpd", proftpd),
        ("pure-ftpd", pure_ftpd),
    ] {
        let entries = parse_stat_listing(&lines(rows), now())
            .unwrap_or_else(|| panic!("{server}: not taken as a listing"));
        assert_eq!(names(&entries), expected, "{server}");
        assert_eq!(entries[0].kind, EntryKind::Dir, "{server}");
        assert_eq!(entries[2].kind, EntryKind::File, "{server}");
        assert_eq!(entries[2].size, Some(0), "{server}");
        assert_eq!(entries[2].mode, Some(0o644), "{server}");
    }
}

#[test]
fn the_same_line_parses_as_in_a_list_body() {
    let row: &[u8] = b"-rw-r--r--    1 999      995          1234 Jan 02  2023 notes.txt";
    let listing = parse_stat_listing(
        &lines(&[b"drwxr-xr-x    2 0 0 4096 Jan 02  2023 .", row]),
        now(),
    )
    .unwrap();
    assert_eq!(listing, parse_list(row, now()));
}

#[test]
fn an_empty_directory_is_its_dot_and_dotdot() {
    let rows: &[&[u8]] = &[
        b"drwxr-xr-x    2 999      995          4096 Dec 05 16:11 .",
        b"drwxr-xr-x    4 999      995          4096 Dec 05 16:11 ..",
    ];
    assert_eq!(parse_stat_listing(&lines(rows), now()), Some(vec![]));
}

#[test]
fn replies_that_are_not_a_trusted_listing_give_none() {
    let cases: &[(&str, &[&[u8]])] = &[
        // vsftpd and pure-ftpd: a missing directory gives an empty reply
        ("empty", &[]),
        // a file: its own line, no "."
        (
            "a file",
            &[b"-rw-r--r--    1 999      995             0 Dec 05 16:11 a b"],
        ),
        // proftpd's reply for a file names it by path (no "." either)
        (
            "proftpd file",
            &[b" -rw-r--r--   1 u  u         0 Dec  5 16:11 /d1/a b"],
        ),
        // pyftpdlib lists without "." and ".."
        ("no dot", &[b"drwxr-xr-x   2 u u     4096 Dec 05 16:11 sub"]),
        // one line that is not `ls -l` spoils the whole reply
        (
            "free text",
            &[
                b"drwxr-xr-x    2 0 0 4096 Dec 05 16:11 .",
                b"Status: connected to 127.0.0.1",
            ],
        ),
        // DOS lines are not what these servers send in a STAT reply
        (
            "dos",
            &[
                b"drwxr-xr-x    2 0 0 4096 Dec 05 16:11 .",
                b"12-05-24  04:11PM       <DIR>          sub",
            ],
        ),
        // "." that is not a directory
        ("dot file", &[b"-rw-r--r--    1 0 0    0 Dec 05 16:11 ."]),
        // the tail of a name with a line feed in it: a fragment, not a line
        (
            "fragment",
            &[
                b"drwxr-xr-x    2 0 0 4096 Dec 05 16:11 .",
                b"-rw-r--r--    1 0 0    0 Dec 05 16:12 x",
                b"rest of the name",
            ],
        ),
    ];
    for (what, rows) in cases {
        assert_eq!(parse_stat_listing(&lines(rows), now()), None, "{what}");
    }
}

#[test]
fn unacceptable_names_and_blank_or_total_lines_are_skipped() {
    let rows: &[&[u8]] = &[
        b"total 8",
        b"",
        b"drwxr-xr-x    2 0 0 4096 Dec 05 16:11 .",
        b"-rw-r--r--    1 0 0    0 Dec 05 16:11 a/b",
        b"-rw-r--r--    1 0 0    0 Dec 05 16:11 ok\r",
    ];
    let entries = parse_stat_listing(&lines(rows), now()).unwrap();
    assert_eq!(names(&entries), vec![b"ok".as_slice()]);
}

#[test]
fn hostile_inner_lines_never_panic() {
    let rows: &[&[u8]] = &[
        b"d",
        b" ",
        b"  ",
        b"drwxr-xr-x",
        b"drwxr-xr-x 1 2 3 4 5 6 7 8 9 10",
        b"drwxr-xr-x    2 0 0 99999999999999999999999 Dec 05 16:11 x",
        b"-rw-r--r--    1 0 0    0 Feb 30 99:99 .",
        b"\xff\xfe\x00",
    ];
    for row in rows {
        let _ = parse_stat_listing(&lines(&[row]), now());
        let _ = parse_stat_listing(&lines(&[b"drwxr-xr-x 2 0 0 1 Dec 05 16:11 .", row]), now());
    }
}
