//! The write-back journal: append-only segment files (`journal-<n>`) holding the commits of
//! small files (record and data in one entry), record changes and finished uploads, so that a
//! write-back close costs one `fdatasync` of the spool disk, and a record change one more.
//!
//! # Why a journal
//! One file per close (data, record, directory: three fsyncs, see `store`) made a `tar -x` of
//! small files with the spool on ext4 slower than the default mode (issue 11). An appended
//! entry in an already durable file needs one `fdatasync`: the data, the record and the new
//! file length go out together, and no name changes. Segments grow by zero-filled chunks
//! (`CHUNK`) written ahead of the entries, so most entries overwrite blocks that are already
//! allocated and their `fdatasync` has no metadata to write (on this project's ext4 test
//! machine: 10,000 instead of 5,000 per second for 4 KiB entries). An all-zero rest of a
//! segment is its end, not a torn entry.
//!
//! Entries are framed, versioned and checksummed: see `entry` (spool format 2).
//!
//! # Done entries need no fsync of their own
//! A lost done entry means the upload is redone after a crash, as when the unlink of a record
//! was lost in format 1. Order is kept, which matters when two versions of one path were
//! uploaded (redoing only the older one would leave it on the server). What recovery applies
//! is a prefix of what was written:
//! - within a segment: recovery stops at the first entry that does not check (a lost block
//!   reads as zeros), and an `fdatasync` writes every earlier entry of the file, so nothing
//!   after a lost entry counts, synced or not;
//! - across segments: a full segment is `fdatasync`ed before the next one is started; done
//!   entries copied out of a segment being deleted are synced before the deletion; recovery
//!   syncs the segments a killed mount left (their unsynced entries may still be only in the
//!   page cache) before this mount writes its own.
//!
//! # Garbage
//! A segment is deleted when it is not the active one, none of its commits and updates is live,
//! and none of its done entries is still needed (one is needed while the segment holding that
//! commit exists: without it the commit would come back). Needed done entries of such a segment
//! are copied to the active one, so a failed upload pins only the segment of its own commit.
//! Each mount appends to a new segment, created (and its name fsynced) on its first entry.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::entry::{Body, COMMIT, DONE, UPDATE, scan, seal_entry, start_entry};

/// Files up to this size are committed inline; larger ones as a data file and record
/// (format 1), whose three fsyncs are small next to writing that much data.
pub(crate) const INLINE_MAX: u64 = 1 << 20;
/// A segment is full (the next entry starts a new one) past this many bytes.
const SEGMENT_SIZE: u64 = 16 << 20;
/// Zeros written ahead of the entries at a time (see the module doc).
const CHUNK: u64 = 1 << 20;
const PREFIX: &str = "journal-";

/// Where an entry's data is: `len` bytes at `offset` of the file `path` (a segment, or a
/// format 1 data file at offset 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub path: Arc<PathBuf>,
    pub offset: u64,
    pub len: u64,
}

impl Location {
    /// Open the file holding the data (read only). NotFound: the entry left the spool.
    pub(crate) fn open(&self) -> io::Result<File> {
        File::open(&*self.path)
    }

    /// The whole data (for tests).
    #[cfg(test)]
    pub(crate) fn read(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len).map_err(io::Error::other)?;
        let mut data = vec![0; len];
        self.open()?.read_exact_at(&mut data, self.offset)?;
        Ok(data)
    }
}

/// One entry found by recovery, in journal order.
#[derive(Debug)]
pub(crate) struct Event {
    pub segment: u64,
    /// The segment file and the entry's offset in it (for messages).
    pub file: PathBuf,
    pub offset: u64,
    pub seq: u64,
    pub what: What,
}

#[derive(Debug)]
pub(crate) enum What {
    Commit {
        record: Vec<u8>,
        data: Location,
    },
    Update {
        record: Vec<u8>,
    },
    Done,
    /// Another version, or a body that does not parse: kept, reported.
    Unreadable(String),
}

#[derive(Debug, Default)]
struct Segment {
    /// Commit and update entries of seqs not done.
    live: usize,
    /// Holds an unreadable entry: never deleted.
    pinned: bool,
    /// Seqs whose done entry is here.
    dones: Vec<u64>,
}

#[derive(Debug)]
struct Active {
    id: u64,
    path: Arc<PathBuf>,
    file: File,
    len: u64,
    /// Bytes written so far (entries, then zeros).
    allocated: u64,
}

#[derive(Debug, Default)]
struct State {
    active: Option<Active>,
    next_id: u64,
    /// `SEGMENT_SIZE` (smaller in tests).
    segment_size: u64,
    segments: BTreeMap<u64, Segment>,
    /// Live seq -> the segments of its commit and update entries (one per entry).
    refs: HashMap<u64, Vec<u64>>,
    /// Seq -> the segment of its commit entry, while that segment exists.
    commit_of: HashMap<u64, u64>,
}

/// The journal of one spool directory.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    /// The directory, for the fsync that makes a new segment's name durable.
    handle: File,
    state: Mutex<State>,
}

impl Journal {
    /// The journal of `dir` (an existing directory); new segments are numbered above those
    /// there now.
    pub(crate) fn open(dir: &Path) -> io::Result<Journal> {
        let mut next_id = 1;
        for (id, _) in segment_files(dir)? {
            next_id = next_id.max(id.saturating_add(1));
        }
        Ok(Journal {
            dir: dir.to_path_buf(),
            handle: File::open(dir)?,
            state: Mutex::new(State {
                next_id,
                segment_size: SEGMENT_SIZE,
                ..State::default()
            }),
        })
    }

    /// Commit `seq`: its record and exactly `size` bytes of `source`, durably (one
    /// `fdatasync`). Returns where the data is.
    pub(crate) fn commit(
        &self,
        seq: u64,
        record: &[u8],
        size: u64,
        source: &mut impl Read,
    ) -> io::Result<Location> {
        let mut entry = start_entry(seq, COMMIT, Some(record));
        let data_at = entry.len();
        // Room for the data at once: grown by read_to_end's doubling, the entry was copied
        // again and again (realloc: 13 of the 85 perf samples of Journal::commit, tar -x of
        // 4 KiB files).
        entry.reserve(size.min(INLINE_MAX) as usize);
        source
            .take(size.saturating_add(1))
            .read_to_end(&mut entry)?;
        let copied = (entry.len() - data_at) as u64;
        if copied != size {
            return Err(io::Error::other(format!(
                "spooled {copied} bytes, expected {size}"
            )));
        }
        seal_entry(&mut entry)?;
        let mut state = self.state.lock();
        let (segment, path, offset) = self.append(&mut state, &entry, true)?;
        state.note_ref(seq, segment);
        state.commit_of.insert(seq, segment);
        Ok(Location {
            path,
            offset: offset + data_at as u64,
            len: size,
        })
    }

    /// A new record for `seq`, durably (one `fdatasync`).
    pub(crate) fn update(&self, seq: u64, record: &[u8]) -> io::Result<()> {
        let mut entry = start_entry(seq, UPDATE, Some(record));
        seal_entry(&mut entry)?;
        let mut state = self.state.lock();
        let (segment, _, _) = self.append(&mut state, &entry, true)?;
        state.note_ref(seq, segment);
        Ok(())
    }

    /// `seq` is uploaded or cancelled (not synced: see the module doc); then delete what
    /// became garbage.
    pub(crate) fn done(&self, seq: u64) -> io::Result<()> {
        let mut entry = start_entry(seq, DONE, None);
        seal_entry(&mut entry)?;
        let mut state = self.state.lock();
        let (segment, _, _) = self.append(&mut state, &entry, false)?;
        state.forget(seq, segment);
        self.collect(&mut state);
        Ok(())
    }

    /// Append `entry` to the active segment (starting one if there is none or it is full).
    /// On failure the segment is cut back to where the entry began, so a failed close can
    /// never come back; if even that fails, the next entry starts a new segment.
    fn append(
        &self,
        state: &mut State,
        entry: &[u8],
        sync: bool,
    ) -> io::Result<(u64, Arc<PathBuf>, u64)> {
        let active = self.active(state)?;
        let offset = active.len;
        let end = offset + entry.len() as u64;
        let mut written = Ok(());
        if end > active.allocated {
            let ahead = end.div_ceil(CHUNK) * CHUNK;
            let zeros = vec![0; (ahead - active.allocated) as usize];
            written = active.file.write_all_at(&zeros, active.allocated);
            active.allocated = ahead;
        }
        let written = written.and_then(|()| active.file.write_all_at(entry, offset));
        if let Err(err) = written.and_then(|()| match sync {
            true => active.file.sync_data(),
            false => Ok(()),
        }) {
            match active.file.set_len(offset) {
                Ok(()) => active.allocated = offset,
                Err(_) => state.active = None,
            }
            return Err(err);
        }
        active.len += entry.len() as u64;
        Ok((active.id, Arc::clone(&active.path), offset))
    }

    /// The segment to append to. A full one is synced first (its unsynced done entries must
    /// not be lost while later ones survive) and left to `collect`.
    fn active<'s>(&self, state: &'s mut State) -> io::Result<&'s mut Active> {
        let size = state.segment_size;
        if let Some(full) = state.active.as_ref().filter(|a| a.len >= size) {
            full.file.sync_data()?;
            state.active = None;
        }
        if state.active.is_none() {
            let id = state.next_id;
            state.next_id += 1;
            let path = self.dir.join(format!("{PREFIX}{id:020}"));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            self.handle.sync_all()?;
            state.segments.insert(id, Segment::default());
            state.active = Some(Active {
                id,
                path: Arc::new(path),
                file,
                len: 0,
                allocated: 0,
            });
        }
        state
            .active
            .as_mut()
            .ok_or_else(|| io::Error::other("no active journal segment"))
    }

    /// Delete the segments that hold nothing needed (see the module doc). Errors are logged:
    /// garbage left is only room, deleted again by the next recovery.
    fn collect(&self, state: &mut State) {
        let active = state.active.as_ref().map(|a| a.id);
        let ids: Vec<u64> = state.segments.keys().copied().collect();
        for id in ids.into_iter().filter(|&id| Some(id) != active) {
            let Some(segment) = state.segments.get(&id) else {
                continue;
            };
            if segment.pinned || segment.live > 0 {
                continue;
            }
            let needed: Vec<u64> = (segment.dones.iter().copied())
                .filter(|seq| state.commit_of.get(seq).is_some_and(|&c| c != id))
                .collect();
            if let Err(err) = self.carry(state, &needed) {
                log::warn!("write-back journal: cannot copy done entries out of {id}: {err}");
                return;
            }
            let path = self.dir.join(format!("{PREFIX}{id:020}"));
            match fs::remove_file(&path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    log::warn!(
                        "write-back journal: cannot delete {}: {err}",
                        path.display()
                    );
                    return;
                }
                _ => {}
            }
            state.segments.remove(&id);
            state.commit_of.retain(|_, segment| *segment != id);
        }
    }

    /// Copy the done entries `seqs` to the active segment, durably.
    fn carry(&self, state: &mut State, seqs: &[u64]) -> io::Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::new();
        for &seq in seqs {
            let mut entry = start_entry(seq, DONE, None);
            seal_entry(&mut entry)?;
            entries.extend(entry);
        }
        let (segment, _, _) = self.append(state, &entries, true)?;
        if let Some(target) = state.segments.get_mut(&segment) {
            target.dones.extend_from_slice(seqs);
        }
        Ok(())
    }

    /// Every readable entry of every segment, oldest first (torn tails dropped and logged).
    /// Changes nothing; `adopt` then takes the verdict of the store.
    pub(crate) fn read(&self) -> io::Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut files = segment_files(&self.dir)?;
        files.sort();
        for (id, path) in files {
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                // Kept (pinned by the store) and reported, like an unreadable entry.
                Err(err) => {
                    events.push(Event {
                        segment: id,
                        file: path,
                        offset: 0,
                        seq: 0,
                        what: What::Unreadable(format!("cannot read the segment: {err}")),
                    });
                    continue;
                }
            };
            let shared = Arc::new(path.clone());
            let torn = scan(&bytes, |offset, seq, what| {
                let what = match what {
                    Body::Commit {
                        record,
                        data_at,
                        data_len,
                    } => What::Commit {
                        record: record.to_vec(),
                        data: Location {
                            path: Arc::clone(&shared),
                            offset: offset + data_at as u64,
                            len: data_len as u64,
                        },
                    },
                    Body::Update { record } => What::Update {
                        record: record.to_vec(),
                    },
                    Body::Done => What::Done,
                    Body::Unreadable(why) => What::Unreadable(why),
                };
                events.push(Event {
                    segment: id,
                    file: path.clone(),
                    offset,
                    seq,
                    what,
                });
            });
            if let Some((at, why)) = torn {
                log::info!(
                    "write-back journal {}: dropped {} bytes at {at} ({why}): a write no close \
                     waited for",
                    path.display(),
                    bytes.len() as u64 - at
                );
            }
        }
        Ok(events)
    }

    /// Recovery's verdict: `live` tells which seqs are still pending, `pinned` the segments
    /// to keep for good. Builds the bookkeeping of `events` (from `read`) and deletes garbage.
    pub(crate) fn adopt(&self, events: &[Event], live: impl Fn(u64) -> bool, pinned: &[u64]) {
        let mut state = self.state.lock();
        for event in events {
            state.segments.entry(event.segment).or_default();
            match &event.what {
                What::Commit { .. } => {
                    state.commit_of.insert(event.seq, event.segment);
                    if live(event.seq) {
                        state.note_ref(event.seq, event.segment);
                    }
                }
                What::Update { .. } if live(event.seq) => state.note_ref(event.seq, event.segment),
                What::Done => {
                    if let Some(segment) = state.segments.get_mut(&event.segment) {
                        segment.dones.push(event.seq);
                    }
                }
                What::Update { .. } | What::Unreadable(_) => {}
            }
        }
        for (id, path) in segment_files(&self.dir).unwrap_or_default() {
            state.segments.entry(id).or_default(); // empty: garbage
            // A killed mount's unsynced done entries were read from the page cache: made
            // durable before this mount's own entries can be (see the module doc).
            if let Err(err) = File::open(&path).and_then(|file| file.sync_data()) {
                log::warn!("write-back journal: cannot sync {}: {err}", path.display());
            }
        }
        for id in pinned {
            state.segments.entry(*id).or_default().pinned = true;
        }
        self.collect(&mut state);
    }

    /// Unmount: no more entries; delete what is garbage now, the last segment included.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        if let Some(active) = state.active.take()
            && let Err(err) = active.file.sync_data()
        {
            log::warn!("write-back journal: {err}");
        }
        self.collect(&mut state);
    }
}

impl State {
    fn note_ref(&mut self, seq: u64, segment: u64) {
        self.refs.entry(seq).or_default().push(segment);
        if let Some(s) = self.segments.get_mut(&segment) {
            s.live += 1;
        }
    }

    /// `seq` is done; its done entry is in `segment`.
    fn forget(&mut self, seq: u64, segment: u64) {
        for id in self.refs.remove(&seq).unwrap_or_default() {
            if let Some(s) = self.segments.get_mut(&id) {
                s.live = s.live.saturating_sub(1);
            }
        }
        if self.commit_of.contains_key(&seq)
            && let Some(s) = self.segments.get_mut(&segment)
        {
            s.dones.push(seq);
        }
    }
}

/// The segment files in `dir`: number and path.
fn segment_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let id = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(id) = id.filter(|_| !name.ends_with(".tmp")) {
            found.push((id, path));
        }
    }
    Ok(found)
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
