//! Fuzz the control-connection reply reader as a byte stream from a hostile server.
//!
//! Why a stream and not a slice: `ReplyBuffer` keeps bytes between reads, and bugs in such code
//! hide at read boundaries (a CRLF split across two reads, several replies in one read). So the
//! first input byte picks how the rest is cut into reads, including `Interrupted` errors the
//! reader must retry. Every reply obtained also goes through the parsers that consume replies
//! (FEAT, PASV, EPSV), as the client would.
//!
//! Input layout: `[pattern byte][server bytes...]`. Seeds in `fuzz/corpus/reply_reader/` start
//! with a printable pattern byte (`a` = small reads, `b` = medium, `c` = whole buffers,
//! `d` = byte by byte) followed by a real server conversation.

#![no_main]

use std::io::{self, Read};

use ftpfs::ftp::data_channel::{parse_epsv_port, parse_pasv};
use ftpfs::ftp::features::Features;
use ftpfs::ftp::reply::{MAX_LINE, MAX_REPLY_BYTES, Reply, ReplyBuffer, ReplyError};
use libfuzzer_sys::fuzz_target;

/// A reader that hands out `data` in pieces whose sizes come from a small xorshift generator,
/// sometimes failing with `Interrupted` first (which `ReplyBuffer` must retry transparently).
struct ChoppedStream<'a> {
    data: &'a [u8],
    rng: u32,
    max_read: usize,
}

impl ChoppedStream<'_> {
    fn next_random(&mut self) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        self.rng
    }
}

impl Read for ChoppedStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let random = self.next_random();
        if random.is_multiple_of(16) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let wanted = 1 + (random as usize >> 4) % self.max_read;
        let n = wanted.min(out.len()).min(self.data.len());
        let (now, later) = self.data.split_at(n);
        out[..n].copy_from_slice(now);
        self.data = later;
        Ok(n)
    }
}

/// Where the next reply line must start in the original input, to prove that no byte is lost,
/// duplicated or reordered across reads.
struct Cursor<'a> {
    data: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    /// The input at the cursor must be `line` followed by "\n" or "\r\n"; advance past it.
    fn consume_line(&mut self, line: &[u8]) {
        let rest = &self.data[self.position..];
        assert!(
            rest.starts_with(line),
            "line {:?} is not the next input at {}",
            String::from_utf8_lossy(line),
            self.position
        );
        let after = &rest[line.len()..];
        let ending = if after.starts_with(b"\r\n") {
            2
        } else if after.starts_with(b"\n") {
            1
        } else {
            panic!(
                "line {:?} not followed by a line ending",
                String::from_utf8_lossy(line)
            );
        };
        self.position += line.len() + ending;
    }
}

/// `ddd` at the start of `line`, as a number, when those are three ASCII digits.
fn leading_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    digits.iter().all(u8::is_ascii_digit).then(|| {
        digits
            .iter()
            .fold(0, |acc, d| acc * 10 + u16::from(d - b'0'))
    })
}

fn check_reply(reply: &Reply) {
    assert!((100..=599).contains(&reply.code), "code {}", reply.code);
    let first = reply.lines.first().expect("a reply has at least one line");
    assert_eq!(leading_code(first), Some(reply.code));
    let total: usize = reply.lines.iter().map(|line| line.len() + 2).sum();
    assert!(total <= MAX_REPLY_BYTES, "reply of {total} bytes");
    for line in &reply.lines {
        assert!(line.len() < MAX_LINE, "line of {} bytes", line.len());
        assert!(!line.contains(&b'\n'));
    }
    if reply.lines.len() > 1 {
        // Multi-line: opened with "ddd-", closed by "ddd" or "ddd " with the same code.
        assert_eq!(first.get(3), Some(&b'-'));
        let last = reply.lines.last().expect("checked above");
        assert_eq!(leading_code(last), Some(reply.code));
        assert!(matches!(last.get(3), None | Some(b' ')));
    }
    assert_eq!(
        reply.inner_lines().len(),
        reply.lines.len().saturating_sub(2)
    );
    let classes = [
        reply.is_preliminary(),
        reply.is_success(),
        reply.is_intermediate(),
        reply.is_transient_failure(),
        reply.is_permanent_failure(),
    ];
    assert_eq!(classes.iter().filter(|&&class| class).count(), 1);
    let _ = reply.to_string();
    let _ = format!("{reply:?}");
}

fn check_consumers(reply: &Reply) {
    let features = Features::from_reply(reply);
    if reply.code != 211 {
        assert_eq!(features, Features::default());
    }
    assert!(features.lines.len() <= reply.inner_lines().len());
    for line in &features.lines {
        assert!(!line.is_empty() && line.trim() == line);
    }
    if let Some((_ip, port)) = parse_pasv(reply) {
        assert_ne!(port, 0);
    }
    if let Some(port) = parse_epsv_port(reply) {
        assert_ne!(port, 0);
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&pattern, server_bytes)) = input.split_first() else {
        return;
    };
    let max_read = match pattern & 3 {
        0 => 1,
        1 => 16,
        2 => 600,
        _ => 8192,
    };
    let mut stream = ChoppedStream {
        data: server_bytes,
        rng: u32::from(pattern) | 0x9e37_7900,
        max_read,
    };
    let mut cursor = Cursor {
        data: server_bytes,
        position: 0,
    };
    let mut buffer = ReplyBuffer::new();
    // Every successful reply consumes at least one line ending, so this loop is bounded by the
    // input length; the explicit bound turns a hang bug into a failing assertion.
    for _ in 0..=server_bytes.len() {
        match buffer.read_reply(&mut stream) {
            Ok(reply) => {
                check_reply(&reply);
                for line in &reply.lines {
                    cursor.consume_line(line);
                }
                check_consumers(&reply);
            }
            Err(ReplyError::Malformed(line)) => {
                cursor.consume_line(&line);
                let _ = ReplyError::Malformed(line).to_string();
                return;
            }
            Err(ReplyError::Closed) => {
                // Everything not yet returned must be an unterminated tail (or a reply cut off).
                return;
            }
            Err(ReplyError::TooLong) => return,
            Err(ReplyError::Io(err)) => panic!("the stream never fails for real: {err}"),
        }
    }
    panic!("more replies than input bytes");
});
