//! Real mounts made by the built `ftpfs` binary, for tests that drive them with std::fs and real
//! programs (ls, cp, tar, rsync, ...).
//!
//! Why the binary and not `fuser::spawn_mount` in-process: these tests are about what users run,
//! so they go through the CLI, the background daemon and its readiness handshake, and
//! `ftpfs umount`. The price is that the daemon's logs are gone after `ready` (it points stderr
//! at /dev/null); set `FTPFS_TEST_MOUNT_LOG=/some/file` to mount in the foreground with `-vv`
//! and its log in that file instead, for debugging.
//!
//! Safety of the host: the mountpoint is a plain directory that is only ever removed with
//! `remove_dir` (never recursively), so a mount that failed to go away can never make a
//! cleanup delete the server's files through it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::server::TestServer;
use super::tempdir::random_u64;

static NEXT_MOUNTPOINT: AtomicU64 = AtomicU64::new(0);

/// How long a mount (or an unmount) may take before the test gives up.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);

/// The `ftpfs` binary Cargo built for these tests.
pub fn ftpfs_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ftpfs"))
}

/// `ftp://USER:PASSWORD@127.0.0.1:PORT/` for `server`.
pub fn mount_url(server: &TestServer) -> String {
    format!(
        "ftp://{}:{}@127.0.0.1:{}/",
        server.user, server.password, server.port
    )
}

/// A fresh empty directory to mount on (not a `TempDir`: see the module doc).
pub fn fresh_mountpoint() -> PathBuf {
    loop {
        let path = std::env::temp_dir().join(format!(
            "ftpfs-mnt-{}-{}-{:08x}",
            std::process::id(),
            NEXT_MOUNTPOINT.fetch_add(1, Ordering::Relaxed),
            random_u64() as u32
        ));
        match fs::create_dir(&path) {
            Ok(()) => return path,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => panic!("cannot create mountpoint {}: {error}", path.display()),
        }
    }
}

/// Whether `dir` is a mount point according to /proc/mounts (octal escapes decoded).
pub fn is_mounted(dir: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let wanted = dir.to_string_lossy();
    mounts.lines().any(|line| {
        line.split(' ')
            .nth(1)
            .is_some_and(|field| unescape_mounts_field(field) == wanted)
    })
}

fn unescape_mounts_field(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// `ftpfs ARGS...` with a clean login environment (no FTPFS_PASSWORD, no prompt), waited for.
pub fn run_ftpfs(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(ftpfs_binary())
        .args(args)
        .env_remove("FTPFS_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run ftpfs: {error}"))
}

/// An `ftpfs mount` of a test server; unmounted with `ftpfs umount` (falling back to a lazy
/// `fusermount3 -u -z`) and checked gone from /proc/mounts on drop.
#[derive(Debug)]
pub struct Mount {
    dir: PathBuf,
    mounted: bool,
}

impl Mount {
    /// Mounts the server's root with default options.
    pub fn new(server: &TestServer) -> Mount {
        Mount::with_args(server, &[])
    }

    /// Mounts the server's root with extra `ftpfs mount` arguments (e.g. `--dir-cache-ttl 1`).
    pub fn with_args(server: &TestServer, extra: &[&str]) -> Mount {
        let dir = fresh_mountpoint();
        let url = mount_url(server);
        let mut args: Vec<&std::ffi::OsStr> = vec!["mount".as_ref(), url.as_ref(), dir.as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let mount = Mount {
            dir: dir.clone(),
            mounted: true,
        };
        match std::env::var_os("FTPFS_TEST_MOUNT_LOG") {
            Some(log) => mount_in_foreground(&args, Path::new(&log), &dir),
            None => {
                let output = run_ftpfs(&args);
                assert!(
                    output.status.success(),
                    "ftpfs mount failed for {:?} ({}): {}",
                    server.kind,
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        assert!(is_mounted(&dir), "{} is not in /proc/mounts", dir.display());
        mount
    }

    /// The mountpoint.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `relative` inside the mount.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative.trim_start_matches('/'))
    }

    /// Unmounts now and asserts that it worked (drop does the same, quietly when panicking).
    pub fn unmount(mut self) {
        self.unmount_inner(true);
    }

    fn unmount_inner(&mut self, strict: bool) {
        if !self.mounted {
            return;
        }
        self.mounted = false;
        let output = run_ftpfs(&["umount".as_ref(), self.dir.as_os_str()]);
        let clean = output.status.success();
        if !clean || !wait_unmounted(&self.dir, MOUNT_TIMEOUT) {
            eprintln!(
                "ftpfs umount {} failed ({}): {}; falling back to fusermount3 -u -z",
                self.dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .status();
        }
        let gone = wait_unmounted(&self.dir, MOUNT_TIMEOUT);
        if gone {
            let _ = fs::remove_dir(&self.dir);
        }
        if strict {
            assert!(gone, "{} is still mounted", self.dir.display());
            assert!(
                clean,
                "ftpfs umount {} failed: {}",
                self.dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let strict = !std::thread::panicking();
        self.unmount_inner(strict);
    }
}

fn wait_unmounted(dir: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_mounted(dir) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Debug mode (FTPFS_TEST_MOUNT_LOG): `ftpfs -vv mount -f ...` as a child that lives until the
/// unmount, its log appended to `log`; returns once /proc/mounts shows the mount.
fn mount_in_foreground(args: &[&std::ffi::OsStr], log: &Path, dir: &Path) {
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|error| panic!("cannot open {}: {error}", log.display()));
    let mut child = Command::new(ftpfs_binary())
        .arg("-vv")
        .args(args)
        .arg("-f")
        .env_remove("FTPFS_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run ftpfs: {error}"));
    let deadline = Instant::now() + MOUNT_TIMEOUT;
    while !is_mounted(dir) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("ftpfs -f exited with {status}; see {}", log.display());
        }
        assert!(Instant::now() < deadline, "ftpfs -f did not mount in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The child is reaped by whoever waits last; it exits on its own at unmount.
    std::thread::spawn(move || child.wait());
}

/// Runs `command`, asserts that it succeeded, returns its stdout.
pub fn run_ok(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `sh -c SCRIPT` with `$1`.. set to `args`, asserting success; returns stdout.
pub fn sh_ok(script: &str, args: &[&std::ffi::OsStr]) -> String {
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args),
    )
}
