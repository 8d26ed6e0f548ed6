//! Real FTP servers (vsftpd, proftpd, pure-ftpd, pyftpdlib, libunftp) started on 127.0.0.1.
//!
//! Each `TestServer` runs `scripts/servers/start.sh` (which writes the config and `exec`s the
//! server in the foreground) in its own process group, so stopping it kills every session
//! process too and a "restart" really cuts live connections. It owns a fresh root directory, a
//! state directory (config, logs) and a reserved port slot (see `ports`), all released on drop.
//! `start` returns only once the 220 greeting has been read, and panics with the server's logs
//! when that does not happen within `READY_TIMEOUT`.
//! The kinds and what each cannot do are in kind.rs.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::kind::ServerKind;
use super::ports::{PortSlot, reserve_slot};
use super::repo_root;
use super::tempdir::{TempDir, temp_dir};

/// The login every test server accepts. For vsftpd it is a system account (made by
/// scripts/servers/install.sh, or by start.sh when missing); the others use virtual users.
pub const TEST_USER: &str = "ftpfs-test";
pub const TEST_PASSWORD: &str = "ftpfs-test-pw";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running (or stopped, between `stop` and `restart`) FTP server on 127.0.0.1.
pub struct TestServer {
    pub kind: ServerKind,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// What the user sees as "/". Prefer `seed_file`/`seed_dir` to put content there, so the
    /// server's user owns it and may overwrite or delete it.
    pub root: PathBuf,
    child: Option<Child>,
    last_pid: u32,
    extra_config: Option<PathBuf>,
    slot: PortSlot,
    state: TempDir,
    _root_dir: TempDir,
}

impl TestServer {
    /// Starts a server of `kind`; panics (with a clear message) when it is not installed.
    pub fn start(kind: ServerKind) -> TestServer {
        Self::start_with_extra_config(kind, "")
    }

    /// Like `start`, with `extra` handed to start.sh as EXTRA_CONFIG_FILE: config lines for
    /// vsftpd/proftpd (override the defaults), command-line options one per line for
    /// pure-ftpd, Python statements for pyftpdlib (`handler`, `server`, `authorizer` in scope).
    pub fn start_with_extra_config(kind: ServerKind, extra: &str) -> TestServer {
        if let Some(reason) = kind.unavailable_reason() {
            panic!(
                "{kind} test server unavailable: {reason}; run scripts/servers/install.sh as root"
            );
        }
        Self::launch(kind, extra)
    }

    /// Starts a server, or returns None when it is not selected or not installed here (the
    /// skip rule: a note locally, a panic under CI=true).
    pub fn try_start(kind: ServerKind) -> Option<TestServer> {
        Self::try_start_with_extra_config(kind, "")
    }

    pub fn try_start_with_extra_config(kind: ServerKind, extra: &str) -> Option<TestServer> {
        kind.available_or_skip().then(|| Self::launch(kind, extra))
    }

    fn launch(kind: ServerKind, extra: &str) -> TestServer {
        let root_dir = temp_dir(&format!("ftpfs-root-{kind}"));
        let state = temp_dir(&format!("ftpfs-state-{kind}"));
        let extra_config = if extra.is_empty() {
            None
        } else {
            let path = state.path().join("extra.conf");
            fs::write(&path, extra).expect("write extra config");
            Some(path)
        };
        let slot = reserve_slot();
        let mut server = TestServer {
            kind,
            port: slot.control,
            user: TEST_USER.to_string(),
            password: TEST_PASSWORD.to_string(),
            root: root_dir.path().to_path_buf(),
            child: None,
            last_pid: 0,
            extra_config,
            slot,
            state,
            _root_dir: root_dir,
        };
        server.spawn_and_wait_ready();
        server
    }

    /// `ftp://127.0.0.1:PORT` (no trailing slash, no credentials).
    pub fn url(&self) -> String {
        format!("ftp://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The passive data port range the server advertises (inclusive).
    pub fn passive_ports(&self) -> (u16, u16) {
        (self.slot.passive_low, self.slot.passive_high)
    }

    /// PID of the server process (the start.sh process, which exec'd the server). For
    /// vsftpd, proftpd and pure-ftpd this is the listener; sessions are its children.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(self.last_pid)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The uid/gid the server writes files as (None: root, for pyftpdlib).
    pub fn file_owner(&self) -> Option<(u32, u32)> {
        match self.kind {
            ServerKind::Pyftpdlib | ServerKind::Unftp => None,
            _ => Some(
                lookup_system_user(TEST_USER)
                    .unwrap_or_else(|| panic!("system user {TEST_USER} is missing")),
            ),
        }
    }

    /// Path on disk of the server path `relative` (leading '/' allowed).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    /// Writes a file into the root (creating parent directories), owned like server uploads.
    pub fn seed_file(&self, relative: &str, content: &[u8]) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            self.create_dirs_owned(parent);
        }
        fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.give_to_server_user(&path);
        path
    }

    /// Creates a directory (and parents) in the root, owned like server-made directories.
    pub fn seed_dir(&self, relative: &str) -> PathBuf {
        let path = self.path(relative);
        self.create_dirs_owned(&path);
        path
    }

    fn create_dirs_owned(&self, dir: &Path) {
        let mut missing = Vec::new();
        let mut current = Some(dir);
        while let Some(path) = current {
            if path.exists() || !path.starts_with(&self.root) {
                break;
            }
            missing.push(path.to_path_buf());
            current = path.parent();
        }
        for path in missing.iter().rev() {
            fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
            self.give_to_server_user(path);
        }
    }

    fn give_to_server_user(&self, path: &Path) {
        if let Some((uid, gid)) = self.file_owner() {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// Everything the server and start.sh logged so far (for assertion messages).
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let Ok(entries) = fs::read_dir(self.state.path()) else {
            return text;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if !(name.ends_with(".log") || name.ends_with("xferlog")) {
                continue;
            }
            let content = fs::read(&path).unwrap_or_default();
            let tail = &content[content.len().saturating_sub(16 * 1024)..];
            text.push_str(&format!(
                "----- {name} -----\n{}\n",
                String::from_utf8_lossy(tail)
            ));
        }
        text
    }

    /// The whole of vsftpd's protocol log (`log_ftp_protocol=YES`: every command it was sent),
    /// for tests that count commands; "" for the other kinds.
    #[allow(dead_code)] // not every test binary counts commands
    pub fn vsftpd_protocol_log(&self) -> String {
        let log = fs::read(self.state.path().join("vsftpd.log")).unwrap_or_default();
        String::from_utf8_lossy(&log).into_owned()
    }

    /// Kills the server and all its session processes (SIGKILL to the process group), so
    /// connected clients see their connections drop. Root and port stay reserved.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let server_pid = child.id();
        let sessions = descendants(server_pid);
        // SAFETY: kill() with a negative pid signals the process group we created for the
        // server (process_group(0) makes its pgid equal to its pid); the session pids were
        // just read as descendants of our child, so they are ours to kill.
        unsafe {
            libc::kill(-(server_pid as libc::pid_t), libc::SIGKILL);
            for pid in &sessions {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        // Wait (bounded) until the sessions are gone so their sockets are closed.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && any_alive(&sessions) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops and starts the server again with the same port, root and config, for "server
    /// restarted while mounted" tests. Returns when the new server greets.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn_and_wait_ready();
    }

    fn spawn_and_wait_ready(&mut self) {
        let log_path = self.state.path().join("server.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open server.log");
        let log_for_stderr = log.try_clone().expect("clone server.log handle");
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("scripts/servers/start.sh"))
            .arg(self.kind.name())
            .arg(&self.root)
            .arg(self.port.to_string())
            .arg(self.slot.passive_low.to_string())
            .arg(self.slot.passive_high.to_string())
            .arg(&self.user)
            .arg(&self.password)
            .arg(self.state.path());
        if let Some(extra) = &self.extra_config {
            command.arg(extra);
        }
        command
            .env("FTPFS_STOP_WITH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr))
            .process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run start.sh for {}: {error}", self.kind));
        self.last_pid = child.id();
        self.child = Some(child);
        if let Err(problem) = self.wait_ready() {
            let logs = self.logs();
            self.stop();
            panic!(
                "{} on port {} did not become ready: {problem}\n{logs}",
                self.kind, self.port
            );
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_problem = String::from("no attempt");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("server exited early with {status}"));
            }
            match read_greeting(self.addr()) {
                Ok(()) => {
                    self.wait_probe_session_reaped();
                    return Ok(());
                }
                Err(problem) => last_problem = problem,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no 220 greeting within {READY_TIMEOUT:?}: {last_problem}"
        ))
    }
}

impl TestServer {
    /// vsftpd, proftpd and pure-ftpd fork a process per session and count connections per IP
    /// until they reap it; wait (bounded) until the readiness probe's session processes are
    /// reaped, so tests of `max_per_ip=N`-style limits start from zero connections.
    fn wait_probe_session_reaped(&self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !descendants(self.pid()).is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TestServer")
            .field("kind", &self.kind)
            .field("port", &self.port)
            .field("passive_ports", &self.passive_ports())
            .field("root", &self.root)
            .field("pid", &self.pid())
            .finish()
    }
}

/// Connects, reads the (possibly multi-line) 220 greeting, says QUIT and reads until the
/// server closes, so the probe session is over before the test starts counting connections.
fn read_greeting(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|error| format!("connect: {error}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|error| error.to_string())?);
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|error| format!("reading greeting: {error}"))?;
        if read == 0 {
            return Err("connection closed before the greeting".into());
        }
        if line.starts_with("220 ") {
            break;
        }
        if !line.starts_with("220-") && !line.starts_with(' ') {
            return Err(format!("unexpected greeting line {line:?}"));
        }
    }
    let _ = stream.write_all(b"QUIT\r\n");
    let mut rest = String::new();
    while reader.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {
        rest.clear();
    }
    Ok(())
}

/// (pid, parent pid, is zombie) of every process, from /proc.
fn process_table() -> Vec<(u32, u32, bool)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // Fields after the ")" that ends the command name: state ppid ...
            let (_, after_name) = stat.rsplit_once(')')?;
            let mut fields = after_name.split_whitespace();
            let zombie = fields.next()? == "Z";
            let parent = fields.next()?.parse::<u32>().ok()?;
            Some((pid, parent, zombie))
        })
        .collect()
}

/// All descendants of `root` (zombies included). vsftpd's sessions call setsid(), so the
/// process group does not find them; the parent links do.
fn descendants(root: u32) -> Vec<u32> {
    let table = process_table();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            table
                .iter()
                .filter(|(_, ppid, _)| *ppid == parent)
                .map(|(pid, _, _)| *pid),
        );
        index += 1;
    }
    found.remove(0);
    found
}

fn any_alive(pids: &[u32]) -> bool {
    process_table()
        .iter()
        .any(|(pid, _, zombie)| !zombie && pids.contains(pid))
}

/// uid and gid of a system user, from /etc/passwd.
pub fn lookup_system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}
