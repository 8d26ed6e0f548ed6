//! A pool of logged-in control connections.
//!
//! Policy (the one place it is written down):
//! - At most `cap` connections exist at once (idle + busy + being opened). `cap` starts at
//!   `FtpConfig::max_connections` and is lowered to what worked when the server turns a login
//!   away as "full" (421, or 530 "too many"): then we queue instead of failing (rclone #4694).
//! - One lane is kept for metadata: with `cap > 1`, long transfers (RETR/STOR/APPE, which hold a
//!   connection for the whole transfer) may use at most `cap - 1` connections, so listings and
//!   stats never wait behind downloads.
//! - Speculative work (listing ahead of a tree walk) takes a connection only through
//!   `try_get_spare`: never waiting, and only while at least one more connection stays idle or
//!   may still be opened for a request somebody waits for.
//! - A connection is returned to the pool by dropping its [`PooledControl`] guard; a connection
//!   marked broken (I/O error, timeout, lost sync) is closed instead, never handed out again.
//! - A connection idle longer than `idle_check_after` is checked with NOOP before reuse; one
//!   idle longer than `idle_close_after` is closed (by the next checkout or by the reaper thread).
//! - Waiting for a free connection is bounded: `io_timeout` x 2 for metadata, x 10 for
//!   transfers (which legitimately wait for other transfers to finish). A queued transfer waits
//!   on past its bound while the transfers holding the connections are moving data (some byte
//!   within the last `io_timeout`): a queue behind long uploads is not a failure, a queue behind
//!   stuck ones is.
//! - A transfer that has to wait calls the pressure hook at once and then every
//!   `PRESSURE_INTERVAL` while it waits (outside the lock): the filesystem uses it to give back
//!   connections held by open files nobody is reading, so a few files left open (a pager, a
//!   paused copy) cannot starve every other transfer until the wait times out.
//!
//! - A connection that ends a transfer, in passive mode, goes back to the pool through a short
//!   background step that opens the next data connection ahead (`data_channel::prepare_ahead`:
//!   EPSV + connect, two round trips no later transfer has to wait for). Transfers prefer idle
//!   connections with one ready, metadata requests those without.
//!
//! Locking: one `parking_lot::Mutex` around the pool state, never held while talking to the
//! network (connecting, NOOP and QUIT happen after it is released).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use log::{debug, warn};
use parking_lot::{Condvar, Mutex};

use super::background::Background;
use super::config::{DataMode, FtpConfig};
use super::control::{ConnectFailure, Control};
use super::data_channel::prepare_ahead;
use super::quirks::Quirks;
use super::tls::TlsContext;
use crate::remote::{PressureHook, RemoteError, RemoteErrorKind};

/// How often a waiting transfer calls the pressure hook again.
const PRESSURE_INTERVAL: Duration = Duration::from_millis(500);

/// What a connection is checked out for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Short exchanges: listings, stat, delete, rename...
    Meta,
    /// A file transfer that holds the connection until it ends.
    Transfer,
}

struct Idle {
    control: Control,
    since: Instant,
}

struct State {
    idle: Vec<Idle>,
    /// Connections that exist or are being opened.
    open: usize,
    /// Of those, checked out for transfers.
    transfers: usize,
    cap: usize,
    closed: bool,
}

struct Inner {
    config: FtpConfig,
    quirks: Quirks,
    /// Built once: roots and verifier are shared by every connection (see `tls`).
    tls: TlsContext,
    state: Mutex<State>,
    freed: Condvar,
    pressure_hook: Mutex<Option<PressureHook>>,
    /// Reference point for `last_progress_ms`.
    epoch: Instant,
    /// When a transfer last moved data, in ms since `epoch`.
    last_progress_ms: AtomicU64,
    /// The threads that open data connections ahead (`prepare_in_background`).
    ahead: Background,
}

impl Inner {
    /// Whether some transfer moved data within `window`.
    fn progressed_within(&self, window: Duration) -> bool {
        let last = Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last) < window
    }
}

/// Connection counts at one moment (for `ftpfs status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolCounts {
    /// Checked out, or being opened.
    pub busy: usize,
    pub idle: usize,
    /// The cap in force (lowered when the server refused a login as full).
    pub cap: usize,
    /// The cap asked for (`max_connections`).
    pub configured: usize,
}

/// The pool; cheap to clone (shared).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

/// A checked-out connection. Derefs to [`Control`]; dropping it returns it to the pool (or
/// closes it when broken).
pub struct PooledControl {
    control: Option<Control>,
    lane: Lane,
    inner: Arc<Inner>,
    /// Its slot was given back early (`give_back_slot`): dropping it only closes it.
    given_back: bool,
}

enum Decision {
    Reuse(Idle),
    Open,
}

impl Pool {
    /// A pool for `config`, with no connection opened yet.
    pub fn new(config: FtpConfig) -> Pool {
        let cap = config.max_connections.max(1);
        let inner = Arc::new(Inner {
            tls: TlsContext::for_config(&config),
            config,
            quirks: Quirks::default(),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                transfers: 0,
                cap,
                closed: false,
            }),
            freed: Condvar::new(),
            pressure_hook: Mutex::new(None),
            epoch: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            ahead: Background::new("ftp-data-ahead"),
        });
        spawn_reaper(Arc::downgrade(&inner));
        Pool { inner }
    }

    pub fn config(&self) -> &FtpConfig {
        &self.inner.config
    }

    pub fn quirks(&self) -> &Quirks {
        &self.inner.quirks
    }

    /// Set what a waiting transfer calls (see the module doc).
    pub fn set_pressure_hook(&self, hook: PressureHook) {
        *self.inner.pressure_hook.lock() = Some(hook);
    }

    /// The current connection cap (lowered when the server refuses connections).
    pub fn cap(&self) -> usize {
        self.inner.state.lock().cap
    }

    /// Connections currently open (idle or busy).
    pub fn open_connections(&self) -> usize {
        self.inner.state.lock().open
    }

    /// Busy, idle, and the learned and configured caps.
    pub fn counts(&self) -> PoolCounts {
        let state = self.inner.state.lock();
        PoolCounts {
            busy: state.open.saturating_sub(state.idle.len()),
            idle: state.idle.len(),
            cap: state.cap,
            configured: self.inner.config.max_connections.max(1),
        }
    }

    /// Check out a connection for `lane`, opening one if allowed, else waiting (bounded).
    pub fn get(&self, lane: Lane) -> Result<PooledControl, RemoteError> {
        let config = &self.inner.config;
        let wait_limit = match lane {
            Lane::Meta => config.io_timeout * 2,
            Lane::Transfer => config.io_timeout * 10,
        };
        let deadline = Instant::now() + wait_limit;
        loop {
            match self.decide(lane, deadline)? {
                Decision::Reuse(idle) => {
                    if let Some(guard) = self.revalidate(idle, lane) {
                        return Ok(guard);
                    }
                    // It was dead and its slot is released: try again.
                }
                Decision::Open => match Control::connect(config, &self.inner.tls) {
                    Ok(control) => {
                        debug!("opened FTP connection to {}", control.peer_addr());
                        return Ok(self.guard(control, lane));
                    }
                    Err(failure) => {
                        if self.open_failed(lane, &failure) {
                            continue;
                        }
                        if failure.server_full && Instant::now() < deadline {
                            // Full even for one connection: someone else holds the slots.
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                        return Err(failure.error);
                    }
                },
            }
        }
    }

    /// A connection for speculative work (listing ahead), only when taking it leaves at least
    /// one connection idle or still allowed to be opened, so a request somebody waits for is
    /// served at once. Prefers opening a new connection over taking the last idle one, and,
    /// like any metadata request, an idle one without a data connection opened ahead. Never
    /// waits; `None` when nothing is spare. The lock is released before any network I/O (the
    /// NOOP of a long-idle connection, or the login of a new one).
    pub fn try_get_spare(&self) -> Option<Result<PooledControl, RemoteError>> {
        let decision = {
            let mut state = self.inner.state.lock();
            let unopened = state.cap.saturating_sub(state.open);
            if state.closed || state.idle.len() + unopened < 2 {
                return None;
            }
            if state.idle.len() >= 2 {
                Decision::Reuse(take_idle(&mut state.idle, Lane::Meta)?)
            } else {
                state.open += 1;
                Decision::Open
            }
        };
        match decision {
            // A stale idle connection is dropped (its slot released): nothing spare this time.
            Decision::Reuse(idle) => self.revalidate(idle, Lane::Meta).map(Ok),
            Decision::Open => match Control::connect(&self.inner.config, &self.inner.tls) {
                Ok(control) => {
                    debug!("opened spare FTP connection to {}", control.peer_addr());
                    Some(Ok(self.guard(control, Lane::Meta)))
                }
                Err(failure) => {
                    self.open_failed(Lane::Meta, &failure);
                    Some(Err(failure.error))
                }
            },
        }
    }

    /// A connection whose slot was reserved for `lane` could not be opened: release the slot
    /// and, when the server turned it away as full while others of ours are open, lower the
    /// cap to what worked. Returns whether that happened (a caller may wait for one of those).
    fn open_failed(&self, lane: Lane, failure: &ConnectFailure) -> bool {
        let mut state = self.inner.state.lock();
        state.open -= 1;
        if lane == Lane::Transfer {
            state.transfers -= 1;
        }
        self.inner.freed.notify_all();
        if !failure.server_full || state.open == 0 {
            return false;
        }
        if state.open < state.cap {
            warn!(
                "server refused connection {} ({}); limiting the pool to {}",
                state.open + 1,
                failure.error.message,
                state.open
            );
            state.cap = state.open;
        }
        true
    }

    /// Under the lock: take an idle connection, reserve a slot to open one, or wait.
    fn decide(&self, lane: Lane, mut deadline: Instant) -> Result<Decision, RemoteError> {
        let mut state = self.inner.state.lock();
        let mut next_hook = Instant::now();
        loop {
            if state.closed {
                return Err(RemoteError::new(
                    RemoteErrorKind::Connection,
                    "pool is shut down",
                ));
            }
            let transfer_limit = if state.cap > 1 { state.cap - 1 } else { 1 };
            let lane_ok = lane == Lane::Meta || state.transfers < transfer_limit;
            if lane_ok {
                if let Some(idle) = take_idle(&mut state.idle, lane) {
                    if lane == Lane::Transfer {
                        state.transfers += 1;
                    }
                    return Ok(Decision::Reuse(idle));
                }
                if state.open < state.cap {
                    state.open += 1;
                    if lane == Lane::Transfer {
                        state.transfers += 1;
                    }
                    return Ok(Decision::Open);
                }
            }
            if lane == Lane::Transfer && Instant::now() >= next_hook {
                next_hook = Instant::now() + PRESSURE_INTERVAL;
                let hook = self.inner.pressure_hook.lock().clone();
                if let Some(hook) = hook {
                    parking_lot::MutexGuard::unlocked(&mut state, || hook());
                    continue; // it may have freed a connection
                }
            }
            let wake_at = match lane {
                Lane::Transfer => deadline.min(next_hook),
                Lane::Meta => deadline,
            };
            if self.inner.freed.wait_until(&mut state, wake_at).timed_out()
                && Instant::now() >= deadline
            {
                let io_timeout = self.inner.config.io_timeout;
                if lane == Lane::Transfer && self.inner.progressed_within(io_timeout) {
                    deadline = Instant::now() + io_timeout;
                    continue;
                }
                return Err(RemoteError::new(
                    RemoteErrorKind::TimedOut,
                    "timed out waiting for a free FTP connection",
                ));
            }
        }
    }

    /// Check an idle connection before reuse; on failure release its slot and return None.
    fn revalidate(&self, idle: Idle, lane: Lane) -> Option<PooledControl> {
        let config = &self.inner.config;
        let idle_for = idle.since.elapsed();
        let mut control = idle.control;
        let usable = if idle_for > config.idle_close_after {
            false
        } else if idle_for > config.idle_check_after {
            control.is_alive()
        } else {
            !control.is_broken()
        };
        if !usable {
            debug!("dropping a stale idle connection (idle {idle_for:?})");
            control.mark_broken();
        }
        let guard = self.guard(control, lane);
        // A broken connection's guard releases its slot (and lane) when dropped here.
        usable.then_some(guard)
    }

    fn guard(&self, control: Control, lane: Lane) -> PooledControl {
        PooledControl {
            control: Some(control),
            lane,
            inner: self.inner.clone(),
            given_back: false,
        }
    }

    /// Close every idle connection (QUIT) and refuse new checkouts.
    pub fn shutdown(&self) {
        let idle = {
            let mut state = self.inner.state.lock();
            state.closed = true;
            let idle: Vec<Idle> = state.idle.drain(..).collect();
            state.open -= idle.len();
            self.inner.freed.notify_all();
            idle
        };
        for conn in idle {
            conn.control.quit();
        }
    }
}

impl PooledControl {
    /// Which lane this connection was checked out for.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// A transfer on this connection just moved data (see the module doc on queueing).
    pub fn note_progress(&self) {
        let now = self.inner.epoch.elapsed().as_millis() as u64;
        self.inner.last_progress_ms.store(now, Ordering::Relaxed);
    }

    /// Mark this connection broken and give its slot back now rather than at drop, so that its
    /// owner can check out another in its place: with a cap of two (one for transfers), waiting
    /// for a second transfer slot while holding the first would wait for itself. The
    /// connection is closed at once (a server counting connections per address must see this
    /// one go before the replacement logs in) and stays as a broken handle (its commands fail)
    /// until dropped. A second call does nothing.
    pub fn give_back_slot(&mut self) {
        if self.given_back {
            return;
        }
        let Some(control) = self.control.as_mut() else {
            return;
        };
        control.abandon();
        let mut state = self.inner.state.lock();
        if self.lane == Lane::Transfer {
            state.transfers = state.transfers.saturating_sub(1);
        }
        state.open = state.open.saturating_sub(1);
        self.inner.freed.notify_all();
        drop(state);
        self.given_back = true;
    }

    /// The pool this connection belongs to (to ask something on a second connection).
    pub fn pool(&self) -> Pool {
        Pool {
            inner: self.inner.clone(),
        }
    }
}

impl Deref for PooledControl {
    type Target = Control;
    fn deref(&self) -> &Control {
        self.control.as_ref().expect("control present until drop")
    }
}

impl DerefMut for PooledControl {
    fn deref_mut(&mut self) -> &mut Control {
        self.control.as_mut().expect("control present until drop")
    }
}

impl Drop for PooledControl {
    fn drop(&mut self) {
        let Some(control) = self.control.take() else {
            return;
        };
        if self.given_back {
            drop(control);
            return;
        }
        let mut state = self.inner.state.lock();
        if self.lane == Lane::Transfer {
            state.transfers = state.transfers.saturating_sub(1);
        }
        let prepare = self.lane == Lane::Transfer
            && self.inner.config.data_mode == DataMode::Passive
            && !control.has_ready_data();
        drop(state);
        if prepare && !control.is_broken() {
            prepare_in_background(self.inner.clone(), control);
        } else {
            put_back(&self.inner, control);
        }
    }
}

/// An idle connection for `lane`: transfers prefer one with a data connection opened ahead,
/// metadata requests one without (leaving those for transfers); else the most recent.
fn take_idle(idle: &mut Vec<Idle>, lane: Lane) -> Option<Idle> {
    let wanted = lane == Lane::Transfer;
    let index = idle
        .iter()
        .rposition(|i| i.control.has_ready_data() == wanted)
        .or_else(|| idle.len().checked_sub(1))?;
    Some(idle.remove(index))
}

/// Return a connection to the idle list, or close it when broken or the pool is shut down.
fn put_back(inner: &Inner, control: Control) {
    let mut state = inner.state.lock();
    if control.is_broken() || state.closed {
        state.open = state.open.saturating_sub(1);
        inner.freed.notify_all();
        drop(state);
        drop(control);
    } else {
        state.idle.push(Idle {
            control,
            since: Instant::now(),
        });
        inner.freed.notify_all();
    }
}

/// Open the next data connection ahead on a background thread (`Inner::ahead`), then return
/// the connection to the pool (it stays counted as open, not idle, meanwhile). A failure only
/// costs the head start.
fn prepare_in_background(inner: Arc<Inner>, control: Control) {
    let task_inner = inner.clone();
    inner.ahead.run(move || {
        let mut control = control;
        if let Err(e) = prepare_ahead(&mut control, &task_inner.quirks) {
            debug!("could not open a data connection ahead: {e}");
        }
        put_back(&task_inner, control);
    });
}

/// Close connections idle past `idle_close_after`, until the pool is dropped.
fn spawn_reaper(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("ftp-pool-reaper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(2));
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let expired: Vec<Idle> = {
                    let mut state = inner.state.lock();
                    if state.closed {
                        return;
                    }
                    let limit = inner.config.idle_close_after;
                    let (old, keep): (Vec<Idle>, Vec<Idle>) = state
                        .idle
                        .drain(..)
                        .partition(|i| i.since.elapsed() > limit);
                    state.idle = keep;
                    state.open -= old.len();
                    if !old.is_empty() {
                        inner.freed.notify_all();
                    }
                    old
                };
                for conn in expired {
                    conn.control.quit();
                }
            }
        });
    if let Err(e) = spawned {
        warn!("could not start the idle-connection reaper: {e}");
    }
}
