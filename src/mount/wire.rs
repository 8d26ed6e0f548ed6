//! `MountConfig` as text, to hand it from the foreground process to its background child over
//! a pipe: the password then never appears on the child's command line (`/proc/PID/cmdline` is
//! world-readable).
//!
//! Format: one `key value` per line; values are %-escaped bytes (anything outside printable
//! ASCII, and `%` itself), so paths that are not UTF-8 survive. Parent and child are the same
//! executable, so the format needs no versioning; unknown keys are still refused loudly.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use super::{Access, MountConfig};
use crate::fs::FsConfig;
use crate::ftp::{DataMode, FtpConfig, TlsMode};

/// Serialize every field.
pub fn encode(config: &MountConfig) -> Vec<u8> {
    let ftp = &config.ftp;
    let fs = &config.fs;
    let mut fields: Vec<(&str, Vec<u8>)> = vec![
        ("host", ftp.host.clone().into_bytes()),
        ("port", ftp.port.to_string().into_bytes()),
    ];
    if let Some(user) = &ftp.user {
        fields.push(("user", user.clone().into_bytes()));
    }
    if let Some(password) = &ftp.password {
        fields.push(("password", password.clone().into_bytes()));
    }
    let data_mode = match ftp.data_mode {
        DataMode::Passive => "passive",
        DataMode::Active => "active",
    };
    let tls = match ftp.tls {
        TlsMode::None => "none",
        TlsMode::Explicit => "explicit",
        TlsMode::Implicit => "implicit",
    };
    fields.push(("data_mode", data_mode.into()));
    fields.push(("tls", tls.into()));
    fields.push(("insecure", flag(ftp.insecure)));
    if let Some(ca_file) = &ftp.ca_file {
        fields.push(("ca_file", ca_file.as_os_str().as_bytes().to_vec()));
    }
    fields.push(("max_connections", number(ftp.max_connections)));
    fields.push(("connect_timeout_ms", millis(ftp.connect_timeout)));
    fields.push(("io_timeout_ms", millis(ftp.io_timeout)));
    fields.push(("idle_check_ms", millis(ftp.idle_check_after)));
    fields.push(("idle_close_ms", millis(ftp.idle_close_after)));
    fields.push(("uid", number(fs.uid)));
    fields.push(("gid", number(fs.gid)));
    fields.push(("umask", number(fs.umask)));
    fields.push(("read_only", flag(fs.read_only)));
    fields.push(("dir_cache_ttl_ms", millis(fs.dir_cache_ttl)));
    fields.push(("cache_size", number(fs.cache_size)));
    fields.push(("spool_dir", fs.spool_dir.as_os_str().as_bytes().to_vec()));
    fields.push(("inplace_uploads", flag(fs.inplace_uploads)));
    fields.push(("remote_root", config.remote_root.clone().into_bytes()));
    fields.push((
        "mountpoint",
        config.mountpoint.as_os_str().as_bytes().to_vec(),
    ));
    let access = match config.access {
        Access::Owner => "owner",
        Access::OwnerAndRoot => "owner_and_root",
        Access::AllUsers => "all_users",
    };
    fields.push(("access", access.into()));
    fields.push(("default_permissions", flag(config.default_permissions)));
    fields.push(("foreground", flag(config.foreground)));
    fields.push(("fuse_threads", number(config.fuse_threads)));
    fields.push(("page_cache", flag(config.page_cache)));

    let mut out = Vec::new();
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        out.push(b' ');
        escape_into(&value, &mut out);
        out.push(b'\n');
    }
    out
}

/// Parse what `encode` wrote.
pub fn decode(text: &[u8]) -> Result<MountConfig, String> {
    let mut ftp = FtpConfig::new("", 0);
    let mut fs = FsConfig::default();
    let mut remote_root = String::from("/");
    let mut mountpoint = None;
    let mut access = Access::Owner;
    let mut default_permissions = false;
    let mut foreground = false;
    let mut fuse_threads = 8;
    let mut page_cache = false;
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let space = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
        let (key, rest) = line.split_at(space);
        let key = String::from_utf8_lossy(key);
        let raw = unescape(rest.get(1..).unwrap_or_default())
            .ok_or_else(|| format!("config field {key}: bad escape"))?;
        let text =
            || String::from_utf8(raw.clone()).map_err(|_| format!("config field {key}: not UTF-8"));
        let path = || PathBuf::from(OsString::from_vec(raw.clone()));
        match key.as_ref() {
            "host" => ftp.host = text()?,
            "port" => ftp.port = parse(&key, &text()?)?,
            "user" => ftp.user = Some(text()?),
            "password" => ftp.password = Some(text()?),
            "data_mode" => {
                ftp.data_mode = match text()?.as_str() {
                    "active" => DataMode::Active,
                    _ => DataMode::Passive,
                }
            }
            "tls" => {
                ftp.tls = match text()?.as_str() {
                    "explicit" => TlsMode::Explicit,
                    "implicit" => TlsMode::Implicit,
                    _ => TlsMode::None,
                }
            }
            "insecure" => ftp.insecure = text()? == "1",
            "ca_file" => ftp.ca_file = Some(path()),
            "max_connections" => ftp.max_connections = parse(&key, &text()?)?,
            "connect_timeout_ms" => ftp.connect_timeout = parse_millis(&key, &text()?)?,
            "io_timeout_ms" => ftp.io_timeout = parse_millis(&key, &text()?)?,
            "idle_check_ms" => ftp.idle_check_after = parse_millis(&key, &text()?)?,
            "idle_close_ms" => ftp.idle_close_after = parse_millis(&key, &text()?)?,
            "uid" => fs.uid = parse(&key, &text()?)?,
            "gid" => fs.gid = parse(&key, &text()?)?,
            "umask" => fs.umask = parse(&key, &text()?)?,
            "read_only" => fs.read_only = text()? == "1",
            "dir_cache_ttl_ms" => fs.dir_cache_ttl = parse_millis(&key, &text()?)?,
            "cache_size" => fs.cache_size = parse(&key, &text()?)?,
            "spool_dir" => fs.spool_dir = path(),
            "inplace_uploads" => fs.inplace_uploads = text()? == "1",
            "remote_root" => remote_root = text()?,
            "mountpoint" => mountpoint = Some(path()),
            "access" => {
                access = match text()?.as_str() {
                    "owner_and_root" => Access::OwnerAndRoot,
                    "all_users" => Access::AllUsers,
                    _ => Access::Owner,
                }
            }
            "default_permissions" => default_permissions = text()? == "1",
            "foreground" => foreground = text()? == "1",
            "fuse_threads" => fuse_threads = parse(&key, &text()?)?,
            "page_cache" => page_cache = text()? == "1",
            other => return Err(format!("unknown config field {other:?}")),
        }
    }
    if ftp.host.is_empty() {
        return Err("config has no host".into());
    }
    Ok(MountConfig {
        ftp,
        fs,
        remote_root,
        mountpoint: mountpoint.ok_or("config has no mountpoint")?,
        access,
        default_permissions,
        foreground,
        fuse_threads,
        page_cache,
    })
}

fn flag(value: bool) -> Vec<u8> {
    if value { b"1".to_vec() } else { b"0".to_vec() }
}

fn number(value: impl ToString) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn millis(value: Duration) -> Vec<u8> {
    number(value.as_millis())
}

fn parse<T: std::str::FromStr>(key: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("config field {key}: bad number {text:?}"))
}

fn parse_millis(key: &str, text: &str) -> Result<Duration, String> {
    parse::<u64>(key, text).map(Duration::from_millis)
}

fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    for &byte in value {
        if byte.is_ascii_graphic() && byte != b'%' {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
}

fn unescape(value: &[u8]) -> Option<Vec<u8>> {
    crate::cli::source::percent_decode(std::str::from_utf8(value).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let mut ftp = FtpConfig::new("::1", 2121);
        ftp.user = Some("al ice".into());
        ftp.password = Some("p%a\ns s".into());
        ftp.data_mode = DataMode::Active;
        ftp.tls = TlsMode::Explicit;
        ftp.insecure = true;
        ftp.ca_file = Some("/etc/ca.pem".into());
        ftp.max_connections = 7;
        ftp.connect_timeout = Duration::from_millis(1500);
        ftp.io_timeout = Duration::from_secs(9);
        let fs = FsConfig {
            uid: 12,
            gid: 34,
            umask: 0o077,
            read_only: true,
            dir_cache_ttl: Duration::from_secs(5),
            cache_size: 1 << 30,
            spool_dir: PathBuf::from(OsString::from_vec(b"/tmp/\xffspool".to_vec())),
            inplace_uploads: true,
        };
        let config = MountConfig {
            ftp,
            fs,
            remote_root: "/pub/a b".into(),
            mountpoint: "/mnt/x y".into(),
            access: Access::AllUsers,
            default_permissions: true,
            foreground: false,
            fuse_threads: 6,
            page_cache: true,
        };
        let back = decode(&encode(&config)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{config:?}"));
        assert_eq!(back.ftp.password, config.ftp.password);
        assert_eq!(back.ftp.idle_check_after, config.ftp.idle_check_after);
        assert_eq!(back.fs.spool_dir, config.fs.spool_dir);
        assert!(back.fs.inplace_uploads);
        assert_eq!(back.fs.umask, 0o077);
    }

    #[test]
    fn refuses_unknown_fields_and_missing_host() {
        assert!(decode(b"host h\nmountpoint /m\nbogus 1\n").is_err());
        assert!(decode(b"mountpoint /m\n").is_err());
        assert!(decode(b"host h\n").is_err());
    }
}
