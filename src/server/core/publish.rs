//! Publishing sessions in the core (RFC 2326 §10.3 ANNOUNCE, §10.4 SETUP with `mode=record`,
//! §10.11 RECORD): the glue between [`crate::server::live`]'s publishers and the core's shared
//! timelines, sessions and time-outs.
//!
//! A publisher's requests are answered here before the reader methods see them. Its RTP arrives
//! through [`Core::handle_publisher_rtp`] (datagrams on the server's RTP port, accepted only from
//! the address and port its SETUP named) or [`Core::handle_interleaved`] (its connection's
//! channels), is reassembled and pushed to the timeline readers follow. When it leaves (TEARDOWN,
//! its connection closes, or nothing from it for the session time-out) the timeline goes, its
//! readers get RTCP BYE, and the path is 404 again.

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use log::{debug, info, warn};

use crate::rtp::rtcp;
use crate::rtsp::headers::{parse_transports, Transport};
use crate::rtsp::message::{Method, Request, Response, StatusCode};
use crate::server::catalog::movie_name_from_uri;
use crate::server::core::{plain, ConnId, ConnInfo, Core, Outbox, RtcpFrom};
use crate::server::live::{
    is_record_mode, valid_path, Announced, Ingest, Limits, PublishState, Publisher, TrackInput,
};
use crate::server::source::SourceInfo;

/// Publishers, by path.
#[derive(Default)]
pub struct Publishers {
    by_path: std::collections::HashMap<String, Publisher>,
}

impl Publishers {
    fn by_id(&self, id: u64) -> Option<&Publisher> {
        self.by_path.values().find(|p| p.id == Some(id))
    }

    fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Publishers from address `ip`.
    pub(super) fn from(&self, ip: std::net::IpAddr) -> usize {
        self.by_path.values().filter(|p| p.peer.ip() == ip).count()
    }

    /// Is this session id a publisher's?
    pub fn has_id(&self, id: u64) -> bool {
        self.by_id(id).is_some()
    }

    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.by_path.values().map(|p| p.conn)
    }
}

impl Core {
    /// A publisher's request, answered here; None when it is a reader's (or publishing is off).
    pub(super) fn publish_request(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Option<Result<Response, StatusCode>> {
        if !self.config.publish {
            return None;
        }
        let session = session_id(req);
        let publisher = session.filter(|id| self.publishers.has_id(*id));
        let record_setup = req.method == Method::Setup
            && req
                .headers
                .get("Transport")
                .and_then(|t| parse_transports(t).ok())
                .is_some_and(|ts| ts.iter().any(|t| is_record_mode(t.mode.as_deref())));
        Some(match (&req.method, publisher) {
            (Method::Announce, _) => self.announce(conn, req, cseq, now),
            (Method::Setup, _) if record_setup => self.setup_record(conn, req, cseq, now),
            (Method::Record, Some(id)) => self.record(conn, id, cseq, now),
            (Method::Record, None) => Err(StatusCode::SESSION_NOT_FOUND),
            (_, None) => return None,
            (Method::Teardown, Some(id)) => self.owned(conn, id, now).map(|()| {
                self.end_publisher(id, "teardown", now, wall, out);
                self.publisher_reply(cseq, id)
            }),
            (Method::Options | Method::GetParameter | Method::SetParameter, Some(id)) => self
                .owned(conn, id, now)
                .map(|()| self.publisher_reply(cseq, id)),
            // A publishing session plays nothing (RFC 2326 Appendix A: Recording state).
            (_, Some(_)) => Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE),
        })
    }

    /// Checks that publisher `id` belongs to this peer, and refreshes it.
    fn owned(&mut self, conn: &ConnInfo, id: u64, now: Instant) -> Result<(), StatusCode> {
        let p = self
            .publishers
            .by_path
            .values_mut()
            .find(|p| p.id == Some(id))
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        if p.peer.ip() != conn.peer.ip() {
            warn!("{}: used publishing session {id} of {}", conn.peer, p.peer);
            return Err(StatusCode::SESSION_NOT_FOUND);
        }
        p.last_seen = now;
        Ok(())
    }

    fn publisher_reply(&self, cseq: Option<&str>, id: u64) -> Response {
        let mut r = plain(StatusCode::OK, cseq);
        r.headers.append(
            "Session",
            &format!("{id};timeout={}", self.config.session_timeout.as_secs()),
        );
        r
    }

    fn announce(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let path = movie_name_from_uri(&req.uri)
            .map_err(|_| StatusCode::BAD_REQUEST)?
            .name;
        if !valid_path(&path) {
            info!(
                "{}: ANNOUNCE {path}: publishing is only under live/",
                conn.peer
            );
            return Err(StatusCode::FORBIDDEN);
        }
        if let Some(t) = req.headers.get("Content-Type") {
            if !t.trim().eq_ignore_ascii_case("application/sdp") {
                return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
        }
        let announced = Announced::parse(&req.body, &Limits::default()).map_err(|e| {
            info!("{}: ANNOUNCE {path}: {e}", conn.peer);
            StatusCode::BAD_REQUEST
        })?;
        let taken_by_other = self
            .publishers
            .by_path
            .get(&path)
            .is_some_and(|p| p.conn != conn.id || p.state == PublishState::Recording);
        if taken_by_other || self.timelines.values().any(|t| t.info.name == path) {
            warn!(
                "{}: ANNOUNCE {path} refused: it already has a publisher",
                conn.peer
            );
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        if self.sessions.len() + self.publishers.len() >= self.config.max_sessions
            || self.peer_at_limit(conn)
        {
            return Err(StatusCode::NOT_ENOUGH_BANDWIDTH);
        }
        let track = announced.served_track();
        info!(
            "{}: ANNOUNCE {path}: {} track(s); serving {} {}",
            conn.peer,
            announced.tracks.len(),
            track.encoding.as_deref().unwrap_or("?"),
            if track.is_jpeg() {
                "(re-packetized)"
            } else {
                "(passed through)"
            }
        );
        let p = Publisher::new(path.clone(), conn.id, conn.peer, announced, now);
        self.publishers.by_path.insert(path, p);
        Ok(plain(StatusCode::OK, cseq))
    }

    fn setup_record(
        &mut self,
        conn: &ConnInfo,
        req: &Request,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        let named = movie_name_from_uri(&req.uri).map_err(|_| StatusCode::BAD_REQUEST)?;
        let tail = if named.track {
            req.uri.rsplit('/').next().unwrap_or("")
        } else {
            ""
        };
        let session = session_id(req);
        let transports = super::session::transports(req)?;
        let new_id = self.new_publisher_id();
        let rtp_port = self.rtp_port;
        let p = self
            .publishers
            .by_path
            .get_mut(&named.name)
            .filter(|p| p.conn == conn.id && p.peer == conn.peer)
            .ok_or(StatusCode::NOT_FOUND)?;
        if p.state != PublishState::Announced || session.is_some_and(|s| p.id != Some(s)) {
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        let track = p
            .announced
            .track_for(&req.uri, tail)
            .ok_or(StatusCode::NOT_FOUND)?;
        let used = p.channels();
        let (input, mut echo) = transports
            .iter()
            .find_map(|t| record_transport(t, conn.peer.ip(), &used))
            .ok_or(StatusCode::UNSUPPORTED_TRANSPORT)?;
        if let TrackInput::Udp { .. } = input {
            echo.server_port = Some((rtp_port, Some(rtp_port.wrapping_add(1))));
        }
        p.inputs[track] = Some(input);
        p.last_seen = now;
        let id = *p.id.get_or_insert(new_id);
        info!(
            "session {id}: {} publishes track {track} of {} over {input:?}",
            conn.peer, p.path
        );
        let mut r = self.publisher_reply(cseq, id);
        r.headers.append("Transport", &echo.to_string());
        Ok(r)
    }

    fn record(
        &mut self,
        conn: &ConnInfo,
        id: u64,
        cseq: Option<&str>,
        now: Instant,
    ) -> Result<Response, StatusCode> {
        self.owned(conn, id, now)?;
        let (max_frame, mtu, default_fps) =
            (self.config.max_live_frame, self.config.mtu, self.config.fps);
        let p = self
            .publishers
            .by_path
            .values_mut()
            .find(|p| p.id == Some(id))
            .ok_or(StatusCode::SESSION_NOT_FOUND)?;
        let served = p.announced.served;
        let Some(input) = p.inputs[served] else {
            info!("session {id}: RECORD before the video track was SETUP");
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        };
        if p.state == PublishState::Recording {
            return Ok(self.publisher_reply(cseq, id));
        }
        let udp = matches!(input, TrackInput::Udp { .. });
        let track = p.announced.served_track();
        p.ingest = Some(if track.is_jpeg() {
            Ingest::jpeg(max_frame, mtu, udp)
        } else {
            Ingest::passthrough(track.payload_type, track.is_h264(), max_frame, udp)
        });
        let info = SourceInfo {
            name: p.path.clone(),
            width: 0,
            height: 0,
            fps: track.framerate.unwrap_or(default_fps),
            duration: None,
            frames: 0,
            bytes: 0,
        };
        p.state = PublishState::Recording;
        p.last_seen = now;
        let path = p.path.clone();
        let timeline = self.add_timeline(info);
        if let Some(p) = self.publishers.by_path.get_mut(&path) {
            p.timeline = Some(timeline);
        }
        info!("session {id}: recording {path}; readers may play it");
        Ok(self.publisher_reply(cseq, id))
    }

    fn new_publisher_id(&self) -> u64 {
        loop {
            let id = super::session::random_u64() >> 1;
            if id > 1_000_000 && !self.sessions.contains_key(&id) && !self.publishers.has_id(id) {
                return id;
            }
        }
    }

    /// Does a publisher send on connection `conn` (for the reactor's TCP tuning)?
    pub fn is_publisher_connection(&self, conn: ConnId) -> bool {
        self.publishers.connections().any(|c| c == conn)
    }

    /// An RTP datagram on the server's RTP port. Only a recording publisher's own source address
    /// and port are heard; anything else is dropped.
    pub fn handle_publisher_rtp(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let found = self
            .publishers
            .by_path
            .iter()
            .find_map(|(path, p)| p.udp_source(from).map(|t| (path.to_string(), t)));
        match found {
            Some((path, (track, true))) => self.publisher_media(&path, track, data, now, wall, out),
            Some((path, (_, false))) => self.publisher_report(&path, data, now),
            None => debug!("ignored datagram on the RTP port from {from}"),
        }
    }

    /// An interleaved frame on connection `conn`: a publisher's RTP or RTCP, or a reader's RTCP.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_interleaved(
        &mut self,
        conn: ConnId,
        peer: IpAddr,
        channel: u8,
        data: &[u8],
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let found = self
            .publishers
            .by_path
            .iter()
            .filter(|(_, p)| p.conn == conn)
            .find_map(|(path, p)| p.channel(channel).map(|t| (path.to_string(), t)));
        match found {
            Some((path, (track, true))) => self.publisher_media(&path, track, data, now, wall, out),
            Some((path, (_, false))) => self.publisher_report(&path, data, now),
            // Readers send RTCP receiver reports on their odd channel.
            None => self.handle_rtcp(RtcpFrom::Conn(conn, peer), data, now),
        }
    }

    /// RTCP on the RTCP port from a publisher: true when it was one's (and is taken here).
    pub(super) fn publisher_rtcp(&mut self, from: RtcpFrom, data: &[u8], now: Instant) -> bool {
        let RtcpFrom::Udp(from) = from else {
            return false;
        };
        let found = self
            .publishers
            .by_path
            .iter()
            .find_map(|(path, p)| p.udp_source(from).map(|_| path.to_string()));
        match found {
            Some(path) => {
                self.publisher_report(&path, data, now);
                true
            }
            None => false,
        }
    }

    fn publisher_report(&mut self, path: &str, data: &[u8], now: Instant) {
        let Some(p) = self.publishers.by_path.get_mut(path) else {
            return;
        };
        for packet in rtcp::Compound::new(data) {
            match packet {
                Ok(rtcp::Packet::SenderReport(_)) => {
                    p.reports += 1;
                    p.last_seen = now;
                }
                Ok(_) => p.last_seen = now,
                Err(_) => {
                    debug!("{}: malformed RTCP from its publisher", p.path);
                    return;
                }
            }
        }
    }

    fn publisher_media(
        &mut self,
        path: &str,
        track: usize,
        data: &[u8],
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(p) = self.publishers.by_path.get_mut(path) else {
            return;
        };
        p.last_seen = now;
        if track != p.announced.served || p.state != PublishState::Recording {
            return;
        }
        if let Some(ingest) = p.ingest.as_mut() {
            ingest.push(data, now);
        }
        self.push_ingested(path, now, wall, out);
    }

    /// Sends what a publisher's ingest has made.
    fn push_ingested(&mut self, path: &str, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        loop {
            let Some(p) = self.publishers.by_path.get_mut(path) else {
                return;
            };
            let (Some(timeline), Some(ingest)) = (p.timeline, p.ingest.as_mut()) else {
                return;
            };
            let Some((frame, pts)) = ingest.pull() else {
                return;
            };
            if let Some(t) = self.timelines.get_mut(&timeline) {
                if frame.width > 0 {
                    (t.info.width, t.info.height) = (frame.width, frame.height);
                }
                t.info.frames += 1;
                t.info.bytes += frame.payloads.total_len() as u64;
            }
            self.push_frame(timeline, &frame, pts, now, wall, out);
        }
    }

    /// Ends publisher `id`: its timeline goes (readers get BYE) and its path is free again.
    pub(super) fn end_publisher(
        &mut self,
        id: u64,
        why: &str,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(path) = self.publishers.by_id(id).map(|p| p.path.clone()) else {
            return;
        };
        self.end_publisher_at(&path, why, now, wall, out);
    }

    fn end_publisher_at(
        &mut self,
        path: &str,
        why: &str,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(p) = self.publishers.by_path.remove(path) else {
            return;
        };
        let stats = p.ingest.as_ref().map(|i| i.stats).unwrap_or_default();
        info!(
            "session {}: publisher of {path} from {}: {why} ({} frames, {} dropped, {} malformed packets)",
            p.id.unwrap_or(0),
            p.peer,
            stats.frames,
            stats.frames_dropped,
            stats.malformed
        );
        if let Some(t) = p.timeline {
            self.remove_timeline(t, now, wall, out);
        }
    }

    /// Publishers on a connection that closed end with it: a publisher is its connection.
    pub(super) fn publishers_closed(
        &mut self,
        conn: ConnId,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let gone: Vec<String> = self
            .publishers
            .by_path
            .iter()
            .filter(|(_, p)| p.conn == conn)
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            self.end_publisher_at(&path, "connection closed", now, wall, out);
        }
    }

    /// The next time a publisher needs the core: a packet held for reordering, or its time-out.
    pub(super) fn publishers_deadline(&self) -> Option<Instant> {
        let timeout = self.config.session_timeout;
        self.publishers
            .by_path
            .values()
            .flat_map(|p| {
                [
                    Some(p.last_seen + timeout),
                    p.ingest.as_ref().and_then(Ingest::poll_timeout),
                ]
            })
            .flatten()
            .min()
    }

    pub(super) fn publishers_timeout(
        &mut self,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let timeout = self.config.session_timeout;
        let paths: Vec<String> = self.publishers.by_path.keys().cloned().collect();
        for path in paths {
            let Some(p) = self.publishers.by_path.get_mut(&path) else {
                continue;
            };
            if now >= p.last_seen + timeout {
                self.end_publisher_at(&path, "timed out: nothing from it", now, wall, out);
                continue;
            }
            if let Some(i) = p.ingest.as_mut() {
                i.handle_timeout(now);
            }
            self.push_ingested(&path, now, wall, out);
        }
    }

    /// The SDP readers get for a live timeline, when its source describes it.
    pub(super) fn timeline_sdp(&self, timeline: u64, server: IpAddr) -> Option<String> {
        self.publisher_sdp(timeline, server)
            .or_else(|| self.relay_sdp(timeline, server))
    }

    /// Is timeline `id` passed through (not JPEG)? Lab clients cannot take it.
    pub(super) fn timeline_passthrough(&self, timeline: u64) -> bool {
        self.publisher_passthrough(timeline) || self.relay_passthrough(timeline)
    }

    /// The SDP readers get for a publisher's timeline.
    fn publisher_sdp(&self, timeline: u64, server: IpAddr) -> Option<String> {
        let p = self
            .publishers
            .by_path
            .values()
            .find(|p| p.timeline == Some(timeline))?;
        Some(p.announced.reader_sdp(&p.path, server, self.config.fps))
    }

    /// Is timeline `id` passed through (not JPEG)? Lab clients cannot take it.
    fn publisher_passthrough(&self, timeline: u64) -> bool {
        self.publishers
            .by_path
            .values()
            .any(|p| p.timeline == Some(timeline) && !p.announced.served_track().is_jpeg())
    }
}

/// The id in a request's Session header.
fn session_id(req: &Request) -> Option<u64> {
    req.headers
        .get("Session")?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The input a record-mode Transport asks for, and the Transport to echo; None when this
/// alternative cannot be honoured (RTP/AVP over UDP with client ports, or over TCP).
fn record_transport(t: &Transport, peer: IpAddr, used: &[u8]) -> Option<(TrackInput, Transport)> {
    if t.multicast
        || !t.protocol.eq_ignore_ascii_case("RTP")
        || !t.profile.eq_ignore_ascii_case("AVP")
    {
        return None;
    }
    let mut echo = t.clone();
    echo.destination = None;
    echo.mode = Some("record".into());
    if t.is_tcp() {
        let (rtp, rtcp) = match t.interleaved {
            Some((a, b)) => (a, b.unwrap_or(a.wrapping_add(1))),
            None => {
                let rtp = (0..=127u8).map(|i| i * 2).find(|c| !used.contains(c))?;
                (rtp, rtp + 1)
            }
        };
        if used.contains(&rtp) || used.contains(&rtcp) {
            return None;
        }
        echo.interleaved = Some((rtp, Some(rtcp)));
        echo.client_port = None;
        return Some((TrackInput::Tcp { rtp, rtcp }, echo));
    }
    if t.lower
        .as_deref()
        .is_some_and(|l| !l.eq_ignore_ascii_case("UDP"))
    {
        return None;
    }
    let (rtp, rtcp) = t.client_port?;
    if rtp == 0 {
        return None;
    }
    let rtcp = rtcp.unwrap_or(rtp.wrapping_add(1));
    Some((
        TrackInput::Udp {
            rtp: SocketAddr::new(peer, rtp),
            rtcp: SocketAddr::new(peer, rtcp),
        },
        echo,
    ))
}
