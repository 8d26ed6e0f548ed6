//! fsx, the File System eXerciser (the `fsx` crate: the Rust rewrite of the tool FreeBSD and
//! xfstests use), on real mounts of vsftpd, proftpd and pure-ftpd.
//!
//! fsx applies a seeded random sequence of pread/pwrite, shared-mmap reads and writes with
//! msync, ftruncate, fsync/fdatasync, msync(MS_INVALIDATE), close/reopen, copy_file_range,
//! sendfile and posix_fadvise to one file and checks every read against the content it expects. On a mount that means: random writes
//! switch the handle to the spool and upload whole, truncates in both directions, mmap pages
//! written back through FUSE, reopen after an upload reads the server's copy.
//!
//! After each run the server's copy, read from its root directory on disk (not through the
//! mount, so no cache can hide a wrong upload), must equal fsx's expected file. fsx writes its
//! expected content (`.fsxgood`) only when it fails, so the expected file is made by running
//! the same fsx (same seed, same config, same number of operations: the sequence depends on
//! nothing else) on a local file first; that run checks itself too.
//!
//! Both data paths are exercised: the default mount (direct I/O; shared mmap works there
//! because ftpfs asks for FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6+) with every seed, and a
//! `-o page_cache` mount (where mmap goes through ordinary page-cache writeback) with one seed,
//! and a `--writeback` mount (uploads after close) with one seed.
//! On an older kernel shared mmap on the direct-I/O mount fails with ENODEV; that is a test
//! failure, not a skip: CI's kernel is new enough.
//!
//! Every server runs with its defaults; for vsftpd that includes `lock_upload_files=YES`, under
//! which a STOR waits for the read lock of any open RETR of the same file, our own included
//! (issue 9): a download left open across an upload of the same file fails this test with
//! ETIMEDOUT.

mod common;
mod posix_tools;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::mount::Mount;
use common::{ServerKind, TempDir, TestServer, temp_dir};
use posix_tools::{Finished, find_tool, run_bounded};

/// The seeds every server runs on the default (direct I/O) mount (env FTPFS_FSX_SEEDS, comma
/// separated, replaces them, e.g. to hunt a rare failure).
const SEEDS: [u64; 3] = [1, 20_260_105, 4_294_967_311];
/// The seed also run on a `-o page_cache` mount.
const PAGE_CACHE_SEED: u64 = 77;
/// The seed also run on a `--writeback` mount (close spools, fsync and reopen wait for the
/// upload).
const WRITEBACK_SEED: u64 = 1_105;
/// Operations per seed (env FTPFS_FSX_OPERATIONS overrides).
const OPERATIONS: u64 = 2_000;
/// A run that takes longer than this is a hang (one run takes well under a minute here).
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// fsx's configuration: every operation FUSE can carry, weighted so that the data-moving ones
/// dominate and the expensive ones (each close/fsync/truncate uploads the whole file) still
/// happen often. Per 2,000 operations (seed 1): ~370 each of read, write, mapread and mapwrite
/// (msync after each), ~130 truncate, ~85 close/open, ~75 fsync, ~40 fdatasync, ~60
/// copy_file_range, ~60 sendfile, ~30 msync(MS_INVALIDATE), ~30 posix_fadvise. Not enabled:
/// posix_fallocate and hole punching (FTP cannot reserve space or punch holes).
const FSX_CONFIG: &str = "\
# Written by tests/fsx.rs; see its module doc.
flen = 262144

[opsize]
max = 65536
min = 0
align = 1

[weights]
read = 10
write = 10
mapread = 10
mapwrite = 10
truncate = 4
close_open = 2
fsync = 2
fdatasync = 1
invalidate = 1
sendfile = 2
posix_fadvise = 1
copy_file_range = 2
";

#[test]
fn fsx_vsftpd() {
    fsx_on(ServerKind::Vsftpd);
}

#[test]
fn fsx_proftpd() {
    fsx_on(ServerKind::Proftpd);
}

#[test]
fn fsx_pureftpd() {
    fsx_on(ServerKind::PureFtpd);
}

fn fsx_on(kind: ServerKind) {
    let Some(fsx) = find_tool("fsx") else {
        return;
    };
    if !common::kinds_for_tests().contains(&kind) {
        return;
    }
    let work = temp_dir("ftpfs-fsx");
    let config = work.path().join("fsx.toml");
    fs::write(&config, FSX_CONFIG).expect("write fsx.toml");
    let Some(server) = TestServer::try_start(kind) else {
        return;
    };
    let spool = temp_dir("ftpfs-fsx-spool");
    let writeback = ["--writeback", "--spool-dir", spool.str()];
    let runs: Vec<(&[&str], u64)> = seeds()
        .into_iter()
        .map(|seed| (&[][..], seed))
        .chain([(&["-o", "page_cache"][..], PAGE_CACHE_SEED)])
        .chain([(&writeback[..], WRITEBACK_SEED)])
        .collect();
    for (mount_args, seed) in runs {
        let expected = expected_file(&fsx, &config, seed, &work);
        let mount = Mount::with_args(&server, mount_args);
        let name = format!("fsx-{seed}.bin");
        let artifacts = temp_dir("ftpfs-fsx-artifacts");
        let finished = run_fsx(&fsx, &config, seed, &mount.path(&name), artifacts.path());
        assert_fsx_passed(&finished, kind, mount_args, seed, &server, artifacts.path());
        if mount_args == writeback {
            // fsync is the barrier of write-back mode: the server has the file after it.
            fs::File::open(mount.path(&name))
                .and_then(|file| file.sync_all())
                .expect("fsync through the write-back mount");
        }
        let on_server = fs::read(server.path(&name))
            .unwrap_or_else(|error| panic!("{kind}: read the server's copy of {name}: {error}"));
        assert_same_bytes(
            &expected,
            &on_server,
            &format!("{kind} seed {seed}: server's copy"),
        );
        let through_mount = fs::read(mount.path(&name)).expect("read the file through the mount");
        assert_same_bytes(
            &expected,
            &through_mount,
            &format!("{kind} seed {seed}: mount"),
        );
        mount.unmount();
        eprintln!(
            "{kind} {mount_args:?} seed {seed}: {} operations passed in {:.1?}, \
             {} bytes on the server equal fsx's expected file",
            operations(),
            finished.elapsed,
            on_server.len()
        );
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("FTPFS_FSX_SEEDS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|seed| {
                seed.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("FTPFS_FSX_SEEDS: not a number: {seed:?}"))
            })
            .collect(),
        _ => SEEDS.to_vec(),
    }
}

fn operations() -> u64 {
    std::env::var("FTPFS_FSX_OPERATIONS")
        .ok()
        .map(|text| {
            text.trim()
                .parse()
                .unwrap_or_else(|_| panic!("FTPFS_FSX_OPERATIONS: not a number: {text:?}"))
        })
        .unwrap_or(OPERATIONS)
}

/// fsx's expected content for `seed`: the file the same run leaves on a local filesystem.
fn expected_file(fsx: &Path, config: &Path, seed: u64, work: &TempDir) -> Vec<u8> {
    let file = work.path().join(format!("reference-{seed}.bin"));
    let finished = run_fsx(fsx, config, seed, &file, work.path());
    assert!(
        finished.status.success() && finished.stdout.contains("All operations completed A-OK!"),
        "fsx seed {seed} failed on the LOCAL reference file {}: {}\n{}",
        file.display(),
        finished.status,
        finished.tail(40)
    );
    fs::read(&file).expect("read the reference file")
}

fn run_fsx(fsx: &Path, config: &Path, seed: u64, file: &Path, artifacts: &Path) -> Finished {
    run_bounded(
        Command::new(fsx)
            .arg("-f")
            .arg(config)
            .arg("-N")
            .arg(operations().to_string())
            .arg("-S")
            .arg(seed.to_string())
            .arg("-P")
            .arg(artifacts)
            .arg(file)
            .env_remove("RUST_LOG"),
        RUN_LIMIT,
    )
}

fn assert_fsx_passed(
    finished: &Finished,
    kind: ServerKind,
    mount_args: &[&str],
    seed: u64,
    server: &TestServer,
    artifacts: &Path,
) {
    if finished.status.success() && finished.stdout.contains("All operations completed A-OK!") {
        return;
    }
    // fsx leaves its operation log (.fsxlog) and expected content (.fsxgood) in artifacts.
    let mut saved = String::new();
    for entry in fs::read_dir(artifacts).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "fsxlog") {
            let log = fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            saved.push_str(&format!(
                "--- {} (last 30 operations) ---\n{}\n",
                path.display(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            ));
        }
    }
    panic!(
        "fsx failed on {kind} (mount args {mount_args:?}, seed {seed}, {} operations) \
         after {:.1?}: {}\n{}\n{saved}\n--- server logs ---\n{}",
        operations(),
        finished.elapsed,
        finished.status,
        finished.tail(40),
        server.logs()
    );
}

/// Equal lengths and bytes; on a difference, says where the first one is (never dumps MBs).
fn assert_same_bytes(expected: &[u8], actual: &[u8], what: &str) {
    if expected == actual {
        return;
    }
    let first_difference = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    panic!(
        "{what}: {} bytes, fsx expected {} bytes; first difference at offset {first_difference:#x}",
        actual.len(),
        expected.len()
    );
}
