//! The `ftpfs status MOUNTPOINT` command: ask the mount's process over its socket and print.
//!
//! One-shot output is plain text (or JSON) with no terminal control, so it works in pipes, cron
//! mails and scripts. `--watch` redraws like watch(1): on a terminal the screen is cleared before
//! each refresh, otherwise the reports are simply separated by a blank line. The watch ends when
//! the mount goes away (exit status 1 with the reason) or on Ctrl-C.

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

/// One request to the mount on `mountpoint`.
pub(crate) fn query(mountpoint: &Path, format: &str) -> Result<String, String> {
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
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    (&stream)
        .write_all(format!("{format}\n").as_bytes())
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
