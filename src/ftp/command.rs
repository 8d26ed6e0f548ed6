//! FTP commands as a closed enum whose `Display` is the wire form (without CRLF).
//!
//! Every argument that comes from a user or a file name is an [`Arg`], which cannot hold CR, LF
//! or NUL: a name like `"a\r\nDELE victim"` is refused when the command is built, so it can
//! never inject a second command. `Debug` and `Display` mask the password of `PASS`; the exact
//! bytes for the socket come from [`Command::wire`].

use std::fmt;
use std::net::SocketAddr;

/// An argument that is safe to put on the control connection: no CR, LF or NUL, not empty.
#[derive(Clone, PartialEq, Eq)]
pub struct Arg(Vec<u8>);

/// Why an argument was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidArg {
    pub reason: &'static str,
}

impl fmt::Display for InvalidArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for InvalidArg {}

impl Arg {
    /// Accepts any bytes except CR, LF and NUL; refuses the empty argument (so we never send a
    /// command with an empty trailing argument such as `LIST `).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Arg, InvalidArg> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(InvalidArg {
                reason: "empty argument",
            });
        }
        if bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(InvalidArg {
                reason: "argument contains CR, LF or NUL",
            });
        }
        Ok(Arg(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// The commands we send. Path arguments are absolute remote paths.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    User(Arg),
    Pass(Arg),
    Feat,
    /// `OPTS UTF8 ON`
    OptsUtf8On,
    /// `TYPE I`
    TypeImage,
    Epsv,
    Pasv,
    Eprt(SocketAddr),
    Port(std::net::SocketAddrV4),
    Mlsd(Arg),
    Mlst(Arg),
    List(Arg),
    /// `STAT path`: a directory's listing in the reply on most LIST-only servers.
    Stat(Arg),
    Size(Arg),
    Mdtm(Arg),
    Rest(u64),
    Retr(Arg),
    Stor(Arg),
    Appe(Arg),
    Dele(Arg),
    Mkd(Arg),
    Rmd(Arg),
    Rnfr(Arg),
    Rnto(Arg),
    /// `MFMT YYYYMMDDhhmmss path` (draft-somers-ftp-mfxx).
    Mfmt(String, Arg),
    /// vsftpd's `MDTM YYYYMMDDhhmmss path` form of setting the mtime.
    MdtmSet(String, Arg),
    /// `SITE CHMOD 0755 path`
    SiteChmod(u32, Arg),
    Noop,
    Quit,
    AuthTls,
    /// `PBSZ 0`
    Pbsz0,
    /// `PROT P`
    ProtPrivate,
}

impl Command {
    /// The exact bytes to send, CRLF included.
    pub fn wire(&self) -> Vec<u8> {
        let (verb, arg): (String, Option<&Arg>) = match self {
            Command::User(a) => ("USER".into(), Some(a)),
            Command::Pass(a) => ("PASS".into(), Some(a)),
            Command::Mlsd(a) => ("MLSD".into(), Some(a)),
            Command::Mlst(a) => ("MLST".into(), Some(a)),
            Command::List(a) => ("LIST".into(), Some(a)),
            Command::Stat(a) => ("STAT".into(), Some(a)),
            Command::Size(a) => ("SIZE".into(), Some(a)),
            Command::Mdtm(a) => ("MDTM".into(), Some(a)),
            Command::Retr(a) => ("RETR".into(), Some(a)),
            Command::Stor(a) => ("STOR".into(), Some(a)),
            Command::Appe(a) => ("APPE".into(), Some(a)),
            Command::Dele(a) => ("DELE".into(), Some(a)),
            Command::Mkd(a) => ("MKD".into(), Some(a)),
            Command::Rmd(a) => ("RMD".into(), Some(a)),
            Command::Rnfr(a) => ("RNFR".into(), Some(a)),
            Command::Rnto(a) => ("RNTO".into(), Some(a)),
            Command::Mfmt(t, a) => (format!("MFMT {t}"), Some(a)),
            Command::MdtmSet(t, a) => (format!("MDTM {t}"), Some(a)),
            Command::SiteChmod(m, a) => (format!("SITE CHMOD {:o}", m & 0o7777), Some(a)),
            other => (other.fixed_text(), None),
        };
        let mut out = verb.into_bytes();
        if let Some(arg) = arg {
            out.push(b' ');
            out.extend_from_slice(arg.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Commands without a free-form argument.
    fn fixed_text(&self) -> String {
        match self {
            Command::Feat => "FEAT".into(),
            Command::OptsUtf8On => "OPTS UTF8 ON".into(),
            Command::TypeImage => "TYPE I".into(),
            Command::Epsv => "EPSV".into(),
            Command::Pasv => "PASV".into(),
            Command::Eprt(addr) => {
                let proto = if addr.is_ipv4() { 1 } else { 2 };
                format!("EPRT |{proto}|{}|{}|", addr.ip(), addr.port())
            }
            Command::Port(addr) => {
                let o = addr.ip().octets();
                let p = addr.port();
                format!(
                    "PORT {},{},{},{},{},{}",
                    o[0],
                    o[1],
                    o[2],
                    o[3],
                    p >> 8,
                    p & 0xff
                )
            }
            Command::Rest(offset) => format!("REST {offset}"),
            Command::Noop => "NOOP".into(),
            Command::Quit => "QUIT".into(),
            Command::AuthTls => "AUTH TLS".into(),
            Command::Pbsz0 => "PBSZ 0".into(),
            Command::ProtPrivate => "PROT P".into(),
            // Commands with arguments are handled by `wire`.
            _ => String::new(),
        }
    }

    /// Whether this command may be replayed on a fresh connection after a broken one.
    pub fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            Command::Stor(_) | Command::Appe(_) | Command::Rnfr(_) | Command::Rnto(_)
        )
    }
}

impl fmt::Display for Command {
    /// The wire form without CRLF, with the password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Command::Pass(_) = self {
            return f.write_str("PASS ****");
        }
        let wire = self.wire();
        let text = wire.strip_suffix(b"\r\n").unwrap_or(&wire);
        f.write_str(&String::from_utf8_lossy(text))
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(s: &str) -> Arg {
        Arg::new(s).unwrap()
    }

    #[test]
    fn arguments_with_line_breaks_or_nul_are_refused() {
        for bad in ["a\r\nDELE victim", "a\nb", "a\rb", "a\0b", ""] {
            assert!(Arg::new(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(Arg::new("/dir/with space/and;semi").is_ok());
        assert!(
            Arg::new(vec![0xff, 0xfe, b'x']).is_ok(),
            "non-UTF-8 bytes pass"
        );
    }

    #[test]
    fn wire_form_is_verb_space_argument_crlf() {
        assert_eq!(Command::Retr(arg("/a b")).wire(), b"RETR /a b\r\n");
        assert_eq!(Command::Rest(1234).wire(), b"REST 1234\r\n");
        assert_eq!(Command::TypeImage.wire(), b"TYPE I\r\n");
        assert_eq!(
            Command::Mfmt("20240102030405".into(), arg("/f")).wire(),
            b"MFMT 20240102030405 /f\r\n"
        );
        assert_eq!(
            Command::SiteChmod(0o100755, arg("/f")).wire(),
            b"SITE CHMOD 755 /f\r\n"
        );
    }

    #[test]
    fn non_utf8_path_bytes_go_out_unchanged() {
        let path = Arg::new(vec![b'/', 0xe9, b'.', b't']).unwrap();
        assert_eq!(Command::Dele(path).wire(), b"DELE /\xe9.t\r\n");
    }

    #[test]
    fn eprt_and_port_encode_addresses() {
        let v4: SocketAddr = "127.0.0.1:4660".parse().unwrap();
        assert_eq!(Command::Eprt(v4).wire(), b"EPRT |1|127.0.0.1|4660|\r\n");
        let v6: SocketAddr = "[::1]:21".parse().unwrap();
        assert_eq!(Command::Eprt(v6).wire(), b"EPRT |2|::1|21|\r\n");
        let SocketAddr::V4(v4) = v4 else { panic!() };
        assert_eq!(Command::Port(v4).wire(), b"PORT 127,0,0,1,18,52\r\n");
    }

    #[test]
    fn password_is_masked_in_display_and_debug() {
        let pass = Command::Pass(arg("s3cret"));
        assert_eq!(pass.to_string(), "PASS ****");
        assert!(!format!("{pass:?}").contains("s3cret"));
        assert_eq!(pass.wire(), b"PASS s3cret\r\n");
    }

    #[test]
    fn uploads_and_renames_are_not_replayable() {
        assert!(!Command::Stor(arg("/f")).is_idempotent());
        assert!(!Command::Appe(arg("/f")).is_idempotent());
        assert!(Command::Retr(arg("/f")).is_idempotent());
        assert!(Command::Dele(arg("/f")).is_idempotent());
    }
}
