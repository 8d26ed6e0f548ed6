//! Parsers for option values: `-o` mount options, byte sizes with K/M/G suffixes, seconds.
//!
//! `-o` follows mount(8)/sshfs conventions (comma-separated, may be repeated) but only accepts
//! the options we implement: a typo must fail loudly instead of being silently ignored.

use std::time::Duration;

use crate::mount::Access;

/// What `-o` can change; `None` fields keep their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    pub read_only: Option<bool>,
    pub access: Option<Access>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub umask: Option<u32>,
    pub default_permissions: bool,
    /// Cache file data in the kernel page cache instead of direct I/O.
    pub page_cache: bool,
    /// Upload straight onto the real name instead of a temporary name renamed into place.
    pub inplace: bool,
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
            ("page_cache", None) => options.page_cache = true,
            ("direct_io", None) => options.page_cache = false,
            ("inplace", None) => options.inplace = true,
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
                | "page_cache"
                | "direct_io"
                | "inplace",
                Some(_),
            ) => {
                return Err(format!("mount option {name} takes no value"));
            }
            _ => {
                return Err(format!(
                    "unknown mount option {option:?} (known: ro, rw, allow_other, allow_root, \
                     default_permissions, page_cache, direct_io, inplace, uid=N, gid=N, \
                     umask=OCTAL)"
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
