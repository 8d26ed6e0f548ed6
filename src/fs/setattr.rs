//! setattr: truncate, chmod, chown, utimens; and the mode a new file or directory asks for.
//!
//! Times: the mtime goes to the server (MFMT / MDTM); the atime cannot (FTP has no command for
//! it) and is remembered in `attr::LocalTimes`, as is the time of each change made here, which
//! is what ctime shows.
//!
//! Create modes: open(O_CREAT)/mkdir ask for `mode & ~umask`; the server gives its own default.
//! We send SITE CHMOD only when the two differ (each command is a round trip at WAN). A new
//! file's mode travels with its atomic upload: it is set on the temporary file once the data is
//! there, just before the rename, so even a mode without the owner's write bit (0444, 0100)
//! arrives. The one exception is the in-place upload (`-o inplace`): such a mode would lock
//! the server's user out of the upload that has just begun, so it is not sent. Known edge: a
//! file created without the owner's write bit, fsync'd and then written again appends with
//! APPE to a file the server now refuses to write (EACCES), as a local non-root user would be
//! refused on reopening it. A later explicit chmod is always sent.

use std::path::Path;
use std::time::SystemTime;

use super::handle::{Handle, WriteState};
use super::spool::Spool;
use super::write::UploadKind;
use super::{Attr, FsCore, FsError, warn_once};
use crate::remote::{EntryKind, RemoteErrorKind};

/// The attribute changes of one setattr call (`None`: leave as is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetAttrRequest {
    /// New permission bits (chmod, 0o7777 mask); ignored with one warning when the server
    /// cannot change permissions.
    pub mode: Option<u32>,
    /// New owner (chown): only the shown owner itself is accepted, any other is EPERM.
    pub uid: Option<u32>,
    /// New group (chgrp): only the shown group itself is accepted, any other is EPERM.
    pub gid: Option<u32>,
    /// New length in bytes (truncate): the file is uploaded again at that length (through the
    /// handle's upload when `fh` is open for writing).
    pub size: Option<u64>,
    /// Remembered only (`attr::LocalTimes`): FTP cannot store it.
    pub atime: Option<SystemTime>,
    /// New modification time (utimensat), stored on the server in whole seconds.
    pub mtime: Option<SystemTime>,
    /// The set-user-ID bit (and the set-group-ID bit of a group-executable file) of a regular
    /// file must go with this change, as the kernel clears them on chown, and on truncate and
    /// write by an unprivileged caller. The mount leaves that to us (`FUSE_HANDLE_KILLPRIV`):
    /// otherwise the kernel asks GETATTR first on every chown, a round trip per file that
    /// `tar -x` as root restores ownership of.
    pub drop_privileges: bool,
}

impl FsCore {
    /// Apply `changes` to `ino` (through open handle `fh` when the kernel names one).
    pub fn setattr(
        &self,
        ino: u64,
        fh: Option<u64>,
        changes: &SetAttrRequest,
    ) -> Result<Attr, FsError> {
        let privileges_dropped;
        let changes = if changes.drop_privileges {
            privileges_dropped = self.privileges_dropped(ino, changes)?;
            &privileges_dropped
        } else {
            changes
        };
        let path = self.path_of(ino)?;
        let mut recorded = false;
        if changes != &SetAttrRequest::default() {
            self.check_writable()?;
            // Write-back mode: a chmod/utimens of a queued file goes with its upload; anything
            // else waits for the upload, so the server ends in the order the program saw. A
            // chown to the shown owner and group (tar and rsync -a as root) changes nothing.
            let mut acting = changes.clone();
            acting.uid = acting.uid.filter(|&uid| uid != self.config.uid);
            acting.gid = acting.gid.filter(|&gid| gid != self.config.gid);
            recorded = self.defer_dir_attributes(&path, &acting)
                || self.record_pending_attributes(&path, &acting)?;
            let only_owner = acting == SetAttrRequest::default();
            if !recorded && !only_owner {
                self.wait_pending(&path)?;
            }
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
        if let Some(mode) = changes.mode.filter(|_| !recorded) {
            // While the new content goes to a temporary name (fchmod between create and close:
            // tar, rsync's mkstemp), the mode is given to that file before it takes the name.
            // In write-back mode likewise while a handle holds unqueued data: the file may not
            // exist on the server yet; the mode goes with its upload.
            let writeback = self.writeback.get().is_some();
            let deferred = self.atomic_upload_in_flight(ino, writeback)
                && self.namespace.defer_mode(&path, mode & 0o7777);
            if !deferred {
                self.chmod(&path, mode)?;
            }
        }
        if let Some(mtime) = changes.mtime.filter(|_| !recorded) {
            // Deferred only while an upload is unfinished: its end would overwrite the time.
            // Otherwise (the usual cp -p/rsync/tar order: write, close, utimens, rename) it is
            // applied now, before the application renames the file: a deferred time applied
            // by the asynchronous RELEASE would race that rename and hit the old name.
            let deferred = self.upload_in_flight(ino) && self.namespace.defer_mtime(&path, mtime);
            if !deferred {
                self.apply_mtime(&path, mtime)?;
            }
        }
        if let Some(atime) = changes.atime {
            self.namespace.atime_set(ino, atime);
        }
        let changed = changes.mode.is_some()
            || changes.size.is_some()
            || changes.mtime.is_some()
            || changes.atime.is_some();
        if changed {
            self.namespace.attributes_changed(ino, SystemTime::now());
        }
        self.getattr(ino)
    }

    /// `changes` without `drop_privileges`, and with the mode that clears what it asks to drop
    /// (unless they set a mode themselves): S_ISUID, and S_ISGID when the group may execute
    /// (without group execute it marks mandatory locking, which the kernel keeps too).
    fn privileges_dropped(
        &self,
        ino: u64,
        changes: &SetAttrRequest,
    ) -> Result<SetAttrRequest, FsError> {
        let mut plain = SetAttrRequest {
            drop_privileges: false,
            ..changes.clone()
        };
        if plain.mode.is_none() {
            let attr = self.getattr(ino)?;
            let perm = u32::from(attr.perm);
            let mut drop = perm & libc::S_ISUID;
            if perm & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP {
                drop |= libc::S_ISGID;
            }
            if attr.kind == EntryKind::File && drop != 0 {
                plain.mode = Some(perm & !drop);
            }
        }
        Ok(plain)
    }

    /// A file or directory was just created as `attr` (the server's default mode); the caller
    /// asked for `mode` under `umask`. A new file's mode goes with its upload (set on the
    /// temporary file once all data is there, before the rename), so any mode works, 0100
    /// included; an in-place upload (`-o inplace`) cannot take a mode without the owner's
    /// write bit before its data (the server's user could not write it), so that one is not
    /// sent. Anything else gets SITE CHMOD when it differs from the server's default. A failed
    /// chmod is logged and the server's mode kept: the entry exists, failing its creation now
    /// would lose the handle; stat shows the true mode.
    pub fn apply_create_mode(&self, attr: Attr, mode: u32, umask: u32) -> Attr {
        let wanted = mode & !umask & 0o7777;
        if u32::from(attr.perm) == wanted || self.config.read_only {
            return attr;
        }
        let result = self
            .path_of(attr.ino)
            .and_then(|path| {
                // A new file is only a temporary upload (or, in write-back mode, a spool) yet:
                // the real name does not exist, so the mode goes with the upload's rename.
                let deferred = self.atomic_upload_in_flight(attr.ino, true)
                    && self.namespace.defer_mode(&path, wanted);
                let locks_out_upload = attr.kind == EntryKind::File && wanted & 0o200 == 0;
                if deferred || locks_out_upload {
                    Ok(())
                } else {
                    self.chmod(&path, wanted)
                }
            })
            .and_then(|()| self.getattr(attr.ino));
        match result {
            Ok(changed) => changed,
            Err(err) => {
                log::warn!("could not apply mode {wanted:o} to a new entry: {err}");
                attr
            }
        }
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

    pub(super) fn chmod(&self, path: &Path, mode: u32) -> Result<(), FsError> {
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

    /// Truncate `path` to `size`: through handle `fh` when it writes, else on the server now
    /// (also `O_RDONLY|O_TRUNC` opens, see `file_ops`).
    pub(super) fn truncate(&self, path: &Path, fh: Option<u64>, size: u64) -> Result<(), FsError> {
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
            self.finish_upload(upload, path, None)?;
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
        // The server sees the new content only at the next upload; show the change now.
        self.namespace
            .truncated_locally(&file.path, SystemTime::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::fs::{FsConfig, ROOT_INO};
    use crate::remote::faulty::TestRemote as MemoryRemote;

    fn mount(remote: &MemoryRemote) -> Arc<FsCore> {
        let config = FsConfig {
            dir_cache_ttl: Duration::from_secs(60),
            umask: 0o022,
            ..FsConfig::default()
        };
        FsCore::new(Arc::new(remote.clone()), config)
    }

    /// A mount over a remote holding `/NAME` with `data`, and the file's inode.
    fn mounted_file(name: &str, data: &[u8]) -> (MemoryRemote, Arc<FsCore>, u64) {
        let remote = MemoryRemote::new();
        remote.add_file(format!("/{name}"), data.to_vec());
        let fs = mount(&remote);
        let ino = fs.lookup(ROOT_INO, OsStr::new(name)).unwrap().ino;
        (remote, fs, ino)
    }

    fn created(fs: &FsCore, name: &str) -> Attr {
        let (attr, fh) = fs
            .create(ROOT_INO, OsStr::new(name), libc::O_WRONLY | libc::O_CREAT)
            .unwrap();
        fs.release(fh).unwrap();
        attr
    }

    #[test]
    fn create_mode_is_sent_only_when_it_differs_from_the_servers() {
        let remote = MemoryRemote::new();
        let fs = mount(&remote);
        let attr = created(&fs, "private");
        assert_eq!(attr.perm, 0o644);
        let attr = fs.apply_create_mode(attr, libc::S_IFREG | 0o666, 0o077);
        assert_eq!(attr.perm, 0o600);
        assert_eq!(remote.mode("/private"), Some(0o600));

        let same = created(&fs, "plain");
        let same = fs.apply_create_mode(same, libc::S_IFREG | 0o666, 0o022);
        assert_eq!(same.perm, 0o644);
        assert_eq!(remote.mode("/plain"), None, "no SITE CHMOD for the default");

        let dir = fs.mkdir(ROOT_INO, OsStr::new("d")).unwrap();
        let dir = fs.apply_create_mode(dir, libc::S_IFDIR | 0o751, 0);
        assert_eq!(dir.perm, 0o751);
        assert_eq!(remote.mode("/d"), Some(0o751));
    }

    #[test]
    fn create_mode_without_owner_write_is_not_sent_when_no_atomic_upload_carries_it() {
        let remote = MemoryRemote::new();
        let fs = mount(&remote);
        let attr = created(&fs, "readonly");
        let attr = fs.apply_create_mode(attr, libc::S_IFREG | 0o444, 0);
        assert_eq!(attr.perm, 0o644, "stat shows what the server really has");
        assert_eq!(remote.mode("/readonly"), None);
    }

    #[test]
    fn utimens_atime_is_remembered_and_chmod_moves_ctime() {
        let (_remote, fs, ino) = mounted_file("f", b"data");
        let atime = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let mtime = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let times = SetAttrRequest {
            atime: Some(atime),
            mtime: Some(mtime),
            ..SetAttrRequest::default()
        };
        let attr = fs.setattr(ino, None, &times).unwrap();
        assert_eq!((attr.atime, attr.mtime), (atime, mtime));
        assert!(attr.ctime > mtime, "utimens is a change: ctime is now");
        let before = fs.getattr(ino).unwrap().ctime;
        std::thread::sleep(Duration::from_millis(5));
        let chmod = SetAttrRequest {
            mode: Some(0o600),
            ..SetAttrRequest::default()
        };
        let attr = fs.setattr(ino, None, &chmod).unwrap();
        assert!(attr.ctime > before);
        assert_eq!((attr.atime, attr.mtime), (atime, mtime));
    }

    #[test]
    fn dropping_privileges_clears_set_id_bits_unless_a_mode_is_given() {
        let (remote, fs, ino) = mounted_file("t", b"0123456789");
        let chmod = |mode| SetAttrRequest {
            mode: Some(mode),
            ..SetAttrRequest::default()
        };
        fs.setattr(ino, None, &chmod(0o6755)).unwrap();
        let truncate = SetAttrRequest {
            size: Some(3),
            drop_privileges: true,
            ..SetAttrRequest::default()
        };
        let attr = fs.setattr(ino, None, &truncate).unwrap();
        assert_eq!((attr.perm, attr.size), (0o755, 3));
        assert_eq!(remote.mode("/t"), Some(0o755));
        fs.setattr(ino, None, &chmod(0o4755)).unwrap();
        let explicit = SetAttrRequest {
            drop_privileges: true,
            ..chmod(0o4711)
        };
        assert_eq!(fs.setattr(ino, None, &explicit).unwrap().perm, 0o4711);
        let nothing = SetAttrRequest {
            drop_privileges: true,
            ..SetAttrRequest::default()
        };
        assert_eq!(fs.setattr(ino, None, &nothing).unwrap().perm, 0o711);
    }

    #[test]
    fn directory_nlink_counts_subdirectories_of_a_cached_listing() {
        let remote = MemoryRemote::new();
        remote.add_dir("/top/a");
        remote.add_dir("/top/b");
        remote.add_file("/top/f", b"".to_vec());
        let fs = mount(&remote);
        let top = fs.lookup(ROOT_INO, OsStr::new("top")).unwrap().ino;
        fs.lookup(top, OsStr::new("a")).unwrap();
        assert_eq!(fs.getattr(top).unwrap().nlink, 4);
        fs.mkdir(top, OsStr::new("c")).unwrap();
        assert_eq!(fs.getattr(top).unwrap().nlink, 5);
    }

    #[test]
    fn ftruncate_through_an_open_handle_shows_a_new_mtime_at_once() {
        let (remote, fs, ino) = mounted_file("t", b"0123456789");
        let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let set_old = SetAttrRequest {
            mtime: Some(old),
            ..SetAttrRequest::default()
        };
        fs.setattr(ino, None, &set_old).unwrap();
        let fh = fs.open(ino, libc::O_RDWR).unwrap();
        let shrink = SetAttrRequest {
            size: Some(3),
            ..SetAttrRequest::default()
        };
        let attr = fs.setattr(ino, Some(fh), &shrink).unwrap();
        assert_eq!(attr.size, 3);
        assert!(attr.mtime > old, "mtime still {:?}", attr.mtime);
        fs.release(fh).unwrap();
        assert_eq!(remote.file("/t").unwrap(), b"012");
    }
}
