//! The one-thread mio reactor: accepts RTSP connections, reads and writes them, receives RTCP,
//! and wakes the [`Core`] when its timer wheel says a frame is due.
//!
//! Tokens: the listener, the RTP and RTCP sockets, a waker (for shutdown and the rendition
//! worker), then one per connection
//! (slot index + [`CONN_BASE`]). mio is edge-triggered, so every readable socket is drained until
//! `WouldBlock`, and a connection that stops being read for backpressure is remembered and read
//! again when its output drains. WRITABLE interest is registered only while output is pending.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::rtsp::message::Limits;
use crate::server::catalog::Catalog;
use crate::server::config::Config;
use crate::server::conn::Conn;
use crate::server::conns::{Conns, Io};
use crate::server::core::multicast::GroupChange;
use crate::server::core::{Core, RtcpFrom};
use crate::server::groups::{set_ttl, GroupSockets, GROUP_BASE};
use crate::server::relay::link::{Links, RELAY_BASE};
use crate::server::signals::SignalFd;
use crate::server::timer::TimerWheel;
use crate::server::timerfd::{set_timer_slack, TimerFd};
use crate::server::udp::{bind_udp_pair, UdpSender};
use crate::server::worker::Worker;

const LISTENER: Token = Token(0);
const RTP: Token = Token(1);
const RTCP: Token = Token(2);
const WAKER: Token = Token(3);
const SIGNALS: Token = Token(4);
const TIMER: Token = Token(5);
pub(super) const CONN_BASE: usize = 16;

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

pub struct Server {
    pub(super) poll: Poll,
    pub(super) listener: TcpListener,
    pub(super) rtp: UdpSocket,
    pub(super) rtcp: UdpSocket,
    pub(super) udp: UdpSender,
    pub(super) core: Core,
    pub(super) conns: Conns,
    /// Lab-dialect grace timers: (slot, connection serial).
    pub(super) grace: TimerWheel<(usize, u64)>,
    pub(super) dirty: Vec<usize>,
    pub(super) serial: u64,
    pub(super) limits: Limits,
    pub(super) shutdown: ShutdownHandle,
    pub(super) rtsp_addr: SocketAddr,
    pub(super) rtp_addr: SocketAddr,
    /// When a connection limit was last logged: refusals are logged at most every 10 s.
    pub(super) refused_logged: Option<Instant>,
    /// Next sweep for idle connections.
    pub(super) next_sweep: Instant,
    pub(super) signals: Option<SignalFd>,
    /// Makes renditions for adaptive sessions off this thread (shares the shutdown waker).
    /// Started by `run`, after `stop_on_signals` has blocked the signals it handles: a thread
    /// started before would inherit them unblocked and take SIGTERM's default action.
    pub(super) worker: Option<Worker>,
    /// Sockets on multicast groups' RTCP ports.
    pub(super) groups: GroupSockets,
    /// Wakes the loop when the next timer is due, to the microsecond.
    pub(super) timer: TimerFd,
    /// The HTTP side of the port (`web`): tunnels, counters.
    pub(super) web: crate::server::web::Web,
    /// Relays' connections to their origins.
    pub(super) relay_links: Links,
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
        if config.multicast.is_some() {
            for sock in [&rtp, &rtcp] {
                set_ttl(sock, config.multicast_ttl)
                    .map_err(|e| StartError(format!("multicast TTL: {e}")))?;
            }
        }
        // Publishers' RTP arrives here in bursts of a frame's packets (best effort).
        let _ = socket2::SockRef::from(&rtp).set_recv_buffer_size(4 << 20);
        let poll = Poll::new().map_err(|e| StartError(e.to_string()))?;
        let waker =
            Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| StartError(e.to_string()))?);
        let now = Instant::now();
        let limits = Limits {
            max_head: config.max_head,
            max_headers: config.max_headers,
            max_body: config.max_body,
        };
        let core = Core::new(config, catalog, rtp_addr.port(), now).map_err(StartError)?;
        let names = core.library().names();
        info!(
            "media folder {}: {} movie and playlist file(s), read when first asked for",
            core.library().catalog().root().display(),
            names.len()
        );
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
            worker: None,
            groups: GroupSockets::default(),
            timer: TimerFd::new().map_err(|e| StartError(format!("timerfd: {e}")))?,
            web: crate::server::web::Web::new(SystemTime::now()),
            relay_links: Links::default(),
        };
        let reg = server.poll.registry();
        reg.register(
            &mut mio::unix::SourceFd(&server.timer.as_raw_fd()),
            TIMER,
            Interest::READABLE,
        )
        .and_then(|_| reg.register(&mut server.listener, LISTENER, Interest::READABLE))
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
        // Bound to every address: a browser on this machine reaches it on loopback.
        let ip = self.rtsp_addr.ip();
        let (browse, elsewhere) = if ip.is_unspecified() {
            let lo: IpAddr = if ip.is_ipv4() {
                Ipv4Addr::LOCALHOST.into()
            } else {
                Ipv6Addr::LOCALHOST.into()
            };
            let at = SocketAddr::new(lo, self.rtsp_addr.port());
            (at, " (or this host's address)")
        } else {
            (self.rtsp_addr, "")
        };
        info!(
            "rtspd listening on rtsp://{} (RTP/RTCP on UDP {}-{}); in a browser: http://{browse}/{elsewhere}",
            self.rtsp_addr,
            self.rtp_addr.port(),
            self.rtp_addr.port() + 1,
        );
        self.worker = Some(Worker::spawn(self.shutdown.waker.clone())?);
        set_timer_slack(Duration::from_micros(1));
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
            // Due now: a zero time-out; later: the timerfd, to the microsecond.
            let timeout = match next {
                Some(t) if t <= now => Some(Duration::ZERO),
                Some(t) => {
                    self.timer.arm_for(t, now)?;
                    None
                }
                None => None,
            };
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
                    RTP => self.drain_rtp(now, wall),
                    RTCP => self.drain_rtcp(now),
                    WAKER => {}
                    TIMER => self.timer.clear(),
                    SIGNALS => {
                        if let Some(sig) = self.signals.as_ref().and_then(SignalFd::take) {
                            info!("signal {sig} received");
                            self.shutdown.flag.store(true, Ordering::SeqCst);
                        }
                    }
                    Token(t) if t >= GROUP_BASE => {
                        let core = &mut self.core;
                        self.groups.drain(t, |from, data| {
                            core.handle_rtcp(RtcpFrom::Udp(from), data, now)
                        });
                    }
                    Token(t) if t >= RELAY_BASE => {
                        self.relay_event(t - RELAY_BASE, event, now, wall)
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
            self.relay_io(now, wall);
            self.deliver_replies(now, wall);
            self.end_viewers();
            self.exchange_renditions();
            while let Some(change) = self.core.poll_group_change() {
                match change {
                    GroupChange::Join(a) => self.groups.join(self.poll.registry(), a),
                    GroupChange::Leave(a) => self.groups.leave(self.poll.registry(), a),
                }
            }
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
        self.relay_io(now, wall);
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
                        self.web.refused += 1;
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

    fn drain_rtp(&mut self, now: Instant, wall: SystemTime) {
        // Publishers' RTP comes here; anything else is dropped by the core. Read it empty so it
        // cannot fill up.
        let mut buf = vec![0u8; 65_536];
        loop {
            match self.rtp.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let (core, mut io) = self.parts();
                    core.handle_publisher_rtp(from, &buf[..n], now, wall, &mut io);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {}
            }
        }
    }

    fn drain_rtcp(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        loop {
            match self.rtcp.recv_from(&mut buf) {
                Ok((n, from)) => self.core.handle_rtcp(RtcpFrom::Udp(from), &buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors surface here as ECONNREFUSED; they concern an earlier send.
                Err(_) => {}
            }
        }
    }

    /// The core and the sockets it sends through, borrowed apart.
    pub(super) fn parts(&mut self) -> (&mut Core, Io<'_>) {
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
                    self.http_drained(slot, now, wall);
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
        let mut busy = self.core.connections_with_sessions();
        self.http_busy(&mut busy, now);
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

    /// Hands the core's rendition jobs to the worker and its finished renditions to the core.
    fn exchange_renditions(&mut self) {
        let Some(worker) = self.worker.as_ref() else {
            return;
        };
        while let Some(done) = worker.try_recv() {
            self.core.render_done(done);
        }
        for job in self.core.take_render_jobs() {
            if let Err(job) = worker.submit(job) {
                self.core.render_refused(&job);
            }
        }
    }

    pub(super) fn close(&mut self, slot: usize, now: Instant, wall: SystemTime) {
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
