//! The command line parsed: SOURCE and `-o` grammar tables, and the config the flags (and the
//! README's fstab lines) produce. The `ftpfs` binary's exit codes and messages: cli_binary.rs.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ftpfs::cli::options::{MountOptions, parse_mount_options};
use ftpfs::cli::source::{Source, parse_source};
use ftpfs::cli::{Cli, CliCommand, config_without_login};
use ftpfs::config::Access;
use ftpfs::ftp::{DataMode, TlsMode};

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
            skip_permission_checks: false,
            page_cache: false,
            noexec: false,
        }
    );
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

/// The options of an fstab line written for mount(8) and systemd, and the generic flags mount(8)
/// passes to every helper, mount; anything else is named in the error.
#[test]
fn mount_and_systemd_options_are_accepted_and_ignored() {
    let fstab = "_netdev,noauto,nofail,auto,user,users,nouser,defaults,comment=backup,\
                 x-systemd.automount,x-systemd.idle-timeout=60,x-systemd.mount-timeout=30";
    let passed_by_mount = "rw,dev,suid,exec,nodev,nosuid,atime,noatime,relatime,async";
    assert_eq!(
        parse_mount_options(&[fstab, passed_by_mount]),
        Ok(MountOptions {
            read_only: Some(false),
            ..MountOptions::default()
        })
    );
    assert!(parse_mount_options(&["noexec"]).unwrap().noexec);
    for bad in [
        "sync",
        "x_systemd",
        "_netdevx",
        "comment",
        "mand",
        "nouid=3",
    ] {
        let message = parse_mount_options(&[bad]).expect_err(bad);
        assert!(message.contains(&format!("{bad:?}")), "{message}");
    }
}

fn parse_cli(args: &[&str]) -> Result<Cli, clap::Error> {
    ftpfs::cli::parse(args.iter().map(std::ffi::OsString::from))
}

fn mount_args_of(cli: Cli) -> ftpfs::cli::MountArgs {
    match cli.command {
        CliCommand::Mount(args) => args,
        other => panic!("not a mount: {other:?}"),
    }
}

/// `ftpfs SOURCE MOUNTPOINT -o ...` (what mount.fuse3 runs) is `ftpfs mount`, and every long
/// option has an `-o name=value` form that lands in the same config field.
#[test]
fn mount8_form_and_long_options_as_o() {
    let o_form = "password_file=/etc/ftpfs.pw,connections=8,timeout=7,connect_timeout=0.5,\
                  dir_cache_ttl=5,cache_size=256M,ca_file=/etc/ca.pem,tls,insecure,active,\
                  foreground,rw,dev,suid,uid=12";
    let cli = parse_cli(&["ftpfs", "ftp://alice@h/pub", "/mnt/point", "-o", o_form]).unwrap();
    let args = mount_args_of(cli);
    assert_eq!(
        args.password_file.as_deref(),
        Some(Path::new("/etc/ftpfs.pw"))
    );
    let (config, _) = config_without_login(&args).unwrap();
    assert_eq!(config.ftp.max_connections, 8);
    assert_eq!(config.ftp.io_timeout, Duration::from_secs(7));
    assert_eq!(config.ftp.connect_timeout, Duration::from_millis(500));
    assert_eq!(config.fs.dir_cache_ttl, Duration::from_secs(5));
    assert_eq!(config.fs.cache_size, 256 << 20);
    assert_eq!(
        config.ftp.ca_file.as_deref(),
        Some(Path::new("/etc/ca.pem"))
    );
    assert_eq!(config.ftp.tls, TlsMode::Explicit);
    assert!(config.ftp.insecure);
    assert_eq!(config.ftp.data_mode, DataMode::Active);
    assert!(config.foreground);
    assert_eq!(config.fs.uid, 12);
    assert_eq!(config.remote_root, "/pub");

    // The later spelling wins, whichever it is.
    let later = |args: &[&str]| {
        let (config, _) = config_without_login(&mount_args_of(parse_cli(args).unwrap())).unwrap();
        config.ftp.max_connections
    };
    assert_eq!(
        later(&[
            "ftpfs",
            "h",
            "/m",
            "--connections",
            "3",
            "-o",
            "connections=5"
        ]),
        5
    );
    assert_eq!(
        later(&[
            "ftpfs",
            "h",
            "/m",
            "-o",
            "connections=5",
            "--connections",
            "3"
        ]),
        3
    );
    assert_eq!(
        later(&["ftpfs", "mount", "h", "/m", "-o", "connections=2"]),
        2
    );

    // Bad values and unknown options are refused, naming what was wrong.
    assert!(parse_cli(&["ftpfs", "h", "/m", "-o", "connections=0"]).is_err());
    assert!(parse_cli(&["ftpfs", "h", "/m", "-o", "tls=yes"]).is_err());
    let args = mount_args_of(parse_cli(&["ftpfs", "h", "/m", "-o", "conections=2"]).unwrap());
    let error = config_without_login(&args).unwrap_err();
    assert!(error.message.contains("\"conections=2\""), "{error}");
}

/// A shared mount checks permissions in the kernel unless the risk is named.
#[test]
fn allow_other_turns_on_permission_checks() {
    let config_for = |options: &str| {
        let args = mount_args(&["-o", options, "h", "/m"]);
        config_without_login(&args).unwrap().0
    };
    let shared = config_for("allow_other");
    assert_eq!(shared.access, Access::AllUsers);
    assert!(shared.default_permissions);
    let risky = config_for("allow_other_without_permission_checks");
    assert_eq!(risky.access, Access::AllUsers);
    assert!(!risky.default_permissions);
    assert!(
        config_for("allow_other_without_permission_checks,default_permissions").default_permissions
    );
    assert!(!config_for("allow_root").default_permissions);
    assert!(!config_for("rw").default_permissions);
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
    assert_eq!(config.ftp.max_connections, 8);
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

/// Every fstab line the README shows parses into a config (as mount.fuse3 would run it).
#[test]
fn readme_fstab_lines_parse() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() == 6 && fields[2] == "fuse.ftpfs"
        })
        .collect();
    assert!(lines.len() >= 4, "README fstab examples: {lines:?}");
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let args = ["ftpfs", fields[0], fields[1], "-o", fields[3]];
        let cli = parse_cli(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
        let (config, _) =
            config_without_login(&mount_args_of(cli)).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(config.mountpoint, PathBuf::from(fields[1]), "{line}");
    }
}

/// Write-back mode is off by default; `-o writeback,spool_size=` and the long options set it.
#[test]
fn writeback_options_land_in_the_config() {
    let (plain, _) = config_without_login(&mount_args(&["h", "/m"])).unwrap();
    assert!(!plain.fs.writeback);
    assert_eq!(plain.fs.spool_size, 1 << 30);
    let cli = parse_cli(&[
        "ftpfs",
        "h",
        "/m",
        "-o",
        "writeback,spool_size=64M,connections=5,spool_dir=/var/spool/x",
    ])
    .unwrap();
    let (config, _) = config_without_login(&mount_args_of(cli)).unwrap();
    assert!(config.fs.writeback);
    assert_eq!(config.fs.spool_size, 64 << 20);
    assert_eq!(config.fs.writeback_workers, 4, "connections - 1");
    assert_eq!(config.fs.writeback_dir, PathBuf::from("/var/spool/x"));
    let args = mount_args(&["--writeback", "--connections", "1", "h", "/m"]);
    let (one, _) = config_without_login(&args).unwrap();
    assert!(one.fs.writeback);
    assert_eq!(one.fs.writeback_workers, 1, "at least one uploader");
}
