//! FTPS (RFC 4217) with rustls: explicit (`AUTH TLS`) and implicit TLS on control and data.
//!
//! Why the pieces are shaped like this:
//! - **Built once per pool.** Loading the system roots and the `ca_file` and building the
//!   verifier costs milliseconds and file I/O, so [`TlsContext`] does it once when the pool is
//!   made; a broken setup (unreadable `ca_file`) is kept as an error that every connection
//!   attempt reports, so the first `connect` fails with it.
//! - **One session cache per control connection.** Servers such as vsftpd
//!   (`require_ssl_reuse=YES`) and FileZilla Server refuse a data connection that does not
//!   resume the TLS session *of its own control connection* (FileZilla: 425 "TLS session of data
//!   connection not resumed"). A pool-wide cache would let control connection B's handshake
//!   replace the session that control connection A's data connections must resume, and vsftpd
//!   (one process per session, each with its own session cache) would then refuse them. So every
//!   control connection gets a [`TlsSession`]: the pool's config with a private resumption store,
//!   shared only with its own data connections, which also use the same server name (the cache
//!   key).
//! - **TLS 1.2 only.** See [`PROTOCOL_VERSIONS`].
//! - **Certificates**: which ones are trusted (system roots, `ca_file`, a pinned fingerprint,
//!   insecure) is decided in `tls_trust`; each session has its own verifier there, so a refused
//!   certificate's fingerprint and names reach [`TlsSession::handshake_error`].
//! - **Truncation.** A data connection that ends without close_notify is taken as the end of the
//!   data (see `transport`): the transfer's outcome comes from the 226/4xx reply on the
//!   TLS-protected control connection, and several servers close data connections without
//!   close_notify.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use log::{debug, warn};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::config::{FtpConfig, TlsMode};
use super::tls_sessions::{ControlSessionStore, PoolSessions};
use super::tls_trust::{RecordingVerifier, Trust, refusal_message};
use crate::remote::{RemoteError, RemoteErrorKind};

/// TLS 1.2 only, because FTP needs session resumption that survives many short data
/// connections, and TLS 1.3 resumption does not (found against vsftpd 3.0.3 + OpenSSL 3 with
/// `require_ssl_reuse=YES`, see tests/ftps.rs):
/// - TLS 1.3 tickets are single-use. Each data connection spends one, and gets a fresh one only
///   if the client reads it from that data connection. An aborted download or upload never
///   reads it, so after a few aborted transfers no ticket is left, the next data connection
///   makes a full handshake, and the server refuses it ("522 SSL connection failed: session
///   reuse required"). A TLS 1.2 session ID resumes any number of times and needs nothing read.
/// - A TLS 1.3 server sends tickets on upload connections too, where the client never reads;
///   closing a socket with unread data makes Linux send RST, and vsftpd then lost the end of
///   the upload ("426 Failure reading network stream"). (`transport` drains uploads anyway.)
///
/// rustls offers only ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2, so this costs no
/// security that matters here; it fails only against servers configured for TLS 1.3 alone.
pub const PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// The TLS setup shared by every connection of a pool.
#[derive(Clone)]
pub struct TlsContext {
    state: Setup,
}

#[derive(Clone)]
enum Setup {
    Off,
    Ready {
        mode: TlsMode,
        base: Arc<ClientConfig>,
        /// Also inside `base`.
        verifier: Arc<RecordingVerifier>,
        sessions: Arc<PoolSessions>,
        server_name: ServerName<'static>,
    },
    Failed(RemoteError),
}

/// One control connection's TLS: the pool's config with a session store of its own (see
/// `tls_sessions`), used for the control connection's handshake and then by every data
/// connection it opens (so they resume its session).
#[derive(Clone)]
pub struct TlsSession {
    // One pointer, so the connection structs holding it stay small.
    inner: Arc<SessionParts>,
}

struct SessionParts {
    config: Arc<ClientConfig>,
    /// Also inside `config`; kept here to ask it why a certificate was refused.
    verifier: Arc<RecordingVerifier>,
    server_name: ServerName<'static>,
    mode: TlsMode,
}

/// A TLS stream over TCP, as the transport holds it.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

impl TlsContext {
    /// Load roots and build the client config for `config.tls` (nothing when TLS is off).
    pub fn for_config(config: &FtpConfig) -> TlsContext {
        let state = match config.tls {
            TlsMode::None => Setup::Off,
            mode => match build(config) {
                Ok((base, verifier, server_name)) => Setup::Ready {
                    mode,
                    base,
                    verifier,
                    sessions: Arc::new(PoolSessions::default()),
                    server_name,
                },
                Err(e) => Setup::Failed(e),
            },
        };
        TlsContext { state }
    }

    /// No TLS at all (plain FTP).
    pub fn off() -> TlsContext {
        TlsContext { state: Setup::Off }
    }

    /// The TLS state for a new control connection: `None` for plain FTP, an error when the
    /// setup failed (e.g. the CA file could not be read).
    pub fn new_session(&self) -> Result<Option<TlsSession>, RemoteError> {
        match &self.state {
            Setup::Off => Ok(None),
            Setup::Failed(e) => Err(e.clone()),
            Setup::Ready {
                mode,
                base,
                verifier,
                sessions,
                server_name,
            } => {
                // Same verifier as every other session (rustls resumes a session only under
                // the verifier that made it), own session store.
                let mut config = ClientConfig::clone(base);
                let store = ControlSessionStore::new(sessions.clone());
                config.resumption = Resumption::store(Arc::new(store));
                Ok(Some(TlsSession {
                    inner: Arc::new(SessionParts {
                        config: Arc::new(config),
                        verifier: verifier.clone(),
                        server_name: server_name.clone(),
                        mode: *mode,
                    }),
                }))
            }
        }
    }
}

impl TlsSession {
    pub fn mode(&self) -> TlsMode {
        self.inner.mode
    }

    /// Describe a failed handshake in one sentence; for a refused certificate, with its
    /// fingerprint and names and the ways out (see `tls_trust`).
    pub fn handshake_error(&self, where_: &str, e: &io::Error) -> RemoteError {
        let tls_error = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match tls_error {
            Some(rustls::Error::InvalidCertificate(_)) => {
                let message = match self.inner.verifier.last_refusal() {
                    Some(refusal) => refusal_message(where_, e, &refusal),
                    None => format!(
                        "TLS handshake with {where_} failed: {e} (pin the server's certificate \
                         with --fingerprint, trust its CA with --ca-file, or skip verification \
                         with --insecure)"
                    ),
                };
                RemoteError::new(RemoteErrorKind::Protocol, message)
            }
            Some(_) => RemoteError::new(
                RemoteErrorKind::Protocol,
                format!("TLS handshake with {where_} failed: {e}"),
            ),
            None => RemoteError::io(format_args!("TLS handshake with {where_} failed"), e),
        }
    }

    /// Run the client handshake on `tcp` (its socket timeouts bound every step). `data` only
    /// changes what is logged: whether a data connection resumed the control session.
    pub fn handshake(&self, tcp: TcpStream, data: bool) -> io::Result<TlsStream> {
        let connection =
            ClientConnection::new(self.inner.config.clone(), self.inner.server_name.clone())
                .map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(connection, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        let kind = stream.conn.handshake_kind();
        let version = stream.conn.protocol_version();
        if data {
            if kind == Some(rustls::HandshakeKind::Resumed) {
                debug!("data connection TLS session resumed ({version:?})");
            } else {
                warn!(
                    "data connection did not resume the control connection's TLS session \
                     ({kind:?}, {version:?}); servers that require reuse will refuse it"
                );
            }
        } else {
            debug!("control connection TLS established ({kind:?}, {version:?})");
        }
        Ok(stream)
    }
}

type Built = (
    Arc<ClientConfig>,
    Arc<RecordingVerifier>,
    ServerName<'static>,
);

fn build(config: &FtpConfig) -> Result<Built, RemoteError> {
    let setup_error = |message: String| RemoteError::new(RemoteErrorKind::Other, message);
    let server_name = ServerName::try_from(config.host.clone()).map_err(|e| {
        setup_error(format!(
            "{} is not a valid TLS server name: {e}",
            config.host
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let trust = Trust::for_config(config, provider.clone())?;
    let verifier = Arc::new(RecordingVerifier::new(trust));
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| setup_error(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    Ok((Arc::new(client_config), verifier, server_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(tls: TlsMode) -> FtpConfig {
        let mut config = FtpConfig::new("127.0.0.1", 21);
        config.tls = tls;
        config
    }

    #[test]
    fn plain_ftp_has_no_tls_session() {
        let context = TlsContext::for_config(&config(TlsMode::None));
        assert!(context.new_session().unwrap().is_none());
    }

    #[test]
    fn unreadable_ca_file_fails_every_connection_with_its_path() {
        let mut config = config(TlsMode::Explicit);
        config.ca_file = Some("/nonexistent/ftpfs-ca.pem".into());
        let context = TlsContext::for_config(&config);
        let error = context.new_session().err().expect("must fail");
        assert!(
            error.message.contains("/nonexistent/ftpfs-ca.pem"),
            "{}",
            error.message
        );
        assert!(context.new_session().is_err(), "the failure is kept");
    }

    #[test]
    fn ca_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("ftpfs-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let mut config = config(TlsMode::Implicit);
        config.ca_file = Some(path.clone());
        let error = TlsContext::for_config(&config).new_session().err();
        std::fs::remove_file(&path).unwrap();
        let error = error.expect("must fail");
        assert!(
            error.message.contains("no PEM certificate"),
            "{}",
            error.message
        );
    }

    #[test]
    fn each_control_connection_gets_its_own_session_cache() {
        let mut config = config(TlsMode::Explicit);
        config.insecure = true;
        let context = TlsContext::for_config(&config);
        let a = context.new_session().unwrap().unwrap();
        let b = context.new_session().unwrap().unwrap();
        assert_eq!(a.mode(), TlsMode::Explicit);
        assert!(!Arc::ptr_eq(&a.inner.config, &b.inner.config));
        // A data connection's copy of the session shares the control connection's cache.
        let data = a.clone();
        assert!(Arc::ptr_eq(&a.inner.config, &data.inner.config));
    }

    #[test]
    fn certificate_errors_name_the_reason_and_the_way_out() {
        let mut config = config(TlsMode::Explicit);
        config.insecure = true;
        let session = TlsContext::for_config(&config)
            .new_session()
            .unwrap()
            .unwrap();
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let error = session.handshake_error(
            "127.0.0.1:2121",
            &io::Error::new(io::ErrorKind::InvalidData, inner),
        );
        assert_eq!(error.kind, RemoteErrorKind::Protocol);
        assert!(
            error.message.starts_with(
                "TLS handshake with 127.0.0.1:2121 failed: invalid peer certificate: UnknownIssuer"
            ),
            "{}",
            error.message
        );
        assert!(error.message.contains("--fingerprint"), "{}", error.message);
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(
            session.handshake_error("h:21", &reset).kind,
            RemoteErrorKind::Connection
        );
    }
}
