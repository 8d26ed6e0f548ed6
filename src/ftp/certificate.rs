//! What a user needs to recognise a server certificate: its SHA-256 fingerprint and its subject
//! and issuer names.
//!
//! The fingerprint is the SHA-256 of the certificate's DER bytes, shown as
//! `sha256:AB:CD:...`: the digits `openssl x509 -noout -fingerprint -sha256` prints, so a user
//! can compare them with what the server's administrator sees, and exactly what
//! `--fingerprint` takes (colons optional, any case).
//!
//! Why a small DER reader of our own for the names: rustls exposes no certificate parser, and
//! all we need is two names for an error message; an X.509 crate would be a large dependency
//! for that. The reader is total: any bytes give `None` or names, never a panic. It reads only
//! the outer structure down to the subject, and the names it returns carry no control
//! characters (they come from the network and end up in logs and on terminals).

use std::fmt;
use std::str::FromStr;

/// Longest attribute value shown (longer ones are cut, with "...").
const MAX_VALUE_CHARS: usize = 128;

/// The SHA-256 fingerprint of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der` (one certificate, DER-encoded).
    pub fn of(der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    /// `sha256:` followed by 64 hex digits, with or without colons between the bytes, any case.
    fn from_str(text: &str) -> Result<Fingerprint, String> {
        let usage = "expected sha256: and 64 hex digits (as `openssl x509 -noout -fingerprint \
                     -sha256` prints them)";
        let digits = text
            .get(..7)
            .filter(|prefix| prefix.eq_ignore_ascii_case("sha256:"))
            .and_then(|_| text.get(7..))
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        let hex: Vec<u8> = digits.bytes().filter(|&b| b != b':').collect();
        if hex.len() != 64 {
            return Err(format!("{text:?}: {usage}"));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| format!("{text:?}: {usage}"))?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| format!("{text:?}: {usage}"))?;
        }
        Ok(Fingerprint(bytes))
    }
}

/// Subject and issuer of a certificate, as "C=DE, O=Example, CN=host" (in certificate order;
/// attributes other than C, ST, L, O, OU, CN and emailAddress are left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub subject: String,
    pub issuer: String,
}

/// The subject and issuer names of a DER certificate; `None` when `der` is not shaped like one.
pub fn names(der: &[u8]) -> Option<Names> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    let (certificate, _) = element(der, SEQUENCE)?;
    // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    //                               validity, subject, ... }
    let (tbs, _) = element(certificate, SEQUENCE)?;
    let rest = match element(tbs, VERSION) {
        Some((_, after_version)) => after_version,
        None => tbs,
    };
    let (_, rest) = element(rest, INTEGER)?;
    let (_, rest) = element(rest, SEQUENCE)?;
    let (issuer, rest) = element(rest, SEQUENCE)?;
    let (_, rest) = element(rest, SEQUENCE)?;
    let (subject, _) = element(rest, SEQUENCE)?;
    Some(Names {
        subject: name(subject)?,
        issuer: name(issuer)?,
    })
}

const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const VERSION: u8 = 0xA0;
const BMP_STRING: u8 = 0x1E;

/// Short names of the attribute types we show, by their DER-encoded OID.
const ATTRIBUTES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x0A], "O"),
    (&[0x55, 0x04, 0x0B], "OU"),
    (&[0x55, 0x04, 0x03], "CN"),
    (
        &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01],
        "emailAddress",
    ),
];

/// Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }: "CN=x, O=y".
fn name(mut sets: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !sets.is_empty() {
        let (mut set, rest) = element(sets, SET)?;
        sets = rest;
        while !set.is_empty() {
            let (pair, rest) = element(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = element(pair, OID)?;
            let (tag, value, _) = any_element(value)?;
            if let Some((_, short)) = ATTRIBUTES.iter().find(|(known, _)| *known == oid) {
                parts.push(format!("{short}={}", printable(tag, value)));
            }
        }
    }
    Some(parts.join(", "))
}

/// A string value made safe to print: BMPString decoded from UTF-16, others read as UTF-8
/// (lossy), control characters replaced, long values cut.
fn printable(tag: u8, value: &[u8]) -> String {
    let text = if tag == BMP_STRING {
        let units: Vec<u16> = value
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(value).into_owned()
    };
    let mut shown: String = text
        .chars()
        .take(MAX_VALUE_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > MAX_VALUE_CHARS {
        shown.push_str("...");
    }
    shown
}

/// The content of the element at the start of `input` when its tag is `tag`, and what follows.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = any_element(input)?;
    (found == tag).then_some((content, rest))
}

/// Tag, content and rest of the DER element at the start of `input` (single-byte tags; definite
/// lengths of up to four length bytes, which covers any certificate).
fn any_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = match first {
        0..=0x7F => (usize::from(first), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7F);
            let bytes = rest.get(..count)?;
            let length = bytes
                .iter()
                .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
            (length, rest.get(count..)?)
        }
        _ => return None,
    };
    let content = rest.get(..length)?;
    Some((tag, content, rest.get(length..)?))
}

#[cfg(test)]
pub(crate) mod tests;
