//! The complete description of one mount, produced by the CLI and consumed by `crate::run`.
//!
//! It is also what the foreground parent hands to the background child (see `wire`), so it
//! holds resolved values only: the password is already looked up, paths are absolute.

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
#[derive(Clone, Debug)]
pub struct MountConfig {
    pub ftp: FtpConfig,
    pub fs: FsConfig,
    /// Absolute remote directory shown as the mount's root ("/" for the server's root).
    /// Every fs path is prefixed with it before it reaches the server.
    pub remote_root: String,
    /// Absolute local directory to mount on.
    pub mountpoint: PathBuf,
    pub access: Access,
    /// Let the kernel check permissions against the shown mode/uid/gid.
    pub default_permissions: bool,
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

impl MountConfig {
    /// The name shown in `mount`/`df`: `ftp://host[:port][/root]`, never the user or password.
    /// Characters that would break the kernel's comma-separated option string are %-escaped.
    pub fn fs_name(&self) -> String {
        let scheme = match self.ftp.tls {
            crate::ftp::TlsMode::None => "ftp",
            crate::ftp::TlsMode::Explicit => "ftpes",
            crate::ftp::TlsMode::Implicit => "ftps",
        };
        let default_port = match self.ftp.tls {
            crate::ftp::TlsMode::Implicit => 990,
            _ => 21,
        };
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
        let mut name = String::new();
        for c in format!("{scheme}://{host}{port}{root}").chars() {
            if c == ',' || c == '%' || c == '\\' || c.is_whitespace() || c.is_control() {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    name.push_str(&format!("%{byte:02X}"));
                }
            } else {
                name.push(c);
            }
        }
        name
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
