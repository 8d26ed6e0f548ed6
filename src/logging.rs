//! Where log records go: stderr always, plus syslog and a log file for mounts that outlive
//! their terminal.
//!
//! A background mount points stderr at /dev/null once it is ready, so without more its later
//! warnings (a failed read, a lost upload) would be lost. Like sshfs and mountpoint-s3 it then
//! also logs to syslog when /dev/log exists, and to `--log-file FILE` when given (appended,
//! created 0600: log lines name files and servers). A foreground mount logs to stderr and the
//! file. Every sink gets the same records (the -v level, or RUST_LOG when set), so the file of
//! a `-vvv` mount holds the FTP control lines too; the FTP layer masks PASS before logging.
//!
//! Syslog goes through the C library's `syslog(3)` (via the `libc` crate we already use): it
//! is what sshfs uses, handles /dev/log datagrams, reconnects after a syslog restart, and adds
//! the timestamp and `ftpfs[PID]` tag, with no new dependency.
//!
//! `log` allows one logger per process, so ours is installed once at start-up and the extra
//! sinks are switched on later, when the mount's configuration is known (`keep_logs`).
//! Locking: the sinks sit behind one `RwLock`, read for every record; written only when a sink
//! is added.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The -v count given at start-up (the file sink is built with the same filter).
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// The sinks besides stderr.
struct Sinks {
    file: Option<env_logger::Logger>,
    syslog: bool,
}

static SINKS: RwLock<Sinks> = RwLock::new(Sinks {
    file: None,
    syslog: false,
});

/// Warnings by default, more with each -v; RUST_LOG, when set, wins.
fn builder(verbosity: u8) -> env_logger::Builder {
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format_timestamp_millis();
    builder
}

struct Logger {
    stderr: env_logger::Logger,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.stderr.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.stderr.matches(record) {
            return;
        }
        self.stderr.log(record);
        let sinks = SINKS
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(file) = &sinks.file {
            file.log(record);
        }
        if sinks.syslog {
            to_syslog(record);
        }
    }

    fn flush(&self) {
        self.stderr.flush();
        let sinks = SINKS
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(file) = &sinks.file {
            file.flush();
        }
    }
}

/// Install the logger (stderr only for now). Call once, first thing in `main`.
pub fn init(verbosity: u8) {
    VERBOSITY.store(verbosity, Ordering::Relaxed);
    let stderr = builder(verbosity).build();
    let max = stderr.filter();
    if log::set_boxed_logger(Box::new(Logger { stderr })).is_ok() {
        log::set_max_level(max);
    }
}

/// Open (creating it 0600) the log file for appending. Used by the foreground parent too, so
/// that an unusable path fails before the mount starts, with one line.
pub fn open_log_file(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open log file {}: {e}", path.display()))
}

/// Whether a syslog daemon listens (sshfs and mountpoint-s3 check the same socket).
pub fn syslog_available() -> bool {
    Path::new("/dev/log").exists()
}

/// Start keeping logs: append to `log_file` when given and, for a background mount, send to
/// syslog when it is available.
pub fn keep_logs(log_file: Option<&Path>, background: bool) -> Result<(), String> {
    let file = log_file.map(open_log_file).transpose()?;
    let syslog = background && syslog_available();
    if syslog {
        // SAFETY: the ident is a static C string (openlog keeps the pointer).
        unsafe { libc::openlog(c"ftpfs".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    }
    let mut sinks = SINKS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(file) = file {
        let logger = builder(VERBOSITY.load(Ordering::Relaxed))
            .target(env_logger::Target::Pipe(Box::new(file)))
            .write_style(env_logger::WriteStyle::Never)
            .build();
        sinks.file = Some(logger);
    }
    sinks.syslog |= syslog;
    Ok(())
}

/// Whether records go anywhere besides stderr.
pub fn logs_are_kept() -> bool {
    let sinks = SINKS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    sinks.file.is_some() || sinks.syslog
}

fn to_syslog(record: &Record<'_>) {
    let priority = match record.level() {
        Level::Error => libc::LOG_ERR,
        Level::Warn => libc::LOG_WARNING,
        Level::Info => libc::LOG_INFO,
        Level::Debug | Level::Trace => libc::LOG_DEBUG,
    };
    let text = match record.level() {
        Level::Debug | Level::Trace => format!("{}: {}", record.target(), record.args()),
        _ => record.args().to_string(),
    };
    let Ok(text) = std::ffi::CString::new(text.replace('\0', "\\0")) else {
        return;
    };
    // SAFETY: a constant "%s" format with one valid C string argument.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
}
