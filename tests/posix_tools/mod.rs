//! The external POSIX test programs (`fsx`, `pjdfstest`) that tests/fsx.rs and
//! tests/pjdfstest.rs run on real mounts: where to find them and how to run them with a bound.
//!
//! They are crates.io programs, not libraries we link: scripts/servers/install.sh installs them
//! with `cargo install --root` into FTPFS_TOOLS_DIR (default /var/tmp/ftpfs-tools), pinned to the
//! versions below so a new release cannot change what CI checks. A missing tool is a skip note
//! locally and a panic in CI (env CI=true), like a missing server.
//!
//! Kept apart from tests/common on purpose: only these two test binaries need it, and it uses
//! the harness only through `common::in_ci`.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The fsx version install.sh installs (and the one whose CLI and config these tests use).
pub const FSX_VERSION: &str = "0.3.2";
/// The pjdfstest version install.sh installs (its test names are in the expected-failures list).
pub const PJDFSTEST_VERSION: &str = "0.2.2";

/// Where install.sh puts the tools (`bin/fsx`, `bin/pjdfstest`).
fn tools_dir() -> PathBuf {
    std::env::var_os("FTPFS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ftpfs-tools"))
}

/// The installed program `name`, or None (with a skip note) when it is missing here. In CI a
/// missing tool panics: these tests must run there.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = tools_dir().join("bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    let problem = format!(
        "{} is missing; run scripts/servers/install.sh as root (cargo install {name})",
        path.display()
    );
    assert!(!crate::common::in_ci(), "{problem}");
    eprintln!("SKIP: {problem}");
    None
}

/// What a bounded run of a program left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    /// The last `lines` lines of stdout and stderr, for assertion messages.
    pub fn tail(&self, lines: usize) -> String {
        let tail_of = |text: &str| {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        };
        format!(
            "--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            tail_of(&self.stdout),
            tail_of(&self.stderr)
        )
    }
}

/// Runs `command` to the end, killing it (by its pid, which we own) when it takes longer than
/// `limit`: a hang in the filesystem must fail the test, not stall CI. Panics on a timeout.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Finished {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_bounded(&mut child, limit);
    let finished = Finished {
        status: status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("wait for the killed child")
        }),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    };
    assert!(
        status.is_some(),
        "{command:?} did not finish within {limit:?}; killed it\n{}",
        finished.tail(40)
    );
    finished
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads a child's pipe to the end on a thread, so a chatty child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
