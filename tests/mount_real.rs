//! Real mounts of real FTP servers, made by the `ftpfs` binary and driven by the programs users
//! run (ls, cat, cp, mv, rm, sed, truncate, touch, tar, rsync) and by std::fs.
//!
//! Every test body runs against vsftpd (LIST only, MDTM-write), proftpd and pure-ftpd (MLSD,
//! MFMT), each on its own fresh server and mount. The results are checked on the server's root
//! directory on disk, not only through the mount, so a cache cannot hide a wrong upload.
//! pyftpdlib is left out unless FTPFS_TEST_SERVERS names it: it is single-threaded (slow for
//! the big-file tests) and the FTP client tests already cover it.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::mount::{Mount, fresh_mountpoint, is_mounted, run_ftpfs, run_ok, sh_ok};
use common::{ServerKind, TempDir, TestServer, temp_dir};

/// The server kinds these tests mount (see the module doc for why not pyftpdlib by default).
fn mount_kinds() -> Vec<ServerKind> {
    let explicit = std::env::var("FTPFS_TEST_SERVERS").is_ok_and(|list| !list.trim().is_empty());
    common::kinds_for_tests()
        .into_iter()
        .filter(|kind| explicit || *kind != ServerKind::Pyftpdlib)
        .collect()
}

/// Runs `body` once per server kind, each time on a fresh server mounted with `args`.
/// Bodies seed the server before they first touch a directory through the mount: a file added
/// on the server later shows only after the listing TTL (that is what the cache is for).
fn each_mounted_server_with(args: &[&str], body: impl Fn(&TestServer, &Mount)) {
    for kind in mount_kinds() {
        let Some(server) = TestServer::try_start(kind) else {
            continue;
        };
        eprintln!("--- {kind}");
        let started = Instant::now();
        let mount = Mount::with_args(&server, args);
        body(&server, &mount);
        mount.unmount();
        eprintln!("--- {kind} done in {:.2?}", started.elapsed());
    }
}

fn each_mounted_server(body: impl Fn(&TestServer, &Mount)) {
    each_mounted_server_with(&[], body);
}

/// Deterministic pseudo-random bytes (xorshift, 8 bytes per step), so misplaced data shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn unix_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn seconds_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn now_seconds() -> u64 {
    seconds_of(SystemTime::now())
}

/// Sets the mtime of a file or directory on the local disk (the server's root or a source tree).
fn set_disk_mtime(path: &Path, time: SystemTime) {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.set_modified(time)
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn disk_mtime(path: &Path) -> u64 {
    seconds_of(fs::metadata(path).unwrap().modified().unwrap())
}

/// Sorted names in a directory on disk (or in the mount).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `diff -r` of two trees, asserting they are identical (names, types and contents).
fn assert_same_tree(expected: &Path, actual: &Path) {
    run_ok(Command::new("diff").arg("-r").arg(expected).arg(actual));
}

/// Splits `count` whitespace-separated fields off `line`; the rest is after one more space.
fn split_fields(line: &str, count: usize) -> (Vec<&str>, &str) {
    let mut fields = Vec::new();
    let mut rest = line;
    for _ in 0..count {
        rest = rest.trim_start();
        let end = rest.find(' ').unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    (fields, rest.strip_prefix(' ').unwrap_or(rest))
}

/// One row of `ls -l` with a numeric time.
#[derive(Debug)]
struct LsRow {
    mode: String,
    size: u64,
    mtime: u64,
}

/// `ls -l --time-style=+%s DIR`, parsed into name -> row.
fn ls_l(dir: &Path) -> BTreeMap<String, LsRow> {
    let output = run_ok(
        Command::new("ls")
            .arg("-l")
            .arg("--time-style=+%s")
            .arg(dir)
            .env("LC_ALL", "C"),
    );
    output
        .lines()
        .filter(|line| !line.starts_with("total "))
        .map(|line| {
            let (fields, name) = split_fields(line, 6);
            let row = LsRow {
                mode: fields[0].to_string(),
                size: fields[4].parse().unwrap(),
                mtime: fields[5].parse().unwrap(),
            };
            (name.to_string(), row)
        })
        .collect()
}

/// The mtime a listing of this server can show for a file whose real mtime is `actual`: MLSD
/// has seconds; vsftpd's LIST has minutes for files from the last six months, days before.
fn listed_mtime(kind: ServerKind, actual: u64) -> u64 {
    if kind.supports_mlsd() {
        actual
    } else if now_seconds().saturating_sub(actual) < 150 * 86_400 {
        actual - actual % 60
    } else {
        actual - actual % 86_400
    }
}

#[test]
fn ls_l_and_cat_show_the_servers_files() {
    each_mounted_server(|server, mount| {
        let old = b"written long ago\n";
        let recent = pattern(12_345, 1);
        server.seed_file("listing/old.txt", old);
        server.seed_file("listing/recent.bin", &recent);
        server.seed_file("listing/empty", b"");
        server.seed_file("listing/sub dir/inner.txt", b"inner\n");
        let old_time = 1_614_834_367; // 2021-03-04 05:06:07 UTC
        let recent_time = now_seconds() - 3_600;
        set_disk_mtime(&server.path("listing/old.txt"), unix_time(old_time));
        set_disk_mtime(&server.path("listing/recent.bin"), unix_time(recent_time));

        let rows = ls_l(&mount.path("listing"));
        let listed: Vec<&str> = rows.keys().map(String::as_str).collect();
        assert_eq!(
            listed,
            ["empty", "old.txt", "recent.bin", "sub dir"],
            "{}",
            server.kind
        );
        for (name, size, mtime) in [
            ("old.txt", old.len() as u64, old_time),
            ("recent.bin", recent.len() as u64, recent_time),
            ("empty", 0, disk_mtime(&server.path("listing/empty"))),
        ] {
            let row = &rows[name];
            assert!(
                row.mode.starts_with('-'),
                "{}: {name}: {row:?}",
                server.kind
            );
            assert_eq!(row.size, size, "{}: {name}", server.kind);
            assert_eq!(
                row.mtime,
                listed_mtime(server.kind, mtime),
                "{}: mtime of {name}",
                server.kind
            );
        }
        assert!(
            rows["sub dir"].mode.starts_with('d'),
            "{:?}",
            rows["sub dir"]
        );

        let cat = |relative: &str| {
            let output = Command::new("cat")
                .arg(mount.path(relative))
                .output()
                .unwrap();
            assert!(output.status.success(), "cat {relative}: {output:?}");
            output.stdout
        };
        assert_eq!(cat("listing/old.txt"), old);
        assert_eq!(cat("listing/recent.bin"), recent);
        assert_eq!(cat("listing/empty"), b"");
        assert_eq!(cat("listing/sub dir/inner.txt"), b"inner\n");
    });
}

/// 64 MiB of pattern, made once for all servers.
fn big_pattern() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| pattern(64 << 20, 64))
}

#[test]
fn cp_of_64_mib_in_and_out_is_byte_exact() {
    let local = temp_dir("ftpfs-mount-cp");
    let source = local.path().join("big.in");
    fs::write(&source, big_pattern()).unwrap();
    each_mounted_server(|server, mount| {
        let copy_in = Instant::now();
        run_ok(Command::new("cp").arg(&source).arg(mount.path("big.bin")));
        let copy_in = copy_in.elapsed();
        let on_server = fs::read(server.path("big.bin")).unwrap();
        assert!(
            on_server == big_pattern(),
            "{}: the server's copy differs (len {})",
            server.kind,
            on_server.len()
        );

        let back = local.path().join(format!("big.out.{}", server.kind));
        let copy_out = Instant::now();
        run_ok(Command::new("cp").arg(mount.path("big.bin")).arg(&back));
        let copy_out = copy_out.elapsed();
        assert!(
            fs::read(&back).unwrap() == big_pattern(),
            "{}: the copy read back differs",
            server.kind
        );
        assert_eq!(fs::metadata(mount.path("big.bin")).unwrap().len(), 64 << 20);
        eprintln!(
            "{}: cp 64 MiB in {copy_in:.2?}, out {copy_out:.2?}",
            server.kind
        );
        fs::remove_file(&back).unwrap();
    });
}

/// Maps `path` privately and copies the mapping out (what exec and many readers do).
fn mmap_contents(path: &Path) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a fresh read-only private mapping of `len` bytes of an open file, unmapped below;
    // the slice does not outlive it.
    unsafe {
        let address = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(address, libc::MAP_FAILED, "mmap {}", path.display());
        let copy = std::slice::from_raw_parts(address.cast::<u8>(), len).to_vec();
        libc::munmap(address, len);
        copy
    }
}

#[test]
fn direct_io_default_and_page_cache_option_read_the_same_bytes() {
    let content = pattern(3 * 1024 * 1024 + 4321, 7);
    for args in [&[][..], &["-o", "page_cache"][..]] {
        each_mounted_server_with(args, |server, mount| {
            server.seed_file("data.bin", &content);
            let label = format!("{} {args:?}", server.kind);
            assert!(
                fs::read(mount.path("data.bin")).unwrap() == content,
                "{label}: read"
            );
            assert!(
                mmap_contents(&mount.path("data.bin")) == content,
                "{label}: mmap"
            );
            let sums = sh_ok(
                "sha256sum < \"$1\" && cat \"$1\" | sha256sum",
                &[mount.path("data.bin").as_os_str()],
            );
            let lines: Vec<&str> = sums.lines().collect();
            assert_eq!(lines.len(), 2, "{label}: {sums}");
            assert_eq!(lines[0], lines[1], "{label}: sha256sum vs cat");
            // Large reads: we advertise a 1 MiB preferred I/O size.
            let blksize = std::os::unix::fs::MetadataExt::blksize(
                &fs::metadata(mount.path("data.bin")).unwrap(),
            );
            assert_eq!(blksize, 1024 * 1024, "{label}");
        });
    }
}

#[test]
fn mkdir_p_mv_and_rm_r() {
    each_mounted_server(|server, mount| {
        server.seed_file("a/target", b"old target");
        run_ok(Command::new("mkdir").arg("-p").arg(mount.path("a/b/c")));
        assert!(server.path("a/b/c").is_dir(), "{}", server.kind);

        // A file moved to another directory.
        fs::write(mount.path("a/b/c/f1"), b"one").unwrap();
        run_ok(
            Command::new("mv")
                .arg(mount.path("a/b/c/f1"))
                .arg(mount.path("a/f1-moved")),
        );
        assert!(!server.path("a/b/c/f1").exists(), "{}", server.kind);
        assert_eq!(fs::read(server.path("a/f1-moved")).unwrap(), b"one");
        assert_eq!(fs::read(mount.path("a/f1-moved")).unwrap(), b"one");
        assert!(!mount.path("a/b/c/f1").exists());

        // A file moved over an existing one, which the mount had already read.
        assert_eq!(fs::read(mount.path("a/target")).unwrap(), b"old target");
        fs::write(mount.path("a/src"), b"new content").unwrap();
        run_ok(
            Command::new("mv")
                .arg(mount.path("a/src"))
                .arg(mount.path("a/target")),
        );
        assert_eq!(
            fs::read(server.path("a/target")).unwrap(),
            b"new content",
            "{}",
            server.kind
        );
        assert!(!server.path("a/src").exists());
        assert_eq!(fs::read(mount.path("a/target")).unwrap(), b"new content");

        // A directory with contents renamed, then moved into another directory.
        fs::write(mount.path("a/b/c/deep.txt"), b"deep").unwrap();
        run_ok(
            Command::new("mv")
                .arg(mount.path("a/b"))
                .arg(mount.path("moved-b")),
        );
        assert!(!server.path("a/b").exists(), "{}", server.kind);
        assert_eq!(
            fs::read(server.path("moved-b/c/deep.txt")).unwrap(),
            b"deep"
        );
        assert_eq!(fs::read(mount.path("moved-b/c/deep.txt")).unwrap(), b"deep");
        assert_eq!(names(&mount.path("moved-b/c")), ["deep.txt"]);
        run_ok(
            Command::new("mv")
                .arg(mount.path("moved-b"))
                .arg(mount.path("a")),
        );
        assert_eq!(
            fs::read(server.path("a/moved-b/c/deep.txt")).unwrap(),
            b"deep"
        );
        assert_eq!(names(&mount.path("a")), ["f1-moved", "moved-b", "target"]);

        run_ok(Command::new("rm").arg("-r").arg(mount.path("a")));
        assert!(!server.path("a").exists(), "{}", server.kind);
        assert!(!mount.path("a").exists());
        assert_eq!(names(mount.dir()), Vec::<String>::new());
    });
}

#[test]
fn rmdir_of_a_non_empty_directory_is_enotempty() {
    each_mounted_server(|server, mount| {
        server.seed_file("seeded/keep.txt", b"keep");
        let error = fs::remove_dir(mount.path("seeded")).unwrap_err();
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ENOTEMPTY),
            "{}",
            server.kind
        );
        assert!(server.path("seeded/keep.txt").exists());

        fs::create_dir(mount.path("made")).unwrap();
        fs::write(mount.path("made/x"), b"x").unwrap();
        let error = fs::remove_dir(mount.path("made")).unwrap_err();
        assert_eq!(
            error.raw_os_error(),
            Some(libc::ENOTEMPTY),
            "{}",
            server.kind
        );
        assert!(server.path("made/x").exists());

        fs::remove_file(mount.path("made/x")).unwrap();
        fs::remove_dir(mount.path("made")).unwrap();
        assert!(!server.path("made").exists());
    });
}

#[test]
fn append_sed_pwrite_and_truncate_edit_existing_files() {
    each_mounted_server(|server, mount| {
        // Seeded before the mount first lists edit/: later server-side additions would only
        // show after the directory cache TTL.
        let original = pattern(100_000, 5);
        server.seed_file("edit/log.txt", b"line1\n");
        server.seed_file("edit/conf.txt", b"colour=red\nsize=1\n");
        server.seed_file("edit/patch.bin", &original);
        server.seed_file("edit/trunc.txt", b"0123456789");
        let log = mount.path("edit/log.txt");
        sh_ok("echo line2 >> \"$1\"", &[log.as_os_str()]);
        assert_eq!(
            fs::read(server.path("edit/log.txt")).unwrap(),
            b"line1\nline2\n",
            "{}: echo >>",
            server.kind
        );

        run_ok(
            Command::new("sed")
                .arg("-i")
                .arg("s/red/blue/")
                .arg(mount.path("edit/conf.txt")),
        );
        assert_eq!(
            fs::read(server.path("edit/conf.txt")).unwrap(),
            b"colour=blue\nsize=1\n",
            "{}: sed -i",
            server.kind
        );

        let file = OpenOptions::new()
            .write(true)
            .open(mount.path("edit/patch.bin"))
            .unwrap();
        file.write_at(b"XYZ", 40_000).unwrap();
        drop(file);
        let mut expected = original.clone();
        expected[40_000..40_003].copy_from_slice(b"XYZ");
        assert!(
            fs::read(server.path("edit/patch.bin")).unwrap() == expected,
            "{}: write_at in the middle",
            server.kind
        );
        assert!(fs::read(mount.path("edit/patch.bin")).unwrap() == expected);

        let trunc = mount.path("edit/trunc.txt");
        run_ok(Command::new("truncate").arg("-s").arg("4").arg(&trunc));
        assert_eq!(
            fs::read(server.path("edit/trunc.txt")).unwrap(),
            b"0123",
            "{}: truncate shrink",
            server.kind
        );
        run_ok(Command::new("truncate").arg("-s").arg("10").arg(&trunc));
        assert_eq!(
            fs::read(server.path("edit/trunc.txt")).unwrap(),
            b"0123\0\0\0\0\0\0",
            "{}: truncate grow",
            server.kind
        );
        assert_eq!(fs::read(&trunc).unwrap(), b"0123\0\0\0\0\0\0");

        // Nothing else (sed's temp file, spool files) was left on the server.
        assert_eq!(
            names(&server.path("edit")),
            ["conf.txt", "log.txt", "patch.bin", "trunc.txt"]
        );
    });
}

#[test]
fn touch_d_sets_the_mtime_on_the_server() {
    each_mounted_server(|server, mount| {
        server.seed_file("t/file.txt", b"content");
        let wanted = 1_577_934_245; // 2020-01-02 03:04:05 UTC
        run_ok(
            Command::new("touch")
                .arg("-d")
                .arg("2020-01-02 03:04:05 UTC")
                .arg(mount.path("t/file.txt")),
        );
        assert_eq!(
            disk_mtime(&server.path("t/file.txt")),
            wanted,
            "{}",
            server.kind
        );
        assert_eq!(fs::read(server.path("t/file.txt")).unwrap(), b"content");
        let seen = seconds_of(
            fs::metadata(mount.path("t/file.txt"))
                .unwrap()
                .modified()
                .unwrap(),
        );
        assert_eq!(seen, wanted, "{}: mtime through the mount", server.kind);

        // touch of a new name creates an empty file.
        run_ok(Command::new("touch").arg(mount.path("t/new")));
        assert_eq!(fs::read(server.path("t/new")).unwrap(), b"");
    });
}

/// 300 files of mixed sizes (empty to 300 KB) in nested directories.
fn make_tree(root: &Path, files: usize) {
    for index in 0..files {
        let dir = root.join(format!("d{}/e{}", index % 10, index % 3));
        fs::create_dir_all(&dir).unwrap();
        let size = match index % 10 {
            0 => 0,
            1 => 300_000,
            _ => (index * 7_919) % 40_000,
        };
        fs::write(
            dir.join(format!("file-{index}.dat")),
            pattern(size, index as u64),
        )
        .unwrap();
    }
    fs::create_dir_all(root.join("empty-dir")).unwrap();
}

#[test]
fn tar_of_300_files_extracts_identically() {
    let local = temp_dir("ftpfs-mount-tar");
    let source = local.path().join("src");
    make_tree(&source, 300);
    let archive = local.path().join("tree.tar");
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&source)
            .arg("."),
    );
    each_mounted_server(|server, mount| {
        fs::create_dir(mount.path("extract")).unwrap();
        let started = Instant::now();
        run_ok(
            Command::new("tar")
                .arg("-xf")
                .arg(&archive)
                .arg("-C")
                .arg(mount.path("extract")),
        );
        eprintln!(
            "{}: tar -x of 300 files in {:.2?}",
            server.kind,
            started.elapsed()
        );
        assert_same_tree(&source, &server.path("extract"));
        assert_same_tree(&source, &mount.path("extract"));
    });
}

/// A source tree for rsync, with whole-second mtimes in the past (rsync compares them).
fn rsync_source(local: &TempDir) -> PathBuf {
    let source = local.path().join("src");
    make_tree(&source, 60);
    for entry in walk(&source) {
        set_disk_mtime(&entry, unix_time(1_600_000_000));
    }
    source
}

/// `rsync -a SOURCE/ MNT/dst/`, then (after the 1 s listing TTL, so what the server stored is
/// compared, not what the cache remembers) `rsync -ac --dry-run --itemize-changes`; returns
/// the second rsync's output.
fn rsync_twice(server: &TestServer, mount: &Mount, source: &Path) -> String {
    let source_arg = format!("{}/", source.display());
    let target = format!("{}/", mount.path("dst").display());
    let started = Instant::now();
    run_ok(
        Command::new("rsync")
            .arg("-a")
            .arg(&source_arg)
            .arg(&target),
    );
    eprintln!("{}: rsync -a in {:.2?}", server.kind, started.elapsed());
    assert_same_tree(source, &server.path("dst"));
    std::thread::sleep(Duration::from_millis(1_500));
    run_ok(
        Command::new("rsync")
            .arg("-ac")
            .arg("--dry-run")
            .arg("--itemize-changes")
            .arg(&source_arg)
            .arg(&target),
    )
}

#[test]
fn rsync_a_twice_finds_nothing_to_copy() {
    let local = temp_dir("ftpfs-mount-rsync");
    let source = rsync_source(&local);
    // vsftpd lists times to the minute or day only: this also checks that the exact times
    // rsync set are remembered (cache/set_times.rs) once the listing is fetched again.
    each_mounted_server_with(&["--dir-cache-ttl", "1"], |server, mount| {
        let changes = rsync_twice(server, mount, &source);
        assert_nothing_to_copy(server.kind, &changes);
    });
}

/// Whether the server can set a directory's mtime (MFMT on a directory).
fn sets_directory_times(kind: ServerKind) -> bool {
    matches!(kind, ServerKind::Proftpd | ServerKind::PureFtpd)
}

/// The second rsync's itemized changes must be empty: no file to copy, and no directory time
/// to set again (`.d..t......`), also on servers that refuse to set directory times (vsftpd):
/// ftpfs remembers those until the directory changes. Known gap there: the top directory
/// (`./`) still shows up in about half the runs.
fn assert_nothing_to_copy(kind: ServerKind, changes: &str) {
    let unexpected: Vec<&str> = changes
        .lines()
        .filter(|line| sets_directory_times(kind) || *line != ".d..t...... ./")
        .collect();
    assert_eq!(
        unexpected,
        Vec::<&str>::new(),
        "{kind}: second rsync wants changes; all of them:\n{changes}"
    );
}

#[test]
fn vsftpd_file_mtimes_are_still_set_after_a_directory_mtime_fails() {
    let Some(server) = TestServer::try_start(ServerKind::Vsftpd) else {
        return;
    };
    let mount = Mount::new(&server);
    server.seed_file("dir/file.txt", b"content");
    for relative in ["dir", "dir/file.txt"] {
        run_ok(
            Command::new("touch")
                .arg("-d")
                .arg("2020-01-02 03:04:05 UTC")
                .arg(mount.path(relative)),
        );
    }
    assert_eq!(disk_mtime(&server.path("dir/file.txt")), 1_577_934_245);
    mount.unmount();
}

/// Every file and directory under `root` (depth first, children before parents).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Bytes read so far by process `pid` (/proc/PID/io rchar), 0 when unknown.
fn bytes_read_by(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn ls_answers_within_a_second_while_a_large_file_is_read() {
    each_mounted_server(|server, mount| {
        let huge = server.seed_file("huge.bin", b"");
        OpenOptions::new()
            .write(true)
            .open(&huge)
            .unwrap()
            .set_len(512 << 20)
            .unwrap();
        for index in 0..4 {
            server.seed_file(&format!("other{index}/file{index}.txt"), b"x");
        }
        let started = Instant::now();
        let mut reader = Command::new("cat")
            .arg(mount.path("huge.bin"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the transfer is really flowing.
        let deadline = Instant::now() + Duration::from_secs(10);
        while bytes_read_by(reader.id()) < 8 << 20 {
            assert!(
                reader.try_wait().unwrap().is_none(),
                "{}: cat ended early",
                server.kind
            );
            assert!(
                Instant::now() < deadline,
                "{}: cat reads nothing",
                server.kind
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut slowest = Duration::ZERO;
        let mut during_read = 0;
        for index in 0..4 {
            let listed = Instant::now();
            let output = run_ok(Command::new("ls").arg(mount.path(&format!("other{index}"))));
            let took = listed.elapsed();
            assert_eq!(output.trim(), format!("file{index}.txt"));
            assert!(
                took < Duration::from_secs(1),
                "{}: ls took {took:?} during a large read",
                server.kind
            );
            slowest = slowest.max(took);
            if reader.try_wait().unwrap().is_none() {
                during_read += 1;
            }
        }
        assert!(
            during_read > 0,
            "{}: the read finished before any ls; the test proves nothing",
            server.kind
        );
        let status = reader.wait().unwrap();
        assert!(status.success(), "{}: cat failed", server.kind);
        eprintln!(
            "{}: slowest ls {slowest:.2?} ({during_read}/4 during the read); cat 512 MiB in {:.2?}",
            server.kind,
            started.elapsed()
        );
    });
}

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

#[test]
fn bad_password_fails_with_one_line_and_mounts_nothing() {
    for kind in mount_kinds() {
        let Some(server) = TestServer::try_start(kind) else {
            continue;
        };
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

#[test]
fn close_to_open_and_server_side_changes_after_the_ttl() {
    each_mounted_server_with(&["--dir-cache-ttl", "1"], |server, mount| {
        server.seed_file("cto/changing.txt", b"version one\n");
        // A write through the mount is complete on the server as soon as close returns.
        let data = pattern(3_000_000, 9);
        let mut file = File::create(mount.path("written.bin")).unwrap();
        for chunk in data.chunks(65_536) {
            file.write_all(chunk).unwrap();
        }
        drop(file);
        assert!(
            fs::read(server.path("written.bin")).unwrap() == data,
            "{}: not complete on the server after close",
            server.kind
        );

        // A file changed on the server shows up after the TTL.
        assert_eq!(
            fs::read(mount.path("cto/changing.txt")).unwrap(),
            b"version one\n"
        );
        assert_eq!(names(&mount.path("cto")), ["changing.txt"]);
        let changed = Instant::now();
        server.seed_file("cto/changing.txt", b"version two is longer\n");
        set_disk_mtime(
            &server.path("cto/changing.txt"),
            unix_time(now_seconds() + 120),
        );
        server.seed_file("cto/appeared.txt", b"new\n");
        let deadline = changed + Duration::from_secs(10);
        loop {
            let content = fs::read(mount.path("cto/changing.txt")).unwrap();
            let listed = names(&mount.path("cto"));
            if content == b"version two is longer\n" && listed == ["appeared.txt", "changing.txt"] {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still {:?} / {listed:?}",
                server.kind,
                String::from_utf8_lossy(&content)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let took = changed.elapsed();
        eprintln!(
            "{}: server-side change visible after {took:.2?}",
            server.kind
        );
        assert!(
            took < Duration::from_millis(3_500),
            "{}: change took {took:?} with a 1 s TTL",
            server.kind
        );
    });
}

#[test]
fn names_with_cr_or_lf_are_refused() {
    each_mounted_server(|server, mount| {
        server.seed_file("victim", b"precious");
        let output = Command::new("touch")
            .arg(mount.path("a\r\nDELE victim"))
            .output()
            .unwrap();
        assert!(!output.status.success(), "{}: touch succeeded", server.kind);
        assert!(File::create(mount.path("b\nDELE victim")).is_err());
        assert!(fs::create_dir(mount.path("c\rRMD x")).is_err());
        fs::write(mount.path("plain"), b"p").unwrap();
        assert!(fs::rename(mount.path("plain"), mount.path("d\r\nDELE victim")).is_err());

        assert_eq!(
            fs::read(server.path("victim")).unwrap(),
            b"precious",
            "{}",
            server.kind
        );
        assert_eq!(names(&server.root), ["plain", "victim"], "{}", server.kind);
    });
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
    let Some(server) = TestServer::try_start(common::ServerKind::Vsftpd) else {
        return;
    };
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
