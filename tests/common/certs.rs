//! Certificates for the FTPS tests, made by the `openssl` CLI at test time: a test CA and a
//! server certificate it signed, a self-signed (CA-marked) certificate as NAS set-ups have one,
//! and fingerprints as `openssl x509 -fingerprint -sha256` prints them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tempdir::{TempDir, temp_dir};

/// A CA and a server certificate it signed (for 127.0.0.1 and localhost), as PEM files.
pub struct Certificates {
    dir: TempDir,
}

impl Certificates {
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the openssl CLI");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed server certificate as most NAS and vsftpd set-ups have one: made by
/// `openssl req -x509` (which marks it as a CA), for a host name other than the address we
/// connect to. Returns (certificate, key).
pub fn make_self_signed(certs: &Certificates) -> (PathBuf, PathBuf) {
    openssl(
        certs.dir.path(),
        &[
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            "nas.key",
            "-out",
            "nas.pem",
            "-days",
            "2",
            "-subj",
            "/O=ftpfs test NAS/CN=nas.local",
        ],
    );
    let cert = certs.dir.path().join("nas.pem");
    let constraints = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "basicConstraints", "-in"])
        .arg(&cert)
        .output()
        .expect("run the openssl CLI");
    let constraints = String::from_utf8_lossy(&constraints.stdout);
    assert!(
        constraints.contains("CA:TRUE"),
        "the case to test is a CA-marked certificate: {constraints}"
    );
    (cert, certs.dir.path().join("nas.key"))
}

/// `sha256:AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it for `cert`.
pub fn openssl_fingerprint(cert: &Path) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("run the openssl CLI");
    let text = String::from_utf8_lossy(&output.stdout);
    let hex = text
        .trim()
        .split_once('=')
        .map(|(_, hex)| hex.to_string())
        .unwrap_or_else(|| panic!("openssl fingerprint output: {text}"));
    format!("sha256:{hex}")
}

pub fn make_certificates() -> Certificates {
    let dir = temp_dir("ftpfs-ftps-certs");
    let path = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        path,
        &[
            &["req", "-x509", "-nodes"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=ftpfs test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        path,
        &[
            &["req", "-new", "-nodes"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        path.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        path,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    Certificates { dir }
}
