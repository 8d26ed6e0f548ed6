//! Parsing of the SOURCE argument of `ftpfs mount`.
//!
//! Accepted forms (the URL form is the documented one, the short forms save typing):
//! `host`, `host:port`, `[v6::addr]`, `[v6::addr]:port`, a bare IPv6 literal, `user@host[:port]`,
//! and `ftp://[user[:password]@]host[:port][/path]` (also `ftps://`: implicit TLS, port 990, and
//! `ftpes://`: explicit TLS). User, password and path are percent-decoded; the host is not.
//! Everything here is a pure function so the whole grammar is table-tested.

use crate::config::{percent, scheme};
use crate::ftp::TlsMode;

/// `--help` for SOURCE, with the default ports taken from `scheme`.
pub fn help() -> String {
    format!(
        "host, host:port, [v6::addr]:port, or ftp://[user[:password]@]host[:port][/path] \
         (ftps:// = implicit TLS on port {}, ftpes:// = explicit TLS). Prefer FTPFS_PASSWORD, \
         --password-file or ~/.netrc over a password in the URL",
        scheme::default_port(TlsMode::Implicit)
    )
}

/// Where to connect and what to mount, as written on the command line.
#[derive(Clone, PartialEq, Eq)]
pub struct Source {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Explicit port, `None` for the scheme's default.
    pub port: Option<u16>,
    /// Login name written before `@`; `None`: the `~/.netrc` login for the host, else anonymous.
    pub user: Option<String>,
    /// Only present when written in the URL (discouraged: visible in `ps` while we start).
    pub password: Option<String>,
    /// Absolute remote directory shown as the mount's root ("/" when none was given).
    pub root: String,
    /// TLS mode implied by the scheme (`ftps` implicit, `ftpes` explicit).
    pub tls: TlsMode,
}

impl Source {
    /// The port to connect to: explicit, or 990 for implicit TLS, else 21.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| scheme::default_port(self.tls))
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("root", &self.root)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Parse SOURCE; the error is one line meant for the user.
pub fn parse_source(text: &str) -> Result<Source, String> {
    if text.is_empty() {
        return Err("empty SOURCE: expected ftp://[user[:password]@]host[:port][/path]".into());
    }
    match text.split_once("://") {
        Some((scheme, rest)) => parse_url(scheme, rest),
        None => parse_authority(text, TlsMode::None, false),
    }
}

fn parse_url(name: &str, rest: &str) -> Result<Source, String> {
    let tls = scheme::from_scheme(name).ok_or_else(|| {
        format!(
            "unsupported URL scheme {:?}: use ftp://, ftps:// or ftpes://",
            name.to_ascii_lowercase()
        )
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let mut source = parse_authority(authority, tls, true)?;
    source.root = decode_root(path)?;
    Ok(source)
}

/// `[user[:password]@]host[:port]`; a password is only accepted inside a URL.
fn parse_authority(text: &str, tls: TlsMode, in_url: bool) -> Result<Source, String> {
    // The last '@' ends the user info, so an unencoded '@' in a password still works.
    let (userinfo, hostport) = match text.rfind('@') {
        Some(at) => (Some(&text[..at]), &text[at + 1..]),
        None => (None, text),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((user, password)) if in_url => (user, Some(password)),
                Some(_) => {
                    return Err(
                        "a password is only accepted in the URL form (ftp://user:password@host); \
                         prefer FTPFS_PASSWORD, --password-file or ~/.netrc"
                            .into(),
                    );
                }
                None => (info, None),
            };
            if user.is_empty() {
                return Err("empty user name before '@' in SOURCE".into());
            }
            let user = decode_text(user, "user name")?;
            let password = password.map(|p| decode_text(p, "password")).transpose()?;
            (Some(user), password)
        }
    };
    let (host, port) = split_host_port(hostport)?;
    Ok(Source {
        host,
        port,
        user,
        password,
        root: "/".into(),
        tls,
    })
}

fn split_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    if text.is_empty() {
        return Err("missing host in SOURCE".into());
    }
    if let Some(bracketed) = text.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("unclosed '[' in host {text:?}"));
        };
        if host.is_empty() || !host.contains(':') {
            return Err(format!("{text:?}: brackets are only for IPv6 addresses"));
        }
        validate_host(host)?;
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(parse_port(port)?),
                None => return Err(format!("unexpected {after:?} after IPv6 address")),
            },
        };
        return Ok((host.to_string(), port));
    }
    match text.matches(':').count() {
        0 => {
            validate_host(text)?;
            Ok((text.to_string(), None))
        }
        1 => {
            let (host, port) = text.split_once(':').unwrap_or((text, ""));
            if host.is_empty() {
                return Err("missing host in SOURCE".into());
            }
            validate_host(host)?;
            Ok((host.to_string(), Some(parse_port(port)?)))
        }
        // A bare IPv6 literal: there is no way to give a port without brackets.
        _ => {
            validate_host(text)?;
            Ok((text.to_string(), None))
        }
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/@[]%?#\\".contains(c);
    if host.is_empty() {
        return Err("missing host in SOURCE".into());
    }
    if host.chars().any(bad) {
        return Err(format!("invalid character in host {host:?}"));
    }
    Ok(())
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {text:?}: expected a number 1-65535"));
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("invalid port {text:?}: expected a number 1-65535")),
    }
}

/// The remote root: percent-decoded, duplicate and trailing slashes removed, "/" when empty.
fn decode_root(path: &str) -> Result<String, String> {
    let decoded = decode_text(path, "path")?;
    let parts: Vec<&str> = decoded.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!("path {decoded:?} must not contain '.' or '..'"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Percent-decode to UTF-8, refusing bytes an FTP command line cannot carry (CR, LF, NUL).
pub fn decode_text(text: &str, what: &str) -> Result<String, String> {
    let bytes = percent::decode(text).ok_or_else(|| format!("bad percent-encoding in {what}"))?;
    if bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(format!("{what} must not contain CR, LF or NUL"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{what} is not valid UTF-8 after decoding"))
}
