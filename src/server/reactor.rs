//! The one-thread mio reactor: accepts RTSP connections, reads and writes them, receives RTCP,
//! and wakes the [`Core`] when its timer wheel says a frame is due.
//!
//! Tokens: the listener, the RTP and RTCP sockets, a waker for shutdown, then one per connection
//! (slot index + [`CONN_BASE`]). mio is edge-triggered, so every readable socket is drained until
//! `WouldBlock`, and a connection that stops being read for backpressure is remembered and read
//! again when its output drains. WRITABLE interest is registered only while output is pending.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::rtsp::message::{self, Limits, Message, ParseError, Response, StatusCode};
use crate::server::catalog::Catalog;
use crate::server::config::Config;
use crate::server::conn::{Conn, ReadOutcome};
use crate::server::core::{ConnInfo, Core, Outbox};
use crate::server::signals::SignalFd;
use crate::server::timer::TimerWheel;
use crate::server::udp::{bind_udp_pair, UdpSender};

const LISTENER: Token = Token(0);
const RTP: Token = Token(1);
const RTCP: Token = Token(2);
const WAKER: Token = Token(3);
const SIGNALS: Token = Token(4);
const CONN_BASE: usize = 16;

/// Why the server could not start: one line for the user.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Stops a running server from another thread (or a signal handler's flag watcher).
#[derive(Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// Connections in slots indexed by token, with a free list.
#[derive(Default)]
struct Conns {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    count: usize,
    /// Open connections per peer address, for `max_connections_per_peer`.
    per_peer: HashMap<IpAddr, usize>,
}

impl Conns {
    fn insert(&mut self, conn: Conn) -> usize {
        self.count += 1;
        *self.per_peer.entry(conn.peer.ip()).or_insert(0) += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(conn);
                i
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len() - 1
            }
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Conn> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    fn remove(&mut self, i: usize) -> Option<Conn> {
        let c = self.slots.get_mut(i)?.take()?;
        self.count -= 1;
        if let Some(n) = self.per_peer.get_mut(&c.peer.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&c.peer.ip());
            }
        }
        self.free.push(i);
        Some(c)
    }
}

/// The sockets side of [`Outbox`].
struct Io<'a> {
    rtp: &'a UdpSocket,
    rtcp: &'a UdpSocket,
    udp: &'a mut UdpSender,
    conns: &'a mut Conns,
    dirty: &'a mut Vec<usize>,
    max_queue: usize,
}

impl Outbox for Io<'_> {
    fn rtp_udp(&mut self, dest: SocketAddr, packets: &[(&[u8], &[u8])]) -> usize {
        let outcome = self.udp.send_packets(self.rtp, dest, packets);
        if let Some(e) = &outcome.error {
            // On a shared unconnected socket an ICMP error may come from any earlier peer, so it
            // is counted, not pinned on this session.
            debug!("RTP send to {dest}: {e}");
        }
        outcome.sent_packets
    }

    fn rtcp_udp(&mut self, dest: SocketAddr, packet: &[u8]) {
        if let Err(e) = self.rtcp.send_to(packet, dest) {
            debug!("RTCP send to {dest}: {e}");
        }
    }

    fn interleaved(&mut self, conn: usize, chunks: &[&[u8]]) -> bool {
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        let ok = c.push_media(chunks, self.max_queue);
        if ok {
            self.dirty.push(conn);
        }
        ok
    }
}

pub struct Server {
    poll: Poll,
    listener: TcpListener,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    udp: UdpSender,
    core: Core,
    conns: Conns,
    /// Lab-dialect grace timers: (slot, connection serial).
    grace: TimerWheel<(usize, u64)>,
    dirty: Vec<usize>,
    serial: u64,
    limits: Limits,
    shutdown: ShutdownHandle,
    rtsp_addr: SocketAddr,
    rtp_addr: SocketAddr,
    /// When a connection limit was last logged: refusals are logged at most every 10 s.
    refused_logged: Option<Instant>,
    /// Next sweep for idle connections.
    next_sweep: Instant,
    signals: Option<SignalFd>,
}

impl Server {
    /// Binds every socket and loads the media folder. Nothing is served until [`Server::run`].
    pub fn bind(config: Config) -> Result<Server, StartError> {
        let catalog = Catalog::new(&config.media).map_err(|e| {
            StartError(format!(
                "media folder {}: {e} (use --media DIR)",
                config.media.display()
            ))
        })?;
        let addr = SocketAddr::new(config.bind, config.port);
        let listener =
            TcpListener::bind(addr).map_err(|e| StartError(format!("RTSP port {addr}: {e}")))?;
        let rtsp_addr = listener
            .local_addr()
            .map_err(|e| StartError(e.to_string()))?;
        let (rtp, rtcp) = bind_udp_pair(config.bind, config.rtp_port)
            .map_err(|e| StartError(format!("RTP/RTCP ports {}: {e}", config.rtp_port)))?;
        let rtp_addr = rtp.local_addr().map_err(|e| StartError(e.to_string()))?;
        let poll = Poll::new().map_err(|e| StartError(e.to_string()))?;
        let waker =
            Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| StartError(e.to_string()))?);
        let now = Instant::now();
        let limits = Limits {
            max_head: config.max_head,
            max_headers: config.max_headers,
            max_body: config.max_body,
        };
        let mut core = Core::new(config, catalog, rtp_addr.port(), now).map_err(StartError)?;
        core.load_catalog();
        let mut server = Server {
            poll,
            listener,
            rtp,
            rtcp,
            udp: UdpSender::new(),
            core,
            conns: Conns::default(),
            grace: TimerWheel::new(now, Duration::from_millis(1)),
            dirty: Vec::new(),
            serial: 0,
            limits,
            shutdown: ShutdownHandle {
                flag: Arc::new(AtomicBool::new(false)),
                waker,
            },
            rtsp_addr,
            rtp_addr,
            refused_logged: None,
            next_sweep: now + Duration::from_secs(1),
            signals: None,
        };
        let reg = server.poll.registry();
        reg.register(&mut server.listener, LISTENER, Interest::READABLE)
            .and_then(|_| reg.register(&mut server.rtp, RTP, Interest::READABLE))
            .and_then(|_| reg.register(&mut server.rtcp, RTCP, Interest::READABLE))
            .map_err(|e| StartError(e.to_string()))?;
        Ok(server)
    }

    pub fn rtsp_addr(&self) -> SocketAddr {
        self.rtsp_addr
    }

    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp_addr
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Shuts down cleanly on SIGINT or SIGTERM (blocks both for this thread; call before spawning
    /// threads).
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        let fd = SignalFd::new()?;
        self.poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;
        self.signals = Some(fd);
        Ok(())
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Serves until [`ShutdownHandle::shutdown`], then ends every session with RTCP BYE.
    pub fn run(mut self) -> io::Result<()> {
        info!(
            "rtspd listening on rtsp://{} (RTP/RTCP on UDP {}-{})",
            self.rtsp_addr,
            self.rtp_addr.port(),
            self.rtp_addr.port() + 1
        );
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let next = [
                self.core.poll_timeout(),
                self.grace.next_deadline(),
                Some(self.next_sweep),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = next.map(|t| t.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            let wall = SystemTime::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    RTP => self.drain_rtp(),
                    RTCP => self.drain_rtcp(now),
                    WAKER => {}
                    SIGNALS => {
                        if let Some(sig) = self.signals.as_ref().and_then(SignalFd::take) {
                            info!("signal {sig} received");
                            self.shutdown.flag.store(true, Ordering::SeqCst);
                        }
                    }
                    Token(t) => {
                        let slot = t - CONN_BASE;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_conn(slot, now, wall);
                        }
                        if event.is_writable() {
                            self.dirty.push(slot);
                        }
                    }
                }
            }
            if self.shutdown.flag.load(Ordering::SeqCst) {
                return self.stop(now, wall);
            }
            self.run_timers(now, wall);
            if now >= self.next_sweep {
                self.next_sweep = now + Duration::from_secs(1);
                self.close_idle(now, wall);
            }
            self.flush_dirty(now, wall);
        }
    }

    fn stop(mut self, now: Instant, wall: SystemTime) -> io::Result<()> {
        info!(
            "shutting down: ending {} sessions",
            self.core.session_count()
        );
        let (core, mut io) = self.parts();
        io.max_queue = usize::MAX; // the last reports go out whatever is queued
        core.shutdown(now, wall, &mut io);
        let slots: Vec<usize> = (0..self.conns.slots.len()).collect();
        for slot in slots {
            if let Some(c) = self.conns.get_mut(slot) {
                let _ = c.flush();
            }
        }
        Ok(())
    }

    fn accept(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let config = self.core.config();
                    let from_peer = self.conns.per_peer.get(&peer.ip()).copied().unwrap_or(0);
                    let refusal = if self.conns.count >= config.max_connections {
                        Some(format!(
                            "connection limit {} reached",
                            config.max_connections
                        ))
                    } else if from_peer >= config.max_connections_per_peer {
                        Some(format!(
                            "{} has {from_peer} connections, the most one address may have",
                            peer.ip()
                        ))
                    } else {
                        None
                    };
                    if let Some(why) = refusal {
                        if self
                            .refused_logged
                            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
                        {
                            warn!("{why}: refusing {peer} (and others, logged at most every 10 s)");
                            self.refused_logged = Some(now);
                        }
                        continue; // dropping the stream closes it
                    }
                    let _ = stream.set_nodelay(true);
                    // A bounded kernel send buffer: an interleaved client that stops reading then
                    // backs up into our queue within a fraction of a second, where whole frames
                    // are dropped for it, rather than into megabytes of autotuned buffer that
                    // would replay stale video when it resumes.
                    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
                    let local = stream.local_addr().unwrap_or(self.rtsp_addr);
                    self.serial += 1;
                    let max_request = self.limits.max_head + self.limits.max_body;
                    let conn = Conn::new(stream, peer, local, self.serial, now, max_request);
                    let slot = self.conns.insert(conn);
                    let Some(c) = self.conns.get_mut(slot) else {
                        continue;
                    };
                    if let Err(e) = self.poll.registry().register(
                        &mut c.stream,
                        Token(CONN_BASE + slot),
                        Interest::READABLE,
                    ) {
                        warn!("register {peer}: {e}");
                        self.conns.remove(slot);
                        continue;
                    }
                    debug!("connection from {peer}");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: log and try again on the next event rather than spin.
                    warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn drain_rtp(&mut self) {
        let mut buf = [0u8; 2048];
        // Nothing is expected on the RTP port; read it empty so it cannot fill up.
        while let Ok((_, from)) = self.rtp.recv_from(&mut buf) {
            debug!("ignored datagram on the RTP port from {from}");
        }
    }

    fn drain_rtcp(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        loop {
            match self.rtcp.recv_from(&mut buf) {
                Ok((n, from)) => self.core.handle_rtcp(from.ip(), &buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors surface here as ECONNREFUSED; they concern an earlier send.
                Err(_) => {}
            }
        }
    }

    fn read_conn(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        loop {
            let Some(c) = self.conns.get_mut(slot) else {
                return;
            };
            if c.closing {
                return;
            }
            if c.queued() > self.core.config().max_queue {
                c.read_paused = true;
                return;
            }
            c.read_paused = false;
            let outcome = c.read(now);
            let full = c.input_full();
            match outcome {
                Ok(ReadOutcome::Data(_)) => {
                    self.process_input(slot, now, wall, false);
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    if !full || c.closing || c.input_full() {
                        return;
                    }
                    // The buffer was full and parsing made room: read what is still waiting.
                }
                Ok(ReadOutcome::Eof) => {
                    self.process_input(slot, now, wall, false);
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.closing = true;
                    }
                    self.dirty.push(slot);
                    return;
                }
                Err(e) => {
                    debug!("read error: {e}");
                    self.close(slot, now, wall);
                    return;
                }
            }
        }
    }

    /// Parses and answers every complete message in a connection's input. `at_rest` is set when
    /// the grace time passed with no new bytes: a lab-dialect request may then end without its
    /// blank line.
    fn process_input(&mut self, slot: usize, now: Instant, wall: SystemTime, at_rest: bool) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let mut input = std::mem::take(&mut c.input);
        let info = ConnInfo {
            id: slot,
            peer: c.peer,
            local: c.local,
        };
        let serial = c.serial;
        let mut used = 0;
        let mut reply = Vec::new();
        loop {
            let rest = &input[used..];
            if rest.is_empty() {
                break;
            }
            let parsed = match message::parse(rest, &self.limits) {
                Err(ParseError::Incomplete { .. }) if at_rest && looks_like_lab_request(rest) => {
                    message::parse_unterminated(rest, &self.limits)
                }
                other => other,
            };
            match parsed {
                Ok((msg, n)) => {
                    used += n;
                    match msg {
                        Message::Request(req) => {
                            let (core, mut io) = self.parts();
                            let resp = core.handle_request(&info, &req, now, wall, &mut io);
                            debug!(
                                "{}: {} {} -> {}",
                                info.peer, req.method, req.uri, resp.status.0
                            );
                            reply.clear();
                            resp.write_to(&mut reply);
                        }
                        Message::Interleaved { data, .. } => {
                            // Clients send RTCP receiver reports on the odd channel.
                            self.core.handle_rtcp(info.peer.ip(), &data, now);
                            continue;
                        }
                        Message::Response(_) => continue,
                    }
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    c.push_reply(&reply);
                    self.dirty.push(slot);
                    if c.queued() > self.core.config().max_queue {
                        break; // backpressure: the rest waits until the client reads
                    }
                }
                Err(ParseError::Incomplete { .. }) => {
                    if looks_like_lab_request(rest) {
                        let Some(c) = self.conns.get_mut(slot) else {
                            return;
                        };
                        if !c.grace_pending {
                            c.grace_pending = true;
                            self.grace
                                .insert(now + self.core.config().lab_grace, (slot, serial));
                        }
                    }
                    break;
                }
                Err(e) => {
                    let status = match e {
                        ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                        }
                        ParseError::BodyTooLarge => StatusCode::REQUEST_ENTITY_TOO_LARGE,
                        ParseError::UnsupportedVersion => StatusCode::RTSP_VERSION_NOT_SUPPORTED,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    info!(
                        "{}: bad request ({e}); answering {} and closing",
                        info.peer, status.0
                    );
                    let mut resp = Response::new(status);
                    if let Some(cseq) = sniff_cseq(rest) {
                        resp.headers.append("CSeq", &cseq);
                    }
                    reply.clear();
                    resp.write_to(&mut reply);
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    c.push_reply(&reply);
                    c.closing = true;
                    self.dirty.push(slot);
                    used = input.len();
                    break;
                }
            }
        }
        input.drain(..used);
        if let Some(c) = self.conns.get_mut(slot) {
            if input.is_empty() {
                c.partial_since = None;
            }
            if c.input.is_empty() {
                c.input = input;
            } else {
                // Cannot happen (nothing reads into it meanwhile), but never lose bytes.
                input.extend_from_slice(&c.input);
                c.input = input;
            }
        }
    }

    /// The core and the sockets it sends through, borrowed apart.
    fn parts(&mut self) -> (&mut Core, Io<'_>) {
        let max_queue = self.core.config().max_queue;
        let io = Io {
            rtp: &self.rtp,
            rtcp: &self.rtcp,
            udp: &mut self.udp,
            conns: &mut self.conns,
            dirty: &mut self.dirty,
            max_queue,
        };
        (&mut self.core, io)
    }

    fn run_timers(&mut self, now: Instant, wall: SystemTime) {
        let (core, mut io) = self.parts();
        core.handle_timeout(now, wall, &mut io);
        let grace = self.core.config().lab_grace;
        while let Some((_, (slot, serial))) = self.grace.poll_expired(now) {
            let Some(c) = self.conns.get_mut(slot) else {
                continue;
            };
            if c.serial != serial {
                continue;
            }
            c.grace_pending = false;
            let quiet_since = c.last_rx + grace;
            if quiet_since > now {
                // Bytes arrived during the grace time: wait for the line to go quiet again.
                c.grace_pending = true;
                self.grace.insert(quiet_since, (slot, serial));
                continue;
            }
            self.process_input(slot, now, wall, true);
        }
    }

    fn flush_dirty(&mut self, now: Instant, wall: SystemTime) {
        while let Some(slot) = self.dirty.pop() {
            let Some(c) = self.conns.get_mut(slot) else {
                continue;
            };
            match c.flush() {
                Ok(true) => {
                    if c.closing {
                        self.close(slot, now, wall);
                        continue;
                    }
                    if c.want_write {
                        c.want_write = false;
                        let _ = self.poll.registry().reregister(
                            &mut c.stream,
                            Token(CONN_BASE + slot),
                            Interest::READABLE,
                        );
                    }
                    if c.read_paused {
                        self.read_conn(slot, now, wall);
                    }
                }
                Ok(false) => {
                    if !c.want_write {
                        c.want_write = true;
                        let _ = self.poll.registry().reregister(
                            &mut c.stream,
                            Token(CONN_BASE + slot),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                }
                Err(e) => {
                    debug!("write error: {e}");
                    self.close(slot, now, wall);
                }
            }
        }
    }

    /// Closes connections that carry no session and have sent nothing for the idle time-out
    /// (slowloris and forgotten clients), so they cannot hold connection slots forever.
    fn close_idle(&mut self, now: Instant, wall: SystemTime) {
        let idle = self.core.config().idle_timeout;
        let busy = self.core.connections_with_sessions();
        let stale: Vec<usize> = self
            .conns
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(i, c)| {
                let quiet = !busy.contains(i) && now.saturating_duration_since(c.last_rx) >= idle;
                let dribbling = c
                    .partial_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= idle);
                quiet || dribbling
            })
            .map(|(i, _)| i)
            .collect();
        if !stale.is_empty() {
            info!(
                "closing {} connection(s) idle for {}s without a session, or with a request unfinished that long",
                stale.len(),
                idle.as_secs()
            );
        }
        for slot in stale {
            self.close(slot, now, wall);
        }
    }

    fn close(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let Some(mut c) = self.conns.remove(slot) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        debug!("connection from {} closed", c.peer);
        let (core, mut io) = self.parts();
        core.connection_closed(slot, now, wall, &mut io);
    }
}

/// SO_SNDBUF for RTSP connections. Linux doubles it for its bookkeeping, so this allows 256 KiB
/// in the kernel: about half a second of interleaved 640x480 video.
const SEND_BUFFER: usize = 128 * 1024;

/// A request the classic lab client would send: a method, a relative URL (never `rtsp://`, which
/// every standard client uses), `RTSP/1.0`, and a CSeq line. Client.py sends no line ending after
/// its last header, so none is required.
fn looks_like_lab_request(buf: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(buf) else {
        return false;
    };
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return false;
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    method.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        && !uri.contains("://")
        && uri != "*"
        && version == "RTSP/1.0"
        && lines.any(|l| l.to_ascii_lowercase().starts_with("cseq:"))
}

/// The CSeq of a request too broken to parse, so its error reply can still carry it
/// (RFC 2326 §12.17); digits only, from the first `CSeq:` line in the first 8 KiB.
fn sniff_cseq(buf: &[u8]) -> Option<String> {
    let head = &buf[..buf.len().min(8192)];
    let text = String::from_utf8_lossy(head);
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("cseq") {
            return None;
        }
        let v = value.trim();
        (!v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.to_string())
    })
}
