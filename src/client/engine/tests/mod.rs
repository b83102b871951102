//! The engine on virtual time: no sockets, no sleeps. [`Harness`] steps one engine with a
//! clock of its own; servers are scripted replies here, recorded ones in `replay`, and RTP
//! built by the crate's own packetizer in `media`.

mod media;
mod multicast;
mod protocol;
mod replay;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;
use crate::rtsp::message::{self, Limits, Message, Method, Request};

pub(super) const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
pub(super) const URL: &str = "rtsp://127.0.0.1:8554/movie.Mjpeg";

/// One base instant for every test, so virtual times print small.
pub(super) fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn config(url: &str, transport: MediaTransport) -> Config {
    let target = Target::parse_url(url).expect("test URL");
    let mut c = Config::new(target, SERVER_IP, transport);
    c.ssrc = 0x5EED_0001;
    // What the recorded captures sent, whatever the crate's version becomes.
    c.user_agent = "rtsp-sdl/0.1.0".into();
    c
}

pub(super) fn udp() -> MediaTransport {
    MediaTransport::Udp { rtp_port: 5000 }
}

/// An engine, its clock, and what it has said so far.
pub(super) struct Harness {
    pub e: Engine,
    pub now: Instant,
}

impl Harness {
    pub fn new(config: Config) -> Harness {
        Harness {
            e: Engine::new(config, t0()),
            now: t0(),
        }
    }

    pub fn standard(transport: MediaTransport) -> Harness {
        Harness::new(config(URL, transport))
    }

    /// Moves the clock on and runs what is due.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.e.handle_timeout(self.now);
    }

    /// Moves the clock to the engine's next deadline (None: nothing was waiting).
    pub fn advance_to_deadline(&mut self) -> Option<Instant> {
        let t = self.e.poll_timeout()?;
        assert!(t >= self.now, "a deadline in the past: busy loop");
        self.now = t;
        self.e.handle_timeout(t);
        Some(t)
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.e.handle_rtsp_input(bytes, self.now);
    }

    pub fn command(&mut self, c: Command) {
        self.e.command(c, self.now);
    }

    pub fn rtp(&mut self, packet: &[u8]) {
        let from = SocketAddr::new(SERVER_IP, 6970);
        self.e.handle_rtp_datagram(from, packet, self.now);
    }

    pub fn rtcp(&mut self, packet: &[u8]) {
        let from = SocketAddr::new(SERVER_IP, 6971);
        self.e.handle_rtcp_datagram(from, packet, self.now);
    }

    pub fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.e.poll_transmit()).collect()
    }

    /// The requests sent since the last look (interleaved RTCP is left out).
    pub fn requests(&mut self) -> Vec<Request> {
        self.transmits()
            .into_iter()
            .filter_map(|t| match t {
                Transmit::Rtsp(b) if !b.starts_with(b"$") => Some(parse_request(&b)),
                _ => None,
            })
            .collect()
    }

    /// The one request sent since the last look.
    pub fn request(&mut self) -> Request {
        let mut r = self.requests();
        assert_eq!(r.len(), 1, "one request: {r:?}");
        r.remove(0)
    }

    pub fn events(&mut self) -> Vec<EngineEvent> {
        std::iter::from_fn(|| self.e.poll_event()).collect()
    }

    /// Answers the request in flight with `200 OK` plus `extra` headers (CRLF-terminated).
    pub fn ok(&mut self, cseq: u32, extra: &str) {
        self.feed(format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}\r\n").as_bytes());
    }

    /// DESCRIBE answered with a one-video SDP: the engine is ready for commands.
    pub fn described(&mut self) {
        let req = self.request();
        assert_eq!(req.method, Method::Describe);
        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=m\r\nt=0 0\r\na=range:npt=0-10\r\n\
                   m=video 0 RTP/AVP 26\r\na=control:trackID=0\r\na=framerate:24\r\n";
        let reply = format!(
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Base: {URL}/\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.feed(reply.as_bytes());
    }

    /// Described, set up (UDP server ports 6970-6971, time-out 60 s) and playing.
    pub fn playing(&mut self) {
        self.described();
        self.command(Command::Setup);
        let setup = self.request();
        assert_eq!(setup.method, Method::Setup);
        let transport = setup.headers.get("Transport").unwrap_or("").to_string();
        let extra = if transport.contains("TCP") {
            format!("Session: 42;timeout=60\r\nTransport: {transport}\r\n")
        } else {
            format!("Session: 42;timeout=60\r\nTransport: {transport};server_port=6970-6971\r\n")
        };
        self.ok(2, &extra);
        self.command(Command::Play);
        let play = self.request();
        assert_eq!(play.method, Method::Play);
        self.ok(
            3,
            "Session: 42\r\nRange: npt=0.000-10.000\r\nRTP-Info: url=x;seq=1;rtptime=0\r\n",
        );
        assert_eq!(self.e.state(), PlayerState::Playing);
        self.events();
    }
}

/// A request as the engine wrote it (a lab request has no blank line: the end is the end).
pub(super) fn parse_request(bytes: &[u8]) -> Request {
    let limits = Limits::default();
    let parsed =
        message::parse(bytes, &limits).or_else(|_| message::parse_unterminated(bytes, &limits));
    match parsed {
        Ok((Message::Request(r), used)) => {
            assert_eq!(used, bytes.len(), "one request per transmit");
            r
        }
        other => panic!(
            "not a request: {other:?} from {:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

pub(super) fn cseq(r: &Request) -> u32 {
    r.cseq().expect("every request has a CSeq")
}

pub(super) fn states(events: &[EngineEvent]) -> Vec<PlayerState> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::State(s) => Some(*s),
            _ => None,
        })
        .collect()
}

pub(super) fn errors(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Error(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn frames(events: &[EngineEvent]) -> Vec<ReceivedFrame> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}
