//! Backup programs on a write-back mount (`--writeback`), on vsftpd: restic and borg each make a
//! repository on the mount, back up a small tree (some hundred files, a few MiB), check it
//! reading every byte back (`restic check --read-data`, `borg check --verify-data`), restore it
//! and compare with the source. They are the programs issue 11 names because they fsync, lock,
//! rename and read back what they just wrote: the places where a write-back cache breaks
//! (rclone 1.60's write cache failed borg's check and extract). After the unmount the check runs
//! again on the server's own copy of the repository, so what reached the server is a whole
//! repository, not just what the mount showed.
//!
//! restic and borg are Debian packages (scripts/servers/install.sh installs them); a missing
//! one is a skip locally and a failure under CI=true, like a missing server.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::mount::run_ok;
use common::{Mount, ServerKind, TestServer, can_mount, pattern, skip, temp_dir, with_server};

/// Longest run of one backup command (`timeout` ends it: a hang fails the test).
const COMMAND_LIMIT_SECS: &str = "120";

/// A tree of 300 files in 10 directories (1 to 24 KiB) and two of 1 MiB: about 5.5 MiB.
fn backup_source() -> common::TempDir {
    let source = temp_dir("ftpfs-wb-backup-source");
    for d in 0..10 {
        let dir = source.path().join(format!("dir{d}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..30 {
            let seed = (d * 30 + f) as u64;
            let size = 1024 + (seed as usize * 7919) % (23 * 1024);
            fs::write(dir.join(format!("file{f:02}.bin")), pattern(size, seed)).unwrap();
        }
    }
    for big in 0..2 {
        let data = pattern(1 << 20, 1000 + big);
        fs::write(source.path().join(format!("big{big}.bin")), data).unwrap();
    }
    source
}

/// True when `program version_arg` runs here; else the skip rule (a failure under CI) and false.
fn installed(program: &str, version_arg: &str) -> bool {
    let runs = Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|output| output.status.success());
    if !runs {
        skip::unavailable(
            &skip::current_test(),
            &format!("{program} is not installed (scripts/servers/install.sh installs it)"),
        );
    }
    runs
}

/// `program args...` bounded by COMMAND_LIMIT_SECS in `dir` with `env`, asserting success.
fn run_in(dir: &Path, env: &[(&str, &str)], program: &str, args: &[&str]) -> String {
    run_ok(
        Command::new("timeout")
            .arg(COMMAND_LIMIT_SECS)
            .arg(program)
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied()),
    )
}

/// Mounts `server` in write-back mode (spool in `spool`), runs `body` with the mount, then
/// unmounts (which drains the spool) and checks the spool is empty.
fn on_writeback_mount(server: &TestServer, body: impl FnOnce(&Mount)) {
    let spool = temp_dir("ftpfs-wb-spool");
    let mount = Mount::foreground(
        server,
        server.port,
        &["--writeback", "--spool-dir", spool.str()],
    );
    body(&mount);
    let logs = mount.logs();
    mount.unmount();
    assert!(!logs.contains(" ERROR ftpfs"), "{logs}");
    let pending = fs::read_dir(spool.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".rec"))
        .count();
    assert_eq!(pending, 0, "uploads left in the spool after unmount");
}

fn restic_backup_check_restore(server: &TestServer) {
    if !installed("restic", "version") {
        return;
    }
    let source = backup_source();
    let restored = temp_dir("ftpfs-wb-restic-restore");
    let work = source.path();
    let env = [
        ("RESTIC_PASSWORD", "ftpfs-test"),
        ("RESTIC_CACHE_DIR", "/nonexistent"),
    ];
    on_writeback_mount(server, |mount| {
        let repo = mount.path("restic-repo");
        let repo = repo.to_str().expect("UTF-8 path");
        let restic = |args: &[&str]| {
            let mut all = vec!["--no-cache", "-r", repo];
            all.extend_from_slice(args);
            run_in(work, &env, "restic", &all)
        };
        restic(&["init"]);
        restic(&["backup", source.str()]);
        let check = restic(&["check", "--read-data"]);
        assert!(check.contains("no errors were found"), "{check}");
        restic(&["restore", "latest", "--target", restored.str()]);
    });
    // restic restores the absolute path of what it backed up.
    let relative = source.path().strip_prefix("/").expect("absolute temp dir");
    common::files::assert_same_tree(source.path(), &restored.path().join(relative));
    // What the server holds after the unmount is a whole repository too.
    let on_server = server.path("restic-repo");
    let on_server = on_server.to_str().expect("UTF-8 path");
    let check = run_in(
        work,
        &env,
        "restic",
        &["--no-cache", "-r", on_server, "check", "--read-data"],
    );
    assert!(check.contains("no errors were found"), "{check}");
}

fn borg_create_check_extract(server: &TestServer) {
    if !installed("borg", "--version") {
        return;
    }
    let source = backup_source();
    let restored = temp_dir("ftpfs-wb-borg-extract");
    // borg's cache, keys and security state, kept out of root's home.
    let state = temp_dir("ftpfs-wb-borg-state");
    let env = [
        ("BORG_BASE_DIR", state.str()),
        ("BORG_PASSPHRASE", ""),
        ("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes"),
        ("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes"),
    ];
    on_writeback_mount(server, |mount| {
        let repo = mount.path("borg-repo");
        let repo = repo.to_str().expect("UTF-8 path");
        let archive = format!("{repo}::first");
        let borg = |dir: &Path, args: &[&str]| run_in(dir, &env, "borg", args);
        borg(source.path(), &["init", "--encryption=none", repo]);
        borg(source.path(), &["create", &archive, "."]);
        borg(source.path(), &["check", "--verify-data", repo]);
        borg(restored.path(), &["extract", &archive]);
    });
    common::files::assert_same_tree(source.path(), restored.path());
    // What the server holds after the unmount is a whole repository too.
    let on_server = server.path("borg-repo");
    let on_server = on_server.to_str().expect("UTF-8 path");
    run_in(
        source.path(),
        &env,
        "borg",
        &["check", "--verify-data", on_server],
    );
}

/// vsftpd only: the backup programs test the write-back layer, which is the same on every
/// server, and each run takes tens of seconds.
fn on_vsftpd(body: fn(&TestServer)) {
    if can_mount(ServerKind::Vsftpd) {
        with_server(ServerKind::Vsftpd, body);
    }
}

#[test]
fn restic_init_backup_check_restore_on_a_writeback_mount() {
    on_vsftpd(restic_backup_check_restore);
}

#[test]
fn borg_init_create_check_extract_on_a_writeback_mount() {
    on_vsftpd(borg_create_check_extract);
}
