//! Real mounts (the `ftpfs` binary in the foreground) under network faults: a real vsftpd,
//! often behind the fault proxy. Reads through cut data connections are byte-exact; cut or
//! stalled uploads fail at write, fsync or close; stalls give errors within a few timeouts and
//! SIGTERM still unmounts; the mount heals after a server restart or every connection cut;
//! files left open do not starve other transfers; CR/LF in names cannot inject commands.

#[macro_use]
mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::faults::{MIB, vsftpd_for_mount, vsftpd_for_mount_with, within};
use common::proxy::{Channel, CutRule, FaultProxy};
use common::{Mount, assert_same, pattern};

#[test]
fn mount_reads_256_mib_byte_exact_through_20_data_cuts() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    let len = 256 * MIB;
    let expected = Arc::new(pattern(len, 42));
    server.seed_file("big.bin", &expected);
    let proxy = FaultProxy::start(server.addr());
    let mount = Mount::foreground(&server, proxy.port, &["--timeout", "10"]);
    proxy.add_cut(CutRule::download_after(Channel::Data, 10 * MIB as u64, 20));
    let path = mount.path("big.bin");
    let want = expected.clone();
    let (result, took) = within(Duration::from_secs(120), "256 MiB read", move || {
        let mut file = File::open(&path)?;
        let mut got = Vec::with_capacity(want.len());
        file.read_to_end(&mut got)?;
        Ok::<_, std::io::Error>(got)
    });
    let got = result.unwrap_or_else(|e| panic!("read failed: {e}\n{}", mount.logs()));
    assert_same(&got, &expected, "256 MiB through the mount");
    assert_eq!(proxy.cuts_fired(), 20, "every cut happened");
    eprintln!(
        "256 MiB through 20 cuts in {took:?} ({} data connections)",
        proxy.data_connections()
    );
}

#[test]
fn mount_read_with_clean_eof_cuts_is_byte_exact() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    let expected = pattern(32 * MIB, 18);
    server.seed_file("f.bin", &expected);
    let proxy = FaultProxy::start(server.addr());
    let mount = Mount::foreground(&server, proxy.port, &["--timeout", "10"]);
    proxy.add_cut(CutRule::download_after(Channel::Data, 4 * MIB as u64, 3).clean_to_client());
    let path = mount.path("f.bin");
    let (outcome, _) = within(
        Duration::from_secs(60),
        "clean-EOF cuts via mount",
        move || fs::read(&path),
    );
    let got = outcome.unwrap_or_else(|e| panic!("{e}\n{}", mount.logs()));
    assert_same(&got, &expected, "read through clean-EOF cuts");
    assert_eq!(proxy.cuts_fired(), 3);
}

#[test]
fn mount_upload_cut_midway_fails_at_write_fsync_or_close() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let mount = Mount::foreground(&server, proxy.port, &["--timeout", "5"]);
    let data = Arc::new(pattern(32 * MIB, 5));
    proxy.add_cut(CutRule::upload_after(6 * MIB as u64, 1));
    let path = mount.path("cut-upload.bin");
    let data2 = data.clone();
    let (outcome, _) = within(Duration::from_secs(60), "cut upload via mount", move || {
        let mut file = File::create(&path).map_err(|e| format!("create: {e}"))?;
        let mut failures = Vec::new();
        for piece in data2.chunks(MIB) {
            if let Err(e) = file.write_all(piece) {
                failures.push(format!("write: {e}"));
                break;
            }
        }
        if let Err(e) = file.sync_all() {
            failures.push(format!("fsync: {e}"));
        }
        // SAFETY: closing the fd we own, once; close's result is what we test.
        let closed = unsafe { libc::close(file.into_raw_fd()) };
        if closed != 0 {
            failures.push(format!("close: {}", std::io::Error::last_os_error()));
        }
        Ok::<_, String>(failures)
    });
    let failures = outcome.unwrap();
    assert_eq!(proxy.cuts_fired(), 1, "the upload was cut");
    let on_server = fs::read(server.path("cut-upload.bin")).unwrap_or_default();
    if failures.is_empty() {
        assert_same(&on_server, &data, "upload reported as successful");
    } else {
        eprintln!(
            "cut upload reported {failures:?}; server has {} bytes",
            on_server.len()
        );
    }
}

/// `ls` of an uncached directory while the server is stalled; returns how long it took.
fn ls_while_stalled(mount_args: &[&str]) -> Option<Duration> {
    let server = vsftpd_for_mount()?;
    server.seed_dir("uncached");
    server.seed_file("uncached/a.txt", b"a");
    let proxy = FaultProxy::start(server.addr());
    let mount = Mount::foreground(&server, proxy.port, mount_args);
    assert!(fs::read_dir(mount.dir()).unwrap().count() >= 1);
    proxy.set_stalled(true);
    let dir = mount.path("uncached");
    let (outcome, took) = within(
        Duration::from_secs(90),
        "ls of a stalled server",
        move || fs::read_dir(&dir).and_then(|entries| entries.collect::<Result<Vec<_>, _>>()),
    );
    proxy.set_stalled(false);
    eprintln!("ls {mount_args:?} while stalled: {outcome:?} after {took:?}");
    assert!(
        outcome.is_err(),
        "a stalled server cannot produce a listing"
    );
    // And the mount recovers once the server talks again.
    let dir = mount.path("uncached");
    let (names, _) = within(Duration::from_secs(30), "ls after the stall", move || {
        fs::read_dir(&dir).map(|entries| entries.count())
    });
    assert_eq!(names.unwrap(), 1, "{}", mount.logs());
    Some(took)
}

#[test]
fn stalled_server_makes_ls_fail_within_three_times_the_timeout() {
    let Some(took) = ls_while_stalled(&["--timeout", "3"]) else {
        return;
    };
    assert!(took <= Duration::from_secs(3 * 3 + 1), "ls took {took:?}");
}

#[test]
fn stalled_server_makes_ls_fail_in_bounded_time_with_both_timeouts_short() {
    // Three attempts of at most 3 s each plus backoff, and some slack for a loaded machine.
    let Some(took) = ls_while_stalled(&["--timeout", "3", "--connect-timeout", "3"]) else {
        return;
    };
    assert!(took <= Duration::from_secs(4 * 3), "ls took {took:?}");
}

#[test]
fn stalled_upload_through_the_mount_fails_in_bounded_time() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    let proxy = Arc::new(FaultProxy::start(server.addr()));
    let mount = Mount::foreground(
        &server,
        proxy.port,
        &["--timeout", "3", "--connect-timeout", "3"],
    );
    let path = mount.path("stalled-upload.bin");
    let data = pattern(24 * MIB, 12);
    let switch = proxy.clone();
    let (failures, took) = within(Duration::from_secs(90), "stalled upload", move || {
        let mut file = File::create(&path).unwrap();
        file.write_all(&data[..MIB]).unwrap();
        switch.set_stalled(true);
        let started = Instant::now();
        let mut failures = Vec::new();
        for piece in data[MIB..].chunks(MIB) {
            if let Err(e) = file.write_all(piece) {
                failures.push(format!("write: {e}"));
                break;
            }
        }
        if let Err(e) = file.sync_all() {
            failures.push(format!("fsync: {e}"));
        }
        // SAFETY: closing the fd we own, once; close's result is what we test.
        if unsafe { libc::close(file.into_raw_fd()) } != 0 {
            failures.push(format!("close: {}", std::io::Error::last_os_error()));
        }
        (failures, started.elapsed())
    });
    proxy.set_stalled(false);
    let (failures, stalled_for) = failures;
    eprintln!("stalled upload: {failures:?} after {stalled_for:?} ({took:?} in all)");
    assert!(
        !failures.is_empty(),
        "an upload into a stalled server cannot succeed"
    );
    assert!(
        stalled_for <= Duration::from_secs(20),
        "the upload gave up only after {stalled_for:?}\n{}",
        mount.logs()
    );
}

/// SIGTERM while an upload is in flight and the server has stopped answering: the process
/// must fail the upload loudly, unmount and exit within a few timeouts, not hang.
#[test]
fn sigterm_with_a_stalled_server_and_an_upload_in_flight_unmounts_in_bounded_time() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    let proxy = Arc::new(FaultProxy::start(server.addr()));
    let mut mount = Mount::foreground(
        &server,
        proxy.port,
        &["--timeout", "3", "--connect-timeout", "3"],
    );
    assert_eq!(fs::read_dir(mount.path("")).unwrap().count(), 0);
    let mut file = File::create(mount.path("in-flight.bin")).unwrap();
    file.write_all(&pattern(2 * MIB, 3)).unwrap();
    proxy.set_stalled(true);
    let started = Instant::now();
    // SAFETY: signalling our own child process by its PID.
    assert_eq!(unsafe { libc::kill(mount.pid() as i32, libc::SIGTERM) }, 0);
    let deadline = started + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = mount.try_exit_status() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after 60 s:\n{}",
            mount.logs()
        );
        thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    proxy.set_stalled(false);
    drop(file); // the mount is gone: closing just fails
    let logs = mount.logs();
    eprintln!("SIGTERM with a stalled server: exit {status} after {took:?}");
    assert!(!mount.is_mounted(), "still mounted:\n{logs}");
    assert!(
        !status.success(),
        "a lost upload must make the exit status say so:\n{logs}"
    );
    assert!(
        logs.contains("in-flight.bin"),
        "the lost upload must be named:\n{logs}"
    );
    assert!(
        took <= Duration::from_secs(3 * 3 + 5),
        "took {took:?}:\n{logs}"
    );
}

/// Reads 1 MiB of a big file, stalls the server, reads on; returns how long the failing read
/// took after the stall.
fn read_while_stalled(mount_args: &[&str], limit: Duration) -> Option<Duration> {
    let server = vsftpd_for_mount()?;
    server.seed_file("big.bin", &pattern(64 * MIB, 13));
    let proxy = Arc::new(FaultProxy::start(server.addr()));
    let mount = Mount::foreground(&server, proxy.port, mount_args);
    let path = mount.path("big.bin");
    let switch = proxy.clone();
    let (outcome, _) = within(limit, "stalled read", move || {
        let mut file = File::open(&path).unwrap();
        let mut head = vec![0u8; MIB];
        file.read_exact(&mut head).unwrap();
        switch.set_stalled(true);
        let started = Instant::now();
        let mut rest = Vec::new();
        (
            file.read_to_end(&mut rest).map(|_| rest.len()),
            started.elapsed(),
        )
    });
    proxy.set_stalled(false);
    let (result, stalled_for) = outcome;
    eprintln!("stalled read {mount_args:?}: {result:?} after {stalled_for:?}");
    assert!(result.is_err(), "a stalled read cannot complete");
    Some(stalled_for)
}

#[test]
fn stalled_read_through_the_mount_fails_within_three_times_the_timeout() {
    let Some(took) = read_while_stalled(&["--timeout", "3"], Duration::from_secs(150)) else {
        return;
    };
    assert!(took <= Duration::from_secs(3 * 3 + 1), "took {took:?}");
}

#[test]
fn stalled_read_fails_in_bounded_time_with_both_timeouts_short() {
    let Some(took) = read_while_stalled(
        &["--timeout", "3", "--connect-timeout", "3"],
        Duration::from_secs(150),
    ) else {
        return;
    };
    assert!(took <= Duration::from_secs(4 * 3), "took {took:?}");
}

/// With the page cache the kernel queues several readahead requests behind the failing one;
/// they must fail with it (fs/read.rs remembers the failure) instead of each timing out anew.
#[test]
fn stalled_read_with_the_page_cache_also_fails_within_three_times_the_timeout() {
    let Some(took) = read_while_stalled(
        &["--timeout", "3", "-o", "page_cache"],
        Duration::from_secs(150),
    ) else {
        return;
    };
    assert!(took <= Duration::from_secs(3 * 3 + 1), "took {took:?}");
}

#[test]
fn mount_survives_a_server_restart() {
    let Some(mut server) = vsftpd_for_mount() else {
        return;
    };
    server.seed_dir("before");
    server.seed_dir("after");
    server.seed_file("after/inside.txt", b"inside");
    server.seed_file("one.txt", b"first file");
    server.seed_file("two.txt", &pattern(3 * MIB, 2));
    let open_len = 64 * MIB;
    server.seed_file("open.bin", &pattern(open_len, 22));
    let mount = Mount::foreground(&server, server.port, &["--timeout", "5"]);
    assert_eq!(fs::read(mount.path("one.txt")).unwrap(), b"first file");
    assert_eq!(fs::read_dir(mount.path("before")).unwrap().count(), 0);
    // A file open and half read across the restart.
    let mut open_file = File::open(mount.path("open.bin")).unwrap();
    let mut open_data = vec![0u8; 4 * MIB];
    open_file.read_exact(&mut open_data).unwrap();
    server.stop();
    server.restart();
    let (after, took) = {
        let dir = mount.path("after");
        let two = mount.path("two.txt");
        let new_file = mount.path("written-after-restart.txt");
        within(Duration::from_secs(60), "mount after restart", move || {
            let listed: Vec<String> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            let two = fs::read(&two).unwrap();
            fs::write(&new_file, b"hello again").unwrap();
            (listed, two)
        })
    };
    assert_eq!(after.0, vec!["inside.txt".to_string()]);
    assert_same(&after.1, &pattern(3 * MIB, 2), "read after restart");
    assert_eq!(
        fs::read(server.path("written-after-restart.txt")).unwrap(),
        b"hello again"
    );
    eprintln!("first operations after the restart took {took:?}");
    let (rest, _) = within(
        Duration::from_secs(60),
        "open handle after restart",
        move || open_file.read_to_end(&mut open_data).map(|_| open_data),
    );
    assert_same(
        &rest.unwrap(),
        &pattern(open_len, 22),
        "handle open across the restart",
    );
}

#[test]
fn mount_with_eight_parallel_readers_and_a_two_connection_limit() {
    let Some(server) = vsftpd_for_mount_with("max_per_ip=2\n") else {
        return;
    };
    for i in 0..8 {
        server.seed_file(&format!("f{i}.bin"), &pattern(2 * MIB, 100 + i as u64));
    }
    let mount = Mount::foreground(
        &server,
        server.port,
        &["--connections", "8", "--timeout", "10"],
    );
    let paths: Vec<PathBuf> = (0..8).map(|i| mount.path(&format!("f{i}.bin"))).collect();
    let (results, took) = within(Duration::from_secs(90), "8 readers via mount", move || {
        let workers: Vec<_> = paths
            .into_iter()
            .map(|path| thread::spawn(move || fs::read(path)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (i, result) in results.into_iter().enumerate() {
        let got = result.unwrap_or_else(|e| panic!("reader {i}: {e}\n{}", mount.logs()));
        assert_same(
            &got,
            &pattern(2 * MIB, 100 + i as u64),
            &format!("reader {i}"),
        );
    }
    eprintln!("8 readers over max_per_ip=2 via the mount: {took:?}");
}

/// Files left open half-read (a pager, a paused copy) hold download connections. With one
/// transfer connection (`--connections 2`), two such files would make every other read wait
/// out the pool's bound and fail; instead their idle downloads give the connection back and
/// resume with REST when read again.
#[test]
fn files_left_open_do_not_starve_other_reads() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    for (i, name) in ["held-a.bin", "held-b.bin", "other.bin"].iter().enumerate() {
        server.seed_file(name, &pattern(4 * MIB, 40 + i as u64));
    }
    let mount = Mount::foreground(
        &server,
        server.port,
        &["--connections", "2", "--timeout", "5"],
    );
    let held_a = mount.path("held-a.bin");
    let held_b = mount.path("held-b.bin");
    let other = mount.path("other.bin");
    let (results, took) = within(
        Duration::from_secs(60),
        "reads past held files",
        move || {
            let mut a = File::open(&held_a).unwrap();
            let mut b = File::open(&held_b).unwrap();
            let mut a_data = vec![0u8; MIB];
            let mut b_data = vec![0u8; MIB];
            a.read_exact(&mut a_data).unwrap();
            b.read_exact(&mut b_data).unwrap();
            let started = Instant::now();
            let other_data = fs::read(&other);
            let other_took = started.elapsed();
            a.read_to_end(&mut a_data).unwrap();
            b.read_to_end(&mut b_data).unwrap();
            (other_data, other_took, a_data, b_data)
        },
    );
    let (other_data, other_took, a_data, b_data) = results;
    let other_data = other_data.unwrap_or_else(|e| panic!("other read: {e}\n{}", mount.logs()));
    assert_same(
        &other_data,
        &pattern(4 * MIB, 42),
        "file read while two are held",
    );
    assert_same(&a_data, &pattern(4 * MIB, 40), "held file a, resumed");
    assert_same(&b_data, &pattern(4 * MIB, 41), "held file b, resumed");
    // Bounded by the idle grace (1 s) plus transfer time, far below the pool's 10 x timeout.
    assert!(
        other_took < Duration::from_secs(10),
        "other read took {other_took:?}"
    );
    eprintln!("read past two held files in {other_took:?} (all done in {took:?})");
}

/// The same for a file left open for writing: its idle upload is completed (as by fsync) to
/// free the connection, and later writes continue with APPE; the file ends up whole.
#[test]
fn a_file_left_open_for_writing_does_not_starve_other_uploads() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    let mount = Mount::foreground(
        &server,
        server.port,
        &["--connections", "2", "--timeout", "5"],
    );
    let held = mount.path("held.bin");
    let other = mount.path("other.bin");
    let held_content = pattern(3 * MIB, 71);
    let other_content = pattern(2 * MIB, 72);
    let (held_len, other_took) = {
        let held_content = held_content.clone();
        let other_content = other_content.clone();
        let (result, _) = within(
            Duration::from_secs(60),
            "writes past a held file",
            move || {
                let mut held_file = File::create(&held).unwrap();
                held_file.write_all(&held_content[..MIB]).unwrap();
                let started = Instant::now();
                fs::write(&other, &other_content).unwrap();
                let other_took = started.elapsed();
                held_file.write_all(&held_content[MIB..]).unwrap();
                held_file.sync_all().unwrap();
                drop(held_file);
                (fs::metadata(&held).unwrap().len(), other_took)
            },
        );
        result
    };
    assert_eq!(held_len, 3 * MIB as u64);
    assert_same(
        &fs::read(server.path("held.bin")).unwrap(),
        &held_content,
        "held upload",
    );
    assert_same(
        &fs::read(server.path("other.bin")).unwrap(),
        &other_content,
        "other upload",
    );
    assert!(
        other_took < Duration::from_secs(10),
        "other upload took {other_took:?}"
    );
    eprintln!("upload past a held writer in {other_took:?}");
}

#[test]
fn crlf_in_a_name_cannot_inject_a_command() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    server.seed_file("victim", b"still here");
    let mount = Mount::foreground(&server, server.port, &["--timeout", "5"]);
    let hostile = ["a\r\nDELE victim", "b\nDELE victim", "c\rDELE victim"];
    for name in hostile {
        let path = mount.path(name);
        let created = File::create(&path);
        assert!(created.is_err(), "creating {name:?} must fail");
        assert!(fs::create_dir(&path).is_err(), "mkdir {name:?} must fail");
        assert!(
            fs::rename(mount.path("victim"), &path).is_err(),
            "rename to {name:?} must fail"
        );
    }
    assert_eq!(fs::read(server.path("victim")).unwrap(), b"still here");
    assert_eq!(fs::read(mount.path("victim")).unwrap(), b"still here");
}

#[test]
fn mount_heals_after_every_connection_is_cut() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    server.seed_dir("d");
    server.seed_file("d/x.txt", b"x");
    server.seed_file("f.bin", &pattern(2 * MIB, 14));
    let proxy = FaultProxy::start(server.addr());
    let mount = Mount::foreground(&server, proxy.port, &["--timeout", "5"]);
    assert!(fs::read_dir(mount.dir()).unwrap().count() >= 2);
    // Pooled idle connections are all reset: the next operations must not fail.
    proxy.cut_all();
    let (d, f, new_file) = (mount.path("d"), mount.path("f.bin"), mount.path("new.txt"));
    let (outcome, took) = within(Duration::from_secs(60), "after cut_all", move || {
        let listed = fs::read_dir(&d)?.count();
        let data = fs::read(&f)?;
        fs::write(&new_file, b"written after the cut")?;
        Ok::<_, std::io::Error>((listed, data))
    });
    let (listed, data) = outcome.unwrap_or_else(|e| panic!("{e}\n{}", mount.logs()));
    assert_eq!(listed, 1);
    assert_same(&data, &pattern(2 * MIB, 14), "read after cut_all");
    assert_eq!(
        fs::read(server.path("new.txt")).unwrap(),
        b"written after the cut"
    );
    eprintln!("operations after cutting every connection: {took:?}");
}

#[test]
fn data_connections_cut_at_once_give_eio_not_a_loop() {
    let Some(server) = vsftpd_for_mount() else {
        return;
    };
    server.seed_file("f.bin", &pattern(4 * MIB, 15));
    let proxy = FaultProxy::start(server.addr());
    let mount = Mount::foreground(&server, proxy.port, &["--timeout", "5"]);
    // Every data connection dies before its first byte, forever.
    proxy.add_cut(CutRule::download_after(Channel::Data, 0, usize::MAX));
    let path = mount.path("f.bin");
    let (outcome, took) = within(Duration::from_secs(60), "read with no data", move || {
        fs::read(&path)
    });
    let error = outcome.expect_err("no byte can arrive");
    eprintln!("read with every data connection cut: {error} after {took:?}");
    assert_eq!(error.raw_os_error(), Some(libc::EIO), "{error}");
    assert!(proxy.cuts_fired() >= 1);
}
