//! Proves the test-server harness with an independent client (the `curl` binary), before any
//! of our own FTP code is trusted: every server kind starts, lists (dotfiles included), takes
//! an upload that lands byte-exact on disk, serves it back, refuses a wrong password, allows
//! anonymous read-only access where supported, runs twice side by side, restarts on the same
//! port, and honours extra config.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Feature, ServerKind, TestServer, pattern, temp_dir};

/// curl's exit code for "access denied" (530 to USER/PASS).
const CURL_LOGIN_DENIED: i32 = 67;

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl (install it with scripts/servers/install.sh)")
}

fn credentials(server: &TestServer) -> String {
    format!("{}:{}", server.user, server.password)
}

fn assert_success(output: &Output, what: &str, server: &TestServer) {
    assert!(
        output.status.success(),
        "{} {what} failed: {:?}\nstderr: {}\n{}",
        server.kind,
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.logs()
    );
}

fn list_root(server: &TestServer) -> String {
    let output = curl(&[
        "--user",
        &credentials(server),
        &format!("{}/", server.url()),
    ]);
    assert_success(&output, "LIST /", server);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `test` for `kind` when it is selected (FTPFS_TEST_SERVERS) and installed, else skips
/// by the one rule (a failure under CI=true when it is not installed).
fn for_kind(kind: ServerKind, test: impl FnOnce(ServerKind)) {
    if kind.available_or_skip() {
        test(kind);
    }
}

fn round_trip(kind: ServerKind) {
    let server = TestServer::start(kind);
    server.seed_file("visible.txt", b"hello\n");
    server.seed_file(".hidden", b"dot\n");
    server.seed_dir("sub/dir");

    let listing = list_root(&server);
    for name in ["visible.txt", ".hidden", "sub"] {
        assert!(
            listing.lines().any(|line| line.ends_with(name)),
            "{kind}: {name} missing from LIST:\n{listing}"
        );
    }

    let local = temp_dir("ftpfs-smoke-local");
    let upload = local.path().join("upload.bin");
    let content = pattern(3 * 1024 * 1024 + 17, 1);
    std::fs::write(&upload, &content).unwrap();
    let remote_url = format!("{}/sub/dir/upload.bin", server.url());
    let output = curl(&[
        "--user",
        &credentials(&server),
        "-T",
        upload.to_str().unwrap(),
        &remote_url,
    ]);
    assert_success(&output, "STOR", &server);
    let on_disk = std::fs::read(server.path("sub/dir/upload.bin")).unwrap();
    assert!(on_disk == content, "{kind}: uploaded bytes differ on disk");

    let download = local.path().join("download.bin");
    let output = curl(&[
        "--user",
        &credentials(&server),
        "-o",
        download.to_str().unwrap(),
        &remote_url,
    ]);
    assert_success(&output, "RETR", &server);
    assert!(
        std::fs::read(&download).unwrap() == content,
        "{kind}: downloaded bytes differ"
    );

    // Overwrite the seeded file: the server user must own seeded content.
    let output = curl(&[
        "--user",
        &credentials(&server),
        "-T",
        upload.to_str().unwrap(),
        &format!("{}/visible.txt", server.url()),
    ]);
    assert_success(&output, "STOR over a seeded file", &server);
    assert_eq!(
        std::fs::metadata(server.path("visible.txt")).unwrap().len(),
        content.len() as u64
    );

    let output = curl(&[
        "--user",
        &format!("{}:wrong-password", server.user),
        &format!("{}/", server.url()),
    ]);
    assert_eq!(
        output.status.code(),
        Some(CURL_LOGIN_DENIED),
        "{kind}: wrong password not refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn anonymous_read_only(kind: ServerKind) {
    if !kind.can_or_skip(Feature::Anonymous) {
        return;
    }
    let server = TestServer::start(kind);
    server.seed_file("public.txt", b"for everyone\n");
    let output = curl(&[&format!("{}/", server.url())]);
    assert_success(&output, "anonymous LIST", &server);
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(
        listing.contains("public.txt"),
        "{kind}: anonymous LIST:\n{listing}"
    );

    let output = curl(&[&format!("{}/public.txt", server.url())]);
    assert_success(&output, "anonymous RETR", &server);
    assert_eq!(output.stdout, b"for everyone\n");

    let local = temp_dir("ftpfs-smoke-anon");
    let file = local.path().join("evil.txt");
    std::fs::write(&file, b"no").unwrap();
    let output = curl(&[
        "-T",
        file.to_str().unwrap(),
        &format!("{}/evil.txt", server.url()),
    ]);
    assert!(
        !output.status.success(),
        "{kind}: anonymous upload was accepted"
    );
    assert!(!server.path("evil.txt").exists());
}

fn two_at_once(kind: ServerKind) {
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| TestServer::start(kind));
        let second = scope.spawn(|| TestServer::start(kind));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_ne!(first.port, second.port);
    assert_ne!(first.root, second.root);
    let (low_a, high_a) = first.passive_ports();
    let (low_b, high_b) = second.passive_ports();
    assert!(high_a < low_b || high_b < low_a, "passive ranges overlap");
    first.seed_file("only-in-first", b"1");
    second.seed_file("only-in-second", b"2");
    let listing_first = list_root(&first);
    let listing_second = list_root(&second);
    assert!(listing_first.contains("only-in-first") && !listing_first.contains("only-in-second"));
    assert!(listing_second.contains("only-in-second") && !listing_second.contains("only-in-first"));
}

fn restart_keeps_port_and_root(kind: ServerKind) {
    let mut server = TestServer::start(kind);
    server.seed_file("survives.txt", b"still here");
    let old_pid = server.pid();
    // A live control connection must be cut by stop(), as in a real server restart.
    let mut live = TcpStream::connect(server.addr()).unwrap();
    live.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    read_reply(&mut BufReader::new(live.try_clone().unwrap()));
    server.stop();
    assert!(!server.is_running());
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "{kind}: still listening after stop"
    );
    let mut buffer = [0u8; 64];
    let cut = match std::io::Read::read(&mut live, &mut buffer) {
        Ok(0) | Err(_) => true,
        Ok(_) => live.write_all(b"NOOP\r\n").is_err(),
    };
    assert!(cut, "{kind}: live connection survived stop()");

    server.restart();
    assert_ne!(server.pid(), old_pid);
    assert!(list_root(&server).contains("survives.txt"));
}

/// Reads one (possibly multi-line) reply and returns all its lines.
fn read_reply(reader: &mut impl BufRead) -> String {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).unwrap();
        assert!(read > 0, "connection closed mid-reply: {reply:?}");
        reply.push_str(&line);
        let bytes = line.as_bytes();
        if bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit) && bytes[3] == b' ' {
            return reply;
        }
    }
}

fn feat(server: &TestServer) -> String {
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    read_reply(&mut reader);
    writer.write_all(b"FEAT\r\n").unwrap();
    let reply = read_reply(&mut reader);
    writer.write_all(b"QUIT\r\n").unwrap();
    reply
}

fn features_are_what_the_client_relies_on(kind: ServerKind) {
    let server = TestServer::start(kind);
    let features = feat(&server);
    println!("FEAT of {kind}:\n{features}");
    assert!(
        features.starts_with("211"),
        "{kind}: FEAT reply {features:?}"
    );
    for needed in ["SIZE", "MDTM", "REST STREAM", "EPSV"] {
        assert!(
            features.contains(needed),
            "{kind}: FEAT lacks {needed}:\n{features}"
        );
    }
    assert_eq!(
        features.contains("MLST"),
        kind.supports_mlsd(),
        "{kind} MLST:\n{features}"
    );
}

/// Extra config per kind that makes the server accept only one client at a time per IP:
/// proves EXTRA_CONFIG_FILE reaches each server in its own syntax. unftp has no such limit
/// (see `LIMITATIONS`).
fn one_client_per_ip_config(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Vsftpd => "max_per_ip=1\n",
        ServerKind::Proftpd => "MaxClientsPerHost 1\n",
        ServerKind::PureFtpd => "-C 1\n",
        ServerKind::Pyftpdlib => "server.max_cons_per_ip = 1\n",
        ServerKind::Unftp => unreachable!("unftp has no per-client connection limit"),
    }
}

/// A raw control connection for tests that count sessions.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    /// Connects and tries to log in; returns the session and the last reply (the greeting
    /// when that was not 220, else the reply to USER or PASS).
    fn login(server: &TestServer) -> (Session, String) {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut session = Session {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let greeting = read_reply(&mut session.reader);
        if !greeting.starts_with("220") {
            return (session, greeting);
        }
        let reply = session.command(&format!("USER {}", server.user));
        if !reply.starts_with("331") {
            return (session, reply);
        }
        let reply = session.command(&format!("PASS {}", server.password));
        (session, reply)
    }

    fn command(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        read_reply(&mut self.reader)
    }
}

fn extra_config_applies(kind: ServerKind) {
    if !kind.can_or_skip(Feature::ConnectionLimit) {
        return;
    }
    let server = TestServer::start_with_extra_config(kind, one_client_per_ip_config(kind));
    let (_first, reply) = Session::login(&server);
    assert!(reply.starts_with("230"), "{kind}: first login: {reply}");
    // vsftpd and pure-ftpd refuse at connect (421), proftpd at login (530).
    let (_second, reply) = Session::login(&server);
    assert!(
        reply.starts_with("421") || reply.starts_with("530"),
        "{kind}: second client allowed despite the limit: {reply}\n{}",
        server.logs()
    );
}

fn limits_are_generous(kind: ServerKind) {
    let server = TestServer::start(kind);
    let mut sessions = Vec::new();
    for number in 1..=16 {
        let (session, reply) = Session::login(&server);
        assert!(
            reply.starts_with("230"),
            "{kind}: login {number} of 16 refused: {reply}"
        );
        sessions.push(session);
    }
    for session in &mut sessions {
        let reply = session.command("NOOP");
        assert!(reply.starts_with("200"), "{kind}: NOOP: {reply}");
    }
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[test]
fn scripts_are_executable() {
    for script in ["install.sh", "start.sh"] {
        let path = common::repo_root().join("scripts/servers").join(script);
        assert!(
            is_executable_file(&path),
            "{} not executable",
            path.display()
        );
    }
}

macro_rules! per_kind_tests {
    ($($name:ident => $kind:expr),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[test]
                fn round_trip() { for_kind($kind, super::round_trip) }
                #[test]
                fn anonymous_read_only() { for_kind($kind, super::anonymous_read_only) }
                #[test]
                fn two_at_once() { for_kind($kind, super::two_at_once) }
                #[test]
                fn restart_keeps_port_and_root() { for_kind($kind, super::restart_keeps_port_and_root) }
                #[test]
                fn features() { for_kind($kind, super::features_are_what_the_client_relies_on) }
                #[test]
                fn extra_config_applies() { for_kind($kind, super::extra_config_applies) }
                #[test]
                fn limits_are_generous() { for_kind($kind, super::limits_are_generous) }
            }
        )*
    };
}

per_kind_tests! {
    vsftpd => ServerKind::Vsftpd,
    proftpd => ServerKind::Proftpd,
    pureftpd => ServerKind::PureFtpd,
    pyftpdlib => ServerKind::Pyftpdlib,
    unftp => ServerKind::Unftp,
}
