//! Write-back mode (`--writeback`) on real servers: what `cp` wrote is on the server, byte for
//! byte, after an unmount (SIGTERM drains the spool) and after kill -9 and a new mount (which
//! resumes the spool). The mount is a foreground child, so its PID is known.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::mount::run_ok;
use common::{Feature, Mount, TestServer, assert_same, fuse_available, pattern, skip, temp_dir};

const FILES: usize = 50;
/// The mtime of every source file (2020-01-02 03:04:05 UTC), which `cp -p` keeps (and the
/// mode 0640).
const MTIME: u64 = 1_577_934_245;

/// `FILES` small files of different sizes in a fresh local directory.
fn source_tree() -> common::TempDir {
    let source = temp_dir("ftpfs-wb-source");
    for i in 0..FILES {
        let name = source.path().join(format!("f{i:02}"));
        fs::write(&name, pattern(1000 + i * 97, i as u64)).unwrap();
        let mtime = std::time::UNIX_EPOCH + Duration::from_secs(MTIME);
        let file = fs::File::options().write(true).open(&name).unwrap();
        file.set_modified(mtime).unwrap();
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o640))
            .unwrap();
    }
    source
}

/// Every file of the source tree is in `dir` of the server, byte-exact.
fn assert_on_server(server: &TestServer, dir: &str, what: &str) {
    for i in 0..FILES {
        let path = server.path(&format!("{dir}/f{i:02}"));
        let got = fs::read(&path).unwrap_or_else(|e| panic!("{what}: {}: {e}", path.display()));
        assert_same(&got, &pattern(1000 + i * 97, i as u64), what);
    }
}

/// No pending upload is left in the spool.
fn spool_is_empty(spool: &Path) -> bool {
    fs::read_dir(spool)
        .map(|entries| {
            !entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".rec"))
        })
        .unwrap_or(true)
}

/// Signal our own foreground mount by its PID and wait (bounded) until it has exited.
fn signal_and_wait(mount: &mut Mount, signal: i32) {
    let pid = i32::try_from(mount.pid()).expect("pid fits");
    // SAFETY: kill(2) of our own child process, by its PID.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    while mount.try_exit_status().is_none() {
        assert!(
            Instant::now() < deadline,
            "ftpfs did not exit:\n{}",
            mount.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How the source tree gets onto the mount.
#[derive(Clone, Copy)]
enum Copier {
    /// `cp -rp`: times and mode set through the open file, before close.
    Cp,
    /// `tar -x`: times and mode set by name after close (recorded with the queued upload).
    Tar,
    /// `rsync -a`: each file written under a temporary name, then renamed (in the spool).
    Rsync,
}

/// Mount `server` in write-back mode with `spool`, copy the source tree to `copy` with
/// `copier` and end the mount with `signal`; None when FUSE is missing (skip rule applied).
fn copy_then_signal(
    server: &TestServer,
    spool: &common::TempDir,
    copier: Copier,
    signal: i32,
) -> Option<String> {
    if !fuse_available(&skip::current_test()) {
        return None;
    }
    let source = source_tree();
    let args = ["--writeback", "--spool-dir", spool.str()];
    let mut mount = Mount::foreground(server, server.port, &args);
    match copier {
        Copier::Cp => run_ok(
            Command::new("cp")
                .arg("-rp")
                .arg(source.path())
                .arg(mount.path("copy")),
        ),
        Copier::Tar => {
            let dest = mount.path("copy");
            fs::create_dir(&dest).unwrap();
            let script = "tar -C \"$1\" -cf - . | tar -C \"$2\" -xpf -";
            common::mount::sh_ok(script, &[source.path().as_os_str(), dest.as_os_str()])
        }
        Copier::Rsync => run_ok(
            Command::new("rsync")
                .arg("-a")
                .arg(format!("{}/", source.path().display()))
                .arg(mount.path("copy")),
        ),
    };
    signal_and_wait(&mut mount, signal);
    let logs = mount.logs();
    assert!(spool.path().join("lock").exists(), "write-back mode is on");
    mount.unmount(); // a killed mount is detached
    Some(logs)
}

/// After `copier` and SIGTERM: every file, its mtime and mode are on the server.
fn copy_then_sigterm(server: &TestServer, copier: Copier) {
    let spool = temp_dir("ftpfs-wb-spool");
    let Some(logs) = copy_then_signal(server, &spool, copier, libc::SIGTERM) else {
        return;
    };
    assert!(!logs.contains("not uploaded yet"), "{logs}");
    assert_on_server(server, "copy", "after SIGTERM");
    let names = fs::read_dir(server.path("copy")).unwrap().count();
    assert_eq!(names, FILES, "no temporary names left on {}", server.kind);
    if server.kind.can(Feature::SetFileTime) {
        // Set through the open file (cp) or by name after close (tar): after each upload.
        for i in 0..FILES {
            let modified = fs::metadata(server.path(&format!("copy/f{i:02}")))
                .and_then(|m| m.modified())
                .unwrap();
            let secs = modified.duration_since(std::time::UNIX_EPOCH).unwrap();
            assert_eq!(secs.as_secs(), MTIME, "f{i:02} on {}", server.kind);
        }
    }
    if server.kind.can(Feature::Chmod) {
        use std::os::unix::fs::PermissionsExt;
        for i in 0..FILES {
            let meta = fs::metadata(server.path(&format!("copy/f{i:02}"))).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode, 0o640, "f{i:02} on {}", server.kind);
        }
    }
    assert!(spool_is_empty(spool.path()));
}

fn cp_then_sigterm_leaves_every_file_on_the_server(server: &TestServer) {
    copy_then_sigterm(server, Copier::Cp);
}

fn tar_x_then_sigterm_leaves_every_file_and_time_on_the_server(server: &TestServer) {
    copy_then_sigterm(server, Copier::Tar);
}

fn rsync_then_sigterm_leaves_every_file_and_time_on_the_server(server: &TestServer) {
    copy_then_sigterm(server, Copier::Rsync);
}

fn kill_9_after_cp_then_a_new_mount_uploads_the_rest(server: &TestServer) {
    let spool = temp_dir("ftpfs-wb-spool");
    if copy_then_signal(server, &spool, Copier::Cp, libc::SIGKILL).is_none() {
        return;
    }
    // Whatever the killed mount had not uploaded is resumed from the spool.
    let args = ["--writeback", "--spool-dir", spool.str()];
    let mut mount = Mount::foreground(server, server.port, &args);
    signal_and_wait(&mut mount, libc::SIGTERM);
    mount.unmount();
    assert_on_server(server, "copy", "after kill -9 and a new mount");
    assert!(spool_is_empty(spool.path()));
}

server_tests!(cp_then_sigterm_leaves_every_file_on_the_server);
server_tests!(tar_x_then_sigterm_leaves_every_file_and_time_on_the_server);
server_tests!(rsync_then_sigterm_leaves_every_file_and_time_on_the_server);
server_tests!(kill_9_after_cp_then_a_new_mount_uploads_the_rest);
