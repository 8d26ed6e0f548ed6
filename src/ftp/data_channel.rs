//! Opening data connections: passive (EPSV, falling back to PASV) or active (EPRT/PORT).
//!
//! Passive mode always connects to the *control connection's* peer address. The address inside a
//! 227 reply is ignored: following it would let a hostile server point us at a third host (FTP
//! bounce), and it is often wrong behind NAT anyway. When a server refuses EPSV we remember that
//! for the whole pool (`Quirks::epsv_refused`) and go straight to PASV afterwards.
//! In active mode we listen on the control connection's local address and accept only a
//! connection coming from the server's address.
//! Under FTPS (`PROT P`) the data connection runs a TLS client handshake (in both modes, as
//! RFC 4217 says) after the server's 125/150, resuming the control connection's TLS session.
//!
//! Opened ahead: in passive mode EPSV/PASV and the TCP connect cost two round trips, so the pool
//! opens them on a connection that just finished a transfer, in the background, and the next
//! transfer on that connection starts with the transfer command (`prepare_ahead`). Servers accept
//! a passive connection before the command (the kernel completes the handshake; the server picks
//! it up when STOR/RETR/LIST arrives). One is kept per connection, for at most `READY_MAX_AGE`
//! (well below every server's timeouts). One that is too old, or that the server closed or wrote
//! to, is replaced without failing anything: a fresh EPSV first (the server drops its old passive
//! state itself, without a reply), and only then our end of the old one is closed, so no server
//! ever sees us close a data connection it could report on.

use std::net::{IpAddr, SocketAddr, SocketAddrV4, TcpListener};
use std::time::{Duration, Instant};

use super::command::Command;
use super::config::DataMode;
use super::control::{Control, ReadyData};
use super::quirks::Quirks;
use super::reply::Reply;
use super::reply_code as code;
use super::reply_errors::{Op, is_not_implemented};
use super::transport::Transport;
use crate::remote::{RemoteError, RemoteErrorKind};

/// A data channel prepared before the transfer command is sent.
enum Prepared {
    Connected(Transport),
    Listening(TcpListener),
}

/// The outcome of sending a transfer command (RETR, STOR, APPE, MLSD, LIST).
pub enum TransferStart {
    /// The server said 125/150 and the data connection is open.
    Started(Transport),
    /// The server refused the command; the reply says why.
    Refused(Reply),
}

/// Open a data channel and send `command` over it, preceded by `REST offset` when given (REST
/// must come right before the transfer command, after EPSV/PASV).
pub fn start_transfer(
    control: &mut Control,
    mode: DataMode,
    quirks: &Quirks,
    rest: Option<u64>,
    command: &Command,
) -> Result<TransferStart, RemoteError> {
    let prepared = match mode {
        DataMode::Passive => Prepared::Connected(passive_connection(control, quirks)?),
        DataMode::Active => Prepared::Listening(open_active(control, quirks)?),
    };
    if let Some(offset) = rest {
        let reply = control.cmd(&Command::Rest(offset))?;
        if reply.code != code::PENDING {
            if let Prepared::Connected(t) = prepared {
                t.abort();
            }
            return Ok(TransferStart::Refused(reply));
        }
    }
    let reply = control.cmd(command)?;
    if !reply.is_preliminary() {
        if let Prepared::Connected(t) = prepared {
            t.abort();
        }
        return Ok(TransferStart::Refused(reply));
    }
    let mut transport = match prepared {
        Prepared::Connected(t) => t,
        Prepared::Listening(listener) => accept_from_server(control, &listener)?,
    };
    transport
        .set_timeouts(control.io_timeout())
        .map_err(|e| data_error(control, e))?;
    if let Some(session) = control.tls_session().cloned() {
        // The server starts TLS only after sending 150, so the handshake comes now.
        let secured = transport.start_tls(&session, true);
        if let Err(e) = secured {
            transport.abort();
            control.mark_broken();
            let peer = control.peer_addr();
            return Err(session.handshake_error(&format!("{peer} (data)"), &e));
        }
    }
    Ok(TransferStart::Started(transport))
}

/// Send an upload command (STOR/APPE) on a passive data connection without waiting for its
/// 125/150 (issue 10: one round trip less per file). Returns the data connection, on which the
/// caller may write at once: the server has the TCP connection (the kernel completed the
/// handshake) and reads the bytes once it starts the transfer; a server that refuses the
/// command never reads them, and the caller reads that refusal (or the 150) before anything
/// else on the control connection (`transfer::Upload`). `None` when this does not apply, and
/// nothing was sent: active mode (the server connects after the command) and FTPS (the TLS
/// handshake starts after the 150).
pub fn send_upload_unconfirmed(
    control: &mut Control,
    mode: DataMode,
    quirks: &Quirks,
    command: &Command,
) -> Result<Option<Transport>, RemoteError> {
    if mode != DataMode::Passive || control.tls_session().is_some() {
        return Ok(None);
    }
    let transport = passive_connection(control, quirks)?;
    if let Err(err) = control.send(command) {
        transport.abort();
        return Err(err);
    }
    transport
        .set_timeouts(control.io_timeout())
        .map_err(|e| data_error(control, e))?;
    Ok(Some(transport))
}

/// How long a data connection opened ahead is used; older ones are replaced.
pub const READY_MAX_AGE: Duration = Duration::from_secs(10);

/// Open a passive data connection ahead of the next transfer on `control` (when it has none).
/// Called by the pool on an idle connection, never while a request waits on it.
pub fn prepare_ahead(control: &mut Control, quirks: &Quirks) -> Result<(), RemoteError> {
    if control.has_ready_data() {
        return Ok(());
    }
    let transport = open_passive(control, quirks)?;
    control.set_ready_data(ReadyData {
        transport,
        since: Instant::now(),
    });
    Ok(())
}

/// The data connection opened ahead when it is still good, else a freshly opened one.
fn passive_connection(control: &mut Control, quirks: &Quirks) -> Result<Transport, RemoteError> {
    let Some(ready) = control.take_ready_data() else {
        return open_passive(control, quirks);
    };
    let age = ready.since.elapsed();
    if age < READY_MAX_AGE && is_untouched(&ready.transport) {
        log::trace!("using the data connection opened {age:?} ago");
        return Ok(ready.transport);
    }
    log::debug!("replacing a data connection opened ahead {age:?} ago (too old or closed)");
    // EPSV first: the server drops its old passive state itself; closing ours after that
    // cannot make it report a transfer that never was.
    let fresh = open_passive(control, quirks);
    ready.transport.abort();
    fresh
}

/// Whether the server has neither closed nor written to a connection we have not used yet.
fn is_untouched(transport: &Transport) -> bool {
    let tcp = transport.tcp();
    if tcp.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let quiet = matches!(tcp.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    tcp.set_nonblocking(false).is_ok() && quiet
}

fn data_error(control: &mut Control, e: std::io::Error) -> RemoteError {
    control.mark_broken();
    RemoteError::io("data connection", &e)
}

fn open_passive(control: &mut Control, quirks: &Quirks) -> Result<Transport, RemoteError> {
    let peer = control.peer_addr();
    let port = if quirks.epsv_refused() {
        pasv_port(control)?
    } else {
        let reply = control.cmd(&Command::Epsv)?;
        if reply.code == code::EXTENDED_PASSIVE_MODE {
            parse_epsv_port(&reply).ok_or_else(|| {
                RemoteError::new(
                    RemoteErrorKind::Protocol,
                    format!("unparsable EPSV reply: {reply}"),
                )
            })?
        } else if reply.closes_connection() {
            return Err(RemoteError::new(
                RemoteErrorKind::Connection,
                reply.to_string(),
            ));
        } else if peer.is_ipv4() && is_not_implemented(Op::DataChannel, &reply) {
            log::info!("server refused EPSV ({reply}); using PASV from now on");
            quirks.set_epsv_refused();
            pasv_port(control)?
        } else {
            return Err(RemoteError::new(
                RemoteErrorKind::Connection,
                format!("EPSV failed: {reply}"),
            ));
        }
    };
    let addr = SocketAddr::new(peer.ip(), port);
    let timeout = control.io_timeout();
    Transport::connect(&[addr], timeout).map_err(|e| data_error(control, e))
}

fn pasv_port(control: &mut Control) -> Result<u16, RemoteError> {
    let reply = control.cmd(&Command::Pasv)?;
    if reply.code != code::PASSIVE_MODE {
        let kind = if reply.is_transient_failure() || reply.ends_session() {
            RemoteErrorKind::Connection
        } else {
            RemoteErrorKind::Unsupported
        };
        return Err(RemoteError::new(kind, format!("PASV failed: {reply}")));
    }
    let (announced_ip, port) = parse_pasv(&reply).ok_or_else(|| {
        RemoteError::new(
            RemoteErrorKind::Protocol,
            format!("unparsable PASV reply: {reply}"),
        )
    })?;
    let peer = control.peer_addr().ip();
    if IpAddr::V4(announced_ip) != peer {
        log::debug!("PASV named {announced_ip}; connecting to the control peer {peer} instead");
    }
    Ok(port)
}

/// `229 Entering Extended Passive Mode (|||6446|)`: the port between the delimiters.
pub fn parse_epsv_port(reply: &Reply) -> Option<u16> {
    let text = reply.text();
    let open = text.find('(')?;
    let inner = text.get(open + 1..)?;
    let close = inner.find(')')?;
    let inner = inner.get(..close)?;
    let delim = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delim).collect();
    // "|||6446|" splits into ["", "", "", "6446", ""].
    if fields.len() != 5 {
        return None;
    }
    fields[3].parse::<u16>().ok().filter(|&p| p != 0)
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`: address and port (the address is only
/// logged, never used).
pub fn parse_pasv(reply: &Reply) -> Option<(std::net::Ipv4Addr, u16)> {
    let text = reply.text();
    // Find the first run of six comma-separated numbers, with or without parentheses.
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if bytes[start].is_ascii_digit() {
            let end = bytes[start..]
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b','))
                .map_or(bytes.len(), |p| start + p);
            let numbers: Vec<&str> = text.get(start..end)?.split(',').collect();
            if numbers.len() == 6 {
                let parsed: Option<Vec<u8>> =
                    numbers.iter().map(|n| n.parse::<u8>().ok()).collect();
                let n = parsed?;
                let ip = std::net::Ipv4Addr::new(n[0], n[1], n[2], n[3]);
                let port = u16::from(n[4]) << 8 | u16::from(n[5]);
                return (port != 0).then_some((ip, port));
            }
            start = end;
        } else {
            start += 1;
        }
    }
    None
}

fn open_active(control: &mut Control, quirks: &Quirks) -> Result<TcpListener, RemoteError> {
    let local = control.local_addr()?;
    let listener = TcpListener::bind(SocketAddr::new(local.ip(), 0))
        .map_err(|e| RemoteError::new(RemoteErrorKind::Connection, format!("listen: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| RemoteError::new(RemoteErrorKind::Connection, format!("listen: {e}")))?;
    let reply = match addr {
        SocketAddr::V4(v4) if quirks.eprt_refused() => control.cmd(&Command::Port(v4))?,
        _ => control.cmd(&Command::Eprt(addr))?,
    };
    let reply = match (is_not_implemented(Op::DataChannel, &reply), addr) {
        (true, SocketAddr::V4(v4)) if !quirks.eprt_refused() => {
            quirks.set_eprt_refused();
            control.cmd(&Command::Port(SocketAddrV4::new(*v4.ip(), v4.port())))?
        }
        _ => reply,
    };
    if !reply.is_success() {
        return Err(RemoteError::new(
            RemoteErrorKind::Connection,
            format!("active mode refused: {reply}"),
        ));
    }
    Ok(listener)
}

fn accept_from_server(
    control: &mut Control,
    listener: &TcpListener,
) -> Result<Transport, RemoteError> {
    let deadline = Instant::now() + control.io_timeout();
    listener
        .set_nonblocking(true)
        .map_err(|e| data_error(control, e))?;
    let server_ip = control.peer_addr().ip();
    loop {
        match listener.accept() {
            Ok((stream, from)) if from.ip() == server_ip => {
                stream
                    .set_nonblocking(false)
                    .map_err(|e| data_error(control, e))?;
                return Transport::from_tcp(stream).map_err(|e| data_error(control, e));
            }
            Ok((_, from)) => log::warn!("refused a data connection from {from} (not the server)"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    control.mark_broken();
                    return Err(RemoteError::new(
                        RemoteErrorKind::TimedOut,
                        "server did not open the active data connection",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(data_error(control, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![format!("{code} {text}").into_bytes()],
        }
    }

    #[test]
    fn epsv_port_between_delimiters() {
        let r = reply(229, "Entering Extended Passive Mode (|||6446|)");
        assert_eq!(parse_epsv_port(&r), Some(6446));
        let r = reply(229, "EPSV ok (!!!40001!)");
        assert_eq!(parse_epsv_port(&r), Some(40001));
        for bad in [
            "no parens",
            "(|||0|)",
            "(|||70000|)",
            "(||6446|)",
            "(|||x|)",
            "(",
        ] {
            assert_eq!(parse_epsv_port(&reply(229, bad)), None, "{bad}");
        }
    }

    #[test]
    fn pasv_numbers_with_and_without_parentheses() {
        let r = reply(227, "Entering Passive Mode (127,0,0,1,156,64).");
        assert_eq!(parse_pasv(&r), Some(("127.0.0.1".parse().unwrap(), 40000)));
        let r = reply(227, "Entering Passive Mode 10,1,2,3,4,1");
        assert_eq!(parse_pasv(&r), Some(("10.1.2.3".parse().unwrap(), 1025)));
        for bad in ["(1,2,3,4,5)", "(300,0,0,1,1,1)", "(1,2,3,4,0,0)", "nothing"] {
            assert_eq!(parse_pasv(&reply(227, bad)), None, "{bad}");
        }
    }
}
