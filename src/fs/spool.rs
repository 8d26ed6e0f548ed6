//! Spool files: local copies for writes FTP cannot stream.
//!
//! FTP can only replace a file (STOR) or append to it (APPE). Writes at arbitrary offsets,
//! read-modify-write through O_RDWR and truncation to a non-zero size therefore work on a local
//! copy in `FsConfig::spool_dir`, uploaded whole on flush/close (to a temporary name renamed into
//! place, like every replacing upload: see `upload_target`). The copy is unlinked right after
//! creation, so a crash leaves nothing behind in the spool directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::FsError;
use super::upload_target::UploadTarget;
use crate::remote::{CommitAttrs, Remote, RemoteError, RemoteErrorKind, RemoteWriter};
use crate::status::{self, Direction};

static SPOOL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A local, anonymous copy of one remote file.
#[derive(Debug)]
pub(crate) struct Spool {
    file: File,
    len: u64,
    /// Changed since the last upload.
    dirty: bool,
}

impl Spool {
    /// An empty spool in `dir`.
    pub(crate) fn create(dir: &Path) -> Result<Spool, FsError> {
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
            len: 0,
            dirty: false,
        })
    }

    /// A spool holding the current remote content of `path` (empty when it does not exist).
    pub(crate) fn download(dir: &Path, remote: &dyn Remote, path: &Path) -> Result<Spool, FsError> {
        let mut spool = Spool::create(dir)?;
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

    /// A spool over the finished local file `path` of `len` bytes (a write-back spool entry,
    /// uploaded by the same `upload` as every spool). Dirty: it is there to be uploaded.
    pub(crate) fn open_committed(path: &Path, len: u64) -> Result<Spool, FsError> {
        let file = File::open(path)
            .map_err(|err| FsError::io(format!("open spool entry {}", path.display()), &err))?;
        Ok(Spool {
            file,
            len,
            dirty: true,
        })
    }

    /// The whole content, read from the start (to copy it into the write-back spool).
    pub(crate) fn contents(&self) -> Result<impl Read + '_, FsError> {
        (&self.file)
            .seek(SeekFrom::Start(0))
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
            .read_exact_at(&mut data, offset)
            .map_err(|err| FsError::io("read spool file", &err))?;
        Ok(data)
    }

    pub(crate) fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        self.file
            .write_all_at(data, offset)
            .map_err(|err| FsError::io("write spool file", &err))?;
        self.len = self.len.max(offset + data.len() as u64);
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn set_len(&mut self, len: u64) -> Result<(), FsError> {
        self.file
            .set_len(len)
            .map_err(|err| FsError::io("truncate spool file", &err))?;
        self.len = len;
        self.dirty = true;
        Ok(())
    }

    /// Replace the remote file with the spool's content and wait for the server's verdict;
    /// `mode` is the replaced file's permissions when known (kept by an atomic upload).
    pub(crate) fn upload(
        &mut self,
        remote: &dyn Remote,
        target: UploadTarget,
        mode: Option<u32>,
    ) -> Result<(), FsError> {
        let path = target.final_path().to_path_buf();
        match self.send(remote, &target) {
            Ok(()) => {
                let attrs = CommitAttrs { mode, mtime: None };
                target.commit(remote, &path, attrs)?;
            }
            Err(err) => {
                target.abandon(remote);
                return Err(err);
            }
        }
        self.dirty = false;
        Ok(())
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
            .seek(SeekFrom::Start(0))
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
            .upload(&remote, UploadTarget::atomic(Path::new("/f")), None)
            .unwrap();
        assert_eq!(remote.file("/f").unwrap(), b"hello");
        assert!(!spool.is_dirty());
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
            .upload(&remote, UploadTarget::atomic(Path::new("/f")), None)
            .unwrap_err();
        assert_eq!(err.errno, libc::ENOSPC);
        assert!(spool.is_dirty());
    }
}
