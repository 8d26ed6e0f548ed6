//! The byte stream under a control or data connection.
//!
//! Plain TCP or TLS over TCP (AUTH TLS / implicit FTPS, see `tls`): the rest of the client never
//! cares which one it talks through. Timeouts are socket options on the TCP socket, set once, so
//! every read and write is bounded, under rustls too (it reads and writes that same socket).
//!
//! A TLS peer that closes without close_notify reads as end of stream, not as an error: the
//! outcome of a transfer is decided by the final reply on the (TLS-protected) control
//! connection, and several servers end data connections that way.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::tls::{TlsSession, TlsStream};

/// A connected stream with read and write timeouts.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    /// Connect to the first address that answers within `timeout` each.
    pub fn connect(addrs: &[SocketAddr], timeout: Duration) -> io::Result<Transport> {
        let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        for addr in addrs {
            match TcpStream::connect_timeout(addr, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(Transport::Plain(stream));
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    pub fn from_tcp(stream: TcpStream) -> io::Result<Transport> {
        stream.set_nodelay(true)?;
        Ok(Transport::Plain(stream))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &s.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Run the TLS client handshake over this (plain) connection and continue through TLS.
    /// `data` says whether this is a data connection (which must resume the control session).
    pub fn start_tls(&mut self, session: &TlsSession, data: bool) -> io::Result<()> {
        if self.is_tls() {
            return Err(io::Error::other("the connection already runs TLS"));
        }
        // The socket is shared by fd duplication; the plain handle is dropped when replaced.
        let tcp = self.tcp().try_clone()?;
        let stream = session.handshake(tcp, data)?;
        *self = Transport::Tls(Box::new(stream));
        Ok(())
    }

    pub fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        let tcp = self.tcp();
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp().set_read_timeout(Some(timeout))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// Signal end of data (uploads): the server sees EOF and sends its final reply.
    pub fn finish_sending(&mut self) -> io::Result<()> {
        self.flush()?;
        match self {
            Transport::Plain(s) => s.shutdown(Shutdown::Write),
            Transport::Tls(s) => {
                // close_notify tells a TLS server the upload is complete, not truncated
                // (vsftpd logs an unclean shutdown otherwise).
                s.conn.send_close_notify();
                s.flush()?;
                s.sock.shutdown(Shutdown::Write)?;
                drain_until_closed(s);
                Ok(())
            }
        }
    }

    /// Close politely: a TLS connection first says close_notify, so the server can tell our
    /// goodbye from a cut connection. Errors do not matter any more.
    pub fn close(mut self) {
        if let Transport::Tls(s) = &mut self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        self.abort();
    }

    /// Acknowledge what arrives next at once instead of delaying the ACK (Linux TCP_QUICKACK,
    /// which the kernel clears again by itself). For pipelined commands: a server with Nagle's
    /// algorithm on holds its second reply until the first is acknowledged, and a delayed ACK
    /// would add up to 40 ms to a sequence meant to save round trips. Best effort.
    pub fn ack_quickly(&self) {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on the socket this transport owns, with a pointer to a live c_int
        // and its size; no memory is retained by the call.
        let _ = unsafe {
            libc::setsockopt(
                self.tcp().as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }

    /// Tear the connection down at once in both directions.
    pub fn abort(&self) {
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => match s.read(buf) {
                Ok(0) if !buf.is_empty() => {
                    // The peer said close_notify: answer in kind, for a clean shutdown.
                    s.conn.send_close_notify();
                    let _ = s.flush();
                    Ok(0)
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    log::debug!("TLS peer closed without close_notify; taken as end of stream");
                    Ok(0)
                }
                other => other,
            },
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// After an upload, read (and discard) what the server still sends until it closes: its
/// close_notify, or TLS 1.3 session tickets. Closing a socket with unread received data makes
/// Linux send RST instead of FIN, and a server that gets RST may lose the end of the upload
/// still in its receive buffer (vsftpd: "426 Failure reading network stream"). Bounded by the
/// socket's read timeout; failures only matter to the log, the final reply decides.
fn drain_until_closed(stream: &mut TlsStream) {
    let mut scratch = [0u8; 4096];
    loop {
        match stream.read(&mut scratch) {
            Ok(0) => return,
            Ok(n) => log::debug!("discarded {n} bytes the server sent after an upload"),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("after an upload: {e}");
                return;
            }
        }
    }
}
