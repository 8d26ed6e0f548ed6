//! Command-line interface: clap definitions and their translation into a `crate::Action`.
//!
//! This layer only translates: the raw arguments are normalised first (`argv`: the mount(8)
//! form `ftpfs SOURCE MOUNTPOINT -o ...` and `-o` spellings of long options), SOURCE and `-o`
//! are parsed by pure functions (`source`, `options`), the login is looked up in the documented
//! order (`password`, `netrc`), and the result is a fully resolved `MountConfig` whose defaults
//! come from the config structs. `docs` renders the manual page and completions from the same
//! clap definition. Errors in what the user typed are one line and
//! exit status 2 (like clap's own usage errors); runtime problems are exit status 1.

pub(crate) mod argv;
pub(crate) mod docs;
pub(crate) mod netrc;
pub mod options;
pub(crate) mod password;
pub mod source;

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};

use crate::Action;
use crate::config::{Access, MountConfig};
use crate::fs::FsConfig;
use crate::ftp::{DataMode, FtpConfig, TlsMode};
use crate::mount;
use options::{ByteSize, Seconds};

/// Mount an FTP server as a local filesystem.
#[derive(Debug, Parser)]
#[command(name = "ftpfs", version, about, propagate_version = true, after_long_help = MOUNT_FORMS)]
pub struct Cli {
    /// More log output: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The subcommand (the mount(8) form arrives here as `Mount`).
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands of `ftpfs`.
// Parsed once per run: boxing the mount arguments would only complicate every match on them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Mount SOURCE on MOUNTPOINT; returns once the mount is ready (unless -f).
    /// `ftpfs SOURCE MOUNTPOINT -o OPTIONS` (the mount(8) form) means the same.
    // A repeated option is not an error: the later wins, as with `-o` items.
    #[command(args_override_self = true)]
    Mount(MountArgs),
    /// Unmount an ftpfs mount (fusermount3 -u).
    #[command(alias = "unmount")]
    Umount {
        /// The directory an ftpfs mount is on.
        mountpoint: PathBuf,
    },
    /// Print the manual page, ftpfs(1), in roff (e.g. `ftpfs man > ftpfs.1`).
    Man,
    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to write the script for.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Show what a mount is doing: connections, transfers in flight, cache, errors.
    Status(StatusArgs),
    /// Wait until every upload of a --writeback mount is on the server (sync(1) cannot: the
    /// kernel does not pass it on to FUSE); exit status 1 names what failed or is still pending.
    Sync(SyncArgs),
    /// Internal: the background process started by `mount`; reads its config on stdin.
    #[command(name = "__daemon", hide = true)]
    Daemon,
}

/// The mount(8) and fstab forms, shown by `ftpfs --help` and in the manual page.
const MOUNT_FORMS: &str = "\
mount(8) and fstab: `ftpfs SOURCE MOUNTPOINT -o OPTIONS` means `ftpfs mount`, so \
`mount -t fuse.ftpfs SOURCE MOUNTPOINT -o OPTIONS` and fstab lines of type fuse.ftpfs work. \
Every --long option of `ftpfs mount` can be written as an -o item (`-o password_file=FILE`, \
`-o connections=8`, `-o tls`). Options for mount(8) and systemd (_netdev, noauto, nofail, \
user, users, defaults, comment=, x-systemd.*) are accepted and ignored. \
Example fstab line: \
ftp://backup@nas/ /mnt/nas fuse.ftpfs password_file=/etc/ftpfs.pw,_netdev,x-systemd.automount 0 0";

/// Arguments of `ftpfs mount`.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// The server and remote directory as typed, parsed by `source::parse_source`.
    #[arg(help = source::help())]
    pub source: String,
    /// Existing directory to mount on.
    pub mountpoint: PathBuf,
    #[arg(short = 'o', value_name = "OPTIONS", action = ArgAction::Append,
          help = options::help())]
    /// Every `-o` value as typed (each may hold several comma-separated options).
    pub options: Vec<String>,
    /// Upload straight onto the real name (plain STOR) instead of to a temporary name renamed
    /// over it when complete: for servers that forbid renames or quotas too tight for two copies.
    /// A failed upload then leaves a short file.
    #[arg(long)]
    pub inplace: bool,
    /// Write-back mode (off by default): close returns once the file's data is fsync'd in a
    /// local spool; uploads run in the background, several at once. fsync waits for the upload,
    /// unmount drains the spool, the next mount resumes what is left. See README "Semantics".
    #[arg(long)]
    pub writeback: bool,
    /// Size limit of the write-back spool, e.g. 512M, 2G: a close waits for uploads to free room;
    /// a larger file is uploaded at close as without --writeback.
    #[arg(long, value_name = "BYTES", value_parser = options::parse_size_arg,
          default_value_t = ByteSize(FsConfig::default().spool_size))]
    pub spool_size: ByteSize,
    /// The write-back spool directory (default: one per SOURCE under $XDG_CACHE_HOME/ftpfs/spool,
    /// ~/.cache/ftpfs/spool or, for root, /var/cache/ftpfs/spool).
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Maximum simultaneous FTP connections (1-64).
    #[arg(long, value_name = "N", value_parser = options::parse_connections,
          default_value_t = FtpConfig::default().max_connections)]
    pub connections: usize,
    /// How long a directory listing is trusted, in seconds (0: always ask the server).
    #[arg(long, value_name = "SECS", default_value_t = FsConfig::default().dir_cache_ttl.as_secs())]
    pub dir_cache_ttl: u64,
    /// Memory budget for cached file data, e.g. 64M, 1G.
    #[arg(long, value_name = "BYTES", value_parser = options::parse_size_arg,
          default_value_t = ByteSize(FsConfig::default().cache_size))]
    pub cache_size: ByteSize,
    /// Give up on a server that stays silent this long, in seconds.
    #[arg(long, value_name = "SECS", value_parser = options::parse_seconds_arg,
          default_value_t = Seconds(FtpConfig::default().io_timeout))]
    pub timeout: Seconds,
    /// Give up connecting after this long, in seconds.
    #[arg(long, value_name = "SECS", value_parser = options::parse_seconds_arg,
          default_value_t = Seconds(FtpConfig::default().connect_timeout))]
    pub connect_timeout: Seconds,
    /// Active mode: the server connects back to us (EPRT/PORT) instead of passive EPSV/PASV
    /// (the default).
    #[arg(long)]
    pub active: bool,
    /// Explicit TLS (AUTH TLS) on a plain ftp:// URL.
    #[arg(long)]
    pub tls: bool,
    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Also trust the CA certificates in this PEM file; the server's own certificate given here
    /// is trusted as itself, even self-signed.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint (as
    /// `openssl x509 -noout -fingerprint -sha256` prints it), whoever signed it.
    #[arg(long, value_name = "sha256:HEX")]
    pub fingerprint: Option<crate::ftp::Fingerprint>,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Also append log records to FILE (created 0600). A background mount logs to syslog
    /// as well when /dev/log exists; without either, its messages after start-up are lost.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Stay in the foreground (logs go to stderr); Ctrl-C unmounts.
    #[arg(short, long)]
    pub foreground: bool,
}

/// Arguments of `ftpfs status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The directory an ftpfs mount (of this user) is on.
    pub mountpoint: PathBuf,
    /// Machine-readable output (one JSON object per report).
    #[arg(long)]
    pub json: bool,
    /// Refresh until interrupted, like watch(1).
    #[arg(short, long)]
    pub watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(short = 'n', long, value_name = "SECS", default_value = "1",
          value_parser = options::parse_positive_seconds)]
    pub interval: Duration,
}

/// Arguments of `ftpfs sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The directory an ftpfs mount (of this user) is on.
    pub mountpoint: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value = "300",
          value_parser = options::parse_positive_seconds)]
    pub timeout: Duration,
}

/// A translation failure: one line for the user and the exit status to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    /// One line for stderr, printed after `ftpfs: `.
    pub message: String,
    /// 2 for a usage error, 1 for anything else.
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

/// Parse the command line (the program name first), after `argv::expand`.
pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let args = argv::expand(args.into_iter().collect())
        .map_err(|message| Cli::command().error(clap::error::ErrorKind::InvalidValue, message))?;
    Cli::try_parse_from(args)
}

/// A clap usage error as one line: its first paragraph (a list of missing arguments included)
/// without clap's `error: ` prefix, usage and tips.
pub fn one_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = paragraph.join(" ");
    let message = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("{message} (see ftpfs --help)")
}

/// Turn parsed arguments into what `crate::run` does.
pub fn translate(cli: Cli) -> Result<Action, CliError> {
    match cli.command {
        CliCommand::Mount(args) => mount_config(args).map(|c| Action::Mount(Box::new(c))),
        CliCommand::Umount { mountpoint } => Ok(Action::Unmount(mountpoint)),
        CliCommand::Man => docs::man_page()
            .map(Action::Print)
            .map_err(CliError::runtime),
        CliCommand::Completions { shell } => Ok(Action::Print(docs::completions(shell))),
        CliCommand::Status(args) => Ok(Action::Status(crate::status::StatusRequest {
            mountpoint: args.mountpoint,
            json: args.json,
            watch: args.watch.then_some(args.interval),
        })),
        CliCommand::Sync(args) => Ok(Action::Sync(crate::status::SyncRequest {
            mountpoint: args.mountpoint,
            timeout: args.timeout,
        })),
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
    ftp.fingerprint = args.fingerprint;
    if ftp.tls == TlsMode::None
        && (args.insecure || args.ca_file.is_some() || args.fingerprint.is_some())
    {
        log::warn!(
            "--insecure, --ca-file and --fingerprint only matter with TLS (ftps://, ftpes:// or \
             --tls)"
        );
    }
    ftp.max_connections = args.connections;
    ftp.io_timeout = args.timeout.0;
    ftp.connect_timeout = args.connect_timeout.0;

    let mut fs = FsConfig {
        dir_cache_ttl: Duration::from_secs(args.dir_cache_ttl),
        cache_size: args.cache_size.0,
        ..FsConfig::default()
    };
    if let Some(read_only) = options.read_only {
        fs.read_only = read_only;
    }
    fs.uid = options.uid.unwrap_or(fs.uid);
    fs.gid = options.gid.unwrap_or(fs.gid);
    fs.umask = options.umask.unwrap_or(fs.umask);
    fs.spool_dir = absolute(&fs.spool_dir)?;
    fs.inplace_uploads = args.inplace;
    fs.writeback = args.writeback;
    fs.spool_size = args.spool_size.0;
    fs.writeback_workers = args.connections.saturating_sub(1).max(1);
    if let Some(dir) = &args.spool_dir {
        fs.writeback_dir = absolute(dir)?;
    }

    let access = options.access.unwrap_or(Access::Owner);
    // Without the kernel's checks every user of a shared mount could read and write everything
    // (ftpfs itself checks nothing: the server sees one login). Shared means checked, unless
    // the user chose the option that says the risk.
    let default_permissions = options.default_permissions
        || (access == Access::AllUsers && !options.skip_permission_checks);
    let config = MountConfig {
        ftp,
        fs,
        remote_root: source.root.clone(),
        mountpoint: absolute(&args.mountpoint)?,
        access,
        default_permissions,
        noexec: options.noexec,
        foreground: args.foreground,
        fuse_threads: MountConfig::fuse_threads_for(args.connections),
        page_cache: options.page_cache,
        log_file: args.log_file.as_deref().map(absolute).transpose()?,
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
    if args.spool_dir.is_none() {
        config.fs.writeback_dir = writeback_dir(&config);
    }
    Ok(config)
}

/// The default write-back spool of this mount's source, `user@host:port/root`, so the next
/// mount of the same source finds what is pending. Root uses /var/cache (no home lookup).
fn writeback_dir(config: &MountConfig) -> PathBuf {
    let user = config
        .ftp
        .user
        .as_deref()
        .map_or(String::new(), |u| format!("{u}@"));
    let source = format!(
        "{user}{}:{}{}",
        config.ftp.host, config.ftp.port, config.remote_root
    );
    // SAFETY: geteuid cannot fail and has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    crate::fs::writeback::default_spool_dir(
        &source,
        xdg.as_deref().filter(|_| !root),
        home.as_deref().filter(|_| !root),
    )
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
