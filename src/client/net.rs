//! The player's network side, on its own thread: RTSP control, RTP/RTCP reception, RFC 2435
//! reassembly and JPEG decoding. The UI thread sends [`Command`]s and receives [`Event`]s and
//! decoded [`Frame`]s over channels, so it never waits on the network.
//!
//! One mio loop multiplexes the RTSP connection (with interleaved RTP when `--tcp`), the RTP and
//! RTCP sockets, and a waker for commands. Dialects: a standard server answers DESCRIBE; a
//! classic lab server ignores it, so when DESCRIBE gets no answer (or "not implemented") the
//! client falls back to the lab client's exact requests and its unterminated replies.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::client::control::{Command, PlayerState};
use crate::client::record::Recorder;
use crate::client::reorder::Reorder;
use crate::client::target::Target;
use crate::jpeg::decode_rgb;
use crate::rtp::jpeg::{Depacketizer, JpegFrame};
use crate::rtp::packet::RtpPacket;
use crate::rtp::rtcp;
use crate::rtp::seq::{ts_diff, ReceptionStats};
use crate::rtsp::auth::{basic_authorization, digest_response, ha1, hex, quote, AuthHeader};
use crate::rtsp::headers::{NptRange, RtpInfo, SessionHeader, Transport};
use crate::rtsp::message::{self, Limits, Message, Method, Request, Response, StatusCode};
use crate::rtsp::sdp::{resolve_control, Sdp};

/// How the player reaches the server.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    /// Local RTP port (RTCP is the next); 0 picks a free even pair.
    pub rtp_port: u16,
    /// RTP interleaved on the RTSP connection instead of UDP.
    pub tcp: bool,
    /// How long DESCRIBE may go unanswered before assuming a lab server.
    pub describe_timeout: Duration,
    /// How long any other request may go unanswered.
    pub request_timeout: Duration,
}

impl Options {
    pub fn new(target: Target) -> Options {
        Options {
            target,
            rtp_port: 0,
            tcp: false,
            describe_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Which RTSP the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Still finding out (DESCRIBE in flight).
    Unknown,
    Standard,
    /// The classic lab server: SETUP/PLAY/PAUSE/TEARDOWN only, terse replies, whole JPEGs.
    Lab,
}

/// What the network side tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The movie as DESCRIBE told it (or the lab fallback, which tells nothing).
    Described {
        dialect: Dialect,
        duration: Option<f64>,
        fps: Option<f64>,
    },
    State(PlayerState),
    /// Something went wrong that the user should see; playback may go on.
    Error(String),
    Recording(Option<PathBuf>),
    /// The network side has stopped; with the reason when it was not a TEARDOWN.
    Closed(Option<String>),
}

/// A decoded frame for the screen.
#[derive(Debug, Clone)]
pub struct Frame {
    pub rgb: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub jpeg: Arc<Vec<u8>>,
    /// Seconds into the movie, when the server gave a Range and RTP-Info (or it can be inferred).
    pub position: Option<f64>,
    /// When the packet that completed it arrived.
    pub received: Instant,
    /// When its decoding finished.
    pub decoded: Instant,
}

/// Counters the network side keeps and the UI reads.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub lost_packets: i64,
    /// Frames not shown: incomplete, undecodable, or the UI was behind.
    pub frames_dropped: u64,
    pub frames_decoded: u64,
    /// Datagrams from an address other than the server's, ignored.
    pub foreign_packets: u64,
}

enum ToNet {
    Do(Command),
    Quit,
}

/// The running network side.
pub struct Client {
    tx: Sender<ToNet>,
    waker: Arc<Waker>,
    pub events: Receiver<Event>,
    pub frames: Receiver<Frame>,
    pub counters: Arc<Mutex<Counters>>,
    thread: Option<JoinHandle<()>>,
}

const RTSP: Token = Token(0);
const RTP: Token = Token(1);
const RTCP: Token = Token(2);
const WAKE: Token = Token(3);

/// Frames waiting for the UI; past this the network side drops rather than queue.
const FRAME_QUEUE: usize = 3;
/// A reply without a blank line (the lab server's) is taken as whole once quiet this long.
const REPLY_GRACE: Duration = Duration::from_millis(50);
const RR_INTERVAL: Duration = Duration::from_secs(5);
const MAX_FRAME: usize = 8 << 20;
const MAX_INPUT: usize = 256 * 1024;

impl Client {
    /// Connects (on the network thread) and describes the movie; SETUP waits for a command.
    pub fn start(opts: Options) -> io::Result<Client> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = mpsc::channel();
        let (ev_tx, events) = mpsc::channel();
        let (fr_tx, frames) = mpsc::sync_channel(FRAME_QUEUE);
        let counters = Arc::new(Mutex::new(Counters::default()));
        let c2 = counters.clone();
        let thread = std::thread::Builder::new()
            .name("rtsp-net".into())
            .spawn(move || {
                let ev = ev_tx.clone();
                let reason = match Engine::connect(opts, poll, rx, ev_tx, fr_tx, c2) {
                    Ok(mut engine) => engine.run().err().map(|e| e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                let _ = ev.send(Event::Closed(reason));
            })?;
        Ok(Client {
            tx,
            waker,
            events,
            frames,
            counters,
            thread: Some(thread),
        })
    }

    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(ToNet::Do(cmd));
        let _ = self.waker.wake();
    }

    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Tears the session down (waiting up to a second for the reply) and stops the thread.
    pub fn shutdown(&mut self) {
        let _ = self.tx.send(ToNet::Quit);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Describe,
    Setup,
    Play(Option<f64>),
    Pause,
    Teardown,
    Keepalive,
}

struct Pending {
    cseq: u32,
    kind: Kind,
    deadline: Instant,
}

enum Media {
    Udp {
        rtp: UdpSocket,
        rtcp: Option<UdpSocket>,
        /// Where receiver reports go: the server's RTCP port.
        server_rtcp: Option<SocketAddr>,
    },
    Tcp {
        rtp: u8,
        rtcp: u8,
    },
}

struct Engine {
    opts: Options,
    poll: Poll,
    rx: Receiver<ToNet>,
    ev: Sender<Event>,
    frames: SyncSender<Frame>,
    counters: Arc<Mutex<Counters>>,
    server_ip: IpAddr,
    rtsp: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    last_rx: Instant,
    dialect: Dialect,
    cseq: u32,
    pending: Option<Pending>,
    queued: VecDeque<Command>,
    state: PlayerState,
    quitting: bool,
    session: Option<String>,
    session_timeout: Duration,
    control: String,
    media: Media,
    depack: Depacketizer,
    reorder: Reorder,
    reception: ReceptionStats,
    sender_ssrc: Option<u32>,
    ssrc: u32,
    /// The last SR's middle NTP bits and when it came (for LSR/DLSR).
    last_sr: Option<(u32, Instant)>,
    /// npt start and the RTP time that matches it, from PLAY's reply.
    anchor: Option<(f64, Option<u32>)>,
    next_rr: Instant,
    next_keepalive: Option<Instant>,
    keepalive_method: Method,
    recorder: Option<Recorder>,
    epoch: Instant,
    /// The server's last challenge, answered on every request once it came.
    auth: Option<Challenge>,
    /// 401s in a row; past two the credentials are wrong.
    auth_failures: u32,
}

/// What a 401 asked for (RFC 2617).
enum Challenge {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        qop: bool,
        nc: u32,
    },
}

impl Challenge {
    /// Digest if the server offers it (it never sends the password), else Basic.
    fn choose<'a>(offers: impl Iterator<Item = &'a str>) -> Option<Challenge> {
        let parsed: Vec<AuthHeader> = offers.filter_map(AuthHeader::parse).collect();
        if let Some(d) = parsed.iter().find(|h| h.is("digest")) {
            let algorithm_ok = d
                .get("algorithm")
                .is_none_or(|a| a.eq_ignore_ascii_case("md5"));
            if algorithm_ok {
                return Some(Challenge::Digest {
                    realm: d.get("realm").unwrap_or("").to_string(),
                    nonce: d.get("nonce")?.to_string(),
                    opaque: d.get("opaque").map(str::to_string),
                    qop: d.get("qop").is_some_and(|q| {
                        q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"))
                    }),
                    nc: 0,
                });
            }
        }
        parsed
            .iter()
            .any(|h| h.is("basic"))
            .then_some(Challenge::Basic)
    }

    fn authorization(&mut self, user: &str, password: &str, method: &str, uri: &str) -> String {
        match self {
            Challenge::Basic => basic_authorization(user, password),
            Challenge::Digest {
                realm,
                nonce,
                opaque,
                qop,
                nc,
            } => {
                let h = ha1(user, realm, password);
                let mut v = format!(
                    "Digest username={}, realm={}, nonce={}, uri={}",
                    quote(user),
                    quote(realm),
                    quote(nonce),
                    quote(uri)
                );
                let response = if *qop {
                    *nc += 1;
                    let nc = format!("{nc:08x}");
                    let mut c = [0u8; 8];
                    let _ = getrandom::fill(&mut c);
                    let cnonce = hex(&c);
                    v.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", quote(&cnonce)));
                    digest_response(&h, nonce, method, uri, Some((&nc, &cnonce)))
                } else {
                    digest_response(&h, nonce, method, uri, None)
                };
                v.push_str(&format!(", response={}, algorithm=MD5", quote(&response)));
                if let Some(o) = opaque {
                    v.push_str(&format!(", opaque={}", quote(o)));
                }
                v
            }
        }
    }
}

impl Engine {
    fn connect(
        opts: Options,
        poll: Poll,
        rx: Receiver<ToNet>,
        ev: Sender<Event>,
        frames: SyncSender<Frame>,
        counters: Arc<Mutex<Counters>>,
    ) -> io::Result<Engine> {
        let t = &opts.target;
        let addr = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", t.host)))?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{}: no address", t.host))
            })?;
        let std = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {addr}: {e}")))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut rtsp = TcpStream::from_std(std);
        poll.registry()
            .register(&mut rtsp, RTSP, Interest::READABLE | Interest::WRITABLE)?;
        let media = if opts.tcp {
            Media::Tcp { rtp: 0, rtcp: 1 }
        } else {
            let (mut rtp, mut rtcp) = bind_pair(opts.rtp_port)?;
            poll.registry()
                .register(&mut rtp, RTP, Interest::READABLE)?;
            if let Some(r) = rtcp.as_mut() {
                poll.registry().register(r, RTCP, Interest::READABLE)?;
            }
            Media::Udp {
                rtp,
                rtcp,
                server_rtcp: None,
            }
        };
        let mut ssrc = [0u8; 4];
        getrandom::fill(&mut ssrc).map_err(|e| io::Error::other(e.to_string()))?;
        let now = Instant::now();
        let control = opts.target.url();
        let mut engine = Engine {
            server_ip: addr.ip(),
            opts,
            poll,
            rx,
            ev,
            frames,
            counters,
            rtsp,
            input: Vec::new(),
            output: Vec::new(),
            last_rx: now,
            dialect: Dialect::Unknown,
            cseq: 0,
            pending: None,
            queued: VecDeque::new(),
            state: PlayerState::Init,
            quitting: false,
            session: None,
            session_timeout: Duration::from_secs(60),
            control,
            media,
            depack: Depacketizer::new(MAX_FRAME),
            reorder: Reorder::new(64, Duration::from_millis(40)),
            reception: ReceptionStats::default(),
            sender_ssrc: None,
            ssrc: u32::from_be_bytes(ssrc),
            last_sr: None,
            anchor: None,
            next_rr: now + RR_INTERVAL,
            next_keepalive: None,
            keepalive_method: Method::GetParameter,
            recorder: None,
            epoch: now,
            auth: None,
            auth_failures: 0,
        };
        info!("connected to {addr}");
        engine.send_request(Kind::Describe, None, now);
        Ok(engine)
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        loop {
            let now = Instant::now();
            let timeout = self
                .next_deadline(now)
                .map(|t| t.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    RTSP if event.is_readable() || event.is_read_closed() => self.read_rtsp(now)?,
                    RTP => self.read_udp(now),
                    RTCP => self.read_rtcp(now),
                    _ => {}
                }
            }
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    ToNet::Do(cmd) => self.queued.push_back(cmd),
                    ToNet::Quit => self.quit(now),
                }
            }
            self.timers(now)?;
            self.drain_reorder(now);
            self.flush()?;
            if self.state == PlayerState::Closed && self.output.is_empty() {
                return Ok(());
            }
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut t = now + Duration::from_millis(250);
        if let Some(p) = &self.pending {
            t = t.min(p.deadline);
        }
        if !self.input.is_empty() {
            t = t.min(self.last_rx + REPLY_GRACE);
        }
        if let Some(d) = self.reorder.deadline() {
            t = t.min(d);
        }
        if let Some(k) = self.next_keepalive {
            t = t.min(k);
        }
        Some(t.min(self.next_rr).max(now))
    }

    fn emit(&self, e: Event) {
        let _ = self.ev.send(e);
    }

    fn set_state(&mut self, s: PlayerState) {
        if self.state != s {
            self.state = s;
            self.emit(Event::State(s));
        }
    }

    fn quit(&mut self, now: Instant) {
        if self.quitting {
            return;
        }
        self.quitting = true;
        self.queued.clear();
        if self.session.is_some() && self.state != PlayerState::Closed {
            if self.pending.is_none() {
                self.send_request(Kind::Teardown, None, now);
            } else {
                self.queued.push_back(Command::Teardown);
            }
        } else {
            self.set_state(PlayerState::Closed);
        }
    }

    // ---- RTSP requests ----

    fn send_request(&mut self, kind: Kind, _cmd: Option<&Command>, now: Instant) {
        self.cseq += 1;
        let cseq = self.cseq;
        let text = if self.dialect == Dialect::Lab {
            self.lab_request(kind, cseq)
        } else {
            self.standard_request(kind, cseq)
        };
        debug!(
            "> {}",
            String::from_utf8_lossy(&text).lines().next().unwrap_or("")
        );
        self.output.extend_from_slice(&text);
        let timeout = match kind {
            Kind::Describe => self.opts.describe_timeout,
            Kind::Teardown if self.quitting => Duration::from_secs(1),
            _ => self.opts.request_timeout,
        };
        self.pending = Some(Pending {
            cseq,
            kind,
            deadline: now + timeout,
        });
    }

    fn standard_request(&mut self, kind: Kind, cseq: u32) -> Vec<u8> {
        let (method, uri) = match kind {
            Kind::Describe => (Method::Describe, self.opts.target.url()),
            Kind::Setup => (Method::Setup, self.control.clone()),
            Kind::Play(_) => (Method::Play, self.opts.target.url()),
            Kind::Pause => (Method::Pause, self.opts.target.url()),
            Kind::Teardown => (Method::Teardown, self.opts.target.url()),
            Kind::Keepalive => (self.keepalive_method.clone(), self.opts.target.url()),
        };
        let mut req = Request::new(method.clone(), &uri);
        req.headers.append("CSeq", &cseq.to_string());
        if let (Some(c), Some((user, password))) =
            (self.auth.as_mut(), self.opts.target.user.as_ref())
        {
            let value = c.authorization(user, password, method.as_str(), &uri);
            req.headers.append("Authorization", &value);
        }
        req.headers.append(
            "User-Agent",
            concat!("rtsp-sdl/", env!("CARGO_PKG_VERSION")),
        );
        match kind {
            Kind::Describe => req.headers.append("Accept", "application/sdp"),
            Kind::Setup => {
                let transport = match &self.media {
                    Media::Tcp { rtp, rtcp } => {
                        format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}")
                    }
                    Media::Udp { rtp, .. } => {
                        let p = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
                        format!("RTP/AVP;unicast;client_port={p}-{}", p + 1)
                    }
                };
                req.headers.append("Transport", &transport);
            }
            Kind::Play(Some(t)) => req.headers.append("Range", &format!("npt={t:.3}-")),
            _ => {}
        }
        if kind != Kind::Describe && kind != Kind::Setup {
            if let Some(s) = &self.session {
                req.headers.append("Session", s);
            }
        }
        let mut out = Vec::new();
        req.write_to(&mut out);
        out
    }

    /// Exactly what the seed's Client.py sends: LF line ends, no blank line at the end.
    fn lab_request(&self, kind: Kind, cseq: u32) -> Vec<u8> {
        let file = &self.opts.target.path;
        let method = match kind {
            Kind::Setup => "SETUP",
            Kind::Play(_) => "PLAY",
            Kind::Pause => "PAUSE",
            Kind::Teardown => "TEARDOWN",
            Kind::Describe | Kind::Keepalive => unreachable!("not sent to lab servers"),
        };
        let last = match (&self.media, &self.session) {
            (Media::Udp { rtp, .. }, _) if kind == Kind::Setup => {
                let p = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
                format!("Transport: RTP/UDP; client_port= {p}")
            }
            (_, Some(s)) => format!("Session: {s}"),
            (_, None) => String::new(),
        };
        format!("{method} {file} RTSP/1.0\nCSeq: {cseq}\n{last}").into_bytes()
    }

    /// Starts the next queued command if nothing is in flight.
    fn next_command(&mut self, now: Instant) {
        while self.pending.is_none() {
            let Some(cmd) = self.queued.pop_front() else {
                return;
            };
            let kind = match (&cmd, self.state) {
                (Command::Record(path), _) => {
                    self.toggle_record(path.clone());
                    continue;
                }
                (Command::Setup, PlayerState::Init) => Kind::Setup,
                (Command::Play, PlayerState::Ready | PlayerState::Paused) => Kind::Play(None),
                (
                    Command::Seek(t),
                    PlayerState::Ready | PlayerState::Paused | PlayerState::Playing,
                ) if self.dialect == Dialect::Standard => Kind::Play(Some(*t)),
                (Command::Pause, PlayerState::Playing) => Kind::Pause,
                (Command::Teardown, s) if s != PlayerState::Closed && self.session.is_some() => {
                    Kind::Teardown
                }
                (Command::Teardown, _) => {
                    self.set_state(PlayerState::Closed);
                    continue;
                }
                (cmd, state) => {
                    debug!("{cmd:?} ignored in state {state}");
                    continue;
                }
            };
            if kind == Kind::Setup && self.opts.tcp && self.dialect == Dialect::Lab {
                self.emit(Event::Error(
                    "the lab server has no TCP transport; use UDP".into(),
                ));
                continue;
            }
            self.send_request(kind, Some(&cmd), now);
        }
    }

    // ---- RTSP input ----

    fn read_rtsp(&mut self, now: Instant) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.rtsp.read(&mut buf) {
                Ok(0) => {
                    self.process_input(now, true)?;
                    if self.state != PlayerState::Closed {
                        self.set_state(PlayerState::Closed);
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "the server closed the connection",
                        ));
                    }
                    return Ok(());
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    self.last_rx = now;
                    if self.input.len() > MAX_INPUT {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the server sent an oversized message",
                        ));
                    }
                    self.process_input(now, false)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("RTSP connection: {e}"))),
            }
        }
    }

    fn process_input(&mut self, now: Instant, quiet: bool) -> io::Result<()> {
        let limits = Limits::default();
        loop {
            if self.input.is_empty() {
                return Ok(());
            }
            let parsed = match message::parse(&self.input, &limits) {
                Err(message::ParseError::Incomplete { .. })
                    if quiet && self.input.starts_with(b"RTSP/") =>
                {
                    message::parse_unterminated(&self.input, &limits)
                }
                other => other,
            };
            match parsed {
                Ok((msg, used)) => {
                    self.input.drain(..used);
                    match msg {
                        Message::Response(r) => self.on_response(r, now),
                        Message::Interleaved { channel, data } => {
                            self.on_interleaved(channel, &data, now)
                        }
                        Message::Request(req) => {
                            // Servers may ask things of clients (RFC 2326 §10); we implement none.
                            let mut r = Response::new(StatusCode::NOT_IMPLEMENTED);
                            if let Some(c) = req.headers.get("CSeq") {
                                r.headers.append("CSeq", c);
                            }
                            r.write_to(&mut self.output);
                        }
                    }
                }
                Err(message::ParseError::Incomplete { .. }) => return Ok(()),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad message from the server: {e}"),
                    ));
                }
            }
        }
    }

    fn on_response(&mut self, r: Response, now: Instant) {
        let cseq: Option<u32> = r.headers.get("CSeq").and_then(|c| c.trim().parse().ok());
        let Some(p) = self.pending.take_if(|p| cseq.is_none_or(|c| c == p.cseq)) else {
            debug!("reply to nothing pending (CSeq {cseq:?}) ignored");
            return;
        };
        debug!("< {} {} for {:?}", r.status.0, r.reason, p.kind);
        if r.status == StatusCode::UNAUTHORIZED && self.answer_challenge(&r, p.kind, now) {
            return;
        }
        if r.status != StatusCode::UNAUTHORIZED {
            self.auth_failures = 0;
        }
        let ok = (200..300).contains(&r.status.0);
        match p.kind {
            Kind::Describe => self.on_describe(&r, ok),
            Kind::Setup if ok => self.on_setup(&r, now),
            Kind::Play(seek) if ok => self.on_play(&r, seek),
            Kind::Pause if ok => self.set_state(PlayerState::Paused),
            Kind::Teardown => {
                info!("torn down");
                self.session = None;
                self.set_state(PlayerState::Closed);
            }
            Kind::Keepalive => {
                if matches!(
                    r.status,
                    StatusCode::NOT_IMPLEMENTED | StatusCode::METHOD_NOT_ALLOWED
                ) {
                    self.keepalive_method = Method::Options;
                } else if r.status == StatusCode::SESSION_NOT_FOUND {
                    self.emit(Event::Error("the server forgot the session (454)".into()));
                }
            }
            kind => {
                let msg = format!("{} refused: {} {}", kind_name(kind), r.status.0, r.reason);
                warn!("{msg}");
                self.emit(Event::Error(msg));
            }
        }
    }

    /// Answers a 401 by sending the request again with credentials; false when it cannot (no
    /// credentials, or they were refused), leaving the 401 to be reported.
    fn answer_challenge(&mut self, r: &Response, kind: Kind, now: Instant) -> bool {
        self.auth_failures += 1;
        let stale = r
            .headers
            .get_all("WWW-Authenticate")
            .filter_map(AuthHeader::parse)
            .any(|h| {
                h.get("stale")
                    .is_some_and(|s| s.eq_ignore_ascii_case("true"))
            });
        if self.opts.target.user.is_none() {
            self.emit(Event::Error(
                "the server wants a user name and password: rtsp://USER:PASSWORD@host/...".into(),
            ));
            return false;
        }
        if self.auth_failures > 2 && !stale {
            self.emit(Event::Error(
                "the server refused the user name or password".into(),
            ));
            return false;
        }
        let Some(c) = Challenge::choose(r.headers.get_all("WWW-Authenticate")) else {
            self.emit(Event::Error(
                "the server asks for an authentication scheme we do not speak".into(),
            ));
            return false;
        };
        self.auth = Some(c);
        self.send_request(kind, None, now);
        true
    }

    fn on_describe(&mut self, r: &Response, ok: bool) {
        if !ok {
            match r.status {
                // No DESCRIBE here: a server of the lab's kind (which usually does not answer).
                StatusCode::NOT_IMPLEMENTED
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::BAD_REQUEST => self.fall_back_to_lab("DESCRIBE not implemented"),
                // The server speaks RTSP: the movie, the access or the server is the problem.
                status => {
                    let msg = format!("DESCRIBE refused: {} {}", status.0, r.reason);
                    warn!("{msg}");
                    self.emit(Event::Error(msg));
                    self.dialect = Dialect::Standard;
                    self.emit(Event::Described {
                        dialect: self.dialect,
                        duration: None,
                        fps: None,
                    });
                }
            }
            return;
        }
        let text = String::from_utf8_lossy(&r.body);
        let sdp = match Sdp::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                self.emit(Event::Error(format!("bad SDP from the server: {e}")));
                self.dialect = Dialect::Standard;
                return;
            }
        };
        let Some(video) = sdp.video() else {
            self.emit(Event::Error("the server's SDP has no video".into()));
            self.dialect = Dialect::Standard;
            return;
        };
        if video.payload_type() != Some(26)
            && video
                .encoding()
                .is_none_or(|e| !e.eq_ignore_ascii_case("JPEG"))
        {
            self.emit(Event::Error(format!(
                "the stream is not JPEG (m={} {})",
                video.kind,
                video.formats.join(" ")
            )));
        }
        let base = r
            .headers
            .get("Content-Base")
            .or_else(|| r.headers.get("Content-Location"))
            .map(str::to_string)
            .unwrap_or_else(|| self.opts.target.url());
        self.control = resolve_control(&base, video.attr("control"));
        let duration = sdp
            .range()
            .and_then(|r| r.end.map(|e| e - r.start.unwrap_or(0.0)));
        self.dialect = Dialect::Standard;
        info!("described: control {}, duration {duration:?}", self.control);
        self.emit(Event::Described {
            dialect: Dialect::Standard,
            duration,
            fps: video.framerate(),
        });
    }

    fn fall_back_to_lab(&mut self, why: &str) {
        info!("{why}: speaking the classic lab dialect");
        self.dialect = Dialect::Lab;
        self.emit(Event::Described {
            dialect: Dialect::Lab,
            duration: None,
            fps: None,
        });
    }

    fn on_setup(&mut self, r: &Response, now: Instant) {
        let Some(session) = r
            .headers
            .get("Session")
            .and_then(|s| SessionHeader::parse(s).ok())
        else {
            self.emit(Event::Error("SETUP reply without a Session".into()));
            return;
        };
        self.session = Some(session.id);
        if let Some(t) = session.timeout.filter(|&t| t > 0) {
            self.session_timeout = Duration::from_secs(t);
        }
        if self.dialect == Dialect::Standard {
            self.next_keepalive = Some(now + self.session_timeout / 2);
        }
        let transport = r
            .headers
            .get("Transport")
            .and_then(|t| Transport::parse(t).ok());
        match (&mut self.media, transport) {
            (Media::Udp { server_rtcp, .. }, Some(t)) => {
                if let Some((_, Some(rtcp))) = t.server_port {
                    *server_rtcp = Some(SocketAddr::new(self.server_ip, rtcp));
                }
            }
            (Media::Tcp { rtp, rtcp }, Some(t)) => {
                if let Some((a, b)) = t.interleaved {
                    *rtp = a;
                    *rtcp = b.unwrap_or(a.wrapping_add(1));
                }
            }
            _ => {}
        }
        self.set_state(PlayerState::Ready);
    }

    fn on_play(&mut self, r: &Response, seek: Option<f64>) {
        let start = r
            .headers
            .get("Range")
            .and_then(|v| NptRange::parse(v).ok())
            .and_then(|n| n.start)
            .or(seek);
        let rtptime = r
            .headers
            .get("RTP-Info")
            .and_then(|v| RtpInfo::parse_list(v).ok())
            .and_then(|l| l.first().and_then(|i| i.rtptime));
        if seek.is_some() {
            // Frames of the old position may still be in flight; start reassembly afresh.
            self.depack = Depacketizer::new(MAX_FRAME);
            self.reorder.reset();
        }
        if let Some(start) = start {
            self.anchor = Some((start, rtptime));
        } else if self.anchor.is_none() {
            self.anchor = Some((0.0, rtptime));
        }
        self.set_state(PlayerState::Playing);
    }

    // ---- timers ----

    fn timers(&mut self, now: Instant) -> io::Result<()> {
        if !self.input.is_empty() && now >= self.last_rx + REPLY_GRACE {
            self.process_input(now, true)?;
        }
        if let Some(p) = self.pending.as_ref().filter(|p| now >= p.deadline) {
            let kind = p.kind;
            self.pending = None;
            match kind {
                Kind::Describe => self.fall_back_to_lab("no answer to DESCRIBE"),
                Kind::Teardown => {
                    warn!("no answer to TEARDOWN");
                    self.set_state(PlayerState::Closed);
                }
                Kind::Keepalive => warn!("no answer to the keepalive"),
                kind => {
                    let msg = format!(
                        "no answer to {} within {:?}",
                        kind_name(kind),
                        self.opts.request_timeout
                    );
                    self.emit(Event::Error(msg));
                }
            }
        }
        if let Some(k) = self.next_keepalive {
            if now >= k && self.pending.is_none() && self.session.is_some() && !self.quitting {
                self.send_request(Kind::Keepalive, None, now);
                self.next_keepalive = Some(now + self.session_timeout / 2);
            }
        }
        if now >= self.next_rr {
            self.next_rr = now + RR_INTERVAL;
            self.send_receiver_report(now);
        }
        self.next_command(now);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            match self.rtsp.write(&self.output) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("RTSP connection: {e}"))),
            }
        }
        Ok(())
    }

    // ---- media ----

    fn read_udp(&mut self, now: Instant) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let got = match &self.media {
                Media::Udp { rtp, .. } => rtp.recv_from(&mut buf),
                Media::Tcp { .. } => return,
            };
            match got {
                Ok((n, from)) => {
                    if from.ip() != self.server_ip {
                        // RTP only from the server we asked: a third party cannot inject frames.
                        self.counters.lock().unwrap().foreign_packets += 1;
                        continue;
                    }
                    if let Some(seq) = self.account(&buf[..n], now) {
                        self.reorder.push(seq, buf[..n].to_vec(), now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("RTP socket: {e}");
                    break;
                }
            }
        }
        self.drain_reorder(now);
    }

    fn drain_reorder(&mut self, now: Instant) {
        while let Some(p) = self.reorder.pop(now) {
            self.depacketize(&p, now);
        }
    }

    /// Counts a packet for the statistics; its sequence number if it is RTP JPEG.
    fn account(&mut self, data: &[u8], now: Instant) -> Option<u16> {
        let p = RtpPacket::new_checked(data).ok()?;
        if p.payload_type() != 26 {
            return None;
        }
        if self.sender_ssrc != Some(p.ssrc()) {
            self.sender_ssrc = Some(p.ssrc());
            self.reception = ReceptionStats::default();
        }
        let arrival = (now.duration_since(self.epoch).as_secs_f64() * 90_000.0) as u64 as u32;
        self.reception.record(p.sequence(), p.timestamp(), arrival);
        let mut c = self.counters.lock().unwrap();
        c.packets += 1;
        c.bytes += data.len() as u64;
        c.lost_packets = self.reception.lost();
        Some(p.sequence())
    }

    fn on_interleaved(&mut self, channel: u8, data: &[u8], now: Instant) {
        let Media::Tcp { rtp, rtcp } = self.media else {
            return;
        };
        if channel == rtp {
            if self.account(data, now).is_some() {
                self.depacketize(data, now);
            }
        } else if channel == rtcp {
            self.on_rtcp(data, now);
        }
    }

    fn depacketize(&mut self, data: &[u8], now: Instant) {
        let Ok(p) = RtpPacket::new_checked(data) else {
            return;
        };
        // Media counts while playing, and while PLAY is in flight: a server may send the first
        // frame before its reply gets here (and the lab server's replies arrive only after a
        // grace time). Otherwise these are stragglers after PAUSE.
        let play_pending = matches!(
            self.pending,
            Some(Pending {
                kind: Kind::Play(_),
                ..
            })
        );
        if self.state != PlayerState::Playing && !play_pending {
            return;
        }
        let before = self.depack.dropped.total();
        if let Err(e) = self.depack.push(&p) {
            debug!("RTP JPEG: {e}");
        }
        let dropped = self.depack.dropped.total() - before;
        if dropped > 0 {
            self.counters.lock().unwrap().frames_dropped += dropped;
        }
        while let Some(f) = self.depack.pull() {
            self.deliver(f, now);
        }
    }

    fn deliver(&mut self, f: JpegFrame, received: Instant) {
        if let Some(rec) = self.recorder.as_mut() {
            if let Err(e) = rec.write(&f.data) {
                let msg = format!("recording to {}: {e}", rec.path().display());
                if let Some(rec) = self.recorder.take() {
                    rec.abandon();
                }
                self.emit(Event::Error(msg));
                self.emit(Event::Recording(None));
            }
        }
        let position = self.position(f.timestamp);
        match decode_rgb(&f.data) {
            Ok(img) => {
                let frame = Frame {
                    rgb: img.pixels,
                    width: img.width,
                    height: img.height,
                    jpeg: Arc::new(f.data),
                    position,
                    received,
                    decoded: Instant::now(),
                };
                let mut c = self.counters.lock().unwrap();
                c.frames_decoded += 1;
                if let Err(TrySendError::Full(_)) = self.frames.try_send(frame) {
                    c.frames_dropped += 1;
                }
            }
            Err(e) => {
                debug!("undecodable frame: {e}");
                self.counters.lock().unwrap().frames_dropped += 1;
            }
        }
    }

    fn position(&mut self, ts: u32) -> Option<f64> {
        let (start, rtptime) = self.anchor.as_mut()?;
        let base = *rtptime.get_or_insert(ts);
        Some(*start + f64::from(ts_diff(ts, base)) / 90_000.0)
    }

    fn read_rtcp(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        loop {
            let got = match &self.media {
                Media::Udp { rtcp: Some(s), .. } => s.recv_from(&mut buf),
                _ => return,
            };
            match got {
                Ok((n, from)) if from.ip() == self.server_ip => self.on_rtcp(&buf[..n], now),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    fn on_rtcp(&mut self, data: &[u8], now: Instant) {
        for packet in rtcp::Compound::new(data).flatten() {
            match packet {
                rtcp::Packet::SenderReport(sr) => self.last_sr = Some((sr.ntp.middle(), now)),
                rtcp::Packet::Bye(_) => {
                    info!("the server said BYE");
                    if self.state == PlayerState::Playing {
                        self.set_state(PlayerState::Paused);
                    }
                }
                _ => {}
            }
        }
    }

    fn send_receiver_report(&mut self, now: Instant) {
        let Some(sender) = self.sender_ssrc else {
            return;
        };
        if self.dialect != Dialect::Standard {
            return;
        }
        let rep = self.reception.report();
        let (lsr, dlsr) = match self.last_sr {
            Some((mid, at)) => (
                mid,
                (now.duration_since(at).as_secs_f64() * 65_536.0) as u32,
            ),
            None => (0, 0),
        };
        let mut packet = Vec::with_capacity(96);
        rtcp::ReceiverReport {
            ssrc: self.ssrc,
            blocks: vec![rtcp::ReportBlock {
                ssrc: sender,
                fraction_lost: rep.fraction_lost,
                cumulative_lost: rep.cumulative_lost,
                highest_seq: rep.highest_seq,
                jitter: rep.jitter,
                lsr,
                dlsr,
            }],
        }
        .write(&mut packet);
        rtcp::Sdes::cname(self.ssrc, "rtsp-sdl").write(&mut packet);
        match &self.media {
            Media::Udp {
                rtcp: Some(sock),
                server_rtcp: Some(dest),
                ..
            } => {
                let _ = sock.send_to(&packet, *dest);
            }
            Media::Tcp { rtcp, .. } => {
                let len = packet.len() as u16;
                self.output
                    .extend_from_slice(&[b'$', *rtcp, (len >> 8) as u8, len as u8]);
                self.output.extend_from_slice(&packet);
            }
            _ => {}
        }
    }

    fn toggle_record(&mut self, path: Option<PathBuf>) {
        if let Some(rec) = self.recorder.take() {
            match rec.finish() {
                Ok((p, n)) => info!("recorded {n} frames to {}", p.display()),
                Err(e) => self.emit(Event::Error(format!("recording: {e}"))),
            }
            self.emit(Event::Recording(None));
        }
        if let Some(path) = path {
            match Recorder::create(&path) {
                Ok(r) => {
                    info!("recording to {}", path.display());
                    self.recorder = Some(r);
                    self.emit(Event::Recording(Some(path)));
                }
                Err(e) => self.emit(Event::Error(format!("{}: {e}", path.display()))),
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(rec) = self.recorder.take() {
            match rec.finish() {
                Ok((p, n)) => info!("recorded {n} frames to {}", p.display()),
                Err(e) => warn!("recording: {e}"),
            }
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Describe => "DESCRIBE",
        Kind::Setup => "SETUP",
        Kind::Play(_) => "PLAY",
        Kind::Pause => "PAUSE",
        Kind::Teardown => "TEARDOWN",
        Kind::Keepalive => "keepalive",
    }
}

/// RTP on `port` (0: any even port) and RTCP on the next one, both on every interface (the
/// server may be remote). RTCP is optional for an explicit port: the lab server sends none.
fn bind_pair(port: u16) -> io::Result<(UdpSocket, Option<UdpSocket>)> {
    let any = |p: u16| SocketAddr::from(([0, 0, 0, 0], p));
    if port != 0 {
        let rtp = UdpSocket::bind(any(port))
            .map_err(|e| io::Error::new(e.kind(), format!("RTP port {port}: {e}")))?;
        let rtcp = port
            .checked_add(1)
            .and_then(|p| UdpSocket::bind(any(p)).ok());
        return Ok((rtp, rtcp));
    }
    for _ in 0..64 {
        let rtp = UdpSocket::bind(any(0))?;
        let p = rtp.local_addr()?.port();
        if p % 2 == 1 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(any(p + 1)) {
            return Ok((rtp, Some(rtcp)));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free UDP port pair for RTP/RTCP",
    ))
}
