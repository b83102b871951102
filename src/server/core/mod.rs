//! The server's protocol logic, sans-IO: RTSP requests in, responses and RTP/RTCP out.
//!
//! `Core` owns the sessions, the sources they stream from and the timer wheel that paces every
//! session's frames. It never touches a socket or reads the clock: the reactor hands it each
//! request with the time, calls [`Core::handle_timeout`] when [`Core::poll_timeout`] says so,
//! and gives it an [`Outbox`] through which packets leave. Tests drive it with a recording
//! outbox and a simulated clock.
//!
//! The parts: [`methods`] answers each RTSP method; [`session`] holds sessions and transport
//! negotiation; [`sender`] writes RTP and RTCP for one session; [`pacing`] decides when each
//! frame leaves (a cursor's schedule, or a shared timeline's pushes) and when sessions expire.

mod adaptive;
mod edge;
pub mod http;
mod methods;
pub mod multicast;
mod pacing;
mod phases;
mod publish;
pub mod sender;
pub mod session;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, warn};

use crate::rtp::rtcp;
use crate::rtsp::message::{Method, Request, Response, StatusCode};
use crate::server::auth::{Authenticator, Verdict};
use crate::server::catalog::Catalog;
use crate::server::config::Config;
use crate::server::relay::Relay;
use crate::server::source::{FrameCache, Library, Timeline, TimelineId};
use crate::server::timer::TimerWheel;

use sender::Scratch;
pub use sender::{Delivery, SenderStats, MAX_WHOLE_FRAME, PT_JPEG};
use session::Session;

/// Identifies one RTSP connection in the reactor.
pub type ConnId = usize;

/// The methods rtspd implements, for `Public:` (RFC 2326 §12.28).
pub const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
/// The same with publishing on (`--publish`).
pub const PUBLIC_PUBLISHING: &str =
    "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, RECORD, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

pub(crate) const SERVER: &str = concat!("rtspd/", env!("CARGO_PKG_VERSION"));

/// Where packets leave. The reactor implements it with sockets; tests with a recorder.
pub trait Outbox {
    /// Sends `packets` (RTP header, payload) in order from the server's RTP socket. Returns how
    /// many left; fewer than all means the socket's buffer is full or the send failed.
    fn rtp_udp(&mut self, dest: SocketAddr, packets: &[(&[u8], &[u8])]) -> usize;
    /// Sends one RTCP compound packet from the server's RTCP socket.
    fn rtcp_udp(&mut self, dest: SocketAddr, packet: &[u8]);
    /// Queues the concatenation of `chunks` on connection `conn`, all or nothing: false when the
    /// connection's queue cannot take it whole (the caller then drops the whole frame).
    fn interleaved(&mut self, conn: ConnId, chunks: &[&[u8]]) -> bool;
    /// Connection `conn`'s queues, for adapting interleaved sessions to their TCP path.
    fn backlog(&mut self, conn: ConnId) -> Option<Backlog>;
    /// Queues the concatenation of `chunks` on connection `conn` whatever its queue holds: an
    /// HTTP viewer's part, which the core sends only once the queue has drained. False when
    /// the connection is gone.
    fn stream(&mut self, conn: ConnId, chunks: &[&[u8]]) -> bool {
        self.interleaved(conn, chunks)
    }
}

/// A TCP connection's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Bytes in our output queue.
    pub queued: usize,
    /// Bytes the kernel holds, not yet sent or not yet acknowledged.
    pub unsent: usize,
    /// Bytes handed to the kernel over the connection's life.
    pub written: u64,
}

/// Where an RTCP packet came from.
#[derive(Debug, Clone, Copy)]
pub enum RtcpFrom {
    /// A datagram on the server's RTCP port.
    Udp(SocketAddr),
    /// An interleaved channel of an RTSP connection.
    Conn(ConnId, IpAddr),
}

/// The RTSP connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub id: ConnId,
    pub peer: SocketAddr,
    /// The server's address on that connection (for SDP's c= line and logs).
    pub local: SocketAddr,
}

/// Counters over the server's life, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub sessions_opened: u64,
    pub sessions_timed_out: u64,
    pub frames_sent: u64,
    pub frames_dropped: u64,
    pub send_errors: u64,
    /// Frames a source could not give (a file truncated or rewritten, a frame RFC 2435 cannot
    /// carry); the session skipped them.
    pub frames_unreadable: u64,
    /// Frames an adaptive session skipped to stay within its path's rate.
    pub frames_thinned: u64,
}

/// What the timer wheel wakes the core for.
#[derive(Debug, Clone, Copy)]
enum Tick {
    Frame(u64),
    Expire(u64),
    /// An HTTP viewer's next frame ([`http`]).
    View(u64),
}

pub struct Core {
    config: Config,
    library: Library,
    cache: FrameCache,
    sessions: IdMap<u64, Session>,
    /// Each session's SSRC, to route receiver reports.
    by_ssrc: IdMap<u32, u64>,
    timelines: HashMap<TimelineId, Timeline>,
    next_timeline: TimelineId,
    timers: TimerWheel<Tick>,
    phases: phases::Phases,
    totals: Totals,
    scratch: Scratch,
    rtp_port: u16,
    auth: Option<Authenticator>,
    /// Renditions waiting to be handed to the worker, and those it is making.
    jobs: Vec<crate::server::adapt::render::Job>,
    pending: HashSet<crate::server::source::cache::Key>,
    /// (source, variant): total RTP bits and count of the renditions made.
    rendition_bits: HashMap<(u64, u8), (f64, u32)>,
    /// Groups and their address pool, with `--multicast`.
    multicast: Option<multicast::Multicast>,
    /// MJPEG viewers and the HTTP side's counters.
    http: http::HttpSide,
    /// Live publishers (`--publish`), by path.
    publishers: publish::Publishers,
    /// Relayed names (`--relay`) and the requests waiting for their origins.
    edge: edge::Edge,
}

impl Core {
    pub fn new(
        config: Config,
        catalog: Catalog,
        rtp_port: u16,
        now: Instant,
    ) -> Result<Core, String> {
        let auth = config.auth.clone().map(Authenticator::new).transpose()?;
        let multicast = match config.multicast {
            Some((net, prefix)) => Some(multicast::Multicast {
                pool: multicast::Pool::new(net, prefix, config.multicast_port)?,
                ttl: config.multicast_ttl,
                groups: HashMap::new(),
                changes: Default::default(),
            }),
            None => None,
        };
        let relays = config
            .relays
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let (linger, max, mtu) = (config.relay_linger, config.max_live_frame, config.mtu);
                Relay::new(i, spec.clone(), linger, max, mtu, now)
            })
            .collect();
        Ok(Core {
            multicast,
            auth,
            library: Library::new(catalog, config.fps, config.mtu),
            cache: FrameCache::new(config.cache_bytes),
            config,
            sessions: IdMap::default(),
            by_ssrc: IdMap::default(),
            timelines: HashMap::new(),
            next_timeline: 1,
            // 100 µs ticks: a frame leaves at most a tenth of a millisecond after it is due.
            timers: TimerWheel::new(now, Duration::from_micros(100)),
            phases: phases::Phases::new(now),
            totals: Totals::default(),
            scratch: Scratch::default(),
            rtp_port,
            jobs: Vec::new(),
            pending: HashSet::new(),
            rendition_bits: HashMap::new(),
            http: http::HttpSide::default(),
            publishers: publish::Publishers::default(),
            edge: edge::Edge::new(relays),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Sessions viewers hold (multicast groups' internal senders are not counted).
    pub fn session_count(&self) -> usize {
        self.sessions.len() - self.multicast.as_ref().map_or(0, |m| m.groups.len())
    }

    /// Whether the client at `conn`'s address holds its share of sessions already (publishers
    /// count; multicast group senders are the server's own). Logged when it does.
    fn peer_at_limit(&self, conn: &ConnInfo) -> bool {
        let ip = conn.peer.ip();
        let held = self
            .sessions
            .values()
            .filter(|s| s.peer.ip() == ip && !self.is_group_sender(s.id))
            .count()
            + self.publishers.from(ip);
        let full = held >= self.config.max_sessions_per_peer;
        if full {
            warn!(
                "{}: refused: {held} sessions from this address is the limit \
                 (--max-sessions-per-peer)",
                conn.peer
            );
        }
        full
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    pub fn cache(&self) -> &FrameCache {
        &self.cache
    }

    /// Connections that set up a live session or carry one (interleaved).
    pub fn connections_with_sessions(&self) -> HashSet<ConnId> {
        let mut set = HashSet::new();
        for s in self.sessions.values() {
            if let Some(c) = s.conn {
                set.insert(c);
            }
            if let Delivery::Tcp { conn, .. } = s.rtp.delivery {
                set.insert(conn);
            }
        }
        set.extend(self.publishers.connections());
        set
    }

    /// When the reactor must next call [`Core::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next_deadline(),
            self.publishers_deadline(),
            self.edge_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Answers one request. Frames for a session that starts playing leave from the next
    /// [`Core::handle_timeout`], so the reply is queued before the first interleaved packet. A
    /// relayed name whose origin is not open yet gets 503 here; a driver that can wait uses
    /// [`Core::handle_request_or_defer`].
    pub fn handle_request(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Response {
        self.respond(conn, req, now, wall, out, false)
            .unwrap_or_else(|| plain(StatusCode::SERVICE_UNAVAILABLE, None))
    }

    /// As [`Core::handle_request`], but a request for a relayed name whose origin has not
    /// described its stream yet returns None: its reply comes later from [`Core::poll_reply`],
    /// and the connection's next requests should wait for it.
    pub fn handle_request_or_defer(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Option<Response> {
        self.respond(conn, req, now, wall, out, true)
    }

    fn respond(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
        may_wait: bool,
    ) -> Option<Response> {
        let Some(cseq) = req.headers.get("CSeq").map(|v| v.trim().to_string()) else {
            return Some(plain(StatusCode::BAD_REQUEST, None));
        };
        let cseq = Some(cseq.as_str());
        if let Some(req_opts) = req.headers.get("Require") {
            // We implement no RTSP extension options (RFC 2326 §12.32).
            let mut r = plain(StatusCode::OPTION_NOT_SUPPORTED, cseq);
            r.headers.append("Unsupported", req_opts.trim());
            return Some(r);
        }
        if let Some(refusal) = self.authorize(conn, req, cseq, wall) {
            return Some(refusal);
        }
        let mut response = self.dispatch(conn, req, cseq, now, wall, out, may_wait)?;
        // Last, after CSeq and Session, which the lab client reads by line number.
        response.headers.append("Server", SERVER);
        Some(response)
    }

    /// An authorized request to its handler: a relay's gate, a publisher's, or a method's.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
        may_wait: bool,
    ) -> Option<Response> {
        if let Some(relay) = self.relay_gate(req, now) {
            if may_wait {
                self.defer(conn, req, relay, now);
                return None;
            }
            let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, cseq);
            r.headers.append("Retry-After", "1");
            return Some(r);
        }
        let live = self.publish_request(conn, req, cseq, now, wall, out);
        let result = live.unwrap_or_else(|| match &req.method {
            Method::Options => Ok(self.options(conn, req, cseq, now)),
            Method::Describe => self.describe(conn, req, cseq),
            Method::Setup => self.setup(conn, req, cseq, now),
            Method::Play => self.play(conn, req, cseq, now),
            Method::Pause => self.pause(conn, req, cseq, now),
            Method::Teardown => self.teardown(conn, req, cseq, now, wall, out),
            Method::GetParameter | Method::SetParameter => self.parameter(conn, req, cseq, now),
            _ => {
                let mut r = plain(StatusCode::NOT_IMPLEMENTED, cseq);
                r.headers.append("Public", self.public());
                Ok(r)
            }
        });
        Some(result.unwrap_or_else(|status| plain(status, cseq)))
    }

    /// The methods this server offers.
    fn public(&self) -> &'static str {
        if self.config.publish {
            PUBLIC_PUBLISHING
        } else {
            PUBLIC
        }
    }

    /// Every method but OPTIONS needs credentials when `--auth` is on (RFC 2326 §10.1 lets
    /// OPTIONS probe). None: go ahead; otherwise the 401 or 403 to send.
    fn authorize(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        wall: SystemTime,
    ) -> Option<Response> {
        let auth = self.auth.as_mut()?;
        if req.method == Method::Options {
            return None;
        }
        let verdict = auth.check(
            &req.method.to_string(),
            &req.uri,
            req.headers.get("Authorization"),
            conn.peer.ip(),
            wall,
        );
        let mut r = match verdict {
            Verdict::Allowed => return None,
            Verdict::Challenge { stale } => {
                let mut r = plain(StatusCode::UNAUTHORIZED, cseq);
                for c in auth.challenges(wall, stale) {
                    r.headers.append("WWW-Authenticate", &c);
                }
                r
            }
            Verdict::Locked => plain(StatusCode::FORBIDDEN, cseq),
        };
        r.headers.append("Server", SERVER);
        Some(r)
    }

    /// An RTCP packet from a client, on the RTCP port or an interleaved channel. Reports keep a
    /// session alive only from its own peer's address, and steer its adaptation only from its
    /// RTCP port (or its own connection).
    pub fn handle_rtcp(&mut self, from: RtcpFrom, data: &[u8], now: Instant) {
        if self.publisher_rtcp(from, data, now) {
            return;
        }
        let (ip, udp) = match from {
            RtcpFrom::Udp(a) => (a.ip(), Some(a)),
            RtcpFrom::Conn(_, ip) => (ip, None),
        };
        for packet in rtcp::Compound::new(data) {
            let Ok(packet) = packet else {
                debug!("{ip}: malformed RTCP ignored");
                return;
            };
            if let rtcp::Packet::ReceiverReport(rr) = packet {
                for block in &rr.blocks {
                    let Some(id) = self.by_ssrc.get(&block.ssrc).copied() else {
                        continue;
                    };
                    if self.is_group_sender(id) {
                        self.refresh_members(id, ip, now);
                        continue;
                    }
                    let bits = self.session_variant_bits(id);
                    let Some(s) = self.sessions.get_mut(&id) else {
                        continue;
                    };
                    let own_conn = match (from, s.rtp.delivery) {
                        (RtcpFrom::Conn(c, _), Delivery::Tcp { conn, .. }) => c == conn,
                        (RtcpFrom::Conn(..), _) => false,
                        (RtcpFrom::Udp(_), _) => true,
                    };
                    if s.peer.ip() != ip || !own_conn {
                        continue;
                    }
                    s.last_seen = now;
                    debug!(
                        "session {id}: receiver report: fraction lost {}/256, {} lost, jitter {}",
                        block.fraction_lost, block.cumulative_lost, block.jitter
                    );
                    Core::adapt_report(s, block, udp, now, &bits);
                    self.http_report(id, block.cumulative_lost);
                }
            }
        }
    }

    /// The reactor closed connection `conn`. Interleaved sessions end now; UDP sessions live on
    /// until their time-out unless a request or RTCP refreshes them.
    pub fn connection_closed(
        &mut self,
        conn: ConnId,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        self.viewer_closed(conn);
        let mut ending = Vec::new();
        for s in self.sessions.values_mut() {
            if let Delivery::Tcp { conn: c, .. } = s.rtp.delivery {
                if c == conn {
                    ending.push(s.id);
                    continue;
                }
            }
            if s.conn == Some(conn) {
                s.conn = None;
                s.last_seen = now;
            }
        }
        for id in ending {
            self.end_session(id, "connection closed", now, wall, out);
        }
        self.publishers_closed(conn, now, wall, out);
        self.edge_closed(conn);
    }

    /// Runs every timer due at `now`: sends frames, reports, and reclaims idle sessions.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        while let Some((_, tick)) = self.timers.poll_expired(now) {
            match tick {
                Tick::Frame(id) => self.send_next_frame(id, now, wall, out),
                Tick::Expire(id) => self.check_expiry(id, now, wall, out),
                Tick::View(id) => self.viewer_tick(id, now, out),
            }
        }
        self.publishers_timeout(now, wall, out);
        self.edge_timeout(now, wall, out);
    }

    /// Ends every session with RTCP BYE (server shutdown).
    pub fn shutdown(&mut self, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for id in ids {
            self.end_session(id, "server shutting down", now, wall, out);
        }
        self.edge_shutdown(now);
    }
}

/// A map keyed by ids the server drew from the OS random source (session ids, SSRCs): their
/// bits are already uniform and no peer chooses them, so they are their own hash. (Looked up for
/// every frame of every session, SipHash was a measurable part of rtspd's CPU at 2,000 sessions.)
type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Spread 32 bits over 64 so that hashbrown's top-7-bit tags vary too.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A response with `CSeq` first (the lab client reads it from line two).
fn plain(status: StatusCode, cseq: Option<&str>) -> Response {
    let mut r = Response::new(status);
    if let Some(c) = cseq {
        r.headers.append("CSeq", c);
    }
    r
}

#[cfg(test)]
mod tests;
