//! Helpers of the fault tests (faults_*.rs): a deadline for each step, an `FtpConfig` for a
//! test server reached through any port (a fault proxy's), whole-file reads through a remote,
//! and vsftpd started under the skip rule (plus the FUSE check for the mount tests).

use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ftpfs::ftp::{FtpConfig, FtpRemote};
use ftpfs::remote::Remote;

use super::kind::ServerKind;
use super::proxy::FaultProxy;
use super::server::TestServer;
use super::skip::{current_test, fuse_available};

/// vsftpd (every fault test runs on it: LIST only, strict about locks), or None after the skip
/// rule when it cannot run here.
pub fn vsftpd() -> Option<TestServer> {
    vsftpd_with("")
}

/// vsftpd with extra config lines, or None after the skip rule.
pub fn vsftpd_with(extra: &str) -> Option<TestServer> {
    TestServer::try_start_with_extra_config(ServerKind::Vsftpd, extra)
}

/// vsftpd for a test that mounts it: None after the skip rule when FUSE or vsftpd is missing.
pub fn vsftpd_for_mount() -> Option<TestServer> {
    vsftpd_for_mount_with("")
}

/// `vsftpd_for_mount` with extra config lines.
pub fn vsftpd_for_mount_with(extra: &str) -> Option<TestServer> {
    if !fuse_available(&current_test()) {
        return None;
    }
    vsftpd_with(extra)
}

pub const MIB: usize = 1024 * 1024;

/// Runs `body` on a thread and fails the test if it takes longer than `limit` (the thread is
/// left behind, but the test never hangs). Returns the result and how long it took.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (sender, receiver) = mpsc::channel();
    let started = Instant::now();
    thread::Builder::new()
        .name(format!("deadline: {what}"))
        .spawn(move || {
            let _ = sender.send(body());
        })
        .expect("spawn");
    match receiver.recv_timeout(limit) {
        Ok(value) => (value, started.elapsed()),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still running after {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

pub fn config_for(server: &TestServer, port: u16, io_timeout: Duration) -> FtpConfig {
    let mut config = FtpConfig::new("127.0.0.1", port);
    config.user = Some(server.user.clone());
    config.password = Some(server.password.clone());
    config.io_timeout = io_timeout;
    config.connect_timeout = io_timeout;
    config
}

pub fn remote_via(server: &TestServer, proxy: &FaultProxy) -> FtpRemote {
    FtpRemote::connect(config_for(server, proxy.port, Duration::from_secs(10))).expect("login")
}

/// Read a whole file through `remote` from `offset`.
pub fn read_from(remote: &FtpRemote, path: &str, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = remote
        .open_read(Path::new(path), offset)
        .map_err(|e| e.into_io())?;
    reader.read_to_end(&mut out).map(|_| out)
}
