//! The durable spool of write-back mode: one data file and one metadata record per pending
//! upload, in a directory private to one mount source.
//!
//! # Why this layout
//! The promise of write-back mode is that a file whose close returned is never lost, even after
//! kill -9 or a crash. So a pending upload exists exactly when its *record* exists:
//! 1. the data is written to `<seq>.data` and fsync'd;
//! 2. the record is written to `<seq>.rec.tmp`, fsync'd, renamed to `<seq>.rec`;
//! 3. the directory is fsync'd, so the record's name is durable. Only then does close return.
//!
//! A crash before step 3 leaves at most a data file without record (or `.tmp` files): that close
//! never returned, so recovery deletes them. So the data file needs no temporary name of its
//! own (a rename per close less; the three fsyncs are the floor for two files and a name). Changing a record (rename of a pending file,
//! recorded chmod/utimens) rewrites it the same way (tmp, fsync, rename, dir fsync). Finishing
//! deletes the record first, then the data, so a crash in between leaves only garbage.
//!
//! A spool serves one mount at a time: `lock` takes an exclusive flock on its `lock` file.
//!
//! # Record format (versioned, so an upgrade can read it or say why not)
//! Text, one `key value` per line, first line `ftpfs-writeback 1`. The path is written as raw
//! bytes: names with CR, LF or NUL are refused by the filesystem (EINVAL), so a path never
//! contains a line break. Unknown keys are ignored (a newer minor addition); an unknown version
//! makes recovery refuse that record with a message and leave it in place.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first line of every record; the number is the format version.
const MAGIC: &str = "ftpfs-writeback";
pub(crate) const FORMAT_VERSION: u32 = 1;

/// What is known about one pending upload besides its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Position in the queue: uploads go oldest (smallest) first.
    pub seq: u64,
    /// Remote path the data goes to (absolute, as the filesystem names it).
    pub path: PathBuf,
    /// Length of the data file.
    pub size: u64,
    /// A utimens recorded while pending, applied after the upload.
    pub mtime: Option<SystemTime>,
    /// A chmod recorded while pending, applied after the upload.
    pub mode: Option<u32>,
}

impl Record {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{MAGIC} {FORMAT_VERSION}\nseq {}\nsize {}\n",
            self.seq, self.size
        )
        .into_bytes();
        if let Some(mtime) = self.mtime {
            let since = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
            out.extend(format!("mtime {}.{:09}\n", since.as_secs(), since.subsec_nanos()).bytes());
        }
        if let Some(mode) = self.mode {
            out.extend(format!("mode {mode:o}\n").bytes());
        }
        out.extend_from_slice(b"path ");
        out.extend_from_slice(self.path.as_os_str().as_bytes());
        out.push(b'\n');
        out
    }

    /// Parse a record; the error says what is wrong (shown by recovery).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Record, String> {
        let mut lines = bytes.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        let first = std::str::from_utf8(first).map_err(|_| "not a write-back record")?;
        let version = first
            .strip_prefix(MAGIC)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or("not a write-back record")?;
        if version != FORMAT_VERSION {
            return Err(format!(
                "record format {version}, this ftpfs reads format {FORMAT_VERSION}"
            ));
        }
        let (mut seq, mut size, mut path, mut mtime, mut mode) = (None, None, None, None, None);
        for line in lines.filter(|l| !l.is_empty()) {
            let split = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
            let (key, value) = (&line[..split], line.get(split + 1..).unwrap_or_default());
            let text = || std::str::from_utf8(value).map_err(|_| "bad value".to_string());
            match key {
                b"seq" => seq = Some(text()?.parse::<u64>().map_err(|e| format!("seq: {e}"))?),
                b"size" => size = Some(text()?.parse::<u64>().map_err(|e| format!("size: {e}"))?),
                b"mode" => {
                    mode = Some(u32::from_str_radix(text()?, 8).map_err(|e| format!("mode: {e}"))?)
                }
                b"mtime" => mtime = Some(parse_time(text()?)?),
                b"path" if value.first() == Some(&b'/') => {
                    path = Some(PathBuf::from(OsStr::from_bytes(value)))
                }
                b"path" => return Err("path is not absolute".into()),
                _ => {} // A later minor addition: ignored on purpose.
            }
        }
        Ok(Record {
            seq: seq.ok_or("no seq")?,
            size: size.ok_or("no size")?,
            path: path.ok_or("no path")?,
            mtime,
            mode,
        })
    }
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    let (secs, nanos) = text.split_once('.').unwrap_or((text, "0"));
    let secs = secs.parse::<u64>().map_err(|e| format!("mtime: {e}"))?;
    let nanos = nanos.parse::<u32>().map_err(|e| format!("mtime: {e}"))?;
    if nanos >= 1_000_000_000 {
        return Err("mtime: nanoseconds out of range".into());
    }
    UNIX_EPOCH
        .checked_add(Duration::new(secs, nanos))
        .ok_or_else(|| "mtime out of range".into())
}

/// What recovery found in a spool directory.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Complete pending uploads, oldest first.
    pub records: Vec<Record>,
    /// Records that could not be read (file name and why); left in place, never deleted.
    pub unreadable: Vec<(PathBuf, String)>,
    /// The smallest sequence number no file in the spool uses (1 when empty). New uploads are
    /// numbered from here: an unreadable record keeps its number and its data file, so a new
    /// close under that number would overwrite data that recovery promised to leave alone.
    pub next_free_seq: u64,
}

/// One mount source's spool directory.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    /// The directory, open for its fsyncs (every close and record change syncs it: opening
    /// it each time was two more system calls on the close path).
    handle: File,
}

impl Store {
    /// Open (creating, mode 0700) the spool directory.
    pub(crate) fn open(dir: &Path) -> io::Result<Store> {
        fs::create_dir_all(dir)?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            handle: File::open(dir)?,
        })
    }

    pub(crate) fn data_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.data"))
    }

    fn record_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.rec"))
    }

    /// Make `record` and its data durable: copy `source` (the handle's content, `record.size`
    /// bytes) to the data file, then write the record. When this returns Ok, the upload
    /// survives kill -9 and a crash.
    pub(crate) fn commit(&self, record: &Record, source: &mut impl io::Read) -> io::Result<()> {
        // No record names it yet: until `write_record` it is garbage recovery would delete.
        let data = self.data_path(record.seq);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&data)?;
        let copied = io::copy(source, &mut file)?;
        if copied != record.size {
            let _ = fs::remove_file(&data);
            return Err(io::Error::other(format!(
                "spooled {copied} bytes, expected {}",
                record.size
            )));
        }
        file.sync_all()?;
        self.write_record(record)
    }

    /// Rewrite a record (renamed path, recorded mtime/mode), durably.
    pub(crate) fn write_record(&self, record: &Record) -> io::Result<()> {
        let path = self.record_path(record.seq);
        let tmp = path.with_extension("rec.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&record.encode())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        self.sync_dir()
    }

    /// The upload is on the server (or cancelled): forget it. Record first, so a crash in
    /// between leaves only a data file without record, which recovery deletes.
    pub(crate) fn remove(&self, seq: u64) -> io::Result<()> {
        match fs::remove_file(self.record_path(seq)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        match fs::remove_file(self.data_path(seq)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.handle.sync_all()
    }

    /// What a previous mount left: complete records oldest first; leftovers of closes that
    /// never returned (tmp files, data without record) are deleted.
    pub(crate) fn recover(&self) -> io::Result<Recovered> {
        let mut found = Recovered {
            next_free_seq: 1,
            ..Recovered::default()
        };
        let mut data_files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if let Some(seq) = seq_of_name(&name) {
                found.next_free_seq = found.next_free_seq.max(seq.saturating_add(1));
            }
            if name.ends_with(".tmp") {
                fs::remove_file(&path)?;
            } else if name.ends_with(".data") {
                data_files.push(path);
            } else if name.ends_with(".rec") {
                match fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| Record::decode(&b))
                    .and_then(|r| self.check_data(r))
                {
                    Ok(record) => found.records.push(record),
                    Err(why) => found.unreadable.push((path, why)),
                }
            }
        }
        for data in data_files {
            let owned = found.records.iter().any(|r| self.data_path(r.seq) == data)
                || found
                    .unreadable
                    .iter()
                    .any(|(rec, _)| rec.with_extension("data") == data);
            if !owned {
                fs::remove_file(&data)?;
            }
        }
        found.records.sort_by_key(|r| r.seq);
        Ok(found)
    }

    fn check_data(&self, record: Record) -> Result<Record, String> {
        let len = fs::metadata(self.data_path(record.seq))
            .map_err(|e| format!("data file: {e}"))?
            .len();
        if len != record.size {
            return Err(format!(
                "data file has {len} bytes, record says {}",
                record.size
            ));
        }
        Ok(record)
    }

    /// Bytes held by committed data files (for the spool-size bound after recovery).
    pub(crate) fn bytes(records: &[Record]) -> u64 {
        records.iter().map(|r| r.size).sum()
    }
}

/// The sequence number a spool file name carries (`<seq>.data`, `<seq>.rec`, `<seq>.rec.tmp`).
fn seq_of_name(name: &str) -> Option<u64> {
    let digits = name.split('.').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Take the spool's exclusive lock: two mounts of one source must never share a spool (the
/// second would resume, and upload twice, what the first is uploading).
pub(crate) fn lock(dir: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => io::Error::other(
                "in use by another mount of this source (give another --spool-dir)",
            ),
            _ => err,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, path: &str, size: u64) -> Record {
        Record {
            seq,
            path: PathBuf::from(path),
            size,
            mtime: None,
            mode: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ftpfs-wb-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn records_round_trip() {
        let cases = [
            record(1, "/a", 0),
            Record {
                mtime: Some(UNIX_EPOCH + Duration::new(1_700_000_000, 123)),
                mode: Some(0o640),
                ..record(u64::MAX, "/dir with space/\u{e9}t\u{e9} x", 5)
            },
        ];
        for case in cases {
            assert_eq!(Record::decode(&case.encode()), Ok(case.clone()));
        }
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        let table: &[(&[u8], &str)] = &[
            (b"", "not a write-back record"),
            (b"something else\n", "not a write-back record"),
            (b"ftpfs-writeback 2\nseq 1\n", "record format 2"),
            (b"ftpfs-writeback 1\nsize 1\npath /a\n", "no seq"),
            (b"ftpfs-writeback 1\nseq 1\npath /a\n", "no size"),
            (b"ftpfs-writeback 1\nseq 1\nsize 1\n", "no path"),
            (
                b"ftpfs-writeback 1\nseq 1\nsize 1\npath rel\n",
                "not absolute",
            ),
            (b"ftpfs-writeback 1\nseq x\nsize 1\npath /a\n", "seq:"),
            (
                b"ftpfs-writeback 1\nseq 1\nsize 1\nmtime 1.9999999999\npath /a\n",
                "mtime",
            ),
            (
                b"ftpfs-writeback 1\nseq 1\nsize 1\nmode 9\npath /a\n",
                "mode",
            ),
        ];
        for (bytes, why) in table {
            let err = Record::decode(bytes).expect_err(why);
            assert!(err.contains(why), "{err:?} should mention {why:?}");
        }
        // Unknown keys are a later minor addition, not an error.
        let extra = b"ftpfs-writeback 1\nseq 1\nsize 0\nfuture x\npath /a\n";
        assert_eq!(Record::decode(extra), Ok(record(1, "/a", 0)));
    }

    #[test]
    fn committed_records_survive_and_leftovers_are_cleaned() {
        let dir = temp_dir("recover");
        let store = Store::open(&dir).unwrap();
        store.commit(&record(2, "/b", 3), &mut &b"bbb"[..]).unwrap();
        store.commit(&record(1, "/a", 1), &mut &b"a"[..]).unwrap();
        let mut renamed = record(2, "/c", 3);
        renamed.mode = Some(0o600);
        store.write_record(&renamed).unwrap();
        // A close that never returned: data without record, and a tmp file.
        fs::write(store.data_path(7), b"x").unwrap();
        fs::write(dir.join("00000000000000000008.rec.tmp"), b"x").unwrap();
        // A record from a future format: kept, reported.
        fs::write(dir.join("00000000000000000009.rec"), b"ftpfs-writeback 9\n").unwrap();

        let found = Store::open(&dir).unwrap().recover().unwrap();
        assert_eq!(found.records, vec![record(1, "/a", 1), renamed]);
        assert_eq!(fs::read(store.data_path(2)).unwrap(), b"bbb");
        assert_eq!(found.unreadable.len(), 1);
        assert!(found.unreadable[0].1.contains("format 9"));
        assert_eq!(
            found.next_free_seq, 10,
            "above the unreadable record's number"
        );
        assert!(!store.data_path(7).exists());
        assert!(!dir.join("00000000000000000008.rec.tmp").exists());

        store.remove(1).unwrap();
        store.remove(1).unwrap(); // idempotent
        let found = store.recover().unwrap();
        assert_eq!(found.records.len(), 1);
        assert_eq!(
            found.next_free_seq, 10,
            "the unreadable record is still there"
        );
        assert_eq!(seq_of_name("lock"), None);
        assert_eq!(seq_of_name(".data"), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_source_is_not_committed() {
        let dir = temp_dir("short");
        let store = Store::open(&dir).unwrap();
        assert!(store.commit(&record(1, "/a", 5), &mut &b"ab"[..]).is_err());
        assert!(store.recover().unwrap().records.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
