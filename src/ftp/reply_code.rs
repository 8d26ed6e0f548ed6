//! Names for the FTP reply codes the client acts on (RFC 959 section 4.2.2, RFC 2228 for
//! AUTH, RFC 2428 for EPSV, RFC 3659 for SIZE/MDTM).
//!
//! Why names: a bare `550` or `350` says nothing to a reader who does not know RFC 959 by
//! heart, and a typo (`530` for `550`) compiles silently. Every comparison of a reply code in
//! `ftp/` goes through these constants; what a code *means* for an operation (an errno, a
//! fallback) is decided in one place, `reply_errors`.

/// 120: the service will be ready in a few minutes (comes before the real greeting).
pub(crate) const SERVICE_READY_SOON: u16 = 120;
/// 200: command okay (NOOP, TYPE, PORT, ...).
pub(crate) const OK: u16 = 200;
/// 202: command not needed here (some servers answer USER of an open server this way).
pub(crate) const SUPERFLUOUS: u16 = 202;
/// 211: system status; the FEAT reply.
pub(crate) const SYSTEM_STATUS: u16 = 211;
/// 212: directory status; proftpd's `STAT dir` listing.
pub(crate) const DIRECTORY_STATUS: u16 = 212;
/// 213: file status; SIZE and MDTM put their value in the text.
pub(crate) const FILE_STATUS: u16 = 213;
/// 220: ready for a new user (the greeting).
pub(crate) const SERVICE_READY: u16 = 220;
/// 250: requested file action okay, completed (RNTO, DELE, CWD, ...).
pub(crate) const FILE_ACTION_OK: u16 = 250;
/// 227: entering passive mode (h1,h2,h3,h4,p1,p2).
pub(crate) const PASSIVE_MODE: u16 = 227;
/// 229: entering extended passive mode (|||port|).
pub(crate) const EXTENDED_PASSIVE_MODE: u16 = 229;
/// 230: user logged in.
pub(crate) const LOGGED_IN: u16 = 230;
/// 234: AUTH TLS accepted; the TLS handshake follows.
pub(crate) const AUTH_ACCEPTED: u16 = 234;
/// 331: user name okay, send the password.
pub(crate) const NEED_PASSWORD: u16 = 331;
/// 332: an account is needed for login.
pub(crate) const NEED_ACCOUNT: u16 = 332;
/// 350: pending further information (after REST and RNFR).
pub(crate) const PENDING: u16 = 350;
/// 421: service not available, the server closes the control connection.
pub(crate) const SERVICE_CLOSING: u16 = 421;
/// 425: cannot open the data connection.
pub(crate) const CANT_OPEN_DATA: u16 = 425;
/// 426: data connection closed, transfer aborted.
pub(crate) const TRANSFER_ABORTED: u16 = 426;
/// 450: file unavailable for now (busy, locked).
pub(crate) const FILE_BUSY: u16 = 450;
/// 452: insufficient storage space in the system.
pub(crate) const INSUFFICIENT_STORAGE: u16 = 452;
/// 500: syntax error, command unrecognized.
pub(crate) const UNRECOGNIZED: u16 = 500;
/// 501: syntax error in parameters or arguments.
pub(crate) const BAD_ARGUMENTS: u16 = 501;
/// 502: command not implemented.
pub(crate) const NOT_IMPLEMENTED: u16 = 502;
/// 504: command not implemented for that parameter.
pub(crate) const NOT_IMPLEMENTED_FOR_PARAMETER: u16 = 504;
/// 530: not logged in.
pub(crate) const NOT_LOGGED_IN: u16 = 530;
/// 532: an account is needed for storing files.
pub(crate) const NEED_ACCOUNT_TO_STORE: u16 = 532;
/// 550: file unavailable (not found, no access, exists, not empty...: ambiguous).
pub(crate) const FILE_UNAVAILABLE: u16 = 550;
/// 552: exceeded storage allocation.
pub(crate) const STORAGE_EXCEEDED: u16 = 552;
/// 553: file name not allowed.
pub(crate) const NAME_NOT_ALLOWED: u16 = 553;
