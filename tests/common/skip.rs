//! The one skip rule of the integration tests.
//!
//! A test that needs something this machine lacks (root, a usable /dev/fuse, an installed FTP
//! server) SKIPS with a one-line note on stderr when run locally, and FAILS under `CI=true`,
//! where everything is installed and a test that did not run would be a test that asserted
//! nothing. Every check that can lead to a skip goes through `unavailable`, so there is no
//! second policy anywhere (no silent returns, no bare panics on a missing server).
//!
//! A server that cannot do what a test needs (vsftpd setting a directory's time) is a different
//! thing: not a missing tool but a documented limitation. Those come from the one table in
//! `kind::LIMITATIONS` and are skipped in CI too (see `ServerKind::lacks`).

use std::ffi::CString;

/// True when running in CI (env CI set and not "", "0" or "false"): skips become failures.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|value| !value.is_empty() && value != "0" && !value.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

/// Reports that `what` cannot run here because of `reason`: a skip note locally (returns, so
/// the caller returns early), a panic under CI.
pub fn unavailable(what: &str, reason: &str) {
    if in_ci() {
        panic!("{what} cannot run in CI: {reason}; run scripts/servers/install.sh as root");
    }
    note(&format!(
        "SKIP {what}: {reason} (run as root after scripts/servers/install.sh)"
    ));
}

/// Writes a line to the real stderr. `eprintln!` output of a passing test is swallowed by
/// libtest's capture; a skip must be seen, so it bypasses the capture.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Why FUSE mounts cannot be made here, or None when they can: /dev/fuse must be readable and
/// writable by us (it is 0600 root on many machines) and, for a non-root user, fusermount3
/// must be installed.
pub fn fuse_unavailable_reason() -> Option<String> {
    let device = CString::new("/dev/fuse").expect("no NUL in a literal");
    // SAFETY: access() reads a NUL-terminated path we own; no other preconditions.
    if unsafe { libc::access(device.as_ptr(), libc::R_OK | libc::W_OK) } != 0 {
        return Some(format!(
            "/dev/fuse is not usable: {}",
            std::io::Error::last_os_error()
        ));
    }
    if !is_root() && !std::path::Path::new("/usr/bin/fusermount3").exists() {
        return Some("not root and no /usr/bin/fusermount3".into());
    }
    None
}

/// True when FUSE mounts work here; otherwise applies the skip rule for `what` and returns
/// false (the test returns early).
pub fn fuse_available(what: &str) -> bool {
    match fuse_unavailable_reason() {
        None => true,
        Some(reason) => {
            unavailable(what, &reason);
            false
        }
    }
}

/// The name of the running test (the thread name libtest gives it), for skip notes.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}
