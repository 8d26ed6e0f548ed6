//! What a failed upload leaves on a real server (vsftpd): the previous version, never a short
//! file. The server's root is a small tmpfs so the disk really fills; `kill -9` of ftpfs in the
//! middle of an overwrite; and two handles of one file, one reading and one appending, which
//! vsftpd's `lock_upload_files` would make wait on each other.
//!
//! The mount is `ftpfs mount -f` as a child process, so its PID is known for `kill -9`.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::io::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::mount::{fresh_mountpoint, is_mounted, mount_url};
use common::{ServerKind, TestServer, pattern};

const MIB: usize = 1024 * 1024;

/// One test at a time: a process that another test thread forks and execs inherits our open
/// file descriptors for a moment, and closing them at exec sends FUSE a FLUSH, which completes
/// the upload early (what close(2) of any descriptor does). The kill -9 test needs its upload
/// unfinished, so nothing may fork meanwhile.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `ftpfs mount -f` of `server` as our child; unmounted (and ended) on drop.
struct ChildMount {
    dir: PathBuf,
    log: PathBuf,
    child: Child,
}

impl ChildMount {
    fn start(server: &TestServer, extra: &[&str]) -> ChildMount {
        let dir = fresh_mountpoint();
        let log = dir.with_extension("log");
        let child = Command::new(env!("CARGO_BIN_EXE_ftpfs"))
            .args(["-v", "mount", "-f"])
            .args(extra)
            .arg(mount_url(server))
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create mount log"))
            .spawn()
            .expect("run ftpfs");
        let mut mount = ChildMount { dir, log, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_mounted(&mount.dir) {
            if let Ok(Some(status)) = mount.child.try_wait() {
                panic!("ftpfs exited with {status}:\n{}", mount.logs());
            }
            assert!(Instant::now() < deadline, "not mounted:\n{}", mount.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        mount
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL the ftpfs process (our own child, by PID) and wait for it.
    fn kill_9(&mut self) {
        self.child.kill().expect("kill ftpfs");
        let _ = self.child.wait();
    }
}

impl Drop for ChildMount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .args(["-u", "-z", "-q"])
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir(&self.dir); // never recursive: it might still be a mount
        if std::thread::panicking() {
            eprintln!("ftpfs log kept at {}", self.log.display());
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// A tmpfs of `bytes` mounted over the server's root, owned by the server's user; unmounted
/// on drop.
struct SmallDisk {
    root: PathBuf,
}

impl SmallDisk {
    fn over(server: &TestServer, bytes: usize) -> SmallDisk {
        let (uid, gid) = server.file_owner().expect("vsftpd writes as a system user");
        let options = format!("size={bytes},uid={uid},gid={gid},mode=0755");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "ftpfs-test-disk"])
            .arg(&server.root)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed ({status})");
        SmallDisk {
            root: server.root.clone(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = |lazy: bool| {
            let mut command = Command::new("umount");
            if lazy {
                command.arg("-l");
            }
            command.arg(&self.root).status().is_ok_and(|s| s.success())
        };
        if !unmounted(false) {
            std::thread::sleep(Duration::from_millis(500)); // a server session may linger
            unmounted(true);
        }
    }
}

fn vsftpd() -> Option<TestServer> {
    TestServer::try_start(ServerKind::Vsftpd)
}

/// The names in the server's root directory on disk, sorted.
fn names_on_server(server: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(&server.root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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
    // SAFETY: closing the descriptor we own, once; close's result is what we test.
    if unsafe { libc::close(file.into_raw_fd()) } != 0 {
        errors.push(format!("close: {}", std::io::Error::last_os_error()));
    }
    errors
}

#[test]
fn a_full_disk_keeps_the_old_file_and_leaves_no_short_new_one() {
    let _serial = one_at_a_time();
    let Some(server) = vsftpd() else { return };
    let disk = SmallDisk::over(&server, 3 * MIB);
    let old = pattern(MIB, 1);
    server.seed_file("old.bin", &old);
    let mount = ChildMount::start(&server, &["--timeout", "10"]);

    let errors = write_and_close(&mount.path("old.bin"), &pattern(4 * MIB, 2));
    assert!(!errors.is_empty(), "an upload that cannot fit must fail");
    assert_eq!(
        fs::read(server.path("old.bin")).unwrap(),
        old,
        "the old content is intact after {errors:?}"
    );
    assert_eq!(names_on_server(&server), ["old.bin"], "temp file removed");
    assert_eq!(fs::read(mount.path("old.bin")).unwrap(), old);

    let errors = write_and_close(&mount.path("new.bin"), &pattern(4 * MIB, 3));
    assert!(!errors.is_empty(), "a new file that cannot fit must fail");
    assert_eq!(names_on_server(&server), ["old.bin"], "no short new.bin");

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
    let mut mount = ChildMount::start(&server, &[]);
    let mut file = File::create(mount.path("old.bin")).unwrap();
    for piece in pattern(6 * MIB, 6).chunks(MIB) {
        file.write_all(piece).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300)); // let data reach the server
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
    let names = names_on_server(&server);
    assert!(
        names
            .iter()
            .all(|name| name == "old.bin" || name.starts_with(".ftpfs-upload.")),
        "{names:?}"
    );
    drop(mount);

    // A new mount hides the leftover (it is deleted only once it is hours old).
    let mount = ChildMount::start(&server, &[]);
    let shown: Vec<String> = fs::read_dir(mount.path(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(shown, ["old.bin"]);
    assert_eq!(fs::read(mount.path("old.bin")).unwrap(), old);
}

#[test]
fn appending_while_another_handle_keeps_a_download_open_does_not_wait_for_its_lock() {
    let _serial = one_at_a_time();
    let Some(server) = vsftpd() else { return };
    let content = pattern(32 * MIB, 7);
    server.seed_file("big.bin", &content);
    let mount = ChildMount::start(&server, &["--timeout", "5"]);
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
