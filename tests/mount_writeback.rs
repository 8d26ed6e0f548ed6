//! Write-back mode (`--writeback`) on real servers: what `cp` wrote is on the server, byte for
//! byte, after an unmount (SIGTERM drains the spool) and after kill -9 and a new mount (which
//! resumes the spool), also when the kill comes in the middle of the copy. The mount is a
//! foreground child, so its PID is known.

#[macro_use]
mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mount::run_ok;
use common::{
    Feature, Mount, ServerKind, TestServer, assert_same, fuse_available, pattern, skip, temp_dir,
};

const FILES: usize = 50;
/// The mtime of every source file (2020-01-02 03:04:05 UTC), which `cp -p` keeps (and the
/// mode 0640).
const MTIME: u64 = 1_577_934_245;

/// The name of source file `i`.
fn name(i: usize) -> String {
    format!("f{i:03}")
}

/// The content of source file `i`.
fn content(i: usize) -> Vec<u8> {
    pattern(1000 + i * 97, i as u64)
}

/// `FILES` small files of different sizes in a fresh local directory.
fn source_tree() -> common::TempDir {
    source_tree_of(FILES)
}

/// `count` small files of different sizes in a fresh local directory.
fn source_tree_of(count: usize) -> common::TempDir {
    let source = temp_dir("ftpfs-wb-source");
    for i in 0..count {
        let name = source.path().join(name(i));
        fs::write(&name, content(i)).unwrap();
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
        assert_file_on_server(server, &format!("{dir}/{}", name(i)), i, what);
    }
}

/// Source file `i` is at `path` on the server, byte-exact.
fn assert_file_on_server(server: &TestServer, path: &str, i: usize, what: &str) {
    let path = server.path(path);
    let got = fs::read(&path).unwrap_or_else(|e| panic!("{what}: {}: {e}", path.display()));
    assert_same(&got, &content(i), &format!("{what}: {}", path.display()));
}

/// No pending upload is left in the spool.
fn spool_is_empty(spool: &Path) -> bool {
    fs::read_dir(spool)
        .map(|entries| {
            !entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // Format 1 records, and journal segments (deleted once all is uploaded).
                name.ends_with(".rec") || name.starts_with("journal-")
            })
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
            let modified = fs::metadata(server.path(&format!("copy/{}", name(i))))
                .and_then(|m| m.modified())
                .unwrap();
            let secs = modified.duration_since(std::time::UNIX_EPOCH).unwrap();
            assert_eq!(secs.as_secs(), MTIME, "{} on {}", name(i), server.kind);
        }
    }
    if server.kind == ServerKind::Vsftpd {
        // The time goes with the rename of each upload's temporary file (one round trip),
        // never in a command of its own to the real name afterwards.
        let log = server.vsftpd_protocol_log();
        let mdtm = |name: &str| {
            log.lines()
                .filter(|line| line.contains("\"MDTM ") && line.contains(name))
                .count()
        };
        assert_eq!(mdtm("/copy/f"), 0, "no MDTM of a real name:\n{log}");
        assert_eq!(mdtm("/copy/.ftpfs-upload."), FILES, "{log}");
    }
    if server.kind.can(Feature::Chmod) {
        use std::os::unix::fs::PermissionsExt;
        for i in 0..FILES {
            let meta = fs::metadata(server.path(&format!("copy/{}", name(i)))).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode, 0o640, "{} on {}", name(i), server.kind);
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

/// The files a `cp -rv` reported done: GNU cp prints "'SRC' -> 'DST'" as it STARTS a file, so a
/// file is done once a later line follows it (or cp succeeded) and no error message names it.
fn files_cp_finished(stdout: &str, stderr: &str, cp_succeeded: bool) -> Vec<usize> {
    let started: Vec<usize> = stdout
        .lines()
        .filter_map(|line| {
            let destination = line.rsplit(" -> ").next()?.trim_matches('\'');
            let file = Path::new(destination).file_name()?.to_str()?;
            file.strip_prefix('f')?.parse().ok()
        })
        .collect();
    let finished = if cp_succeeded {
        started.len()
    } else {
        started.len().saturating_sub(1)
    };
    started[..finished]
        .iter()
        .copied()
        .filter(|&i| !stderr.contains(&format!("/{}\'", name(i))))
        .collect()
}

/// kill -9 of ftpfs in the middle of a `cp -r` of 100 files, then a new mount: every file cp
/// had finished (its close returned) is on the server byte-exact, and no file on the server
/// under a source name is a partial one.
fn kill_9_during_cp_then_every_finished_file_reaches_the_server(server: &TestServer) {
    const MANY: usize = 100;
    const KILL_AFTER: usize = MANY / 2;
    if !fuse_available(&skip::current_test()) {
        return;
    }
    let source = source_tree_of(MANY);
    let spool = temp_dir("ftpfs-wb-spool");
    let args = ["--writeback", "--spool-dir", spool.str()];
    let mut mount = Mount::foreground(server, server.port, &args);
    // stdbuf -oL: one line per file as cp goes (a pipe would otherwise buffer 4 KiB).
    let mut cp = Command::new("stdbuf")
        .args(["-oL", "cp", "-rv"])
        .arg(source.path())
        .arg(mount.path("copy"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cp");
    let mut errors = cp.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = errors.read_to_string(&mut text);
        text
    });
    let mut output = String::new();
    let mut lines_seen = 0;
    for line in BufReader::new(cp.stdout.take().expect("piped")).lines() {
        output.push_str(&line.expect("cp output is text"));
        output.push('\n');
        lines_seen += 1;
        // The first line is the directory; then one per file.
        if lines_seen == 1 + KILL_AFTER {
            mount.kill_9();
        }
    }
    // The dead mount fails every later operation at once (ENOTCONN): cp ends soon.
    let status = cp.wait().expect("wait for cp");
    let errors = errors.join().expect("stderr reader");
    let finished = files_cp_finished(&output, &errors, status.success());
    assert!(
        !status.success() && finished.len() >= KILL_AFTER - 1 && finished.len() < MANY,
        "the kill came in the middle of cp ({status}, {} finished):\n{output}\n{errors}",
        finished.len()
    );
    mount.unmount(); // detaches the dead mount

    // The next mount of the same spool uploads what the killed one had not; SIGTERM drains it.
    let mut mount = Mount::foreground(server, server.port, &args);
    signal_and_wait(&mut mount, libc::SIGTERM);
    let logs = mount.logs();
    mount.unmount();
    assert!(!logs.contains("not uploaded yet"), "{logs}");
    for &i in &finished {
        assert_file_on_server(server, &format!("copy/{}", name(i)), i, "finished by cp");
    }
    // A file cp had not finished is absent, empty (created) or whole: never partly written.
    for i in 0..MANY {
        let path = format!("copy/{}", name(i));
        let size = fs::metadata(server.path(&path)).map(|meta| meta.len());
        if size.is_ok_and(|size| size > 0) {
            assert_file_on_server(server, &path, i, "on the server");
        }
    }
    assert!(spool_is_empty(spool.path()));
}

server_tests!(cp_then_sigterm_leaves_every_file_on_the_server);
server_tests!(tar_x_then_sigterm_leaves_every_file_and_time_on_the_server);
server_tests!(rsync_then_sigterm_leaves_every_file_and_time_on_the_server);
server_tests!(kill_9_after_cp_then_a_new_mount_uploads_the_rest);
server_tests!(kill_9_during_cp_then_every_finished_file_reaches_the_server);
