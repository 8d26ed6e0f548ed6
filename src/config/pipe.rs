//! `MountConfig` as text, to hand it from the foreground process to its background child over
//! a pipe: the password then never appears on the child's command line (`/proc/PID/cmdline` is
//! world-readable).
//!
//! Format: one `key value` per line; values are %-escaped bytes (anything outside printable
//! ASCII, and `%` itself), so paths that are not UTF-8 survive. Parent and child are the same
//! executable, so the format needs no versioning, but it is still strict: an unknown key, a
//! repeated key, a missing key or a value that does not parse (an unknown TLS mode, say) is an
//! error, never a silent default.
//!
//! Encoding and decoding both walk one field list, `visit_fields`, which takes the config
//! apart with exhaustive destructuring (no `..`): a field added to `MountConfig`, `FtpConfig`
//! or `FsConfig` without a line there does not compile.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use super::{Access, MountConfig, percent, scheme};
use crate::fs::FsConfig;
use crate::ftp::{DataMode, Fingerprint, FtpConfig, TlsMode};

/// Serialize every field.
pub(crate) fn encode(config: &MountConfig) -> Vec<u8> {
    let mut writer = Writer(Vec::new());
    // Walking needs `&mut`; the clone is small and keeps `encode` taking `&MountConfig`.
    let mut copy = config.clone();
    // The writer never fails.
    let _ = visit_fields(&mut copy, &mut writer);
    writer.0
}

/// Parse what `encode` wrote.
pub(crate) fn decode(text: &[u8]) -> Result<MountConfig, String> {
    let mut reader = Reader::parse(text)?;
    let mut config = MountConfig::default();
    visit_fields(&mut config, &mut reader)?;
    if let Some(key) = reader.fields.keys().next() {
        return Err(format!("unknown config field {key:?}"));
    }
    if config.ftp.host.is_empty() {
        return Err("config has no host".into());
    }
    Ok(config)
}

/// The one field list: every field of the config, with its key on the pipe.
fn visit_fields(config: &mut MountConfig, v: &mut impl Visitor) -> Result<(), String> {
    let MountConfig {
        ftp,
        fs,
        remote_root,
        mountpoint,
        access,
        default_permissions,
        noexec,
        foreground,
        fuse_threads,
        page_cache,
        log_file,
    } = config;
    let FtpConfig {
        host,
        port,
        user,
        password,
        data_mode,
        tls,
        insecure,
        ca_file,
        fingerprint,
        max_connections,
        connect_timeout,
        io_timeout,
        idle_check_after,
        idle_close_after,
        max_listing_bytes,
    } = ftp;
    let FsConfig {
        uid,
        gid,
        umask,
        read_only,
        dir_cache_ttl,
        cache_size,
        spool_dir,
        inplace_uploads,
        writeback,
        spool_size,
        writeback_dir,
        writeback_workers,
    } = fs;
    v.field("host", host)?;
    v.field("port", port)?;
    v.field("user", user)?;
    v.field("password", password)?;
    v.field("data_mode", data_mode)?;
    v.field("tls", tls)?;
    v.field("insecure", insecure)?;
    v.field("ca_file", ca_file)?;
    v.field("fingerprint", fingerprint)?;
    v.field("max_connections", max_connections)?;
    v.field("connect_timeout_ms", connect_timeout)?;
    v.field("io_timeout_ms", io_timeout)?;
    v.field("idle_check_ms", idle_check_after)?;
    v.field("idle_close_ms", idle_close_after)?;
    v.field("max_listing_bytes", max_listing_bytes)?;
    v.field("uid", uid)?;
    v.field("gid", gid)?;
    v.field("umask", umask)?;
    v.field("read_only", read_only)?;
    v.field("dir_cache_ttl_ms", dir_cache_ttl)?;
    v.field("cache_size", cache_size)?;
    v.field("spool_dir", spool_dir)?;
    v.field("inplace_uploads", inplace_uploads)?;
    v.field("writeback", writeback)?;
    v.field("spool_size", spool_size)?;
    v.field("writeback_dir", writeback_dir)?;
    v.field("writeback_workers", writeback_workers)?;
    v.field("remote_root", remote_root)?;
    v.field("mountpoint", mountpoint)?;
    v.field("access", access)?;
    v.field("default_permissions", default_permissions)?;
    v.field("noexec", noexec)?;
    v.field("foreground", foreground)?;
    v.field("fuse_threads", fuse_threads)?;
    v.field("page_cache", page_cache)?;
    v.field("log_file", log_file)?;
    Ok(())
}

/// What `visit_fields` calls for each field.
trait Visitor {
    fn field<T: Value>(&mut self, key: &str, value: &mut T) -> Result<(), String>;
}

struct Writer(Vec<u8>);

impl Visitor for Writer {
    fn field<T: Value>(&mut self, key: &str, value: &mut T) -> Result<(), String> {
        if let Some(bytes) = value.to_bytes() {
            self.0.extend_from_slice(key.as_bytes());
            self.0.push(b' ');
            let escaped = percent::encode_bytes(&bytes, |b| !b.is_ascii_graphic());
            self.0.extend_from_slice(escaped.as_bytes());
            self.0.push(b'\n');
        }
        Ok(())
    }
}

/// The raw lines, consumed field by field; what is left at the end is unknown.
struct Reader {
    fields: HashMap<String, Vec<u8>>,
}

impl Reader {
    fn parse(text: &[u8]) -> Result<Reader, String> {
        let mut fields = HashMap::new();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let space = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
            let (key, rest) = line.split_at(space);
            let key = String::from_utf8_lossy(key).into_owned();
            let raw = std::str::from_utf8(rest.get(1..).unwrap_or_default())
                .ok()
                .and_then(percent::decode)
                .ok_or_else(|| format!("config field {key}: bad escape"))?;
            if fields.insert(key.clone(), raw).is_some() {
                return Err(format!("config field {key} given twice"));
            }
        }
        Ok(Reader { fields })
    }
}

impl Visitor for Reader {
    fn field<T: Value>(&mut self, key: &str, value: &mut T) -> Result<(), String> {
        *value = match self.fields.remove(key) {
            Some(raw) => T::from_bytes(&raw).map_err(|e| format!("config field {key}: {e}"))?,
            None => T::absent().ok_or_else(|| format!("config has no {key}"))?,
        };
        Ok(())
    }
}

/// A field type that can travel: `to_bytes` gives `None` for "leave the line out".
trait Value: Sized {
    fn to_bytes(&self) -> Option<Vec<u8>>;
    fn from_bytes(raw: &[u8]) -> Result<Self, String>;
    /// The value when the line is missing; `None`: a missing line is an error.
    fn absent() -> Option<Self> {
        None
    }
}

fn utf8(raw: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(raw).map_err(|_| "not UTF-8".to_string())
}

/// Look `raw` up among the names of `all`.
fn named<T: Copy>(raw: &[u8], all: &[T], name: impl Fn(T) -> &'static str) -> Result<T, String> {
    let text = utf8(raw)?;
    all.iter()
        .copied()
        .find(|v| name(*v) == text)
        .ok_or_else(|| format!("unknown value {text:?}"))
}

impl<T: Value> Value for Option<T> {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        self.as_ref().and_then(T::to_bytes)
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        T::from_bytes(raw).map(Some)
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl Value for String {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(self.clone().into_bytes())
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        utf8(raw).map(str::to_string)
    }
}

impl Value for PathBuf {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(self.as_os_str().as_bytes().to_vec())
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        Ok(PathBuf::from(OsString::from_vec(raw.to_vec())))
    }
}

impl Value for bool {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(if *self { b"1".to_vec() } else { b"0".to_vec() })
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        match raw {
            b"1" => Ok(true),
            b"0" => Ok(false),
            _ => Err(format!("bad flag {:?}", String::from_utf8_lossy(raw))),
        }
    }
}

macro_rules! number_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn to_bytes(&self) -> Option<Vec<u8>> {
                Some(self.to_string().into_bytes())
            }
            fn from_bytes(raw: &[u8]) -> Result<Self, String> {
                let text = utf8(raw)?;
                text.parse().map_err(|_| format!("bad number {text:?}"))
            }
        }
    )*};
}

number_value!(u16, u32, u64, usize);

/// Whole milliseconds: every duration we configure is at least that coarse.
impl Value for Duration {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        let millis = u64::try_from(self.as_millis()).unwrap_or(u64::MAX);
        millis.to_bytes()
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        u64::from_bytes(raw).map(Duration::from_millis)
    }
}

/// The URL scheme is the name (`ftp`, `ftpes`, `ftps`): one table for both.
impl Value for TlsMode {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(scheme::scheme(*self).into())
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        let text = utf8(raw)?;
        scheme::from_scheme(text)
            .filter(|tls| scheme::scheme(*tls) == text)
            .ok_or_else(|| format!("unknown value {text:?}"))
    }
}

/// `sha256:HEX`, as the user typed it after --fingerprint.
impl Value for Fingerprint {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(self.to_string().into_bytes())
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        utf8(raw)?.parse()
    }
}

fn data_mode_name(mode: DataMode) -> &'static str {
    match mode {
        DataMode::Passive => "passive",
        DataMode::Active => "active",
    }
}

impl Value for DataMode {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(data_mode_name(*self).into())
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        named(raw, &[DataMode::Passive, DataMode::Active], data_mode_name)
    }
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Owner => "owner",
        Access::OwnerAndRoot => "owner_and_root",
        Access::AllUsers => "all_users",
    }
}

impl Value for Access {
    fn to_bytes(&self) -> Option<Vec<u8>> {
        Some(access_name(*self).into())
    }
    fn from_bytes(raw: &[u8]) -> Result<Self, String> {
        let all = [Access::Owner, Access::OwnerAndRoot, Access::AllUsers];
        named(raw, &all, access_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> MountConfig {
        let mut ftp = FtpConfig::new("::1", 2121);
        ftp.user = Some("al ice".into());
        ftp.password = Some("p%a\ns s".into());
        ftp.data_mode = DataMode::Active;
        ftp.tls = TlsMode::Explicit;
        ftp.insecure = true;
        ftp.ca_file = Some("/etc/ca.pem".into());
        ftp.fingerprint = Some(format!("sha256:{}", "ab".repeat(32)).parse().unwrap());
        ftp.max_connections = 7;
        ftp.connect_timeout = Duration::from_millis(1500);
        ftp.io_timeout = Duration::from_secs(9);
        ftp.max_listing_bytes = 12345;
        let fs = FsConfig {
            uid: 12,
            gid: 34,
            umask: 0o077,
            read_only: true,
            dir_cache_ttl: Duration::from_secs(5),
            cache_size: 1 << 30,
            spool_dir: PathBuf::from(OsString::from_vec(b"/tmp/\xffspool".to_vec())),
            inplace_uploads: true,
            writeback: true,
            spool_size: 12 << 20,
            writeback_dir: "/var/cache/ftpfs/spool/u@h:21".into(),
            writeback_workers: 6,
        };
        MountConfig {
            ftp,
            fs,
            remote_root: "/pub/a b".into(),
            mountpoint: "/mnt/x y".into(),
            access: Access::AllUsers,
            default_permissions: true,
            noexec: true,
            foreground: false,
            fuse_threads: 6,
            page_cache: true,
            log_file: Some("/var/log/ftp fs.log".into()),
        }
    }

    #[test]
    fn round_trips_every_field() {
        let config = example();
        let back = decode(&encode(&config)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{config:?}"));
        assert_eq!(back.ftp.password, config.ftp.password);
        assert_eq!(back.ftp.idle_check_after, config.ftp.idle_check_after);
        assert_eq!(back.ftp.max_listing_bytes, 12345);
        assert_eq!(back.fs.spool_dir, config.fs.spool_dir);
        assert!(back.fs.inplace_uploads);
        assert!(back.fs.writeback);
        assert_eq!(back.fs.spool_size, 12 << 20);
        assert_eq!(back.fs.writeback_workers, 6);
        assert_eq!(back.fs.umask, 0o077);
    }

    #[test]
    fn every_enum_value_round_trips() {
        for tls in [TlsMode::None, TlsMode::Explicit, TlsMode::Implicit] {
            for data_mode in [DataMode::Passive, DataMode::Active] {
                for access in [Access::Owner, Access::OwnerAndRoot, Access::AllUsers] {
                    let mut config = example();
                    config.ftp.tls = tls;
                    config.ftp.data_mode = data_mode;
                    config.access = access;
                    config.ftp.user = None;
                    let back = decode(&encode(&config)).unwrap();
                    assert_eq!(back.ftp.tls, tls);
                    assert_eq!(back.ftp.data_mode, data_mode);
                    assert_eq!(back.access, access);
                    assert_eq!(back.ftp.user, None);
                }
            }
        }
    }

    #[test]
    fn refuses_unknown_fields_and_missing_host() {
        assert!(decode(b"host h\nmountpoint /m\nbogus 1\n").is_err());
        assert!(decode(b"mountpoint /m\n").is_err());
        assert!(decode(b"host h\n").is_err());
    }

    /// Replace the value of `key` in the encoding of the example.
    fn with_line(key: &str, value: &str) -> Vec<u8> {
        let text = String::from_utf8(encode(&example())).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|line| match line.split_once(' ') {
                Some((k, _)) if k == key => format!("{key} {value}"),
                _ => line.to_string(),
            })
            .collect();
        lines.join("\n").into_bytes()
    }

    #[test]
    fn refuses_unknown_values_loudly() {
        for (key, value, reason) in [
            ("tls", "bogus", "unknown value"),
            ("tls", "FTPS", "unknown value"),
            ("data_mode", "sideways", "unknown value"),
            ("access", "everyone", "unknown value"),
            ("insecure", "yes", "bad flag"),
            ("port", "99999", "bad number"),
            ("user", "%zz", "bad escape"),
        ] {
            let error = decode(&with_line(key, value)).expect_err(value);
            assert!(error.contains(key) && error.contains(reason), "{error}");
        }
        let mut twice = encode(&example());
        twice.extend_from_slice(b"port 21\n");
        assert!(decode(&twice).unwrap_err().contains("twice"));
        let text = String::from_utf8(encode(&example())).unwrap();
        let no_port: String = text
            .lines()
            .filter(|l| !l.starts_with("port "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(decode(no_port.as_bytes()).unwrap_err().contains("port"));
    }
}
