//! setattr: truncate, chmod, chown, utimens.

use std::path::Path;
use std::time::SystemTime;

use super::handle::{Handle, WriteState};
use super::spool::Spool;
use super::write::UploadKind;
use super::{Attr, Filesystem, FsError, warn_once};
use crate::remote::RemoteErrorKind;

/// The attribute changes of one setattr call (`None`: leave as is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetAttrRequest {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub mtime: Option<SystemTime>,
}

impl Filesystem {
    /// Apply `changes` to `ino` (through open handle `fh` when the kernel names one).
    pub fn setattr(
        &self,
        ino: u64,
        fh: Option<u64>,
        changes: &SetAttrRequest,
    ) -> Result<Attr, FsError> {
        let path = self.path_of(ino)?;
        if changes != &SetAttrRequest::default() {
            self.check_writable()?;
        }
        let foreign_owner = changes.uid.is_some_and(|uid| uid != self.config.uid)
            || changes.gid.is_some_and(|gid| gid != self.config.gid);
        if foreign_owner {
            return Err(FsError::new(
                libc::EPERM,
                "FTP files cannot change owner or group",
            ));
        }
        if let Some(size) = changes.size {
            self.truncate(&path, fh, size)?;
        }
        if let Some(mode) = changes.mode {
            // While the new content goes to a temporary name (fchmod between create and close:
            // tar, rsync's mkstemp), the mode is given to that file before it takes the name.
            let deferred = self.atomic_upload_in_flight(ino)
                && self.namespace.defer_mode(&path, mode & 0o7777);
            if !deferred {
                self.chmod(&path, mode)?;
            }
        }
        if let Some(mtime) = changes.mtime {
            // Deferred only while an upload is unfinished: its end would overwrite the time.
            // Otherwise (the usual cp -p/rsync/tar order: write, close, utimens, rename) it is
            // applied now, before the application renames the file: a deferred time applied
            // by the asynchronous RELEASE would race that rename and hit the old name.
            let deferred = self.upload_in_flight(ino) && self.namespace.defer_mtime(&path, mtime);
            if !deferred {
                self.apply_mtime(&path, mtime)?;
            }
        }
        self.getattr(ino)
    }

    /// Whether a handle of `ino` holds written data the server does not have yet. Takes each
    /// file handle's mutex in turn (lock order level 1, nothing else held).
    fn upload_in_flight(&self, ino: u64) -> bool {
        self.handles.all().iter().any(|handle| match &**handle {
            Handle::File(file) => {
                let file = file.lock();
                file.ino == ino
                    && match &file.write {
                        WriteState::Streaming(_) => true,
                        WriteState::Spooled(spool) => spool.is_dirty(),
                        WriteState::Clean { .. } | WriteState::Failed(_) => false,
                    }
            }
            _ => false,
        })
    }

    fn chmod(&self, path: &Path, mode: u32) -> Result<(), FsError> {
        match self.remote.chmod(path, mode & 0o7777) {
            Ok(()) => {
                self.namespace.mode_set(path, mode & 0o7777);
                Ok(())
            }
            Err(err) if err.kind == RemoteErrorKind::Unsupported => {
                warn_once(
                    &self.warned.chmod_unsupported,
                    &format!("the server cannot change permissions ({err}); ignoring chmod"),
                );
                Ok(())
            }
            Err(err) => Err(FsError::remote(format!("chmod {}", path.display()), &err)),
        }
    }

    fn truncate(&self, path: &Path, fh: Option<u64>, size: u64) -> Result<(), FsError> {
        if let Some(fh) = fh
            && let Ok(handle) = self.handles.get(fh)
            && let Handle::File(file) = &*handle
        {
            let mut file = file.lock();
            if file.writable {
                return self.truncate_handle(&mut file, size);
            }
        }
        self.namespace.data_changing(path);
        if size == 0 {
            let upload = self.start_upload(None, path, UploadKind::Replace, 0)?;
            self.finish_upload(upload, path)?;
        } else {
            let mut spool = Spool::download(&self.config.spool_dir, &*self.remote, path)?;
            if spool.len() == size {
                return Ok(());
            }
            spool.set_len(size)?;
            self.upload_spool(None, &mut spool, path)?;
        }
        self.namespace.written(path, size);
        Ok(())
    }

    /// ftruncate on a handle we write through.
    fn truncate_handle(
        &self,
        file: &mut super::handle::OpenFile,
        size: u64,
    ) -> Result<(), FsError> {
        let current = match &file.write {
            WriteState::Clean { size } => Some(*size),
            WriteState::Streaming(upload) => Some(upload.end()),
            WriteState::Spooled(spool) => Some(spool.len()),
            WriteState::Failed(err) => return Err(err.clone()),
        };
        if current == Some(size) {
            return Ok(());
        }
        file.version = None;
        self.namespace.data_changing(&file.path);
        if size == 0 && !matches!(file.write, WriteState::Spooled(_)) {
            // Start over with a fresh STOR: cheaper than a spool.
            self.settle(file)?;
            file.drop_download();
            let upload = self.start_upload(Some(file), &file.path, UploadKind::Replace, 0)?;
            file.write = WriteState::Streaming(upload);
        } else {
            self.spool(file)?.set_len(size)?;
        }
        if let Some(progress) = &file.progress {
            progress.set_size(size);
        }
        Ok(())
    }
}
