//! FTPS against vsftpd with a self-signed certificate made by the `openssl` CLI at test time.
//!
//! vsftpd runs with `require_ssl_reuse=YES`: it refuses any data connection that does not
//! resume the control connection's TLS session, so every listing, download and upload that
//! succeeds here proves session resumption works. `force_local_logins_ssl` and
//! `force_local_data_ssl` make sure nothing (password, file contents) could go in clear.

mod common;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::certs::{Certificates, make_certificates, make_self_signed, openssl_fingerprint};
use common::{ServerKind, TempDir, TestServer, pattern, repo_root, temp_dir};
use ftpfs::ftp::{FtpConfig, FtpRemote, TlsMode};
use ftpfs::remote::{Remote, RemoteErrorKind};

/// vsftpd config lines for TLS that is required for logins and data, with session reuse.
fn vsftpd_tls_config(certs: &Certificates, implicit: bool) -> String {
    vsftpd_tls_config_with(&certs.server_cert(), &certs.server_key(), implicit)
}

/// The same with the server certificate `cert` and its key `key`.
fn vsftpd_tls_config_with(cert: &Path, key: &Path, implicit: bool) -> String {
    format!(
        "ssl_enable=YES\n\
         rsa_cert_file={}\n\
         rsa_private_key_file={}\n\
         require_ssl_reuse=YES\n\
         force_local_logins_ssl=YES\n\
         force_local_data_ssl=YES\n\
         allow_anon_ssl=NO\n\
         ssl_ciphers=HIGH\n\
         debug_ssl=YES\n\
         implicit_ssl={}\n",
        cert.display(),
        key.display(),
        if implicit { "YES" } else { "NO" },
    )
}

fn tls_config(port: u16, mode: TlsMode) -> FtpConfig {
    let mut config = FtpConfig::new("127.0.0.1", port);
    config.user = Some(common::TEST_USER.into());
    config.password = Some(common::TEST_PASSWORD.into());
    config.tls = mode;
    config.io_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_secs(10);
    config
}

fn read_all(remote: &FtpRemote, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    remote
        .open_read(Path::new(path), 0)
        .expect("open_read")
        .read_to_end(&mut out)
        .expect("read");
    out
}

fn upload(remote: &FtpRemote, path: &str, content: &[u8]) {
    let mut writer = remote.create(Path::new(path)).expect("create");
    for chunk in content.chunks(100_000) {
        writer.write_all(chunk).expect("write");
    }
    if let Err(e) = writer.finish() {
        panic!("finish upload of {path}: {e}");
    }
}

/// List, download and upload several times (several data connections, each of which vsftpd
/// only accepts when it resumes the control session), checking every byte.
fn exercise_transfers(remote: &FtpRemote, server_root: &Path, logs: &dyn Fn() -> String) {
    let names: Vec<String> = remote
        .list(Path::new("/"))
        .unwrap_or_else(|e| panic!("LIST over TLS: {e}\n{}", logs()))
        .into_iter()
        .map(|entry| entry.name.to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"seed.bin".to_string()), "{names:?}");
    let seed = std::fs::read(server_root.join("seed.bin")).unwrap();
    for round in 0..3 {
        assert!(
            read_all(remote, "/seed.bin") == seed,
            "download {round} differs"
        );
    }
    for round in 0..3u64 {
        let content = pattern(700_000 + round as usize * 1_000, round + 10);
        let name = format!("/up-{round}.bin");
        upload(remote, &name, &content);
        let on_disk = std::fs::read(server_root.join(name.trim_start_matches('/'))).unwrap();
        assert!(on_disk == content, "upload {round} differs on the server");
        assert!(read_all(remote, &name) == content, "reading back {round}");
    }
}

fn start_vsftpd(extra: &str) -> Option<TestServer> {
    TestServer::try_start_with_extra_config(ServerKind::Vsftpd, extra)
}

/// vsftpd (debug_ssl=YES) logs "reused" for every handshake that resumed a session.
fn resumed_handshakes(logs: &str) -> usize {
    logs.lines()
        .filter(|line| line.contains("SSL version:") && line.contains(", reused,"))
        .count()
}

fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// The usual set-up: logging, a vsftpd requiring explicit TLS (logins and data, with session
/// reuse) with a certificate signed by a fresh test CA, and a client config trusting that CA.
/// The certificates must live as long as the server. None when vsftpd cannot run here.
fn tls_vsftpd_with_ca() -> Option<(TestServer, FtpConfig, Certificates)> {
    init_logging();
    let certs = make_certificates();
    let server = start_vsftpd(&vsftpd_tls_config(&certs, false))?;
    let mut config = tls_config(server.port, TlsMode::Explicit);
    config.ca_file = Some(certs.ca());
    Some((server, config, certs))
}

#[test]
fn explicit_tls_with_ca_file_lists_downloads_and_uploads_with_session_reuse() {
    let Some((server, config, _certs)) = tls_vsftpd_with_ca() else {
        return;
    };
    server.seed_file("seed.bin", &pattern(1_500_000, 1));
    let remote = FtpRemote::connect(config)
        .unwrap_or_else(|e| panic!("explicit FTPS connect: {e}\n{}", server.logs()));
    exercise_transfers(&remote, &server.root, &|| server.logs());
    remote.shutdown();
    let logs = server.logs();
    // 1 listing + 3 downloads + 3 uploads + 3 read-backs, each on a resumed session.
    assert!(
        resumed_handshakes(&logs) >= 10,
        "too few resumed handshakes:\n{logs}"
    );
    assert!(logs.contains("TLSv1.2"), "{logs}");
    assert!(!logs.contains("FAIL"), "{logs}");
}

/// Aborted transfers never read anything more from their data connections; resumption must
/// still work afterwards (it would not with single-use TLS 1.3 tickets).
#[test]
fn aborted_transfers_do_not_use_up_session_resumption() {
    let Some((server, mut config, _certs)) = tls_vsftpd_with_ca() else {
        return;
    };
    server.seed_file("seed.bin", &pattern(3_000_000, 2));
    config.max_connections = 1;
    let remote = FtpRemote::connect(config).expect("connect");
    for round in 0..8 {
        let mut writer = remote
            .create(Path::new(&format!("/aborted-{round}")))
            .unwrap();
        writer.write_all(&[7u8; 1000]).unwrap();
        drop(writer);
        let mut reader = remote.open_read(Path::new("/seed.bin"), 0).unwrap();
        let mut head = [0u8; 16];
        reader.read_exact(&mut head).unwrap();
        drop(reader);
    }
    let listed = remote.list(Path::new("/"));
    assert!(listed.is_ok(), "{listed:?}\n{}", server.logs());
    assert_eq!(read_all(&remote, "/seed.bin"), pattern(3_000_000, 2));
}

#[test]
fn untrusted_certificate_fails_with_a_clear_error_and_insecure_accepts_it() {
    let Some((server, _, certs)) = tls_vsftpd_with_ca() else {
        return;
    };
    server.seed_file("seed.bin", &pattern(200_000, 3));
    let error = FtpRemote::connect(tls_config(server.port, TlsMode::Explicit))
        .err()
        .expect("a certificate from an unknown CA must be refused");
    assert_eq!(error.kind, RemoteErrorKind::Protocol, "{error}");
    let expected = format!(
        "TLS handshake with 127.0.0.1:{} failed: invalid peer certificate: UnknownIssuer",
        server.port
    );
    assert!(error.message.starts_with(&expected), "{}", error.message);
    // What the user needs to check and pin it: the fingerprint openssl shows, and the names.
    let fingerprint = openssl_fingerprint(&certs.server_cert());
    let described = format!(
        "the server showed certificate {fingerprint}, subject CN=127.0.0.1, issuer CN=ftpfs \
         test CA. If that is your server's certificate, pin it with --fingerprint {fingerprint}"
    );
    assert!(error.message.contains(&described), "{}", error.message);

    let mut insecure = tls_config(server.port, TlsMode::Explicit);
    insecure.insecure = true;
    let remote = FtpRemote::connect(insecure)
        .unwrap_or_else(|e| panic!("insecure must accept the certificate: {e}"));
    assert_eq!(read_all(&remote, "/seed.bin"), pattern(200_000, 3));
    upload(&remote, "/insecure.bin", &pattern(50_000, 4));
    assert_eq!(
        std::fs::read(server.path("insecure.bin")).unwrap(),
        pattern(50_000, 4)
    );
}

/// vsftpd with a self-signed, CA-marked certificate (see `make_self_signed`); `trust` sets how
/// the client is told to trust it (given the certificate file). Transfers must then work, with
/// session reuse.
fn transfers_with_self_signed_certificate(trust: impl FnOnce(&mut FtpConfig, &Path)) {
    init_logging();
    let certs = make_certificates();
    let (cert, key) = make_self_signed(&certs);
    let Some(server) = start_vsftpd(&vsftpd_tls_config_with(&cert, &key, false)) else {
        return;
    };
    server.seed_file("seed.bin", &pattern(1_500_000, 1));
    let mut config = tls_config(server.port, TlsMode::Explicit);
    trust(&mut config, &cert);
    let remote = FtpRemote::connect(config.clone())
        .unwrap_or_else(|e| panic!("self-signed certificate trusted by {config:?}: {e}"));
    exercise_transfers(&remote, &server.root, &|| server.logs());
    remote.shutdown();
    let logs = server.logs();
    assert!(resumed_handshakes(&logs) >= 10, "{logs}");
}

/// The server's own self-signed certificate, marked as a CA (rustls alone refuses it with
/// CaUsedAsEndEntity), given with the CA file: trusted as itself.
#[test]
fn self_signed_ca_marked_certificate_given_as_ca_file_is_trusted() {
    transfers_with_self_signed_certificate(|config, cert| {
        config.ca_file = Some(cert.to_path_buf());
    });
}

/// `--fingerprint` trusts exactly the pinned certificate, without any CA; the digits are the
/// ones `openssl x509 -fingerprint -sha256` prints.
#[test]
fn pinned_fingerprint_is_trusted_without_a_ca() {
    transfers_with_self_signed_certificate(|config, cert| {
        let pin = openssl_fingerprint(cert);
        config.fingerprint = Some(pin.parse().expect("openssl's fingerprint parses"));
    });
}

/// A pin that is not the server's certificate fails, naming both fingerprints, even when the
/// certificate would verify through the CA file (a pin means this certificate and no other).
#[test]
fn wrong_pin_fails_with_a_clear_message() {
    let Some((server, mut config, certs)) = tls_vsftpd_with_ca() else {
        return;
    };
    let wrong = openssl_fingerprint(&certs.ca());
    config.fingerprint = Some(wrong.parse().unwrap());
    let error = FtpRemote::connect(config)
        .err()
        .expect("a certificate other than the pinned one must be refused");
    assert_eq!(error.kind, RemoteErrorKind::Protocol, "{error}");
    let shown = openssl_fingerprint(&certs.server_cert());
    let expected = format!(
        "TLS handshake with 127.0.0.1:{} failed: the server's certificate {shown}, subject \
         CN=127.0.0.1, issuer CN=ftpfs test CA is not the pinned certificate {wrong}",
        server.port
    );
    assert_eq!(error.message, expected);
}

#[test]
fn explicit_tls_against_a_server_without_tls_fails_before_login() {
    init_logging();
    let Some(server) = start_vsftpd("") else {
        return;
    };
    let error = FtpRemote::connect(tls_config(server.port, TlsMode::Explicit))
        .err()
        .expect("a server without TLS must not be used when TLS was asked for");
    assert_eq!(error.kind, RemoteErrorKind::Protocol, "{error}");
    assert!(
        error.message.contains("does not support TLS"),
        "{}",
        error.message
    );
    let logs = server.logs();
    let commands: Vec<&str> = logs.lines().filter(|l| l.contains("FTP command")).collect();
    assert!(
        commands.iter().any(|l| l.contains("\"AUTH TLS\"")),
        "{logs}"
    );
    assert!(
        !commands
            .iter()
            .any(|l| l.contains("\"USER ") || l.contains("\"PASS ")),
        "no login may be tried in clear:\n{logs}"
    );
}

#[test]
fn explicit_tls_against_pyftpdlib_without_tls_fails_clearly() {
    init_logging();
    let Some(server) = TestServer::try_start(ServerKind::Pyftpdlib) else {
        return;
    };
    let error = FtpRemote::connect(tls_config(server.port, TlsMode::Explicit))
        .err()
        .expect("must fail");
    assert_eq!(error.kind, RemoteErrorKind::Protocol, "{error}");
    assert!(
        error.message.contains("does not support TLS"),
        "{}",
        error.message
    );
}

/// vsftpd with `implicit_ssl=YES`, started by hand: the harness waits for a clear-text 220
/// greeting, which an implicit-TLS server never sends. The harness still reserves the port
/// slot, root directory and system user: a plain vsftpd is started and stopped to borrow them.
struct ImplicitVsftpd {
    child: Child,
    borrowed: TestServer,
    _state: TempDir,
}

impl ImplicitVsftpd {
    fn start(certs: &Certificates) -> Option<ImplicitVsftpd> {
        let mut borrowed = start_vsftpd("")?;
        borrowed.stop();
        let state = temp_dir("ftpfs-ftps-implicit");
        let extra = state.path().join("extra.conf");
        std::fs::write(&extra, vsftpd_tls_config(certs, true)).unwrap();
        let (passive_low, passive_high) = borrowed.passive_ports();
        let log = std::fs::File::create(state.path().join("server.log")).unwrap();
        let child = Command::new("bash")
            .arg(repo_root().join("scripts/servers/start.sh"))
            .arg("vsftpd")
            .arg(&borrowed.root)
            .arg(borrowed.port.to_string())
            .arg(passive_low.to_string())
            .arg(passive_high.to_string())
            .arg(&borrowed.user)
            .arg(&borrowed.password)
            .arg(state.path())
            .arg(&extra)
            .env("FTPFS_STOP_WITH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()
            .expect("run start.sh");
        Some(ImplicitVsftpd {
            child,
            borrowed,
            _state: state,
        })
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["server.log", "vsftpd.log"] {
            let content = std::fs::read(self._state.path().join(name)).unwrap_or_default();
            text.push_str(&String::from_utf8_lossy(&content));
        }
        text
    }
}

impl Drop for ImplicitVsftpd {
    fn drop(&mut self) {
        // SAFETY: kill() on the process group of the child we spawned (process_group(0) made its
        // pgid equal to its pid); vsftpd's session processes die with it.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn implicit_tls_works_from_the_first_byte() {
    init_logging();
    let certs = make_certificates();
    let Some(server) = ImplicitVsftpd::start(&certs) else {
        return;
    };
    server.borrowed.seed_file("seed.bin", &pattern(900_000, 5));
    let mut config = tls_config(server.borrowed.port, TlsMode::Implicit);
    config.ca_file = Some(certs.ca());
    let deadline = Instant::now() + Duration::from_secs(30);
    let remote = loop {
        match FtpRemote::connect(config.clone()) {
            Ok(remote) => break remote,
            Err(e) if Instant::now() < deadline => {
                eprintln!("implicit vsftpd not ready yet: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("implicit FTPS connect: {e}\n{}", server.logs()),
        }
    };
    exercise_transfers(&remote, &server.borrowed.root, &|| server.logs());
    remote.shutdown();
    let logs = server.logs();
    assert!(resumed_handshakes(&logs) >= 10, "{logs}");
    assert!(!logs.contains("FAIL"), "{logs}");
}

/// In active mode the server connects to us, and we are still the TLS client (RFC 4217).
#[test]
fn active_mode_data_connections_run_tls_too() {
    let Some((server, mut config, _certs)) = tls_vsftpd_with_ca() else {
        return;
    };
    server.seed_file("seed.bin", &pattern(600_000, 6));
    config.data_mode = ftpfs::ftp::DataMode::Active;
    let remote = FtpRemote::connect(config).expect("connect");
    exercise_transfers(&remote, &server.root, &|| server.logs());
    remote.shutdown();
    assert!(
        resumed_handshakes(&server.logs()) >= 10,
        "{}",
        server.logs()
    );
}

/// A new control connection resumes the TLS session of an earlier one (a full TLS 1.2
/// handshake costs one round trip more), and its data connections still resume its own session
/// (vsftpd's require_ssl_reuse would refuse them otherwise).
#[test]
fn new_control_connections_resume_an_earlier_tls_session() {
    let Some((server, config, _certs)) = tls_vsftpd_with_ca() else {
        return;
    };
    server.seed_file("seed.bin", &pattern(600_000, 6));
    let remote = FtpRemote::connect(config).expect("connect");
    // The download holds the first control connection: the listing needs a second one (which
    // the second download then reuses).
    let mut first = remote.open_read(Path::new("/seed.bin"), 0).unwrap();
    let listed = remote
        .list(Path::new("/"))
        .expect("list on a second connection");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let second = remote.open_read(Path::new("/seed.bin"), 0).unwrap();
    let mut body = Vec::new();
    first.read_to_end(&mut body).unwrap();
    assert_eq!(body, pattern(600_000, 6));
    drop(second);
    remote.shutdown();
    let logs = server.logs();
    let controls = logs.lines().filter(|l| l.contains("\"AUTH TLS\"")).count();
    let full = logs
        .lines()
        .filter(|l| l.contains("SSL version:") && l.contains("not reused"))
        .count();
    assert!(controls >= 2, "two control connections expected:\n{logs}");
    assert_eq!(
        full, 1,
        "only the first handshake may be a full one:\n{logs}"
    );
    // Each control connection but the first, and each of the 3 data connections, resumed.
    assert!(resumed_handshakes(&logs) >= controls - 1 + 3, "{logs}");
}
