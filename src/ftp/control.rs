//! One control connection: connect, greeting, login, FEAT, `OPTS UTF8 ON`, `TYPE I`, and then
//! one command/reply exchange at a time.
//!
//! Every read and write is bounded by the socket timeouts set at connect time. Any I/O error,
//! timeout or unparsable reply marks the connection *broken*: the pool then drops it instead of
//! handing it to the next user, because we can no longer know where in the reply stream we are.
//! Control-channel lines are logged at trace level with the password masked.
//!
//! TLS (see `tls`): implicit TLS handshakes before the greeting; explicit TLS sends `AUTH TLS`
//! right after it and fails the connection when the server refuses, never falling back to a
//! clear-text login. Both then say `PBSZ 0` and `PROT P` after login, so data connections are
//! TLS too (they resume this connection's session, held in `tls`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use log::trace;

use super::command::{Arg, Command};
use super::config::{FtpConfig, TlsMode};
use super::features::Features;
use super::reply::{Reply, ReplyBuffer, ReplyError};
use super::reply_code as code;
use super::reply_errors::{Op, classify, says_server_full};
use super::tls::{TlsContext, TlsSession};
use super::transport::Transport;
use crate::remote::{RemoteError, RemoteErrorKind};

/// A logged-in control connection.
pub struct Control {
    transport: Transport,
    buffer: ReplyBuffer,
    peer: SocketAddr,
    io_timeout: Duration,
    broken: bool,
    /// A reply line ended in a bare LF since `take_bare_line_feed` was last called.
    bare_line_feed: bool,
    pub features: Features,
    /// This connection's TLS session, which its data connections resume (None: plain FTP).
    tls: Option<TlsSession>,
    /// A passive data connection opened ahead of the next transfer (see `data_channel`).
    ready_data: Option<ReadyData>,
}

/// A passive data connection already connected, and when it was opened.
pub struct ReadyData {
    pub transport: Transport,
    pub since: Instant,
}

/// A failed connection attempt, saying whether the server turned us away for being full, so the
/// pool can learn the server's connection limit instead of failing the request.
#[derive(Debug)]
pub struct ConnectFailure {
    pub error: RemoteError,
    pub server_full: bool,
}

impl From<RemoteError> for ConnectFailure {
    fn from(error: RemoteError) -> Self {
        ConnectFailure {
            error,
            server_full: false,
        }
    }
}

/// Resolve host and port into socket addresses (IPv4/IPv6 literals or names).
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, RemoteError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            RemoteError::new(
                RemoteErrorKind::Connection,
                format!("cannot resolve host {host}: {e}"),
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(RemoteError::new(
            RemoteErrorKind::Connection,
            format!("host {host} has no address"),
        ));
    }
    Ok(addrs)
}

impl Control {
    /// Connect, read the greeting, log in and negotiate. Errors carry one clear sentence.
    pub fn connect(config: &FtpConfig, tls: &TlsContext) -> Result<Control, ConnectFailure> {
        let tls = tls.new_session()?;
        let addrs = resolve(&config.host, config.port)?;
        let where_ = format!("{}:{}", config.host, config.port);
        let transport = Transport::connect(&addrs, config.connect_timeout)
            .map_err(|e| RemoteError::io(format_args!("cannot connect to {where_}"), &e))?;
        let io_err = |e: std::io::Error| RemoteError::io(&where_, &e);
        // The greeting must come within the shorter of the two timeouts: a server that
        // accepts but stays silent must not cost more than the user's --timeout.
        transport
            .set_timeouts(config.connect_timeout.min(config.io_timeout))
            .map_err(io_err)?;
        let peer = transport.peer_addr().map_err(io_err)?;
        let mut control = Control {
            transport,
            buffer: ReplyBuffer::new(),
            peer,
            io_timeout: config.io_timeout,
            broken: false,
            bare_line_feed: false,
            features: Features::default(),
            tls,
            ready_data: None,
        };
        if control.tls_mode() == TlsMode::Implicit {
            control.start_tls(&where_)?;
        }
        control.greeting(&where_)?;
        control
            .transport
            .set_timeouts(config.io_timeout)
            .map_err(io_err)?;
        if control.tls_mode() == TlsMode::Explicit {
            control.auth_tls(&where_)?;
        }
        control.login(config)?;
        control.negotiate(&where_)?;
        Ok(control)
    }

    fn greeting(&mut self, where_: &str) -> Result<(), ConnectFailure> {
        let mut reply = self.read_reply()?;
        // 120: "service ready in nnn minutes" precedes the real greeting.
        while reply.code == code::SERVICE_READY_SOON {
            reply = self.read_reply()?;
        }
        if reply.code == code::SERVICE_READY {
            return Ok(());
        }
        Err(ConnectFailure {
            server_full: says_server_full(&reply),
            error: RemoteError::new(
                RemoteErrorKind::Connection,
                format!("{where_} refused the connection: {reply}"),
            ),
        })
    }

    fn login(&mut self, config: &FtpConfig) -> Result<(), ConnectFailure> {
        let user = config.login_user();
        let invalid = |what: &str| {
            RemoteError::new(
                RemoteErrorKind::InvalidName,
                format!("the {what} contains CR, LF or NUL"),
            )
        };
        let user_arg = Arg::new(user).map_err(|_| invalid("user name"))?;
        let password = config.login_password();
        // An empty password is still sent as an argument some servers accept; we refuse to
        // send `PASS ` with nothing after it, so use a single space-free placeholder.
        let pass_arg = Arg::new(if password.is_empty() { "-" } else { password })
            .map_err(|_| invalid("password"))?;
        // USER and PASS in one round trip. A server that needs no password (230 to USER)
        // answers the PASS with 503 or 230, read and ignored.
        let user_command = Command::User(user_arg);
        let mut replies = self
            .pipeline(&[&user_command, &Command::Pass(pass_arg)])?
            .into_iter();
        let mut reply = replies.next().ok_or_else(|| self.lost_reply("USER"))?;
        if reply.code == code::NEED_PASSWORD || reply.code == code::NEED_ACCOUNT {
            reply = replies.next().ok_or_else(|| self.lost_reply("PASS"))?;
        }
        if reply.code == code::LOGGED_IN || reply.code == code::SUPERFLUOUS {
            return Ok(());
        }
        let server_full = says_server_full(&reply);
        // The one reply table decides (530 is Auth); a refusal it cannot place is still a
        // failed login, not a generic I/O error.
        let kind = match classify(Op::Login, &reply) {
            _ if server_full => RemoteErrorKind::Connection,
            RemoteErrorKind::Other => RemoteErrorKind::Auth,
            kind => kind,
        };
        Err(ConnectFailure {
            server_full,
            error: RemoteError::new(kind, format!("login as {user} refused: {reply}")),
        })
    }

    fn tls_mode(&self) -> TlsMode {
        self.tls.as_ref().map_or(TlsMode::None, TlsSession::mode)
    }

    fn start_tls(&mut self, where_: &str) -> Result<(), RemoteError> {
        let Some(session) = &self.tls else {
            return Ok(());
        };
        let started = self.transport.start_tls(session, false);
        started.map_err(|e| {
            self.broken = true;
            session.handshake_error(where_, &e)
        })
    }

    /// `AUTH TLS` and the handshake. A refusal fails the connection: the user asked for TLS, so
    /// the password must not go out in clear.
    fn auth_tls(&mut self, where_: &str) -> Result<(), ConnectFailure> {
        let reply = self.cmd(&Command::AuthTls)?;
        if reply.code != code::AUTH_ACCEPTED {
            self.broken = true;
            return Err(ConnectFailure {
                server_full: says_server_full(&reply),
                error: RemoteError::new(
                    RemoteErrorKind::Protocol,
                    format!("{where_} does not support TLS (AUTH TLS answered: {reply})"),
                ),
            });
        }
        if self.buffer.has_pending() {
            // Bytes sent before the handshake would be read as if they came through TLS
            // (the STARTTLS command-injection attack): refuse.
            self.broken = true;
            return Err(RemoteError::new(
                RemoteErrorKind::Protocol,
                format!("{where_} sent unexpected data after AUTH TLS"),
            )
            .into());
        }
        Ok(self.start_tls(where_)?)
    }

    /// Keep a data connection opened ahead for the next transfer on this connection.
    pub fn set_ready_data(&mut self, ready: ReadyData) {
        self.ready_data = Some(ready);
    }

    /// Take the data connection opened ahead, if any.
    pub fn take_ready_data(&mut self) -> Option<ReadyData> {
        self.ready_data.take()
    }

    /// Whether a data connection opened ahead is waiting for the next transfer.
    pub fn has_ready_data(&self) -> bool {
        self.ready_data.is_some()
    }

    /// The TLS session data connections must run under (resuming it), or None for plain FTP.
    pub fn tls_session(&self) -> Option<&TlsSession> {
        self.tls.as_ref()
    }

    /// After login, in one round trip: `PBSZ 0` and `PROT P` under TLS (data connections run
    /// TLS too; a refusal fails the connection rather than moving file contents in clear), FEAT
    /// and `TYPE I`. Then `OPTS UTF8 ON` when FEAT offered UTF8.
    fn negotiate(&mut self, where_: &str) -> Result<(), RemoteError> {
        let mut commands = Vec::with_capacity(4);
        if self.tls.is_some() {
            commands.extend([&Command::Pbsz0, &Command::ProtPrivate]);
        }
        commands.extend([&Command::Feat, &Command::TypeImage]);
        let replies = self.pipeline(&commands)?;
        if replies.len() < commands.len() {
            self.broken = true;
            return Err(RemoteError::new(
                RemoteErrorKind::Connection,
                format!("{where_} closed the connection after login"),
            ));
        }
        for (command, reply) in commands.into_iter().zip(&replies) {
            match command {
                Command::Feat => self.features = Features::from_reply(reply),
                Command::TypeImage if !reply.is_success() => {
                    self.broken = true;
                    return Err(RemoteError::new(
                        RemoteErrorKind::Protocol,
                        format!("server refused binary mode: {reply}"),
                    ));
                }
                Command::TypeImage => {}
                _ if !reply.is_success() => {
                    self.broken = true;
                    return Err(RemoteError::new(
                        RemoteErrorKind::Protocol,
                        format!(
                            "{where_} refused {command} (needed for TLS data connections): {reply}"
                        ),
                    ));
                }
                _ => {}
            }
        }
        if self.features.utf8 {
            // Servers that offer UTF8 mostly have it on already; a refusal changes nothing.
            let _ = self.cmd(&Command::OptsUtf8On)?;
        }
        Ok(())
    }

    /// The server's address on the control connection: data connections go here, whatever
    /// address a PASV reply names.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Our address on the control connection (for active mode).
    pub fn local_addr(&mut self) -> Result<SocketAddr, RemoteError> {
        let addr = self.transport.local_addr();
        addr.map_err(|e| self.io_error(e))
    }

    pub fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Mark this connection unusable (the pool will drop it).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Mark broken and close the connection now (FIN to the server, which ends its session
    /// there and frees its per-address count), although the handle lives on until dropped.
    pub fn abandon(&mut self) {
        self.broken = true;
        self.transport.abort();
    }

    /// Change how long reply reads may wait (e.g. a short wait after aborting a transfer).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        if self.transport.set_read_timeout(timeout).is_err() {
            self.broken = true;
        }
    }

    fn io_error(&mut self, e: std::io::Error) -> RemoteError {
        self.broken = true;
        RemoteError::io(format_args!("control connection to {}", self.peer), &e)
    }

    /// Send one command.
    pub fn send(&mut self, command: &Command) -> Result<(), RemoteError> {
        self.send_all(&[command])
    }

    /// Send `commands` in one write: one round trip for a sequence whose replies come in a
    /// fixed order (see [`Control::cmd_pipelined`]).
    fn send_all(&mut self, commands: &[&Command]) -> Result<(), RemoteError> {
        use std::io::Write;
        if self.broken {
            return Err(RemoteError::new(
                RemoteErrorKind::Connection,
                "connection is broken",
            ));
        }
        let mut wire = Vec::new();
        for command in commands {
            trace!("> {command}");
            wire.extend(command.wire());
        }
        self.transport
            .write_all(&wire)
            .and_then(|()| self.transport.flush())
            .map_err(|e| self.io_error(e))
    }

    /// Read the next reply.
    pub fn read_reply(&mut self) -> Result<Reply, RemoteError> {
        match self.buffer.read_reply_noting_bare_lf(&mut self.transport) {
            Ok((reply, bare_line_feed)) => {
                self.bare_line_feed |= bare_line_feed;
                trace!("< {reply}");
                Ok(reply)
            }
            Err(ReplyError::Io(e)) => Err(self.io_error(e)),
            Err(other) => {
                self.broken = true;
                let kind = match other {
                    ReplyError::Closed => RemoteErrorKind::Connection,
                    _ => RemoteErrorKind::Protocol,
                };
                Err(RemoteError::new(kind, format!("{}: {other}", self.peer)))
            }
        }
    }

    /// Send a command and read its (first) reply. A 421 (or vsftpd's `500 OOPS`) means the
    /// server is closing this connection: it is marked broken so it is never reused.
    pub fn cmd(&mut self, command: &Command) -> Result<Reply, RemoteError> {
        self.send(command)?;
        let reply = self.read_reply()?;
        if reply.closes_connection() {
            self.broken = true;
        }
        Ok(reply)
    }

    /// Send `commands` in one write and read their replies in order: one round trip for a
    /// sequence whose replies come in a fixed order and where the server answers each command
    /// whatever became of the ones before (a refused RNFR makes the RNTO a "503 bad sequence",
    /// a refused login makes the commands after it 530s), so the caller still sees the first
    /// reply that failed. Stops early at a 421 or when a reply after the first cannot be read
    /// (a server that closes after refusing), marking the connection broken: the caller then
    /// gets fewer replies than commands and decides from those it got.
    pub fn pipeline(&mut self, commands: &[&Command]) -> Result<Vec<Reply>, RemoteError> {
        self.pipeline_noting_cut(commands)
            .map(|(replies, _)| replies)
    }

    /// [`Control::pipeline`], also returning why a reply after the first could not be read
    /// (None: every reply came, or a 421 stopped them), for a caller that must tell a cut or
    /// silent connection from a reply it could not parse.
    pub fn pipeline_noting_cut(
        &mut self,
        commands: &[&Command],
    ) -> Result<(Vec<Reply>, Option<RemoteError>), RemoteError> {
        self.send_all(commands)?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            self.transport.ack_quickly();
            let reply = match self.read_reply() {
                Ok(reply) => reply,
                Err(e) if replies.is_empty() => return Err(e),
                // read_reply marked the connection broken
                Err(e) => return Ok((replies, Some(e))),
            };
            let closing = reply.closes_connection();
            replies.push(reply);
            if closing {
                self.broken = true;
                break;
            }
        }
        Ok((replies, None))
    }

    /// The error for a pipelined command whose reply never came (see [`Control::pipeline`]).
    pub fn lost_reply(&mut self, command: &str) -> RemoteError {
        self.broken = true;
        RemoteError::new(
            RemoteErrorKind::Connection,
            format!("{}: no reply to {command}", self.peer),
        )
    }

    /// Whether a reply read since the last call had a line ending in a bare LF, not CRLF
    /// (see `ReplyBuffer::read_reply_noting_bare_lf`); clears the note.
    pub fn take_bare_line_feed(&mut self) -> bool {
        std::mem::take(&mut self.bare_line_feed)
    }

    /// Whether the server sent bytes that no reply read so far consumed.
    pub fn has_unread_reply_bytes(&self) -> bool {
        self.buffer.has_pending()
    }

    /// Check the connection still answers (after sitting idle).
    pub fn is_alive(&mut self) -> bool {
        if self.buffer.has_pending() {
            // The server said something unprompted (often 421 idle timeout): not in sync.
            self.broken = true;
            return false;
        }
        matches!(self.cmd(&Command::Noop), Ok(r) if r.is_success())
    }

    /// Say goodbye politely; errors are irrelevant at this point.
    pub fn quit(mut self) {
        self.set_reply_timeout(Duration::from_secs(1));
        if self.send(&Command::Quit).is_ok() {
            let _ = self.read_reply();
        }
        self.transport.close();
    }
}
