//! The byte stream under a control or data connection.
//!
//! Plain TCP today; TLS (AUTH TLS / implicit FTPS) slots in as another variant so the rest of the
//! client never cares which one it talks through. Timeouts are socket options, set once, so every
//! read and write is bounded.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// A connected stream with read and write timeouts.
pub enum Transport {
    Plain(TcpStream),
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
        }
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
        }
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
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
        }
    }
}

/// Socket timeouts surface as WouldBlock on Linux; call them what they are.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
