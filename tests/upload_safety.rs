//! What a failed upload leaves on a real server (vsftpd): the previous version, never a short
//! file. The server's root is a small tmpfs so the disk really fills; `kill -9` of ftpfs in the
//! middle of an overwrite; and two handles of one file, one reading and one appending, which
//! vsftpd's `lock_upload_files` would make wait on each other. And where an upload in flight
//! is written: under a temporary name by default, under the real name with `--inplace`. And
//! that the kernel lets go of a refused new file's name within seconds.
//!
//! The mount is `ftpfs mount -f` as a child process (`Mount::foreground`), so its PID is known
//! for `kill -9`. The harness (servers, mounts, the tmpfs, the skip rule) is tests/common.

mod common;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::io::IntoRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use common::files::names;
use common::{Mount, ServerKind, SmallDisk, TestServer, pattern};

const MIB: usize = 1024 * 1024;

/// One test at a time: a process that another test thread forks and execs inherits our open
/// file descriptors for a moment, and closing them at exec sends FUSE a FLUSH, which completes
/// the upload early (what close(2) of any descriptor does). The kill -9 test needs its upload
/// unfinished, so nothing may fork meanwhile.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A vsftpd server to mount, or None after the skip rule (no FUSE, or vsftpd not installed:
/// a note locally, a failure under CI=true).
fn vsftpd() -> Option<TestServer> {
    common::can_mount(ServerKind::Vsftpd).then(|| TestServer::start(ServerKind::Vsftpd))
}

/// `ftpfs -v mount -f` of `server` as our child (its pid for `kill_9`, its log for messages).
fn foreground(server: &TestServer, extra: &[&str]) -> Mount {
    Mount::foreground(server, server.port, extra)
}

/// Closes `file` and returns close(2)'s error: dropping a `File` ignores it, and close is where
/// a mount reports that an upload failed.
fn close(file: File) -> std::io::Result<()> {
    // SAFETY: closing the descriptor we own, once (into_raw_fd gave up the File's ownership).
    if unsafe { libc::close(file.into_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Write `data` to `path` (create/truncate) and close; every error on the way, in order.
fn write_and_close(path: &Path, data: &[u8]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut file = match File::create(path) {
        Ok(file) => file,
        Err(err) => return vec![format!("create: {err}")],
    };
    for piece in data.chunks(MIB) {
        if let Err(err) = file.write_all(piece) {
            errors.push(format!("write: {err}"));
            break;
        }
    }
    if let Err(err) = close(file) {
        errors.push(format!("close: {err}"));
    }
    errors
}

/// What the server's root held while an upload was in flight (its file still open).
#[derive(Debug)]
struct InFlight {
    /// The name the new content was arriving under.
    receiving: String,
    /// Every name seen in the directory from the open until then.
    names_seen: BTreeSet<String>,
    /// `old.bin` on the server at that moment.
    old_bin: Vec<u8>,
}

/// Waits (up to 20 s) until at least 1 MiB of `new` has reached some file in the server's root;
/// the upload is still in flight, as the caller keeps its file open (and `one_at_a_time`
/// keeps other tests from forking, which would close a copy of the descriptor and so finish
/// it early).
fn wait_in_flight(server: &TestServer, new: &[u8], mount: &Mount) -> InFlight {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut names_seen = BTreeSet::new();
    loop {
        let now = names(&server.root);
        names_seen.extend(now.iter().cloned());
        let receiving = now.into_iter().find(|name| {
            let content = fs::read(server.root.join(name)).unwrap_or_default();
            content.len() >= MIB && new.starts_with(&content)
        });
        if let Some(receiving) = receiving {
            let old_bin = fs::read(server.path("old.bin")).unwrap_or_default();
            return InFlight {
                receiving,
                names_seen,
                old_bin,
            };
        }
        assert!(
            Instant::now() < deadline,
            "no upload in flight reached the server; seen {names_seen:?}:\n{}",
            mount.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const OLD_SEED: u64 = 8;

/// Overwrites `old.bin` (1 MiB) with 6 MiB through a foreground mount with `extra` and looks
/// at the server while the upload is in flight; then closes and checks that the new content,
/// and only it, is on the server under the real name. None when skipped.
fn overwrite_in_flight(extra: &[&str]) -> Option<InFlight> {
    let server = vsftpd()?;
    server.seed_file("old.bin", &pattern(MIB, OLD_SEED));
    let new = pattern(6 * MIB, 9);
    let mount = foreground(&server, extra);
    let mut file = File::create(mount.path("old.bin")).unwrap();
    for piece in new.chunks(MIB) {
        file.write_all(piece).unwrap();
    }
    let seen = wait_in_flight(&server, &new, &mount);
    close(file).unwrap_or_else(|err| panic!("close {extra:?}: {err}\n{}", mount.logs()));
    let on_server = fs::read(server.path("old.bin")).unwrap();
    common::assert_same(&on_server, &new, &format!("old.bin after close {extra:?}"));
    assert_eq!(
        names(&server.root),
        ["old.bin"],
        "{extra:?}: nothing else left"
    );
    mount.unmount();
    Some(seen)
}

#[test]
fn a_full_disk_keeps_the_old_file_and_leaves_no_short_new_one() {
    let _serial = one_at_a_time();
    let Some(server) = vsftpd() else { return };
    let Some(disk) = SmallDisk::over(&server, 3 * MIB) else {
        return;
    };
    let old = pattern(MIB, 1);
    server.seed_file("old.bin", &old);
    let mount = foreground(&server, &["--timeout", "10"]);

    let errors = write_and_close(&mount.path("old.bin"), &pattern(4 * MIB, 2));
    assert!(!errors.is_empty(), "an upload that cannot fit must fail");
    assert_eq!(
        fs::read(server.path("old.bin")).unwrap(),
        old,
        "the old content is intact after {errors:?}"
    );
    assert_eq!(names(&server.root), ["old.bin"], "temp file removed");
    assert_eq!(fs::read(mount.path("old.bin")).unwrap(), old);

    let errors = write_and_close(&mount.path("new.bin"), &pattern(4 * MIB, 3));
    assert!(!errors.is_empty(), "a new file that cannot fit must fail");
    assert_eq!(names(&server.root), ["old.bin"], "no short new.bin");

    // What fits still works, and replaces the old version.
    let fits = pattern(MIB / 2, 4);
    assert_eq!(
        write_and_close(&mount.path("old.bin"), &fits),
        Vec::<String>::new()
    );
    assert_eq!(fs::read(server.path("old.bin")).unwrap(), fits);
    drop(mount);
    drop(disk);
}

#[test]
fn kill_9_in_the_middle_of_an_overwrite_keeps_the_old_file() {
    let _serial = one_at_a_time();
    let Some(server) = vsftpd() else { return };
    let old = pattern(MIB, 5);
    server.seed_file("old.bin", &old);
    let mut mount = foreground(&server, &[]);
    let mut file = File::create(mount.path("old.bin")).unwrap();
    let new = pattern(6 * MIB, 6);
    for piece in new.chunks(MIB) {
        file.write_all(piece).unwrap();
    }
    let seen = wait_in_flight(&server, &new, &mount);
    assert!(seen.receiving.starts_with(".ftpfs-upload."), "{seen:?}");
    mount.kill_9();
    drop(file); // the mount is gone: this close just fails
    let on_server = fs::read(server.path("old.bin")).unwrap();
    assert!(
        on_server == old,
        "old.bin has {} bytes, not the old {}:\n{}",
        on_server.len(),
        old.len(),
        mount.logs()
    );
    let left = names(&server.root);
    assert!(
        left.iter()
            .all(|name| name == "old.bin" || name.starts_with(".ftpfs-upload.")),
        "{left:?}"
    );
    drop(mount);

    // A new mount hides the leftover (it is deleted only once it is hours old).
    let mount = foreground(&server, &[]);
    assert_eq!(names(mount.dir()), ["old.bin"]);
    assert_eq!(fs::read(mount.path("old.bin")).unwrap(), old);
}

#[test]
fn appending_while_another_handle_keeps_a_download_open_does_not_wait_for_its_lock() {
    let _serial = one_at_a_time();
    let Some(server) = vsftpd() else { return };
    let content = pattern(32 * MIB, 7);
    server.seed_file("big.bin", &content);
    let mount = foreground(&server, &["--timeout", "5"]);
    let mut reader = File::open(mount.path("big.bin")).unwrap();
    let mut head = vec![0u8; MIB];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(head, content[..MIB]);

    // vsftpd (lock_upload_files=YES) makes APPE wait for the read lock of the open RETR.
    let started = Instant::now();
    let mut appender = OpenOptions::new()
        .append(true)
        .open(mount.path("big.bin"))
        .unwrap();
    appender.write_all(b"tail").unwrap();
    appender.sync_all().unwrap_or_else(|err| {
        panic!(
            "fsync of the append failed after {:?}: {err}\n{}",
            started.elapsed(),
            mount.logs()
        )
    });
    drop(appender);
    let on_server = fs::read(server.path("big.bin")).unwrap();
    assert_eq!(on_server.len(), content.len() + 4);
    assert!(on_server.ends_with(b"tail") && on_server.starts_with(&content));

    // The reader resumes where it was (REST) and sees the file as it is now.
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, on_server[MIB..]);
}

#[test]
fn an_overwrite_in_flight_goes_to_a_temporary_name_and_the_old_file_stays() {
    let _serial = one_at_a_time();
    let Some(seen) = overwrite_in_flight(&[]) else {
        return;
    };
    assert!(
        seen.receiving.starts_with(".ftpfs-upload.") && seen.receiving.ends_with(".old.bin"),
        "{seen:?}"
    );
    common::assert_same(&seen.old_bin, &pattern(MIB, OLD_SEED), "old.bin in flight");
}

/// `--inplace` and its fstab spelling `-o inplace`: a plain STOR onto the real name, no
/// temporary name at any moment (the old content is gone as soon as the upload starts).
#[test]
fn an_inplace_overwrite_in_flight_goes_to_the_real_name() {
    let _serial = one_at_a_time();
    for extra in [&["--inplace"][..], &["-o", "inplace"]] {
        let Some(seen) = overwrite_in_flight(extra) else {
            return;
        };
        assert_eq!(seen.receiving, "old.bin", "{extra:?}: {seen:?}");
        assert_eq!(
            seen.names_seen,
            BTreeSet::from(["old.bin".to_string()]),
            "{extra:?}: no temporary name"
        );
    }
}

/// `ls -l` while a new file is written hands the kernel its name (READDIRPLUS); when the
/// upload is then refused, the kernel must let the name go after its short default, not keep
/// it for the rest of the listing's `--dir-cache-ttl` (30 s), which forgetting our own listing
/// cannot shorten.
#[test]
fn a_refused_new_file_listed_while_written_leaves_the_kernel_cache_in_seconds() {
    let _serial = one_at_a_time();
    let Some(server) = vsftpd() else { return };
    let Some(disk) = SmallDisk::over(&server, 3 * MIB) else {
        return;
    };
    let mount = foreground(&server, &["--timeout", "10"]);
    let path = mount.path("new.bin");
    let mut file = File::create(&path).unwrap();
    let mut errors = Vec::new();
    if let Err(err) = file.write_all(&pattern(4 * MIB, 10)) {
        errors.push(format!("write: {err}"));
    }
    // After the last write (a write makes the kernel drop the attributes it has).
    assert_eq!(names(mount.dir()), ["new.bin"], "listed while written");
    if let Err(err) = close(file) {
        errors.push(format!("close: {err}"));
    }
    assert!(!errors.is_empty(), "an upload that cannot fit must fail");
    assert!(names(&server.root).is_empty(), "no new.bin on the server");
    let refused = Instant::now();
    while fs::metadata(&path).is_ok() {
        assert!(
            refused.elapsed() < Duration::from_secs(10),
            "new.bin still shown 10 s after its upload failed ({errors:?}):\n{}",
            mount.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!names(mount.dir()).contains(&"new.bin".to_string()));
    drop(mount);
    drop(disk);
}
