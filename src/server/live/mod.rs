//! Live streams from publishers (RFC 2326 §10.3 ANNOUNCE, §10.11 RECORD): the sans-IO parts.
//!
//! A publisher (ffmpeg `-f rtsp`, GStreamer's rtspclientsink, a camera pushing) ANNOUNCEs a path
//! under `live/` with an SDP body ([`announce`]), SETUPs each track with `mode=record` over UDP
//! (its RTP then comes to the server's RTP port pair, accepted only from the ports it named) or
//! interleaved on its connection, and RECORDs. From then on its served track's RTP goes through
//! an [`ingest::Ingest`] into a shared timeline that readers SETUP by the path's name, as they
//! would a file. The core's glue (`server::core::publish`) ties these to sessions, timelines and
//! time-outs; the reactor only hands it datagrams and interleaved frames.

pub mod announce;
pub mod ingest;

use std::net::SocketAddr;
use std::time::Instant;

use crate::server::core::ConnId;
use crate::server::source::TimelineId;

pub use announce::{AnnounceError, Announced, Limits};
pub use ingest::{Ingest, IngestStats, PtsClock};

/// Where one of a publisher's tracks comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackInput {
    /// Datagrams to the server's RTP/RTCP ports from exactly these addresses.
    Udp { rtp: SocketAddr, rtcp: SocketAddr },
    /// Interleaved channels on the publisher's RTSP connection.
    Tcp { rtp: u8, rtcp: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishState {
    /// ANNOUNCEd (and perhaps SETUP), not recording yet: the path is taken, readers see 404.
    Announced,
    Recording,
}

/// One publishing session.
pub struct Publisher {
    /// The session id, from the first SETUP (None right after ANNOUNCE).
    pub id: Option<u64>,
    /// The path it publishes, `live/...`.
    pub path: String,
    pub conn: ConnId,
    pub peer: SocketAddr,
    pub announced: Announced,
    /// Per announced track: where its RTP comes from, once SETUP.
    pub inputs: Vec<Option<TrackInput>>,
    pub state: PublishState,
    pub timeline: Option<TimelineId>,
    /// The served track's frames; made at RECORD.
    pub ingest: Option<Ingest>,
    pub last_seen: Instant,
    /// RTCP sender reports received.
    pub reports: u64,
}

impl Publisher {
    pub fn new(
        path: String,
        conn: ConnId,
        peer: SocketAddr,
        announced: Announced,
        now: Instant,
    ) -> Publisher {
        Publisher {
            id: None,
            path,
            conn,
            peer,
            inputs: vec![None; announced.tracks.len()],
            announced,
            state: PublishState::Announced,
            timeline: None,
            ingest: None,
            last_seen: now,
            reports: 0,
        }
    }

    /// Which track and which kind (RTP: true) an interleaved channel of its connection carries.
    pub fn channel(&self, channel: u8) -> Option<(usize, bool)> {
        self.inputs.iter().enumerate().find_map(|(i, t)| match t {
            Some(TrackInput::Tcp { rtp, .. }) if *rtp == channel => Some((i, true)),
            Some(TrackInput::Tcp { rtcp, .. }) if *rtcp == channel => Some((i, false)),
            _ => None,
        })
    }

    /// Which track and which kind (RTP: true) a datagram from `from` belongs to.
    pub fn udp_source(&self, from: SocketAddr) -> Option<(usize, bool)> {
        self.inputs.iter().enumerate().find_map(|(i, t)| match t {
            Some(TrackInput::Udp { rtp, .. }) if *rtp == from => Some((i, true)),
            Some(TrackInput::Udp { rtcp, .. }) if *rtcp == from => Some((i, false)),
            _ => None,
        })
    }

    /// Interleaved channels its tracks already use.
    pub fn channels(&self) -> Vec<u8> {
        self.inputs
            .iter()
            .flatten()
            .filter_map(|t| match t {
                TrackInput::Tcp { rtp, rtcp } => Some([*rtp, *rtcp]),
                TrackInput::Udp { .. } => None,
            })
            .flatten()
            .collect()
    }
}

/// Is `path` a name a publisher may take: `live/` then one or more plain components of
/// letters, digits, `-`, `_` and `.` (not `.` or `..`), 128 bytes at most?
pub fn valid_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("live/") else {
        return false;
    };
    path.len() <= 128
        && !rest.is_empty()
        && rest.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// Does a SETUP's Transport ask to record (`mode=record`, any case, perhaps quoted)?
pub fn is_record_mode(mode: Option<&str>) -> bool {
    mode.is_some_and(|m| m.trim().trim_matches('"').eq_ignore_ascii_case("record"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in ["live/cam", "live/a/b-c_d.e", "live/1"] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "cam",
            "live/",
            "live//x",
            "live/../x",
            "live/.",
            "live/a b",
            "live/ä",
            "live/a%2f",
            &format!("live/{}", "x".repeat(130)),
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
        assert!(is_record_mode(Some("record")) && is_record_mode(Some("\"RECORD\"")));
        assert!(!is_record_mode(Some("play")) && !is_record_mode(None));
    }
}
