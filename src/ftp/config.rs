//! Connection settings for the FTP client, filled in by the CLI.

use std::time::Duration;

pub use super::certificate::Fingerprint;

/// How the data channel is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DataMode {
    /// EPSV, falling back to PASV (remembered per server) when EPSV is refused.
    #[default]
    Passive,
    /// EPRT, falling back to PORT: the server connects to us.
    Active,
}

/// TLS mode for the control and data connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain FTP: password and data travel unencrypted (ftp://, the default).
    #[default]
    None,
    /// `AUTH TLS` after the greeting (ftpes:// or --tls).
    Explicit,
    /// TLS from the first byte (ftps://).
    Implicit,
}

/// Everything needed to open and log in a control connection.
#[derive(Clone)]
pub struct FtpConfig {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port of the control connection (21, or 990 for implicit TLS, unless given).
    pub port: u16,
    /// `None` logs in as `anonymous`.
    pub user: Option<String>,
    /// Never printed: `Debug` masks it.
    pub password: Option<String>,
    /// Passive (default) or active data connections.
    pub data_mode: DataMode,
    /// Whether and how control and data connections are encrypted.
    pub tls: TlsMode,
    /// Skip certificate verification (--insecure).
    pub insecure: bool,
    /// Extra CA bundle (PEM) to trust; a server certificate in it is trusted as itself, even a
    /// self-signed one marked as a CA (see `tls_trust`).
    pub ca_file: Option<std::path::PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint (--fingerprint).
    pub fingerprint: Option<Fingerprint>,
    /// Maximum number of simultaneous control connections (default 8).
    pub max_connections: usize,
    /// How long connecting (TCP, TLS, greeting) may take (default 10 s).
    pub connect_timeout: Duration,
    /// How long to wait for any single reply line or data progress (default 30 s).
    pub io_timeout: Duration,
    /// Connections idle longer than this get a NOOP before reuse.
    pub idle_check_after: Duration,
    /// Connections idle longer than this are closed.
    pub idle_close_after: Duration,
    /// Largest directory listing we accept (bytes on the data connection). A hostile or broken
    /// server could otherwise stream an endless listing into memory. The default fits about
    /// 600,000 LIST lines.
    pub max_listing_bytes: u64,
}

impl Default for FtpConfig {
    /// The documented defaults; no server yet (empty host, port 0): `new` names one. The
    /// command line shows and uses these values as its defaults.
    fn default() -> Self {
        FtpConfig {
            host: String::new(),
            port: 0,
            user: None,
            password: None,
            data_mode: DataMode::default(),
            tls: TlsMode::default(),
            insecure: false,
            ca_file: None,
            fingerprint: None,
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            idle_check_after: Duration::from_secs(15),
            idle_close_after: Duration::from_secs(120),
            max_listing_bytes: 64 * 1024 * 1024,
        }
    }
}

impl FtpConfig {
    /// Settings with the documented defaults for `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        FtpConfig {
            host: host.into(),
            port,
            ..FtpConfig::default()
        }
    }

    /// The user name sent with USER.
    pub fn login_user(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }

    /// The password sent with PASS (anonymous users get a conventional address).
    pub fn login_password(&self) -> &str {
        match (&self.user, &self.password) {
            (_, Some(p)) => p,
            (None, None) => "ftpfs@",
            (Some(_), None) => "",
        }
    }
}

impl std::fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("data_mode", &self.data_mode)
            .field("tls", &self.tls)
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("fingerprint", &self.fingerprint)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish()
    }
}
