//! Listings of a tree walk against real servers: the cheap listings ahead (`STAT dir` on
//! LIST-only servers such as vsftpd, the usual listing elsewhere) must show exactly what a
//! plain listing shows, and `find` through a mount must see the server's tree, name for name.
//! Names with blanks (leading too), unicode and dotfiles are in every tree.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::TestServer;
use common::faults::{config_for, remote_via, vsftpd};
use common::mount::Mount;
use common::proxy::{CutRule, FaultProxy};
use ftpfs::ftp::FtpRemote;
use ftpfs::remote::{Entry, Remote, RemoteErrorKind, RemoteResult};

/// Directories of the seeded tree (relative to the root) and the files in each.
const DIRS: &[&str] = &[
    "a",
    "a/b c",
    "a/b c/ lead",
    "a/.dotdir",
    "ünï dir",
    "ünï dir/x",
    "empty",
    "many",
];

fn seed_tree(server: &TestServer) {
    for dir in DIRS {
        server.seed_dir(dir);
    }
    for dir in DIRS
        .iter()
        .filter(|dir| **dir != "empty" && **dir != "many")
    {
        for name in ["f", "two  spaces", " leading", ".hidden", "ünï.txt"] {
            server.seed_file(&format!("{dir}/{name}"), name.as_bytes());
        }
    }
    for i in 0..150 {
        server.seed_file(&format!("many/file-{i:03}"), b"m");
    }
    server.seed_file("top.txt", b"top");
}

/// (name, kind, size, mode) of each entry: what both listings must agree on.
type Shown = BTreeSet<(Vec<u8>, String, Option<u64>, Option<u32>)>;

fn shown(entries: &[Entry]) -> Shown {
    entries
        .iter()
        .map(|e| {
            let size = (e.kind == ftpfs::remote::EntryKind::File)
                .then_some(e.size)
                .flatten();
            (
                e.name.as_bytes().to_vec(),
                format!("{:?}", e.kind),
                size,
                e.mode,
            )
        })
        .collect()
}

/// A small listing ahead of `dir`, waiting (bounded) for a spare connection.
fn list_small(remote: &FtpRemote, dir: &Path) -> RemoteResult<Vec<Entry>> {
    for _ in 0..200 {
        if let Some(listed) = remote.list_ahead(dir, true, &mut || true) {
            return listed;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no spare connection for {}", dir.display());
}

fn connect(server: &TestServer) -> FtpRemote {
    let _ = env_logger::builder().is_test(true).try_init();
    FtpRemote::connect(config_for(server, server.port, Duration::from_secs(10))).expect("login")
}

fn small_listings_ahead_show_what_a_listing_shows(server: &TestServer) {
    seed_tree(server);
    let remote = connect(server);
    // Twice: the first STAT listings of a session are checked against LIST, later ones not.
    for round in 0..2 {
        for dir in std::iter::once("").chain(DIRS.iter().copied()) {
            let dir = Path::new("/").join(dir);
            let ahead = list_small(&remote, &dir)
                .unwrap_or_else(|e| panic!("{:?}: {}: {e}", server.kind, dir.display()));
            let listed = remote.list(&dir).unwrap();
            assert_eq!(
                shown(&ahead),
                shown(&listed),
                "{:?} round {round}: {}",
                server.kind,
                dir.display()
            );
            assert!(
                !listed.is_empty() || dir.ends_with("empty"),
                "{}",
                dir.display()
            );
        }
    }
    if server.kind == common::ServerKind::Vsftpd {
        // The LIST-only server: STAT listings stayed on (no check turned them off).
        assert!(!remote.pool().quirks().stat_list_refused());
    }
    // A missing directory and a file: the same error kind as a listing gives.
    for missing in ["/no-such-dir", "/top.txt/x"] {
        let ahead = list_small(&remote, Path::new(missing)).map(|e| shown(&e));
        let listed = remote.list(Path::new(missing)).map(|e| shown(&e));
        match (&ahead, &listed) {
            (Err(a), Err(l)) => assert_eq!(a.kind, l.kind, "{:?} {missing}", server.kind),
            _ => assert_eq!(ahead.is_ok(), listed.is_ok(), "{:?} {missing}", server.kind),
        }
    }
}
server_tests!(small_listings_ahead_show_what_a_listing_shows);

/// A name with a line feed, crafted to look like the end of a `STAT` reply and a forged entry:
/// the listing ahead must never show the forged entry, and later listings stay right.
fn a_name_forging_reply_lines_never_shows_a_wrong_listing(server: &TestServer) {
    server.seed_file("evil/x\r\n213 End of status", b"x");
    server.seed_file("evil/y\n-rw-r--r--    1 0 0    9 Dec 05 16:11 forged", b"y");
    server.seed_file("evil/plain", b"p");
    server.seed_file("calm/one", b"1");
    let remote = connect(server);
    if let Ok(entries) = list_small(&remote, Path::new("/evil")) {
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_bytes()).collect();
        assert!(
            !names.contains(&b"forged".as_slice()),
            "{:?}: {names:?}",
            server.kind
        );
        assert!(
            names.contains(&b"plain".as_slice()),
            "{:?}: {names:?}",
            server.kind
        );
    }
    let calm = list_small(&remote, Path::new("/calm")).expect("listing after the hostile one");
    assert_eq!(
        shown(&calm),
        shown(&remote.list(Path::new("/calm")).unwrap()),
        "{:?}",
        server.kind
    );
}
server_tests!(a_name_forging_reply_lines_never_shows_a_wrong_listing);

/// Over a slow link the true end of a `STAT` reply arrives after a name's forged end (vsftpd
/// sends names raw): it must never be read as the reply to the next command, where it would
/// make a refused DELE look done. The evil name sorts last, so only `213 End of status` is
/// left over.
#[test]
fn a_forged_reply_end_on_a_slow_link_never_answers_the_next_command() {
    let Some(server) = vsftpd() else {
        return;
    };
    let _ = env_logger::builder().is_test(true).try_init();
    server.seed_file("calm/one", b"1");
    server.seed_file("evil/plain", b"p");
    server.seed_file("evil/zz\r\n213 End forged", b"z");
    let proxy = FaultProxy::start(server.addr());
    let remote = remote_via(&server, &proxy);
    // The first STAT listing of a session is checked against LIST: done here, so the evil
    // one is trusted as far as the listing goes.
    list_small(&remote, Path::new("/calm")).expect("calm listing");
    // The proxy forwards line by line, a line every few tens of milliseconds: the forged
    // `213` line is read before the rest is there.
    proxy.set_rate_limit(Some(2_000));
    if let Ok(entries) = list_small(&remote, Path::new("/evil")) {
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_bytes()).collect();
        assert!(!names.contains(&b"zz".as_slice()), "{names:?}");
    }
    proxy.set_rate_limit(None);
    for _ in 0..3 {
        let deleted = remote.delete(Path::new("/evil/no-such-file"));
        let err = deleted.expect_err("DELE of a missing file answered by a stale reply");
        assert_eq!(err.kind, RemoteErrorKind::NotFound, "{err}");
    }
    assert!(server.path("evil/plain").exists());
}

/// A connection cut after the `STAT` reply, before the `NOOP`'s: a network fault, which fails
/// that listing as one (tried again elsewhere), not a server that garbles STAT listings: they
/// stay on.
#[test]
fn a_cut_before_the_noop_reply_keeps_stat_listings_on() {
    let Some(server) = vsftpd() else {
        return;
    };
    let _ = env_logger::builder().is_test(true).try_init();
    server.seed_file("calm/one", b"1");
    let proxy = FaultProxy::start(server.addr());
    // Armed on the connections made from now on: every listing ahead below runs on one.
    proxy.add_cut(CutRule::control_at_reply("200 NOOP", false, 1));
    let remote = remote_via(&server, &proxy);
    let first = list_small(&remote, Path::new("/calm"));
    assert_eq!(proxy.cuts_fired(), 1, "the NOOP's reply was cut");
    let err = first.expect_err("the listing whose connection was cut");
    assert_eq!(err.kind, RemoteErrorKind::Connection, "{err}");
    assert!(!remote.pool().quirks().stat_list_refused());
    let again = list_small(&remote, Path::new("/calm")).expect("listed on a new connection");
    assert_eq!(
        shown(&again),
        shown(&remote.list(Path::new("/calm")).unwrap())
    );
    assert!(!remote.pool().quirks().stat_list_refused());
}

/// A directory taken for small whose `STAT` reply is longer than a reply may be (on ZFS or
/// btrfs a directory's size is its entry count, so any directory looks small): it costs one
/// connection once, then listings ahead use `LIST` and show it whole.
#[test]
fn a_stat_reply_too_long_turns_stat_listings_off() {
    let Some(server) = vsftpd() else {
        return;
    };
    let long = "n".repeat(200);
    for i in 0..1500 {
        server.seed_file(&format!("huge/{i:04}{long}"), b"h");
    }
    let remote = connect(&server);
    let dir = Path::new("/huge");
    let first = list_small(&remote, dir);
    let err = first.expect_err("a STAT reply of some 380 KB is refused");
    assert_eq!(err.kind, RemoteErrorKind::Protocol, "{err}");
    let again = list_small(&remote, dir).expect("the second listing ahead uses LIST");
    assert_eq!(again.len(), 1500);
    assert_eq!(shown(&again), shown(&remote.list(dir).unwrap()));
}

/// Relative paths of everything under `root`, as `find` prints them.
fn find(root: &Path) -> BTreeSet<Vec<u8>> {
    let output = Command::new("find")
        .arg(".")
        .arg("-mindepth")
        .arg("1")
        .arg("-print0")
        .current_dir(root)
        .output()
        .expect("run find");
    assert!(
        output.status.success(),
        "find in {}: {}",
        root.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn find_through_the_mount_sees_the_servers_tree(server: &TestServer, mount: &Mount) {
    seed_tree(server);
    let on_server = find(&server.path(""));
    assert!(on_server.len() > 180, "seeded tree: {}", on_server.len());
    let through_mount = find(&mount.path(""));
    let missing: Vec<_> = on_server.difference(&through_mount).collect();
    let extra: Vec<_> = through_mount.difference(&on_server).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{:?}: missing {missing:?}, extra {extra:?}",
        server.kind
    );
}
mount_tests!(find_through_the_mount_sees_the_servers_tree);
