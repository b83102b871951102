//! Sessions (RFC 2326 §3.4, Appendix A) and the transports they are delivered on (§12.39).
//!
//! A session is the RTSP side (its id, the peer that owns it, its state and time-out) plus a
//! [`Feed`] (what it streams from) and an [`RtpSender`] (where its packets go). Transport
//! negotiation lives here because it decides the sender's [`Delivery`]: RTP only ever goes to
//! the peer that set the session up, over UDP or interleaved on its RTSP connection.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use log::warn;

use crate::rtsp::headers::{parse_transports, Transport};
use crate::rtsp::message::Request;
use crate::rtsp::message::StatusCode;
use crate::server::core::adaptive::SessionAdapt;
use crate::server::core::phases::Phase;
use crate::server::core::sender::{Delivery, RtpSender};
use crate::server::core::{ConnId, ConnInfo};
use crate::server::source::{Cursor, TimelineId, CLOCK_RATE};
use crate::server::timer::TimerKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ready,
    Playing,
}

/// What a session streams from.
pub enum Feed {
    /// An on-demand source, read at the session's own pace.
    Cursor(Cursor),
    /// A shared timeline: its frames arrive when its driver pushes them.
    Timeline(TimelineId),
    /// A multicast viewer: the group's sender (this session id) sends; the member sends nothing.
    Group(u64),
}

pub struct Session {
    pub id: u64,
    /// The source's name in URLs.
    pub name: String,
    /// The stream's control URL, as SETUP named it (RTP-Info names it, RFC 2326 §12.33).
    pub control_url: String,
    pub feed: Feed,
    pub state: State,
    pub rtp: RtpSender,
    /// Adaptation to the path (None: `--adaptive off`, the lab client, or a shared timeline).
    pub adapt: Option<SessionAdapt>,
    /// Ticks of media sent since SETUP: the RTP timestamp is `ts_base + clock`, so it keeps
    /// rising across loops, seeks and pauses, and a skipped frame leaves its gap.
    pub clock: u64,
    /// Pacing origin: (when `clock` was at `.1`).
    pub anchor: (Instant, u64),
    /// For a timeline: the pts that `clock == 0` corresponds to, set by the first frame.
    pub timeline_origin: Option<u64>,
    pub timer: Option<TimerKey>,
    /// Its frames' place in the period, while an on-demand session plays.
    pub phase: Option<Phase>,
    /// Frames in a row the source could not give.
    pub unreadable_run: u32,
    /// The movie played to its end (--no-loop) since the last PLAY.
    pub finished: bool,
    /// The RTSP connection that set it up, while it is open.
    pub conn: Option<ConnId>,
    pub peer: SocketAddr,
    pub last_seen: Instant,
    pub next_report: Instant,
}

impl Session {
    /// The RTP timestamp of media time `clock`.
    pub fn rtp_time(&self, clock: u64) -> u32 {
        self.rtp.ts_base.wrapping_add(clock as u32)
    }

    /// The RTP timestamp for "now" while playing (for sender reports), or the next frame's.
    pub fn rtp_now(&self, now: Instant) -> u32 {
        let mut clock = self.anchor.1;
        if self.state == State::Playing {
            let elapsed = now.saturating_duration_since(self.anchor.0).as_secs_f64();
            clock += (elapsed * f64::from(CLOCK_RATE)) as u64;
        } else {
            clock = self.clock;
        }
        self.rtp_time(clock)
    }

    pub fn cursor(&self) -> Option<&Cursor> {
        match &self.feed {
            Feed::Cursor(c) => Some(c),
            Feed::Timeline(_) | Feed::Group(_) => None,
        }
    }
}

/// A SETUP's Transport alternatives: none is 461, one that does not parse is 400.
pub fn transports(req: &Request) -> Result<Vec<Transport>, StatusCode> {
    req.headers
        .get("Transport")
        .map(parse_transports)
        .transpose()
        .map_err(|_| StatusCode::BAD_REQUEST)?
        .ok_or(StatusCode::UNSUPPORTED_TRANSPORT)
}

/// The transport a SETUP gets: where to deliver, whether it is the lab dialect, and the
/// specification to echo in the reply; or a place in a multicast group.
pub struct Chosen {
    pub delivery: Delivery,
    pub lab: bool,
    pub echo: Transport,
    pub multicast: bool,
}

/// Picks the first transport we can honour (RFC 2326 §12.39: the client lists them in order of
/// preference). `used_channels` are the interleaved channels other sessions on this connection
/// already use; multicast is honoured only when `multicast` (a pool is configured), and the
/// group is the server's to choose, whatever the request names.
pub fn choose_transport(
    conn: &ConnInfo,
    transports: &[Transport],
    used_channels: &[u8],
    multicast: bool,
) -> Result<Chosen, StatusCode> {
    let mut refused_destination = false;
    for t in transports {
        if !t.is_rtp_avp() || (t.multicast && (!multicast || t.is_tcp() || t.is_lab())) {
            continue;
        }
        if t.multicast {
            return Ok(Chosen {
                delivery: Delivery::Udp {
                    rtp: conn.peer,
                    rtcp: None,
                },
                lab: false,
                echo: t.clone(),
                multicast: true,
            });
        }
        if let Some(dest) = &t.destination {
            // RTP goes only to the peer that asked for it: anything else would let a request aim
            // our stream at a third party.
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
                None => free_channels(used_channels),
            };
            let mut echo = t.clone();
            echo.interleaved = Some((rtp, Some(rtcp)));
            echo.client_port = None;
            return Ok(Chosen {
                delivery: Delivery::Tcp {
                    conn: conn.id,
                    rtp,
                    rtcp,
                },
                lab: false,
                echo,
                multicast: false,
            });
        }
        if let Some((rtp_port, rtcp_port)) = t.client_port {
            if rtp_port == 0 {
                continue;
            }
            let ip = conn.peer.ip();
            let lab = t.is_lab();
            let rtcp =
                (!lab).then(|| SocketAddr::new(ip, rtcp_port.unwrap_or(rtp_port.wrapping_add(1))));
            let mut echo = t.clone();
            echo.destination = None;
            return Ok(Chosen {
                delivery: Delivery::Udp {
                    rtp: SocketAddr::new(ip, rtp_port),
                    rtcp,
                },
                lab,
                echo,
                multicast: false,
            });
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

/// The lowest even channel pair not in `used`.
fn free_channels(used: &[u8]) -> (u8, u8) {
    let rtp = (0..=127u8)
        .map(|i| i * 2)
        .find(|c| !used.contains(c))
        .unwrap_or(0);
    (rtp, rtp + 1)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source failing is not something a server can recover from sensibly; a
    // predictable id would be worse than stopping.
    getrandom::fill(&mut b).expect("the OS random source failed");
    b
}

pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes())
}

pub fn random_u32() -> u32 {
    u32::from_le_bytes(random_bytes())
}

pub fn random_u16() -> u16 {
    u16::from_le_bytes(random_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnInfo {
        ConnInfo {
            id: 3,
            peer: "10.0.0.5:40000".parse().unwrap(),
            local: "10.0.0.1:8554".parse().unwrap(),
        }
    }

    fn choose(spec: &str, used: &[u8]) -> Result<Chosen, StatusCode> {
        choose_transport(&conn(), &parse_transports(spec).unwrap(), used, false)
    }

    #[test]
    fn first_usable_transport_wins() {
        let c = choose(
            "RTP/AVP;multicast,RTP/AVP;unicast;client_port=5000-5001",
            &[],
        )
        .ok()
        .unwrap();
        assert_eq!(
            c.delivery,
            Delivery::Udp {
                rtp: "10.0.0.5:5000".parse().unwrap(),
                rtcp: Some("10.0.0.5:5001".parse().unwrap())
            }
        );
        let c = choose("RTP/AVP/TCP;unicast", &[0, 2]).ok().unwrap();
        assert_eq!(
            c.delivery,
            Delivery::Tcp {
                conn: 3,
                rtp: 4,
                rtcp: 5
            },
            "the next free even pair"
        );
        assert_eq!(c.echo.interleaved, Some((4, Some(5))));
    }

    #[test]
    fn third_parties_and_unknown_profiles_are_refused() {
        assert!(matches!(
            choose(
                "RTP/AVP;unicast;destination=192.0.2.7;client_port=5000-5001",
                &[]
            ),
            Err(StatusCode::UNSUPPORTED_TRANSPORT)
        ));
        assert!(choose("RAW/RAW/UDP;unicast;client_port=5000", &[]).is_err());
        assert!(choose("RTP/AVP;unicast;client_port=0-1", &[]).is_err());
        assert!(choose(
            "RTP/AVP;unicast;destination=10.0.0.5;client_port=5000-5001",
            &[]
        )
        .is_ok());
    }
}
