//! Where TLS sessions are kept, so that handshakes can resume them instead of starting afresh.
//!
//! Two needs pull in different directions:
//! - **Data connections must resume their own control connection's session.** vsftpd
//!   (`require_ssl_reuse=YES`) and FileZilla Server refuse any other. So each control
//!   connection keeps the session it holds in a store of its own, which only its data
//!   connections read (a pool-wide store would let connection B's handshake replace the session
//!   that connection A's data connections must resume).
//! - **A new control connection should resume a session too** (issue 10: at 50 ms RTT a full
//!   TLS 1.2 handshake costs a round trip more than a resumed one, and opening connections is
//!   what a pool does when work arrives). So the pool also remembers the latest session any of
//!   its connections got, and a new control connection offers that one.
//!
//! [`ControlSessionStore`] does both: its first lookup (the control connection's own handshake)
//! may take the pool's latest session, which it then keeps as its own, so its data connections
//! resume whatever the control connection ended up with: the offered session when the server
//! accepted it, the fresh one (stored by rustls after the handshake) when it did not. Later
//! lookups never fall back to the pool. Servers that cannot resume a session across connections
//! (vsftpd: one process per connection, each with its own cache) just answer with a full
//! handshake, as before.
//!
//! One pool talks to one server name, so the stores ignore the name rustls passes. TLS 1.3
//! tickets are not kept: the client speaks TLS 1.2 only (see `tls`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

/// The latest session any connection of the pool established (shared by the pool).
#[derive(Debug, Default)]
pub struct PoolSessions {
    latest: Mutex<Option<Tls12ClientSessionValue>>,
    kx_hint: Mutex<Option<NamedGroup>>,
}

/// The session store of one control connection and its data connections (see the module doc).
#[derive(Debug)]
pub struct ControlSessionStore {
    own: Mutex<Option<Tls12ClientSessionValue>>,
    pool: Arc<PoolSessions>,
    /// Set by the first lookup: only that one (the control handshake) may use the pool's.
    looked_up: AtomicBool,
}

impl ControlSessionStore {
    pub fn new(pool: Arc<PoolSessions>) -> ControlSessionStore {
        ControlSessionStore {
            own: Mutex::new(None),
            pool,
            looked_up: AtomicBool::new(false),
        }
    }
}

impl ClientSessionStore for ControlSessionStore {
    fn set_kx_hint(&self, _server_name: ServerName<'static>, group: NamedGroup) {
        *self.pool.kx_hint.lock() = Some(group);
    }

    fn kx_hint(&self, _server_name: &ServerName<'_>) -> Option<NamedGroup> {
        *self.pool.kx_hint.lock()
    }

    fn set_tls12_session(&self, _server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        *self.pool.latest.lock() = Some(value.clone());
        *self.own.lock() = Some(value);
    }

    fn tls12_session(&self, _server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        let mut own = self.own.lock();
        if own.is_none() && !self.looked_up.swap(true, Ordering::Relaxed) {
            // The control connection's own handshake: offer the pool's latest session, and keep
            // it as ours in case the server resumes it (rustls may not store it again then).
            *own = self.pool.latest.lock().clone();
        }
        self.looked_up.store(true, Ordering::Relaxed);
        own.clone()
    }

    fn remove_tls12_session(&self, _server_name: &ServerName<'static>) {
        // The server could not resume what we offered: forget it here, and in the pool (it
        // was most likely the pool's latest; if not, one new connection does a full handshake).
        *self.own.lock() = None;
        *self.pool.latest.lock() = None;
    }

    fn insert_tls13_ticket(
        &self,
        _server_name: ServerName<'static>,
        _value: Tls13ClientSessionValue,
    ) {
    }

    fn take_tls13_ticket(
        &self,
        _server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        None
    }
}
