//! The FTP client against real servers: the same test bodies run against every server kind the
//! harness can start (vsftpd, proftpd, pure-ftpd, pyftpdlib, libunftp), one `#[test]` per
//! body and server (`name::vsftpd`, ...).

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::faults::{config_for, read_from};
use common::{Feature, ServerKind, SmallDisk, TestServer, pattern};
use ftpfs::ftp::{DataMode, FtpConfig, FtpRemote};
use ftpfs::remote::{CommitAttrs, EntryKind, Remote, RemoteError, RemoteErrorKind};

fn config(server: &TestServer) -> FtpConfig {
    config_for(server, server.port, Duration::from_secs(10))
}

fn connect(server: &TestServer) -> FtpRemote {
    // RUST_LOG=ftpfs=trace shows the control connection, e.g. to count round trips.
    let _ = env_logger::builder().is_test(true).try_init();
    FtpRemote::connect(config(server)).expect("login")
}

fn read_all(remote: &FtpRemote, path: &str, offset: u64) -> Vec<u8> {
    read_from(remote, path, offset).expect("download")
}

fn login_succeeds_and_wrong_password_is_a_clear_auth_error(server: &TestServer) {
    let remote = connect(server);
    assert!(remote.list(Path::new("/")).is_ok());
    let mut bad = config(server);
    bad.password = Some("wrong-password".into());
    let err = FtpRemote::connect(bad)
        .err()
        .expect("wrong password must fail");
    assert_eq!(err.kind, RemoteErrorKind::Auth, "{:?}: {err}", server.kind);
    assert!(err.message.contains("login"), "{}", err.message);
}
server_tests!(login_succeeds_and_wrong_password_is_a_clear_auth_error);

#[test]
fn unreachable_port_is_a_connection_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = FtpConfig::new("127.0.0.1", port);
    let err = FtpRemote::connect(config)
        .err()
        .expect("nothing listens there");
    assert_eq!(err.kind, RemoteErrorKind::Connection);
    assert!(err.message.contains("cannot connect"), "{}", err.message);
}

fn listing_of_a_thousand_files_with_awkward_names(server: &TestServer) {
    server.seed_dir("many");
    let mut expected = Vec::new();
    for i in 0..1000 {
        let name = match i % 4 {
            0 => format!("file {i} with spaces.txt"),
            1 => format!("ünïcödé-{i}-日本.txt"),
            2 => format!("-leading-dash-{i}"),
            _ => format!("plain{i}"),
        };
        server.seed_file(&format!("many/{name}"), &vec![b'x'; i % 50]);
        expected.push((name, (i % 50) as u64));
    }
    server.seed_dir("many/a subdir");
    let remote = connect(server);
    let entries = remote.list(Path::new("/many")).expect("list");
    assert_eq!(entries.len(), 1001, "{:?}", server.kind);
    for (name, size) in &expected {
        let entry = entries
            .iter()
            .find(|e| e.name.to_str() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{:?}: {name} missing", server.kind));
        assert_eq!(entry.kind, EntryKind::File);
        assert_eq!(entry.size, Some(*size), "{name}");
        assert!(entry.mtime.is_some(), "{name} has an mtime");
    }
    let sub = entries.iter().find(|e| e.name == "a subdir").expect("dir");
    assert_eq!(sub.kind, EntryKind::Dir);
}
server_tests!(listing_of_a_thousand_files_with_awkward_names);

fn download_from_start_and_middle_is_byte_exact(server: &TestServer) {
    let data = pattern(3_000_000, 7);
    server.seed_file("blob.bin", &data);
    let remote = connect(server);
    assert_eq!(read_all(&remote, "/blob.bin", 0), data);
    assert_eq!(
        read_all(&remote, "/blob.bin", 1_234_567),
        &data[1_234_567..]
    );
    assert_eq!(read_all(&remote, "/blob.bin", 3_000_000), b"");
    // Abandoning a download early leaves the connection usable.
    let mut reader = remote.open_read(Path::new("/blob.bin"), 0).unwrap();
    let mut head = [0u8; 4096];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(&head[..], &data[..4096]);
    drop(reader);
    assert_eq!(
        read_all(&remote, "/blob.bin", 2_999_000),
        &data[2_999_000..]
    );
    if server.kind.can_or_skip(Feature::RetrRefusedEarly) {
        let err = remote
            .open_read(Path::new("/missing.bin"), 0)
            .err()
            .unwrap();
        assert_eq!(err.kind, RemoteErrorKind::NotFound, "{err}");
    }
}
server_tests!(download_from_start_and_middle_is_byte_exact);

fn upload_then_append_fifty_mib_is_byte_exact(server: &TestServer) {
    let first = pattern(50 << 20, 1);
    let second = pattern(5 << 20, 2);
    let remote = connect(server);
    let mut writer = remote.create(Path::new("/up.bin")).unwrap();
    for chunk in first.chunks(1 << 20) {
        writer.write_all(chunk).unwrap();
    }
    writer.finish().expect("STOR completes");
    let mut writer = remote.append(Path::new("/up.bin")).unwrap();
    writer.write_all(&second).unwrap();
    writer.finish().expect("APPE completes");
    let on_disk = std::fs::read(server.root.join("up.bin")).unwrap();
    assert_eq!(on_disk.len(), first.len() + second.len());
    assert!(
        on_disk[..first.len()] == first[..],
        "{:?}: STOR part",
        server.kind
    );
    assert!(
        on_disk[first.len()..] == second[..],
        "{:?}: APPE part",
        server.kind
    );
    assert_eq!(
        remote.size(Path::new("/up.bin")).unwrap(),
        on_disk.len() as u64
    );
}
server_tests!(upload_then_append_fifty_mib_is_byte_exact);

fn namespace_operations_and_their_errors(server: &TestServer) {
    let remote = connect(server);
    remote.mkdir(Path::new("/d")).unwrap();
    assert!(server.root.join("d").is_dir());
    let err = remote.mkdir(Path::new("/d")).err().unwrap();
    if server.kind.can_or_skip(Feature::MkdirExistsReply) {
        assert_eq!(
            err.kind,
            RemoteErrorKind::AlreadyExists,
            "{:?} {err}",
            server.kind
        );
    }
    let err = remote.mkdir(Path::new("/no/such/parent")).err().unwrap();
    assert_eq!(
        err.kind,
        RemoteErrorKind::NotFound,
        "{:?} {err}",
        server.kind
    );

    server.seed_file("d/f.txt", b"content");
    let err = remote.rmdir(Path::new("/d")).err().unwrap();
    assert_eq!(
        err.kind,
        RemoteErrorKind::NotEmpty,
        "{:?} {err}",
        server.kind
    );

    remote
        .rename(Path::new("/d/f.txt"), Path::new("/d/g.txt"))
        .unwrap();
    assert!(server.root.join("d/g.txt").exists());
    assert!(!server.root.join("d/f.txt").exists());
    let err = remote
        .rename(Path::new("/d/nope"), Path::new("/d/x"))
        .err()
        .unwrap();
    assert_eq!(
        err.kind,
        RemoteErrorKind::NotFound,
        "{:?} {err}",
        server.kind
    );
    remote.rename(Path::new("/d"), Path::new("/e")).unwrap();
    assert!(server.root.join("e/g.txt").exists());

    let entry = remote.stat(Path::new("/e/g.txt")).unwrap();
    assert_eq!(entry.kind, EntryKind::File);
    assert_eq!(entry.size, Some(7));
    assert_eq!(entry.name, "g.txt");
    assert_eq!(remote.stat(Path::new("/e")).unwrap().kind, EntryKind::Dir);
    let err = remote.stat(Path::new("/e/missing")).err().unwrap();
    assert_eq!(
        err.kind,
        RemoteErrorKind::NotFound,
        "{:?} {err}",
        server.kind
    );

    remote.delete(Path::new("/e/g.txt")).unwrap();
    assert!(!server.root.join("e/g.txt").exists());
    let err = remote.delete(Path::new("/e/g.txt")).err().unwrap();
    assert_eq!(
        err.kind,
        RemoteErrorKind::NotFound,
        "{:?} {err}",
        server.kind
    );
    remote.rmdir(Path::new("/e")).unwrap();
    assert!(!server.root.join("e").exists());
}
server_tests!(namespace_operations_and_their_errors);

fn modification_times_can_be_set_and_read(server: &TestServer) {
    if !server.kind.can_or_skip(Feature::SetFileTime) {
        return;
    }
    server.seed_file("t.txt", b"x");
    let remote = connect(server);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    remote
        .set_mtime(Path::new("/t.txt"), when)
        .expect("set mtime");
    let on_disk = std::fs::metadata(server.root.join("t.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(on_disk, when, "{:?}", server.kind);
    assert_eq!(remote.modified(Path::new("/t.txt")).unwrap(), when);
    assert_eq!(remote.stat(Path::new("/t.txt")).unwrap().mtime, Some(when));
}
server_tests!(modification_times_can_be_set_and_read);

fn eight_concurrent_transfers_through_a_pool_of_four(server: &TestServer) {
    let files: Vec<Vec<u8>> = (0..8).map(|i| pattern(2_000_000, 100 + i)).collect();
    for (i, data) in files.iter().enumerate() {
        server.seed_file(&format!("c{i}.bin"), data);
    }
    let mut config = config(server);
    config.max_connections = 4;
    let remote = Arc::new(FtpRemote::connect(config).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let remote = remote.clone();
            std::thread::spawn(move || {
                let down = read_all(&remote, &format!("/c{i}.bin"), 0);
                let mut writer = remote.create(Path::new(&format!("/u{i}.bin"))).unwrap();
                writer.write_all(&down).unwrap();
                writer.finish().unwrap();
                down
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let down = t.join().expect("thread");
        assert!(down == files[i], "download {i}");
        let up = std::fs::read(server.root.join(format!("u{i}.bin"))).unwrap();
        assert!(up == files[i], "upload {i}");
    }
    assert!(remote.pool().open_connections() <= 4);
}
server_tests!(eight_concurrent_transfers_through_a_pool_of_four);

fn listing_ahead_only_takes_a_connection_that_leaves_one_free(server: &TestServer) {
    server.seed_file("ahead/x.txt", b"x");
    server.seed_file("big.bin", &pattern(4_000_000, 7));
    let mut config = config(server);
    config.max_connections = 2;
    let remote = FtpRemote::connect(config).unwrap();
    let mut asked = 0;
    let listed = remote
        .list_ahead(Path::new("/ahead"), false, &mut || {
            asked += 1;
            true
        })
        .expect("one idle and one unopened: a spare connection")
        .unwrap();
    assert_eq!(listed.len(), 1, "{:?}", server.kind);
    assert_eq!(asked, 1);
    // Not wanted any more once the connection is ready: nothing listed.
    assert!(
        remote
            .list_ahead(Path::new("/ahead"), false, &mut || false)
            .is_none()
    );
    // A download holds one of the two connections: the other one is the reserve.
    let mut download = remote.open_read(Path::new("/big.bin"), 0).unwrap();
    let mut first = [0u8; 1];
    download.read_exact(&mut first).unwrap();
    assert!(
        remote
            .list_ahead(Path::new("/ahead"), false, &mut || panic!("must not start"))
            .is_none(),
        "{:?}",
        server.kind
    );
    assert!(
        remote.list(Path::new("/ahead")).is_ok(),
        "the reserve serves"
    );
    drop(download);
    assert!(remote.pool().open_connections() <= 2);
}
server_tests!(listing_ahead_only_takes_a_connection_that_leaves_one_free);

fn a_connection_closed_by_the_server_while_idle_is_replaced(server: &TestServer) {
    server.seed_file("x.txt", b"still here");
    let remote = connect(server);
    assert!(remote.list(Path::new("/")).is_ok());
    // Cut every established connection to the server's control port.
    let status = std::process::Command::new("ss")
        .args(["-K", "state", "established"])
        .stderr(std::process::Stdio::null())
        .arg(format!(
            "( sport = :{} or dport = :{} )",
            server.port, server.port
        ))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ss");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    let left = std::process::Command::new("ss")
        .args(["-tnH", "state", "established"])
        .arg(format!("( dport = :{} )", server.port))
        .output()
        .expect("ss");
    assert!(left.stdout.is_empty(), "the pooled connection was cut");
    let entries = remote.list(Path::new("/")).expect("list after cut");
    assert!(entries.iter().any(|e| e.name == "x.txt"));
    assert_eq!(read_all(&remote, "/x.txt", 0), b"still here");
}
server_tests!(a_connection_closed_by_the_server_while_idle_is_replaced);

/// Active mode where the server allows our data port (vsftpd and pyftpdlib; the others are
/// covered by passive mode).
fn active_mode_transfers_work(kind: ServerKind) {
    common::with_server(kind, |server| {
        let data = pattern(500_000, 9);
        server.seed_file("a.bin", &data);
        let mut config = config(server);
        config.data_mode = DataMode::Active;
        let remote = FtpRemote::connect(config).unwrap();
        assert_eq!(read_all(&remote, "/a.bin", 0), data, "{kind:?}");
        assert!(
            remote
                .list(Path::new("/"))
                .unwrap()
                .iter()
                .any(|e| e.name == "a.bin")
        );
    });
}

mod active_mode {
    use super::*;
    #[test]
    fn vsftpd() {
        active_mode_transfers_work(ServerKind::Vsftpd);
    }
    #[test]
    fn pyftpdlib() {
        active_mode_transfers_work(ServerKind::Pyftpdlib);
    }
}

fn a_listing_larger_than_the_limit_is_refused_and_the_client_recovers(server: &TestServer) {
    for i in 0..200 {
        server.seed_file(&format!("many/file-{i:04}.txt"), b"x");
    }
    server.seed_file("few/one.txt", b"1");
    let mut small = config(server);
    small.max_listing_bytes = 2_000; // far below 200 listing lines
    let remote = FtpRemote::connect(small).expect("login");
    let err = remote
        .list(Path::new("/many"))
        .expect_err("an oversized listing must be refused");
    assert_eq!(
        err.kind,
        RemoteErrorKind::Protocol,
        "{:?}: {err}",
        server.kind
    );
    assert!(err.message.contains("larger than"), "{}", err.message);
    // The aborted listing's connection was dropped; the next request works.
    let few = remote.list(Path::new("/few")).expect("small listing");
    assert_eq!(few.len(), 1, "{:?}", server.kind);
    assert_eq!(connect(server).list(Path::new("/many")).unwrap().len(), 200);
}
server_tests!(a_listing_larger_than_the_limit_is_refused_and_the_client_recovers);

/// Upload 4 MiB to `path` and return how the upload failed (None: it succeeded).
fn upload_4_mib(remote: &FtpRemote, path: &str) -> Option<RemoteError> {
    let content = pattern(4 << 20, 9);
    let result = remote.create(Path::new(path)).and_then(|mut writer| {
        for chunk in content.chunks(64 * 1024) {
            writer.write_all(chunk).map_err(RemoteError::from_io)?;
        }
        writer.finish()
    });
    result.err()
}

/// Upload more than a 2 MiB disk holds (the server's root on a tmpfs), then upload again to
/// the disk that is now full; return how the two uploads failed. None when the server or a
/// tmpfs is not available here (skipped).
///
/// Why twice: when the disk fills up in the middle of a server's write(), the write is short
/// rather than failing, and proftpd reports a short write as "451 ... Input/output error"; only a
/// write to a disk that is already full fails with ENOSPC every time, on every server.
fn upload_to_a_full_disk(
    kind: ServerKind,
    io_timeout: Duration,
) -> Option<(RemoteError, RemoteError)> {
    let server = TestServer::try_start(kind)?;
    let _disk = SmallDisk::over(&server, 2 << 20)?;
    let mut config = config(&server);
    config.io_timeout = io_timeout;
    let remote = FtpRemote::connect(config).expect("login");
    let first = upload_4_mib(&remote, "/big.bin").expect("4 MiB cannot fit on a 2 MiB disk");
    eprintln!("{kind:?} while the disk fills up: {first}");
    let error = upload_4_mib(&remote, "/more.bin").expect("the disk is full");
    eprintln!("{kind:?} on a full disk: {error}");
    // The client is still usable afterwards (the failed transfer left no stale reply behind).
    let listed = remote.list(Path::new("/")).expect("list after a full disk");
    assert!(listed.iter().any(|e| e.name == "big.bin"), "{listed:?}");
    remote.shutdown();
    Some((first, error))
}

/// On a full disk, `kind`'s server makes an upload fail with `want`, saying `words`.
fn full_disk_gives(kind: ServerKind, want: RemoteErrorKind, words: &str) {
    let Some((_, error)) = upload_to_a_full_disk(kind, Duration::from_secs(10)) else {
        return;
    };
    assert_eq!(error.kind, want, "{error}");
    assert!(error.message.contains(words), "{error}");
}

/// proftpd says "452 Transfer aborted. No space left on device": ENOSPC.
#[test]
fn full_disk_on_proftpd_is_no_space() {
    full_disk_gives(ServerKind::Proftpd, RemoteErrorKind::NoSpace, "452");
}

/// vsftpd answers every failed write with a bare "451 Failure writing to local file.": the
/// cause cannot be told, so it stays EIO (Other), with the server's words in the message.
#[test]
fn full_disk_on_vsftpd_stays_an_io_error() {
    let words = "451 Failure writing to local file.";
    full_disk_gives(ServerKind::Vsftpd, RemoteErrorKind::Other, words);
}

/// pure-ftpd 1.0.50 says "451 Error during write to file" on a full disk: no word about space,
/// so EIO (Other), like vsftpd.
#[test]
fn full_disk_on_pure_ftpd_stays_an_io_error() {
    let words = "451 Error during write to file";
    full_disk_gives(ServerKind::PureFtpd, RemoteErrorKind::Other, words);
}

/// pyftpdlib 1.5.7 loses the errno: when the disk fills up it either hits an exception of its
/// own and never replies (the upload fails after the reply timeout; the SIZE check says how much
/// arrived) or says "426 None; transfer aborted."; on a disk already full always the 426. Both
/// fail loudly, as transient errors (EIO/ETIMEDOUT), never as a success.
#[test]
fn full_disk_on_pyftpdlib_fails_loudly_without_a_cause() {
    let Some((first, second)) =
        upload_to_a_full_disk(ServerKind::Pyftpdlib, Duration::from_secs(3))
    else {
        return;
    };
    assert!(first.is_transient(), "{first}");
    if first.kind == RemoteErrorKind::TimedOut {
        assert!(
            first.message.contains("of 4194304 sent"),
            "the message says how much arrived: {first}"
        );
    }
    assert_eq!(second.kind, RemoteErrorKind::Connection, "{second}");
    assert!(second.message.contains("426"), "{second}");
}

/// pure-ftpd's virtual quota (`-n files:MiB`) refuses with "552 ... Quota exceeded": EDQUOT.
#[test]
fn quota_on_pure_ftpd_is_quota_exceeded() {
    let Some(server) =
        TestServer::try_start_with_extra_config(ServerKind::PureFtpd, "-n\n1000:1\n")
    else {
        return;
    };
    let remote = connect(&server);
    let error = upload_4_mib(&remote, "/big.bin").expect("4 MiB exceed a 1 MiB quota");
    assert_eq!(error.kind, RemoteErrorKind::QuotaExceeded, "{error}");
    assert!(error.message.contains("552"), "{error}");
    // Within the quota, uploads still work on the same client.
    let mut writer = remote.create(Path::new("/small.bin")).expect("create");
    writer.write_all(b"fits").expect("write");
    writer.finish().expect("a small file fits the quota");
    assert_eq!(std::fs::read(server.path("small.bin")).unwrap(), b"fits");
}

/// The end of an atomic upload (`commit_upload`: SITE CHMOD and time of the temporary file,
/// RNFR, RNTO in one round trip where the server keeps the order): the real name gets the new
/// data, the mode and the time, over an existing file and as a new one; the second commit
/// runs with what the first learned (libunftp: order lost, no chmod, no times). A missing
/// temporary file fails the rename and leaves the real name alone.
fn an_upload_commit_gives_the_real_name_data_mode_and_time(server: &TestServer) {
    use std::os::unix::fs::PermissionsExt;
    server.seed_file("old.txt", b"previous");
    let remote = connect(server);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let attrs = CommitAttrs {
        mode: Some(0o640),
        mtime: Some(when),
    };
    for (temp, real) in [("/.up.1", "old.txt"), ("/.up.2", "new.txt")] {
        let mut writer = remote.create(Path::new(temp)).unwrap();
        writer.write_all(b"new content").unwrap();
        writer.finish().unwrap();
        let outcome = remote.commit_upload(Path::new(temp), &Path::new("/").join(real), attrs);
        outcome
            .rename
            .unwrap_or_else(|err| panic!("{}: {real}: {err}", server.kind));
        assert_eq!(std::fs::read(server.path(real)).unwrap(), b"new content");
        assert!(
            !server.path(&temp[1..]).exists(),
            "{}: temp left",
            server.kind
        );
        let on_disk = std::fs::metadata(server.path(real)).unwrap();
        if server.kind.can(Feature::Chmod) {
            assert!(matches!(outcome.chmod, Some(Ok(()))), "{}", server.kind);
            assert_eq!(
                on_disk.permissions().mode() & 0o777,
                0o640,
                "{}",
                server.kind
            );
        }
        if server.kind.can(Feature::SetFileTime) {
            assert!(
                matches!(outcome.mtime, Some(Ok(()))),
                "{}: {:?}",
                server.kind,
                outcome.mtime
            );
            assert_eq!(on_disk.modified().unwrap(), when, "{}: {real}", server.kind);
        }
    }
    let outcome = remote.commit_upload(Path::new("/.missing"), Path::new("/old.txt"), attrs);
    assert!(outcome.rename.is_err(), "{}", server.kind);
    assert_eq!(
        std::fs::read(server.path("old.txt")).unwrap(),
        b"new content"
    );
}
server_tests!(an_upload_commit_gives_the_real_name_data_mode_and_time);
