//! `SmallDisk`: a small tmpfs mounted over a test server's root, so an upload really fills the
//! disk and the server answers the way it does on a full disk in production (no fake replies).
//!
//! Mounting a tmpfs needs root. Without it (or when `mount` fails) the one skip rule applies:
//! a note locally, a failure under CI=true (`skip::unavailable`). The tmpfs takes the owner and
//! mode of the directory it covers, so the server (which may write as a system user, or as
//! root) can still write there.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::server::TestServer;
use super::skip::{current_test, is_root, unavailable};

/// A tmpfs over a server's root; unmounted on drop (lazily when a server session still sits
/// in it).
#[derive(Debug)]
pub struct SmallDisk {
    root: PathBuf,
}

impl SmallDisk {
    /// A tmpfs of `bytes` over `server.root` (which must still be empty: the tmpfs hides what
    /// is below it). None, after the skip rule, when this machine cannot mount one.
    pub fn over(server: &TestServer, bytes: usize) -> Option<SmallDisk> {
        let what = format!("{} (a {bytes}-byte tmpfs)", current_test());
        if !is_root() {
            unavailable(&what, "mounting a tmpfs needs root");
            return None;
        }
        let meta = std::fs::metadata(&server.root)
            .unwrap_or_else(|error| panic!("server root {}: {error}", server.root.display()));
        let options = format!(
            "size={bytes},uid={},gid={},mode={:o}",
            meta.uid(),
            meta.gid(),
            meta.mode() & 0o7777
        );
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "ftpfs-test-disk"])
            .arg(&server.root)
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(output) if output.status.success() => Some(SmallDisk {
                root: server.root.clone(),
            }),
            Ok(output) => {
                let reason = format!(
                    "mount -t tmpfs failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                unavailable(&what, &reason);
                None
            }
            Err(error) => {
                unavailable(&what, &format!("cannot run mount: {error}"));
                None
            }
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
            command
                .arg(&self.root)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !unmounted(false) {
            std::thread::sleep(Duration::from_millis(500)); // a server session may linger
            if !unmounted(false) {
                // Detach it now; the kernel frees it when the last session leaves.
                unmounted(true);
            }
        }
    }
}
