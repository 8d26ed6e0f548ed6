//! Data connections opened ahead (see `ftp::data_channel`): after a transfer the pool opens the
//! next passive data connection in the background. These tests break that connection in the
//! ways the real world does (killed in the kernel, left too long) and check the next transfer
//! still succeeds with the right bytes, and that a refused transfer still reports its error to
//! the call that caused it. Every server kind.

#[macro_use]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;
use common::faults::config_for;
use ftpfs::ftp::{FtpRemote, data_channel::READY_MAX_AGE};
use ftpfs::remote::Remote;

fn connect(server: &TestServer) -> FtpRemote {
    FtpRemote::connect(config_for(server, server.port, Duration::from_secs(10))).expect("login")
}

fn upload(remote: &FtpRemote, path: &str, content: &[u8]) {
    let mut writer = remote.create(Path::new(path)).expect("STOR starts");
    writer.write_all(content).expect("data sent");
    writer.finish().expect("226");
}

/// Wait until no connection is busy, i.e. the background step that opens the next data
/// connection ahead has finished and returned its connection to the pool.
fn settle(remote: &FtpRemote) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote.pool().counts().busy > 0 {
        assert!(Instant::now() < deadline, "the pool never settled");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(remote.pool().counts().idle > 0, "a connection is idle");
}

/// Kill (in the kernel, `ss -K`: a reset to the server, an error on our end) every established
/// connection to the server's passive ports; returns how many ss reported.
fn kill_data_connections(server: &TestServer) -> usize {
    let (low, high) = server.passive_ports();
    let filter = format!("( dport >= :{low} and dport <= :{high} )");
    let out = Command::new("ss")
        .args(["-K", "-t", "-n", "state", "established", &filter])
        .output()
        .expect("run ss");
    assert!(out.status.success(), "ss -K failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.contains("127.0.0.1:"))
        .count()
}

fn killed_data_connection_opened_ahead_is_replaced(server: &TestServer) {
    let remote = connect(server);
    upload(&remote, "/first", b"first");
    settle(&remote);
    let killed = kill_data_connections(server);
    assert!(killed >= 1, "a data connection was waiting, opened ahead");
    upload(&remote, "/second", b"second after a killed data connection");
    assert_eq!(
        std::fs::read(server.path("second")).expect("uploaded"),
        b"second after a killed data connection"
    );
}
server_tests!(killed_data_connection_opened_ahead_is_replaced);

fn data_connection_opened_ahead_too_long_ago_is_replaced(server: &TestServer) {
    let remote = connect(server);
    upload(&remote, "/first", b"first");
    settle(&remote);
    std::thread::sleep(READY_MAX_AGE + Duration::from_secs(1));
    upload(&remote, "/late", b"late");
    assert_eq!(
        std::fs::read(server.path("late")).expect("uploaded"),
        b"late"
    );
    // The replaced one must not have left a stray reply behind: the next exchanges still pair.
    settle(&remote);
    upload(&remote, "/after", b"after");
    assert_eq!(
        std::fs::read(server.path("after")).expect("uploaded"),
        b"after"
    );
    let names: Vec<String> = remote
        .list(Path::new("/"))
        .expect("list")
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"late".to_string()), "{names:?}");
}
server_tests!(data_connection_opened_ahead_too_long_ago_is_replaced);

fn refused_store_on_a_connection_opened_ahead_reports_its_error(server: &TestServer) {
    let remote = connect(server);
    upload(&remote, "/first", b"first");
    settle(&remote);
    // Most servers refuse the STOR itself; unftp says 150 first and fails the transfer's end.
    match remote.create(Path::new("/no/such/dir/file")) {
        Err(_) => {}
        Ok(mut writer) => {
            let _ = writer.write_all(b"lost");
            assert!(
                writer.finish().is_err(),
                "STOR into a missing directory must fail"
            );
        }
    }
    // The failure cost nothing else: the next upload works.
    settle(&remote);
    upload(&remote, "/next", b"next");
    assert_eq!(
        std::fs::read(server.path("next")).expect("uploaded"),
        b"next"
    );
}
server_tests!(refused_store_on_a_connection_opened_ahead_reports_its_error);
