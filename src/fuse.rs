//! The FUSE adapter: the only code that touches `fuser::Reply*`.
//!
//! Each method converts fuser's types, calls the filesystem core, and replies. Failures are
//! replied with the core's errno and logged once per failed request (warn; expected misses such
//! as a lookup of a missing name only at debug, since shells and editors probe constantly).
//! Keeping this layer thin is what lets the core be tested without a kernel.
//!
//! File data uses direct I/O unless the mount asked for the page cache (`-o page_cache`).
//! Our chunk LRU already caches data, and without the page cache (a) a read past the size the
//! listing claimed still reaches us, so EOF is where the server ends the download; (b) no stale
//! kernel pages outlive a change we learn about; and (c) streaming skips a kernel copy into fresh
//! page-cache pages, which measured as the largest single cost of a 1 GiB read (~55 % of ftpfs's
//! CPU). We report a 1 MiB preferred I/O size so cp/cat issue large reads and writes, and ask
//! for `FUSE_DIRECT_IO_ALLOW_MMAP` so shared mmap still works on kernels that have it (6.6+).

use std::ffi::OsStr;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::fs::{Attr, FsCore, FsError, SetAttrRequest};
use crate::remote::EntryKind;

/// How long the kernel may trust attributes and entries we reply.
const TTL: Duration = Duration::from_secs(1);
/// Largest write and readahead we ask the kernel for; also the preferred I/O size in stat.
const MAX_IO: u32 = 1024 * 1024;

/// The `fuser::Filesystem` over our core.
pub struct FuseAdapter {
    fs: Arc<FsCore>,
    /// Flags for every opened file: direct I/O unless the page cache was asked for.
    file_open_flags: FopenFlags,
}

impl FuseAdapter {
    /// Serve `fs` to the kernel; `page_cache` lets the kernel cache file data instead of
    /// opening every file with direct I/O.
    pub fn new(fs: Arc<FsCore>, page_cache: bool) -> Self {
        let file_open_flags = if page_cache {
            FopenFlags::empty()
        } else {
            FopenFlags::FOPEN_DIRECT_IO
        };
        FuseAdapter {
            fs,
            file_open_flags,
        }
    }
}

fn file_type(kind: EntryKind) -> FileType {
    match kind {
        EntryKind::File => FileType::RegularFile,
        EntryKind::Dir => FileType::Directory,
        EntryKind::Symlink => FileType::Symlink,
    }
}

fn file_attr(attr: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.blocks,
        atime: attr.atime,
        mtime: attr.mtime,
        ctime: attr.ctime,
        crtime: attr.mtime,
        kind: file_type(attr.kind),
        perm: attr.perm,
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        rdev: 0,
        blksize: MAX_IO,
        flags: 0,
    }
}

/// Log a failed request and turn it into the errno to reply.
fn failed(operation: &str, err: &FsError) -> Errno {
    if err.errno == libc::ENOENT && operation == "lookup" {
        log::debug!("{operation}: {err}");
    } else {
        log::warn!("{operation} failed: {err}");
        crate::status::global().record_error(format!("{operation} failed: {err}"));
    }
    Errno::from_i32(err.errno)
}

fn time(value: TimeOrNow) -> SystemTime {
    match value {
        TimeOrNow::SpecificTime(time) => time,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn reply_empty(operation: &str, result: Result<(), FsError>, reply: ReplyEmpty) {
    match result {
        Ok(()) => reply.ok(),
        Err(err) => reply.error(failed(operation, &err)),
    }
}

fn reply_entry(operation: &str, result: Result<Attr, FsError>, reply: ReplyEntry) {
    match result {
        Ok(attr) => reply.entry(&TTL, &file_attr(&attr), Generation(0)),
        Err(err) => reply.error(failed(operation, &err)),
    }
}

fn reply_attr(operation: &str, result: Result<Attr, FsError>, reply: ReplyAttr) {
    match result {
        Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
        Err(err) => reply.error(failed(operation, &err)),
    }
}

fn reply_open(operation: &str, result: Result<u64, FsError>, flags: FopenFlags, reply: ReplyOpen) {
    match result {
        Ok(fh) => reply.opened(FileHandle(fh), flags),
        Err(err) => reply.error(failed(operation, &err)),
    }
}

impl fuser::Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        if let Err(nearest) = config.set_max_write(MAX_IO) {
            let _ = config.set_max_write(nearest);
        }
        if let Err(nearest) = config.set_max_readahead(MAX_IO) {
            let _ = config.set_max_readahead(nearest);
        }
        // O_TRUNC arrives with open (one STOR) instead of as a separate truncate first. Without
        // it, `>` of an existing file uploaded an empty version, then the new one (5 -> 12 FTP
        // commands per file on vsftpd, write-back too). The kernel sends no truncate after such
        // an open, so FsCore::open also empties the file for O_RDONLY|O_TRUNC.
        if config
            .add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC)
            .is_err()
        {
            log::debug!("kernel lacks FUSE_ATOMIC_O_TRUNC");
        }
        // We clear set-user/group-ID bits on chown, truncate and write ourselves (see
        // SetAttrRequest::drop_privileges). Without this the kernel asks GETATTR before every
        // chown to recompute them: one round trip in nine of `tar -x` as root, per file.
        if config
            .add_capabilities(InitFlags::FUSE_HANDLE_KILLPRIV)
            .is_err()
        {
            log::debug!("kernel lacks FUSE_HANDLE_KILLPRIV");
        }
        // Attributes with the listing: `ls -l` of a big directory needs no lookup per name.
        if config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO)
            .is_err()
        {
            log::debug!("kernel lacks READDIRPLUS");
        }
        // Shared mmap of direct-I/O files (older kernels refuse it with ENODEV).
        if self.file_open_flags.contains(FopenFlags::FOPEN_DIRECT_IO)
            && config
                .add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP)
                .is_err()
        {
            log::debug!("kernel lacks FUSE_DIRECT_IO_ALLOW_MMAP: shared mmap will fail");
        }
        Ok(())
    }

    fn destroy(&mut self) {
        if let Err(err) = self.fs.shutdown() {
            log::error!("unmounting with unsaved data: {err}");
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        log::debug!("lookup {parent} {name:?}");
        reply_entry("lookup", self.fs.lookup(parent.0, name), reply);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        log::debug!("getattr {ino}");
        reply_attr("getattr", self.fs.getattr(ino.0), reply);
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        log::debug!("setattr {ino} mode={mode:?} size={size:?} atime={atime:?} mtime={mtime:?}");
        let mut changes = SetAttrRequest {
            mode,
            uid,
            gid,
            size,
            atime: atime.map(time),
            mtime: mtime.map(time),
            drop_privileges: false,
        };
        // FUSE_HANDLE_KILLPRIV: the kernel no longer says when set-ID bits go. A chown always
        // drops them; a truncate when the caller is not root (the kernel's test is
        // CAP_FSETID); a request that changes nothing is what the kernel sends instead of
        // dropping them itself after an unprivileged write (and for chown(-1, -1)).
        changes.drop_privileges = uid.is_some()
            || gid.is_some()
            || (size.is_some() && req.uid() != 0)
            || changes == SetAttrRequest::default();
        reply_attr(
            "setattr",
            self.fs.setattr(ino.0, fh.map(|fh| fh.0), &changes),
            reply,
        );
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        log::debug!("readlink {ino}");
        match self.fs.readlink(ino.0) {
            Ok(target) => reply.data(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str())),
            Err(err) => reply.error(failed("readlink", &err)),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        log::debug!("mknod {parent} {name:?} {mode:o}");
        reply_entry("mknod", self.fs.mknod(parent.0, name, mode), reply);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        log::debug!("mkdir {parent} {name:?} {mode:o}");
        let made = self.fs.mkdir(parent.0, name);
        let made = made.map(|attr| self.fs.apply_create_mode(attr, mode, umask));
        reply_entry("mkdir", made, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        log::debug!("unlink {parent} {name:?}");
        reply_empty("unlink", self.fs.unlink(parent.0, name), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        log::debug!("rmdir {parent} {name:?}");
        reply_empty("rmdir", self.fs.rmdir(parent.0, name), reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        log::debug!("rename {parent} {name:?} -> {newparent} {newname:?}");
        let result = self
            .fs
            .rename(parent.0, name, newparent.0, newname, flags.bits());
        reply_empty("rename", result, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        log::debug!("open {ino} flags={:#x}", flags.0);
        let result = self.fs.open(ino.0, flags.0);
        reply_open("open", result, self.file_open_flags, reply);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        log::debug!("read {ino} fh={fh} offset={offset} size={size}");
        match self.fs.read(fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(err) => reply.error(failed("read", &err)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        log::debug!("write {ino} fh={fh} offset={offset} size={}", data.len());
        match self.fs.write(fh.0, offset, data) {
            Ok(written) => reply.written(written),
            Err(err) => reply.error(failed("write", &err)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        log::debug!("flush {ino} fh={fh}");
        reply_empty("flush", self.fs.flush(fh.0), reply);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        log::debug!("release {ino} fh={fh}");
        reply_empty("release", self.fs.release(fh.0), reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        log::debug!("fsync {ino} fh={fh}");
        reply_empty("fsync", self.fs.fsync(fh.0), reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        log::debug!("opendir {ino}");
        // The kernel keeps the entries it reads (FOPEN_CACHE_DIR), and may answer the next
        // opendir's readdir from them only while our listing is unchanged (FOPEN_KEEP_CACHE).
        let opened = self.fs.opendir(ino.0);
        let mut flags = FopenFlags::FOPEN_CACHE_DIR;
        if let Ok(fh) = opened
            && self.fs.kernel_may_keep_listing(fh).unwrap_or(false)
        {
            flags |= FopenFlags::FOPEN_KEEP_CACHE;
        }
        reply_open("opendir", opened, flags, reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        log::debug!("readdir {ino} fh={fh} offset={offset}");
        let result = self.fs.readdir(fh.0, offset, |entry| {
            reply.add(
                INodeNo(entry.ino),
                entry.offset,
                file_type(entry.kind),
                entry.name,
            )
        });
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(failed("readdir", &err)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        log::debug!("readdirplus {ino} fh={fh} offset={offset}");
        let result = self
            .fs
            .readdirplus(ino.0, fh.0, offset, |entry, attr, valid_for| {
                reply.add(
                    INodeNo(attr.ino),
                    entry.offset,
                    entry.name,
                    &valid_for.unwrap_or(TTL),
                    &file_attr(attr),
                    Generation(0),
                )
            });
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(failed("readdirplus", &err)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        log::debug!("releasedir {ino} fh={fh}");
        reply_empty("releasedir", self.fs.releasedir(fh.0), reply);
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory changes reach the server as they happen; in write-back mode this waits
        // for the uploads below the directory.
        log::debug!("fsyncdir {ino}");
        reply_empty("fsyncdir", self.fs.fsyncdir(ino.0), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.fs.statfs();
        reply.statfs(
            s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
        );
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        log::debug!("access {ino} {mask}");
        reply_empty("access", self.fs.access(ino.0, mask.bits()), reply);
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        log::debug!("create {parent} {name:?} {mode:o} flags={flags:#x}");
        let created = self.fs.create(parent.0, name, flags);
        match created.map(|(attr, fh)| (self.fs.apply_create_mode(attr, mode, umask), fh)) {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &file_attr(&attr),
                Generation(0),
                FileHandle(fh),
                self.file_open_flags,
            ),
            Err(err) => reply.error(failed("create", &err)),
        }
    }
}
