//! `FtpRemote`: the `Remote` trait over a pool of FTP connections (being built; this stub
//! fixes the public shape so the layers above can be written against it).

use std::path::Path;
use std::time::SystemTime;

use super::FtpConfig;
use crate::remote::{
    Entry, Remote, RemoteError, RemoteErrorKind, RemoteReader, RemoteResult, RemoteWriter,
};

/// A remote FTP tree reached through a pool of logged-in control connections.
pub struct FtpRemote {
    _config: FtpConfig,
}

fn todo<T>() -> RemoteResult<T> {
    Err(RemoteError::new(RemoteErrorKind::Unsupported, "not built yet"))
}

impl FtpRemote {
    /// Connect and log in once (so a bad host or password fails here, with a clear message),
    /// keeping that connection in the pool.
    pub fn connect(config: FtpConfig) -> RemoteResult<FtpRemote> {
        Ok(FtpRemote { _config: config })
    }

    /// Say QUIT on every idle pooled connection.
    pub fn shutdown(&self) {}
}

impl Remote for FtpRemote {
    fn list(&self, _dir: &Path) -> RemoteResult<Vec<Entry>> {
        todo()
    }
    fn stat(&self, _path: &Path) -> RemoteResult<Entry> {
        todo()
    }
    fn open_read(&self, _path: &Path, _offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        todo()
    }
    fn create(&self, _path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        todo()
    }
    fn append(&self, _path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        todo()
    }
    fn delete(&self, _path: &Path) -> RemoteResult<()> {
        todo()
    }
    fn mkdir(&self, _path: &Path) -> RemoteResult<()> {
        todo()
    }
    fn rmdir(&self, _path: &Path) -> RemoteResult<()> {
        todo()
    }
    fn rename(&self, _from: &Path, _to: &Path) -> RemoteResult<()> {
        todo()
    }
    fn set_mtime(&self, _path: &Path, _mtime: SystemTime) -> RemoteResult<()> {
        todo()
    }
    fn chmod(&self, _path: &Path, _mode: u32) -> RemoteResult<()> {
        todo()
    }
}
