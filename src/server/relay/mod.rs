//! Relays (`rtspd --relay NAME=rtsp://ORIGIN/PATH`): rtspd serves `NAME` by pulling it from an
//! origin server with the client engine ([`crate::client::engine`]), on demand, inside the
//! reactor. The model is live555's proxy server and MediaMTX's `sourceOnDemand`.
//!
//! One [`Relay`] per name, sans-IO like the rest of the core: it asks its driver to connect,
//! send and close ([`RelayIo`]), takes the bytes that come back, and hands the core what
//! happened ([`RelayEvent`]): the origin described its stream, refused it, or sent a frame.
//! - One origin session however many readers: the core feeds every reader from one shared
//!   timeline, and tells the relay when it is wanted ([`Relay::want`]) and how many readers it
//!   has ([`Relay::readers`]).
//! - Opened at the first reader; closed (TEARDOWN) `linger` after the last one leaves.
//! - Over RTSP interleaved (RFC 2326 §10.12): one TCP connection per relayed name, which also
//!   passes NAT and balancers.
//! - When the origin drops (connection lost, BYE, or no media for [`STALL`]) it is re-opened
//!   after 1, 2, 4 ... s ([`MAX_BACKOFF`] at most) while readers remain; they keep their sessions
//!   and their timestamps continue ([`crate::server::live::PtsClock`]).
//! - JPEG from the origin is re-framed as rtspd's own (so relays chain: an edge of an edge);
//!   other payloads pass through with the origin's SDP.

pub mod link;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{info, warn};

use crate::client::engine::{
    Command, Config, Engine, EngineEvent, MediaTransport, PlayerState, Transmit,
};
use crate::client::target::Target;
use crate::rtsp::message::StatusCode;
use crate::server::live::{Announced, Ingest, Limits};
use crate::server::source::FrameRef;

/// The longest wait between attempts to re-open an origin.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// An origin session that brings no media for this long is re-opened.
pub const STALL: Duration = Duration::from_secs(15);
/// How long DESCRIBE may take at the origin (which may itself be a relay opening its origin):
/// longer than readers wait for it (15 s), so that they hear 504 rather than a guess.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Identifies a relay (its index in the server's list).
pub type RelayId = usize;

/// One `--relay NAME=URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySpec {
    /// The name readers ask for: `rtsp://HOST:PORT/NAME`.
    pub name: String,
    /// The origin's URL (credentials, if any, in it).
    pub target: Target,
    /// The origin's address, resolved at start.
    pub origin: SocketAddr,
}

impl RelaySpec {
    /// `NAME=rtsp://[USER:PASS@]HOST[:PORT]/PATH`: the name and the origin's target (not yet
    /// resolved).
    pub fn parse(spec: &str) -> Result<(String, Target), String> {
        let (name, url) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?}: expected NAME=rtsp://HOST[:PORT]/PATH"))?;
        let name = name.trim().trim_matches('/');
        let plain = |c: &str| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if name.is_empty() || name.len() > 128 || !name.split('/').all(plain) {
            return Err(format!(
                "{name:?}: a relay's name is letters, digits, '-', '_', '.' and '/'"
            ));
        }
        let target = Target::parse_url(url.trim()).map_err(|e| e.0)?;
        Ok((name.to_string(), target))
    }
}

/// What a relay asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayIo {
    /// Open a TCP connection to the origin; say when it is up or failed.
    Connect {
        relay: RelayId,
        addr: SocketAddr,
    },
    Send {
        relay: RelayId,
        data: Vec<u8>,
    },
    /// Close the connection (nothing more will be sent).
    Close {
        relay: RelayId,
    },
}

/// What a relay tells the core.
#[derive(Debug, Clone)]
pub enum RelayEvent {
    /// The origin described its stream: readers may be answered.
    Described(RelayId),
    /// The origin cannot be had now; requests waiting for it get this status.
    Failed(RelayId, StatusCode),
    Frame(RelayId, FrameRef, u64),
    /// Closed for want of readers: its timeline can go.
    Idle(RelayId),
}

/// What the origin's stream is, once described.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The origin's SDP, checked.
    pub announced: Announced,
    pub fps: Option<f64>,
    pub size: Option<(u16, u16)>,
}

impl Described {
    pub fn is_jpeg(&self) -> bool {
        self.announced.served_track().is_jpeg()
    }
}

enum Link {
    Down,
    Connecting,
    Up(Box<Engine>),
}

/// Counters, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    /// Origin sessions opened (connections made).
    pub opened: u64,
    pub frames: u64,
    pub failures: u64,
}

pub struct Relay {
    pub id: RelayId,
    pub spec: RelaySpec,
    link: Link,
    pub described: Option<Described>,
    /// Readers (sessions and waiting requests) as last counted.
    readers: usize,
    /// Some reader asked since the link went down (or it is being kept up).
    wanted: bool,
    linger: Duration,
    linger_until: Option<Instant>,
    /// Closing for want of readers: TEARDOWN sent, no retry.
    retiring: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Media or the link's opening, for the stall check.
    last_progress: Instant,
    ingest: Ingest,
    max_frame: usize,
    mtu: usize,
    io: VecDeque<RelayIo>,
    events: VecDeque<RelayEvent>,
    pub stats: RelayStats,
}

impl Relay {
    pub fn new(
        id: RelayId,
        spec: RelaySpec,
        linger: Duration,
        max_frame: usize,
        mtu: usize,
        now: Instant,
    ) -> Relay {
        Relay {
            id,
            spec,
            link: Link::Down,
            described: None,
            readers: 0,
            wanted: false,
            linger,
            linger_until: None,
            retiring: false,
            retry_at: None,
            backoff: Duration::from_secs(1),
            last_progress: now,
            ingest: Ingest::jpeg(max_frame, mtu, false),
            max_frame,
            mtu,
            io: VecDeque::new(),
            events: VecDeque::new(),
            stats: RelayStats::default(),
        }
    }

    /// Is an origin session open or opening?
    pub fn is_active(&self) -> bool {
        !matches!(self.link, Link::Down)
    }

    /// Readers want it (it is open, opening, or will be tried again).
    pub fn is_wanted(&self) -> bool {
        self.wanted
    }

    /// A reader asked for this name: open the origin now unless a retry is already scheduled.
    pub fn want(&mut self, now: Instant) {
        self.wanted = true;
        self.linger_until = None;
        if self.retiring {
            // A reader came back while the last TEARDOWN is in flight: open again after it.
            self.retiring = false;
            return;
        }
        if matches!(self.link, Link::Down) && self.retry_at.is_none() {
            self.connect(now);
        }
    }

    /// How many readers follow it now (counted by the core).
    pub fn readers(&mut self, n: usize, now: Instant) {
        self.readers = n;
        if n > 0 {
            self.linger_until = None;
        } else if self.linger_until.is_none() && (self.is_active() || self.retry_at.is_some()) {
            self.linger_until = Some(now + self.linger);
        }
    }

    pub fn poll_io(&mut self) -> Option<RelayIo> {
        self.io.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// The driver's connection is up: the engine starts (DESCRIBE).
    pub fn connected(&mut self, now: Instant) {
        if !matches!(self.link, Link::Connecting) {
            return;
        }
        let mut config = Config::new(
            self.spec.target.clone(),
            self.spec.origin.ip(),
            MediaTransport::Tcp,
        );
        config.describe_timeout = DESCRIBE_TIMEOUT;
        config.max_frame = self.max_frame;
        config.cname = "rtspd-relay".into();
        config.user_agent = crate::server::core::SERVER.into();
        self.link = Link::Up(Box::new(Engine::new(config, now)));
        self.stats.opened += 1;
        self.last_progress = now;
        info!(
            "relay {}: connected to {}; opening {}",
            self.spec.name,
            self.spec.origin,
            self.spec.target.url()
        );
        self.drain(now);
    }

    pub fn input(&mut self, data: &[u8], now: Instant) {
        if let Link::Up(e) = &mut self.link {
            e.handle_rtsp_input(data, now);
        }
        self.drain(now);
    }

    /// The driver's connection failed or closed.
    pub fn closed(&mut self, now: Instant) {
        match std::mem::replace(&mut self.link, Link::Down) {
            Link::Up(mut e) => {
                e.handle_rtsp_closed(now);
                self.link = Link::Up(e);
                self.drain(now);
                if matches!(self.link, Link::Up(_)) {
                    self.link_lost("the origin closed the connection", now);
                }
            }
            Link::Connecting => self.link_lost("could not connect", now),
            Link::Down => {}
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let engine = match &self.link {
            Link::Up(e) => e.poll_timeout(),
            _ => None,
        };
        let stall = matches!(self.link, Link::Up(_)).then_some(self.last_progress + STALL);
        [engine, stall, self.retry_at, self.linger_until]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Link::Up(e) = &mut self.link {
            e.handle_timeout(now);
        }
        self.drain(now);
        if self.linger_until.is_some_and(|t| now >= t) && self.readers == 0 {
            self.linger_until = None;
            self.retire(now);
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            if self.wanted && !self.retiring {
                self.connect(now);
            }
        }
        if matches!(self.link, Link::Up(_)) && now >= self.last_progress + STALL {
            self.io.push_back(RelayIo::Close { relay: self.id });
            self.link = Link::Down;
            self.link_lost("no media from the origin", now);
        }
    }

    fn connect(&mut self, now: Instant) {
        self.link = Link::Connecting;
        self.last_progress = now;
        self.ingest.restart();
        self.io.push_back(RelayIo::Connect {
            relay: self.id,
            addr: self.spec.origin,
        });
    }

    /// No readers for the linger time: TEARDOWN, then close; the description is forgotten.
    fn retire(&mut self, now: Instant) {
        self.wanted = false;
        self.retry_at = None;
        info!(
            "relay {}: no readers; closing the origin session",
            self.spec.name
        );
        match &mut self.link {
            Link::Up(e) => {
                self.retiring = true;
                e.close(now);
                self.drain(now);
            }
            Link::Connecting => {
                self.io.push_back(RelayIo::Close { relay: self.id });
                self.link = Link::Down;
                self.idle();
            }
            Link::Down => self.idle(),
        }
    }

    /// The server is stopping: TEARDOWN if a session is open (sent once, not waited for).
    pub fn shutdown(&mut self, now: Instant) {
        self.wanted = false;
        self.retry_at = None;
        if let Link::Up(e) = &mut self.link {
            self.retiring = true;
            e.close(now);
            self.drain(now);
        }
        self.io.push_back(RelayIo::Close { relay: self.id });
    }

    /// Closed for want of readers: the description is forgotten and the timeline may go.
    fn idle(&mut self) {
        self.described = None;
        self.backoff = Duration::from_secs(1);
        self.events.push_back(RelayEvent::Idle(self.id));
    }

    /// The origin session is gone: answer waiting requests, and try again later if wanted.
    fn link_lost(&mut self, why: &str, now: Instant) {
        self.link = Link::Down;
        if self.retiring {
            self.retiring = false;
            self.idle();
            return;
        }
        self.stats.failures += 1;
        if self.described.is_none() {
            self.events
                .push_back(RelayEvent::Failed(self.id, StatusCode::SERVICE_UNAVAILABLE));
        }
        if self.wanted {
            warn!(
                "relay {}: {why}; trying {} again in {} s",
                self.spec.name,
                self.spec.origin,
                self.backoff.as_secs()
            );
            self.retry_at = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Moves the engine's output to the driver and its events to the core, until it has no
    /// more (handling an event may make more: a command's request, a close).
    fn drain(&mut self, now: Instant) {
        loop {
            let Link::Up(engine) = &mut self.link else {
                return;
            };
            while let Some(t) = engine.poll_transmit() {
                if let Transmit::Rtsp(data) = t {
                    self.io.push_back(RelayIo::Send {
                        relay: self.id,
                        data,
                    });
                }
            }
            let events: Vec<EngineEvent> = std::iter::from_fn(|| engine.poll_event()).collect();
            if events.is_empty() {
                return;
            }
            for e in events {
                self.on_engine_event(e, now);
            }
        }
    }

    fn on_engine_event(&mut self, e: EngineEvent, now: Instant) {
        let name = &self.spec.name;
        match e {
            EngineEvent::Described(d) => {
                let announced = match d.sdp.as_deref() {
                    None => Err(StatusCode::NOT_FOUND),
                    Some(sdp) => {
                        Announced::parse(sdp.as_bytes(), &Limits::default()).map_err(|e| {
                            warn!("relay {name}: {e}");
                            StatusCode::UNSUPPORTED_MEDIA_TYPE
                        })
                    }
                };
                let announced = match announced {
                    Ok(a) => a,
                    Err(status) => {
                        // Refused (404, or 401 with wrong credentials), or nothing we can serve.
                        warn!(
                            "relay {name}: the origin did not describe {} usably",
                            self.spec.target.url()
                        );
                        self.events.push_back(RelayEvent::Failed(self.id, status));
                        if let Link::Up(e) = &mut self.link {
                            e.close(now);
                        }
                        return;
                    }
                };
                let described = Described {
                    announced,
                    fps: d.fps,
                    size: d.size,
                };
                let t = described.announced.served_track();
                let mut ingest = if t.is_jpeg() {
                    Ingest::jpeg(self.max_frame, self.mtu, false)
                } else {
                    Ingest::passthrough(t.payload_type, t.is_h264(), self.max_frame, false)
                };
                // A new origin session: the timeline's clock continues from the wall clock.
                ingest.continue_from(&self.ingest);
                self.ingest = ingest;
                info!(
                    "relay {name}: described ({}); playing",
                    if described.is_jpeg() {
                        "JPEG, re-packetized"
                    } else {
                        "passed through"
                    }
                );
                self.described = Some(described);
                self.events.push_back(RelayEvent::Described(self.id));
                if let Link::Up(e) = &mut self.link {
                    e.command(Command::Setup, now);
                    e.command(Command::Play, now);
                }
            }
            EngineEvent::State(PlayerState::Playing) => self.last_progress = now,
            EngineEvent::State(PlayerState::Paused) if !self.retiring => {
                // The origin said BYE: its stream ended. Open it again (it may come back).
                if let Link::Up(e) = &mut self.link {
                    e.close(now);
                }
            }
            EngineEvent::State(_) => {}
            EngineEvent::Frame(f) => {
                self.ingest.push_jpeg(f.jpeg, f.timestamp, now);
                self.take_frames(now);
            }
            EngineEvent::Rtp { packet, .. } => {
                self.ingest.push(&packet, now);
                self.take_frames(now);
            }
            EngineEvent::Error(msg) => info!("relay {name}: {msg}"),
            // BYE also comes as State(Paused), handled above; a relay never asks for multicast.
            EngineEvent::Bye(_) | EngineEvent::JoinMulticast(_) => {}
            EngineEvent::Closed(reason) => {
                self.io.push_back(RelayIo::Close { relay: self.id });
                let why = reason.unwrap_or_else(|| "origin session closed".into());
                self.link_lost(&why, now);
            }
        }
    }

    fn take_frames(&mut self, now: Instant) {
        while let Some((frame, pts)) = self.ingest.pull() {
            self.last_progress = now;
            self.backoff = Duration::from_secs(1);
            self.stats.frames += 1;
            self.events
                .push_back(RelayEvent::Frame(self.id, frame, pts));
        }
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("name", &self.spec.name)
            .field("active", &self.is_active())
            .field("readers", &self.readers)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests;
