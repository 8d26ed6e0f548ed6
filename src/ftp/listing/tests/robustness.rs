//! No parser panics, whatever the bytes: random lines and mutations of real ones, with
//! random "now" values for the year inference.

use super::*;

// ----- never panic ---------------------------------------------------------------------

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

const SEED_LINES: &[&[u8]] = &[
    b"type=file;size=12;modify=20240101120000;perm=radfw;unique=803g1a2b; hello.txt",
    b"modify=20240102030405;size=11;type=OS.unix=slink:/etc/hostname;UNIX.mode=0777; l",
    b" Type=file;Size=1024990;Perm=r; /tmp/cap60.pl198.tar.gz",
    b"type=cdir;sizd=4096; /",
    b"-rw-r--r--   1 lav      root         1349 Feb  2 14:10 lftp.lsm",
    b"-rwxr-xr-x   1 lav      root         4771 Sep 12  1996 install-sh",
    b"lrwxrwxrwx   1 lav      root           33 Feb 14 17:45 ltconfig -> /usr/x",
    b"crw-rw-rw-   1 root     root       1,   3 Jan  1  2024 null",
    b"-rw-r--r-- 1 u g 10 2024-01-02 03:04:05.123456789 +0100 full.txt",
    b"-rw-r--r-- 1 u staff 10 Jan  2 03:04:05 2024 bsd.txt",
    b"07-13-98  09:06PM       <DIR>          aix",
    b"02-05-2024  12:30AM              1,234 four-digit-year.txt",
    b"12/25/2023  08:00 PM   55 sep-ampm.txt",
    b"total 12",
    b"20240101120000.123",
    b"191240101120000",
];

const INTERESTING_BYTES: &[u8] =
    b" \t;=:-,./<>+@0123456789aAbcdDeFiJlLMnNoOpPrRsStTuUwxyz\r\n\0\xff\xe9";

fn random_line(rng: &mut XorShift) -> Vec<u8> {
    let length = rng.below(120);
    (0..length)
        .map(|_| match rng.below(4) {
            0 => (rng.next() & 0xff) as u8,
            _ => INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())],
        })
        .collect()
}

fn mutated_line(rng: &mut XorShift) -> Vec<u8> {
    let mut line = SEED_LINES[rng.below(SEED_LINES.len())].to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(line.len() + 1);
        let byte = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        match rng.below(5) {
            0 if at < line.len() => line[at] = byte,
            1 => line.insert(at, byte),
            2 if at < line.len() => {
                line.remove(at);
            }
            3 => line.truncate(at),
            _ => {
                let from = rng.below(line.len() + 1);
                let piece = line[from.min(at)..from.max(at)].to_vec();
                line.splice(at..at, piece);
            }
        }
    }
    line
}

fn random_time(rng: &mut XorShift) -> SystemTime {
    let seconds = Duration::from_secs(rng.next() >> rng.below(64));
    let shifted = if rng.below(4) == 0 {
        UNIX_EPOCH.checked_sub(seconds)
    } else {
        UNIX_EPOCH.checked_add(seconds)
    };
    shifted.unwrap_or(UNIX_EPOCH)
}

fn assert_entries_sane(entries: &[Entry], line: &[u8]) {
    for entry in entries {
        assert!(
            is_acceptable_name(entry.name.as_bytes()),
            "{}",
            loggable(line)
        );
        assert!(entry.mode.is_none_or(|mode| mode <= 0o7777));
    }
}

#[test]
fn no_parser_panics_on_random_or_mutated_input() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut parsed_entries = 0;
    for round in 0..20_000 {
        let line = if round % 4 == 0 {
            random_line(&mut rng)
        } else {
            mutated_line(&mut rng)
        };
        let now = if round % 8 == 0 {
            random_time(&mut rng)
        } else {
            now()
        };
        let mlsd = parse_mlsd(&line);
        assert_entries_sane(&mlsd, &line);
        let list = parse_list(&line, now);
        assert_entries_sane(&list, &line);
        parsed_entries += mlsd.len() + list.len();
        if let ListLine::Entry(entry) = parse_list_line(&line, now) {
            assert_entries_sane(&[entry], &line);
        }
        let _ = parse_mlsx_line(&line);
        let _ = parse_mlst_line(&line);
        let _ = is_acceptable_name(&line);
        if let Some(time) = parse_ftp_time(&line) {
            assert_eq!(format_ftp_time(time).len(), 14);
        }
        let random = random_time(&mut rng);
        assert_eq!(format_ftp_time(random).len(), 14);
        let civil = system_time_to_civil(random);
        let _ = civil_to_system_time(
            civil.year + (rng.below(3) as i64) - 1,
            civil.month + rng.below(2) as u32,
            civil.day + rng.below(2) as u32,
            rng.next() as u32 % 26,
            rng.next() as u32 % 62,
            rng.next() as u32,
        );
    }
    // The mutations must leave enough lines intact to exercise the success paths too.
    assert!(
        parsed_entries > 2_000,
        "only {parsed_entries} entries parsed"
    );
}
