//! What comes back on the RTSP connection: replies matched to the request in flight by CSeq
//! (RFC 2326 §12.17), interleaved RTP/RTCP (§10.12), and requests from the server (§10, answered
//! 501). DESCRIBE's SDP (RFC 4566; control URLs per RFC 2326 C.1.1), SETUP's Session and Transport
//! (§12.37, §12.39), PLAY's Range and RTP-Info (§12.29, §12.33), and 401 challenges.

use log::{debug, info, warn};

use super::auth::Challenge;
use super::request::Kind;
use super::{
    Command, Description, Dialect, Engine, EngineEvent, MediaTransport, MulticastGroup,
    PlayerState, Transmit,
};
use crate::rtsp::headers::{NptRange, RtpInfo, SessionHeader, Transport};
use crate::rtsp::message::{self, Limits, Message, Response, StatusCode};
use crate::rtsp::sdp::{resolve_control, Sdp};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

impl Engine {
    /// Takes every whole message off the input. `quiet`: the connection has gone quiet (or
    /// closed), so a reply with no blank line after its head is whole (the lab server's).
    pub(super) fn process_input(&mut self, now: Instant, quiet: bool) {
        let limits = Limits::default();
        while !self.input.is_empty() && !self.closed {
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
                    self.input.drain(..used.min(self.input.len()));
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
                            let mut out = Vec::new();
                            r.write_to(&mut out);
                            self.transmits.push_back(Transmit::Rtsp(out));
                        }
                    }
                }
                Err(message::ParseError::Incomplete { .. }) => return,
                Err(e) => {
                    self.finish(Some(format!("bad message from the server: {e}")));
                    return;
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
        if r.status == StatusCode::UNAUTHORIZED {
            if self.answer_challenge(&r, p.kind, now) {
                return;
            }
        } else {
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
                let unknown = matches!(
                    r.status,
                    StatusCode::NOT_IMPLEMENTED | StatusCode::METHOD_NOT_ALLOWED
                );
                if unknown && !self.keepalive_options {
                    // OPTIONS at once: the session's clock is running.
                    self.keepalive_options = true;
                    self.send_request(Kind::Keepalive, now);
                } else if r.status == StatusCode::SESSION_NOT_FOUND {
                    self.error("the server forgot the session (454)".into());
                }
            }
            kind => {
                let msg = format!("{} refused: {} {}", kind.name(), r.status.0, r.reason);
                warn!("{msg}");
                self.error(msg);
            }
        }
    }

    /// Answers a 401 by sending the request again with credentials; false when it cannot (no
    /// credentials, or they were refused), leaving the 401 to be reported.
    fn answer_challenge(&mut self, r: &Response, kind: Kind, now: Instant) -> bool {
        self.auth_failures += 1;
        let stale = Challenge::is_stale(r.headers.get_all("WWW-Authenticate"));
        if self.config.target.user.is_none() {
            self.error(
                "the server wants a user name and password: rtsp://USER:PASSWORD@host/...".into(),
            );
            return false;
        }
        if self.auth_failures > 2 && !stale {
            self.error("the server refused the user name or password".into());
            return false;
        }
        let Some(c) = Challenge::choose(r.headers.get_all("WWW-Authenticate")) else {
            self.error("the server asks for an authentication scheme we do not speak".into());
            return false;
        };
        if stale {
            // A new nonce, not a wrong password: start counting afresh.
            self.auth_failures = 1;
        }
        self.auth = Some(c);
        // A lab server asks for nothing; the DESCRIBE retry keeps its own deadline.
        self.send_request(kind, now);
        true
    }

    fn on_describe(&mut self, r: &Response, ok: bool) {
        self.dialect = Dialect::Standard;
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
                    // A SETUP or PLAY asked for before the answer would only be refused too.
                    self.queued.retain(|c| matches!(c, Command::Teardown));
                    self.error(msg);
                    self.described(None, None);
                }
            }
            return;
        }
        let text = String::from_utf8_lossy(&r.body).into_owned();
        let sdp = match Sdp::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                self.error(format!("bad SDP from the server: {e}"));
                return;
            }
        };
        let Some(video) = sdp.video() else {
            self.error("the server's SDP has no video".into());
            return;
        };
        if video.payload_type() != Some(26)
            && video
                .encoding()
                .is_none_or(|e| !e.eq_ignore_ascii_case("JPEG"))
        {
            self.error(format!(
                "the stream is not JPEG (m={} {})",
                video.kind,
                video.formats.join(" ")
            ));
        }
        let base = r
            .headers
            .get("Content-Base")
            .or_else(|| r.headers.get("Content-Location"))
            .map(str::to_string)
            .unwrap_or_else(|| self.config.target.url());
        self.control = resolve_control(&base, video.attr("control"));
        let duration = sdp
            .range()
            .and_then(|r| r.end.map(|e| e - r.start.unwrap_or(0.0)))
            .filter(|d| d.is_finite() && *d >= 0.0);
        let fps = video.framerate();
        let size = video.dimensions();
        info!("described: control {}, duration {duration:?}", self.control);
        self.emit(super::EngineEvent::Described(Description {
            dialect: Dialect::Standard,
            duration,
            fps,
            size,
            control: self.control.clone(),
            sdp: Some(text),
        }));
    }

    /// A standard server that described nothing usable: SETUP may still work on the URL.
    fn described(&mut self, duration: Option<f64>, fps: Option<f64>) {
        self.emit(super::EngineEvent::Described(Description {
            dialect: Dialect::Standard,
            duration,
            fps,
            size: None,
            control: self.control.clone(),
            sdp: None,
        }));
    }

    fn on_setup(&mut self, r: &Response, now: Instant) {
        let Some(session) = r
            .headers
            .get("Session")
            .and_then(|s| SessionHeader::parse(s).ok())
        else {
            self.error("SETUP reply without a Session".into());
            return;
        };
        self.session = Some(session.id);
        if let Some(t) = session.timeout {
            self.session_timeout_from(t);
        }
        if self.dialect == Dialect::Standard {
            self.next_keepalive = Some(now + self.session_timeout / 2);
        }
        let transport = r
            .headers
            .get("Transport")
            .and_then(|t| Transport::parse(t).ok());
        if let Some(t) = &transport {
            if let Some((_, Some(rtcp))) = t.server_port {
                self.media.server_rtcp = Some(SocketAddr::new(self.config.server_ip, rtcp));
            }
            if let Some((a, b)) = t.interleaved {
                self.media.channels = (a, b.unwrap_or(a.wrapping_add(1)));
            }
        }
        if self.config.transport == MediaTransport::Multicast {
            match transport.as_ref().map(multicast_group) {
                Some(Ok(g)) => {
                    info!(
                        "multicast: group {} ports {}-{}",
                        g.group, g.rtp_port, g.rtcp_port
                    );
                    // Reports go to the server's RTCP port when it gave one, else to the
                    // group's (RFC 3550 §6: every member hears them; the sender among them).
                    self.media
                        .server_rtcp
                        .get_or_insert(SocketAddr::new(g.group, g.rtcp_port));
                    self.emit(EngineEvent::JoinMulticast(g));
                }
                Some(Err(why)) => {
                    // Set up, but with nothing to receive: no Ready, so no PLAY; TEARDOWN goes.
                    self.error(format!("SETUP reply: {why}"));
                    return;
                }
                None => {
                    self.error("SETUP reply: no Transport to say the multicast group".into());
                    return;
                }
            }
        }
        self.set_state(PlayerState::Ready);
    }

    fn on_play(&mut self, r: &Response, seek: Option<f64>) {
        let start = r
            .headers
            .get("Range")
            .and_then(|v| NptRange::parse(v).ok())
            .and_then(|n| n.start)
            .filter(|s| s.is_finite())
            .or(seek);
        let rtptime = r
            .headers
            .get("RTP-Info")
            .and_then(|v| RtpInfo::parse_list(v).ok())
            .and_then(|l| l.first().and_then(|i| i.rtptime));
        if seek.is_some() {
            // Frames of the old position may still be in flight; start reassembly afresh.
            self.media.restart(&self.config);
        }
        if let Some(start) = start {
            self.media.anchor = Some((start, rtptime));
        } else if self.media.anchor.is_none() {
            self.media.anchor = Some((0.0, rtptime));
        }
        self.set_state(PlayerState::Playing);
    }
}

/// The group and ports a multicast SETUP reply assigns: `multicast;destination=G;port=P-Q;ttl=T`
/// (RFC 2326 §12.39).
fn multicast_group(t: &Transport) -> Result<MulticastGroup, String> {
    if !t.multicast {
        return Err(format!("asked for multicast, the server answered {t}"));
    }
    let dest = t
        .destination
        .as_deref()
        .ok_or("multicast without a destination group")?;
    let group: IpAddr = dest
        .parse()
        .map_err(|_| format!("destination {dest:?} is not an IP address"))?;
    if !group.is_multicast() {
        return Err(format!("destination {group} is not a multicast group"));
    }
    let (rtp, rtcp) = t.port.ok_or("multicast without a port")?;
    let bad = || match rtcp {
        Some(q) => format!("port=\"{rtp}-{q}\""),
        None => format!("port=\"{rtp}\""),
    };
    let rtcp = match rtcp {
        Some(p) => p,
        None => rtp.checked_add(1).ok_or_else(bad)?,
    };
    if rtp == 0 || rtcp == 0 {
        return Err(bad());
    }
    Ok(MulticastGroup {
        group,
        rtp_port: rtp,
        rtcp_port: rtcp,
        ttl: t.ttl,
    })
}
