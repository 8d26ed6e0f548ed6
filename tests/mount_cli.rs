//! `ftpfs mount` as a user meets it on the command line: a wrong password, an unreachable port
//! or a missing mountpoint give one line on stderr and mount nothing; the password never shows
//! in logs or in `ps`.

#[macro_use]
mod common;

use std::ffi::OsStr;
use std::fs::{self};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::files::*;
use common::mount::{fresh_mountpoint, is_mounted, run_ftpfs};
use common::{ServerKind, TempDir, TestServer, temp_dir};

/// Asserts that a failed `ftpfs mount` said exactly one line, exited non-zero and left nothing
/// mounted on `mountpoint`; returns the line.
fn assert_one_line_failure(output: &std::process::Output, mountpoint: &Path) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "mount succeeded: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("ftpfs: "), "{stderr}");
    assert!(
        !is_mounted(mountpoint),
        "{} got mounted",
        mountpoint.display()
    );
    lines[0].to_string()
}

fn bad_password_fails_with_one_line_and_mounts_nothing(server: &TestServer) {
    let kind = server.kind;
    {
        let mountpoint = fresh_mountpoint();
        let url = format!(
            "ftp://{}:not-the-password@127.0.0.1:{}/",
            server.user, server.port
        );
        let output = run_ftpfs(&["mount".as_ref(), url.as_ref(), mountpoint.as_os_str()]);
        let line = assert_one_line_failure(&output, &mountpoint);
        assert!(line.contains("login"), "{kind}: {line}");
        assert!(!line.contains("not-the-password"), "{kind}: {line}");
        assert_eq!(names(&mountpoint), Vec::<String>::new());
        fs::remove_dir(&mountpoint).unwrap();
    }
}
server_tests!(bad_password_fails_with_one_line_and_mounts_nothing);

/// A path in the URL that is not a directory on the server: one line naming it, nothing
/// mounted (vsftpd would list a missing directory as an empty one).
fn missing_remote_path_fails_with_one_line(server: &TestServer) {
    let kind = server.kind;
    server.seed_file("plain.txt", b"x");
    for (path, says) in [
        ("no/such/dir", "does not exist"),
        ("plain.txt", "not a directory"),
    ] {
        let mountpoint = fresh_mountpoint();
        let url = format!(
            "ftp://{}:{}@127.0.0.1:{}/{path}",
            server.user, server.password, server.port
        );
        let output = run_ftpfs(&["mount".as_ref(), url.as_ref(), mountpoint.as_os_str()]);
        let line = assert_one_line_failure(&output, &mountpoint);
        assert!(line.contains(path) && line.contains(says), "{kind}: {line}");
        fs::remove_dir(&mountpoint).unwrap();
    }
}
server_tests!(missing_remote_path_fails_with_one_line);

#[test]
fn unreachable_port_fails_with_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let mountpoint = fresh_mountpoint();
    let url = format!("ftp://user:pw@127.0.0.1:{port}/");
    let started = Instant::now();
    let output = run_ftpfs(&["mount".as_ref(), url.as_ref(), mountpoint.as_os_str()]);
    let line = assert_one_line_failure(&output, &mountpoint);
    assert!(line.contains(&port.to_string()), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    fs::remove_dir(&mountpoint).unwrap();
}

#[test]
fn missing_mountpoint_fails_with_one_line() {
    let parent: TempDir = temp_dir("ftpfs-mount-missing");
    let missing = parent.path().join("no-such-dir");
    let output = run_ftpfs(&[
        "mount".as_ref(),
        OsStr::new("ftp://user:pw@127.0.0.1:9/"),
        missing.as_os_str(),
    ]);
    let line = assert_one_line_failure(&output, &missing);
    assert!(line.contains("does not exist"), "{line}");
    assert!(!missing.exists());
}

/// Where the password may come from besides the URL.
#[derive(Clone, Copy, Debug)]
enum PasswordSource {
    Env,
    File,
    Netrc,
}

/// With the password from the environment, a file or ~/.netrc, it must not show in the logs
/// (even at trace level, where every control line is logged) nor in the background process's
/// command line or environment (what `ps` and `ps e` show).
#[test]
fn password_never_shows_in_logs_or_ps() {
    if !common::can_mount(ServerKind::Vsftpd) {
        return;
    }
    let server = TestServer::start(ServerKind::Vsftpd);
    let secret = server.password.clone();
    let home = temp_dir("ftpfs-password-home");
    for source in [
        PasswordSource::Env,
        PasswordSource::File,
        PasswordSource::Netrc,
    ] {
        let dir = fresh_mountpoint();
        let url = format!("ftp://{}@127.0.0.1:{}/", server.user, server.port);
        let mut command = Command::new(common::mount::ftpfs_binary());
        command
            .args(["-vvv", "mount", &url])
            .arg(&dir)
            .env_remove("FTPFS_PASSWORD")
            .env_remove("RUST_LOG")
            .env("HOME", home.path())
            .stdin(Stdio::null());
        let netrc = home.path().join(".netrc");
        let _ = fs::remove_file(&netrc);
        match source {
            PasswordSource::Env => {
                command.env("FTPFS_PASSWORD", &secret);
            }
            PasswordSource::File => {
                let file = home.path().join("password");
                fs::write(&file, format!("{secret}\n")).unwrap();
                command.arg("--password-file").arg(&file);
            }
            PasswordSource::Netrc => {
                fs::write(
                    &netrc,
                    format!(
                        "machine 127.0.0.1 login {} password {secret}\n",
                        server.user
                    ),
                )
                .unwrap();
                fs::set_permissions(&netrc, fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "{source:?}: mount failed: {stderr}"
        );
        // Look first, unmount, then judge: a failed check must not leave the mount behind.
        let pid = stderr
            .split("background process ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let shown: Vec<(String, Vec<u8>)> = ["cmdline", "environ"]
            .iter()
            .filter_map(|what| {
                let file = format!("/proc/{}/{what}", pid?);
                Some((file.clone(), fs::read(file).ok()?))
            })
            .collect();
        let usable = fs::read_dir(&dir).is_ok();
        let umount = run_ftpfs(&["umount".as_ref(), dir.as_os_str()]);
        assert!(umount.status.success(), "{source:?}: umount failed");
        assert!(!is_mounted(&dir));

        assert!(usable, "{source:?}: mount not usable");
        assert!(
            !stderr.contains(&secret),
            "{source:?}: password in the log:\n{stderr}"
        );
        assert!(
            stderr.contains("PASS ****"),
            "{source:?}: trace log expected:\n{stderr}"
        );
        assert!(pid.is_some(), "{source:?}: no daemon pid in:\n{stderr}");
        assert_eq!(shown.len(), 2, "{source:?}: /proc files of the daemon");
        for (file, bytes) in shown {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{source:?}: password in {file}"
            );
        }
        let _ = fs::remove_dir(&dir);
    }
}
