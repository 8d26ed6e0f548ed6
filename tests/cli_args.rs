//! The command line as users meet it: SOURCE and `-o` grammar tables, the config the flags
//! produce, and the `ftpfs` binary's exit codes and one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use clap::Parser;
use ftpfs::cli::options::{MountOptions, parse_mount_options};
use ftpfs::cli::source::{Source, parse_source};
use ftpfs::cli::{Cli, CliCommand, config_without_login};
use ftpfs::ftp::{DataMode, TlsMode};
use ftpfs::mount::Access;

fn source(host: &str, port: Option<u16>, root: &str, tls: TlsMode) -> Source {
    Source {
        host: host.into(),
        port,
        user: None,
        password: None,
        root: root.into(),
        tls,
    }
}

#[test]
fn source_forms_that_parse() {
    let none = TlsMode::None;
    let table: Vec<(&str, Source)> = vec![
        ("example.org", source("example.org", None, "/", none)),
        (
            "example.org:2121",
            source("example.org", Some(2121), "/", none),
        ),
        ("127.0.0.1:21", source("127.0.0.1", Some(21), "/", none)),
        ("[::1]:2121", source("::1", Some(2121), "/", none)),
        ("[fe80::1]", source("fe80::1", None, "/", none)),
        ("::1", source("::1", None, "/", none)),
        ("ftp://h", source("h", None, "/", none)),
        ("FTP://h/", source("h", None, "/", none)),
        (
            "ftp://h:99/pub//dir/",
            source("h", Some(99), "/pub/dir", none),
        ),
        (
            "ftp://[::1]:2121/a%20b",
            source("::1", Some(2121), "/a b", none),
        ),
        ("ftps://h", source("h", None, "/", TlsMode::Implicit)),
        (
            "ftpes://h:21/x",
            source("h", Some(21), "/x", TlsMode::Explicit),
        ),
        (
            "ftp://h/%C3%A9t%C3%A9",
            source("h", None, "/\u{e9}t\u{e9}", none),
        ),
    ];
    for (text, expected) in table {
        assert_eq!(parse_source(text), Ok(expected), "{text}");
    }
}

#[test]
fn source_user_and_password_are_percent_decoded() {
    let parsed = parse_source("ftp://us%40er:p%3Aa@ss@h:21/dir").unwrap();
    assert_eq!(parsed.user.as_deref(), Some("us@er"));
    // The last '@' ends the user info, so an unencoded '@' in the password still works.
    assert_eq!(parsed.password.as_deref(), Some("p:a@ss"));
    assert_eq!(parsed.host, "h");
    assert_eq!(parsed.root, "/dir");
    let user_only = parse_source("alice@h:2121").unwrap();
    assert_eq!(user_only.user.as_deref(), Some("alice"));
    assert_eq!(user_only.port, Some(2121));
    let empty_password = parse_source("ftp://bob:@h").unwrap();
    assert_eq!(empty_password.password.as_deref(), Some(""));
    assert!(!format!("{:?}", parse_source("ftp://u:s3cret@h").unwrap()).contains("s3cret"));
}

#[test]
fn source_default_ports_follow_the_scheme() {
    assert_eq!(parse_source("ftp://h").unwrap().effective_port(), 21);
    assert_eq!(parse_source("ftpes://h").unwrap().effective_port(), 21);
    assert_eq!(parse_source("ftps://h").unwrap().effective_port(), 990);
    assert_eq!(
        parse_source("ftps://h:2990").unwrap().effective_port(),
        2990
    );
}

#[test]
fn source_forms_that_are_refused_with_a_reason() {
    let table = [
        ("", "empty"),
        ("http://h", "scheme"),
        ("sftp://h", "scheme"),
        ("ftp://", "host"),
        ("ftp:///path", "host"),
        ("ftp://user@", "host"),
        (":21", "host"),
        ("h:", "port"),
        ("h:0", "port"),
        ("h:65536", "port"),
        ("h:12ab", "port"),
        ("h:+21", "port"),
        ("ftp://h:-1/", "port"),
        ("[::1", "unclosed"),
        ("[::1]x", "after"),
        ("[host]:21", "IPv6"),
        ("ftp://h/%zz", "percent"),
        ("ftp://h/%0d%0aDELE%20x", "CR"),
        ("ftp://h/a/../b", ".."),
        ("ftp://@h", "user"),
        ("u:pw@h", "password"),
        ("ftp://h h", "host"),
    ];
    for (text, reason) in table {
        match parse_source(text) {
            Ok(parsed) => panic!("{text:?} should be refused, got {parsed:?}"),
            Err(message) => {
                assert!(
                    message.contains(reason),
                    "{text:?}: {message:?} lacks {reason:?}"
                );
                assert!(!message.contains('\n'), "{text:?}: one line please");
            }
        }
    }
}

#[test]
fn mount_options_table() {
    let parsed = parse_mount_options(&["ro,allow_other", "uid=1000,gid=100,umask=027"]).unwrap();
    assert_eq!(
        parsed,
        MountOptions {
            read_only: Some(true),
            access: Some(Access::AllUsers),
            uid: Some(1000),
            gid: Some(100),
            umask: Some(0o027),
            default_permissions: false,
            page_cache: false,
            inplace: false,
        }
    );
    assert!(parse_mount_options(&["inplace"]).unwrap().inplace);
    assert!(parse_mount_options(&["page_cache"]).unwrap().page_cache);
    assert!(
        !parse_mount_options(&["page_cache,direct_io"])
            .unwrap()
            .page_cache
    );
    assert!(parse_mount_options(&["page_cache=1"]).is_err());
    let later_wins = parse_mount_options(&["ro", "rw,allow_root,default_permissions"]).unwrap();
    assert_eq!(later_wins.read_only, Some(false));
    assert_eq!(later_wins.access, Some(Access::OwnerAndRoot));
    assert!(later_wins.default_permissions);
    assert_eq!(parse_mount_options(&[",,"]), Ok(MountOptions::default()));

    for bad in [
        "bogus",
        "ro,nosuchthing",
        "uid",
        "uid=x",
        "uid=-1",
        "gid=",
        "umask=9",
        "umask=77777",
        "ro=1",
        "allow_other=yes",
    ] {
        let message = parse_mount_options(&[bad]).expect_err(bad);
        assert!(!message.contains('\n'), "{bad}: {message}");
    }
    assert!(
        parse_mount_options(&["ro,typo"])
            .unwrap_err()
            .contains("\"typo\"")
    );
}

fn mount_args(args: &[&str]) -> ftpfs::cli::MountArgs {
    let cli = Cli::try_parse_from(["ftpfs", "mount"].iter().chain(args)).unwrap();
    match cli.command {
        CliCommand::Mount(args) => args,
        other => panic!("not a mount: {other:?}"),
    }
}

#[test]
fn flags_land_in_the_config() {
    let args = mount_args(&[
        "--connections",
        "8",
        "--dir-cache-ttl",
        "5",
        "--cache-size",
        "256M",
        "--timeout",
        "7",
        "--connect-timeout",
        "0.5",
        "--active",
        "--tls",
        "--insecure",
        "-f",
        "-o",
        "ro,uid=12",
        "ftp://alice@[::1]:2121/pub",
        "/mnt/point",
    ]);
    let (config, _) = config_without_login(&args).unwrap();
    assert_eq!(config.ftp.host, "::1");
    assert_eq!(config.ftp.port, 2121);
    assert_eq!(config.ftp.user.as_deref(), Some("alice"));
    assert_eq!(config.ftp.max_connections, 8);
    assert_eq!(config.ftp.io_timeout, Duration::from_secs(7));
    assert_eq!(config.ftp.connect_timeout, Duration::from_millis(500));
    assert_eq!(config.ftp.data_mode, DataMode::Active);
    assert_eq!(config.ftp.tls, TlsMode::Explicit);
    assert!(config.ftp.insecure);
    assert_eq!(config.fs.dir_cache_ttl, Duration::from_secs(5));
    assert_eq!(config.fs.cache_size, 256 << 20);
    assert!(config.fs.read_only);
    assert_eq!(config.fs.uid, 12);
    assert_eq!(config.remote_root, "/pub");
    assert_eq!(config.mountpoint, PathBuf::from("/mnt/point"));
    assert!(config.foreground);
    assert_eq!(config.fs_name(), "ftpes://[::1]:2121/pub");
}

#[test]
fn defaults_without_flags() {
    let (config, _) = config_without_login(&mount_args(&["h", "rel/dir"])).unwrap();
    assert_eq!(config.ftp.port, 21);
    assert_eq!(config.ftp.max_connections, 4);
    assert_eq!(config.ftp.tls, TlsMode::None);
    assert_eq!(config.ftp.data_mode, DataMode::Passive);
    assert_eq!(config.fs.dir_cache_ttl, Duration::from_secs(30));
    assert!(!config.fs.read_only);
    assert_eq!(config.access, Access::Owner);
    assert!(!config.foreground);
    assert!(config.mountpoint.is_absolute());
    assert!(config.mountpoint.ends_with("rel/dir"));
    // ftps:// stays implicit even with --tls.
    let (implicit, _) = config_without_login(&mount_args(&["--tls", "ftps://h", "/m"])).unwrap();
    assert_eq!(implicit.ftp.tls, TlsMode::Implicit);
    assert_eq!(implicit.ftp.port, 990);
}

#[test]
fn clap_refuses_bad_values() {
    for args in [
        vec!["--connections", "0", "h", "/m"],
        vec!["--cache-size", "12X", "h", "/m"],
        vec!["--timeout", "0", "h", "/m"],
        vec!["h"],
    ] {
        let all = ["ftpfs", "mount"].into_iter().chain(args.iter().copied());
        assert!(Cli::try_parse_from(all).is_err(), "{args:?}");
    }
}

// ---- the binary ----

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

/// A fresh empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("ftpfs-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = TempDir::new("usage");
    for args in [
        vec!["mount", "gopher://h", dir.str()],
        vec!["mount", "ftp://u:hunter2@h:70000", dir.str()],
        vec!["mount", "-o", "ro,bogus", "h", dir.str()],
    ] {
        let output = ftpfs(&args);
        let lines = stderr_lines(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("ftpfs: "), "{lines:?}");
        assert!(!lines[0].contains("hunter2"), "password leaked: {lines:?}");
    }
    // clap's own usage errors use the same status.
    assert_eq!(ftpfs(&["mount"]).status.code(), Some(2));
}

#[test]
fn missing_mountpoint_is_one_line_and_exit_1() {
    let dir = TempDir::new("missing");
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
    let dir = TempDir::new("umount");
    let output = ftpfs(&["umount", dir.str()]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("is not mounted"), "{lines:?}");
}

fn is_mounted(dir: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = format!(" {} ", dir.display());
    mountinfo.lines().any(|line| line.contains(&needle))
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_connection_refused_fails_fast(foreground: bool) {
    let dir = TempDir::new(if foreground {
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
