//! The durable spool of write-back mode: what is pending, in a directory private to one mount
//! source.
//!
//! # Why this layout
//! The promise of write-back mode is that a file whose close returned is never lost, even after
//! kill -9 or a crash. Two layouts hold a pending upload:
//! - up to `journal::INLINE_MAX` bytes (nearly every file of a `tar -x`): one entry in the
//!   journal (`journal`), record and data together, made durable by one fdatasync. Record
//!   changes and finished uploads are journal entries too;
//! - larger files, and every entry of a spool written before the journal (format 1): a data file
//!   `<seq>.data` and a record `<seq>.rec`, committed as (1) data written and fsync'd, (2)
//!   record written to `<seq>.rec.tmp`, fsync'd, renamed, (3) directory fsync'd. A crash before
//!   (3) leaves at most a data file without record (or `.tmp` files): that close never returned,
//!   so recovery deletes them. Three fsyncs are little next to writing more than a MiB. Changes
//!   of such a record are journal entries (applied over the record by recovery); finishing
//!   deletes the record, then the data, syncs the directory, then writes a done entry.
//!
//! Recovery reads the format 1 files, then the journal in order, so an upgrade loses nothing.
//! The data of an entry is reached through a `journal::Location` (file, offset, length), never
//! a path alone.
//!
//! A spool serves one mount at a time: `lock` takes an exclusive flock on its `lock` file.
//!
//! # Record format (versioned, so an upgrade can read it or say why not)
//! Text, one `key value` per line, first line `ftpfs-writeback 1` (in `.rec` files and inside
//! journal entries alike). The path is written as raw bytes: names with CR, LF or NUL are
//! refused by the filesystem (EINVAL), so a path never contains a line break. Unknown keys are
//! ignored (a newer minor addition); an unknown version makes recovery refuse that record with
//! a message and leave it in place.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::journal::{INLINE_MAX, Journal, Location, What};

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
    /// The directory, open for its fsyncs (format 1 commits; opening it each time was two
    /// more system calls on the close path).
    handle: File,
    journal: Journal,
    /// Where the data of each entry committed or recovered by this store is.
    index: Mutex<HashMap<u64, Slot>>,
}

#[derive(Clone, Debug)]
struct Slot {
    data: Location,
    /// A format 1 entry (`<seq>.rec` and `<seq>.data`), deleted by unlinking them.
    files: bool,
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
            journal: Journal::open(dir)?,
            index: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn data_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.data"))
    }

    fn record_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.rec"))
    }

    /// Make `record` and its data durable: `record.size` bytes of `source` (the handle's
    /// content). Up to `INLINE_MAX` bytes: one journal entry, one fdatasync; larger: a data
    /// file and a record (format 1). When this returns Ok, the upload survives kill -9 and a
    /// crash.
    pub(crate) fn commit(&self, record: &Record, source: &mut impl io::Read) -> io::Result<()> {
        let slot = if record.size <= INLINE_MAX {
            let data = (self.journal).commit(record.seq, &record.encode(), record.size, source)?;
            Slot { data, files: false }
        } else {
            self.commit_files(record, source)?;
            Slot {
                data: Location {
                    path: Arc::new(self.data_path(record.seq)),
                    offset: 0,
                    len: record.size,
                },
                files: true,
            }
        };
        self.index.lock().insert(record.seq, slot);
        Ok(())
    }

    /// Format 1: data file fsync'd, record written to a tmp file, fsync'd, renamed, directory
    /// fsync'd.
    fn commit_files(&self, record: &Record, source: &mut impl io::Read) -> io::Result<()> {
        // No record names it yet: until the record exists it is garbage recovery would delete.
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
        let path = self.record_path(record.seq);
        let tmp = path.with_extension("rec.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&record.encode())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        self.sync_dir()
    }

    /// Change a record (renamed path, recorded mtime/mode), durably: one journal entry.
    pub(crate) fn write_record(&self, record: &Record) -> io::Result<()> {
        self.journal.update(record.seq, &record.encode())
    }

    /// Where the data of entry `seq` is (None: not in this store).
    pub(crate) fn location(&self, seq: u64) -> Option<Location> {
        Some(self.index.lock().get(&seq)?.data.clone())
    }

    /// The upload is on the server (or cancelled): forget it, with a done entry (see `journal`
    /// for why it needs no fsync). A format 1 entry's files go first (record, data, directory
    /// synced): while they may come back, the journal entries that renamed it must stay, and
    /// the done entry is what lets them go.
    pub(crate) fn remove(&self, seq: u64) -> io::Result<()> {
        let slot = self.index.lock().remove(&seq);
        if slot.as_ref().is_none_or(|slot| slot.files) {
            for path in [self.record_path(seq), self.data_path(seq)] {
                match fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            if slot.is_some() {
                self.sync_dir()?;
            }
        }
        self.journal.done(seq)
    }

    /// Unmount: nothing more is written; what is garbage is deleted.
    pub(crate) fn close(&self) {
        self.journal.close();
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.handle.sync_all()
    }

    /// What a previous mount left: complete entries oldest first (format 1 files and journal);
    /// leftovers of closes that never returned (tmp files, data without record, torn journal
    /// tails) and finished entries are deleted; unreadable ones are kept and reported.
    pub(crate) fn recover(&self) -> io::Result<Recovered> {
        self.read(true)
    }

    /// What `recover` would find, changing nothing (tests look at a live spool).
    #[cfg(test)]
    pub(crate) fn peek(&self) -> io::Result<Recovered> {
        self.read(false)
    }

    fn read(&self, clean: bool) -> io::Result<Recovered> {
        let mut found = Recovered {
            next_free_seq: 1,
            ..Recovered::default()
        };
        let (mut files, mut data_files) = (BTreeMap::new(), Vec::new());
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if let Some(seq) = seq_of_name(&name) {
                found.next_free_seq = found.next_free_seq.max(seq.saturating_add(1));
            }
            if name.ends_with(".tmp") {
                if clean {
                    fs::remove_file(&path)?;
                }
            } else if name.ends_with(".data") {
                data_files.push(path);
            } else if name.ends_with(".rec") {
                match fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| Record::decode(&b))
                    .and_then(|r| self.check_data(r))
                {
                    Ok(record) => {
                        files.insert(record.seq, record);
                    }
                    Err(why) => found.unreadable.push((path, why)),
                }
            }
        }
        let events = self.journal.read()?;
        let (mut live, mut pinned, mut finished) = (BTreeMap::new(), Vec::new(), Vec::new());
        // Numbers of unreadable entries: a data file of theirs (a later format's) is kept.
        let mut kept = Vec::new();
        for event in &events {
            let seq = event.seq;
            found.next_free_seq = found.next_free_seq.max(seq.saturating_add(1));
            let verdict = match &event.what {
                What::Commit { record, data } => decode_for(record, seq, Some(data.len))
                    .map(|r| live.insert(seq, (r, data.clone()))),
                What::Update { record } => decode_for(record, seq, None).map(|r| {
                    if let Some(entry) = live.get_mut(&seq) {
                        entry.0 = Record {
                            size: entry.0.size,
                            ..r
                        };
                    } else if let Some(entry) = files.get_mut(&seq) {
                        *entry = Record {
                            size: entry.size,
                            ..r
                        };
                    }
                    None
                }),
                What::Done => {
                    live.remove(&seq);
                    if files.remove(&seq).is_some() {
                        finished.push(seq);
                    }
                    Ok(None)
                }
                What::Unreadable(why) => Err(why.clone()),
            };
            if let Err(why) = verdict {
                let at = format!("entry at byte {} (number {seq}): {why}", event.offset);
                found.unreadable.push((event.file.clone(), at));
                pinned.push(event.segment);
                kept.push(seq);
            }
        }
        if clean {
            for seq in finished {
                let _ = fs::remove_file(self.record_path(seq));
            }
            for data in data_files {
                let owned = seq_of_name(&data.file_name().unwrap_or_default().to_string_lossy())
                    .is_some_and(|seq| files.contains_key(&seq) || kept.contains(&seq))
                    || (found.unreadable.iter()).any(|(rec, _)| rec.with_extension("data") == data);
                if !owned {
                    fs::remove_file(&data)?;
                }
            }
            self.journal.adopt(
                &events,
                |seq| live.contains_key(&seq) || files.contains_key(&seq),
                &pinned,
            );
        }
        let mut index = self.index.lock();
        for record in files.into_values() {
            let data = Location {
                path: Arc::new(self.data_path(record.seq)),
                offset: 0,
                len: record.size,
            };
            if clean {
                index.insert(record.seq, Slot { data, files: true });
            }
            found.records.push(record);
        }
        for (seq, (record, data)) in live {
            if clean {
                index.insert(seq, Slot { data, files: false });
            }
            found.records.push(record);
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

/// The record of a journal entry for `seq`, checked against the entry (its number, and the
/// length of a commit's data).
fn decode_for(bytes: &[u8], seq: u64, data_len: Option<u64>) -> Result<Record, String> {
    let record = Record::decode(bytes)?;
    if record.seq != seq {
        return Err(format!("record says number {}", record.seq));
    }
    match data_len {
        Some(len) if len != record.size => {
            Err(format!("{len} bytes of data, record says {}", record.size))
        }
        _ => Ok(record),
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
pub(super) mod tests {
    use super::*;

    /// A record without attributes (also used by the journal's tests).
    pub(in crate::fs::writeback) fn record(seq: u64, path: &str, size: u64) -> Record {
        Record {
            seq,
            path: PathBuf::from(path),
            size,
            mtime: None,
            mode: None,
        }
    }

    /// A fresh (absent) directory for test `name`.
    pub(in crate::fs::writeback) fn temp_dir(name: &str) -> PathBuf {
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

        let next = Store::open(&dir).unwrap();
        let found = next.recover().unwrap();
        assert_eq!(found.records, vec![record(1, "/a", 1), renamed]);
        assert_eq!(next.location(2).unwrap().read().unwrap(), b"bbb");
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
