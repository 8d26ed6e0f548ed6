//! File data operations: open/create, read, write, flush/fsync/release.
//!
//! How a handle's writes reach the server (see `write` and `spool` for the why):
//! - O_TRUNC opens and new files start a STOR right away (so refusals show at open) and
//!   sequential writes stream into it;
//! - O_APPEND, and writes continuing exactly at the end of the file (also after an fsync or
//!   flush finished the first upload) stream into APPE;
//! - anything else (a write elsewhere, ftruncate to a non-zero size) moves the handle to a spool
//!   file holding the whole content, uploaded with STOR on flush/close;
//! - a read on a handle with an upload in flight first finishes that upload (like fsync), so the
//!   reader sees what was written.
//!
//! flush, fsync and release all "settle" the handle: finish the upload and report its error.
//!
//! `O_RDONLY|O_TRUNC` empties the server's copy at open (we ask for FUSE_ATOMIC_O_TRUNC, so the
//! kernel sends no separate truncate). Handles the kernel opens to execute a file are counted
//! (`exec`): such an open of a running program gets ETXTBSY here, before anything is truncated.

use std::ffi::OsStr;

use parking_lot::Mutex;

use super::exec;
use super::handle::{Handle, OpenFile, WriteState};
use super::read::{ReadStream, ReadTarget};
use super::spool::Spool;
use super::write::UploadKind;
use super::{Attr, FsCore, FsError, names};
use crate::cache::{CachedLookup, FileVersion, ReadData};
use crate::remote::{Entry, EntryKind};

impl FsCore {
    /// Open an existing file. `flags` are open(2) flags (O_ACCMODE, O_TRUNC, O_APPEND...).
    pub fn open(&self, ino: u64, flags: i32) -> Result<u64, FsError> {
        let path = self.path_of(ino)?;
        // Write-back: a reader sees the pending data at once; anything else waits for it.
        let read_only = flags & (libc::O_ACCMODE | libc::O_TRUNC) == libc::O_RDONLY;
        let pending = read_only.then(|| self.pending_contents(&path)).flatten();
        if pending.is_none() {
            self.wait_pending(&path)?;
        }
        let entry = self
            .find_entry(&path)?
            .ok_or_else(|| FsError::not_found(path.display()))?;
        if entry.kind == EntryKind::Dir {
            return Err(FsError::new(
                libc::EISDIR,
                format!("{} is a directory", path.display()),
            ));
        }
        let writable = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let truncate = flags & libc::O_TRUNC != 0;
        if !writable && truncate && self.namespace.is_executing(ino) {
            // The kernel would truncate its cached copy on our reply and only then refuse (see
            // `exec`): refuse first, as it does for O_WRONLY.
            return Err(FsError::new(
                libc::ETXTBSY,
                format!("{} is being executed", path.display()),
            ));
        }
        if writable || truncate {
            self.check_writable()?;
        }
        if truncate && !writable {
            // We ask for FUSE_ATOMIC_O_TRUNC, so the kernel sends no truncate of its own and
            // shows size 0 on our reply: the server's copy is emptied now, one STOR of nothing.
            self.truncate(&path, None, 0)?;
        }
        let append = writable && flags & libc::O_APPEND != 0;
        let size = if truncate { 0 } else { entry.size.unwrap_or(0) };
        let write = if truncate && writable {
            match self.writeback_spool()? {
                Some(spool) => WriteState::Spooled(spool),
                None => {
                    WriteState::Streaming(self.start_upload(None, &path, UploadKind::Replace, 0)?)
                }
            }
        } else if let Some(spool) = pending {
            WriteState::Spooled(spool)
        } else {
            WriteState::Clean { size }
        };
        let spooled = matches!(write, WriteState::Spooled(_));
        let progress = writable.then(|| self.namespace.writer_opened(&path, size));
        if truncate && writable {
            self.namespace.written(&path, 0);
        }
        let version = match (truncate || spooled, entry.mtime) {
            (false, Some(mtime)) => Some(FileVersion {
                path: path.clone(),
                size: entry.size,
                mtime,
            }),
            _ => None,
        };
        let exec = flags & exec::FMODE_EXEC != 0;
        let fh = self.handles.insert(Handle::File(Mutex::new(OpenFile {
            ino,
            path,
            writable,
            exec,
            append,
            version,
            reader: ReadStream::new(),
            write,
            progress,
            fresh: false,
        })));
        if exec {
            self.namespace.exec_opened(ino);
        }
        Ok(fh)
    }

    /// Create and open a file (O_EXCL: fail with EEXIST when it exists). The upload starts now,
    /// so the file exists on the server at once and refusals are reported here.
    pub fn create(&self, parent: u64, name: &OsStr, flags: i32) -> Result<(Attr, u64), FsError> {
        self.check_writable()?;
        let parent_path = self.path_of(parent)?;
        let path = names::child_path(&parent_path, name)?;
        if flags & libc::O_EXCL != 0 && self.find_entry(&path)?.is_some() {
            return Err(FsError::new(
                libc::EEXIST,
                format!("{} exists", path.display()),
            ));
        }
        let (write, fresh) = match self.writeback_spool()? {
            // Fresh: a listing we trust says the server has no such name.
            Some(spool) => {
                let absent = self.namespace.cached(&parent_path, name) == CachedLookup::Absent;
                (WriteState::Spooled(spool), absent)
            }
            None => {
                let upload = self.start_upload(None, &path, UploadKind::Replace, 0)?;
                (WriteState::Streaming(upload), false)
            }
        };
        let entry = self.namespace.created_file(&parent_path, name, &path);
        let progress = self.namespace.writer_opened(&path, 0);
        progress.set_size(0);
        let ino = self.namespace.lookup_ino(&path);
        let fh = self.handles.insert(Handle::File(Mutex::new(OpenFile {
            ino,
            path,
            writable: true,
            exec: false,
            append: flags & libc::O_APPEND != 0,
            version: None,
            reader: ReadStream::new(),
            write,
            progress: Some(progress),
            fresh,
        })));
        Ok((self.attr(ino, &entry), fh))
    }

    /// mknod: only regular files (uploaded empty); counts one lookup.
    pub fn mknod(&self, parent: u64, name: &OsStr, mode: u32) -> Result<Attr, FsError> {
        self.check_writable()?;
        if mode & libc::S_IFMT != libc::S_IFREG {
            return Err(FsError::new(
                libc::EPERM,
                "only regular files can be created over FTP",
            ));
        }
        let parent_path = self.path_of(parent)?;
        let path = names::child_path(&parent_path, name)?;
        if self.find_entry(&path)?.is_some() {
            return Err(FsError::new(
                libc::EEXIST,
                format!("{} exists", path.display()),
            ));
        }
        let upload = self.start_upload(None, &path, UploadKind::Replace, 0)?;
        self.finish_upload(upload, &path, None)?;
        let entry = self.namespace.created_file(&parent_path, name, &path);
        let ino = self.namespace.lookup_ino(&path);
        Ok(self.attr(ino, &entry))
    }

    fn with_file<T>(
        &self,
        fh: u64,
        action: impl FnOnce(&mut OpenFile) -> Result<T, FsError>,
    ) -> Result<T, FsError> {
        let handle = self.handles.get(fh)?;
        let Handle::File(file) = &*handle else {
            return Err(FsError::new(
                libc::EISDIR,
                "file operation on a directory handle",
            ));
        };
        let mut file = file.lock();
        if let Some(path) = self.namespace.path(file.ino) {
            file.path = path;
        }
        action(&mut file)
    }

    /// Read up to `size` bytes at `offset`; fewer only at end of file.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<ReadData, FsError> {
        self.with_file(fh, |file| {
            if let WriteState::Spooled(spool) = &file.write {
                return spool.read_at(offset, size as usize).map(ReadData::from);
            }
            if matches!(file.write, WriteState::Streaming(_)) {
                self.settle(file)?;
            }
            let OpenFile {
                path,
                version,
                reader,
                ..
            } = file;
            let target = ReadTarget {
                remote: &*self.remote,
                path,
                version: version.as_ref(),
                chunks: self.namespace.chunks(),
            };
            reader.read(&target, offset, size as usize)
        })
    }

    /// Write `data` at `offset`; returns once the bytes are queued (streaming) or spooled.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, FsError> {
        self.check_writable()?;
        let written = u32::try_from(data.len())
            .map_err(|_| FsError::new(libc::EINVAL, "write larger than 4 GiB"))?;
        self.with_file(fh, |file| {
            if !file.writable {
                return Err(FsError::new(libc::EBADF, "handle not open for writing"));
            }
            if file.version.take().is_some() {
                self.namespace.data_changing(&file.path);
            }
            let end = self.write_to(file, offset, data)?;
            if let Some(progress) = &file.progress {
                progress.grow_to(end);
            }
            Ok(written)
        })
    }

    /// Route one write; returns the file offset just after it.
    fn write_to(&self, file: &mut OpenFile, offset: u64, data: &[u8]) -> Result<u64, FsError> {
        match &mut file.write {
            WriteState::Failed(err) => return Err(err.clone()),
            WriteState::Streaming(upload) if file.append || offset == upload.end() => {
                return match upload.push(data) {
                    Ok(()) => Ok(upload.end()),
                    Err(err) => Err(self.fail(file, err)),
                };
            }
            WriteState::Spooled(spool) => {
                spool.write_at(offset, data)?;
                return Ok(offset + data.len() as u64);
            }
            WriteState::Clean { size } if file.append || offset == *size => {
                let size = *size;
                let kind = if size == 0 {
                    UploadKind::Replace
                } else {
                    if !file.append {
                        self.verify_remote_size(file, size)?;
                    }
                    UploadKind::Append
                };
                file.drop_download();
                let mut upload = self.start_upload(Some(file), &file.path, kind, size)?;
                let pushed = upload.push(data);
                let end = upload.end();
                file.write = WriteState::Streaming(upload);
                return match pushed {
                    Ok(()) => Ok(end),
                    Err(err) => Err(self.fail(file, err)),
                };
            }
            WriteState::Streaming(_) | WriteState::Clean { .. } => {}
        }
        log::debug!(
            "write at {offset} in {} is not sequential: spooling",
            file.path.display()
        );
        let spool = self.spool(file)?;
        spool.write_at(offset, data)?;
        Ok(offset + data.len() as u64)
    }

    /// Before appending where we think the file ends, make sure the server agrees (an upload
    /// that lost bytes must not be silently continued).
    fn verify_remote_size(&self, file: &OpenFile, expected: u64) -> Result<(), FsError> {
        match self.remote.stat(&file.path) {
            Ok(Entry {
                size: Some(actual), ..
            }) if actual != expected => Err(FsError::new(
                libc::EIO,
                format!(
                    "{} has {actual} bytes on the server, expected {expected}: not appending",
                    file.path.display()
                ),
            )),
            Ok(_) => Ok(()),
            Err(err) => Err(FsError::remote(
                format!("check size of {}", file.path.display()),
                &err,
            )),
        }
    }

    /// Switch the handle to a spool holding the file's current content.
    pub(super) fn spool<'f>(&self, file: &'f mut OpenFile) -> Result<&'f mut Spool, FsError> {
        if !matches!(file.write, WriteState::Spooled(_)) {
            if let WriteState::Failed(err) = &file.write {
                return Err(err.clone());
            }
            self.settle(file)?;
            file.drop_download();
            let spool = Spool::download(&self.config.spool_dir, &*self.remote, &file.path)?;
            file.write = WriteState::Spooled(spool);
        }
        match &mut file.write {
            WriteState::Spooled(spool) => Ok(spool),
            _ => Err(FsError::new(libc::EIO, "spool vanished")),
        }
    }

    /// Mark the handle failed (sticky) and return the error; an upload still in the handle is
    /// ended and its temporary file deleted.
    fn fail(&self, file: &mut OpenFile, err: FsError) -> FsError {
        log::warn!("upload of {} failed: {err}", file.path.display());
        let old = std::mem::replace(&mut file.write, WriteState::Failed(err.clone()));
        if let WriteState::Streaming(upload) = old {
            upload.abort(&*self.remote);
        }
        err
    }

    /// Get everything written through this handle onto the server and report the outcome.
    pub(super) fn settle(&self, file: &mut OpenFile) -> Result<(), FsError> {
        let state = std::mem::replace(&mut file.write, WriteState::Clean { size: 0 });
        let outcome = match state {
            WriteState::Clean { size } => {
                file.write = WriteState::Clean { size };
                None
            }
            WriteState::Failed(err) => {
                file.write = WriteState::Failed(err.clone());
                return Err(err);
            }
            // finish_upload reports the new size and time itself.
            WriteState::Streaming(upload) => {
                match self.finish_upload(upload, &file.path, file.progress.as_deref()) {
                    Ok(size) => {
                        file.write = WriteState::Clean { size };
                        None
                    }
                    Err(err) => return Err(self.fail(file, err)),
                }
            }
            WriteState::Spooled(mut spool) => {
                let uploaded = match spool.is_dirty().then(|| self.write_back(file, &mut spool)) {
                    None => Ok(None),
                    Some(Ok(true)) => {
                        file.write = WriteState::Spooled(spool);
                        return Ok(()); // queued; a pending mtime went with it
                    }
                    Some(Ok(false)) => {
                        let path = file.path.clone();
                        self.upload_spool(Some(file), &mut spool, &path)
                            .map(|()| Some(spool.len()))
                    }
                    Some(Err(err)) => Err(err),
                };
                file.write = WriteState::Spooled(spool);
                uploaded?
            }
        };
        if let Some(size) = outcome {
            self.namespace.written(&file.path, size);
        }
        if let Some(progress) = &file.progress
            && let Some(mtime) = progress.take_pending_mtime()
        {
            self.apply_mtime(&file.path, mtime)?;
        }
        Ok(())
    }

    /// close(2) of one descriptor: finish the upload and report its failure (in write-back
    /// mode: queue it, and report a failed upload of this path still in the spool).
    pub fn flush(&self, fh: u64) -> Result<(), FsError> {
        let path = self.with_file(fh, |file| self.settle(file).map(|()| file.path.clone()))?;
        self.pending_failure(&path)
    }

    /// fsync: finish the current upload; later sequential writes continue with APPE. In
    /// write-back mode, wait for the path's upload (no handle lock held meanwhile).
    pub fn fsync(&self, fh: u64) -> Result<(), FsError> {
        let path = self.with_file(fh, |file| self.settle(file).map(|()| file.path.clone()))?;
        self.wait_uploaded(&path)
    }

    /// Last close: settle, then forget the handle. A failure here cannot reach the application
    /// any more (the kernel ignores release errors), so it is logged as an error.
    pub fn release(&self, fh: u64) -> Result<(), FsError> {
        let handle = self.handles.remove(fh)?;
        let Handle::File(file) = &*handle else {
            return Ok(());
        };
        let mut file = file.lock();
        if file.exec {
            self.namespace.exec_released(file.ino);
        }
        if let Some(path) = self.namespace.path(file.ino) {
            file.path = path;
        }
        let mut result = self.settle(&mut file);
        if let Err(err) = &result {
            log::error!("{} was not saved on close: {err}", file.path.display());
        }
        if file.progress.take().is_some()
            && let Some(mtime) = self.namespace.writer_closed(&file.path)
            && result.is_ok()
        {
            // utimens arrived after settle looked for it (RELEASE is asynchronous).
            result = self
                .wait_pending(&file.path)
                .and_then(|()| self.apply_mtime(&file.path, mtime));
        }
        let (ino, path) = (file.ino, file.path.clone());
        drop(file);
        self.delete_hidden_if_last(ino, &path);
        result
    }
}
