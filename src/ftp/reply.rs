//! Reading FTP replies (RFC 959 section 4.2) strictly and with bounds.
//!
//! A reply is `ddd text` on one line, or a multi-line reply that starts `ddd-text` and ends with a
//! line `ddd text` carrying the same code. Replies may arrive split across reads (or several in
//! one read), so bytes are kept in a [`ReplyBuffer`] between calls. A hostile or broken server
//! cannot make us allocate without bound: a line longer than [`MAX_LINE`] or a reply longer than
//! [`MAX_REPLY_BYTES`] is an error. Timeouts come from the socket (read timeout), surfacing here
//! as `ReplyError::Io` with kind `WouldBlock`/`TimedOut`.

use std::fmt;
use std::io::{self, Read};
use std::time::SystemTime;

use super::ftp_time::parse_ftp_time;
use super::reply_code as code;

/// Longest accepted reply line, CRLF included.
pub const MAX_LINE: usize = 8 * 1024;
/// Longest accepted reply, all lines together (FEAT and MLST replies are far smaller).
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// A complete reply: its code and its lines (without CRLF; the first line includes `ddd-`).
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, 100..=599.
    pub code: u16,
    /// At least one line; the first (and the last of a multi-line reply) starts with `code`.
    /// Bytes as received: not necessarily UTF-8.
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// A one-line reply, as a table test writes it.
    #[cfg(test)]
    pub(crate) fn line(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![format!("{code} {text}").into_bytes()],
        }
    }

    /// 1yz: preliminary (more replies follow).
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }
    /// 2yz: done.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 3yz: send the next command of the sequence.
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }
    /// 4yz: transient failure.
    pub fn is_transient_failure(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5yz: permanent failure.
    pub fn is_permanent_failure(&self) -> bool {
        (500..600).contains(&self.code)
    }
    /// vsftpd's "500 OOPS: ..." (its `die()`): the session process exits after it, so the
    /// connection is gone, whatever the code says (seen under load: "500 OOPS:
    /// priv_sock_get_int" answering PASV when its privileged helper had died).
    pub fn ends_session(&self) -> bool {
        self.code == 500 && self.text().starts_with("OOPS:")
    }

    /// The server closes the connection after this reply: a 421, or vsftpd's `500 OOPS`.
    pub fn closes_connection(&self) -> bool {
        self.code == code::SERVICE_CLOSING || self.ends_session()
    }

    /// The text of all lines with the code prefixes removed, joined by '\n', for messages.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let body = if i == 0 || i + 1 == self.lines.len() {
                line.get(4..).unwrap_or_default()
            } else {
                line.as_slice()
            };
            out.push_str(&String::from_utf8_lossy(body));
        }
        out
    }

    /// The file size of a `213` reply to SIZE (RFC 3659 section 4); `None` for any other code
    /// or a text that is not a plain decimal number.
    pub fn size_value(&self) -> Option<u64> {
        (self.code == code::FILE_STATUS)
            .then(|| self.text().trim().parse::<u64>().ok())
            .flatten()
    }

    /// The time of a `213` reply to MDTM (RFC 3659 section 3, UTC); `None` for any other code
    /// or a text that is not a time-val.
    pub fn time_value(&self) -> Option<SystemTime> {
        (self.code == code::FILE_STATUS)
            .then(|| parse_ftp_time(self.text().trim().as_bytes()))
            .flatten()
    }

    /// The lines between the first and the last (the body of FEAT or MLST replies).
    pub fn inner_lines(&self) -> &[Vec<u8>] {
        if self.lines.len() <= 2 {
            &[]
        } else {
            &self.lines[1..self.lines.len() - 1]
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({self})")
    }
}

/// Why a reply could not be read.
#[derive(Debug)]
pub enum ReplyError {
    /// The socket failed or timed out.
    Io(io::Error),
    /// The server closed the connection (possibly mid-reply).
    Closed,
    /// A line or reply exceeded our bounds.
    TooLong,
    /// A line that is not a valid reply line (no 3-digit code).
    Malformed(Vec<u8>),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Io(e) => write!(f, "control connection: {e}"),
            ReplyError::Closed => f.write_str("server closed the control connection"),
            ReplyError::TooLong => f.write_str("reply exceeds size limits"),
            ReplyError::Malformed(line) => write!(
                f,
                "malformed reply line {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            ),
        }
    }
}

impl std::error::Error for ReplyError {}

/// Bytes read from the control connection but not yet consumed.
#[derive(Default)]
pub struct ReplyBuffer {
    buf: Vec<u8>,
    start: usize,
}

impl ReplyBuffer {
    /// An empty buffer, for a fresh control connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether bytes the server sent are waiting (unexpected between commands).
    pub fn has_pending(&self) -> bool {
        self.start < self.buf.len()
    }

    /// Drop anything buffered (after resynchronising a connection).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Read one line (without the line ending), and whether it ended in a bare LF. CRLF and
    /// bare LF both end a line.
    fn read_line<R: Read + ?Sized>(
        &mut self,
        stream: &mut R,
    ) -> Result<(Vec<u8>, bool), ReplyError> {
        loop {
            let pending = &self.buf[self.start..];
            if let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                if pos + 1 > MAX_LINE {
                    return Err(ReplyError::TooLong);
                }
                let mut line = pending[..pos].to_vec();
                let bare = line.last() != Some(&b'\r');
                if !bare {
                    line.pop();
                }
                self.start += pos + 1;
                if self.start == self.buf.len() {
                    self.clear();
                }
                return Ok((line, bare));
            }
            if pending.len() >= MAX_LINE {
                return Err(ReplyError::TooLong);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 4096];
            let n = loop {
                match stream.read(&mut chunk) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ReplyError::Io(e)),
                }
            };
            if n == 0 {
                return Err(ReplyError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Read one complete reply.
    pub fn read_reply<R: Read + ?Sized>(&mut self, stream: &mut R) -> Result<Reply, ReplyError> {
        self.read_reply_noting_bare_lf(stream)
            .map(|(reply, _)| reply)
    }

    /// Read one complete reply, and whether one of its lines ended in a bare LF instead of
    /// CRLF. vsftpd and proftpd send a name with a line feed in it unchanged inside a `STAT`
    /// listing: that splits the line, and the piece after it may even look like the reply's
    /// last line. A caller that trusts a multi-line reply's body must not trust it then.
    pub fn read_reply_noting_bare_lf<R: Read + ?Sized>(
        &mut self,
        stream: &mut R,
    ) -> Result<(Reply, bool), ReplyError> {
        let (first, mut bare) = self.read_line(stream)?;
        let (code, multi) =
            parse_code(&first).ok_or_else(|| ReplyError::Malformed(first.clone()))?;
        let mut total = first.len() + 2;
        let mut lines = vec![first];
        if multi {
            loop {
                let (line, bare_here) = self.read_line(stream)?;
                bare |= bare_here;
                total += line.len() + 2;
                if total > MAX_REPLY_BYTES {
                    return Err(ReplyError::TooLong);
                }
                let last = matches!(parse_code(&line), Some((c, false)) if c == code);
                lines.push(line);
                if last {
                    break;
                }
            }
        }
        Ok((Reply { code, lines }, bare))
    }
}

/// `ddd ` or `ddd-` (a line of exactly `ddd` counts as a final line too), with the first digit
/// 1-5 as RFC 959 requires.
fn parse_code(line: &[u8]) -> Option<(u16, bool)> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&digits[0]) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    match line.get(3) {
        None | Some(b' ') => Some((code, false)),
        Some(b'-') => Some((code, true)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its data in pieces of at most `step` bytes.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn only_vsftpd_oops_ends_the_session() {
        // (code, text, vsftpd's die(), the connection closes after it)
        let cases = [
            (500, "OOPS: priv_sock_get_int", true, true),
            (500, "OOPS: cannot change directory:/home/x", true, true),
            (500, "Unknown command.", false, false),
            (550, "OOPS: not a 500", false, false),
            (421, "Timeout.", false, true),
            (200, "NOOP ok.", false, false),
        ];
        for (code, text, ends, closes) in cases {
            let reply = Reply::line(code, text);
            assert_eq!(reply.ends_session(), ends, "{code} {text}");
            assert_eq!(reply.closes_connection(), closes, "{code} {text}");
        }
    }

    #[test]
    fn a_line_ending_in_a_bare_line_feed_is_noted_per_reply() {
        let cases: &[(&[u8], &[bool])] = &[
            (b"213-Status follows:\r\n-rw x\r\n213 End\r\n", &[false]),
            (b"200 ok\n", &[true]),
            // a name with a line feed in a vsftpd STAT listing ends the reply early
            (
                b"213-Status follows:\r\n-rw x\n213 fake\r\n-rw y\r\n213 End\r\n",
                &[true],
            ),
            (b"213-a\r\nb\n213 End\r\n200 ok\r\n", &[true, false]),
        ];
        for (data, expected) in cases {
            for step in [1, 7, 4096] {
                let mut buf = ReplyBuffer::new();
                let mut stream = Trickle { data, step };
                let noted: Vec<bool> = expected
                    .iter()
                    .map(|_| buf.read_reply_noting_bare_lf(&mut stream).unwrap().1)
                    .collect();
                assert_eq!(
                    &noted,
                    expected,
                    "{:?} step {step}",
                    String::from_utf8_lossy(data)
                );
            }
        }
    }

    fn read_all(data: &[u8], step: usize) -> Vec<Result<Reply, String>> {
        let mut buf = ReplyBuffer::new();
        let mut r = Trickle { data, step };
        let mut out = vec![];
        loop {
            match buf.read_reply(&mut r) {
                Ok(reply) => out.push(Ok(reply)),
                Err(ReplyError::Closed) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn single_line_reply() {
        let got = read_all(b"220 Service ready\r\n", 1000);
        let reply = got[0].as_ref().unwrap();
        assert_eq!(reply.code, 220);
        assert_eq!(reply.text(), "Service ready");
    }

    #[test]
    fn multi_line_reply_ends_at_same_code_with_space() {
        let data = b"211-Features:\r\n MDTM\r\n 211 not the end\r\n REST STREAM\r\n211 End\r\n";
        for step in [1, 3, 7, 1000] {
            let got = read_all(data, step);
            let reply = got[0].as_ref().unwrap();
            assert_eq!(reply.code, 211);
            assert_eq!(reply.lines.len(), 5, "step {step}");
            assert_eq!(reply.inner_lines()[2], b" REST STREAM");
        }
    }

    #[test]
    fn inner_line_with_other_code_does_not_end_reply() {
        let got = read_all(
            b"230-Welcome\r\n230-more\r\n220 other code\r\n230 Logged in\r\n",
            5,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().lines.len(), 4);
    }

    #[test]
    fn several_replies_in_one_read_are_kept_apart() {
        let got = read_all(b"150 Opening\r\n226 Done\r\n", 1000);
        let codes: Vec<u16> = got.iter().map(|r| r.as_ref().unwrap().code).collect();
        assert_eq!(codes, vec![150, 226]);
    }

    #[test]
    fn bare_lf_and_bare_code_are_accepted() {
        let got = read_all(b"200\n331 User ok\n", 2);
        assert_eq!(got[0].as_ref().unwrap().code, 200);
        assert_eq!(got[1].as_ref().unwrap().code, 331);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            &b"hello\r\n"[..],
            b"22 x\r\n",
            b"2200 x\r\n",
            b"620 x\r\n",
            b"abc x\r\n",
        ] {
            let got = read_all(bad, 1000);
            assert!(got[0].is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn overlong_line_is_refused_without_unbounded_growth() {
        let mut data = b"220 ".to_vec();
        data.extend(std::iter::repeat_n(b'x', MAX_LINE * 4));
        let got = read_all(&data, 4096);
        assert_eq!(got[0].as_ref().unwrap_err(), "reply exceeds size limits");
    }

    #[test]
    fn endless_multiline_reply_is_refused() {
        let mut data = b"211-start\r\n".to_vec();
        for _ in 0..(MAX_REPLY_BYTES / 10 + 10) {
            data.extend_from_slice(b" feature\r\n");
        }
        let got = read_all(&data, 4096);
        assert_eq!(got[0].as_ref().unwrap_err(), "reply exceeds size limits");
    }

    #[test]
    fn close_mid_reply_is_an_error_not_a_panic() {
        let mut buf = ReplyBuffer::new();
        let mut r = Trickle {
            data: b"211-Features\r\n MDTM",
            step: 4,
        };
        assert!(matches!(buf.read_reply(&mut r), Err(ReplyError::Closed)));
    }

    #[test]
    fn size_and_time_values_come_only_from_213_replies() {
        let r = |code, text: &str| Reply {
            code,
            lines: vec![format!("{code} {text}").into_bytes()],
        };
        assert_eq!(r(213, "1234").size_value(), Some(1234));
        assert_eq!(r(213, " 0 ").size_value(), Some(0));
        assert_eq!(r(213, "12 bytes").size_value(), None);
        assert_eq!(r(550, "1234").size_value(), None);
        assert_eq!(r(213, "-1").size_value(), None);
        let t = r(213, "20240101120000").time_value();
        assert_eq!(t, parse_ftp_time(b"20240101120000"));
        assert!(t.is_some());
        assert_eq!(r(213, "File modification time set.").time_value(), None);
        assert_eq!(r(250, "20240101120000").time_value(), None);
    }

    #[test]
    fn classes() {
        let r = |code| Reply {
            code,
            lines: vec![],
        };
        assert!(r(150).is_preliminary());
        assert!(r(226).is_success());
        assert!(r(350).is_intermediate());
        assert!(r(421).is_transient_failure());
        assert!(r(550).is_permanent_failure());
    }
}
