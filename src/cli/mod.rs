//! Command-line interface: clap definitions and their translation into a `crate::Action`.
//!
//! This layer only translates: SOURCE and `-o` are parsed by pure functions (`source`,
//! `options`), the login is looked up in the documented order (`password`, `netrc`), and the
//! result is a fully resolved `MountConfig`. Errors in what the user typed are one line and
//! exit status 2 (like clap's own usage errors); runtime problems are exit status 1.

pub mod netrc;
pub mod options;
pub mod password;
pub mod source;

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};

use crate::Action;
use crate::fs::FsConfig;
use crate::ftp::{DataMode, FtpConfig, TlsMode};
use crate::mount::{self, Access, MountConfig};

/// Mount an FTP server as a local filesystem.
#[derive(Debug, Parser)]
#[command(name = "ftpfs", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Mount SOURCE on MOUNTPOINT; returns once the mount is ready (unless -f).
    Mount(MountArgs),
    /// Unmount an ftpfs mount (fusermount3 -u).
    #[command(alias = "unmount")]
    Umount {
        /// The directory an ftpfs mount is on.
        mountpoint: PathBuf,
    },
    /// Internal: the background process started by `mount`; reads its config on stdin.
    #[command(name = "__daemon", hide = true)]
    Daemon,
}

/// Arguments of `ftpfs mount`.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// host, host:port, [v6::addr]:port, or ftp://[user[:password]@]host[:port][/path]
    /// (ftps:// = implicit TLS on port 990, ftpes:// = explicit TLS). Prefer FTPFS_PASSWORD,
    /// --password-file or ~/.netrc over a password in the URL.
    pub source: String,
    /// Existing directory to mount on.
    pub mountpoint: PathBuf,
    /// Mount options, comma-separated: ro, rw, allow_other, allow_root, default_permissions,
    /// page_cache (kernel caches file data; default is direct I/O), inplace (as --inplace),
    /// uid=N, gid=N, umask=OCTAL.
    #[arg(short = 'o', value_name = "OPTIONS", action = ArgAction::Append)]
    pub options: Vec<String>,
    /// Upload straight onto the real name (plain STOR) instead of to a temporary name renamed
    /// over it when complete: for servers that forbid renames or quotas too tight for two copies.
    /// A failed upload then leaves a short file.
    #[arg(long)]
    pub inplace: bool,
    /// Maximum simultaneous FTP connections.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub connections: u16,
    /// How long a directory listing is trusted, in seconds (0: always ask the server).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub dir_cache_ttl: u64,
    /// Memory budget for cached file data, e.g. 64M, 1G.
    #[arg(long, value_name = "BYTES", value_parser = options::parse_size)]
    pub cache_size: Option<u64>,
    /// Give up on a server that stays silent this long, in seconds (default 30).
    #[arg(long, value_name = "SECS", value_parser = options::parse_positive_seconds)]
    pub timeout: Option<Duration>,
    /// Give up connecting after this long, in seconds (default 10).
    #[arg(long, value_name = "SECS", value_parser = options::parse_positive_seconds)]
    pub connect_timeout: Option<Duration>,
    /// Active mode: the server connects back to us (EPRT/PORT) instead of passive EPSV/PASV.
    #[arg(long)]
    pub active: bool,
    /// Explicit TLS (AUTH TLS) on a plain ftp:// URL.
    #[arg(long)]
    pub tls: bool,
    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Stay in the foreground (logs go to stderr); Ctrl-C unmounts.
    #[arg(short, long)]
    pub foreground: bool,
}

/// A translation failure: one line for the user and the exit status to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
    pub exit_code: u8,
}

impl CliError {
    /// Something the user typed is wrong (exit 2, like clap's usage errors).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 2,
        }
    }

    /// The input was fine but the world was not (exit 1).
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Turn parsed arguments into what `crate::run` does.
pub fn translate(cli: Cli) -> Result<Action, CliError> {
    match cli.command {
        CliCommand::Mount(args) => mount_config(args).map(|c| Action::Mount(Box::new(c))),
        CliCommand::Umount { mountpoint } => Ok(Action::Unmount(mountpoint)),
        CliCommand::Daemon => Ok(Action::DaemonChild),
    }
}

/// Everything but the login, with no side effects: tested as a table.
pub fn config_without_login(args: &MountArgs) -> Result<(MountConfig, source::Source), CliError> {
    let source = source::parse_source(&args.source)
        .map_err(|e| CliError::usage(format!("bad SOURCE {:?}: {e}", redact(&args.source))))?;
    let options = options::parse_mount_options(&args.options).map_err(CliError::usage)?;

    let mut ftp = FtpConfig::new(source.host.clone(), source.effective_port());
    ftp.user = source.user.clone();
    ftp.password = source.password.clone();
    ftp.tls = match (source.tls, args.tls) {
        (TlsMode::None, true) => TlsMode::Explicit,
        (tls, _) => tls,
    };
    ftp.data_mode = if args.active {
        DataMode::Active
    } else {
        DataMode::Passive
    };
    ftp.insecure = args.insecure;
    ftp.ca_file = args.ca_file.as_deref().map(absolute).transpose()?;
    if ftp.tls == TlsMode::None && (args.insecure || args.ca_file.is_some()) {
        log::warn!("--insecure and --ca-file only matter with TLS (ftps://, ftpes:// or --tls)");
    }
    ftp.max_connections = usize::from(args.connections);
    if let Some(timeout) = args.timeout {
        ftp.io_timeout = timeout;
    }
    if let Some(timeout) = args.connect_timeout {
        ftp.connect_timeout = timeout;
    }

    let mut fs = FsConfig {
        dir_cache_ttl: Duration::from_secs(args.dir_cache_ttl),
        ..FsConfig::default()
    };
    if let Some(size) = args.cache_size {
        fs.cache_size = size;
    }
    if let Some(read_only) = options.read_only {
        fs.read_only = read_only;
    }
    fs.uid = options.uid.unwrap_or(fs.uid);
    fs.gid = options.gid.unwrap_or(fs.gid);
    fs.umask = options.umask.unwrap_or(fs.umask);
    fs.spool_dir = absolute(&fs.spool_dir)?;
    fs.inplace_uploads = args.inplace || options.inplace;

    let config = MountConfig {
        ftp,
        fs,
        remote_root: source.root.clone(),
        mountpoint: absolute(&args.mountpoint)?,
        access: options.access.unwrap_or(Access::Owner),
        default_permissions: options.default_permissions,
        foreground: args.foreground,
        // Twice the connections: metadata requests keep flowing while transfers block threads.
        fuse_threads: (usize::from(args.connections) * 2).clamp(4, 32),
        page_cache: options.page_cache,
    };
    Ok((config, source))
}

fn mount_config(args: MountArgs) -> Result<MountConfig, CliError> {
    let (mut config, source) = config_without_login(&args)?;
    // Before asking for a password: a typo in the mountpoint should not cost a prompt.
    mount::check_mountpoint(&config.mountpoint).map_err(|e| CliError::runtime(e.message))?;
    let file_password = args
        .password_file
        .as_deref()
        .map(password::read_password_file)
        .transpose()
        .map_err(CliError::runtime)?;
    let login = password::resolve_login(password::LoginSources {
        host: &source.host,
        url_user: source.user,
        url_password: source.password,
        env_password: std::env::var("FTPFS_PASSWORD").ok(),
        file_password,
        netrc: password::load_netrc(),
        prompt: &mut password::prompt_password,
    });
    config.ftp.user = login.user;
    config.ftp.password = login.password;
    Ok(config)
}

fn absolute(path: &std::path::Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| CliError::runtime(format!("{}: {e}", path.display())))
}

/// SOURCE for an error message, with any password replaced.
fn redact(source: &str) -> String {
    let Some((scheme, rest)) = source.split_once("://") else {
        return source.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:****@{}{path}", &authority[at + 1..]),
            None => source.to_string(),
        },
        None => source.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_messages() {
        assert_eq!(redact("ftp://u:pw@h:99/x"), "ftp://u:****@h:99/x");
        assert_eq!(redact("ftp://u@h"), "ftp://u@h");
        assert_eq!(redact("h:21"), "h:21");
    }
}
