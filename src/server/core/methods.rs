//! One handler per RTSP method (RFC 2326 §10): each checks the request against the session's
//! state, changes it, and builds the reply. Sending is left to [`super::pacing`].

use std::time::{Instant, SystemTime};

use log::{info, warn};

use crate::rtsp::headers::{NptRange, RtpInfo};
use crate::rtsp::message::{Request, Response, StatusCode};
use crate::rtsp::sdp;
use crate::server::adapt::Mode;
use crate::server::catalog::movie_name_from_uri;
use crate::server::core::adaptive::{nominal, SessionAdapt};
use crate::server::core::multicast::sender_feed;
use crate::server::core::sender::{Delivery, RtpSender, SenderStats};
use crate::server::core::session::{
    choose_transport, random_u16, random_u32, random_u64, Chosen, Feed, Session, State,
};
use crate::server::core::{plain, ConnInfo, Core, Outbox, Tick};
use crate::server::source::library::LookupError;
use crate::server::source::{Cursor, Seekable, SourceInfo, TimelineId};

/// What a URL names: an on-demand source, or a shared timeline.
enum Named {
    Seekable(std::sync::Arc<dyn Seekable>),
    Timeline(TimelineId, SourceInfo),
}

impl Named {
    fn info(&self) -> &SourceInfo {
        match self {
            Named::Seekable(s) => s.info(),
            Named::Timeline(_, info) => info,
        }
    }
}

impl Core {
    /// The source a request URL names (timelines first, then the media folder).
    fn lookup(&mut self, conn: &ConnInfo, req: &Request) -> Result<Named, StatusCode> {
        let name = movie_name_from_uri(&req.uri)
            .map_err(|_| StatusCode::NOT_FOUND)?
            .name;
        if let Some((id, t)) = self.timelines.iter().find(|(_, t)| t.info.name == name) {
            return Ok(Named::Timeline(*id, t.info.clone()));
        }
        match self.library.source(&name, &mut self.cache) {
            Ok(m) => Ok(Named::Seekable(m)),
            Err(e) => {
                info!("{}: {} {}: {e}", conn.peer, req.method, req.uri);
                Err(match e {
                    LookupError::NotFound(_) => StatusCode::NOT_FOUND,
                    LookupError::Unusable(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                })
            }
        }
    }

    pub(super) fn options(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Response {
        // OPTIONS doubles as a keepalive (RFC 2326 §10.1); an unknown session is not an error here.
        let _ = self.session_for(conn, req, now);
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Public", self.public());
        r
    }

    pub(super) fn describe(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
    ) -> Result<Response, StatusCode> {
        let named = self.lookup(conn, req)?;
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
        let info = named.info();
        // A live timeline may be described by its source (a publisher's codec, passed through).
        let live = match &named {
            Named::Timeline(t, _) => self.timeline_sdp(*t, conn.local.ip()),
            Named::Seekable(_) => None,
        };
        let body = live.unwrap_or_else(|| {
            sdp::movie_sdp(&sdp::MovieDescription {
                name: &info.name,
                server_addr: conn.local.ip(),
                duration: info.duration,
                fps: info.fps,
                width: info.width,
                height: info.height,
            })
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
    pub(super) fn session_for(
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

    /// Interleaved channels other sessions on `conn` use.
    fn channels_in_use(&self, conn: &ConnInfo, except: Option<u64>) -> Vec<u8> {
        self.sessions
            .values()
            .filter(|s| Some(s.id) != except)
            .filter_map(|s| match s.rtp.delivery {
                Delivery::Tcp { conn: c, rtp, .. } if c == conn.id => Some(rtp),
                _ => None,
            })
            .collect()
    }

    pub(super) fn setup(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let existing = self.session_for(conn, req, now)?;
        let transports = super::session::transports(req)?;
        let chosen = choose_transport(
            conn,
            &transports,
            &self.channels_in_use(conn, existing),
            self.multicast.is_some(),
        )?;
        let named = self.lookup(conn, req)?;
        if let (true, Named::Timeline(t, _)) = (chosen.lab, &named) {
            if self.timeline_passthrough(*t) {
                // The lab client takes whole JPEGs only.
                return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
        }

        if let Some(id) = existing {
            // A second SETUP in a session changes its transport; not while playing (RFC 2326
            // §10.4 allows refusing with 455).
            let s = self
                .sessions
                .get_mut(&id)
                .ok_or(StatusCode::SESSION_NOT_FOUND)?;
            if s.state == State::Playing {
                return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
            }
            if named.info().name != s.name {
                // One session, one stream: aggregate control of two is not offered (459).
                return Err(StatusCode::AGGREGATE_OPERATION_NOT_ALLOWED);
            }
            if chosen.multicast || matches!(s.feed, Feed::Group(_)) {
                // Moving a session into or out of a group is not offered.
                return Err(StatusCode::UNSUPPORTED_TRANSPORT);
            }
            s.rtp.delivery = chosen.delivery;
            if let (Some(a), Some(cap)) = (s.adapt.as_mut(), bandwidth(req)?) {
                a.controller.set_cap(Some(cap));
            }
            return Ok(self.setup_reply(cseq, id, &chosen));
        }

        if self.session_count() >= self.config.max_sessions {
            warn!(
                "{}: SETUP refused: {} sessions is the limit",
                conn.peer, self.config.max_sessions
            );
            return Err(StatusCode::NOT_ENOUGH_BANDWIDTH);
        }
        if self.peer_at_limit(conn) {
            return Err(StatusCode::NOT_ENOUGH_BANDWIDTH);
        }
        let id = self.new_session_id();
        let ssrc = self.new_ssrc();
        let name = named.info().name.clone();
        let adapt = match &named {
            Named::Seekable(src) if self.config.adaptive == Mode::On && !chosen.lab => {
                let mut a = SessionAdapt::new(nominal(src.as_ref()).0, now);
                a.controller.set_cap(bandwidth(req)?);
                Some(a)
            }
            _ => None,
        };
        let (mut feed, clock) = match named {
            Named::Seekable(s) => (Feed::Cursor(Cursor::new(s)), 0),
            Named::Timeline(t, _) => (Feed::Timeline(t), super::pacing::TIMELINE_LEAD),
        };
        let mut delivery = chosen.delivery;
        let mut group = None;
        if chosen.multicast {
            let g = self
                .group_for(&name, sender_feed(&feed), now)
                .ok_or_else(|| {
                    warn!("{}: SETUP for multicast refused: no group left", conn.peer);
                    StatusCode::NOT_ENOUGH_BANDWIDTH
                })?;
            let sender = self
                .sessions
                .get(&g)
                .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
            delivery = sender.rtp.delivery;
            group = Some((g, sender.rtp.ssrc));
            feed = Feed::Group(g);
        }
        let ssrc = group.map_or(ssrc, |(_, s)| s);
        let adapt = if group.is_some() { None } else { adapt };
        let session = Session {
            id,
            name: name.clone(),
            control_url: req.uri.clone(),
            feed,
            state: State::Ready,
            rtp: RtpSender {
                ssrc,
                // The lab client shows a frame only when its sequence number exceeds the last
                // shown, and expects them to count frames from 1.
                next_seq: if chosen.lab { 1 } else { random_u16() },
                ts_base: random_u32(),
                delivery,
                lab: chosen.lab,
                stats: SenderStats::default(),
            },
            adapt,
            clock,
            anchor: (now, clock),
            timeline_origin: None,
            timer: None,
            phase: None,
            unreadable_run: 0,
            finished: false,
            conn: Some(conn.id),
            peer: conn.peer,
            last_seen: now,
            next_report: now,
        };
        self.sessions.insert(id, session);
        match group {
            // Reports about the group's SSRC are routed through its sender.
            Some((g, _)) => self.join_group(g, id),
            None => {
                self.by_ssrc.insert(ssrc, id);
            }
        }
        self.timers
            .insert(now + self.config.session_timeout, Tick::Expire(id));
        self.totals.sessions_opened += 1;
        info!(
            "session {id}: setup by {} for {name} over {}{}",
            conn.peer,
            if group.is_some() {
                format!("multicast {delivery}")
            } else {
                delivery.to_string()
            },
            if chosen.lab {
                " (lab client, whole frames)"
            } else {
                ""
            }
        );
        Ok(self.setup_reply(cseq, id, &chosen))
    }

    fn setup_reply(&self, cseq: Option<&str>, id: u64, chosen: &Chosen) -> Response {
        let mut r = plain(StatusCode::OK, cseq);
        r.headers
            .append("Session", &self.session_header(id, chosen.lab));
        let group = self.sessions.get(&id).and_then(|s| match s.feed {
            Feed::Group(g) => self.group_transport(g),
            _ => None,
        });
        if let Some(t) = group {
            r.headers.append("Transport", &t.to_string());
            return r;
        }
        let mut t = chosen.echo.clone();
        t.ssrc = self.sessions.get(&id).map(|s| s.rtp.ssrc);
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

    pub(super) fn play(
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
        let cap = bandwidth(req)?;
        let group = self.sessions.get(&id).and_then(|s| match s.feed {
            Feed::Group(g) => Some(g),
            _ => None,
        });
        if let Some(g) = group {
            return self.play_member(id, g, cseq, now);
        }
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        if let (Some(a), Some(cap)) = (s.adapt.as_mut(), cap) {
            a.controller.set_cap(Some(cap));
        }
        let (start, end) = match &mut s.feed {
            Feed::Cursor(c) => {
                let duration = c.source.info().duration.unwrap_or(0.0);
                if let Some(start) = range.as_ref().and_then(|r| r.start) {
                    if !(0.0..duration).contains(&start) {
                        return Err(StatusCode::INVALID_RANGE);
                    }
                    c.index = c.source.index_at(start);
                } else if c.at_end() {
                    // Ended (--no-loop): PLAY starts over.
                    c.index = 0;
                }
                (c.position(), Some(duration))
            }
            // A live timeline plays from now, whatever the Range asked.
            Feed::Timeline(_) | Feed::Group(_) => (0.0, None),
        };
        s.state = State::Playing;
        s.finished = false;
        self.start_pacing(id, now);
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        let info_line = RtpInfo {
            url: s.control_url.clone(),
            seq: Some(s.rtp.next_seq),
            rtptime: Some(s.rtp_time(s.clock)),
        };
        info!("session {id}: play {} from {start:.3} s", s.name);
        let lab = s.rtp.lab;
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Session", &self.session_header(id, lab));
        r.headers.append(
            "Range",
            &NptRange {
                start: Some(start),
                end,
            }
            .to_string(),
        );
        r.headers
            .append("RTP-Info", &RtpInfo::format_list(&[info_line]));
        Ok(r)
    }

    /// A multicast member's PLAY joins the group's stream where it is: Range is ignored (ffmpeg
    /// always sends `npt=0`) and the reply says where the stream is now.
    fn play_member(
        &mut self,
        id: u64,
        group: u64,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        self.start_group(group, now);
        let sender = self
            .sessions
            .get(&group)
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        let position = sender.cursor().map_or(0.0, Cursor::position);
        let (seq, rtptime) = (sender.rtp.next_seq, sender.rtp_time(sender.clock));
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        s.state = State::Playing;
        let info_line = RtpInfo {
            url: s.control_url.clone(),
            seq: Some(seq),
            rtptime: Some(rtptime),
        };
        info!(
            "session {id}: joins the multicast of {} at {position:.3} s",
            s.name
        );
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Session", &self.session_header(id, false));
        r.headers.append(
            "Range",
            &NptRange {
                start: Some(position),
                end: None,
            }
            .to_string(),
        );
        r.headers
            .append("RTP-Info", &RtpInfo::format_list(&[info_line]));
        Ok(r)
    }

    pub(super) fn pause(
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
        if s.state != State::Playing && !s.rtp.lab && !s.finished {
            // RFC 2326 Appendix A: PAUSE is valid only while playing. The lab client's GUI can
            // send it in Ready; it gets a plain OK, as the seed's server gave it. So does a client
            // pausing a stream that ended (--no-loop) before it saw the BYE: GStreamer does.
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        s.state = State::Ready;
        let position = s.cursor().map_or(0.0, Cursor::position);
        let lab = s.rtp.lab;
        self.stop_pacing(id);
        info!("session {id}: pause at {position:.3} s");
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append("Session", &self.session_header(id, lab));
        Ok(r)
    }

    pub(super) fn teardown(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Result<Response, StatusCode> {
        let id = self.required_session(conn, req, now)?;
        let lab = self.sessions.get(&id).is_some_and(|s| s.rtp.lab);
        self.end_session(id, "teardown", now, wall, out);
        let mut r = plain(StatusCode::OK, cseq);
        // Client.py reads the session from every reply's third line, TEARDOWN's too.
        r.headers.append("Session", &self.session_header(id, lab));
        Ok(r)
    }

    pub(super) fn parameter(
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
            let lab = self.sessions.get(&id).is_some_and(|s| s.rtp.lab);
            r.headers.append("Session", &self.session_header(id, lab));
        }
        Ok(r)
    }

    pub(super) fn new_session_id(&self) -> u64 {
        loop {
            let id = random_u64() >> 1; // 63 bits keep the decimal form within i64 for clients
            if id > 1_000_000 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn new_ssrc(&self) -> u32 {
        loop {
            let ssrc = random_u32();
            if !self.by_ssrc.contains_key(&ssrc) {
                return ssrc;
            }
        }
    }
}

/// The client's `Bandwidth:` (RFC 2326 §12.6: bits per second), which caps an adaptive
/// session's rate. A value that is not a number is a bad request.
fn bandwidth(req: &Request) -> Result<Option<f64>, StatusCode> {
    match req.headers.get("Bandwidth") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(|b| Some(b as f64))
            .map_err(|_| StatusCode::BAD_REQUEST),
    }
}
