//! ftpfs: mount an FTP server as a local filesystem.
//!
//! Layers, dependencies pointing one way only:
//! `cli` -> `config` (plain data) -> `mount` -> `fuse` (the only user of `fuser::Reply*`) -> `fs` core -> `cache` ->
//! `remote` trait <- `ftp` client. `ftp` never imports fuser, fs or cache.
//! Beside the layers: `logging` (where records go) and `status` (counters and transfers for
//! `ftpfs status`), which import no layer above `remote`, so every layer may feed them.
//!
//! `run` below is the composition root: the only place that knows every layer, builds them from
//! a `MountConfig` and hands the result to `mount::serve`.
//!
//! Visibility: modules are `pub(crate)` unless the binary, the integration tests or the fuzz
//! targets use them; `unreachable_pub` keeps items inside private modules from claiming more.

#![warn(unreachable_pub, missing_docs)]

pub(crate) mod cache;
pub mod cli;
pub mod config;
pub mod fs;
pub mod ftp;
pub mod fuse;
pub mod logging;
pub(crate) mod mount;
pub mod remote;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::MountConfig;
pub use mount::MountError;

use ftp::FtpRemote;
use mount::ShutdownSignals;
use mount::daemon::{self, Readiness};

/// What the command line asked for.
#[derive(Debug)]
pub enum Action {
    /// Mount; in the background unless `config.foreground`.
    Mount(Box<MountConfig>),
    /// Unmount an ftpfs mount.
    Unmount(PathBuf),
    /// Write these bytes to stdout (the manual page, a completion script).
    Print(Vec<u8>),
    /// Be the background process of a `Mount`: config on stdin, readiness on stdout.
    DaemonChild,
    /// Show what a mount is doing (`ftpfs status`).
    Status(status::StatusRequest),
    /// Wait for a write-back mount's uploads (`ftpfs sync`).
    Sync(status::SyncRequest),
}

/// Do it. On `Err`, print `ftpfs: <error>` unless `error.reported`, and exit 1.
pub fn run(action: Action) -> Result<(), MountError> {
    match action {
        Action::Mount(config) if config.foreground => {
            logging::keep_logs(config.log_file.as_deref(), false).map_err(MountError::new)?;
            serve(*config, || Ok(()))
        }
        Action::Mount(config) => {
            // Checked here too so the common mistake fails without starting a process.
            mount::check_mountpoint(&config.mountpoint)?;
            if let Some(path) = &config.log_file {
                // Created (0600) here, so a bad path is reported before anything starts.
                drop(logging::open_log_file(path).map_err(MountError::new)?);
            }
            daemon::spawn_and_wait(&config)
        }
        Action::Unmount(mountpoint) => mount::unmount(&mountpoint),
        Action::Print(bytes) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| MountError::new(format!("cannot write to stdout: {e}")))
        }
        Action::DaemonChild => run_daemon_child(),
        Action::Status(request) => status::client::run(&request).map_err(MountError::new),
        Action::Sync(request) => status::client::sync(&request).map_err(MountError::new),
    }
}

fn run_daemon_child() -> Result<(), MountError> {
    daemon::detach_from_caller();
    let readiness = Readiness::from_stdout();
    let config = daemon::read_config_from_stdin().and_then(|config| {
        match logging::keep_logs(config.log_file.as_deref(), true) {
            Ok(()) => Ok(config),
            Err(message) => Err(MountError::new(message)),
        }
    });
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            readiness.failed(&e.message);
            return Err(MountError {
                reported: true,
                ..e
            });
        }
    };
    // `serve` consumes the readiness on success; keep it reachable for reporting a failure.
    let mut pending = Some(readiness);
    let result = serve(config, || match pending.take() {
        Some(readiness) => {
            if !logging::logs_are_kept() {
                // Still on the caller's stderr: the last chance to say so.
                log::warn!(
                    "no /dev/log and no --log-file: messages of this mount from now on are lost"
                );
            }
            readiness.ready()
        }
        None => Ok(()),
    });
    match (result, pending) {
        (Err(e), Some(readiness)) => {
            readiness.failed(&e.message);
            Err(MountError {
                reported: true,
                ..e
            })
        }
        (result, _) => result,
    }
}

/// Connect, build the layers, mount and serve until told to stop.
fn serve(
    config: MountConfig,
    on_ready: impl FnOnce() -> Result<(), String>,
) -> Result<(), MountError> {
    mount::check_mountpoint(&config.mountpoint)?;
    // Before any thread exists, so all of them inherit the block (see mount::signals).
    let signals = ShutdownSignals::block()
        .map_err(|e| MountError::new(format!("cannot block signals: {e}")))?;
    log::debug!("connecting with {:?}", config.ftp);
    let remote = FtpRemote::connect(config.ftp.clone()).map_err(|e| {
        MountError::new(format!(
            "{}:{}: {}",
            config.ftp.host, config.ftp.port, e.message
        ))
    })?;
    let remote = Arc::new(remote);
    if let Some(signal) = signals.wait(std::time::Duration::ZERO) {
        remote.shutdown();
        return Err(MountError::new(format!(
            "interrupted by {}",
            mount::signals::signal_name(signal)
        )));
    }

    check_remote_root(&*remote, &config)?;
    let rooted: Arc<dyn remote::Remote> = Arc::new(remote::Rooted::new(
        remote.clone(),
        config.remote_root.clone(),
    ));
    let filesystem = fs::FsCore::new(rooted, config.fs.clone());
    if let Err(err) = filesystem.start_writeback() {
        remote.shutdown();
        return Err(MountError::new(err.message));
    }
    let status_server = start_status(&config, &remote, &filesystem);
    let fuse_fs = fuse::FuseAdapter::new(filesystem.clone(), config.page_cache);
    let shutdown_fs = move || filesystem.shutdown().map_err(|e| e.message);

    let result = mount::serve(fuse_fs, &config, &signals, on_ready, shutdown_fs);
    drop(status_server);
    status::global().set_connections_probe(None);
    status::global().set_cache_probe(None);
    remote.shutdown();
    result
}

/// The path in the URL must be a directory on the server: several servers (vsftpd) answer a
/// listing of a missing directory with an empty one, which would mount as an empty tree and
/// let a backup job write into nowhere. One stat at mount; a server that cannot answer it
/// (an error other than "not found") is let through with a warning.
fn check_remote_root(remote: &dyn remote::Remote, config: &MountConfig) -> Result<(), MountError> {
    let root = std::path::Path::new(&config.remote_root);
    if root == std::path::Path::new("/") {
        return Ok(());
    }
    let place = |what: &str| {
        MountError::new(format!(
            "{}:{}: {} {what} on the server",
            config.ftp.host,
            config.ftp.port,
            root.display()
        ))
    };
    match remote.stat(root) {
        Ok(entry) if entry.kind == remote::EntryKind::File => {
            Err(place("is a file, not a directory"))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind == remote::RemoteErrorKind::NotFound => Err(place("does not exist")),
        Err(e) => {
            log::warn!("cannot check that {} exists: {}", root.display(), e.message);
            Ok(())
        }
    }
}

/// Feed `ftpfs status` from the pool and the cache and open its socket. A mount without
/// status is still a mount: failures are logged, not fatal.
fn start_status(
    config: &MountConfig,
    remote: &Arc<FtpRemote>,
    filesystem: &Arc<fs::FsCore>,
) -> Option<status::StatusServer> {
    let pool = remote.pool().clone();
    status::global().set_connections_probe(Some(Arc::new(move || {
        let counts = pool.counts();
        status::Connections {
            busy: counts.busy,
            idle: counts.idle,
            limit: counts.cap,
            configured: counts.configured,
        }
    })));
    let weak = Arc::downgrade(filesystem);
    status::global().set_cache_probe(Some(Arc::new(move || {
        weak.upgrade()
            .map_or((0, 0), |filesystem| filesystem.chunk_cache_stats())
    })));
    match status::StatusServer::start(&config.mountpoint, config.fs_name()) {
        Ok(server) => Some(server),
        Err(message) => {
            log::warn!("`ftpfs status` will not work for this mount: {message}");
            None
        }
    }
}
