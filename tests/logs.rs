//! The logs a background mount keeps (`--log-file`; syslog when /dev/log exists).
//!
//! Real servers through the real binary: the mount is made by `ftpfs mount` (a background
//! daemon, like at boot, whose stderr is /dev/null once it is ready), and its log file is read
//! the way a user would.
//! One server kind is enough here (the first available): what is tested is ftpfs's own
//! plumbing, not server behaviour.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::mount::{Mount, run_ftpfs};
use common::{TEST_PASSWORD, TestServer, temp_dir};

fn first_server() -> Option<TestServer> {
    let kind = *common::kinds_for_tests().first()?;
    TestServer::try_start(kind)
}

/// Waits up to 10 s for `path` to contain every one of `needles` in one line; returns the file.
fn wait_for_line(path: &Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text
            .lines()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needles:?} in {}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn background_mount_logs_later_warnings_to_its_log_file() {
    let Some(server) = first_server() else {
        return;
    };
    let logs = temp_dir("status-log");
    let log = logs.path().join("ftpfs.log");
    let log_arg = log.to_str().expect("utf-8 temp path");
    server.seed_file("gone.txt", b"soon removed on the server");
    let mount = Mount::with_args(&server, &["-vvv", "--log-file", log_arg]);

    // The listing is cached; the server then loses the file, so the read fails after the
    // mount has long been ready (and its stderr is /dev/null).
    let names: Vec<_> = fs::read_dir(mount.dir())
        .expect("list the mount")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(names.iter().any(|name| name == "gone.txt"), "{names:?}");
    fs::remove_file(server.path("gone.txt")).expect("remove on the server");
    let read = fs::read(mount.path("gone.txt"));
    assert!(read.is_err(), "reading a file the server lost must fail");

    // The warning names the operation, the path and the server's reply code.
    let text = wait_for_line(&log, &["WARN", "read", "/gone.txt", "550"]);
    eprintln!(
        "{}",
        text.lines()
            .filter(|l| l.contains("WARN") || l.contains("PASS"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mode = fs::metadata(&log).expect("log file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "log file mode {mode:o}");
    // -vvv reached the file (control lines), with the password masked.
    assert!(text.contains("PASS ****"), "no masked PASS line:\n{text}");
    assert!(
        !text.contains(TEST_PASSWORD),
        "password in the log:\n{text}"
    );
    mount.unmount();
}

#[test]
fn log_file_that_cannot_be_created_fails_the_mount_at_once() {
    let Some(server) = first_server() else {
        return;
    };
    let dir = common::mount::fresh_mountpoint();
    let url = common::mount::mount_url(&server);
    let output = run_ftpfs(&[
        "mount".as_ref(),
        url.as_ref(),
        dir.as_os_str(),
        "--log-file".as_ref(),
        "/nonexistent-dir/ftpfs.log".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open log file /nonexistent-dir/ftpfs.log"),
        "{stderr}"
    );
    assert!(!common::mount::is_mounted(&dir));
    fs::remove_dir(&dir).expect("remove mountpoint");
}

/// What the background mount does in its own mount namespace: a fresh /dev with the devices
/// ftpfs needs and `/dev/log` bound to the test's datagram socket ($1), so the host's /dev is
/// never touched. $2 = ftpfs, $3 = URL, $4 = mountpoint, $5 = the server's copy of gone.txt.
const SYSLOG_SCRIPT: &str = r#"
set -e
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/fuse c 10 229
touch /dev/log
mount --bind "$1" /dev/log
"$2" mount "$3" "$4"
trap '"$2" umount "$4"' EXIT
ls "$4" > /dev/null
rm "$5"
if cat "$4/gone.txt" > /dev/null 2>&1; then echo "read of a lost file worked" >&2; exit 1; fi
"#;

#[test]
fn background_mount_logs_to_syslog_when_dev_log_exists() {
    use std::os::unix::net::UnixDatagram;
    let Some(server) = first_server() else {
        return;
    };
    server.seed_file("gone.txt", b"soon removed on the server");
    let dir = temp_dir("status-syslog");
    let socket_path = dir.path().join("log");
    let syslog = UnixDatagram::bind(&socket_path).expect("bind the syslog socket");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mountpoint = common::mount::fresh_mountpoint();
    let url = common::mount::mount_url(&server);
    let output = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!(
                "{}{SYSLOG_SCRIPT}",
                common::mount::DROP_INHERITED_FUSE_MOUNTS
            ),
            "sh",
        ])
        .arg(&socket_path)
        .arg(common::mount::ftpfs_binary())
        .arg(&url)
        .arg(&mountpoint)
        .arg(server.path("gone.txt"))
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run unshare");
    let _ = fs::remove_dir(&mountpoint);
    assert!(
        output.status.success(),
        "namespace script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // No "messages are lost" warning: syslog was there.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("are lost"), "{stderr}");

    let mut buf = [0u8; 8192];
    loop {
        let got = syslog
            .recv(&mut buf)
            .expect("a syslog datagram within 10 s");
        let message = String::from_utf8_lossy(&buf[..got]).into_owned();
        if !message.contains("/gone.txt") {
            continue;
        }
        // <28> = facility daemon (3) * 8 + severity warning (4); tagged with the daemon's pid.
        assert!(message.starts_with("<28>"), "{message}");
        assert!(message.contains("ftpfs["), "{message}");
        assert!(message.contains("read failed: read /gone.txt"), "{message}");
        assert!(message.contains("550"), "{message}");
        assert!(!message.contains(TEST_PASSWORD), "{message}");
        break;
    }
}
