//! The FTP client (`FtpRemote`) under network faults: a real vsftpd behind the fault proxy.
//! A reader gets every byte exactly once or an error, never wrong data; an upload either fails
//! loudly or is complete on the server; cut control connections are retried; garbage replies
//! are errors, not hangs; the pool learns a server's connection limit and queues behind slow
//! transfers; a lying PASV reply is not followed. Every test runs under a deadline.

#[macro_use]
mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::faults::{MIB, config_for, read_from, remote_via, vsftpd, vsftpd_with, within};
use common::proxy::{Channel, CutRule, CutStyle, Direction, FaultProxy, Garbage};
use common::{assert_same, pattern};
use ftpfs::ftp::FtpRemote;
use ftpfs::remote::faulty::FaultyRemote;
use ftpfs::remote::{Remote, RemoteErrorKind, RemoteResult};

/// Upload `data` as `name`: create, write in 256 KiB pieces, finish.
fn upload(remote: &FtpRemote, name: &str, data: &[u8]) -> RemoteResult<()> {
    let mut writer = remote.create(Path::new(name))?;
    for piece in data.chunks(256 * 1024) {
        writer
            .write_all(piece)
            .map_err(ftpfs::remote::RemoteError::from_io)?;
    }
    writer.finish()
}

#[test]
fn ftp_remote_reader_gets_every_byte_once_or_an_error() {
    let Some(server) = vsftpd() else {
        return;
    };
    let len = 48 * MIB;
    let expected = pattern(len, 7);
    server.seed_file("f.bin", &expected);
    let proxy = FaultProxy::start(server.addr());
    let remote = remote_via(&server, &proxy);
    let cuts = 8;
    proxy.add_cut(CutRule::download_after(Channel::Data, 5 * MIB as u64, cuts));
    let ((got, errors), took) = within(Duration::from_secs(60), "resuming reader", move || {
        let mut got: Vec<u8> = Vec::new();
        let mut errors = 0;
        loop {
            let mut reader = match remote.open_read(Path::new("/f.bin"), got.len() as u64) {
                Ok(reader) => reader,
                Err(e) if e.is_transient() => {
                    errors += 1;
                    continue;
                }
                Err(e) => panic!("open_read: {e}"),
            };
            let mut buffer = vec![0u8; 256 * 1024];
            let ended_cleanly = loop {
                match reader.read(&mut buffer) {
                    Ok(0) => break true,
                    Ok(n) => got.extend_from_slice(&buffer[..n]),
                    Err(_) => break false,
                }
            };
            // Whatever arrived, error or not, must be the file's bytes at their offsets.
            let check = got.len().min(expected.len());
            assert_same(&got[..check], &expected[..check], "bytes before the cut");
            if ended_cleanly {
                return (got, errors);
            }
            errors += 1;
            assert!(errors <= 3 * cuts, "too many failures");
        }
    });
    assert_same(&got, &pattern(len, 7), "resumed download");
    assert_eq!(proxy.cuts_fired(), cuts);
    assert!(
        errors >= cuts,
        "each cut surfaced as an error ({errors} for {cuts} cuts)"
    );
    eprintln!("48 MiB via FtpRemote through {cuts} cuts in {took:?}");
}

#[test]
fn download_ended_by_a_clean_eof_midway_is_an_error_not_a_short_file() {
    let Some(server) = vsftpd() else {
        return;
    };
    let expected = pattern(32 * MIB, 8);
    server.seed_file("f.bin", &expected);
    let proxy = FaultProxy::start(server.addr());
    let remote = remote_via(&server, &proxy);
    // The client sees a normal end of the data stream after 3 MiB; only the server knows.
    proxy.add_cut(CutRule::download_after(Channel::Data, 3 * MIB as u64, 1).clean_to_client());
    let (outcome, _) = within(Duration::from_secs(30), "clean-EOF cut", move || {
        read_from(&remote, "/f.bin", 0)
    });
    assert_eq!(proxy.cuts_fired(), 1);
    match outcome {
        Ok(data) => assert_same(&data, &expected, "a download reported as complete"),
        Err(e) => eprintln!("clean-EOF cut: {e}"),
    }
}

#[test]
fn ftp_remote_upload_cut_midway_fails_loudly() {
    let Some(server) = vsftpd() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let data = Arc::new(pattern(24 * MIB, 3));
    for (round, cut_at) in [(0, 64 * 1024), (1, 8 * MIB), (2, 24 * MIB - 10)] {
        proxy.add_cut(CutRule::upload_after(cut_at as u64, 1));
        // A fresh pool per round: the proxy arms a rule on connections opened after it, and a
        // pool keeps the next data connection opened ahead (data_channel).
        let remote = Arc::new(remote_via(&server, &proxy));
        let name = format!("/up{round}.bin");
        let (remote2, data2, name2) = (remote.clone(), data.clone(), name.clone());
        let (outcome, _) = within(Duration::from_secs(60), "cut upload", move || {
            let mut writer = remote2.create(Path::new(&name2))?;
            for piece in data2.chunks(256 * 1024) {
                writer
                    .write_all(piece)
                    .map_err(ftpfs::remote::RemoteError::from_io)?;
            }
            writer.finish()
        });
        let on_server = fs::read(server.path(&name)).unwrap_or_default();
        match outcome {
            Ok(()) => assert_same(&on_server, &data, "an upload reported as complete"),
            Err(e) => eprintln!(
                "cut at {cut_at}: {e} (server has {} bytes)",
                on_server.len()
            ),
        }
        assert_eq!(proxy.cuts_fired(), round + 1);
        // The pool is healthy afterwards.
        assert!(remote.list(Path::new("/")).is_ok());
    }
}

/// Upload `len` bytes as `name` to a fresh vsftpd through a proxy armed with `rule`, which
/// must fire once, with the pool's connection cap set to `cap` when given; None after the skip rule, else the outcome, what the server has, and what
/// was sent.
fn upload_under(
    rule: CutRule,
    name: &str,
    len: usize,
    cap: Option<usize>,
) -> Option<(RemoteResult<()>, Vec<u8>, Vec<u8>)> {
    let server = vsftpd()?;
    let proxy = FaultProxy::start(server.addr());
    proxy.add_cut(rule);
    let mut config = config_for(&server, proxy.port, Duration::from_secs(10));
    if let Some(cap) = cap {
        config.max_connections = cap;
    }
    let remote = FtpRemote::connect(config).expect("login");
    let data = pattern(len, 4);
    let (sent, path) = (data.clone(), format!("/{name}"));
    let (outcome, _) = within(Duration::from_secs(60), name, move || {
        upload(&remote, &path, &sent)
    });
    assert_eq!(proxy.cuts_fired(), 1);
    let on_server = fs::read(server.path(name)).unwrap_or_default();
    Some((outcome, on_server, data))
}

#[test]
fn ftp_remote_upload_with_final_reply_lost_is_an_error_or_complete() {
    // The first control connection loses its first 226: the upload's final reply.
    let rule = CutRule::control_at_reply("226", false, 1);
    let Some((outcome, on_server, expected)) = upload_under(rule, "lost-reply.bin", 4 * MIB, None)
    else {
        return;
    };
    // Every byte reached the server before its 226 was lost: whatever the client reports, the
    // server must not be left with a short file, and a reported success must be complete.
    if let Err(e) = &outcome {
        eprintln!("lost 226: {e} (server has {} bytes)", on_server.len());
    }
    if outcome.is_ok() || !on_server.is_empty() {
        assert_same(
            &on_server,
            &expected,
            "what the server kept after a lost 226",
        );
    }
}

#[test]
fn small_upload_whose_connection_drops_before_the_150_is_complete() {
    // The STOR goes out without waiting for its 150; a small file's data and end go with it,
    // and the connection breaks where the 150 should arrive: the upload starts over.
    let rule = CutRule::control_at_reply("150", false, 1);
    let Some((outcome, on_server, sent)) = upload_under(rule, "no-150.bin", 64 * 1024, None) else {
        return;
    };
    if let Err(e) = &outcome {
        panic!("an upload whose 150 was lost failed: {e}");
    }
    assert_same(&on_server, &sent, "the upload after its 150 was lost");
}

#[test]
fn upload_on_a_connection_dead_before_its_stor_starts_over_on_another() {
    // The STOR goes out without a round trip on a connection that died before the server saw
    // it (stale in the pool): the failure shows only when its reply is read, and the upload
    // must start over on another connection, as a transfer start that failed is retried.
    // Small: found at the finish; big: at the write that would send more than is kept. With
    // a cap of two connections, one for transfers: the dead one gives its slot back first.
    for (len, cap) in [(256 * 1024, None), (8 * MIB, None), (256 * 1024, Some(2))] {
        let rule = CutRule::control_at_command("STOR", 1);
        let Some((outcome, on_server, sent)) = upload_under(rule, "stale.bin", len, cap) else {
            return;
        };
        if let Err(e) = &outcome {
            panic!("{len} bytes (cap {cap:?}) on a dead connection did not start over: {e}");
        }
        assert_same(&on_server, &sent, "the upload started over");
    }
}

#[test]
fn eight_parallel_readers_share_a_two_connection_limit() {
    let Some(server) = vsftpd_with("max_per_ip=2\n") else {
        return;
    };
    for i in 0..8 {
        server.seed_file(&format!("f{i}.bin"), &pattern(4 * MIB, i as u64));
    }
    let mut config = config_for(&server, server.port, Duration::from_secs(10));
    config.max_connections = 8;
    let remote = Arc::new(FtpRemote::connect(config).expect("login"));
    let (results, took) = within(Duration::from_secs(90), "8 readers, 2 slots", {
        let remote = remote.clone();
        move || {
            let workers: Vec<_> = (0..8)
                .map(|i| {
                    let remote = remote.clone();
                    thread::spawn(move || read_from(&remote, &format!("/f{i}.bin"), 0))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect::<Vec<_>>()
        }
    });
    for (i, result) in results.into_iter().enumerate() {
        let got = result.unwrap_or_else(|e| panic!("reader {i}: {e}"));
        assert_same(&got, &pattern(4 * MIB, i as u64), &format!("reader {i}"));
    }
    assert!(
        remote.pool().cap() <= 2,
        "the pool learned the limit (cap {})",
        remote.pool().cap()
    );
    eprintln!("8 readers over max_per_ip=2 via FtpRemote: {took:?}");
}

#[test]
fn pasv_reply_naming_another_address_is_not_followed() {
    let Some(server) = vsftpd() else {
        return;
    };
    let expected = pattern(MIB, 11);
    server.seed_file("f.bin", &expected);
    let proxy = FaultProxy::start(server.addr());
    proxy.set_refuse_epsv(true);
    let decoy = Ipv4Addr::new(127, 0, 0, 2);
    proxy.set_pasv_address(Some(decoy));
    let remote = remote_via(&server, &proxy);
    let (got, _) = within(Duration::from_secs(30), "PASV to a decoy", move || {
        let listed = remote.list(Path::new("/")).map(|l| l.len());
        (listed, read_from(&remote, "/f.bin", 0))
    });
    assert_eq!(got.0.unwrap(), 1);
    assert_same(&got.1.unwrap(), &expected, "download with a lying 227");
    assert_eq!(proxy.decoy_hits(), 0, "nothing connected to {decoy}");
    // The listing and the download, and maybe the next one, opened ahead (data_channel).
    assert!((2..=3).contains(&proxy.data_connections()));
    assert!(
        proxy
            .data_peers()
            .iter()
            .all(|peer| peer.ip() == Ipv4Addr::LOCALHOST),
        "{:?}",
        proxy.data_peers()
    );
}

#[test]
fn control_cut_mid_listing_is_retried() {
    let Some(server) = vsftpd() else {
        return;
    };
    for i in 0..300 {
        server.seed_file(&format!("dir/file-{i:03}"), b"x");
    }
    let proxy = FaultProxy::start(server.addr());
    // The control connection dies right after "150 Here comes the directory listing"
    // (rules arm connections opened afterwards, so add it before connecting).
    proxy.add_cut(CutRule::control_at_reply("150", true, 1));
    let remote = remote_via(&server, &proxy);
    let (listed, _) = within(
        Duration::from_secs(30),
        "list with a control cut",
        move || remote.list(Path::new("/dir")).map(|l| l.len()),
    );
    assert_eq!(proxy.cuts_fired(), 1);
    assert_eq!(listed.unwrap(), 300);
}

#[test]
fn control_cut_after_n_bytes_and_data_cut_mid_listing_are_retried() {
    let Some(server) = vsftpd() else {
        return;
    };
    for i in 0..300 {
        server.seed_file(&format!("dir/file-{i:03}"), b"x");
    }
    let proxy = FaultProxy::start(server.addr());
    let remote = Arc::new(remote_via(&server, &proxy));
    proxy.add_cut(CutRule::download_after(Channel::Data, 2000, 1));
    let list = |remote: &Arc<FtpRemote>| {
        let remote = remote.clone();
        within(Duration::from_secs(30), "list", move || {
            remote.list(Path::new("/dir")).map(|l| l.len())
        })
        .0
    };
    assert_eq!(list(&remote).unwrap(), 300);
    assert_eq!(proxy.cuts_fired(), 1);
    // A control connection cut after 300 bytes: past vsftpd's login (~225 bytes), inside the
    // replies of the first listing. The listing is retried on a new connection.
    proxy.clear_cuts();
    proxy.add_cut(CutRule {
        channel: Channel::Control,
        direction: Direction::ToClient,
        when: common::proxy::CutWhen::AfterBytes(300),
        every: 1,
        times: 1,
        style: CutStyle::Reset,
    });
    let fresh = Arc::new(remote_via(&server, &proxy));
    for _ in 0..3 {
        assert_eq!(list(&fresh).unwrap(), 300);
    }
    assert!(proxy.cuts_fired() >= 2, "{} cuts", proxy.cuts_fired());
}

#[test]
fn endless_reply_is_an_error_not_a_hang() {
    let Some(server) = vsftpd() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let remote = Arc::new(remote_via(&server, &proxy));
    for garbage in [Garbage::EndlessLine, Garbage::EndlessMultiline] {
        proxy.inject_garbage_reply(garbage);
        let for_thread = remote.clone();
        let (outcome, took) = within(Duration::from_secs(30), "endless reply", move || {
            for_thread.stat(Path::new("/nothing-here"))
        });
        let error = outcome.expect_err("garbage is not an answer");
        eprintln!("{garbage:?}: {error} after {took:?}");
        assert_ne!(error.kind, RemoteErrorKind::NotFound, "{error}");
        // The client recovers on a fresh connection.
        let for_thread = remote.clone();
        let (listed, _) = within(Duration::from_secs(30), "list after garbage", move || {
            for_thread.list(Path::new("/"))
        });
        assert!(listed.is_ok(), "{listed:?}");
    }
}

#[test]
fn refused_connections_fail_fast_and_heal() {
    let Some(server) = vsftpd() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    proxy.set_refusing(true);
    let config = config_for(&server, proxy.port, Duration::from_secs(5));
    let (outcome, took) = within(Duration::from_secs(30), "connect while refused", {
        let config = config.clone();
        move || FtpRemote::connect(config).map(|_| ())
    });
    let error = outcome.expect_err("refused");
    assert_eq!(error.kind, RemoteErrorKind::Connection, "{error}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    proxy.set_refusing(false);
    let remote = FtpRemote::connect(config).expect("login once the proxy lets us in");
    assert!(remote.list(Path::new("/")).is_ok());
}

#[test]
fn queued_transfers_wait_for_slow_transfers_ahead_of_them() {
    let Some(server) = vsftpd_with("max_per_ip=2\n") else {
        return;
    };
    let readers = 8;
    for i in 0..readers {
        server.seed_file(&format!("f{i}.bin"), &pattern(2 * MIB, 50 + i as u64));
    }
    let proxy = FaultProxy::start(server.addr());
    // 3 s io timeout: one wait for a free connection is bounded by 30 s. Each transfer takes
    // ~2 s at 1 MiB/s and max_per_ip=2 leaves one transfer lane, so the last reader queues for
    // about 14 s (more on a loaded 2-core CI machine) behind transfers that are all moving: it
    // must wait, not fail.
    let mut config = config_for(&server, proxy.port, Duration::from_secs(3));
    config.max_connections = 4;
    let remote = Arc::new(FtpRemote::connect(config).expect("login"));
    proxy.set_rate_limit(Some(MIB as u64));
    let (results, took) = within(Duration::from_secs(90), "slow queued readers", {
        let remote = remote.clone();
        move || {
            let workers: Vec<_> = (0..readers)
                .map(|i| {
                    let remote = remote.clone();
                    thread::spawn(move || {
                        let started = Instant::now();
                        let result = read_from(&remote, &format!("/f{i}.bin"), 0);
                        eprintln!("reader {i}: done after {:?}", started.elapsed());
                        result
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect::<Vec<_>>()
        }
    });
    eprintln!("{readers} slow readers over max_per_ip=2: {took:?}");
    for (i, result) in results.into_iter().enumerate() {
        let got = result.unwrap_or_else(|e| panic!("reader {i}: {e}"));
        assert_same(
            &got,
            &pattern(2 * MIB, 50 + i as u64),
            &format!("reader {i}"),
        );
    }
}

/// A transfer queued behind one that runs longer than the queue bound (10 x io timeout) must
/// keep waiting while that one moves data, and then run: a long upload or download ahead is
/// not a reason to fail.
#[test]
fn a_transfer_queued_behind_a_long_one_waits_past_the_bound_while_data_moves() {
    let Some(server) = vsftpd() else {
        return;
    };
    let long_len = 14 * MIB;
    server.seed_file("long.bin", &pattern(long_len, 61));
    server.seed_file("next.bin", &pattern(MIB, 62));
    let proxy = FaultProxy::start(server.addr());
    // 1 s io timeout: the queue bound is 10 s; the long download takes ~14 s at 1 MiB/s.
    let mut config = config_for(&server, proxy.port, Duration::from_secs(1));
    config.max_connections = 2; // one transfer lane
    let remote = Arc::new(FtpRemote::connect(config).expect("login"));
    proxy.set_rate_limit(Some(MIB as u64));
    let (results, took) = within(Duration::from_secs(90), "queued behind a long download", {
        let remote = remote.clone();
        move || {
            let long = {
                let remote = remote.clone();
                thread::spawn(move || read_from(&remote, "/long.bin", 0))
            };
            thread::sleep(Duration::from_millis(500)); // let the long one take the lane
            let started = Instant::now();
            let next = read_from(&remote, "/next.bin", 0);
            (long.join().unwrap(), next, started.elapsed())
        }
    });
    let (long, next, waited) = results;
    eprintln!("queued transfer finished after {waited:?} ({took:?} in all)");
    let next = next.unwrap_or_else(|e| panic!("queued transfer failed after {waited:?}: {e}"));
    assert_same(&next, &pattern(MIB, 62), "queued transfer");
    assert_same(&long.unwrap(), &pattern(long_len, 61), "long transfer");
    assert!(
        waited > Duration::from_secs(10),
        "it did not queue past the bound: {waited:?}"
    );
}

/// The fault switches of `FaultyRemote` wrap the real client as they wrap the memory remote:
/// an injected final-reply failure reaches `finish` although the server got every byte, and
/// small read pieces still give every byte.
#[test]
fn faulty_remote_wraps_the_real_client() {
    let Some(server) = vsftpd() else {
        return;
    };
    let client = FtpRemote::connect(config_for(&server, server.port, Duration::from_secs(10)))
        .expect("login");
    let remote = FaultyRemote::wrap(client);
    let data = pattern(300_000, 5);
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    let mut writer = remote.create(Path::new("/f.bin")).expect("STOR");
    writer.write_all(&data).expect("data");
    let error = writer.finish().expect_err("injected failure");
    assert_eq!(error.kind, RemoteErrorKind::NoSpace);
    remote.set_read_piece(1000);
    let mut got = Vec::new();
    let mut reader = remote.open_read(Path::new("/f.bin"), 0).expect("RETR");
    reader.read_to_end(&mut got).expect("read");
    assert_same(&got, &data, "read through FaultyRemote<FtpRemote>");
    assert_eq!((remote.create_calls(), remote.open_read_calls()), (1, 1));
}
