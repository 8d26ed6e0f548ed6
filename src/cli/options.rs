//! Parsers for option values: `-o` mount options, byte sizes with K/M/G suffixes, seconds.
//!
//! `-o` follows mount(8)/sshfs conventions (comma-separated, may be repeated) but only accepts
//! the options we implement: a typo must fail loudly instead of being silently ignored. Long
//! options written as `-o name=value` never reach this parser (`argv` turns them into
//! `--name=value` first). Options that mount(8), mount.fuse3 and systemd use for themselves,
//! or pass along by default, are accepted and ignored (`IGNORED`): an fstab line written for
//! them must mount.

use std::time::Duration;

use crate::config::Access;

/// What `-o` can change; `None` fields keep their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `ro` (true) or `rw` (false), the last one written wins.
    pub read_only: Option<bool>,
    /// Who may use the mount: `allow_root`, `allow_other` (or its no-check variant).
    pub access: Option<Access>,
    /// `uid=N`: owner shown for every file.
    pub uid: Option<u32>,
    /// `gid=N`: group shown for every file.
    pub gid: Option<u32>,
    /// `umask=OOO` (octal, at most 0o7777): bits removed from the permissions shown.
    pub umask: Option<u32>,
    /// `default_permissions`: the kernel checks permissions against the shown mode.
    pub default_permissions: bool,
    /// `allow_other_without_permission_checks`: every user, and no kernel permission checks.
    pub skip_permission_checks: bool,
    /// Cache file data in the kernel page cache instead of direct I/O.
    pub page_cache: bool,
    /// Programs on the mount may not be executed (`noexec`; mount(8) adds it for `user`).
    pub noexec: bool,
}

/// Accepted and ignored: options for mount(8) and systemd (`_netdev`, `noauto`, ...; mount(8)
/// strips most of them before running us, mount.fuse3 the rest, but `ftpfs mount -o` may still
/// see them), and the generic flags mount(8) passes by default whose effect ftpfs always has
/// or never has: suid/dev (always nosuid,nodev), atime variants (always noatime), async.
/// Prefix entries end in `*`.
const IGNORED: &[&str] = &[
    "_netdev",
    "auto",
    "noauto",
    "nofail",
    "user",
    "nouser",
    "users",
    "owner",
    "group",
    "defaults",
    "comment=*",
    "x-*",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "atime",
    "noatime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "diratime",
    "nodiratime",
    "lazytime",
    "nolazytime",
    "async",
];

/// Whether `option` (the whole `name[=value]` item) is one mount(8)/systemd uses.
pub fn is_ignored(option: &str) -> bool {
    IGNORED
        .iter()
        .any(|ignored| match ignored.strip_suffix('*') {
            Some(prefix) => option.starts_with(prefix),
            None => option == *ignored,
        })
}

/// `--help` for `-o`, with the defaults taken from `FsConfig`.
pub fn help() -> String {
    format!(
        "Mount options, comma-separated: ro, rw (default), allow_other (turns on \
         default_permissions), allow_other_without_permission_checks, allow_root, \
         default_permissions, noexec, page_cache (kernel caches file data; default is direct \
         I/O), uid=N, gid=N (default: the mounting user), umask=OCTAL (default {:03o}). Every \
         --long option below also works here as long_option=VALUE (or long_option for a flag). \
         Options for mount(8) and systemd (_netdev, noauto, nofail, x-systemd.*, ...) are \
         ignored",
        crate::fs::FsConfig::default().umask
    )
}

/// Parse every `-o` value in order; later options win.
pub fn parse_mount_options<S: AsRef<str>>(values: &[S]) -> Result<MountOptions, String> {
    let mut options = MountOptions::default();
    for option in values
        .iter()
        .flat_map(|v| v.as_ref().split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (option, None),
        };
        match (name, value) {
            ("ro", None) => options.read_only = Some(true),
            ("rw", None) => options.read_only = Some(false),
            ("allow_other", None) => options.access = Some(Access::AllUsers),
            ("allow_root", None) => options.access = Some(Access::OwnerAndRoot),
            ("default_permissions", None) => options.default_permissions = true,
            ("allow_other_without_permission_checks", None) => {
                options.access = Some(Access::AllUsers);
                options.skip_permission_checks = true;
            }
            ("noexec", None) => options.noexec = true,
            ("page_cache", None) => options.page_cache = true,
            ("direct_io", None) => options.page_cache = false,
            ("uid", Some(v)) => options.uid = Some(parse_id(name, v)?),
            ("gid", Some(v)) => options.gid = Some(parse_id(name, v)?),
            ("umask", Some(v)) => options.umask = Some(parse_umask(v)?),
            ("uid" | "gid" | "umask", None) => {
                return Err(format!("mount option {name} needs a value ({name}=...)"));
            }
            (
                "ro"
                | "rw"
                | "allow_other"
                | "allow_root"
                | "default_permissions"
                | "allow_other_without_permission_checks"
                | "noexec"
                | "page_cache"
                | "direct_io",
                Some(_),
            ) => {
                return Err(format!("mount option {name} takes no value"));
            }
            _ if is_ignored(option) => log::debug!("ignoring mount option {option:?}"),
            _ => {
                return Err(format!(
                    "unknown mount option {option:?} (known: ro, rw, allow_other, allow_root, \
                     default_permissions, page_cache, direct_io, noexec, uid=N, gid=N, \
                     umask=OCTAL, and every --long option as long_option=VALUE)"
                ));
            }
        }
    }
    Ok(options)
}

fn parse_id(name: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|id| *id != u32::MAX)
        .ok_or_else(|| format!("invalid {name}={value:?}: expected a number"))
}

fn parse_umask(value: &str) -> Result<u32, String> {
    match u32::from_str_radix(value, 8) {
        Ok(mask) if mask <= 0o7777 && !value.starts_with('+') => Ok(mask),
        _ => Err(format!("invalid umask={value:?}: expected octal like 022")),
    }
}

/// Bytes with an optional binary suffix: `512`, `64K`, `64M`, `1G`, `1GiB`, `2T`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => {
            return Err(format!(
                "invalid size {text:?}: expected e.g. 512, 64K, 256M, 1G"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("invalid size {text:?}: expected e.g. 512, 64K, 256M, 1G"))
}

/// A duration given in seconds on the command line; shown in `--help` as seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{}", self.0.as_secs())
        } else {
            write!(f, "{}", self.0.as_secs_f64())
        }
    }
}

/// A byte count given with an optional suffix; shown with the largest exact suffix (`64M`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            if self.0 != 0 && self.0.is_multiple_of(1u64 << shift) {
                return write!(f, "{}{suffix}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// `parse_size` for clap.
pub fn parse_size_arg(text: &str) -> Result<ByteSize, String> {
    parse_size(text).map(ByteSize)
}

/// `parse_positive_seconds` for clap.
pub fn parse_seconds_arg(text: &str) -> Result<Seconds, String> {
    parse_positive_seconds(text).map(Seconds)
}

/// The connection cap: 1 to 64.
pub fn parse_connections(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid number of connections {text:?}: expected 1-64"
        )),
    }
}

/// Seconds, fractions allowed (`0.5`); zero is refused because it would mean "fail at once".
pub fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("invalid duration {text:?}: expected seconds > 0, e.g. 30"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_suffixes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        for bad in [
            "",
            "K",
            "1.5G",
            "12X",
            "-1",
            "99999999999999999999",
            "20000000T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn defaults_are_shown_as_typed() {
        assert_eq!(ByteSize(64 << 20).to_string(), "64M");
        assert_eq!(ByteSize(3 << 30).to_string(), "3G");
        assert_eq!(ByteSize(1536).to_string(), "1536");
        assert_eq!(ByteSize(0).to_string(), "0");
        assert_eq!(Seconds(Duration::from_secs(30)).to_string(), "30");
        assert_eq!(Seconds(Duration::from_millis(500)).to_string(), "0.5");
        for value in [ByteSize(64 << 20), ByteSize(1536), ByteSize(5 << 40)] {
            assert_eq!(parse_size_arg(&value.to_string()), Ok(value));
        }
    }

    #[test]
    fn connections_range() {
        assert_eq!(parse_connections("1"), Ok(1));
        assert_eq!(parse_connections("64"), Ok(64));
        for bad in ["0", "65", "-1", "x", ""] {
            assert!(parse_connections(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_positive_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_positive_seconds("0.25"),
            Ok(Duration::from_millis(250))
        );
        for bad in ["0", "-3", "abc", "", "inf", "NaN"] {
            assert!(parse_positive_seconds(bad).is_err(), "{bad:?}");
        }
    }
}
