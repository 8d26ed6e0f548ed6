//! Putting a `fuser::Filesystem` on a directory and keeping it there until told to stop.
//!
//! `serve` is generic over the FUSE filesystem so this module knows nothing about the fs core:
//! the composition root (`crate::run`) builds the filesystem and passes a `shutdown` closure
//! that finishes (or loudly fails) pending uploads. Lifecycle:
//! 1. the caller blocks the shutdown signals (`ShutdownSignals::block`) before any thread starts
//!    and connects to the server, so a bad host or password fails before anything is mounted;
//! 2. `serve` mounts, reports readiness, and waits for SIGINT/SIGTERM/SIGHUP or for the kernel
//!    to end the session (someone ran `fusermount3 -u`);
//! 3. it runs the fs shutdown, then unmounts (lazily when the mount is busy) and returns.

pub(crate) mod daemon;
mod readahead;
pub(crate) mod signals;
pub(crate) mod umount;

use std::path::Path;
use std::time::Duration;

use fuser::{MountOption, SessionACL};

pub(crate) use crate::config::{Access, MountConfig};
pub(crate) use signals::ShutdownSignals;
pub(crate) use umount::unmount;

/// How often the main thread checks whether the kernel ended the session.
const SESSION_POLL: Duration = Duration::from_millis(200);
/// Readahead asked of the kernel in page-cache mode (one full FUSE request).
const PAGE_CACHE_READAHEAD_KIB: u32 = 1024;

/// A failure to report as one line (`ftpfs: <message>`), exit status 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountError {
    /// One line for the user, without the `ftpfs: ` prefix.
    pub message: String,
    /// Already shown to the user by other means (the daemon child reports through its pipe).
    pub reported: bool,
}

impl MountError {
    pub(crate) fn new(message: impl Into<String>) -> MountError {
        MountError {
            message: message.into(),
            reported: false,
        }
    }
}

impl std::fmt::Display for MountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MountError {}

/// Fail early and clearly when the mountpoint cannot be used.
pub(crate) fn check_mountpoint(path: &Path) -> Result<(), MountError> {
    if umount::is_mounted(path) {
        return Err(MountError::new(format!(
            "{} is already an ftpfs mount; run: ftpfs umount {}",
            path.display(),
            path.display()
        )));
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(MountError::new(format!(
            "mountpoint {} is not a directory",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(MountError::new(format!(
            "mountpoint {} does not exist",
            path.display()
        ))),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(MountError::new(format!(
            "mountpoint {} is a dead mount (transport endpoint is not connected); \
             run: ftpfs umount {}",
            path.display(),
            path.display()
        ))),
        Err(e) => Err(MountError::new(format!(
            "mountpoint {}: {e}",
            path.display()
        ))),
    }
}

/// The fuser session settings for `config`.
pub(crate) fn fuser_config(config: &MountConfig) -> fuser::Config {
    let mut options = vec![
        MountOption::FSName(config.fs_name()),
        // Not MountOption::Subtype: fuser's direct mount(2) path (used as root) drops it, while
        // the kernel and fusermount3 both understand the plain option; mountinfo then shows
        // "fuse.ftpfs", which `ftpfs umount` relies on.
        MountOption::CUSTOM("subtype=ftpfs".into()),
        // Files from a network server must never grant privileges or act as devices.
        MountOption::NoSuid,
        MountOption::NoDev,
        MountOption::NoAtime,
    ];
    options.push(if config.fs.read_only {
        MountOption::RO
    } else {
        MountOption::RW
    });
    if config.default_permissions {
        options.push(MountOption::DefaultPermissions);
    }
    if config.noexec {
        options.push(MountOption::NoExec);
    }
    let mut fuser_config = fuser::Config::default();
    fuser_config.mount_options = options;
    fuser_config.acl = match config.access {
        Access::Owner => SessionACL::Owner,
        Access::OwnerAndRoot => SessionACL::RootAndOwner,
        Access::AllUsers => SessionACL::All,
    };
    fuser_config.n_threads = Some(config.fuse_threads.max(1));
    fuser_config
}

/// Why serving stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopReason {
    Signal(i32),
    /// The kernel ended the session: unmounted from outside.
    SessionEnded,
}

/// Mount `filesystem`, call `on_ready`, serve until a shutdown signal or an external unmount,
/// then run `shutdown_fs` and unmount. An `Err` from `on_ready` (nobody is waiting any more)
/// unmounts at once. Returns `Err` when the mount failed or `shutdown_fs` did.
pub(crate) fn serve<F>(
    filesystem: F,
    config: &MountConfig,
    signals: &ShutdownSignals,
    on_ready: impl FnOnce() -> Result<(), String>,
    shutdown_fs: impl FnOnce() -> Result<(), String>,
) -> Result<(), MountError>
where
    F: fuser::Filesystem + Send + 'static,
{
    let mountpoint = &config.mountpoint;
    let session = fuser::spawn_mount(filesystem, mountpoint, &fuser_config(config))
        .map_err(|e| MountError::new(format!("cannot mount on {}: {e}", mountpoint.display())))?;
    log::info!("mounted {} on {}", config.fs_name(), mountpoint.display());
    if config.page_cache {
        readahead::raise(mountpoint, PAGE_CACHE_READAHEAD_KIB);
    }

    let stop = match on_ready() {
        Ok(()) => wait_for_stop(&session, signals),
        Err(message) => {
            log::error!("{message}");
            StopReason::Signal(libc::SIGTERM)
        }
    };
    match stop {
        StopReason::Signal(signal) => log::info!(
            "{}: unmounting {}",
            signals::signal_name(signal),
            mountpoint.display()
        ),
        StopReason::SessionEnded => log::info!("{} was unmounted", mountpoint.display()),
    }

    let shutdown = shutdown_fs();
    if let Err(message) = &shutdown {
        log::error!("shutting down the filesystem failed: {message}");
    }
    match stop {
        StopReason::Signal(_) => unmount_session(session, mountpoint),
        StopReason::SessionEnded if umount::is_mounted(mountpoint) => {
            // The serving threads died while the kernel still has us mounted.
            log::error!("the FUSE session ended unexpectedly; unmounting");
            unmount_session(session, mountpoint);
        }
        StopReason::SessionEnded => {
            // Already unmounted and its thread is finished. Dropping it would make fuser try
            // to unmount again and log a misleading EINVAL warning; we exit right after, so
            // leaking the closed session is harmless.
            std::mem::forget(session);
        }
    }
    shutdown.map_err(|message| MountError::new(format!("unclean shutdown: {message}")))
}

fn wait_for_stop(session: &fuser::BackgroundSession, signals: &ShutdownSignals) -> StopReason {
    loop {
        if let Some(signal) = signals.wait(SESSION_POLL) {
            return StopReason::Signal(signal);
        }
        if session.guard.is_finished() {
            return StopReason::SessionEnded;
        }
    }
}

/// Unmount and wait for the FUSE threads; a busy mount is detached lazily instead, so that we
/// never leave a dead "transport endpoint is not connected" directory behind.
fn unmount_session(session: fuser::BackgroundSession, mountpoint: &Path) {
    let Err(e) = session.umount_and_join() else {
        return;
    };
    log::warn!(
        "unmounting {} failed ({e}); detaching it lazily",
        mountpoint.display()
    );
    if lazy_detach(mountpoint) {
        return;
    }
    let status = std::process::Command::new("fusermount3")
        .args(["-u", "-z", "--"])
        .arg(mountpoint)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        log::error!("could not detach {}", mountpoint.display());
    }
}

fn lazy_detach(mountpoint: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0 }
}
