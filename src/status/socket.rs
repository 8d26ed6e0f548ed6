//! Where a mount's status socket lives, and the server side of it.
//!
//! One socket per mount, found from the mountpoint alone so that `ftpfs status MOUNTPOINT`
//! needs nothing else: `DIR/<16 hex digits of FNV-1a(absolute mountpoint)>.sock`, where DIR is
//! - `/run/ftpfs` for root (boot-time mounts have no session, and root's login shell may have
//!   an XDG_RUNTIME_DIR that the boot never saw);
//! - otherwise `$XDG_RUNTIME_DIR/ftpfs`, else `/run/user/UID/ftpfs`, else `/tmp/ftpfs-UID`.
//!
//! Only the mount's owner may read it: DIR is created 0700 and must be a real directory owned
//! by us with no group/other bits (a /tmp directory pre-created by someone else is refused), the
//! socket is 0600, and each connection's peer credentials (SO_PEERCRED) must be our uid or root.
//!
//! Protocol: the client sends one line, `text` or `json`; the server answers with the rendered
//! status and closes. Or `sync SECS` (`ftpfs sync`): the server waits up to SECS for the
//! write-back queue and answers `off` (write-back mode is off), or `done` / `timeout` followed
//! by a `left PATH` line per upload still pending and a `failed PATH: MESSAGE` line per
//! permanent failure. Every wait on either side has a timeout.
//!
//! Threads: one accept thread per mount, answering one connection at a time (each costs a
//! snapshot and a render, microseconds); a sync waits on a thread of its own, so status keeps
//! answering meanwhile. No lock of ours is held across socket I/O.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::SyncOutcome;
use super::render::{self, MountInfo};

/// How long either side waits for the other.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request line accepted.
const MAX_REQUEST: u64 = 64;
/// Longest wait a `sync` request may ask for (a day).
const MAX_SYNC_SECS: u64 = 86_400;

/// The directory holding the status sockets of `uid`'s mounts (see the module doc).
pub fn socket_dir(uid: u32) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/run/ftpfs");
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR")
        && Path::new(&runtime).is_absolute()
    {
        return Path::new(&runtime).join("ftpfs");
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() {
        return run_user.join("ftpfs");
    }
    PathBuf::from(format!("/tmp/ftpfs-{uid}"))
}

/// The socket of the mount on `mountpoint` (absolute) for the current user.
pub fn socket_path(mountpoint: &Path) -> PathBuf {
    let key = canonical_mountpoint(mountpoint);
    socket_dir(current_uid()).join(format!("{:016x}.sock", fnv1a(&key)))
}

/// `mountpoint` with its parent directory resolved (symlinks, `..`), so `/mnt/../mnt/ftp/`
/// and a symlinked path find the same socket. The mountpoint itself is never looked at: on a
/// hung mount that would hang `ftpfs status`, the one command meant to diagnose it.
fn canonical_mountpoint(mountpoint: &Path) -> PathBuf {
    let (Some(parent), Some(name)) = (mountpoint.parent(), mountpoint.file_name()) else {
        return mountpoint.to_path_buf();
    };
    match std::fs::canonicalize(parent) {
        Ok(parent) => parent.join(name),
        Err(_) => mountpoint.to_path_buf(),
    }
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// FNV-1a, 64 bit: a stable short name for a path of any length (sun_path holds 108 bytes).
fn fnv1a(path: &Path) -> u64 {
    path.as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Create `dir` 0700, or check that an existing one is ours and private.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.file_type().is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.uid() != current_uid() {
        return Err(format!(
            "{} belongs to uid {}, not to us",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{} is accessible to others (mode {:o})",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// The running status server of this mount; dropping it stops it and removes the socket.
pub struct StatusServer {
    path: PathBuf,
    /// The socket file we bound (device, inode): a later mount on the same mountpoint binds a
    /// new one at the same path, which is not ours to remove.
    bound: Option<(u64, u64)>,
    /// The listening socket, to wake the accept loop with shutdown(2) at drop. Connecting to
    /// `path` instead could reach the next mount's socket (a remount while we exit) and leave
    /// our own accept blocked forever.
    waker: Option<UnixListener>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StatusServer {
    /// Listen on `socket_path(mountpoint)` and answer with the global registry's snapshot.
    pub fn start(mountpoint: &Path, server: String) -> Result<StatusServer, String> {
        let path = socket_path(mountpoint);
        if let Some(dir) = path.parent() {
            prepare_dir(dir)?;
        }
        // A socket left by a mount that died on this mountpoint: nobody answers it any more.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let bound = std::fs::symlink_metadata(&path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        let waker = listener.try_clone().ok();
        let stop = Arc::new(AtomicBool::new(false));
        let info = MountInfo {
            mountpoint: mountpoint.to_string_lossy().into_owned(),
            server,
            pid: std::process::id(),
            uptime: Duration::ZERO,
        };
        let thread_stop = stop.clone();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("ftpfs-status".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if thread_stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let stream = match stream {
                        Ok(stream) => stream,
                        Err(e) => {
                            // E.g. out of descriptors: wait instead of spinning on it.
                            log::debug!("status socket accept: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                    };
                    let info = MountInfo {
                        uptime: started.elapsed(),
                        ..info.clone()
                    };
                    if let Err(e) = answer(stream, &info) {
                        log::debug!("status request: {e}");
                    }
                }
            })
            .map_err(|e| format!("cannot start the status thread: {e}"))?;
        log::debug!("status socket {}", path.display());
        Ok(StatusServer {
            path,
            bound,
            waker,
            stop,
            thread: Some(thread),
        })
    }

    /// Where the socket listens (removed again when the server is dropped).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag: shutdown(2) of a listening socket makes a
        // blocked accept return (Linux).
        let woke = self.waker.as_ref().is_some_and(|listener| {
            // SAFETY: shutdown on a descriptor we own (the clone stays open until we return).
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) == 0 }
        });
        let still_ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| Some((meta.dev(), meta.ino())) == self.bound);
        if still_ours {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(thread) = self.thread.take()
            && woke
        {
            let _ = thread.join();
        }
    }
}

/// Serve one request.
fn answer(stream: UnixStream, info: &MountInfo) -> Result<(), String> {
    let peer = peer_uid(&stream).map_err(|e| format!("peer credentials: {e}"))?;
    let me = current_uid();
    if peer != me && peer != 0 {
        return Err(format!("refused a request from uid {peer}"));
    }
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut request = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_REQUEST))
        .read_line(&mut request)
        .map_err(|e| e.to_string())?;
    if let Some(secs) = request.trim().strip_prefix("sync ") {
        let secs = secs
            .parse::<u64>()
            .map_err(|_| format!("bad sync {secs:?}"))?;
        let timeout = Duration::from_secs(secs.min(MAX_SYNC_SECS));
        std::thread::Builder::new()
            .name("ftpfs-sync".into())
            .spawn(move || {
                let body = sync_answer(super::global().sync(timeout));
                if let Err(e) = (&stream).write_all(body.as_bytes()) {
                    log::debug!("sync request: {e}");
                }
            })
            .map_err(|e| format!("cannot start a sync thread: {e}"))?;
        return Ok(());
    }
    let snapshot = super::global().snapshot();
    let body = match request.trim() {
        "json" => render::json(info, &snapshot),
        "text" => render::text(info, &snapshot),
        other => format!("error: unknown request {other:?}\n"),
    };
    (&stream)
        .write_all(body.as_bytes())
        .map_err(|e| e.to_string())
}

/// The answer to `sync` (see the module doc).
fn sync_answer(outcome: Option<SyncOutcome>) -> String {
    let Some(outcome) = outcome else {
        return "off\n".into();
    };
    let mut body = String::from(if outcome.left.is_empty() {
        "done\n"
    } else {
        "timeout\n"
    });
    for path in &outcome.left {
        body.push_str(&format!("left {path}\n"));
    }
    for (path, message) in &outcome.failed {
        let message = message.replace(['\r', '\n'], " ");
        body.push_str(&format!("failed {path}: {message}\n"));
    }
    body
}

fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_names_are_stable_and_short() {
        // FNV-1a test vectors.
        assert_eq!(fnv1a(Path::new("")), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(Path::new("a")), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(Path::new("/mnt/a")), fnv1a(Path::new("/mnt/b")));
        let long = PathBuf::from(format!("/{}", "x".repeat(4000)));
        let name = socket_path(&long);
        assert_eq!(name.file_name().unwrap().len(), 16 + 5);
    }

    #[test]
    fn spellings_of_one_mountpoint_share_a_socket() {
        let plain = socket_path(Path::new("/tmp/ftpfs-x"));
        assert_eq!(socket_path(Path::new("/tmp/ftpfs-x/")), plain);
        assert_eq!(socket_path(Path::new("/tmp/../tmp/./ftpfs-x")), plain);
        assert_ne!(socket_path(Path::new("/tmp/ftpfs-y")), plain);
    }

    /// A remount on the same mountpoint while the old mount exits (mount, umount, mount again,
    /// as fstab scripts do): the old server must stop at once and leave the new socket alone.
    #[test]
    fn a_server_replaced_at_its_path_stops_and_leaves_the_new_socket() {
        let mountpoint = std::env::temp_dir().join(format!("ftpfs-status-{}", std::process::id()));
        let old = StatusServer::start(&mountpoint, "old".into()).expect("first server");
        let new = StatusServer::start(&mountpoint, "new".into()).expect("second server");
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(old);
            let _ = done.send(());
        });
        dropped
            .recv_timeout(Duration::from_secs(5))
            .expect("the old server's drop hangs");
        assert!(new.path().exists(), "the new server's socket was removed");
        let mut stream = UnixStream::connect(new.path()).expect("the new server answers");
        stream.write_all(b"status\n").expect("send");
        drop(new);
        assert!(!socket_path(&mountpoint).exists());
    }

    #[test]
    fn root_uses_run_ftpfs() {
        assert_eq!(socket_dir(0), PathBuf::from("/run/ftpfs"));
    }
}
