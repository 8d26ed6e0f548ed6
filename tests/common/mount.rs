//! `Mount`: the one FUSE mount type of the integration tests, over either backend.
//!
//! - `Mount::new(&server)` / `Mount::with_args(&server, args)`: the built `ftpfs` binary
//!   mounting a real server, in the background the way users run it (CLI, daemon, readiness
//!   handshake, `ftpfs umount`). The daemon's stderr is gone after `ready`; set
//!   `FTPFS_TEST_MOUNT_LOG=/some/file` to mount in the foreground with `-vv` logging there.
//! - `Mount::foreground(&server, port, args)`: the binary as a foreground child (`mount -f -v`)
//!   on any port (a fault proxy's), with its log kept for `logs()` and its pid for signals;
//!   `kill_9()` crashes it the hardest way (the dead mount is detached lazily on drop).
//! - `Mount::memory(remote)`: the filesystem core over a `TestRemote` mounted in-process
//!   (`fuser::spawn_mount`), so tests can inject faults and look at the remote directly.
//!
//! All of them: `dir()`, `path(rel)`, `is_mounted()`, `unmount()` (asserts it worked), and an
//! unmount on drop that is quiet when the test is already panicking.
//!
//! Safety of the host: the mountpoint is a plain directory that is only ever removed with
//! `remove_dir` (never recursively), so a mount that failed to go away can never make a
//! cleanup delete the server's files through it.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ftpfs::fs::{FsConfig, FsCore};
use ftpfs::fuse::FuseAdapter;
use ftpfs::remote::faulty::TestRemote;

use super::server::TestServer;
use super::tempdir::random_u64;

static NEXT_MOUNTPOINT: AtomicU64 = AtomicU64::new(0);

/// How long a mount (or an unmount) may take before the test gives up.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);

/// Shell lines for the start of a script run under `unshare -m`: a new mount namespace starts
/// with copies of all its parent's mounts, other tests' FUSE mounts among them. A copy keeps
/// that mount's ftpfs process alive after its owner unmounts it, and an ftpfs started inside
/// keeps this namespace (with its copies) alive: two such namespaces hold each other's daemons
/// forever. Lazily unmount the copies first (private propagation: the parent keeps its own).
pub const DROP_INHERITED_FUSE_MOUNTS: &str = r#"awk '$3 ~ /^fuse/ {print $2}' /proc/self/mounts |
while read -r m; do umount -l "$(printf '%b' "$m")" 2>/dev/null || true; done
"#;

/// The `ftpfs` binary Cargo built for these tests.
pub fn ftpfs_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ftpfs"))
}

/// `ftp://USER:PASSWORD@127.0.0.1:PORT/` for `server` (at `port`, e.g. a proxy's).
pub fn mount_url_at(server: &TestServer, port: u16) -> String {
    format!(
        "ftp://{}:{}@127.0.0.1:{port}/",
        server.user, server.password
    )
}

/// `ftp://USER:PASSWORD@127.0.0.1:PORT/` for `server`.
pub fn mount_url(server: &TestServer) -> String {
    mount_url_at(server, server.port)
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
pub fn run_ftpfs(args: &[&OsStr]) -> Output {
    Command::new(ftpfs_binary())
        .args(args)
        .env_remove("FTPFS_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run ftpfs: {error}"))
}

/// What is mounted and how it goes away.
enum Backend {
    /// `ftpfs mount` in the background; unmounted with `ftpfs umount`.
    Daemon,
    /// `ftpfs mount -f` as our child; its stderr goes to `log`. `killed`: by `kill_9`, so
    /// its mount is dead (ENOTCONN) and only a lazy unmount can remove it.
    Foreground {
        child: Child,
        log: PathBuf,
        killed: bool,
    },
    /// The core over a memory remote, served by fuser threads in this process.
    Memory {
        remote: TestRemote,
        session: Option<fuser::BackgroundSession>,
    },
}

/// A live FUSE mount; unmounted (and checked gone from /proc/mounts) on drop.
pub struct Mount {
    dir: PathBuf,
    backend: Backend,
    mounted: bool,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Mount")
            .field("dir", &self.dir)
            .field("mounted", &self.mounted)
            .finish()
    }
}

impl Mount {
    /// The binary mounts the server's root with default options (in the background).
    pub fn new(server: &TestServer) -> Mount {
        Mount::with_args(server, &[])
    }

    /// The binary mounts the server's root with extra `ftpfs mount` arguments (e.g.
    /// `--dir-cache-ttl 1`), in the background (foreground with FTPFS_TEST_MOUNT_LOG).
    pub fn with_args(server: &TestServer, extra: &[&str]) -> Mount {
        if let Some(log) = std::env::var_os("FTPFS_TEST_MOUNT_LOG") {
            return Mount::spawn_foreground(server, server.port, "-vv", extra, log.into());
        }
        let dir = fresh_mountpoint();
        let url = mount_url(server);
        let mut args: Vec<&OsStr> = vec!["mount".as_ref(), url.as_ref(), dir.as_ref()];
        args.extend(extra.iter().map(OsStr::new));
        let output = run_ftpfs(&args);
        let mount = Mount {
            dir,
            backend: Backend::Daemon,
            mounted: true,
        };
        assert!(
            output.status.success(),
            "ftpfs mount failed for {:?} ({}): {}",
            server.kind,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            is_mounted(&mount.dir),
            "{} is not in /proc/mounts",
            mount.dir.display()
        );
        mount
    }

    /// The binary as a foreground child (`-v`), connecting to `port` on 127.0.0.1 (the
    /// server's own, or a fault proxy's); its log is kept (see `logs`) and removed on a clean
    /// drop.
    pub fn foreground(server: &TestServer, port: u16, extra: &[&str]) -> Mount {
        let log = std::env::temp_dir().join(format!(
            "ftpfs-mount-{}-{}-{:08x}.log",
            std::process::id(),
            NEXT_MOUNTPOINT.fetch_add(1, Ordering::Relaxed),
            random_u64() as u32
        ));
        Mount::spawn_foreground(server, port, "-v", extra, log)
    }

    /// `ftpfs VERBOSITY mount -f URL DIR EXTRA...` as our child, logging into `log`.
    fn spawn_foreground(
        server: &TestServer,
        port: u16,
        verbosity: &str,
        extra: &[&str],
        log: PathBuf,
    ) -> Mount {
        let dir = fresh_mountpoint();
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", log.display()));
        let stdout = log_file.try_clone().expect("clone log handle");
        let child = Command::new(ftpfs_binary())
            .arg(verbosity)
            .arg("mount")
            .arg("-f")
            .arg(mount_url_at(server, port))
            .arg(&dir)
            .args(extra)
            .env_remove("FTPFS_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run ftpfs: {error}"));
        let mut mount = Mount {
            dir,
            backend: Backend::Foreground {
                child,
                log,
                killed: false,
            },
            mounted: true,
        };
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        while !mount.is_mounted() {
            if let Some(status) = mount.try_exit_status() {
                mount.mounted = false;
                panic!("ftpfs -f exited with {status}:\n{}", mount.logs());
            }
            if Instant::now() > deadline {
                panic!("not mounted after {MOUNT_TIMEOUT:?}:\n{}", mount.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        mount
    }

    /// The filesystem core over `remote`, mounted in this process (dir cache TTL 30 s).
    pub fn memory(remote: TestRemote) -> Mount {
        Mount::memory_with(remote, FsConfig::default())
    }

    /// Like `memory`, with the core's configuration.
    pub fn memory_with(remote: TestRemote, config: FsConfig) -> Mount {
        let _ = env_logger::builder().is_test(true).try_init();
        let dir = fresh_mountpoint();
        let core = FsCore::new(Arc::new(remote.clone()), config);
        let mut options = fuser::Config::default();
        options.mount_options = vec![
            fuser::MountOption::FSName("memory".into()),
            fuser::MountOption::Subtype("ftpfs-test".into()),
        ];
        options.n_threads = Some(4);
        let session = fuser::spawn_mount(FuseAdapter::new(core, false), &dir, &options)
            .unwrap_or_else(|error| panic!("cannot mount on {}: {error}", dir.display()));
        Mount {
            dir,
            backend: Backend::Memory {
                remote,
                session: Some(session),
            },
            mounted: true,
        }
    }

    /// The mountpoint.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `relative` inside the mount.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative.trim_start_matches('/'))
    }

    /// Whether the mountpoint is still in /proc/mounts.
    pub fn is_mounted(&self) -> bool {
        is_mounted(&self.dir)
    }

    /// The memory remote behind a `Mount::memory` (panics for the other backends).
    pub fn remote(&self) -> &TestRemote {
        match &self.backend {
            Backend::Memory { remote, .. } => remote,
            _ => panic!("remote(): only a Mount::memory has a TestRemote"),
        }
    }

    /// The pid of a `Mount::foreground` process (panics for the other backends).
    pub fn pid(&self) -> u32 {
        match &self.backend {
            Backend::Foreground { child, .. } => child.id(),
            _ => panic!("pid(): only a Mount::foreground is our child"),
        }
    }

    /// The last 8 KiB of a foreground mount's log ("" for the other backends).
    pub fn logs(&self) -> String {
        let Backend::Foreground { log, .. } = &self.backend else {
            return String::new();
        };
        let text = fs::read(log).unwrap_or_default();
        let tail = &text[text.len().saturating_sub(8 * 1024)..];
        String::from_utf8_lossy(tail).into_owned()
    }

    /// The exit status of a foreground mount's process once it has exited.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        match &mut self.backend {
            Backend::Foreground { child, .. } => child.try_wait().ok().flatten(),
            _ => None,
        }
    }

    /// SIGKILLs a `Mount::foreground` process (our own child, by its PID) and reaps it: a crash
    /// with no chance to finish or clean anything up. Files still open on the mount fail with
    /// ENOTCONN from now on; the dead mount is detached (`fusermount3 -u -z`) and its
    /// directory removed when the `Mount` is dropped. Panics for the other backends.
    pub fn kill_9(&mut self) {
        let Backend::Foreground { child, killed, .. } = &mut self.backend else {
            panic!("kill_9(): only a Mount::foreground is our child");
        };
        // Child::kill is SIGKILL on Unix, sent to this child's pid only.
        child
            .kill()
            .unwrap_or_else(|error| panic!("cannot SIGKILL ftpfs: {error}"));
        let _ = child.wait();
        *killed = true;
    }

    /// Unmounts now and asserts that it worked (drop does the same, quietly when panicking).
    pub fn unmount(mut self) {
        self.unmount_inner(true);
    }

    fn unmount_inner(&mut self, strict: bool) {
        if !self.mounted {
            self.finish_child();
            return;
        }
        self.mounted = false;
        let clean = match &mut self.backend {
            Backend::Memory { session, .. } => match session.take() {
                Some(session) => session.umount_and_join().map_err(|error| error.to_string()),
                None => Ok(()),
            },
            // A foreground process that was told to stop (SIGTERM) has unmounted itself.
            Backend::Foreground { .. } if !is_mounted(&self.dir) => Ok(()),
            // Nobody serves a killed mount any more: detaching it is the whole unmount.
            Backend::Foreground { killed: true, .. } => {
                lazy_unmount(&self.dir);
                Ok(())
            }
            Backend::Daemon | Backend::Foreground { .. } => {
                let output = run_ftpfs(&["umount".as_ref(), self.dir.as_os_str()]);
                if output.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "ftpfs umount ({}): {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ))
                }
            }
        };
        if clean.is_err() || !wait_unmounted(&self.dir, MOUNT_TIMEOUT) {
            eprintln!(
                "unmounting {} failed ({clean:?}); falling back to fusermount3 -u -z",
                self.dir.display()
            );
            lazy_unmount(&self.dir);
        }
        let gone = wait_unmounted(&self.dir, MOUNT_TIMEOUT);
        self.finish_child();
        if gone {
            let _ = fs::remove_dir(&self.dir);
        }
        if strict {
            assert!(gone, "{} is still mounted", self.dir.display());
            if let Err(problem) = clean {
                panic!("unmounting {} failed: {problem}", self.dir.display());
            }
        }
    }

    /// Reaps a foreground child (it exits on unmount; killed by its pid after 5 s) and keeps
    /// its log only when the test failed.
    fn finish_child(&mut self) {
        let Backend::Foreground { child, log, .. } = &mut self.backend else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = child.try_wait() {
            let _ = child.kill(); // by PID: our own child
            let _ = child.wait();
        }
        if std::thread::panicking() || std::env::var_os("FTPFS_TEST_MOUNT_LOG").is_some() {
            eprintln!("ftpfs log kept at {}", log.display());
        } else {
            let _ = fs::remove_file(&*log);
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let strict = !std::thread::panicking();
        self.unmount_inner(strict);
    }
}

/// `fusermount3 -u -z DIR`: detaches the mount now (also a dead or busy one); the kernel lets
/// it go once the last file open on it is closed.
fn lazy_unmount(dir: &Path) {
    let _ = Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
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
pub fn sh_ok(script: &str, args: &[&OsStr]) -> String {
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args),
    )
}
