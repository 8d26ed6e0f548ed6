//! MLSD/MLST lines: RFC 3659 examples and what pyftpdlib, proftpd, pure-ftpd and IIS send.

use super::*;

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
