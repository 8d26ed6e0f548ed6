//! Percent-encoding (`%XX`), the one copy: URL parts on the command line, the file-system name
//! shown in `mount` (the kernel splits its option string on commas), and the daemon's config
//! pipe (paths that are not UTF-8 must survive) all use it.
//!
//! Encoding is parameterised by what must be escaped, because each use has its own reserved set;
//! decoding is strict: a `%` must be followed by two hex digits.

/// `%XX` to the byte 0xXX; `None` when a `%` is not followed by two hex digits.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // from_str_radix alone would accept a sign ("%+1").
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Bytes to text, escaping every byte for which `escape` says so (and always `%` itself, so
/// that `decode` gives the bytes back).
pub(crate) fn encode_bytes(bytes: &[u8], escape: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte == b'%' || !byte.is_ascii() || escape(byte) {
            push_escaped(byte, &mut out);
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

/// Text to text, escaping (each UTF-8 byte of) every character for which `escape` says so, and
/// `%` itself; other characters, non-ASCII ones included, stay as they are.
pub(crate) fn encode_str(text: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || escape(c) {
            let mut buf = [0u8; 4];
            for &byte in c.encode_utf8(&mut buf).as_bytes() {
                push_escaped(byte, &mut out);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn push_escaped(byte: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        let table: [(&str, Option<&[u8]>); 9] = [
            ("", Some(b"")),
            ("abc", Some(b"abc")),
            ("a%20b", Some(b"a b")),
            ("%C3%a9", Some("\u{e9}".as_bytes())),
            ("%ff", Some(b"\xff")),
            ("%", None),
            ("%4", None),
            ("%zz", None),
            ("%+1", None),
        ];
        for (text, expected) in table {
            assert_eq!(decode(text).as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn encode_escapes_what_is_asked_and_percent() {
        assert_eq!(
            encode_bytes(b"a b%\xff\n", |b| b == b' ' || b == b'\n'),
            "a%20b%25%FF%0A"
        );
        assert_eq!(encode_str("a,b %\u{e9}", |c| c == ','), "a%2Cb %25\u{e9}");
        assert_eq!(encode_str("\u{a0}", char::is_whitespace), "%C2%A0");
    }

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = encode_bytes(&all, |b| !b.is_ascii_graphic());
        assert!(text.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(decode(&text), Some(all));
    }
}
