//! Going to the background the safe way: re-executing ourselves instead of `fork()`ing.
//!
//! `fork()` in a process that may already have threads (or will: FUSE workers, FTP pool) is
//! unsafe, so the foreground process starts `/proc/self/exe __daemon` as the child, writes the
//! whole `MountConfig` (password included) to its stdin, and reads one line back from its
//! stdout: `ready` once the child has connected, logged in and mounted, or `error <message>`.
//! The parent then exits 0 or prints the message and exits 1, so `ftpfs mount` behaves like
//! sshfs: it returns when the mount is usable, and errors are seen by whoever ran it.
//!
//! The child calls `setsid` (no terminal signals), `chdir("/")` (never pins a directory) and,
//! after `ready`, points stdin/stdout/stderr at /dev/null. Logs written before `ready` still
//! reach the parent's stderr; afterwards they go to syslog and/or `--log-file` (see
//! `crate::logging`), or nowhere when neither exists (the child warns about that at `ready`).
//!
//! Caveat: a password written in the URL is on the *parent's* command line for the short time
//! until the mount is ready; Rust cannot portably scrub argv. Prefer FTPFS_PASSWORD,
//! --password-file, ~/.netrc or the prompt.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::{MountConfig, MountError};
use crate::config::pipe;

/// The hidden subcommand that marks the background child.
pub(crate) const DAEMON_SUBCOMMAND: &str = "__daemon";

const READY: &str = "ready";
const ERROR_PREFIX: &str = "error ";

/// Parent side: start the background child and wait until it is serving or has failed.
pub(crate) fn spawn_and_wait(config: &MountConfig) -> Result<(), MountError> {
    let mut command = Command::new("/proc/self/exe");
    // Readable in `ps`; the real binary is still /proc/self/exe.
    command.arg0("ftpfs");
    // Same verbosity as ours; RUST_LOG is inherited through the environment anyway.
    match log::max_level() {
        log::LevelFilter::Info => command.arg("-v"),
        log::LevelFilter::Debug => command.arg("-vv"),
        log::LevelFilter::Trace => command.arg("-vvv"),
        _ => &mut command,
    };
    // The password travels over the pipe; keep it out of the child's /proc/PID/environ too
    // (`ps e` shows it there for as long as the mount lives).
    command.env_remove("FTPFS_PASSWORD");
    command
        .arg(DAEMON_SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| MountError::new(format!("cannot start the background process: {e}")))?;

    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| MountError::new("background process has no stdin"))?;
    let sent = stdin.write_all(&pipe::encode(config));
    drop(stdin);
    if let Err(e) = sent {
        let _ = child.kill();
        let _ = child.wait();
        return Err(MountError::new(format!(
            "cannot pass the configuration to the background process: {e}"
        )));
    }

    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| MountError::new("background process has no stdout"))?;
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let line = line.trim_end();
    match read {
        Ok(_) if line == READY => {
            log::info!("background process {} is serving the mount", child.id());
            // Not waited for: it lives on after we exit and is adopted by init.
            Ok(())
        }
        Ok(_) if line.starts_with(ERROR_PREFIX) => {
            let _ = child.wait();
            Err(MountError::new(&line[ERROR_PREFIX.len()..]))
        }
        _ => {
            let status = child.wait();
            Err(MountError::new(match status {
                Ok(status) => {
                    format!("background process ended before the mount was ready ({status})")
                }
                Err(e) => format!("background process ended before the mount was ready: {e}"),
            }))
        }
    }
}

/// Child side: read the configuration the parent wrote on our stdin.
pub(crate) fn read_config_from_stdin() -> Result<MountConfig, MountError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| MountError::new(format!("cannot read configuration: {e}")))?;
    pipe::decode(&bytes).map_err(MountError::new)
}

/// Child side: leave the terminal's session and the caller's directory, and close descriptors
/// inherited by accident (a long-lived daemon holding the write end of someone's pipe would
/// keep that reader waiting forever). Call first, before anything else opens a descriptor.
pub(crate) fn detach_from_caller() {
    // SAFETY: setsid/chdir/close_range have no memory-safety preconditions; failure is harmless
    // (setsid only fails when we already lead a process group). Nothing of ours is open above 2.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        libc::setsid();
        libc::chdir(c"/".as_ptr());
    }
}

/// Child side: the way back to the waiting parent (our stdout pipe).
pub(crate) struct Readiness {
    _private: (),
}

impl Readiness {
    /// Only meaningful in the `__daemon` child, whose stdout is the parent's pipe.
    pub(crate) fn from_stdout() -> Readiness {
        Readiness { _private: () }
    }

    /// Tell the parent we are serving, then let go of its terminal and pipes. Fails when the
    /// parent is gone (e.g. the user pressed Ctrl-C while waiting): the caller should unmount.
    pub(crate) fn ready(self) -> Result<(), String> {
        let mut stdout = std::io::stdout().lock();
        let sent = writeln!(stdout, "{READY}").and_then(|()| stdout.flush());
        drop(stdout);
        redirect_stdio_to_null();
        sent.map_err(|e| format!("the waiting ftpfs process is gone ({e}); giving up"))
    }

    /// Report a failure as one line for the parent to print.
    pub(crate) fn failed(self, message: &str) {
        let one_line = message.replace(['\n', '\r'], " ");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{ERROR_PREFIX}{one_line}").and_then(|()| stdout.flush());
    }
}

fn redirect_stdio_to_null() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto the standard descriptors; `null` stays open for the call.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}
