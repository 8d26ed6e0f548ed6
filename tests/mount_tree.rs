//! Directories, times and whole trees through real mounts of real FTP servers: mkdir -p, mv,
//! rm -r, rmdir of a non-empty directory, touch -d, tar -x of 300 files, rsync -a twice, a
//! directory of 20,000 files. One `#[test]` per test body and server kind; what a server cannot do (set a directory's time,
//! set any time) is skipped with the reason from `common::LIMITATIONS`.

#[macro_use]
mod common;

use std::fs::{self};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::files::*;
use common::mount::{Mount, run_ok};
use common::{Feature, ServerKind, TempDir, TestServer, pattern, temp_dir};

fn mkdir_p_mv_and_rm_r(server: &TestServer, mount: &Mount) {
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
}
mount_tests!(mkdir_p_mv_and_rm_r);

fn rmdir_of_a_non_empty_directory_is_enotempty(server: &TestServer, mount: &Mount) {
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
}
mount_tests!(rmdir_of_a_non_empty_directory_is_enotempty);

fn touch_d_sets_the_mtime_on_the_server(server: &TestServer, mount: &Mount) {
    if !server.kind.can_or_skip(Feature::SetFileTime) {
        return;
    }
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
}
mount_tests!(touch_d_sets_the_mtime_on_the_server);

/// A file created and closed without data keeps the mtime create showed, after close and once
/// the kernel's attribute cache expired: the server made it when the upload began and wrote
/// nothing after (pjdfstest utimensat::utime_omit compares the two). The server's own mtime
/// shows that this is the truth, not a remembered time.
fn an_empty_new_file_keeps_its_creation_time_after_close(server: &TestServer, mount: &Mount) {
    let path = mount.path("empty");
    // Less a tick: the kernel stamps files with its coarse clock, a few ms behind now().
    let before = std::time::SystemTime::now() - Duration::from_millis(20);
    let file = fs::File::create(&path).unwrap();
    let created = file.metadata().unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(1_200));
    drop(file);
    std::thread::sleep(Duration::from_millis(1_100)); // the kernel's attribute cache expires
    let shown = fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(shown, created, "{}: mtime moved at close", server.kind);
    let on_disk = fs::metadata(server.path("empty"))
        .unwrap()
        .modified()
        .unwrap();
    // The server stamps the file when it runs the STOR, which `create` no longer waits for
    // (issue 10): up to half a round trip after the time create showed.
    let latest = created + Duration::from_secs(1);
    assert!(
        before <= on_disk && on_disk <= latest,
        "{}: the server's mtime {on_disk:?} is not the create's ({before:?} .. {latest:?})",
        server.kind
    );
}
mount_tests!(an_empty_new_file_keeps_its_creation_time_after_close);

/// How many files `a_directory_of_20000_files_lists_completely` seeds.
const BIG_DIR_FILES: usize = 20_000;

/// The name and size of file `i` of the big directory (names with a space; sizes vary).
fn big_dir_file(i: usize) -> (String, u64) {
    (format!("entry {i:05}.dat"), (i % 17) as u64)
}

fn a_directory_of_20000_files_lists_completely(server: &TestServer, mount: &Mount) {
    for i in 0..BIG_DIR_FILES {
        let (name, size) = big_dir_file(i);
        server.seed_file(&format!("big/{name}"), &vec![b'x'; size as usize]);
    }
    let listed_sizes = |dir: &Path| -> std::collections::BTreeMap<String, u64> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let size = entry.path().symlink_metadata().unwrap().len();
                (entry.file_name().into_string().unwrap(), size)
            })
            .collect()
    };
    let expected: std::collections::BTreeMap<String, u64> =
        (0..BIG_DIR_FILES).map(big_dir_file).collect();
    let shown = listed_sizes(&mount.path("big"));
    assert_eq!(shown.len(), BIG_DIR_FILES, "{}", server.kind);
    assert!(shown == expected, "{}: names or sizes differ", server.kind);
    // `ls -l` itself: one line per file after "total".
    let ls = run_ok(Command::new("ls").arg("-l").arg(mount.path("big")));
    assert_eq!(
        ls.lines().filter(|l| l.starts_with('-')).count(),
        BIG_DIR_FILES
    );
    // Our own changes show in the cached listing at once.
    fs::write(mount.path("big/added"), b"12345").unwrap();
    fs::remove_file(mount.path("big/entry 00007.dat")).unwrap();
    let shown = listed_sizes(&mount.path("big"));
    assert_eq!(shown.len(), BIG_DIR_FILES, "{}", server.kind);
    assert_eq!(shown.get("added"), Some(&5));
    assert!(!shown.contains_key("entry 00007.dat"));
    assert_eq!(shown.get("entry 00016.dat"), Some(&16));
}
mount_tests!(a_directory_of_20000_files_lists_completely);

#[test]
fn vsftpd_file_mtimes_are_still_set_after_a_directory_mtime_fails() {
    common::with_mount(ServerKind::Vsftpd, &[], |server, mount| {
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

fn tar_of_300_files_extracts_identically(server: &TestServer, mount: &Mount) {
    let local = temp_dir("ftpfs-mount-tar");
    let source = local.path().join("src");
    make_tree(&source, 300);
    // Modes and times tar restores with fchmod/futimens before each close: they travel with
    // the rename of the upload (one round trip), and must land on the server.
    let files: Vec<PathBuf> = walk(&source).into_iter().filter(|p| p.is_file()).collect();
    for (index, file) in files.iter().enumerate() {
        let mode = [0o600, 0o755, 0o644][index % 3];
        fs::set_permissions(file, fs::Permissions::from_mode(mode)).unwrap();
        set_disk_mtime(file, unix_time(1_600_000_000 + index as u64));
    }
    let archive = local.path().join("tree.tar");
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&source)
            .arg("."),
    );
    {
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
    }
    let times = server.kind.can(Feature::SetFileTime);
    let modes = server.kind.can(Feature::Chmod);
    for file in &files {
        let relative = file.strip_prefix(&source).unwrap();
        let on_server = server.path("extract").join(relative);
        let (want, got) = (
            fs::metadata(file).unwrap(),
            fs::metadata(&on_server).unwrap(),
        );
        if times {
            assert_eq!(
                disk_mtime(&on_server),
                disk_mtime(file),
                "{}: mtime of {}",
                server.kind,
                relative.display()
            );
        }
        if modes {
            assert_eq!(
                got.permissions().mode() & 0o777,
                want.permissions().mode() & 0o777,
                "{}: mode of {}",
                server.kind,
                relative.display()
            );
        }
    }
}
mount_tests!(tar_of_300_files_extracts_identically);

/// A source tree for rsync, with whole-second mtimes in the past (rsync compares them).
fn rsync_source(local: &TempDir) -> PathBuf {
    let source = local.path().join("src");
    make_tree(&source, 60);
    for entry in walk(&source) {
        set_disk_mtime(&entry, unix_time(1_600_000_000));
    }
    source
}

/// `rsync -a SOURCE/ MNT/DST/` (DST "" is the mount root), then (after the 1 s listing TTL, so
/// what the server stored is compared, not what the cache remembers) `rsync -ac --dry-run
/// --itemize-changes`; returns the second rsync's output.
fn rsync_twice(server: &TestServer, mount: &Mount, source: &Path, dst: &str) -> String {
    let source_arg = format!("{}/", source.display());
    let target = format!("{}/", mount.path(dst).display());
    let started = Instant::now();
    run_ok(
        Command::new("rsync")
            .arg("-a")
            .arg(&source_arg)
            .arg(&target),
    );
    eprintln!("{}: rsync -a in {:.2?}", server.kind, started.elapsed());
    assert_same_tree(source, &server.path(dst));
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

fn rsync_a_twice_finds_nothing_to_copy(server: &TestServer, mount: &Mount) {
    if !server.kind.can_or_skip(Feature::SetFileTime) {
        return;
    }
    let local = temp_dir("ftpfs-mount-rsync");
    let source = rsync_source(&local);
    // vsftpd lists times to the minute or day only: this also checks that the exact times
    // rsync set are remembered (cache/set_times.rs) once the listing is fetched again.
    let changes = rsync_twice(server, mount, &source, "dst");
    assert_nothing_to_copy(server.kind, &changes);
}
mount_tests!(rsync_a_twice_finds_nothing_to_copy, "--dir-cache-ttl", "1");

/// The same into the mount root, whose time no listing shows: the time rsync set (or the
/// server refused) and the changes made in it are remembered.
fn rsync_a_twice_into_the_mount_root_finds_nothing_to_copy(server: &TestServer, mount: &Mount) {
    if !server.kind.can_or_skip(Feature::SetFileTime) {
        return;
    }
    let local = temp_dir("ftpfs-mount-rsync-root");
    let source = rsync_source(&local);
    set_disk_mtime(&source, unix_time(1_600_000_000));
    let changes = rsync_twice(server, mount, &source, "");
    assert_nothing_to_copy(server.kind, &changes);
}
mount_tests!(
    rsync_a_twice_into_the_mount_root_finds_nothing_to_copy,
    "--dir-cache-ttl",
    "1"
);

/// The second rsync's itemized changes must be empty: no file to copy, and no directory time
/// to set again (`.d..t......`), also on servers that refuse to set directory times (vsftpd):
/// ftpfs remembers those until the directory changes.
fn assert_nothing_to_copy(kind: ServerKind, changes: &str) {
    assert_eq!(
        changes.lines().collect::<Vec<&str>>(),
        Vec::<&str>::new(),
        "{kind}: second rsync wants changes; all of them:\n{changes}"
    );
}
