//! The complete description of one mount, produced by the CLI and consumed by `crate::run`.
//!
//! It is also what the foreground parent hands to the background child (see `pipe`), so it
//! holds resolved values only: the password is already looked up, paths are absolute.
//!
//! Defaults live once, in the `Default` of each config struct (`MountConfig`, `FtpConfig`,
//! `FsConfig`); the command line takes its defaults (and the ones `--help` shows) from there.
//! The leaf modules `percent` and `scheme` hold the two small encodings several layers share.

pub(crate) mod percent;
pub(crate) mod pipe;
pub(crate) mod scheme;

use std::path::PathBuf;

use crate::fs::FsConfig;
use crate::ftp::FtpConfig;

/// Who may use the mounted tree (FUSE `allow_other` / `allow_root`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Only the mounting user (the FUSE default).
    #[default]
    Owner,
    /// The mounting user and root (`allow_root`).
    OwnerAndRoot,
    /// Every user (`allow_other`; non-root needs `user_allow_other` in /etc/fuse.conf).
    AllUsers,
}

/// Everything `crate::run` needs. `Debug` never shows the password (FtpConfig masks it).
/// `Default` is the documented default mount: no server and no mountpoint yet, the server's
/// root, owner-only access, background, direct I/O.
#[derive(Clone, Debug)]
pub struct MountConfig {
    /// Where to connect and how to log in (server, TLS, connection limits, timeouts).
    pub ftp: FtpConfig,
    /// How the mounted tree looks and caches.
    pub fs: FsConfig,
    /// Absolute remote directory shown as the mount's root ("/" for the server's root).
    /// Every fs path is prefixed with it before it reaches the server.
    pub remote_root: String,
    /// Absolute local directory to mount on.
    pub mountpoint: PathBuf,
    /// Which local users may use the mount (`allow_root`, `allow_other`).
    pub access: Access,
    /// Let the kernel check permissions against the shown mode/uid/gid (always on with
    /// `allow_other` unless `allow_other_without_permission_checks`).
    pub default_permissions: bool,
    /// Refuse to execute programs on the mount (`noexec`).
    pub noexec: bool,
    /// Stay attached to the terminal instead of returning once the mount is ready.
    pub foreground: bool,
    /// FUSE worker threads, so one slow transfer never blocks `ls`.
    pub fuse_threads: usize,
    /// Let the kernel page cache hold file data (`-o page_cache`). Off by default: file I/O
    /// goes straight to ftpfs (direct I/O) and our chunk LRU is the data cache.
    pub page_cache: bool,
    /// Append log records here too (`--log-file`), absolute.
    pub log_file: Option<PathBuf>,
}

impl Default for MountConfig {
    fn default() -> Self {
        let ftp = FtpConfig::default();
        let fuse_threads = MountConfig::fuse_threads_for(ftp.max_connections);
        MountConfig {
            ftp,
            fs: FsConfig::default(),
            remote_root: "/".into(),
            mountpoint: PathBuf::new(),
            access: Access::Owner,
            default_permissions: false,
            noexec: false,
            foreground: false,
            fuse_threads,
            page_cache: false,
            log_file: None,
        }
    }
}

impl MountConfig {
    /// FUSE worker threads for a connection cap: twice the connections, so metadata requests
    /// keep flowing while transfers block threads, within 4..=32.
    pub fn fuse_threads_for(max_connections: usize) -> usize {
        max_connections.saturating_mul(2).clamp(4, 32)
    }

    /// The name shown in `mount`/`df`: `ftp://host[:port][/root]`, never the user or password.
    /// Characters that would break the kernel's comma-separated option string are %-escaped.
    pub fn fs_name(&self) -> String {
        let scheme = scheme::scheme(self.ftp.tls);
        let default_port = scheme::default_port(self.ftp.tls);
        let host = if self.ftp.host.contains(':') {
            format!("[{}]", self.ftp.host)
        } else {
            self.ftp.host.clone()
        };
        let port = if self.ftp.port == default_port {
            String::new()
        } else {
            format!(":{}", self.ftp.port)
        };
        let root = if self.remote_root == "/" {
            ""
        } else {
            &self.remote_root
        };
        percent::encode_str(&format!("{scheme}://{host}{port}{root}"), |c| {
            c == ',' || c == '\\' || c.is_whitespace() || c.is_control()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, port: u16, root: &str) -> MountConfig {
        MountConfig {
            ftp: FtpConfig::new(host, port),
            fs: FsConfig::default(),
            remote_root: root.into(),
            mountpoint: "/mnt".into(),
            access: Access::Owner,
            default_permissions: false,
            noexec: false,
            foreground: true,
            fuse_threads: 8,
            page_cache: false,
            log_file: None,
        }
    }

    #[test]
    fn fs_name_omits_default_port_and_escapes_commas() {
        assert_eq!(config("h", 21, "/").fs_name(), "ftp://h");
        assert_eq!(
            config("::1", 2121, "/pub").fs_name(),
            "ftp://[::1]:2121/pub"
        );
        assert_eq!(config("h", 21, "/a,b c").fs_name(), "ftp://h/a%2Cb%20c");
    }

    #[test]
    fn fs_name_never_contains_credentials() {
        let mut with_login = config("h", 21, "/");
        with_login.ftp.user = Some("alice".into());
        with_login.ftp.password = Some("s3cret".into());
        assert_eq!(with_login.fs_name(), "ftp://h");
        assert!(!format!("{with_login:?}").contains("s3cret"));
    }
}
