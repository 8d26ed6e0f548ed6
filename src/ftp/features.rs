//! What a server said it can do (FEAT, RFC 2389), parsed into flags we act on.

use super::reply::Reply;
use super::reply_code as code;

/// Capabilities from FEAT. Anything not advertised is assumed absent, except what RFC 959
/// guarantees. Flags for optional commands may also be switched off later when the server
/// refuses a command it advertised (see `client`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// MLST/MLSD (RFC 3659): machine-readable listings with exact times and sizes.
    pub mlst: bool,
    /// SIZE (RFC 3659): the size of one file.
    pub size: bool,
    /// MDTM (RFC 3659): the exact modification time of one file, UTC.
    pub mdtm: bool,
    /// MFMT (draft-somers-ftp-mfxx): set a file's modification time.
    pub mfmt: bool,
    /// `REST STREAM` (RFC 3659): a download can resume at a byte offset.
    pub rest_stream: bool,
    /// UTF8 (RFC 2640): `OPTS UTF8 ON` may be sent.
    pub utf8: bool,
    /// EPSV (RFC 2428): extended passive mode, needed for IPv6.
    pub epsv: bool,
    /// TVFS (RFC 3659): paths are `/`-separated as on UNIX.
    pub tvfs: bool,
    /// `AUTH TLS` (or `AUTH SSL`, RFC 4217): the control connection can switch to TLS.
    pub auth_tls: bool,
    /// The feature lines as the server sent them, trimmed (for logs and diagnostics).
    pub lines: Vec<String>,
}

impl Features {
    /// Parse a FEAT reply. A reply that is not 211 (FEAT unsupported) gives no features.
    pub fn from_reply(reply: &Reply) -> Features {
        let mut f = Features::default();
        if reply.code != code::SYSTEM_STATUS {
            return f;
        }
        for line in reply.inner_lines() {
            let text = String::from_utf8_lossy(line).trim().to_string();
            let mut words = text.split_whitespace();
            let name = words.next().unwrap_or("").to_ascii_uppercase();
            let params = words.collect::<Vec<_>>().join(" ").to_ascii_uppercase();
            match name.as_str() {
                "MLST" | "MLSD" => f.mlst = true,
                "SIZE" => f.size = true,
                "MDTM" => f.mdtm = true,
                "MFMT" => f.mfmt = true,
                "REST" if params.contains("STREAM") => f.rest_stream = true,
                "UTF8" => f.utf8 = true,
                "EPSV" => f.epsv = true,
                "TVFS" => f.tvfs = true,
                "AUTH" if params.contains("TLS") || params.contains("SSL") => f.auth_tls = true,
                _ => {}
            }
            if !text.is_empty() {
                f.lines.push(text);
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
        }
    }

    #[test]
    fn proftpd_style_feat() {
        let f = Features::from_reply(&reply(
            211,
            &[
                "211-Features:",
                " MFF modify;UNIX.group;UNIX.mode;",
                " REST STREAM",
                " MLST modify*;perm*;size*;type*;unique*;UNIX.mode*;",
                " MDTM",
                " SIZE",
                " MFMT",
                " EPSV",
                " UTF8",
                " LANG en-US*",
                "211 End",
            ],
        ));
        assert!(f.mlst && f.size && f.mdtm && f.mfmt && f.rest_stream && f.epsv && f.utf8);
        assert!(!f.tvfs && !f.auth_tls);
        assert_eq!(f.lines.len(), 9);
    }

    #[test]
    fn vsftpd_style_feat_lacks_mlst() {
        let f = Features::from_reply(&reply(
            211,
            &[
                "211-Features:",
                " EPRT",
                " EPSV",
                " MDTM",
                " PASV",
                " REST STREAM",
                " SIZE",
                " TVFS",
                "211 End",
            ],
        ));
        assert!(!f.mlst && !f.mfmt);
        assert!(f.tvfs && f.size && f.rest_stream);
    }

    #[test]
    fn feat_refused_means_no_features() {
        let f = Features::from_reply(&reply(500, &["500 Unknown command"]));
        assert_eq!(f, Features::default());
    }

    #[test]
    fn auth_tls_and_lowercase_names() {
        let f = Features::from_reply(&reply(
            211,
            &[
                "211-Extensions",
                " auth TLS",
                " rest stream",
                " mlsd",
                "211 end",
            ],
        ));
        assert!(f.auth_tls && f.rest_stream && f.mlst);
    }

    #[test]
    fn rest_without_stream_is_not_rest_stream() {
        let f = Features::from_reply(&reply(211, &["211-x", " REST", "211 end"]));
        assert!(!f.rest_stream);
    }
}
