//! A fault-injection TCP proxy for FTP, in front of a real server on 127.0.0.1.
//!
//! Why our own: network faults (a cut after N bytes, a stalled peer, a slow link, a refused
//! connection, a hostile reply) are what make FTP clients hang or corrupt data, and real servers
//! never produce them on demand. The proxy forwards the control connection and, because FTP
//! opens a new TCP connection per transfer, it also rewrites every `229 (|||port|)` and
//! `227 (h1,h2,h3,h4,p1,p2)` reply to point at a one-shot data listener of its own that forwards
//! to the server's real data port. So data connections can be faulted too.
//!
//! Faults are switched at run time through the [`FaultProxy`] handle (atomics and a mutex shared
//! with the forwarding threads):
//! - [`CutRule`]: cut a connection (control or data, either direction) after N bytes or at a
//!   given reply, on every K-th new connection, a bounded number of times. A cut is a TCP reset
//!   (SO_LINGER 0) on both sides, like a broken path, or ([`CutStyle::CleanToClient`]) a clean
//!   EOF towards the client, the case where only the final reply tells a short transfer.
//! - stall: stop forwarding (sockets stay open, nothing moves), new connections included.
//! - rate limit in bytes per second per direction and connection.
//! - refuse: close new control connections as soon as they are accepted.
//! - refuse EPSV (answer `502` without asking the server), so clients fall back to PASV.
//! - name another address in 227 replies (a loopback decoy that counts who connects to it).
//! - replace the next server reply with an endless line or an endless multi-line reply.
//!
//! Threads: one acceptor per listener and two per connection (one per direction). Every socket
//! has short timeouts so threads notice a stall, a cut or the proxy being dropped; dropping the
//! handle shuts every connection down, so no thread outlives its test for long. Loopback only.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// How often blocked threads wake up to look at the fault switches.
const POLL: Duration = Duration::from_millis(50);
/// How long a data listener waits for the client to connect.
const DATA_ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
const CHUNK: usize = 64 * 1024;

mod leg;
use leg::Leg;

/// Which kind of connection a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Control,
    Data,
}

/// Which way the bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Server to client (replies, downloads, listings).
    ToClient,
    /// Client to server (commands, uploads).
    ToServer,
}

/// When an armed connection is cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CutWhen {
    /// After this many bytes went through in the rule's direction.
    AfterBytes(u64),
    /// Right after forwarding a control line starting with this text (e.g. "150").
    AfterLine(String),
    /// Instead of forwarding a control line starting with this text (e.g. "226", or a
    /// command's verb towards the server).
    BeforeLine(String),
}

/// How a cut ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CutStyle {
    /// TCP reset on both sides: a broken path.
    #[default]
    Reset,
    /// A clean end of stream (FIN) towards the client and a reset towards the server: the
    /// client sees a normal EOF and only the server's final reply can tell it was cut short.
    CleanToClient,
}

/// Cut connections of `channel` in `direction`: the rule arms every `every`-th new connection
/// of that channel (1 = all) and fires at most `times` times; arming costs nothing, so short
/// connections that never reach the cut point do not use up the rule.
#[derive(Clone, Debug)]
pub struct CutRule {
    pub channel: Channel,
    pub direction: Direction,
    pub when: CutWhen,
    pub every: usize,
    pub times: usize,
    pub style: CutStyle,
}

impl CutRule {
    /// The same rule, ending connections with a clean EOF towards the client.
    pub fn clean_to_client(mut self) -> CutRule {
        self.style = CutStyle::CleanToClient;
        self
    }

    /// Cut the next `times` connections of `channel` after `bytes` bytes towards the client.
    pub fn download_after(channel: Channel, bytes: u64, times: usize) -> CutRule {
        CutRule {
            channel,
            direction: Direction::ToClient,
            when: CutWhen::AfterBytes(bytes),
            every: 1,
            times,
            style: CutStyle::Reset,
        }
    }

    /// Cut the next `times` data connections after `bytes` bytes towards the server.
    pub fn upload_after(bytes: u64, times: usize) -> CutRule {
        CutRule {
            channel: Channel::Data,
            direction: Direction::ToServer,
            when: CutWhen::AfterBytes(bytes),
            every: 1,
            times,
            style: CutStyle::Reset,
        }
    }

    /// Cut the control connection instead of passing on a command `verb` (upper case): the
    /// server never sees it, as when the connection had gone stale before the command.
    pub fn control_at_command(verb: &str, times: usize) -> CutRule {
        CutRule {
            channel: Channel::Control,
            direction: Direction::ToServer,
            when: CutWhen::BeforeLine(verb.to_string()),
            every: 1,
            times,
            style: CutStyle::Reset,
        }
    }

    /// Cut the control connection right after (or instead of) a reply starting with `code`.
    pub fn control_at_reply(code: &str, forward_it: bool, times: usize) -> CutRule {
        CutRule {
            channel: Channel::Control,
            direction: Direction::ToClient,
            when: if forward_it {
                CutWhen::AfterLine(code.to_string())
            } else {
                CutWhen::BeforeLine(code.to_string())
            },
            every: 1,
            times,
            style: CutStyle::Reset,
        }
    }
}

/// What replaces the next server reply when garbage is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// `200 AAAA...` without ever ending the line.
    EndlessLine,
    /// `200-AAAA` lines forever, never the closing `200 ` line.
    EndlessMultiline,
}

struct RuleState {
    rule: CutRule,
    /// Connections of the rule's channel accepted since the rule was added.
    seen: usize,
    remaining: usize,
}

struct Shared {
    upstream: SocketAddr,
    closing: AtomicBool,
    stalled: AtomicBool,
    refusing: AtomicBool,
    refuse_epsv: AtomicBool,
    /// Bytes per second per direction and connection; 0 = unlimited.
    rate: AtomicU64,
    garbage: Mutex<Option<Garbage>>,
    pasv_address: Mutex<Option<Ipv4Addr>>,
    rules: Mutex<Vec<RuleState>>,
    control_seen: AtomicUsize,
    data_seen: AtomicUsize,
    cuts_fired: AtomicUsize,
    decoy_hits: AtomicUsize,
    /// Who connected to our data listeners (always on 127.0.0.1).
    data_peers: Mutex<Vec<SocketAddr>>,
    connections: Mutex<Vec<Weak<Conn>>>,
}

/// A handle on a running proxy; dropping it stops the proxy and cuts its connections.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (a control port).
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream,
            closing: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            refuse_epsv: AtomicBool::new(false),
            rate: AtomicU64::new(0),
            garbage: Mutex::new(None),
            pasv_address: Mutex::new(None),
            rules: Mutex::new(Vec::new()),
            control_seen: AtomicUsize::new(0),
            data_seen: AtomicUsize::new(0),
            cuts_fired: AtomicUsize::new(0),
            decoy_hits: AtomicUsize::new(0),
            data_peers: Mutex::new(Vec::new()),
            connections: Mutex::new(Vec::new()),
        });
        let for_thread = shared.clone();
        thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_control(listener, for_thread))
            .expect("spawn proxy acceptor");
        FaultProxy { port, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Adds a cut rule (rules apply to connections accepted from now on).
    pub fn add_cut(&self, rule: CutRule) {
        let remaining = rule.times;
        self.shared.rules.lock().unwrap().push(RuleState {
            rule,
            seen: 0,
            remaining,
        });
    }

    /// Forgets every rule (connections already armed are not cut any more).
    pub fn clear_cuts(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// How many cuts happened so far.
    pub fn cuts_fired(&self) -> usize {
        self.shared.cuts_fired.load(Ordering::SeqCst)
    }

    /// Stop (true) or resume (false) forwarding on every connection, new ones included.
    pub fn set_stalled(&self, stalled: bool) {
        self.shared.stalled.store(stalled, Ordering::SeqCst);
    }

    /// Limit each direction of each connection to `bytes_per_second` (None: unlimited).
    pub fn set_rate_limit(&self, bytes_per_second: Option<u64>) {
        let rate = bytes_per_second.unwrap_or(0);
        self.shared.rate.store(rate, Ordering::SeqCst);
    }

    /// Close new control connections right after accepting them.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Answer EPSV with 502 ourselves, so the client has to use PASV.
    pub fn set_refuse_epsv(&self, refuse: bool) {
        self.shared.refuse_epsv.store(refuse, Ordering::SeqCst);
    }

    /// Name `address` (instead of 127.0.0.1) in rewritten 227 replies. When it is another
    /// loopback address, a decoy listener on it counts connections ([`Self::decoy_hits`]).
    pub fn set_pasv_address(&self, address: Option<Ipv4Addr>) {
        *self.shared.pasv_address.lock().unwrap() = address;
    }

    /// Replace the next reply line the server sends with endless garbage.
    pub fn inject_garbage_reply(&self, garbage: Garbage) {
        *self.shared.garbage.lock().unwrap() = Some(garbage);
    }

    /// Control connections accepted (refused ones included).
    pub fn control_connections(&self) -> usize {
        self.shared.control_seen.load(Ordering::SeqCst)
    }

    /// Data connections accepted on our data listeners.
    pub fn data_connections(&self) -> usize {
        self.shared.data_seen.load(Ordering::SeqCst)
    }

    /// Where data connections came from.
    pub fn data_peers(&self) -> Vec<SocketAddr> {
        self.shared.data_peers.lock().unwrap().clone()
    }

    /// Connections that followed a 227 reply to the decoy address.
    pub fn decoy_hits(&self) -> usize {
        self.shared.decoy_hits.load(Ordering::SeqCst)
    }

    /// Cut every live connection now (both directions, with a reset).
    pub fn cut_all(&self) {
        for conn in live_connections(&self.shared) {
            conn.cut();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        for conn in live_connections(&self.shared) {
            conn.cut();
        }
    }
}

fn live_connections(shared: &Shared) -> Vec<Arc<Conn>> {
    let mut list = shared.connections.lock().unwrap();
    list.retain(|weak| weak.strong_count() > 0);
    list.iter().filter_map(Weak::upgrade).collect()
}

/// One proxied connection: the client side, the server side, and whether it was cut.
struct Conn {
    client: TcpStream,
    server: TcpStream,
    dead: AtomicBool,
}

impl Conn {
    /// Reset both sides: SO_LINGER 0 makes the final close send RST instead of FIN, and
    /// SHUT_RD wakes the threads blocked reading (on Linux it sends nothing).
    fn cut(&self) {
        self.cut_as(CutStyle::Reset);
    }

    fn cut_as(&self, style: CutStyle) {
        self.dead.store(true, Ordering::SeqCst);
        set_linger_zero(&self.server);
        if style == CutStyle::Reset {
            set_linger_zero(&self.client);
        } else {
            let _ = self.client.shutdown(Shutdown::Write);
        }
        for stream in [&self.client, &self.server] {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    fn side(&self, direction: Direction) -> (&TcpStream, &TcpStream) {
        match direction {
            Direction::ToClient => (&self.server, &self.client),
            Direction::ToServer => (&self.client, &self.server),
        }
    }
}

fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized, initialised linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn accept_control(listener: TcpListener, shared: Arc<Shared>) {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    while !shared.closing.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.control_seen.fetch_add(1, Ordering::SeqCst);
                if shared.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = shared.upstream;
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                else {
                    drop(client); // server down: the client sees the connection close
                    continue;
                };
                spawn_connection(&shared, Channel::Control, client, server);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL / 5),
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// A cut point a connection is armed with: the rule's index, its condition and style.
#[derive(Clone)]
struct Armed {
    rule: usize,
    direction: Direction,
    when: CutWhen,
    style: CutStyle,
}

/// The cut points this new connection is armed with, one per direction at most.
fn arm(shared: &Shared, channel: Channel) -> Vec<Armed> {
    let mut rules = shared.rules.lock().unwrap();
    let mut armed = Vec::new();
    for (index, state) in rules.iter_mut().enumerate() {
        if state.rule.channel != channel {
            continue;
        }
        state.seen += 1;
        let every = state.rule.every.max(1);
        if state.remaining > 0 && state.seen % every == 0 {
            armed.push(Armed {
                rule: index,
                direction: state.rule.direction,
                when: state.rule.when.clone(),
                style: state.rule.style,
            });
        }
    }
    armed
}

/// Consume one cut of rule `index`; false when the rule is spent (or cleared).
fn fire(shared: &Shared, index: usize) -> bool {
    let mut rules = shared.rules.lock().unwrap();
    match rules.get_mut(index) {
        Some(state) if state.remaining > 0 => {
            state.remaining -= 1;
            shared.cuts_fired.fetch_add(1, Ordering::SeqCst);
            true
        }
        _ => false,
    }
}

fn spawn_connection(shared: &Arc<Shared>, channel: Channel, client: TcpStream, server: TcpStream) {
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(POLL));
        let _ = stream.set_write_timeout(Some(POLL));
    }
    let conn = Arc::new(Conn {
        client,
        server,
        dead: AtomicBool::new(false),
    });
    shared
        .connections
        .lock()
        .unwrap()
        .push(Arc::downgrade(&conn));
    let armed = arm(shared, channel);
    for direction in [Direction::ToClient, Direction::ToServer] {
        let cut = armed.iter().find(|a| a.direction == direction).cloned();
        let leg = Leg {
            shared: shared.clone(),
            conn: conn.clone(),
            channel,
            direction,
            forwarded: 0,
            cut,
        };
        thread::Builder::new()
            .name(format!("proxy-{channel:?}-{direction:?}"))
            .spawn(move || leg.run())
            .expect("spawn proxy leg");
    }
}
