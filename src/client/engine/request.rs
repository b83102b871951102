//! Requests: which one a command becomes in the current state (RFC 2326 Appendix A), one in
//! flight at a time with its CSeq (§12.17) and deadline, written in the standard form (§6, with
//! Transport §12.39, Range §12.29, Session §12.37, Bandwidth §12.6, Authorization §12.5) or
//! exactly as the seed's Client.py writes them for a lab server.

use std::time::Instant;

use log::{debug, warn};

use super::{Command, Dialect, Engine, EngineEvent, MediaTransport, PlayerState};
use crate::rtsp::message::{Method, Request};

/// What a request in flight was for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Describe,
    Setup,
    /// PLAY, seeking to this npt when given.
    Play(Option<f64>),
    Pause,
    Teardown,
    Keepalive,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Describe => "DESCRIBE",
            Kind::Setup => "SETUP",
            Kind::Play(_) => "PLAY",
            Kind::Pause => "PAUSE",
            Kind::Teardown => "TEARDOWN",
            Kind::Keepalive => "keepalive",
        }
    }
}

/// The request awaiting its reply.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub cseq: u32,
    pub kind: Kind,
    pub sent: Instant,
    pub deadline: Instant,
}

impl Engine {
    /// Writes a request for `kind` and waits for its reply.
    pub(super) fn send_request(&mut self, kind: Kind, now: Instant) {
        self.cseq = self.cseq.wrapping_add(1);
        let cseq = self.cseq;
        let text = if self.dialect == Dialect::Lab {
            match self.lab_request(kind, cseq) {
                Some(t) => t,
                None => return,
            }
        } else {
            self.standard_request(kind, cseq)
        };
        debug!(
            "> {}",
            String::from_utf8_lossy(&text).lines().next().unwrap_or("")
        );
        self.transmits.push_back(super::Transmit::Rtsp(text));
        let timeout = match kind {
            Kind::Describe => self.config.describe_timeout,
            Kind::Teardown if self.closing => self.config.teardown_timeout,
            _ => self.config.request_timeout,
        };
        self.pending = Some(Pending {
            cseq,
            kind,
            sent: now,
            deadline: now + timeout,
        });
        // Any request naming the session keeps it alive at the server (RFC 2326 §12.37).
        if self.dialect == Dialect::Standard && self.session.is_some() {
            self.next_keepalive = Some(now + self.session_timeout / 2);
        }
    }

    fn standard_request(&mut self, kind: Kind, cseq: u32) -> Vec<u8> {
        let url = self.config.target.url();
        let (method, uri) = match kind {
            Kind::Describe => (Method::Describe, url),
            Kind::Setup => (Method::Setup, self.control.clone()),
            Kind::Play(_) => (Method::Play, url),
            Kind::Pause => (Method::Pause, url),
            Kind::Teardown => (Method::Teardown, url),
            Kind::Keepalive if self.keepalive_options => (Method::Options, url),
            Kind::Keepalive => (Method::GetParameter, url),
        };
        let mut req = Request::new(method.clone(), &uri);
        req.headers.append("CSeq", &cseq.to_string());
        if let (Some(c), Some((user, password))) =
            (self.auth.as_mut(), self.config.target.user.as_ref())
        {
            let value = c.authorization(user, password, method.as_str(), &uri);
            req.headers.append("Authorization", &value);
        }
        req.headers.append("User-Agent", &self.config.user_agent);
        match kind {
            Kind::Describe => req.headers.append("Accept", "application/sdp"),
            Kind::Setup => {
                let transport = match self.config.transport {
                    MediaTransport::Tcp => "RTP/AVP/TCP;unicast;interleaved=0-1".to_string(),
                    MediaTransport::Udp { rtp_port: p } => {
                        format!("RTP/AVP;unicast;client_port={p}-{}", p.wrapping_add(1))
                    }
                    // No ports: the server assigns the group's (RFC 2326 §12.39, `port`).
                    MediaTransport::Multicast => "RTP/AVP;multicast".to_string(),
                };
                req.headers.append("Transport", &transport);
            }
            Kind::Play(Some(t)) => req.headers.append("Range", &format!("npt={t:.3}-")),
            _ => {}
        }
        if let (Kind::Setup | Kind::Play(_), Some(bits)) = (kind, self.config.bandwidth) {
            req.headers.append("Bandwidth", &bits.to_string());
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

    /// Exactly what the seed's Client.py sends: LF line ends, no blank line at the end, the file
    /// name bare, `Transport: RTP/UDP; client_port= PORT` on SETUP and `Session: ID` after.
    /// None for what a lab server does not know (DESCRIBE, keepalives).
    fn lab_request(&self, kind: Kind, cseq: u32) -> Option<Vec<u8>> {
        let method = match kind {
            Kind::Setup => "SETUP",
            Kind::Play(_) => "PLAY",
            Kind::Pause => "PAUSE",
            Kind::Teardown => "TEARDOWN",
            Kind::Describe | Kind::Keepalive => return None,
        };
        let last = match (self.config.transport, &self.session) {
            (MediaTransport::Udp { rtp_port }, _) if kind == Kind::Setup => {
                format!("Transport: RTP/UDP; client_port= {rtp_port}")
            }
            (_, Some(s)) => format!("Session: {s}"),
            (_, None) => String::new(),
        };
        let file = &self.config.target.path;
        Some(format!("{method} {file} RTSP/1.0\nCSeq: {cseq}\n{last}").into_bytes())
    }

    /// Starts the next queued command if nothing is in flight and the server's dialect is known.
    pub(super) fn next_command(&mut self, now: Instant) {
        while self.pending.is_none() && !self.closed && self.dialect != Dialect::Unknown {
            let Some(cmd) = self.queued.pop_front() else {
                return;
            };
            let kind = match (cmd, self.state) {
                (Command::Setup, PlayerState::Init) => Kind::Setup,
                (Command::Play, PlayerState::Ready | PlayerState::Paused) => Kind::Play(None),
                (
                    Command::Seek(t),
                    PlayerState::Ready | PlayerState::Paused | PlayerState::Playing,
                ) if self.dialect == Dialect::Standard => {
                    Kind::Play(Some(if t.is_finite() { t.max(0.0) } else { 0.0 }))
                }
                (Command::Pause, PlayerState::Playing) => Kind::Pause,
                (Command::Teardown, s) if s != PlayerState::Closed && self.session.is_some() => {
                    Kind::Teardown
                }
                (Command::Teardown, _) => {
                    self.set_state(PlayerState::Closed);
                    return;
                }
                (cmd, state) => {
                    debug!("{cmd:?} ignored in state {state}");
                    continue;
                }
            };
            if kind == Kind::Setup && self.dialect == Dialect::Lab {
                let what = match self.config.transport {
                    MediaTransport::Tcp => Some("TCP transport"),
                    MediaTransport::Multicast => Some("multicast"),
                    MediaTransport::Udp { .. } => None,
                };
                if let Some(what) = what {
                    self.emit(EngineEvent::Error(format!(
                        "the lab server has no {what}; use UDP"
                    )));
                    continue;
                }
            }
            self.send_request(kind, now);
        }
    }

    /// A request's deadline passed with no reply.
    pub(super) fn on_no_answer(&mut self, p: Pending) {
        match p.kind {
            Kind::Describe => self.fall_back_to_lab("no answer to DESCRIBE"),
            Kind::Teardown => {
                warn!("no answer to TEARDOWN");
                self.set_state(PlayerState::Closed);
            }
            Kind::Keepalive => warn!("no answer to the keepalive"),
            kind => {
                let waited = p.deadline.saturating_duration_since(p.sent).as_secs_f64();
                self.error(format!("no answer to {} within {waited} s", kind.name()));
            }
        }
    }
}
