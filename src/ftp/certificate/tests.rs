//! Fingerprints and names of real certificates (made with `openssl req -x509`, which marks them
//! as CAs, as NAS and vsftpd set-ups have them), and the reader's totality on broken input.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::*;

/// `openssl req -x509 -newkey ec ... -subj "/C=DE/O=Example NAS/CN=nas.example"`.
pub(crate) const SELF_SIGNED: &str = "\
-----BEGIN CERTIFICATE-----
MIIBxzCCAW2gAwIBAgIUUAecGHgfjv28QmMSvB4JO7mtT+owCgYIKoZIzj0EAwIw
OTELMAkGA1UEBhMCREUxFDASBgNVBAoMC0V4YW1wbGUgTkFTMRQwEgYDVQQDDAtu
YXMuZXhhbXBsZTAeFw0yNjEyMDUwOTExNTBaFw0zNjEyMDIwOTExNTBaMDkxCzAJ
BgNVBAYTAkRFMRQwEgYDVQQKDAtFeGFtcGxlIE5BUzEUMBIGA1UEAwwLbmFzLmV4
YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT+qlwTFm3dcZdB1hXnyZ91
HLDiTcBf33EDVe9tZ36+NhvXutlDoeZvovHRDMqP2sWe4Q1IqSopCob1vXopRwmf
o1MwUTAdBgNVHQ4EFgQUPPKLq9rh8CmRL1I9j/9QCRQnNr4wHwYDVR0jBBgwFoAU
PPKLq9rh8CmRL1I9j/9QCRQnNr4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAmrb9E3szLVh7nXc+Xgul0kOPskjcjid5fsbHsqgX+GYCIB1/xD/+
S7v2GjUYLTJ1QQdl7IWWhCL33S0i7Ag5tZXt
-----END CERTIFICATE-----
";

/// `openssl req -x509 ... -utf8 -subj "/CN=Ünïcödé server/emailAddress=admin@example.org"`.
pub(crate) const UTF8_NAMES: &str = "\
-----BEGIN CERTIFICATE-----
MIIB0zCCAXmgAwIBAgIUbBVsxbAP9rnkovRGNMYE4yDgwSswCgYIKoZIzj0EAwIw
PzEbMBkGA1UEAwwSw5xuw69jw7Zkw6kgc2VydmVyMSAwHgYJKoZIhvcNAQkBFhFh
ZG1pbkBleGFtcGxlLm9yZzAeFw0yNjEyMDUwOTExNTFaFw0zNjEyMDIwOTExNTFa
MD8xGzAZBgNVBAMMEsOcbsOvY8O2ZMOpIHNlcnZlcjEgMB4GCSqGSIb3DQEJARYR
YWRtaW5AZXhhbXBsZS5vcmcwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASdWVBe
4JiN66l+icqZHVxXA6xzU294x6jDN9ER4eFe/k0psU67u/csA296PQJWwqF1cnHD
4d0mnv/U7Cz1gxUUo1MwUTAdBgNVHQ4EFgQUhTbEKqAYJgNysIr+gzjNZb7j2Zow
HwYDVR0jBBgwFoAUhTbEKqAYJgNysIr+gzjNZb7j2ZowDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiEAz/F7ttTycBMjiRLgLpPG30GnxfI/xHFnAAt3
i52mr+gCIEqp/fuzIauKJMF1yyHVYMFt0ALXyNLu2rcp1Gc3TiVk
-----END CERTIFICATE-----
";

pub(crate) fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("test certificate")
        .to_vec()
}

#[test]
fn fingerprint_is_what_openssl_prints() {
    // `openssl x509 -noout -fingerprint -sha256` of the two certificates.
    let cases = [
        (
            SELF_SIGNED,
            "03:FC:33:A2:C6:9E:81:EF:D5:CE:98:1D:04:D6:D8:47:E0:5E:F4:8C:81:81:43:23:82:3C:4D:CE:6B:C4:07:6A",
        ),
        (
            UTF8_NAMES,
            "DD:77:15:CD:16:E1:18:EA:77:F0:4A:84:DC:2B:18:0D:CB:6E:29:1E:AD:0A:93:6E:F7:BB:65:E9:69:46:35:39",
        ),
    ];
    for (pem, openssl) in cases {
        let fingerprint = Fingerprint::of(&der(pem));
        assert_eq!(fingerprint.to_string(), format!("sha256:{openssl}"));
        assert_eq!(
            fingerprint.to_string().parse::<Fingerprint>(),
            Ok(fingerprint)
        );
    }
}

#[test]
fn fingerprint_text_takes_colons_or_none_in_any_case() {
    let want = Fingerprint::of(&der(SELF_SIGNED));
    let plain = "03fc33a2c69e81efd5ce981d04d6d847e05ef48c81814323823c4dce6bc4076a".to_string();
    for text in [
        format!("sha256:{plain}"),
        format!("SHA256:{}", plain.to_uppercase()),
        want.to_string().to_lowercase(),
    ] {
        assert_eq!(text.parse::<Fingerprint>(), Ok(want), "{text}");
    }
    for bad in [
        plain.clone(),
        format!("sha1:{plain}"),
        format!("sha256:{}", &plain[1..]),
        format!("sha256:{plain}00"),
        format!("sha256:{}zz", &plain[2..]),
        "sha256:".to_string(),
        "sha25".to_string(),
        "sha256:é".repeat(20),
        String::new(),
    ] {
        let error = bad.parse::<Fingerprint>().expect_err(&bad);
        assert!(error.contains("64 hex digits"), "{error}");
    }
}

#[test]
fn names_of_real_certificates() {
    let names_of = |pem| names(&der(pem)).expect("names");
    let nas = "C=DE, O=Example NAS, CN=nas.example";
    assert_eq!(
        names_of(SELF_SIGNED),
        Names {
            subject: nas.into(),
            issuer: nas.into()
        }
    );
    let utf8 = "CN=Ünïcödé server, emailAddress=admin@example.org";
    assert_eq!(names_of(UTF8_NAMES).subject, utf8);
}

#[test]
fn cut_or_damaged_certificates_give_none_or_names_never_a_panic() {
    for pem in [SELF_SIGNED, UTF8_NAMES] {
        let der = der(pem);
        for length in 0..der.len() {
            assert_eq!(names(&der[..length]), None, "cut at {length}");
        }
        for at in 0..der.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut damaged = der.clone();
                damaged[at] ^= flip;
                if let Some(names) = names(&damaged) {
                    assert!(!names.subject.chars().any(char::is_control));
                }
            }
        }
    }
    for garbage in [
        &b""[..],
        b"\x30",
        b"\x30\x85\x00\x00\x00\x00\x01",
        b"\x30\x84\xff\xff\xff\xff",
    ] {
        assert_eq!(names(garbage), None);
    }
}

/// A Name of one attribute: SET { SEQUENCE { OID, value } } inside a SEQUENCE.
fn one_attribute(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
    let mut pair = vec![OID, oid.len() as u8];
    pair.extend_from_slice(oid);
    pair.extend_from_slice(&[tag, value.len() as u8]);
    pair.extend_from_slice(value);
    let mut set = vec![SEQUENCE, pair.len() as u8];
    set.extend(pair);
    let mut name = vec![SET, set.len() as u8];
    name.extend(set);
    name
}

#[test]
fn names_are_printable_and_bounded() {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let cases: &[(u8, &[u8], &str)] = &[
        (0x0C, b"plain", "CN=plain"),
        (0x0C, b"line\nbreak\x1b[31m", "CN=line?break?[31m"),
        (0x13, b"printable", "CN=printable"),
        (0x0C, b"\xff\xfe", "CN=\u{fffd}\u{fffd}"),
        (BMP_STRING, &[0x00, 0x41, 0x00, 0xDC], "CN=AÜ"),
        (BMP_STRING, &[0x00, 0x41, 0x00], "CN=A"),
    ];
    for (tag, value, want) in cases {
        assert_eq!(
            name(&one_attribute(CN, *tag, value)).as_deref(),
            Some(*want)
        );
    }
    let long = [b'x'; 100];
    let shown = name(&one_attribute(CN, 0x0C, &long)).unwrap();
    assert_eq!(shown, format!("CN={}", "x".repeat(100)));
    let mut longer = one_attribute(CN, 0x0C, &[]);
    longer.truncate(0);
    let value = [b'y'; 200];
    let mut pair = vec![OID, 3, 0x55, 0x04, 0x03, 0x0C, 0x81, 200];
    pair.extend_from_slice(&value);
    let mut set = vec![SEQUENCE, 0x81, pair.len() as u8];
    set.extend(pair);
    longer.extend([SET, 0x81, set.len() as u8]);
    longer.extend(set);
    let shown = name(&longer).unwrap();
    assert_eq!(shown, format!("CN={}...", "y".repeat(MAX_VALUE_CHARS)));
    // Unknown attribute types are left out.
    assert_eq!(
        name(&one_attribute(&[0x55, 0x04, 0x2A], 0x0C, b"x")).as_deref(),
        Some("")
    );
}
