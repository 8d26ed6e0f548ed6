//! Self-tests of the fault-injection proxy (tests/common/proxy.rs) before any fault test
//! trusts it: it passes bytes through, cuts after an exact byte count once, stalls, limits the
//! rate, refuses connections, and routes passive data connections through itself.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::faults::{read_from, remote_via, vsftpd};
use common::proxy::{Channel, CutRule, FaultProxy};
use common::{assert_same, pattern};
use ftpfs::remote::Remote;

fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn echo_proxy() -> FaultProxy {
    let port = echo_server();
    FaultProxy::start(([127, 0, 0, 1], port).into())
}

fn client_of(proxy: &FaultProxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Read until `want` bytes, end of stream or error; returns what arrived and how it ended.
fn read_up_to(stream: &mut TcpStream, want: usize) -> (Vec<u8>, Option<std::io::Error>) {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while got.len() < want {
        match stream.read(&mut buffer) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

#[test]
fn proxy_echoes_through_and_counts_connections() {
    let proxy = echo_proxy();
    for round in 0..3 {
        let mut client = client_of(&proxy);
        let line = format!("hello {round}\r\n");
        client.write_all(line.as_bytes()).unwrap();
        let (got, error) = read_up_to(&mut client, line.len());
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, line.as_bytes());
    }
    assert_eq!(proxy.control_connections(), 3);
}

#[test]
fn proxy_cut_resets_after_exact_byte_count_once() {
    let proxy = echo_proxy();
    proxy.add_cut(CutRule::download_after(Channel::Control, 10, 1));
    let mut client = client_of(&proxy);
    client.write_all(&[b'x'; 99]).unwrap();
    client.write_all(b"\n").unwrap();
    let (got, error) = read_up_to(&mut client, 100);
    assert_eq!(got.len(), 10, "exactly the bytes before the cut");
    let error = error.expect("a cut is a reset, not a clean end");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(proxy.cuts_fired(), 1);
    // The rule is spent: the next connection passes everything.
    let mut client = client_of(&proxy);
    client.write_all(&[b'y'; 99]).unwrap();
    client.write_all(b"\n").unwrap();
    assert_eq!(read_up_to(&mut client, 100).0.len(), 100);
}

#[test]
fn proxy_stall_rate_limit_and_refusal() {
    let proxy = echo_proxy();
    let mut client = client_of(&proxy);
    proxy.set_stalled(true);
    client.write_all(b"stalled\n").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buffer = [0u8; 16];
    let stalled = client.read(&mut buffer);
    assert!(stalled.is_err(), "nothing moves while stalled: {stalled:?}");
    proxy.set_stalled(false);
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(read_up_to(&mut client, 8).0, b"stalled\n");

    proxy.set_rate_limit(Some(100_000));
    let started = Instant::now();
    let mut payload = vec![b'r'; 49_999];
    payload.push(b'\n');
    client.write_all(&payload).unwrap();
    assert_eq!(read_up_to(&mut client, payload.len()).0.len(), 50_000);
    // 50 kB at 100 kB/s, in each direction: about 0.5 s at least.
    assert!(started.elapsed() >= Duration::from_millis(400));
    proxy.set_rate_limit(None);

    proxy.set_refusing(true);
    let mut refused = client_of(&proxy);
    let _ = refused.write_all(b"anyone?\n");
    let (got, _) = read_up_to(&mut refused, 8);
    assert!(got.is_empty(), "a refused connection carries nothing");
}

#[test]
fn proxy_rewrites_passive_replies_to_its_own_data_listeners() {
    let Some(server) = vsftpd() else {
        return;
    };
    server.seed_file("f.bin", &pattern(300_000, 1));
    let proxy = FaultProxy::start(server.addr());
    let remote = remote_via(&server, &proxy);
    let data = read_from(&remote, "/f.bin", 0).unwrap();
    assert_same(&data, &pattern(300_000, 1), "EPSV download via the proxy");
    // One for the download, maybe one more: the next one, opened ahead (data_channel).
    let first = proxy.data_connections();
    assert!((1..=2).contains(&first), "the data went through the proxy");
    // Refused EPSV: PASV from now on, still through the proxy.
    proxy.set_refuse_epsv(true);
    let remote = remote_via(&server, &proxy);
    assert_eq!(remote.list(Path::new("/")).unwrap().len(), 1);
    assert_same(
        &read_from(&remote, "/f.bin", 1000).unwrap(),
        &pattern(300_000, 1)[1000..],
        "PASV download via the proxy",
    );
    assert!(proxy.data_connections() >= first + 2);
}
