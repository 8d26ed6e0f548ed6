//! Spool files: local copies for writes FTP cannot stream.
//!
//! FTP can only replace a file (STOR) or append to it (APPE). Writes at arbitrary offsets,
//! read-modify-write through O_RDWR and truncation to a non-zero size therefore work on a local
//! copy in `FsConfig::spool_dir`, uploaded whole on flush/close (to a temporary name renamed into
//! place, like every replacing upload: see `upload_target`). The copy is unlinked right after
//! creation, so a crash leaves nothing behind in the spool directory.
//!
//! A new, empty spool (`create`: every created file in write-back mode) starts in memory (a
//! memfd) and moves to a file in the spool directory once it outgrows `IN_MEMORY`. Why: a
//! create+unlink of a disk file per small file was a sixth of ftpfs' CPU time in `tar -x` of
//! 1,000 small files (ext4's inode allocator skips recently deleted inodes one by one), and the
//! bound keeps the memory of many open handles small.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::FromRawFd;
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
    file: File,
    /// Where the content starts in `file` (not 0 only for a write-back journal entry, which
    /// is read, never written).
    base: u64,
    len: u64,
    /// Changed since the last upload.
    dirty: bool,
    /// The spool directory while the content is still in memory (None: on disk).
    spill_to: Option<PathBuf>,
}

impl Spool {
    /// An empty spool: in memory, moving to `dir` when it grows past `IN_MEMORY` (on disk at
    /// once where memfd is missing).
    pub(crate) fn create(dir: &Path) -> Result<Spool, FsError> {
        // SAFETY: a NUL-terminated name and flags; the result is checked before use.
        let fd = unsafe { libc::memfd_create(c"ftpfs-spool".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Spool::on_disk(dir);
        }
        Ok(Spool {
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            file: unsafe { File::from_raw_fd(fd) },
            base: 0,
            len: 0,
            dirty: false,
            spill_to: Some(dir.to_path_buf()),
        })
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
            file,
            base: 0,
            len: 0,
            dirty: false,
            spill_to: None,
        })
    }

    /// Move the content to disk before it grows to `end` bytes, when that is past `IN_MEMORY`.
    fn make_room(&mut self, end: u64) -> Result<(), FsError> {
        let Some(dir) = self.spill_to.as_ref().filter(|_| end > IN_MEMORY) else {
            return Ok(());
        };
        let mut disk = Spool::on_disk(dir)?;
        let copied = io::copy(&mut self.contents()?, &mut disk.file)
            .map_err(|err| FsError::io("move spool file to disk", &err))?;
        if copied != self.len {
            return Err(FsError::new(
                libc::EIO,
                "spool file shrank while moved to disk",
            ));
        }
        self.file = disk.file;
        self.spill_to = None;
        Ok(())
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
        spool
            .file
            .seek(SeekFrom::Start(0))
            .map_err(|e| FsError::io(context(), &e))?;
        let copied = io::copy(&mut reader, &mut spool.file)
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
            file,
            base: data.offset,
            len: data.len,
            dirty: true,
            spill_to: None,
        })
    }

    /// The whole content, read from the start (to copy it into the write-back spool).
    pub(crate) fn contents(&self) -> Result<impl Read + '_, FsError> {
        (&self.file)
            .seek(SeekFrom::Start(self.base))
            .map_err(|err| FsError::io("read spool file", &err))?;
        Ok((&self.file).take(self.len))
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
        let mut data = vec![0u8; available];
        self.file
            .read_exact_at(&mut data, self.base + offset)
            .map_err(|err| FsError::io("read spool file", &err))?;
        Ok(data)
    }

    pub(crate) fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        self.make_room(offset.saturating_add(data.len() as u64))?;
        self.file
            .write_all_at(data, offset)
            .map_err(|err| FsError::io("write spool file", &err))?;
        self.len = self.len.max(offset + data.len() as u64);
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn set_len(&mut self, len: u64) -> Result<(), FsError> {
        self.make_room(len)?;
        self.file
            .set_len(len)
            .map_err(|err| FsError::io("truncate spool file", &err))?;
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
        let mut source = (&self.file).take(self.len);
        (&self.file)
            .seek(SeekFrom::Start(self.base))
            .map_err(|e| FsError::io(context(), &e))?;
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
        let mut spool = Spool::create(&std::env::temp_dir()).unwrap();
        assert!(spool.spill_to.is_some(), "a new spool starts in memory");
        spool.write_at(0, b"head").unwrap();
        let far = IN_MEMORY + 10;
        spool.write_at(far, b"tail").unwrap();
        assert!(spool.spill_to.is_none(), "past the bound it is on disk");
        assert_eq!(spool.len(), far + 4);
        assert_eq!(spool.read_at(0, 4).unwrap(), b"head");
        assert_eq!(spool.read_at(far, 10).unwrap(), b"tail");
        let mut small = Spool::create(&std::env::temp_dir()).unwrap();
        small.set_len(IN_MEMORY + 1).unwrap();
        assert!(small.spill_to.is_none());
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
        let mut spool = Spool::create(&std::env::temp_dir()).unwrap();
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
