//! The server's protocol logic, sans-IO: RTSP requests in, responses and RTP/RTCP out.
//!
//! `Core` owns the sessions (RFC 2326 §3.4, Appendix A), the movies being streamed and the timer
//! wheel that paces every session's frames. It never touches a socket or reads the clock: the
//! reactor hands it each request with the time, calls [`Core::handle_timeout`] when
//! [`Core::poll_timeout`] says so, and gives it an [`Outbox`] through which packets leave. Tests
//! drive it with a recording outbox and a simulated clock.
//!
//! Pacing: a playing session's frame `k` is due at `anchor + (k - k0) / fps`, where `(anchor, k0)`
//! is set by PLAY, so lateness never accumulates. RTP timestamps count frames sent (90 kHz,
//! RFC 2435 §3), so they keep increasing across loops, seeks and pauses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};

use crate::rtp::packet::RtpHeader;
use crate::rtp::rtcp;
use crate::rtsp::headers::{parse_transports, NptRange, RtpInfo, Transport};
use crate::rtsp::message::{Method, Request, Response, StatusCode};
use crate::rtsp::sdp;
use crate::server::auth::{Authenticator, Verdict};
use crate::server::catalog::{movie_name_from_uri, Catalog};
use crate::server::config::Config;
use crate::server::stream::{Stream, CLOCK_RATE};
use crate::server::timer::{TimerKey, TimerWheel};

/// Identifies one RTSP connection in the reactor.
pub type ConnId = usize;

/// RTP payload type of JPEG (RFC 3551 §6).
pub const PT_JPEG: u8 = 26;

/// Whole JPEGs over this size do not fit one UDP datagram with headers; the lab mode skips them.
pub const MAX_WHOLE_FRAME: usize = 65_000;

/// The methods rtspd implements, for `Public:` (RFC 2326 §12.28).
pub const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

const SERVER: &str = concat!("rtspd/", env!("CARGO_PKG_VERSION"));

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
}

/// The RTSP connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub id: ConnId,
    pub peer: SocketAddr,
    /// The server's address on that connection (for SDP's c= line and logs).
    pub local: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Playing,
}

#[derive(Debug, Clone, Copy)]
enum Delivery {
    Udp {
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    },
    Tcp {
        conn: ConnId,
        rtp: u8,
        rtcp: u8,
    },
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SessionStats {
    pub frames: u64,
    pub packets: u64,
    pub octets: u64,
    /// Frames not sent whole: a full TCP queue or UDP socket buffer, or too large for lab mode.
    pub frames_dropped: u64,
}

struct Session {
    id: u64,
    stream: Arc<Stream>,
    state: State,
    delivery: Delivery,
    /// The classic lab client: one whole JPEG per packet, terse replies.
    lab: bool,
    ssrc: u32,
    next_seq: u16,
    ts_base: u32,
    /// Frames sent since SETUP: drives RTP timestamps and pacing.
    sent: u64,
    /// Next frame index to send.
    position: usize,
    /// Pacing origin: (time frame `sent == k0` was due, k0).
    anchor: (Instant, u64),
    timer: Option<TimerKey>,
    /// The movie played to its end (--no-loop) since the last PLAY.
    finished: bool,
    /// The RTSP connection that set it up, while it is open.
    conn: Option<ConnId>,
    peer: SocketAddr,
    last_seen: Instant,
    next_report: Instant,
    stats: SessionStats,
}

enum Tick {
    Frame(u64),
    Expire(u64),
}

/// Counters over the server's life, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub sessions_opened: u64,
    pub sessions_timed_out: u64,
    pub frames_sent: u64,
    pub frames_dropped: u64,
    pub send_errors: u64,
}

/// A loaded movie or why it cannot be streamed, keyed by canonical path; `stamp` notices a file
/// replaced on disk.
struct Loaded {
    stamp: Option<(u64, SystemTime)>,
    stream: Result<Arc<Stream>, String>,
}

pub struct Core {
    config: Config,
    catalog: Catalog,
    movies: HashMap<PathBuf, Loaded>,
    sessions: HashMap<u64, Session>,
    /// RTCP source address and SSRC of each UDP session, to route receiver reports.
    by_ssrc: HashMap<u32, u64>,
    timers: TimerWheel<Tick>,
    totals: Totals,
    scratch_headers: Vec<[u8; RtpHeader::LEN]>,
    scratch_prefix: Vec<[u8; 4]>,
    rtp_port: u16,
    auth: Option<Authenticator>,
}

impl Core {
    pub fn new(
        config: Config,
        catalog: Catalog,
        rtp_port: u16,
        now: Instant,
    ) -> Result<Core, String> {
        let auth = config.auth.clone().map(Authenticator::new).transpose()?;
        Ok(Core {
            auth,
            config,
            catalog,
            movies: HashMap::new(),
            sessions: HashMap::new(),
            by_ssrc: HashMap::new(),
            timers: TimerWheel::new(now, Duration::from_millis(1)),
            totals: Totals::default(),
            scratch_headers: Vec::new(),
            scratch_prefix: Vec::new(),
            rtp_port,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Connections that set up a live session or carry one (interleaved).
    pub fn connections_with_sessions(&self) -> std::collections::HashSet<ConnId> {
        let mut set = std::collections::HashSet::new();
        for s in self.sessions.values() {
            if let Some(c) = s.conn {
                set.insert(c);
            }
            if let Delivery::Tcp { conn, .. } = s.delivery {
                set.insert(conn);
            }
        }
        set
    }

    /// Loads every movie in the media folder, logging one line each; returns how many can be
    /// streamed.
    pub fn load_catalog(&mut self) -> usize {
        let mut ok = 0;
        for path in self.catalog.list() {
            let name = self.catalog.name_of(&path);
            match self.stream(&name) {
                Ok(s) => {
                    ok += 1;
                    info!(
                        "movie {}: {} frames, {}x{}, {:.1} MB, {:.1} s at {} fps, RFC 2435 ok",
                        s.name,
                        s.frame_count(),
                        s.width,
                        s.height,
                        s.movie.total_bytes() as f64 / 1e6,
                        s.duration(),
                        s.fps
                    );
                }
                Err((_, why)) => warn!("skipping {}: {why}", path.display()),
            }
        }
        ok
    }

    /// The stream for a movie name, loading it on first use.
    fn stream(&mut self, name: &str) -> Result<Arc<Stream>, (StatusCode, String)> {
        let path = self
            .catalog
            .resolve(name)
            .map_err(|_| (StatusCode::NOT_FOUND, format!("no movie named {name:?}")))?;
        let stamp = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        let fresh = matches!(self.movies.get(&path), Some(l) if l.stamp == stamp);
        if !fresh {
            let stream = Stream::load(name, &path, self.config.fps, self.config.mtu).map(Arc::new);
            self.movies.insert(path.clone(), Loaded { stamp, stream });
        }
        match &self.movies[&path].stream {
            Ok(s) => Ok(s.clone()),
            Err(why) => Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, why.clone())),
        }
    }

    /// When the reactor must next call [`Core::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Answers one request. Frames for a session that starts playing leave from the next
    /// [`Core::handle_timeout`], so the reply is queued before the first interleaved packet.
    pub fn handle_request(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Response {
        let Some(cseq) = req.headers.get("CSeq").map(|v| v.trim().to_string()) else {
            return plain(StatusCode::BAD_REQUEST, None);
        };
        let cseq = Some(cseq.as_str());
        if let Some(req_opts) = req.headers.get("Require") {
            // We implement no RTSP extension options (RFC 2326 §12.32).
            let mut r = plain(StatusCode::OPTION_NOT_SUPPORTED, cseq);
            r.headers.append("Unsupported", req_opts.trim());
            return r;
        }
        if let (Some(auth), false) = (self.auth.as_mut(), req.method == Method::Options) {
            // Every method but OPTIONS needs credentials (RFC 2326 §10.1 lets OPTIONS probe).
            let verdict = auth.check(
                &req.method.to_string(),
                req.headers.get("Authorization"),
                conn.peer.ip(),
                wall,
            );
            match verdict {
                Verdict::Allowed => {}
                Verdict::Challenge { stale } => {
                    let mut r = plain(StatusCode::UNAUTHORIZED, cseq);
                    for c in auth.challenges(wall, stale) {
                        r.headers.append("WWW-Authenticate", &c);
                    }
                    r.headers.append("Server", SERVER);
                    return r;
                }
                Verdict::Locked => {
                    let mut r = plain(StatusCode::FORBIDDEN, cseq);
                    r.headers.append("Server", SERVER);
                    return r;
                }
            }
        }
        let result = match &req.method {
            Method::Options => Ok(self.options(conn, req, cseq, now)),
            Method::Describe => self.describe(conn, req, cseq),
            Method::Setup => self.setup(conn, req, cseq, now),
            Method::Play => self.play(conn, req, cseq, now),
            Method::Pause => self.pause(conn, req, cseq, now),
            Method::Teardown => self.teardown(conn, req, cseq, now, wall, out),
            Method::GetParameter | Method::SetParameter => self.parameter(conn, req, cseq, now),
            _ => {
                let mut r = plain(StatusCode::NOT_IMPLEMENTED, cseq);
                r.headers.append("Public", PUBLIC);
                Ok(r)
            }
        };
        let mut response = result.unwrap_or_else(|status| plain(status, cseq));
        // Last, after CSeq and Session, which the lab client reads by line number.
        response.headers.append("Server", SERVER);
        response
    }

    fn options(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Response {
        // OPTIONS doubles as a keepalive (RFC 2326 §10.1); an unknown session is not an error here.
        let _ = self.session_for(conn, req, now);
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Public", PUBLIC);
        r
    }

    fn describe(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
    ) -> Result<Response, StatusCode> {
        let name = movie_name_from_uri(&req.uri)
            .map_err(|_| StatusCode::NOT_FOUND)?
            .name;
        let stream = self.stream(&name).map_err(|(status, why)| {
            info!("{}: DESCRIBE {}: {why}", conn.peer, req.uri);
            status
        })?;
        if let Some(accept) = req.headers.get("Accept") {
            let ok = accept.split(',').any(|t| {
                matches!(
                    t.split(';').next().map(str::trim),
                    Some("application/sdp" | "*/*" | "application/*")
                )
            });
            if !ok {
                return Err(StatusCode::NOT_ACCEPTABLE);
            }
        }
        let body = sdp::movie_sdp(&sdp::MovieDescription {
            name: &stream.name,
            server_addr: conn.local.ip(),
            duration: stream.duration(),
            fps: stream.fps,
            width: stream.width,
            height: stream.height,
        });
        let mut base = req.uri.trim_end_matches('/').to_string();
        base.push('/');
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Content-Base", &base);
        r.headers.append("Content-Type", "application/sdp");
        r.body = body.into_bytes();
        Ok(r)
    }

    /// Looks up the session a request names and refreshes it. `Ok(None)`: no Session header.
    fn session_for(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        now: Instant,
    ) -> Result<Option<u64>, StatusCode> {
        let Some(value) = req.headers.get("Session") else {
            return Ok(None);
        };
        let id_text = value.split(';').next().unwrap_or("").trim();
        let id: u64 = id_text.parse().map_err(|_| StatusCode::SESSION_NOT_FOUND)?;
        let Some(s) = self.sessions.get_mut(&id) else {
            return Err(StatusCode::SESSION_NOT_FOUND);
        };
        // The id is a bearer secret; also require the peer's own address, so a leaked id cannot
        // steer someone else's stream from elsewhere.
        if s.peer.ip() != conn.peer.ip() {
            warn!("{}: used session {id} of {}", conn.peer, s.peer);
            return Err(StatusCode::SESSION_NOT_FOUND);
        }
        s.last_seen = now;
        if s.conn.is_none() {
            s.conn = Some(conn.id);
        }
        Ok(Some(id))
    }

    /// As [`Core::session_for`], for methods that need a session: no Session header is 454 too.
    fn required_session(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        now: Instant,
    ) -> Result<u64, StatusCode> {
        self.session_for(conn, req, now)?
            .ok_or(StatusCode::SESSION_NOT_FOUND)
    }

    fn setup(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let name = movie_name_from_uri(&req.uri)
            .map_err(|_| StatusCode::NOT_FOUND)?
            .name;
        let existing = self.session_for(conn, req, now)?;
        let transports = req
            .headers
            .get("Transport")
            .map(parse_transports)
            .transpose()
            .map_err(|_| StatusCode::BAD_REQUEST)?
            .ok_or(StatusCode::UNSUPPORTED_TRANSPORT)?;
        let (delivery, lab, chosen) = self.choose_transport(conn, &transports, existing)?;

        if let Some(id) = existing {
            // A second SETUP in a session changes its transport; not while playing (RFC 2326 §10.4
            // allows refusing with 455).
            let wanted = self
                .stream(&name)
                .map_err(|(status, _)| status)?
                .path
                .clone();
            let s = self
                .sessions
                .get_mut(&id)
                .ok_or(StatusCode::SESSION_NOT_FOUND)?;
            if s.state == State::Playing {
                return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
            }
            if wanted != s.stream.path {
                // One session, one movie: aggregate control of two movies is not offered (459).
                return Err(StatusCode::AGGREGATE_OPERATION_NOT_ALLOWED);
            }
            s.delivery = delivery;
            let ssrc = s.ssrc;
            return Ok(self.setup_reply(cseq, id, lab, &chosen, ssrc));
        }

        let stream = self.stream(&name).map_err(|(status, why)| {
            info!("{}: SETUP {}: {why}", conn.peer, req.uri);
            status
        })?;
        if self.sessions.len() >= self.config.max_sessions {
            warn!(
                "{}: SETUP refused: {} sessions is the limit",
                conn.peer, self.config.max_sessions
            );
            return Err(StatusCode::NOT_ENOUGH_BANDWIDTH);
        }
        let id = self.new_session_id();
        let ssrc = self.new_ssrc();
        let session = Session {
            id,
            stream: stream.clone(),
            state: State::Ready,
            delivery,
            lab,
            ssrc,
            next_seq: random_u16(),
            ts_base: random_u32(),
            sent: 0,
            position: 0,
            anchor: (now, 0),
            timer: None,
            finished: false,
            conn: Some(conn.id),
            peer: conn.peer,
            last_seen: now,
            next_report: now,
            stats: SessionStats::default(),
        };
        if lab {
            // The lab client shows a frame only when its sequence number exceeds the last shown,
            // and expects them to count frames from 1.
            let mut session = session;
            session.next_seq = 1;
            self.sessions.insert(id, session);
        } else {
            self.sessions.insert(id, session);
        }
        self.by_ssrc.insert(ssrc, id);
        self.timers
            .insert(now + self.config.session_timeout, Tick::Expire(id));
        self.totals.sessions_opened += 1;
        info!(
            "session {id}: setup by {} for {} over {}{}",
            conn.peer,
            stream.name,
            describe_delivery(&delivery),
            if lab {
                " (lab client, whole frames)"
            } else {
                ""
            }
        );
        Ok(self.setup_reply(cseq, id, lab, &chosen, ssrc))
    }

    fn setup_reply(
        &self,
        cseq: Option<&str>,
        id: u64,
        lab: bool,
        chosen: &Transport,
        ssrc: u32,
    ) -> Response {
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Session", &self.session_header(id, lab));
        let mut t = chosen.clone();
        t.ssrc = Some(ssrc);
        if t.interleaved.is_none() {
            t.server_port = Some((self.rtp_port, Some(self.rtp_port.wrapping_add(1))));
        }
        r.headers.append("Transport", &t.to_string());
        r
    }

    fn session_header(&self, id: u64, lab: bool) -> String {
        if lab {
            // Client.py parses `int(line.split(' ')[1])`: nothing may follow the id.
            id.to_string()
        } else {
            format!("{id};timeout={}", self.config.session_timeout.as_secs())
        }
    }

    /// Picks the first transport we can honour (RFC 2326 §12.39: the client lists them in order
    /// of preference). Returns what to deliver on, whether it is the lab dialect, and the spec to
    /// echo back.
    fn choose_transport(
        &self,
        conn: &ConnInfo,
        transports: &[Transport],
        existing: Option<u64>,
    ) -> Result<(Delivery, bool, Transport), StatusCode> {
        let mut refused_destination = false;
        for t in transports {
            if t.multicast || !t.is_rtp_avp() {
                continue;
            }
            if let Some(dest) = &t.destination {
                // RTP goes only to the peer that asked for it: anything else would let a request
                // aim our stream at a third party.
                let same = dest
                    .parse::<IpAddr>()
                    .map(|ip| ip == conn.peer.ip())
                    .unwrap_or(false);
                if !same {
                    refused_destination = true;
                    continue;
                }
            }
            if t.is_tcp() {
                let (rtp, rtcp) = match t.interleaved {
                    Some((a, b)) => (a, b.unwrap_or(a.wrapping_add(1))),
                    None => self.free_channels(conn.id, existing),
                };
                let mut echo = t.clone();
                echo.interleaved = Some((rtp, Some(rtcp)));
                echo.client_port = None;
                return Ok((
                    Delivery::Tcp {
                        conn: conn.id,
                        rtp,
                        rtcp,
                    },
                    false,
                    echo,
                ));
            }
            if let Some((rtp_port, rtcp_port)) = t.client_port {
                if rtp_port == 0 {
                    continue;
                }
                let ip = conn.peer.ip();
                let lab = t.is_lab();
                let rtcp = if lab {
                    None
                } else {
                    Some(SocketAddr::new(
                        ip,
                        rtcp_port.unwrap_or(rtp_port.wrapping_add(1)),
                    ))
                };
                let mut echo = t.clone();
                echo.destination = None;
                return Ok((
                    Delivery::Udp {
                        rtp: SocketAddr::new(ip, rtp_port),
                        rtcp,
                    },
                    lab,
                    echo,
                ));
            }
        }
        if refused_destination {
            warn!(
                "{}: SETUP asked to send RTP to another address; refused",
                conn.peer
            );
        }
        Err(StatusCode::UNSUPPORTED_TRANSPORT)
    }

    /// The lowest even channel pair not used by another session on this connection.
    fn free_channels(&self, conn: ConnId, except: Option<u64>) -> (u8, u8) {
        let used: Vec<u8> = self
            .sessions
            .values()
            .filter(|s| Some(s.id) != except)
            .filter_map(|s| match s.delivery {
                Delivery::Tcp { conn: c, rtp, .. } if c == conn => Some(rtp),
                _ => None,
            })
            .collect();
        let rtp = (0..=127u8)
            .map(|i| i * 2)
            .find(|c| !used.contains(c))
            .unwrap_or(0);
        (rtp, rtp + 1)
    }

    fn play(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let id = self.required_session(conn, req, now)?;
        let range = match req.headers.get("Range") {
            Some(v) => Some(NptRange::parse(v).map_err(|_| StatusCode::INVALID_RANGE)?),
            None => None,
        };
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        let frames = s.stream.frame_count();
        let duration = s.stream.duration();
        if let Some(start) = range.as_ref().and_then(|r| r.start) {
            if !(0.0..duration).contains(&start) {
                return Err(StatusCode::INVALID_RANGE);
            }
            s.position = ((start * s.stream.fps).floor() as usize).min(frames.saturating_sub(1));
        } else if s.position >= frames {
            // Ended (--no-loop): PLAY starts over.
            s.position = 0;
        }
        if let Some(key) = s.timer.take() {
            self.timers.cancel(key);
        }
        s.state = State::Playing;
        s.finished = false;
        s.anchor = (now, s.sent);
        s.timer = Some(self.timers.insert(now, Tick::Frame(id)));
        let start = s.position as f64 / s.stream.fps;
        let rtptime = s.ts_base.wrapping_add(s.stream.rtp_offset(s.sent));
        let info_line = RtpInfo {
            url: req.uri.clone(),
            seq: Some(s.next_seq),
            rtptime: Some(rtptime),
        };
        info!("session {id}: play {} from {start:.3} s", s.stream.name);
        let lab = s.lab;
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Session", &self.session_header(id, lab));
        r.headers.append(
            "Range",
            &NptRange {
                start: Some(start),
                end: Some(duration),
            }
            .to_string(),
        );
        r.headers
            .append("RTP-Info", &RtpInfo::format_list(&[info_line]));
        Ok(r)
    }

    fn pause(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let id = self.required_session(conn, req, now)?;
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        if s.state != State::Playing && !s.lab && !s.finished {
            // RFC 2326 Appendix A: PAUSE is valid only while playing. The lab client's GUI can
            // send it in Ready; it gets a plain OK, as the seed's server gave it. So does a client
            // pausing a stream that ended (--no-loop) before it saw the BYE: GStreamer does.
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        if let Some(key) = s.timer.take() {
            self.timers.cancel(key);
        }
        s.state = State::Ready;
        info!("session {id}: pause at frame {}", s.position);
        let lab = s.lab;
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Session", &self.session_header(id, lab));
        Ok(r)
    }

    fn teardown(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Result<Response, StatusCode> {
        let id = self.required_session(conn, req, now)?;
        let lab = self.sessions.get(&id).map(|s| s.lab).unwrap_or(false);
        self.end_session(id, "teardown", now, wall, out);
        let mut r = plain(StatusCode::OK, cseq);
        // Client.py reads the session from every reply's third line, TEARDOWN's too.
        r.headers.append("Session", &self.session_header(id, lab));
        Ok(r)
    }

    fn parameter(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let id = self.session_for(conn, req, now)?;
        if !req.body.iter().all(u8::is_ascii_whitespace) {
            // No parameters are defined; an empty body is the keepalive (RFC 2326 §10.8).
            return Err(StatusCode::PARAMETER_NOT_UNDERSTOOD);
        }
        let mut r = plain(StatusCode::OK, cseq);
        if let Some(id) = id {
            let lab = self.sessions.get(&id).map(|s| s.lab).unwrap_or(false);
            r.headers.append("Session", &self.session_header(id, lab));
        }
        Ok(r)
    }

    /// An RTCP packet from a client, on the RTCP port or an interleaved channel.
    pub fn handle_rtcp(&mut self, from: IpAddr, data: &[u8], now: Instant) {
        for packet in rtcp::Compound::new(data) {
            let Ok(packet) = packet else {
                debug!("{from}: malformed RTCP ignored");
                return;
            };
            if let rtcp::Packet::ReceiverReport(rr) = packet {
                for block in &rr.blocks {
                    let Some(id) = self.by_ssrc.get(&block.ssrc).copied() else {
                        continue;
                    };
                    let Some(s) = self.sessions.get_mut(&id) else {
                        continue;
                    };
                    if s.peer.ip() != from {
                        continue;
                    }
                    s.last_seen = now;
                    debug!(
                        "session {id}: receiver report: fraction lost {}/256, {} lost, jitter {}",
                        block.fraction_lost, block.cumulative_lost, block.jitter
                    );
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
        let mut ending = Vec::new();
        for s in self.sessions.values_mut() {
            if let Delivery::Tcp { conn: c, .. } = s.delivery {
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
    }

    /// Runs every timer due at `now`: sends frames, reports, and reclaims idle sessions.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        while let Some((_, tick)) = self.timers.poll_expired(now) {
            match tick {
                Tick::Frame(id) => self.send_next_frame(id, now, wall, out),
                Tick::Expire(id) => self.check_expiry(id, now, wall, out),
            }
        }
    }

    fn check_expiry(&mut self, id: u64, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        let timeout = self.config.session_timeout;
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let next = if s.conn.is_some() {
            now + timeout
        } else {
            s.last_seen + timeout
        };
        if next > now {
            self.timers.insert(next, Tick::Expire(id));
        } else {
            self.totals.sessions_timed_out += 1;
            self.end_session(id, "timed out", now, wall, out);
        }
    }

    fn end_session(
        &mut self,
        id: u64,
        why: &str,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        if let Some(key) = s.timer.take() {
            self.timers.cancel(key);
        }
        self.by_ssrc.remove(&s.ssrc);
        if s.stats.frames > 0 {
            self.send_report(&mut s, now, wall, out, true);
        }
        info!(
            "session {id}: {why} ({} from {}; {} frames, {} dropped)",
            s.stream.name, s.peer, s.stats.frames, s.stats.frames_dropped
        );
    }

    fn send_next_frame(&mut self, id: u64, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        s.timer = None;
        if s.state == State::Playing && s.position >= s.stream.frame_count() {
            // --no-loop: the last frame's time is over. Saying BYE only now, a frame period
            // after it left, gives receivers (GStreamer's jitter buffer) time to show it.
            info!("session {id}: end of {}", s.stream.name);
            self.send_report(&mut s, now, wall, out, true);
            s.state = State::Ready;
            s.position = 0;
            s.finished = true;
        }
        if s.state == State::Playing {
            if !s.lab && now >= s.next_report {
                self.send_report(&mut s, now, wall, out, false);
                s.next_report = now + self.config.sr_interval;
            }
            self.send_frame(&mut s, out);
            s.sent += 1;
            s.position += 1;
            if s.position >= s.stream.frame_count() && self.config.looping {
                s.position = 0;
            }
            let mut due =
                s.anchor.0 + Duration::from_secs_f64((s.sent - s.anchor.1) as f64 / s.stream.fps);
            if due + Duration::from_secs(1) < now {
                // The loop was held up for over a second: start afresh rather than burst.
                s.anchor = (now, s.sent);
                due = now;
            }
            s.timer = Some(self.timers.insert(due, Tick::Frame(id)));
        }
        self.sessions.insert(id, s);
    }

    fn send_frame(&mut self, s: &mut Session, out: &mut dyn Outbox) {
        let timestamp = s.ts_base.wrapping_add(s.stream.rtp_offset(s.sent));
        if s.lab {
            let Some(jpeg) = s.stream.jpeg(s.position) else {
                return;
            };
            if jpeg.len() > MAX_WHOLE_FRAME {
                warn!("session {}: frame {} is {} bytes, over the lab mode's {MAX_WHOLE_FRAME}; skipped", s.id, s.position + 1, jpeg.len());
                s.stats.frames_dropped += 1;
                self.totals.frames_dropped += 1;
                return;
            }
            let mut header = [0u8; RtpHeader::LEN];
            RtpHeader {
                marker: true,
                payload_type: PT_JPEG,
                sequence: s.next_seq,
                timestamp,
                ssrc: s.ssrc,
            }
            .write(&mut header);
            s.next_seq = s.next_seq.wrapping_add(1);
            if let Delivery::Udp { rtp, .. } = s.delivery {
                let sent = out.rtp_udp(rtp, &[(&header, jpeg)]);
                self.count(s, sent == 1, 1, RtpHeader::LEN + jpeg.len());
            }
            return;
        }
        let stream = s.stream.clone();
        let Some(payloads) = stream.payloads(s.position) else {
            return;
        };
        let n = payloads.len();
        self.scratch_headers.resize(n, [0; RtpHeader::LEN]);
        let mut octets = 0;
        for (i, (header, payload)) in self
            .scratch_headers
            .iter_mut()
            .zip(payloads.iter())
            .enumerate()
        {
            RtpHeader {
                marker: i + 1 == n,
                payload_type: PT_JPEG,
                sequence: s.next_seq.wrapping_add(i as u16),
                timestamp,
                ssrc: s.ssrc,
            }
            .write(header);
            octets += payload.len();
        }
        match s.delivery {
            Delivery::Udp { rtp, .. } => {
                let packets: Vec<(&[u8], &[u8])> = self
                    .scratch_headers
                    .iter()
                    .map(|h| &h[..])
                    .zip(payloads.iter())
                    .collect();
                let sent = out.rtp_udp(rtp, &packets);
                // Sequence numbers advance even for packets the socket refused, so the receiver
                // sees the loss (RFC 3550 §6.4.1 counts it).
                s.next_seq = s.next_seq.wrapping_add(n as u16);
                if sent < n {
                    self.totals.send_errors += 1;
                }
                self.count(s, sent == n, sent, octets);
            }
            Delivery::Tcp { conn, rtp, .. } => {
                self.scratch_prefix.resize(n, [0; 4]);
                for (prefix, payload) in self.scratch_prefix.iter_mut().zip(payloads.iter()) {
                    let len = (RtpHeader::LEN + payload.len()) as u16;
                    *prefix = [b'$', rtp, (len >> 8) as u8, len as u8];
                }
                let mut chunks: Vec<&[u8]> = Vec::with_capacity(3 * n);
                for ((prefix, header), payload) in self
                    .scratch_prefix
                    .iter()
                    .zip(&self.scratch_headers)
                    .zip(payloads.iter())
                {
                    chunks.extend_from_slice(&[&prefix[..], &header[..], payload]);
                }
                let queued = out.interleaved(conn, &chunks);
                if queued {
                    // Over TCP a dropped frame is never on the wire, so its numbers are not used.
                    s.next_seq = s.next_seq.wrapping_add(n as u16);
                }
                self.count(s, queued, if queued { n } else { 0 }, octets);
            }
        }
    }

    fn count(&mut self, s: &mut Session, whole: bool, packets: usize, octets: usize) {
        if whole {
            s.stats.frames += 1;
            s.stats.packets += packets as u64;
            s.stats.octets += octets as u64;
            self.totals.frames_sent += 1;
        } else {
            s.stats.frames_dropped += 1;
            self.totals.frames_dropped += 1;
        }
    }

    /// A sender report (RFC 3550 §6.4.1) whose NTP time and RTP timestamp name the same instant,
    /// with SDES CNAME, and BYE when the session ends.
    fn send_report(
        &mut self,
        s: &mut Session,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
        bye: bool,
    ) {
        let elapsed = now.saturating_duration_since(s.anchor.0).as_secs_f64();
        let rtp_now = s
            .ts_base
            .wrapping_add(s.stream.rtp_offset(s.anchor.1))
            .wrapping_add(if s.state == State::Playing {
                (elapsed * f64::from(CLOCK_RATE)) as u64 as u32
            } else {
                0
            });
        let since_epoch = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut packet = Vec::with_capacity(128);
        rtcp::SenderReport {
            ssrc: s.ssrc,
            ntp: rtcp::NtpTimestamp::from_unix(since_epoch),
            rtp_timestamp: rtp_now,
            packet_count: s.stats.packets as u32,
            octet_count: s.stats.octets as u32,
            blocks: Vec::new(),
        }
        .write(&mut packet);
        rtcp::Sdes::cname(s.ssrc, SERVER).write(&mut packet);
        if bye {
            rtcp::Bye {
                ssrcs: vec![s.ssrc],
                reason: None,
            }
            .write(&mut packet);
        }
        match s.delivery {
            Delivery::Udp {
                rtcp: Some(dest), ..
            } => out.rtcp_udp(dest, &packet),
            Delivery::Udp { rtcp: None, .. } => {}
            Delivery::Tcp { conn, rtcp, .. } => {
                let len = packet.len() as u16;
                let prefix = [b'$', rtcp, (len >> 8) as u8, len as u8];
                // A report lost to a full queue is harmless: the next one follows in 5 s.
                let _ = out.interleaved(conn, &[&prefix, &packet]);
            }
        }
    }

    /// Ends every session with RTCP BYE (server shutdown).
    pub fn shutdown(&mut self, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for id in ids {
            self.end_session(id, "server shutting down", now, wall, out);
        }
    }

    fn new_session_id(&self) -> u64 {
        loop {
            let id = random_u64() >> 1; // 63 bits keep the decimal form within i64 for clients
            if id > 1_000_000 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn new_ssrc(&self) -> u32 {
        loop {
            let ssrc = random_u32();
            if !self.by_ssrc.contains_key(&ssrc) {
                return ssrc;
            }
        }
    }
}

fn describe_delivery(d: &Delivery) -> String {
    match d {
        Delivery::Udp { rtp, .. } => format!("UDP to {rtp}"),
        Delivery::Tcp { rtp, rtcp, .. } => format!("TCP interleaved {rtp}-{rtcp}"),
    }
}

/// A response with `CSeq` first (the lab client reads it from line two) and `Server`.
fn plain(status: StatusCode, cseq: Option<&str>) -> Response {
    let mut r = Response::new(status);
    if let Some(c) = cseq {
        r.headers.append("CSeq", c);
    }
    r
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source failing is not something a server can recover from sensibly; a
    // predictable id would be worse than stopping.
    getrandom::fill(&mut b).expect("the OS random source failed");
    b
}

fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes())
}

fn random_u32() -> u32 {
    u32::from_le_bytes(random_bytes())
}

fn random_u16() -> u16 {
    u16::from_le_bytes(random_bytes())
}

#[cfg(test)]
mod tests {
    //! The core driven without sockets: a recording outbox and a simulated clock.
    use super::*;
    use crate::media::testmovie::TestMovie;
    use crate::rtp::packet::RtpPacket;
    use crate::rtsp::message::{self, Limits, Message};

    #[derive(Default)]
    struct Recorder {
        /// (time, destination, RTP packet bytes)
        rtp: Vec<(Instant, SocketAddr, Vec<u8>)>,
        rtcp: Vec<(SocketAddr, Vec<u8>)>,
        now: Option<Instant>,
    }

    impl Outbox for Recorder {
        fn rtp_udp(&mut self, dest: SocketAddr, packets: &[(&[u8], &[u8])]) -> usize {
            let now = self.now.expect("time set");
            for (h, p) in packets {
                self.rtp.push((now, dest, [*h, *p].concat()));
            }
            packets.len()
        }
        fn rtcp_udp(&mut self, dest: SocketAddr, packet: &[u8]) {
            self.rtcp.push((dest, packet.to_vec()));
        }
        fn interleaved(&mut self, _: ConnId, _: &[&[u8]]) -> bool {
            panic!("no TCP sessions in these tests")
        }
    }

    struct Fixture {
        _dir: TempDir,
        core: Core,
        conn: ConnInfo,
        t0: Instant,
        wall0: SystemTime,
        out: Recorder,
    }

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A core serving a 12-frame, 24 fps movie (half a second) with `tweak` applied.
    fn fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "rtsp-mjpeg-core-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let movie = TestMovie {
            seconds: 0.5,
            width: 160,
            height: 128,
            fps: 24,
            ..TestMovie::default()
        };
        std::fs::write(dir.join("movie.Mjpeg"), movie.to_lab_bytes()).unwrap();
        let mut config = Config {
            media: dir.clone(),
            ..Config::default()
        };
        tweak(&mut config);
        let t0 = Instant::now();
        let core = Core::new(config, Catalog::new(&dir).unwrap(), 6970, t0).unwrap();
        let conn = ConnInfo {
            id: 1,
            peer: "127.0.0.1:40000".parse().unwrap(),
            local: "127.0.0.1:8554".parse().unwrap(),
        };
        Fixture {
            _dir: TempDir(dir),
            core,
            conn,
            t0,
            wall0: SystemTime::now(),
            out: Recorder::default(),
        }
    }

    impl Fixture {
        fn wall(&self, now: Instant) -> SystemTime {
            self.wall0 + (now - self.t0)
        }

        fn request(&mut self, now: Instant, text: &str) -> Response {
            let (msg, _) = message::parse(text.as_bytes(), &Limits::default()).unwrap();
            let Message::Request(req) = msg else {
                panic!("not a request")
            };
            self.out.now = Some(now);
            let wall = self.wall(now);
            self.core
                .handle_request(&self.conn, &req, now, wall, &mut self.out)
        }

        /// Runs every timer up to `until`, at the moments the core asks to be woken.
        fn run_until(&mut self, until: Instant) {
            while let Some(t) = self.core.poll_timeout() {
                if t > until {
                    break;
                }
                self.out.now = Some(t);
                let wall = self.wall(t);
                self.core.handle_timeout(t, wall, &mut self.out);
            }
        }

        fn setup_udp(&mut self, transport: &str) -> Response {
            let t0 = self.t0;
            self.request(
                t0,
                &format!("SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: {transport}\r\n\r\n"),
            )
        }
    }

    fn session_of(r: &Response) -> String {
        r.headers
            .get("Session")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    #[test]
    fn frames_are_paced_without_drift_and_timestamps_keep_rising_across_loops() {
        let mut f = fixture(|_| {});
        let r = f.setup_udp("RTP/AVP;unicast;client_port=5000-5001");
        assert_eq!(r.status, StatusCode::OK);
        let id = session_of(&r);
        let t0 = f.t0;
        let r = f.request(t0, &format!("PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"));
        assert_eq!(r.status, StatusCode::OK);
        // Three loops of the 12-frame movie, plus the first frame of the fourth.
        let period = Duration::from_secs(1) / 24;
        f.run_until(t0 + period * 36 + Duration::from_millis(1));
        let mut frames: Vec<(Instant, u32)> = Vec::new();
        let mut last_seq = None;
        for (at, dest, bytes) in &f.out.rtp {
            assert_eq!(
                *dest,
                "127.0.0.1:5000".parse().unwrap(),
                "RTP goes to the client port only"
            );
            let p = RtpPacket::new_checked(bytes).unwrap();
            assert_eq!(p.payload_type(), PT_JPEG);
            if let Some(prev) = last_seq {
                assert_eq!(
                    p.sequence(),
                    u16::wrapping_add(prev, 1),
                    "no gap in sequence numbers"
                );
            }
            last_seq = Some(p.sequence());
            if frames.last().is_none_or(|&(_, ts)| ts != p.timestamp()) {
                frames.push((*at, p.timestamp()));
            }
        }
        assert_eq!(frames.len(), 37);
        for (k, &(at, ts)) in frames.iter().enumerate() {
            let due = t0 + period * k as u32;
            assert!(
                at >= due && at < due + Duration::from_millis(2),
                "frame {k} sent {:?} after its due time",
                at - due
            );
            let expected = frames[0].1.wrapping_add((k as f64 * 3750.0).round() as u32);
            assert_eq!(
                ts, expected,
                "90 kHz timestamps count frames, across loops too"
            );
        }
        // The last packet of each frame carries the marker bit, and only it.
        let markers = f
            .out
            .rtp
            .iter()
            .filter(|(_, _, b)| b[1] & 0x80 != 0)
            .count();
        assert_eq!(markers, 37);
    }

    #[test]
    fn sender_reports_tie_ntp_to_rtp_time() {
        let mut f = fixture(|c| c.sr_interval = Duration::from_secs(1));
        let id = session_of(&f.setup_udp("RTP/AVP;unicast;client_port=5000-5001"));
        let t0 = f.t0;
        f.request(t0, &format!("PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"));
        f.run_until(t0 + Duration::from_millis(2500));
        let first_ts = RtpPacket::new_checked(&f.out.rtp[0].2).unwrap().timestamp();
        let reports: Vec<rtcp::SenderReport> = f
            .out
            .rtcp
            .iter()
            .inspect(|(dest, _)| assert_eq!(*dest, "127.0.0.1:5001".parse().unwrap()))
            .filter_map(|(_, b)| match rtcp::Compound::new(b).next() {
                Some(Ok(rtcp::Packet::SenderReport(sr))) => Some(sr),
                _ => None,
            })
            .collect();
        assert!(
            reports.len() >= 2,
            "a report at least every second: {}",
            reports.len()
        );
        let wall0 = f.wall0.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        for sr in &reports {
            let since_play = sr.ntp.to_unix().saturating_sub(wall0).as_secs_f64();
            let expected = first_ts.wrapping_add((since_play * 90_000.0).round() as u32);
            let off = sr.rtp_timestamp.wrapping_sub(expected) as i32;
            assert!(off.abs() <= 2, "SR RTP time off by {off} ticks");
        }
    }

    #[test]
    fn destination_of_a_third_party_is_refused() {
        let mut f = fixture(|_| {});
        let r = f.setup_udp("RTP/AVP;unicast;destination=192.0.2.7;client_port=5000-5001");
        assert_eq!(r.status, StatusCode::UNSUPPORTED_TRANSPORT);
        assert_eq!(f.core.session_count(), 0);
        let r = f.setup_udp("RTP/AVP;unicast;destination=127.0.0.1;client_port=5000-5001");
        assert_eq!(r.status, StatusCode::OK, "naming the peer itself is fine");
    }

    #[test]
    fn lab_sessions_get_whole_jpegs_numbered_from_one() {
        let mut f = fixture(|_| {});
        let t0 = f.t0;
        let r = f.request(
            t0,
            "SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 25000\n\n",
        );
        assert_eq!(r.status, StatusCode::OK);
        let id = session_of(&r);
        assert!(id.parse::<u64>().is_ok(), "decimal id: {id}");
        let mut head = Vec::new();
        r.write_to(&mut head);
        let text = String::from_utf8(head).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "CSeq: 1");
        assert_eq!(lines[2], format!("Session: {id}"));
        f.request(
            t0,
            &format!("PLAY movie.Mjpeg RTSP/1.0\nCSeq: 2\nSession: {id}\n\n"),
        );
        f.run_until(t0 + Duration::from_millis(200));
        assert_eq!(f.out.rtp.len(), 5);
        for (i, (_, dest, b)) in f.out.rtp.iter().enumerate() {
            assert_eq!(dest.port(), 25000);
            let p = RtpPacket::new_checked(b).unwrap();
            assert_eq!(p.sequence() as usize, i + 1);
            assert!(p.payload().starts_with(&[0xFF, 0xD8]) && p.payload().ends_with(&[0xFF, 0xD9]));
        }
        assert!(f.out.rtcp.is_empty(), "the lab client has no RTCP");
    }

    #[test]
    fn session_limit_and_unknown_sessions() {
        let mut f = fixture(|c| c.max_sessions = 1);
        assert_eq!(
            f.setup_udp("RTP/AVP;unicast;client_port=5000-5001").status,
            StatusCode::OK
        );
        let r = f.setup_udp("RTP/AVP;unicast;client_port=5002-5003");
        assert!(
            matches!(
                r.status,
                StatusCode::NOT_ENOUGH_BANDWIDTH | StatusCode::SERVICE_UNAVAILABLE
            ),
            "{:?}",
            r.status
        );
        let t0 = f.t0;
        let r = f.request(
            t0,
            "PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 3\r\nSession: 12345\r\n\r\n",
        );
        assert_eq!(r.status, StatusCode::SESSION_NOT_FOUND);
    }
}
