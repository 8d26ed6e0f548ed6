//! The forwarding half of the proxy: one `Leg` per direction of each connection (control
//! lines, rewritten 227/229 replies, cuts, stalls, rate limits, garbage), and the one-shot data
//! listeners the rewritten replies point at.

use super::*;

/// Why a leg stopped forwarding.
enum Stop {
    /// This leg cut the connection, or it was cut, or the proxy is closing.
    Cut,
    /// A socket failed or the source ended.
    Ended,
}

/// One direction of one connection.
pub(super) struct Leg {
    pub(super) shared: Arc<Shared>,
    pub(super) conn: Arc<Conn>,
    pub(super) channel: Channel,
    pub(super) direction: Direction,
    pub(super) forwarded: u64,
    pub(super) cut: Option<Armed>,
}

impl Leg {
    pub(super) fn run(mut self) {
        let result = if self.channel == Channel::Control {
            self.pump_lines()
        } else {
            self.pump_bytes()
        };
        if let Ok(()) | Err(Stop::Ended) = result
            && !self.conn.dead.load(Ordering::SeqCst)
        {
            // Source ended cleanly: pass the end of stream on.
            let (_, to) = self.conn.side(self.direction);
            let _ = to.shutdown(Shutdown::Write);
        }
    }

    fn stopped(&self) -> bool {
        self.conn.dead.load(Ordering::SeqCst) || self.shared.closing.load(Ordering::SeqCst)
    }

    fn wait_while_stalled(&self) -> Result<(), Stop> {
        while self.shared.stalled.load(Ordering::SeqCst) {
            if self.stopped() {
                return Err(Stop::Cut);
            }
            thread::sleep(POLL / 5);
        }
        if self.stopped() {
            return Err(Stop::Cut);
        }
        Ok(())
    }

    /// Read what the source has (waiting out timeouts and stalls); Ok(None) at its end.
    fn read_some(&self, buffer: &mut [u8]) -> Result<Option<usize>, Stop> {
        let (mut from, _) = self.conn.side(self.direction);
        loop {
            self.wait_while_stalled()?;
            let want = buffer.len().min(self.rate_chunk());
            match from.read(&mut buffer[..want]) {
                Ok(0) => {
                    if self.stopped() {
                        return Err(Stop::Cut);
                    }
                    return Ok(None);
                }
                Ok(n) => return Ok(Some(n)),
                Err(e) if is_retryable(&e) => continue,
                Err(_) => return Err(Stop::Ended),
            }
        }
    }

    fn rate_chunk(&self) -> usize {
        match self.shared.rate.load(Ordering::SeqCst) {
            0 => CHUNK,
            rate => (rate / 20).clamp(1, CHUNK as u64) as usize,
        }
    }

    /// Forward `bytes`, honouring stall, rate limit and a byte-count cut.
    fn send(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        while !bytes.is_empty() {
            self.wait_while_stalled()?;
            let mut take = bytes.len().min(self.rate_chunk());
            let mut cut_now = false;
            if let Some(Armed {
                when: CutWhen::AfterBytes(limit),
                ..
            }) = &self.cut
            {
                let left = limit.saturating_sub(self.forwarded);
                if left <= take as u64 {
                    take = left as usize;
                    cut_now = true;
                }
            }
            self.write_out(&bytes[..take])?;
            bytes = &bytes[take..];
            if cut_now {
                self.fire_cut()?;
            }
        }
        Ok(())
    }

    /// Cut the connection if the armed rule still has cuts left (else disarm and go on).
    fn fire_cut(&mut self) -> Result<(), Stop> {
        let Some(armed) = self.cut.take() else {
            return Ok(());
        };
        if fire(&self.shared, armed.rule) {
            self.conn.cut_as(armed.style);
            return Err(Stop::Cut);
        }
        Ok(())
    }

    /// Write all of `bytes` to the destination, then sleep to honour the rate limit.
    fn write_out(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        let started = Instant::now();
        let total = bytes.len();
        let (_, mut to) = self.conn.side(self.direction);
        while !bytes.is_empty() {
            if self.stopped() {
                return Err(Stop::Cut);
            }
            match to.write(bytes) {
                Ok(0) => return Err(Stop::Ended),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if is_retryable(&e) => continue,
                Err(_) => return Err(Stop::Ended),
            }
        }
        self.forwarded += total as u64;
        let rate = self.shared.rate.load(Ordering::SeqCst);
        if rate > 0 {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            if let Some(rest) = due.checked_sub(started.elapsed()) {
                thread::sleep(rest);
            }
        }
        Ok(())
    }

    fn pump_bytes(&mut self) -> Result<(), Stop> {
        let mut buffer = vec![0u8; CHUNK];
        while let Some(n) = self.read_some(&mut buffer)? {
            self.send(&buffer[..n])?;
        }
        Ok(())
    }

    /// Control connections go line by line, so replies can be rewritten and commands refused.
    fn pump_lines(&mut self) -> Result<(), Stop> {
        let mut buffer = vec![0u8; CHUNK];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let Some(n) = self.read_some(&mut buffer)? else {
                // The source ended: pass on a last unterminated line as it is.
                return self.send(&std::mem::take(&mut pending));
            };
            pending.extend_from_slice(&buffer[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                match self.direction {
                    Direction::ToClient => self.reply_line(line)?,
                    Direction::ToServer => self.command_line(line)?,
                }
            }
        }
    }

    fn command_line(&mut self, line: Vec<u8>) -> Result<(), Stop> {
        let verb: Vec<u8> = line
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(u8::to_ascii_uppercase)
            .collect();
        if verb == b"EPSV" && self.shared.refuse_epsv.load(Ordering::SeqCst) {
            let mut client = &self.conn.client;
            return client
                .write_all(b"502 EPSV disabled by the test proxy\r\n")
                .map_err(|_| Stop::Ended);
        }
        if let Some(CutWhen::BeforeLine(prefix)) = self.cut.as_ref().map(|armed| &armed.when)
            && verb.starts_with(prefix.as_bytes())
        {
            self.fire_cut()?;
        }
        self.send(&line)
    }

    fn reply_line(&mut self, line: Vec<u8>) -> Result<(), Stop> {
        let garbage = self.shared.garbage.lock().unwrap().take();
        if let Some(garbage) = garbage {
            return self.send_garbage(garbage);
        }
        let line = self.rewrite_passive(line);
        let forward_first = match self.cut.as_ref().map(|armed| &armed.when) {
            Some(CutWhen::AfterLine(prefix)) if line.starts_with(prefix.as_bytes()) => true,
            Some(CutWhen::BeforeLine(prefix)) if line.starts_with(prefix.as_bytes()) => false,
            _ => return self.send(&line),
        };
        if forward_first {
            self.send(&line)?;
            return self.fire_cut();
        }
        self.fire_cut()?;
        self.send(&line)
    }

    fn send_garbage(&mut self, garbage: Garbage) -> Result<(), Stop> {
        let filler = vec![b'A'; 16 * 1024];
        let mut first = true;
        loop {
            match garbage {
                Garbage::EndlessLine => {
                    if first {
                        self.write_out(b"200 ")?;
                    }
                    self.write_out(&filler)?;
                }
                Garbage::EndlessMultiline => {
                    self.write_out(if first { b"200-" } else { b" " })?;
                    self.write_out(&filler[..1000])?;
                    self.write_out(b"\r\n")?;
                }
            }
            first = false;
        }
    }

    /// Point 229/227 replies at a new data listener of ours that forwards to the server.
    fn rewrite_passive(&self, line: Vec<u8>) -> Vec<u8> {
        if line.starts_with(b"229 ") {
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some((before, port, after)) = split_epsv(&text)
                && let Some(ours) = self.data_listener(port)
            {
                return format!("{before}{ours}{after}").into_bytes();
            }
        } else if line.starts_with(b"227 ") {
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some((before, port, after)) = split_pasv(&text) {
                let named =
                    (*self.shared.pasv_address.lock().unwrap()).unwrap_or(Ipv4Addr::LOCALHOST);
                if let Some(ours) = self.data_listener(port) {
                    if named != Ipv4Addr::LOCALHOST && named.is_loopback() {
                        spawn_decoy(&self.shared, named, ours);
                    }
                    let [a, b, c, d] = named.octets();
                    let (high, low) = (ours >> 8, ours & 0xff);
                    return format!("{before}{a},{b},{c},{d},{high},{low}{after}").into_bytes();
                }
            }
        }
        line
    }

    /// A one-shot listener on 127.0.0.1 forwarding to the server's data `port`; its port.
    fn data_listener(&self, port: u16) -> Option<u16> {
        let listener = TcpListener::bind("127.0.0.1:0").ok()?;
        let ours = listener.local_addr().ok()?.port();
        let target = SocketAddr::new(self.shared.upstream.ip(), port);
        let shared = self.shared.clone();
        thread::Builder::new()
            .name("proxy-data-accept".into())
            .spawn(move || accept_data(listener, target, shared))
            .ok()?;
        Some(ours)
    }
}

fn is_retryable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn accept_data(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let deadline = Instant::now() + DATA_ACCEPT_TIMEOUT;
    while Instant::now() < deadline && !shared.closing.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, peer)) => {
                shared.data_seen.fetch_add(1, Ordering::SeqCst);
                shared.data_peers.lock().unwrap().push(peer);
                let _ = client.set_nonblocking(false);
                match TcpStream::connect_timeout(&target, Duration::from_secs(5)) {
                    Ok(server) => spawn_connection(&shared, Channel::Data, client, server),
                    Err(_) => drop(client),
                }
                return;
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL / 10),
            Err(_) => return,
        }
    }
}

/// A listener on the decoy address with our data port: anyone connecting there followed the
/// address of the 227 reply, which a client must never do.
fn spawn_decoy(shared: &Arc<Shared>, address: Ipv4Addr, port: u16) {
    let Ok(listener) = TcpListener::bind(SocketAddr::new(IpAddr::V4(address), port)) else {
        return;
    };
    let shared = shared.clone();
    let _ = thread::Builder::new()
        .name("proxy-decoy".into())
        .spawn(move || {
            if listener.set_nonblocking(true).is_err() {
                return;
            }
            let deadline = Instant::now() + DATA_ACCEPT_TIMEOUT;
            while Instant::now() < deadline && !shared.closing.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok(_) => {
                        shared.decoy_hits.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => thread::sleep(POLL / 10),
                }
            }
        });
}

/// `229 Entering Extended Passive Mode (|||6446|)` -> ("...(|||", 6446, "|)...").
fn split_epsv(text: &str) -> Option<(&str, u16, &str)> {
    let open = text.find("(|||")? + 4;
    let close = open + text.get(open..)?.find('|')?;
    let port = text.get(open..close)?.parse().ok()?;
    Some((text.get(..open)?, port, text.get(close..)?))
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` -> ("...(", port, ").").
fn split_pasv(text: &str) -> Option<(&str, u16, &str)> {
    let open = text.find('(')? + 1;
    let close = open + text.get(open..)?.find(')')?;
    let numbers: Vec<u16> = text
        .get(open..close)?
        .split(',')
        .map(|n| n.trim().parse::<u16>().ok())
        .collect::<Option<_>>()?;
    let [_, _, _, _, high, low] = numbers[..] else {
        return None;
    };
    Some((text.get(..open)?, high * 256 + low, text.get(close..)?))
}
