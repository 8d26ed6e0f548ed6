//! `ftpfs status`: what a running mount is doing, read over its socket.
//!
//! Real servers through the real binary: the mount is made by `ftpfs mount` (a background
//! daemon, like at boot) and `ftpfs status` is run the way a user would, without a terminal.
//! One server kind is enough here (the first available): what is tested is ftpfs's own
//! plumbing, not server behaviour.

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mount::{Mount, ftpfs_binary, run_ftpfs};
use common::{ServerKind, TestServer, temp_dir};

fn first_server() -> Option<TestServer> {
    let kind = *common::kinds_for_tests().first()?;
    TestServer::try_start(kind)
}

/// `ftpfs status ARGS...` with its stdout, asserting success.
fn status(args: &[&std::ffi::OsStr]) -> String {
    let mut all = vec!["status".as_ref()];
    all.extend_from_slice(args);
    let output = run_ftpfs(&all);
    assert!(
        output.status.success(),
        "ftpfs status failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 status")
}

#[test]
fn status_shows_a_download_in_flight() {
    let Some(server) = first_server() else {
        return;
    };
    const SIZE: usize = 8 << 20;
    server.seed_file("big.bin", &common::pattern(SIZE, 7));
    let mount = Mount::new(&server);

    // A slow reader: 1 MiB read, then the file stays open with its download running.
    let mut file = File::open(mount.path("big.bin")).expect("open");
    let mut first = vec![0u8; 1 << 20];
    file.read_exact(&mut first).expect("read 1 MiB");

    let text = status(&[mount.dir().as_os_str()]);
    eprintln!("{text}");
    assert!(
        text.contains("download big.bin") || text.contains("download /big.bin"),
        "{text}"
    );
    assert!(
        text.contains(" / 8.0 MiB ["),
        "no progress of 8 MiB:\n{text}"
    );
    assert!(text.contains("connections: "), "{text}");
    assert!(text.contains("cache: "), "{text}");
    assert!(text.contains("errors since mount: 0"), "{text}");

    // JSON parses, and says the same.
    let json = status(&["--json".as_ref(), mount.dir().as_os_str()]);
    let check = r#"
import json, sys
d = json.loads(sys.stdin.read())
assert d["mountpoint"] == sys.argv[1], d["mountpoint"]
assert d["server"].startswith("ftp://127.0.0.1:"), d["server"]
c = d["connections"]
assert c["busy"] >= 1 and c["limit"] >= 1 and "idle" in c and "configured" in c, c
[t] = [t for t in d["transfers"] if t["path"].endswith("big.bin")]
assert t["direction"] == "download", t
assert t["bytes_total"] == int(sys.argv[2]), t
assert int(sys.argv[3]) <= t["bytes_done"] <= t["bytes_total"], t
assert t["rate_bytes_per_sec"] >= 0 and t["elapsed_secs"] >= 0, t
assert set(d["cache"]) == {"hits", "misses"}, d["cache"]
assert d["errors"]["count"] == 0 and d["errors"]["last"] is None, d["errors"]
print("ok")
"#;
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(check)
        .arg(mount.dir())
        .arg(SIZE.to_string())
        .arg((1u64 << 20).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    std::io::Write::write_all(&mut python.stdin.take().expect("stdin"), json.as_bytes())
        .expect("feed python3");
    let checked = python.wait_with_output().expect("python3");
    assert!(
        checked.status.success(),
        "JSON check failed: {}\n{json}",
        String::from_utf8_lossy(&checked.stderr)
    );

    // Once the file is closed, the transfer is gone.
    drop(file);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&[mount.dir().as_os_str()]).contains("big.bin") {
        assert!(
            Instant::now() < deadline,
            "transfer still listed after close"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    mount.unmount();
}

#[test]
fn status_watch_refreshes_without_a_terminal() {
    let Some(server) = first_server() else {
        return;
    };
    let mount = Mount::new(&server);
    let mut watch = Command::new(ftpfs_binary())
        .args(["status", "--watch", "-n", "0.2"])
        // Another spelling of the mountpoint finds the same mount.
        .arg(format!("{}/", mount.dir().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ftpfs status --watch");
    std::thread::sleep(Duration::from_millis(1500));
    // Ours, by pid.
    watch.kill().expect("stop the watch");
    let output = watch.wait_with_output().expect("watch output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reports = stdout.matches("errors since mount:").count();
    assert!(reports >= 2, "{reports} reports:\n{stdout}");
    assert!(
        !stdout.contains('\x1b'),
        "terminal codes in a pipe:\n{stdout}"
    );
    mount.unmount();
}

#[test]
fn status_of_a_directory_that_is_no_mount_is_one_line() {
    let dir = temp_dir("status-none");
    let output = run_ftpfs(&["status".as_ref(), dir.path().as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not an ftpfs mount"), "{stderr}");
}

#[test]
fn status_shows_an_upload_in_flight_and_counts_errors() {
    let Some(server) = first_server() else {
        return;
    };
    server.seed_file("gone.txt", b"removed on the server behind the cache");
    let mount = Mount::new(&server);

    // A writer that keeps its file open (a separate process: a fork of ours would close a
    // copy of the descriptor at exec, and every close is a FUSE flush that ends the upload).
    let mut writer = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, time\nf = open(sys.argv[1], 'wb')\nf.write(b'x' * (2 << 20))\n\
              f.flush()\nprint('written', flush=True)\ntime.sleep(60)",
        )
        .arg(mount.path("new.bin"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut line = String::new();
    BufReader::new(writer.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("writer output");
    assert_eq!(line.trim(), "written");
    let text = status(&[mount.dir().as_os_str()]);
    eprintln!("{text}");
    assert!(text.contains("upload   /new.bin  "), "{text}");
    // Ours, by pid; its exit closes the file and finishes the upload.
    writer.kill().expect("stop the writer");
    writer.wait().expect("reap the writer");

    // A read the server refuses after the listing was cached: one error, with its path.
    assert!(fs::read_dir(mount.dir()).expect("list").count() >= 2);
    fs::remove_file(server.path("gone.txt")).expect("remove on the server");
    assert!(fs::read(mount.path("gone.txt")).is_err());
    let text = status(&[mount.dir().as_os_str()]);
    assert!(
        !text.contains("new.bin"),
        "upload still listed after close:\n{text}"
    );
    assert!(text.contains("errors since mount: 1\n"), "{text}");
    assert!(text.contains("read /gone.txt"), "{text}");
    mount.unmount();
}

#[test]
fn status_of_a_mount_whose_process_died_says_so() {
    use std::os::unix::fs::DirBuilderExt;
    let dir = temp_dir("status-stale");
    // What a killed mount leaves behind: its socket file, with nobody listening.
    let socket = ftpfs::status::socket::socket_path(dir.path());
    let parent = socket.parent().expect("socket dir");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .expect("socket dir");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let output = run_ftpfs(&["status".as_ref(), dir.path().as_os_str()]);
    let _ = fs::remove_file(&socket);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("has ended (stale "), "{stderr}");
}

#[test]
fn status_shows_the_connection_limit_the_server_taught() {
    let Some(server) =
        TestServer::try_start_with_extra_config(ServerKind::Vsftpd, "max_per_ip=2\n")
    else {
        return;
    };
    for name in ["a.bin", "b.bin", "c.bin"] {
        server.seed_file(name, &common::pattern(4 << 20, 9));
    }
    let mount = Mount::with_args(&server, &["--connections", "4"]);
    // Three downloads held open need a third connection, which vsftpd refuses (421): the
    // pool learns the limit, and the third read proceeds once an idle download lets go.
    let mut held = Vec::new();
    for name in ["a.bin", "b.bin", "c.bin"] {
        let mut file = File::open(mount.path(name)).expect("open");
        let mut first = vec![0u8; 1 << 20];
        file.read_exact(&mut first).expect("read 1 MiB");
        held.push(file);
    }
    let text = status(&[mount.dir().as_os_str()]);
    eprintln!("{text}");
    assert!(
        text.contains(", limit 2 (server allows fewer than the 4 asked)"),
        "{text}"
    );
    let json = status(&["--json".as_ref(), mount.dir().as_os_str()]);
    assert!(json.contains("\"limit\":2,\"configured\":4}"), "{json}");
    drop(held);
    mount.unmount();
}
