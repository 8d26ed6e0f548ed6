//! The `ftpfs` binary as users meet it: `--help`, exit codes and one-line errors, failing fast
//! on a closed port with nothing mounted, and the generated man page and completions. How the
//! flags parse into a config: cli_args.rs.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::mount::is_mounted;
use common::{TempDir, temp_dir};
fn temp_dir_named(name: &str) -> TempDir {
    temp_dir(&format!("ftpfs-cli-{name}"))
}

fn ftpfs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftpfs"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("FTPFS_PASSWORD")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn help_lists_the_commands_and_options() {
    let output = ftpfs(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("mount") && text.contains("umount"), "{text}");
    assert!(
        !text.contains("__daemon"),
        "the internal command stays hidden"
    );
    let mount_help = ftpfs(&["mount", "--help"]);
    assert!(mount_help.status.success());
    let text = String::from_utf8_lossy(&mount_help.stdout);
    for option in ["--connections", "--password-file", "--foreground", "-o"] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
    // The defaults shown are the config structs' own.
    let ftp = ftpfs::ftp::FtpConfig::default();
    let fs = ftpfs::fs::FsConfig::default();
    for (option, default) in [
        ("--connections <N>", ftp.max_connections.to_string()),
        ("--timeout <SECS>", ftp.io_timeout.as_secs().to_string()),
        (
            "--connect-timeout <SECS>",
            ftp.connect_timeout.as_secs().to_string(),
        ),
        (
            "--dir-cache-ttl <SECS>",
            fs.dir_cache_ttl.as_secs().to_string(),
        ),
        ("--cache-size <BYTES>", format!("{}M", fs.cache_size >> 20)),
    ] {
        let line = text
            .lines()
            .find(|line| line.contains(option))
            .unwrap_or_else(|| panic!("{option} missing"));
        assert!(line.contains(&format!("[default: {default}]")), "{line}");
    }
    assert!(text.contains(&format!("umask=OCTAL (default {:03o})", fs.umask)));
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = temp_dir_named("usage");
    for args in [
        vec!["mount", "gopher://h", dir.str()],
        vec!["mount", "ftp://u:hunter2@h:70000", dir.str()],
        vec!["mount", "-o", "ro,bogus", "h", dir.str()],
        vec!["h", dir.str(), "-o", "ro,bogus"],
        // clap's own usage errors are one line too.
        vec!["mount", "--connections", "0", "h", dir.str()],
        vec!["h", dir.str(), "-o", "timeout=soon"],
        vec!["mount"],
    ] {
        let output = ftpfs(&args);
        let lines = stderr_lines(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("ftpfs: "), "{lines:?}");
        assert!(!lines[0].contains("hunter2"), "password leaked: {lines:?}");
    }
}

#[test]
fn missing_mountpoint_is_one_line_and_exit_1() {
    let dir = temp_dir_named("missing");
    let missing = dir.path().join("not-there");
    let output = ftpfs(&["mount", "127.0.0.1:1", missing.to_str().unwrap()]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("does not exist"), "{lines:?}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let output = ftpfs(&["mount", "-f", "127.0.0.1:1", file.to_str().unwrap()]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].contains("not a directory"), "{lines:?}");
}

#[test]
fn umount_of_a_plain_directory_says_not_mounted() {
    let dir = temp_dir_named("umount");
    let output = ftpfs(&["umount", dir.str()]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("is not mounted"), "{lines:?}");
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_connection_refused_fails_fast(foreground: bool) {
    let dir = temp_dir_named(if foreground {
        "refused-fg"
    } else {
        "refused-bg"
    });
    let source = format!("127.0.0.1:{}", closed_port());
    let mut args = vec!["mount", "--connect-timeout", "3"];
    if foreground {
        args.push("-f");
    }
    args.extend([source.as_str(), dir.str()]);
    let started = Instant::now();
    let output = ftpfs(&args);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ftpfs: "), "{lines:?}");
    assert!(lines[0].contains(&source), "names the server: {lines:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!is_mounted(dir.path()), "nothing may be mounted");
}

#[test]
fn closed_port_fails_fast_in_the_foreground_and_nothing_is_mounted() {
    assert_connection_refused_fails_fast(true);
}

#[test]
fn closed_port_fails_fast_through_the_daemon_and_nothing_is_mounted() {
    assert_connection_refused_fails_fast(false);
}

/// The documented install commands produce a page `man` can read and scripts the shells accept.
#[test]
fn man_page_and_completions_are_generated() {
    let page = ftpfs(&["man"]);
    assert!(page.status.success(), "{:?}", stderr_lines(&page));
    let dir = temp_dir("man");
    let file = dir.path().join("ftpfs.1");
    std::fs::write(&file, &page.stdout).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("COLUMNS", "100")
        .output();
    // man-db is not everywhere; where it is, the page must render with the options in it.
    if let Some(rendered) = rendered.ok().filter(|o| o.status.success()) {
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(text.contains("--password-file"), "{text}");
    }
    let bash = ftpfs(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = dir.path().join("ftpfs.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    for shell in ["zsh", "fish"] {
        let output = ftpfs(&["completions", shell]);
        assert!(
            output.status.success() && !output.stdout.is_empty(),
            "{shell}"
        );
    }
    assert_eq!(ftpfs(&["completions", "tcsh"]).status.code(), Some(2));
}
