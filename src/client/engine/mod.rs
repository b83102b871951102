//! The RTSP/RTP client as a sans-IO state machine: no sockets, no threads, no clock. A driver
//! feeds it what arrived (bytes of the RTSP connection, RTP and RTCP datagrams, commands) with
//! the current time, and drains what it wants done: bytes to send ([`Engine::poll_transmit`]),
//! when to wake it next ([`Engine::poll_timeout`]) and what happened ([`Engine::poll_event`]).
//! The player's network thread is one driver; a relay inside the server's reactor can be another,
//! with as many engines as it likes.
//!
//! What it follows:
//! - RFC 2326: requests with CSeq (§12.17), DESCRIBE (§10.2), SETUP over UDP unicast or
//!   multicast or TCP interleaved (§10.4, §10.12, §12.39), PLAY with an optional Range (§10.5, §12.29), PAUSE, TEARDOWN,
//!   keepalive with GET_PARAMETER (or OPTIONS where that is not implemented) at half the
//!   session time-out (§12.37), Bandwidth (§12.6), the client states of Appendix A.
//! - RFC 2617 (via [`crate::rtsp::auth`]): Digest (MD5, with or without qop=auth, stale=TRUE) and
//!   Basic answers to 401.
//! - RFC 3550: receiver reports (§6.4.2) with fraction and cumulative loss, extended highest
//!   sequence, interarrival jitter (A.8, arrival times from `now`) and LSR/DLSR from the last
//!   sender report; a reduced report interval (§6.2) as an option; BYE (§6.6).
//! - RFC 2435: frames reassembled by [`crate::rtp::jpeg::Depacketizer`] behind the UDP reorder
//!   buffer ([`crate::client::reorder`]); frames that lost a packet are dropped and counted.
//! - The classic lab dialect: when DESCRIBE goes unanswered (or gets 501, 405 or 400), requests
//!   are sent exactly as the seed's Client.py sends them, and its replies, which end with no blank
//!   line, are taken as complete once the connection has been quiet for a grace period.

mod auth;
mod media;
mod request;
mod response;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use log::info;

use crate::client::target::Target;

use self::auth::Challenge;
use self::media::MediaState;
use self::request::{Kind, Pending};

/// The player's RTSP state as the user sees it (RFC 2326 Appendix A's client states, with
/// Paused told apart from Ready).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerState {
    /// No session: SETUP is next.
    Init,
    /// Set up, not yet playing.
    Ready,
    Playing,
    Paused,
    /// Torn down (or the connection is gone); nothing more can happen.
    Closed,
}

impl fmt::Display for PlayerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlayerState::Init => "INIT",
            PlayerState::Ready => "READY",
            PlayerState::Playing => "PLAYING",
            PlayerState::Paused => "PAUSED",
            PlayerState::Closed => "CLOSED",
        })
    }
}

/// An RTSP action asked of the engine. Commands wait their turn: one request is in flight at a
/// time, and a command that makes no sense in the state it reaches is dropped (logged).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    Setup,
    Play,
    Pause,
    /// PLAY from this many seconds into the movie.
    Seek(f64),
    /// TEARDOWN, after which the engine is closed.
    Teardown,
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

/// How RTP reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    /// UDP to the port the driver bound (RTCP on the next one).
    Udp { rtp_port: u16 },
    /// Interleaved on the RTSP connection (RFC 2326 §10.12).
    Tcp,
    /// UDP multicast (RFC 2326 §12.39 `multicast`): the server picks the group and the ports,
    /// and the driver joins them when told ([`EngineEvent::JoinMulticast`]).
    Multicast,
}

/// A multicast group and ports to receive, from SETUP's reply (`destination`, `port`, `ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastGroup {
    pub group: IpAddr,
    pub rtp_port: u16,
    pub rtcp_port: u16,
    pub ttl: Option<u8>,
}

/// What the engine needs to know; everything but the target has a default.
#[derive(Debug, Clone)]
pub struct Config {
    pub target: Target,
    /// The server's address: RTP and RTCP from anywhere else are counted and ignored.
    pub server_ip: IpAddr,
    pub transport: MediaTransport,
    /// How long DESCRIBE may go unanswered before assuming a lab server.
    pub describe_timeout: Duration,
    /// How long any other request may go unanswered.
    pub request_timeout: Duration,
    /// How long TEARDOWN may take once the engine is closing.
    pub teardown_timeout: Duration,
    /// A lab reply (no blank line at its end) is taken as whole once quiet this long.
    pub reply_grace: Duration,
    /// Between RTCP receiver reports (RFC 3550 §6.2 allows less than 5 s; 1 s by default).
    pub report_interval: Duration,
    /// Sent as `Bandwidth:` on SETUP and PLAY (RFC 2326 §12.6), in bits per second.
    pub bandwidth: Option<u64>,
    /// The UDP reorder buffer: at most this many packets held for a gap, for at most this long.
    pub reorder_window: usize,
    pub reorder_wait: Duration,
    /// The largest frame reassembled, in bytes.
    pub max_frame: usize,
    /// The most unparsed RTSP input held (a message larger than this closes the engine).
    pub max_input: usize,
    /// Our RTCP SSRC.
    pub ssrc: u32,
    /// Our RTCP CNAME (RFC 3550 §6.5.1).
    pub cname: String,
    pub user_agent: String,
}

impl Config {
    pub fn new(target: Target, server_ip: IpAddr, transport: MediaTransport) -> Config {
        let mut ssrc = [0u8; 4];
        // Without the OS random source, a fixed SSRC still works for one receiver per sender.
        let _ = getrandom::fill(&mut ssrc);
        Config {
            target,
            server_ip,
            transport,
            describe_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            teardown_timeout: Duration::from_secs(1),
            reply_grace: Duration::from_millis(50),
            report_interval: Duration::from_secs(1),
            bandwidth: None,
            reorder_window: 64,
            reorder_wait: Duration::from_millis(40),
            max_frame: 8 << 20,
            max_input: 256 * 1024,
            ssrc: u32::from_be_bytes(ssrc),
            cname: "rtsp-sdl".into(),
            user_agent: concat!("rtsp-sdl/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// The movie as DESCRIBE told it (the lab fallback tells nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub dialect: Dialect,
    /// Seconds, from the SDP's `a=range`.
    pub duration: Option<f64>,
    pub fps: Option<f64>,
    /// Width and height from `a=x-dimensions` or `a=framesize`, when given.
    pub size: Option<(u16, u16)>,
    /// The URL SETUP names.
    pub control: String,
    /// The SDP as received.
    pub sdp: Option<String>,
}

/// A reassembled JPEG (RFC 2435, or a whole JPEG from a lab server).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFrame {
    pub jpeg: Vec<u8>,
    pub timestamp: u32,
    /// Seconds into the movie, when PLAY's reply gave a Range and RTP-Info (or it is inferred).
    pub position: Option<f64>,
    /// When the packet that completed it arrived (`now` of that input).
    pub completed: Instant,
    pub width: u16,
    pub height: u16,
    /// The RFC 2435 Q value it came with (None for whole JPEGs).
    pub q: Option<u8>,
}

/// What the engine tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Described(Description),
    /// SETUP's reply named the group to receive: join it (before the Ready state that follows,
    /// so that PLAY's first packets find the sockets there).
    JoinMulticast(MulticastGroup),
    State(PlayerState),
    Frame(ReceivedFrame),
    /// An RTP packet of a payload type other than JPEG (26), whole, for a relay to pass on.
    Rtp {
        payload_type: u8,
        packet: Vec<u8>,
    },
    /// The sender said RTCP BYE (RFC 3550 §6.6), with its reason if it gave one: its stream has
    /// ended (rtspd says it at the end of a movie with `--no-loop`, and at shutdown).
    Bye(Option<String>),
    /// Something the user should see; playback may go on. One line.
    Error(String),
    /// The engine has stopped, with the reason when it was not a TEARDOWN. Always the last event.
    Closed(Option<String>),
}

/// Bytes the driver should send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// On the RTSP connection (requests, and RTCP interleaved when over TCP).
    Rtsp(Vec<u8>),
    /// An RTCP datagram, from the driver's RTCP port.
    Rtcp { to: SocketAddr, data: Vec<u8> },
}

/// What the engine has counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// RTP packets from the server, and their bytes.
    pub packets: u64,
    pub bytes: u64,
    /// Expected minus received (RFC 3550 A.3; duplicates can make it negative).
    pub lost_packets: i64,
    /// Packets that came again, or after the reorder buffer had given up on them.
    pub late_packets: u64,
    /// Frames reassembled.
    pub frames: u64,
    /// Frames dropped in reassembly (a packet missing, a bad header, too large).
    pub frames_dropped: u64,
    /// Datagrams from an address other than the server's, ignored.
    pub foreign_packets: u64,
    /// RTP packets of other payload types, passed on as events.
    pub other_payloads: u64,
    pub rtcp_received: u64,
    pub reports_sent: u64,
}

/// One client session with one server (see the module's documentation).
///
/// A driver's whole job, in miniature:
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use std::time::Instant;
/// use rtsp_mjpeg::client::engine::{Config, Dialect, Engine, EngineEvent, MediaTransport, Transmit};
/// use rtsp_mjpeg::client::target::Target;
///
/// let target = Target::parse_url("rtsp://127.0.0.1:8554/movie.Mjpeg").unwrap();
/// let config = Config::new(target, IpAddr::V4(Ipv4Addr::LOCALHOST), MediaTransport::Tcp);
/// let now = Instant::now();
/// let mut engine = Engine::new(config, now);
/// // Send what the engine queued...
/// let Some(Transmit::Rtsp(describe)) = engine.poll_transmit() else { unreachable!() };
/// assert!(describe.starts_with(b"DESCRIBE rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\n"));
/// // ...feed it what came back, and see what happened...
/// engine.handle_rtsp_input(b"RTSP/1.0 501 Not Implemented\r\nCSeq: 1\r\n\r\n", now);
/// let Some(EngineEvent::Described(d)) = engine.poll_event() else { unreachable!() };
/// assert_eq!(d.dialect, Dialect::Lab);
/// // ...then sleep until `poll_timeout()` or the next input, and call `handle_timeout`.
/// assert_eq!(engine.poll_timeout(), None, "nothing to wait for until a command comes");
/// ```
pub struct Engine {
    config: Config,
    state: PlayerState,
    dialect: Dialect,
    /// Set by [`Engine::close`]: TEARDOWN (if set up) and nothing after it.
    closing: bool,
    closed: bool,
    input: Vec<u8>,
    last_input: Instant,
    /// The input left over has had its quiet-connection parse (no timer for it until more).
    input_quiet_done: bool,
    cseq: u32,
    pending: Option<Pending>,
    queued: VecDeque<Command>,
    session: Option<String>,
    session_timeout: Duration,
    control: String,
    next_keepalive: Option<Instant>,
    /// GET_PARAMETER until the server says it has none.
    keepalive_options: bool,
    auth: Option<Challenge>,
    /// 401s in a row; past two the credentials are wrong.
    auth_failures: u32,
    media: MediaState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EngineEvent>,
    counters: Counters,
}

/// Session time-outs from the server are believed up to this (a day), so timers cannot overflow.
const MAX_SESSION_TIMEOUT: u64 = 86_400;

impl Engine {
    /// A new session; DESCRIBE goes out at once (see [`Engine::poll_transmit`]).
    pub fn new(config: Config, now: Instant) -> Engine {
        let control = config.target.url();
        let media = MediaState::new(&config, now);
        let mut e = Engine {
            config,
            state: PlayerState::Init,
            dialect: Dialect::Unknown,
            closing: false,
            closed: false,
            input: Vec::new(),
            last_input: now,
            input_quiet_done: false,
            cseq: 0,
            pending: None,
            queued: VecDeque::new(),
            session: None,
            session_timeout: Duration::from_secs(60),
            control,
            next_keepalive: None,
            keepalive_options: false,
            auth: None,
            auth_failures: 0,
            media,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        };
        e.send_request(Kind::Describe, now);
        e
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn state(&self) -> PlayerState {
        self.state
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// True once [`EngineEvent::Closed`] has been queued: nothing more will happen, apart from
    /// the transmits still queued (a driver sends them, then drops the engine).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Asks for a command (carried out when nothing is in flight).
    pub fn command(&mut self, cmd: Command, now: Instant) {
        if !self.closing && !self.closed {
            self.queued.push_back(cmd);
        }
        self.step(now);
    }

    /// Ends the session: TEARDOWN if there is one (after what is in flight, waiting at most
    /// `teardown_timeout` for each), then [`EngineEvent::Closed`].
    pub fn close(&mut self, now: Instant) {
        if self.closing || self.closed {
            return;
        }
        self.closing = true;
        self.queued.clear();
        if self.session.is_some() && self.state != PlayerState::Closed {
            let limit = now + self.config.teardown_timeout;
            match self.pending.as_mut() {
                Some(p) => {
                    p.deadline = p.deadline.min(limit);
                    self.queued.push_back(Command::Teardown);
                }
                None => self.send_request(Kind::Teardown, now),
            }
        } else {
            self.finish(None);
        }
        self.step(now);
    }

    /// Bytes read from the RTSP connection.
    pub fn handle_rtsp_input(&mut self, data: &[u8], now: Instant) {
        if self.closed {
            return;
        }
        self.input.extend_from_slice(data);
        self.last_input = now;
        self.input_quiet_done = false;
        if self.input.len() > self.config.max_input {
            self.input.clear();
            self.finish(Some("the server sent an oversized message".into()));
            return;
        }
        self.process_input(now, false);
        self.step(now);
    }

    /// The server closed the RTSP connection (or reading it failed).
    pub fn handle_rtsp_closed(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        // A lab reply may be all that is left, with no blank line after it.
        self.process_input(now, true);
        // While closing, a server that hangs up instead of answering TEARDOWN did what we asked.
        let reason = (!self.closing).then(|| "the server closed the connection".to_string());
        self.finish(reason);
    }

    /// An RTP datagram from `from`.
    pub fn handle_rtp_datagram(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        if self.closed {
            return;
        }
        if from.ip() != self.config.server_ip {
            // RTP only from the server we asked: a third party cannot inject frames.
            self.counters.foreign_packets += 1;
            return;
        }
        self.on_rtp(data, now, true);
        self.step(now);
    }

    /// An RTCP datagram from `from`.
    pub fn handle_rtcp_datagram(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        if self.closed {
            return;
        }
        if from.ip() != self.config.server_ip {
            self.counters.foreign_packets += 1;
            return;
        }
        self.on_rtcp(data, now);
        self.step(now);
    }

    /// Runs the timers due at `now`; harmless to call early or often.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.step(now);
    }

    /// When [`Engine::handle_timeout`] should run next, if anything is waiting for time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let grace = self
            .quiet_parse_due()
            .then(|| self.last_input + self.config.reply_grace);
        let keepalive = self
            .next_keepalive
            .filter(|_| self.pending.is_none() && self.session.is_some() && !self.closing);
        [
            self.pending.as_ref().map(|p| p.deadline),
            grace,
            keepalive,
            self.media.reorder.deadline(),
            self.report_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next bytes to send, in order; drain after every input.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next thing that happened, in order; drain after every input.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    // ---- inside ----

    /// Everything time or a new input may have made due.
    fn step(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.quiet_parse_due() && now >= self.last_input + self.config.reply_grace {
            self.input_quiet_done = true;
            self.process_input(now, true);
        }
        if let Some(p) = self.pending.take_if(|p| now >= p.deadline) {
            self.on_no_answer(p);
        }
        if let Some(k) = self.next_keepalive {
            if now >= k && self.pending.is_none() && self.session.is_some() && !self.closing {
                self.send_request(Kind::Keepalive, now);
            }
        }
        self.drain_reorder(now);
        if self.report_deadline().is_some_and(|t| now >= t) {
            self.send_receiver_report(now);
        }
        self.next_command(now);
    }

    fn emit(&mut self, e: EngineEvent) {
        if !self.closed {
            self.events.push_back(e);
        }
    }

    fn error(&mut self, msg: String) {
        self.emit(EngineEvent::Error(msg));
    }

    fn set_state(&mut self, s: PlayerState) {
        if self.state != s {
            self.state = s;
            self.emit(EngineEvent::State(s));
        }
        if s == PlayerState::Closed {
            self.finish(None);
        }
    }

    /// Stops for good: the Closed state, then the Closed event, and nothing after.
    fn finish(&mut self, reason: Option<String>) {
        if self.closed {
            return;
        }
        if self.state != PlayerState::Closed {
            self.state = PlayerState::Closed;
            self.emit(EngineEvent::State(PlayerState::Closed));
        }
        self.emit(EngineEvent::Closed(reason));
        self.closed = true;
        self.pending = None;
        self.queued.clear();
        self.input.clear();
    }

    fn fall_back_to_lab(&mut self, why: &str) {
        info!("{why}: speaking the classic lab dialect");
        self.dialect = Dialect::Lab;
        // Client.py numbers its requests from 1, SETUP first.
        self.cseq = 0;
        self.emit(EngineEvent::Described(Description {
            dialect: Dialect::Lab,
            duration: None,
            fps: None,
            size: None,
            control: self.config.target.path.clone(),
            sdp: None,
        }));
    }

    /// Lab replies end with no blank line, so their end is a quiet connection. Only a lab server
    /// (or one still being found out, whose reply has no Content-Length: a standard DESCRIBE
    /// reply always has one) gets that benefit: a standard reply cut short by a slow network
    /// must wait for the rest. Once per piece of input, so junk cannot keep the timer firing.
    fn quiet_parse_due(&self) -> bool {
        if self.input.is_empty() || self.input_quiet_done {
            return false;
        }
        match self.dialect {
            Dialect::Lab => true,
            Dialect::Standard => false,
            Dialect::Unknown => !contains_ignore_case(&self.input, b"content-length"),
        }
    }

    fn session_timeout_from(&mut self, secs: u64) {
        if secs > 0 {
            self.session_timeout = Duration::from_secs(secs.min(MAX_SESSION_TIMEOUT));
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
