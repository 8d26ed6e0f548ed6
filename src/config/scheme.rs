//! The one table between a TLS mode, its URL scheme and its default port: `ftp://` (no TLS,
//! port 21), `ftpes://` (explicit `AUTH TLS`, port 21), `ftps://` (implicit TLS, port 990).
//!
//! The SOURCE parser reads it one way, the file-system name shown in `mount` and the daemon's
//! config pipe write it the other way; keeping it in one place keeps them from disagreeing.

use crate::ftp::TlsMode;

/// Every mode, for lookups by name.
const ALL: [TlsMode; 3] = [TlsMode::None, TlsMode::Explicit, TlsMode::Implicit];

/// The URL scheme that selects `tls`.
pub(crate) fn scheme(tls: TlsMode) -> &'static str {
    match tls {
        TlsMode::None => "ftp",
        TlsMode::Explicit => "ftpes",
        TlsMode::Implicit => "ftps",
    }
}

/// The TLS mode a scheme selects (case-insensitive, as URL schemes are); `None` when unknown.
pub(crate) fn from_scheme(name: &str) -> Option<TlsMode> {
    ALL.into_iter()
        .find(|tls| scheme(*tls).eq_ignore_ascii_case(name))
}

/// The port used when none is given.
pub(crate) fn default_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::None | TlsMode::Explicit => 21,
        TlsMode::Implicit => 990,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_table_round_trips() {
        for tls in ALL {
            assert_eq!(from_scheme(scheme(tls)), Some(tls));
            assert_eq!(from_scheme(&scheme(tls).to_uppercase()), Some(tls));
        }
        assert_eq!(from_scheme("sftp"), None);
        assert_eq!(from_scheme(""), None);
        assert_eq!(default_port(TlsMode::None), 21);
        assert_eq!(default_port(TlsMode::Explicit), 21);
        assert_eq!(default_port(TlsMode::Implicit), 990);
    }
}
