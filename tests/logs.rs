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
