//! The server kinds the tests run on, and ONE table of what each cannot do.
//!
//! Tests ask `kind.lacks(Feature::X)` / `kind.can_or_skip(Feature::X)` and skip that part with
//! the reason from `LIMITATIONS` (the README's server table says the same). A limitation is not
//! a missing tool: it is skipped in CI too, unlike a server that is not installed
//! (`available_or_skip`, the skip rule of skip.rs).

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::skip::{current_test, is_root, note, unavailable};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Vsftpd,
    Proftpd,
    PureFtpd,
    Pyftpdlib,
    /// libunftp's `unftp` server (Rust, async), built by install.sh.
    Unftp,
}

/// Something a test may need from a server that not every server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Anonymous read-only login on the same root.
    Anonymous,
    /// MLSD/MLST (exact times in listings).
    Mlsd,
    /// Setting a file's mtime (MFMT or vsftpd's MDTM-set).
    SetFileTime,
    /// Setting a directory's mtime.
    SetDirTime,
    /// SITE CHMOD.
    Chmod,
    /// A configurable limit of simultaneous clients per IP address.
    ConnectionLimit,
    /// MKD of an existing directory answered so that the client can tell "exists".
    MkdirExistsReply,
    /// RETR of a missing file refused before the data connection opens (not 150 then 550).
    RetrRefusedEarly,
    /// The server's disk permissions bind the logged-in user (a read-only directory refuses a
    /// STOR), i.e. the server writes as that user, not as root.
    DiskPermissions,
}

/// What each server cannot do, with the reason: the one table the tests skip by (the README's
/// server table says the same).
#[rustfmt::skip]
pub const LIMITATIONS: &[(ServerKind, Feature, &str)] = &[
    (ServerKind::Vsftpd, Feature::Mlsd, "vsftpd has LIST only (times to the minute or day)"),
    (ServerKind::Vsftpd, Feature::SetDirTime, "vsftpd's MDTM-set refuses directories (550)"),
    (ServerKind::PureFtpd, Feature::Anonymous, "pure-ftpd's anonymous root is the home of the system user ftp, so it is off"),
    (ServerKind::Pyftpdlib, Feature::SetDirTime, "pyftpdlib's MFMT refuses directories (550)"),
    (ServerKind::Unftp, Feature::Anonymous, "unftp's JSON-file authenticator has no anonymous login"),
    (ServerKind::Unftp, Feature::SetFileTime, "libunftp has no MFMT and no MDTM-set"),
    (ServerKind::Unftp, Feature::SetDirTime, "libunftp has no MFMT and no MDTM-set"),
    (ServerKind::Unftp, Feature::Chmod, "libunftp has no SITE CHMOD"),
    (ServerKind::Unftp, Feature::ConnectionLimit, "unftp has no per-client connection limit"),
    (ServerKind::Unftp, Feature::MkdirExistsReply, "libunftp answers MKD of an existing directory with 550 File not found"),
    (ServerKind::Pyftpdlib, Feature::DiskPermissions, "pyftpdlib runs as root here and writes whatever the directory's mode"),
    (ServerKind::Unftp, Feature::DiskPermissions, "unftp runs as root here and writes whatever the directory's mode"),
    (ServerKind::Unftp, Feature::RetrRefusedEarly, "libunftp answers RETR of a missing file with 150, then 550 (the error comes at the first read)"),
];

impl ServerKind {
    pub const ALL: [ServerKind; 5] = [
        ServerKind::Vsftpd,
        ServerKind::Proftpd,
        ServerKind::PureFtpd,
        ServerKind::Pyftpdlib,
        ServerKind::Unftp,
    ];

    /// Why this server cannot do `feature` (from `LIMITATIONS`), or None when it can.
    pub fn lacks(self, feature: Feature) -> Option<&'static str> {
        LIMITATIONS
            .iter()
            .find(|(kind, lacking, _)| *kind == self && *lacking == feature)
            .map(|(_, _, reason)| *reason)
    }

    /// Whether the server can do `feature`.
    pub fn can(self, feature: Feature) -> bool {
        self.lacks(feature).is_none()
    }

    /// True when the server can do `feature`; otherwise prints why the test (or the part of
    /// it that needs the feature) is skipped and returns false. A limitation is not a missing
    /// tool: this is a skip in CI too.
    pub fn can_or_skip(self, feature: Feature) -> bool {
        match self.lacks(feature) {
            None => true,
            Some(reason) => {
                note(&format!(
                    "SKIP {feature:?} checks of {} on {self}: {reason}",
                    current_test()
                ));
                false
            }
        }
    }

    /// The KIND argument of start.sh, also accepted in FTPFS_TEST_SERVERS.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Vsftpd => "vsftpd",
            ServerKind::Proftpd => "proftpd",
            ServerKind::PureFtpd => "pureftpd",
            ServerKind::Pyftpdlib => "pyftpdlib",
            ServerKind::Unftp => "unftp",
        }
    }

    pub fn from_name(name: &str) -> Option<ServerKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "vsftpd" => Some(ServerKind::Vsftpd),
            "proftpd" => Some(ServerKind::Proftpd),
            "pureftpd" | "pure-ftpd" => Some(ServerKind::PureFtpd),
            "pyftpdlib" => Some(ServerKind::Pyftpdlib),
            "unftp" | "libunftp" => Some(ServerKind::Unftp),
            _ => None,
        }
    }

    /// Whether `anonymous` may log in (read-only, same root); see `LIMITATIONS`.
    pub fn supports_anonymous(self) -> bool {
        self.can(Feature::Anonymous)
    }

    /// Whether the server has MLSD/MLST; see `LIMITATIONS`.
    pub fn supports_mlsd(self) -> bool {
        self.can(Feature::Mlsd)
    }

    /// Whether env FTPFS_TEST_SERVERS (comma separated kinds) is unset or names this kind.
    pub fn selected(self) -> bool {
        match std::env::var("FTPFS_TEST_SERVERS") {
            Ok(list) if !list.trim().is_empty() => list.split(',').any(|name| {
                let kind = ServerKind::from_name(name);
                assert!(
                    kind.is_some() || name.trim().is_empty(),
                    "FTPFS_TEST_SERVERS: unknown server {name:?}"
                );
                kind == Some(self)
            }),
            _ => true,
        }
    }

    /// Whether a test of this kind should run: true when selected and installed; otherwise a
    /// skip note (not selected), or the skip rule (not installed: fails under CI=true).
    pub fn available_or_skip(self) -> bool {
        if !self.selected() {
            eprintln!(
                "SKIP {} on {self}: not in FTPFS_TEST_SERVERS",
                current_test()
            );
            return false;
        }
        match self.unavailable_reason() {
            None => true,
            Some(reason) => {
                unavailable(&format!("{} on {self}", current_test()), &reason);
                false
            }
        }
    }

    /// Whether LIST shows `.` and `..` entries (pure-ftpd with -D, needed to show dotfiles).
    pub fn lists_dot_entries(self) -> bool {
        self == ServerKind::PureFtpd
    }

    /// Why the server cannot run here, or None when it can.
    pub fn unavailable_reason(self) -> Option<String> {
        static REASONS: OnceLock<Vec<(ServerKind, Option<String>)>> = OnceLock::new();
        REASONS
            .get_or_init(|| {
                ServerKind::ALL
                    .iter()
                    .map(|kind| (*kind, kind.check_available()))
                    .collect()
            })
            .iter()
            .find(|(kind, _)| *kind == self)
            .and_then(|(_, reason)| reason.clone())
    }

    fn check_available(self) -> Option<String> {
        if !is_root() {
            return Some(
                "the test servers need root (chown, system user, privileged servers)".into(),
            );
        }
        let servers_dir = servers_dir();
        let needed: Vec<PathBuf> = match self {
            ServerKind::Vsftpd => vec!["/usr/sbin/vsftpd".into()],
            ServerKind::Proftpd => vec![servers_dir.join("proftpd/usr/sbin/proftpd")],
            ServerKind::PureFtpd => vec![
                servers_dir.join("pure-ftpd/usr/sbin/pure-ftpd"),
                servers_dir.join("pure-ftpd/usr/bin/pure-pw"),
            ],
            ServerKind::Pyftpdlib => {
                let imported = Command::new("/usr/bin/python3")
                    .args(["-c", "import pyftpdlib"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|status| status.success())
                    .unwrap_or(false);
                if !imported {
                    return Some("/usr/bin/python3 cannot import pyftpdlib".into());
                }
                vec![]
            }
            ServerKind::Unftp => vec![servers_dir.join("unftp/bin/unftp")],
        };
        needed
            .iter()
            .find(|path| !path.exists())
            .map(|path| format!("{} is missing", path.display()))
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

fn servers_dir() -> PathBuf {
    std::env::var_os("FTPFS_SERVERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ftpfs-servers"))
}
