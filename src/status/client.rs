//! The `ftpfs status MOUNTPOINT` command: ask the mount's process over its socket and print.
//!
//! One-shot output is plain text (or JSON) with no terminal control, so it works in pipes, cron
//! mails and scripts. `--watch` redraws like watch(1): on a terminal the screen is cleared before
//! each refresh, otherwise the reports are simply separated by a blank line. The watch ends when
//! the mount goes away (exit status 1 with the reason) or on Ctrl-C.
//!
//! `ftpfs sync MOUNTPOINT` asks the same socket to wait for the write-back queue: exit status 0
//! once every upload is on the server (or write-back mode is off), 1 with one line naming what
//! failed for good or is still pending when `--timeout` ran out (each such path also on a line
//! of its own on stderr first).

use std::io::{IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::socket::{IO_TIMEOUT, socket_path};

/// What `ftpfs status` was asked to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRequest {
    /// The directory the mount to ask is on (its socket is found from it).
    pub mountpoint: PathBuf,
    /// Print JSON for scripts instead of the table for people.
    pub json: bool,
    /// Refresh every this long until interrupted.
    pub watch: Option<Duration>,
}

/// What `ftpfs sync` was asked to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    /// The directory the mount is on.
    pub mountpoint: PathBuf,
    /// How long to wait for the queue.
    pub timeout: Duration,
}

/// Largest answer accepted from a status socket.
const MAX_ANSWER: u64 = 1 << 20;

/// Print the status once, or repeatedly with `watch`. Errors are one line for the user.
pub(crate) fn run(request: &StatusRequest) -> Result<(), String> {
    let mountpoint = std::path::absolute(&request.mountpoint)
        .map_err(|e| format!("{}: {e}", request.mountpoint.display()))?;
    let format = if request.json { "json" } else { "text" };
    let Some(interval) = request.watch else {
        let answer = query(&mountpoint, format)?;
        return print(&answer);
    };
    let terminal = std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let answer = query(&mountpoint, format)?;
        let framed = if terminal {
            // Home, clear screen, a header: the same redraw watch(1) does.
            format!(
                "\x1b[H\x1b[2JEvery {:.1}s: ftpfs status {}   (Ctrl-C to stop)\n\n{answer}",
                interval.as_secs_f64(),
                mountpoint.display()
            )
        } else if first {
            answer
        } else {
            format!("\n{answer}")
        };
        print(&framed)?;
        first = false;
        std::thread::sleep(interval);
    }
}

fn print(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the status: {e}"))
}

/// Wait for the write-back queue of a mount (see the module doc).
pub(crate) fn sync(request: &SyncRequest) -> Result<(), String> {
    let mountpoint = std::path::absolute(&request.mountpoint)
        .map_err(|e| format!("{}: {e}", request.mountpoint.display()))?;
    // Whole seconds, rounded up: the server waits that long, we a little longer.
    let secs = request.timeout.as_secs() + u64::from(request.timeout.subsec_nanos() > 0);
    let answer = ask(
        &mountpoint,
        &format!("sync {secs}"),
        Duration::from_secs(secs) + IO_TIMEOUT,
    )?;
    let (left, failed) = sync_result(&answer)?;
    for path in &left {
        eprintln!("ftpfs: not uploaded yet: {path}");
    }
    for failure in &failed {
        eprintln!("ftpfs: upload failed for good: {failure}");
    }
    match (left.len(), failed.len()) {
        (0, 0) => Ok(()),
        (0, failed) => Err(format!(
            "{failed} upload(s) failed for good; their data stays in the write-back spool \
             (see ftpfs status {})",
            mountpoint.display()
        )),
        (left, failed) => Err(format!(
            "timed out after {secs} s with {left} upload(s) still pending and {failed} failed \
             for good (see ftpfs status {})",
            mountpoint.display()
        )),
    }
}

/// The paths left and the failures (`PATH: MESSAGE`) of a `sync` answer.
fn sync_result(answer: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let mut lines = answer.lines();
    let (mut left, mut failed) = (Vec::new(), Vec::new());
    match lines.next() {
        Some("off" | "done" | "timeout") => {}
        _ => return Err(format!("unexpected answer to sync: {answer:?}")),
    }
    for line in lines {
        if let Some(path) = line.strip_prefix("left ") {
            left.push(path.to_string());
        } else if let Some(failure) = line.strip_prefix("failed ") {
            failed.push(failure.to_string());
        }
    }
    Ok((left, failed))
}

/// One request to the mount on `mountpoint`.
pub(crate) fn query(mountpoint: &Path, format: &str) -> Result<String, String> {
    ask(mountpoint, format, IO_TIMEOUT)
}

/// Send `request` to the mount on `mountpoint`, wait up to `wait` for the whole answer.
fn ask(mountpoint: &Path, request: &str, wait: Duration) -> Result<String, String> {
    let path = socket_path(mountpoint);
    let stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} is not an ftpfs mount of this user (no status socket at {})",
            mountpoint.display(),
            path.display()
        ),
        // The socket file outlived its process (killed, or crashed).
        std::io::ErrorKind::ConnectionRefused => format!(
            "the process of the mount on {} has ended (stale {})",
            mountpoint.display(),
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    stream
        .set_read_timeout(Some(wait))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    (&stream)
        .write_all(format!("{request}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut answer = String::new();
    (&stream)
        .take(MAX_ANSWER)
        .read_to_string(&mut answer)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if answer.is_empty() {
        return Err(format!(
            "{}: the mount's process gave no answer",
            path.display()
        ));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_answers() {
        let none = (Vec::<String>::new(), Vec::<String>::new());
        assert_eq!(sync_result("off\n"), Ok(none.clone()));
        assert_eq!(sync_result("done\n"), Ok(none));
        assert_eq!(
            sync_result("timeout\nleft /a\nfailed /b: 553 no\n"),
            Ok((vec!["/a".to_string()], vec!["/b: 553 no".to_string()]))
        );
        assert!(sync_result("").is_err());
        assert!(sync_result("error: unknown request\n").is_err());
    }
}
