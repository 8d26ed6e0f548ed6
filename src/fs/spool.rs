//! Spool files: local copies for writes FTP cannot stream.
//!
//! FTP can only replace a file (STOR) or append to it (APPE). Writes at arbitrary offsets,
//! read-modify-write through O_RDWR and truncation to a non-zero size therefore work on a local
//! copy in `FsConfig::spool_dir`, uploaded whole on flush/close (to a temporary name renamed into
//! place, like every replacing upload: see `upload_target`). The copy is unlinked right after
//! creation, so a crash leaves nothing behind in the spool directory.
//!
//! A new, empty spool (`create`: every created file in write-back mode) starts in memory (a
//! plain buffer) and moves to a file in the spool directory once it outgrows `IN_MEMORY`. Why:
//! a create+unlink of a disk file per small file was a sixth of ftpfs' CPU time in `tar -x` of
//! 1,000 small files (ext4's inode allocator skips recently deleted inodes one by one), and the
//! bound keeps the memory of many open handles small. A buffer rather than a memfd: the memfd
//! cost five system calls per small file (create, write, seek and read to copy it into the
//! journal, close) on the FUSE thread that tar waits for, and a shmem inode to set up and free.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::FsError;
use super::upload_target::UploadTarget;
use super::writeback::journal::Location;
use crate::remote::{
    CommitAttrs, Remote, RemoteError, RemoteErrorKind, RemoteResult, RemoteWriter,
};
use crate::status::{self, Direction};

static SPOOL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Bytes a new spool keeps in memory before it moves to a file in the spool directory.
const IN_MEMORY: u64 = 1 << 20;

/// A local, anonymous copy of one remote file.
#[derive(Debug)]
pub(crate) struct Spool {
    storage: Storage,
    /// Where the content starts in the file (not 0 only for a write-back journal entry, which
    /// is read, never written).
    base: u64,
    len: u64,
    /// Changed since the last upload.
    dirty: bool,
}

/// Where a spool's bytes are.
#[derive(Debug)]
enum Storage {
    /// In memory (exactly `len` bytes), moving to a file in `spill_to` past `IN_MEMORY`.
    Memory { data: Vec<u8>, spill_to: PathBuf },
    /// In an unlinked file (or a journal segment, read only).
    File(File),
}

/// A spool's content as a reader (see `Spool::contents`).
pub(crate) enum Contents<'a> {
    Memory(&'a [u8]),
    File(io::Take<&'a File>),
}

impl Read for Contents<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Contents::Memory(data) => data.read(buf),
            Contents::File(file) => file.read(buf),
        }
    }
}

impl Spool {
    /// An empty spool: in memory, moving to `dir` when it grows past `IN_MEMORY`.
    pub(crate) fn create(dir: &Path) -> Spool {
        Spool {
            storage: Storage::Memory {
                data: Vec::new(),
                spill_to: dir.to_path_buf(),
            },
            base: 0,
            len: 0,
            dirty: false,
        }
    }

    /// An empty spool file in `dir`, unlinked at once.
    fn on_disk(dir: &Path) -> Result<Spool, FsError> {
        let name = format!(
            ".ftpfs-spool-{}-{}",
            std::process::id(),
            SPOOL_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|err| FsError::io(format!("create spool file {}", path.display()), &err))?;
        if let Err(err) = std::fs::remove_file(&path) {
            log::warn!("could not unlink spool file {}: {err}", path.display());
        }
        Ok(Spool {
            storage: Storage::File(file),
            base: 0,
            len: 0,
            dirty: false,
        })
    }

    /// Move the content to disk before it grows to `end` bytes, when that is past `IN_MEMORY`.
    fn make_room(&mut self, end: u64) -> Result<(), FsError> {
        let Storage::Memory { data, spill_to } = &self.storage else {
            return Ok(());
        };
        if end <= IN_MEMORY {
            return Ok(());
        }
        let disk = Spool::on_disk(spill_to)?;
        let file = disk.file()?;
        file.write_all_at(data, 0)
            .map_err(|err| FsError::io("move spool file to disk", &err))?;
        self.storage = disk.storage;
        Ok(())
    }

    /// The file of a spool on disk.
    fn file(&self) -> Result<&File, FsError> {
        match &self.storage {
            Storage::File(file) => Ok(file),
            Storage::Memory { .. } => Err(FsError::new(libc::EIO, "spool is not on disk")),
        }
    }

    /// A spool holding the current remote content of `path` (empty when it does not exist).
    pub(crate) fn download(dir: &Path, remote: &dyn Remote, path: &Path) -> Result<Spool, FsError> {
        let mut spool = Spool::on_disk(dir)?;
        let context = || format!("download {} for local editing", path.display());
        let mut reader = match remote.open_read(path, 0) {
            Ok(reader) => status::track(reader, path, Direction::Download, 0, None),
            Err(err) if err.kind == RemoteErrorKind::NotFound => return Ok(spool),
            Err(err) => return Err(FsError::remote(context(), &err)),
        };
        let mut file = spool.file()?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| FsError::io(context(), &e))?;
        let copied = io::copy(&mut reader, &mut file)
            .map_err(|err| FsError::remote(context(), &RemoteError::from_io(err)))?;
        spool.len = copied;
        Ok(spool)
    }

    /// A spool over the data of a write-back spool entry (read only, uploaded by the same
    /// `upload` as every spool). Dirty: it is there to be uploaded.
    pub(crate) fn open_committed(data: &Location) -> Result<Spool, FsError> {
        let file = data.open().map_err(|err| {
            FsError::io(format!("open spool entry {}", data.path.display()), &err)
        })?;
        Ok(Spool {
            storage: Storage::File(file),
            base: data.offset,
            len: data.len,
            dirty: true,
        })
    }

    /// The whole content, read from the start (to copy it into the write-back spool).
    pub(crate) fn contents(&self) -> Result<Contents<'_>, FsError> {
        match &self.storage {
            Storage::Memory { data, .. } => Ok(Contents::Memory(data)),
            Storage::File(file) => {
                let mut file: &File = file;
                file.seek(SeekFrom::Start(self.base))
                    .map_err(|err| FsError::io("read spool file", &err))?;
                Ok(Contents::File(file.take(self.len)))
            }
        }
    }

    /// The content must reach the server again (a write-back upload that failed for good).
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The content is safe elsewhere (queued for upload by write-back mode).
    pub(crate) fn mark_clean(&mut self) {
        self.dirty = false;
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub(crate) fn read_at(&self, offset: u64, size: usize) -> Result<Vec<u8>, FsError> {
        let available = self.len.saturating_sub(offset).min(size as u64) as usize;
        if let Storage::Memory { data, .. } = &self.storage {
            let start = offset.min(self.len) as usize;
            return Ok(data[start..start + available].to_vec());
        }
        let mut data = vec![0u8; available];
        self.file()?
            .read_exact_at(&mut data, self.base + offset)
            .map_err(|err| FsError::io("read spool file", &err))?;
        Ok(data)
    }

    pub(crate) fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        let end = offset.saturating_add(data.len() as u64);
        self.make_room(end)?;
        match &mut self.storage {
            Storage::Memory { data: held, .. } => {
                // make_room moved anything past IN_MEMORY to disk: these fit in usize.
                let (start, end) = (offset as usize, end as usize);
                if held.len() < end {
                    held.resize(end, 0);
                }
                held[start..end].copy_from_slice(data);
            }
            Storage::File(file) => file
                .write_all_at(data, offset)
                .map_err(|err| FsError::io("write spool file", &err))?,
        }
        self.len = self.len.max(end);
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn set_len(&mut self, len: u64) -> Result<(), FsError> {
        self.make_room(len)?;
        match &mut self.storage {
            Storage::Memory { data, .. } => data.resize(len as usize, 0),
            Storage::File(file) => file
                .set_len(len)
                .map_err(|err| FsError::io("truncate spool file", &err))?,
        }
        self.len = len;
        self.dirty = true;
        Ok(())
    }

    /// Replace the remote file with the spool's content and wait for the server's verdict;
    /// `attrs` go with the rename of an atomic upload (`attrs.mode`: the replaced file's
    /// permissions when known). Returns how setting `attrs.mtime` went (`None`: not asked, or
    /// an upload in place), for the caller to report or retry (`FsCore::mtime_after_commit`).
    pub(crate) fn upload(
        &mut self,
        remote: &dyn Remote,
        target: UploadTarget,
        attrs: CommitAttrs,
    ) -> Result<Option<RemoteResult<()>>, FsError> {
        let path = target.final_path().to_path_buf();
        let mtime = match self.send(remote, &target) {
            Ok(()) => target.commit(remote, &path, attrs)?,
            Err(err) => {
                target.abandon(remote);
                return Err(err);
            }
        };
        self.dirty = false;
        Ok(mtime)
    }

    /// STOR the content to the target's upload path.
    fn send(&self, remote: &dyn Remote, target: &UploadTarget) -> Result<(), FsError> {
        let context = || format!("upload {}", target.final_path().display());
        let writer = remote
            .create(target.upload_path())
            .map_err(|err| FsError::remote(context(), &err))?;
        let mut writer: Box<dyn RemoteWriter> = status::track(
            writer,
            target.final_path(),
            Direction::Upload,
            0,
            Some(self.len),
        );
        let mut source = self.contents()?;
        let copied = io::copy(&mut source, &mut writer);
        let flushed = copied.and_then(|_| writer.flush());
        if let Err(err) = flushed {
            // The data did not all go out; still collect the reply, then report the failure.
            let _ = writer.finish();
            return Err(FsError::remote(context(), &RemoteError::from_io(err)));
        }
        writer
            .finish()
            .map_err(|err| FsError::remote(context(), &err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::faulty::TestRemote;

    #[test]
    fn download_edit_upload_round_trip() {
        let remote = TestRemote::new();
        remote.add_file("/f", b"hello world".to_vec());
        let dir = std::env::temp_dir();
        let mut spool = Spool::download(&dir, &remote, Path::new("/f")).unwrap();
        assert_eq!(spool.len(), 11);
        assert!(!spool.is_dirty());
        spool.write_at(6, b"WORLD!").unwrap();
        assert_eq!(spool.read_at(0, 100).unwrap(), b"hello WORLD!");
        spool.set_len(5).unwrap();
        spool
            .upload(
                &remote,
                UploadTarget::atomic(Path::new("/f")),
                CommitAttrs::default(),
            )
            .unwrap();
        assert_eq!(remote.file("/f").unwrap(), b"hello");
        assert!(!spool.is_dirty());
    }

    #[test]
    fn a_growing_spool_moves_from_memory_to_disk_with_its_content() {
        let on_disk = |spool: &Spool| matches!(spool.storage, Storage::File(_));
        let mut spool = Spool::create(&std::env::temp_dir());
        assert!(!on_disk(&spool), "a new spool starts in memory");
        spool.write_at(0, b"head").unwrap();
        spool.write_at(10, b"gap").unwrap();
        assert_eq!(spool.read_at(0, 100).unwrap(), b"head\0\0\0\0\0\0gap");
        spool.set_len(6).unwrap();
        assert_eq!(spool.read_at(2, 100).unwrap(), b"ad\0\0");
        assert_eq!(
            spool.read_at(7, 100).unwrap(),
            b"",
            "a read past the end is empty"
        );
        let far = IN_MEMORY + 10;
        spool.write_at(far, b"tail").unwrap();
        assert!(on_disk(&spool), "past the bound it is on disk");
        assert_eq!(spool.len(), far + 4);
        assert_eq!(spool.read_at(0, 6).unwrap(), b"head\0\0");
        assert_eq!(
            spool.read_at(6, 4).unwrap(),
            vec![0; 4],
            "the cut part stays cut"
        );
        assert_eq!(spool.read_at(far, 10).unwrap(), b"tail");
        let mut copy = Vec::new();
        spool.contents().unwrap().read_to_end(&mut copy).unwrap();
        assert_eq!((copy.len() as u64, &copy[..4]), (far + 4, &b"head"[..]));
        let mut small = Spool::create(&std::env::temp_dir());
        small.set_len(IN_MEMORY + 1).unwrap();
        assert!(on_disk(&small));
        assert_eq!(small.read_at(IN_MEMORY, 5).unwrap(), vec![0]);
    }

    #[test]
    fn missing_remote_file_gives_empty_spool() {
        let remote = TestRemote::new();
        let spool = Spool::download(&std::env::temp_dir(), &remote, Path::new("/nope")).unwrap();
        assert!(spool.is_empty());
    }

    #[test]
    fn failed_upload_keeps_the_spool_dirty() {
        let remote = TestRemote::new();
        let mut spool = Spool::create(&std::env::temp_dir());
        spool.write_at(0, b"x").unwrap();
        remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
        let err = spool
            .upload(
                &remote,
                UploadTarget::atomic(Path::new("/f")),
                CommitAttrs::default(),
            )
            .unwrap_err();
        assert_eq!(err.errno, libc::ENOSPC);
        assert!(spool.is_dirty());
    }
}
