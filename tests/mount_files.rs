//! Files through real mounts of real FTP servers, made by the `ftpfs` binary: `ls -l`, cat, cp,
//! mmap, sha256sum, append/sed/pwrite/truncate edits, close-to-open, names with CR/LF, `ls`
//! staying fast while a big file streams, programs run from the mount (ETXTBSY), read-only
//! `O_TRUNC` opens. One `#[test]` per test body and server kind
//! (vsftpd, proftpd, pure-ftpd, pyftpdlib, libunftp), each on a fresh server and mount; results
//! are checked on the server's disk too, so a cache cannot hide a wrong upload.

#[macro_use]
mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::files::*;
use common::mount::{Mount, run_ok, sh_ok};
use common::{TestServer, pattern, temp_dir};

fn ls_l_and_cat_show_the_servers_files(server: &TestServer, mount: &Mount) {
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
}
mount_tests!(ls_l_and_cat_show_the_servers_files);

/// 64 MiB of pattern, made once for all servers.
fn big_pattern() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| pattern(64 << 20, 64))
}

fn cp_of_64_mib_in_and_out_is_byte_exact(server: &TestServer, mount: &Mount) {
    let local = temp_dir("ftpfs-mount-cp");
    let source = local.path().join("big.in");
    fs::write(&source, big_pattern()).unwrap();
    {
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
    }
}
mount_tests!(cp_of_64_mib_in_and_out_is_byte_exact);

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

/// read, mmap, sha256sum and cat see the same bytes (`how` names the mount's caching mode).
fn reads_agree(server: &TestServer, mount: &Mount, how: &str) {
    let content = pattern(3 * 1024 * 1024 + 4321, 7);
    {
        {
            server.seed_file("data.bin", &content);
            let label = format!("{} {how}", server.kind);
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
        }
    }
}

fn direct_io_default_reads_agree(server: &TestServer, mount: &Mount) {
    reads_agree(server, mount, "direct I/O");
}
mount_tests!(direct_io_default_reads_agree);

fn page_cache_option_reads_agree(server: &TestServer, mount: &Mount) {
    reads_agree(server, mount, "-o page_cache");
}
mount_tests!(page_cache_option_reads_agree, "-o", "page_cache");

fn append_sed_pwrite_and_truncate_edit_existing_files(server: &TestServer, mount: &Mount) {
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
}
mount_tests!(append_sed_pwrite_and_truncate_edit_existing_files);

fn close_to_open_and_server_side_changes_after_the_ttl(server: &TestServer, mount: &Mount) {
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
    // Listed again: the kernel now answers from its own copy of the listing (FOPEN_KEEP_CACHE),
    // which our own changes and the TTL below must still reach.
    assert_eq!(names(&mount.path("cto")), ["changing.txt"]);
    fs::write(mount.path("cto/local.txt"), b"ours\n").unwrap();
    assert_eq!(names(&mount.path("cto")), ["changing.txt", "local.txt"]);
    fs::remove_file(mount.path("cto/local.txt")).unwrap();
    assert_eq!(names(&mount.path("cto")), ["changing.txt"]);
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
}
mount_tests!(
    close_to_open_and_server_side_changes_after_the_ttl,
    "--dir-cache-ttl",
    "1"
);

fn names_with_cr_or_lf_are_refused(server: &TestServer, mount: &Mount) {
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
}
mount_tests!(names_with_cr_or_lf_are_refused);

/// Bytes read so far by process `pid` (/proc/PID/io rchar), 0 when unknown.
fn bytes_read_by(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn ls_answers_within_a_second_while_a_large_file_is_read(server: &TestServer, mount: &Mount) {
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
}
mount_tests!(ls_answers_within_a_second_while_a_large_file_is_read);

/// open(2) with raw flags (std refuses O_RDONLY|O_TRUNC): the errno, or None when it opened.
fn open_errno(path: &Path, flags: i32) -> Option<i32> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; the descriptor is closed at once.
    let fd = unsafe { libc::open(c_path.as_ptr(), flags) };
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error();
    }
    // SAFETY: fd was just opened by us.
    unsafe { libc::close(fd) };
    None
}

/// What pjdfstest `open::etxtbsy` does: a program copied onto the mount and started from it
/// cannot be opened for writing or truncated, and keeps running. An O_RDONLY|O_TRUNC open
/// used to reach ftpfs before the kernel's ETXTBSY check, and the kernel dropped the program's
/// cached code on our "ok" (it died of SIGBUS/SIGSEGV, and sometimes the open succeeded).
fn a_running_program_cannot_be_truncated_and_keeps_running(server: &TestServer, mount: &Mount) {
    let sleep = which_sleep();
    let original = fs::read(&sleep).unwrap();
    for round in 0..3 {
        let name = format!("prog{round}");
        let path = mount.path(&name);
        fs::copy(&sleep, &path).unwrap();
        sh_ok("chmod 755 \"$1\"", &[path.as_os_str()]);
        let mut program = Command::new(&path).arg("30").spawn().unwrap();
        for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
            assert_eq!(
                open_errno(&path, flags),
                Some(libc::ETXTBSY),
                "{}: round {round}: open with flags {flags:#x} of a running program",
                server.kind
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let early_exit = program.try_wait().unwrap();
        program.kill().unwrap();
        program.wait().unwrap();
        assert_eq!(
            early_exit, None,
            "{}: round {round}: the program died while running from the mount",
            server.kind
        );
        assert!(
            fs::read(server.path(&name)).unwrap() == original,
            "{}: round {round}: the program file changed on the server",
            server.kind
        );
    }
}
mount_tests!(a_running_program_cannot_be_truncated_and_keeps_running);

fn which_sleep() -> std::path::PathBuf {
    ["/usr/bin/sleep", "/bin/sleep"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|path| path.exists())
        .expect("sleep(1) is installed")
}

/// `open(O_RDONLY|O_TRUNC)` of a file no program runs empties it on the server, not only in
/// the kernel's view (ftpfs asks for FUSE_ATOMIC_O_TRUNC, so no separate truncate follows).
fn a_read_only_o_trunc_open_empties_the_servers_copy(server: &TestServer, mount: &Mount) {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    server.seed_file("full.txt", b"content that must go\n");
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_TRUNC)
        .open(mount.path("full.txt"))
        .unwrap();
    let mut read = Vec::new();
    file.read_to_end(&mut read).unwrap();
    assert_eq!(
        read, b"",
        "{}: read through the truncating handle",
        server.kind
    );
    drop(file);
    assert_eq!(
        fs::read(server.path("full.txt")).unwrap(),
        b"",
        "{}: the server's copy after O_RDONLY|O_TRUNC",
        server.kind
    );
    assert_eq!(fs::metadata(mount.path("full.txt")).unwrap().len(), 0);
}
mount_tests!(a_read_only_o_trunc_open_empties_the_servers_copy);

/// A file created with mode 0600 keeps it on the server. Its content goes to a temporary name
/// until close, so the mode must be given to that file: a SITE CHMOD of the real name, which
/// the server does not have yet, failed and left the server's default 0644 (a private file
/// readable by all) and cost a round trip (issue 10).
fn a_new_file_keeps_the_mode_it_was_created_with(server: &TestServer, mount: &Mount) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !server.kind.can_or_skip(common::Feature::Chmod) {
        return;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(mount.path("private.key"))
        .unwrap();
    file.write_all(b"secret\n").unwrap();
    drop(file);
    let on_server = fs::metadata(server.path("private.key")).unwrap();
    assert_eq!(
        on_server.permissions().mode() & 0o777,
        0o600,
        "{}: mode on the server",
        server.kind
    );
    assert_eq!(fs::read(server.path("private.key")).unwrap(), b"secret\n");
}
mount_tests!(a_new_file_keeps_the_mode_it_was_created_with);
