//! A live source's description: the SDP a publisher sends with ANNOUNCE (RFC 2326 §10.3,
//! Appendix C), or an origin returns to a relay's DESCRIBE, checked under limits; and the SDP
//! readers get for it (RFC 4566), with rtspd's own control URLs.
//!
//! Readers get one stream per session (as for files), so of the tracks announced the first video
//! track is served and the others are accepted and dropped. A JPEG track is re-packetized by
//! rtspd and described by rtspd's own SDP; any other payload is passed through, described by the
//! publisher's own media attributes (rtpmap, fmtp with the H.264 parameter sets) with the control
//! URL, connection, direction and range replaced by rtspd's.

use std::fmt;
use std::net::IpAddr;

use crate::rtsp::sdp::{movie_sdp, Media, MovieDescription, Sdp};
use crate::server::core::PT_JPEG;
use crate::server::source::CLOCK_RATE;

/// Limits on an announced SDP, checked before anything else is done with it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_lines: usize,
    pub max_line: usize,
    pub max_tracks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024,
            max_lines: 256,
            // H.264/H.265 fmtp lines carry parameter sets in base64: hundreds of bytes.
            max_line: 4096,
            max_tracks: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceError(pub String);

impl fmt::Display for AnnounceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "announced SDP: {}", self.0)
    }
}

impl std::error::Error for AnnounceError {}

/// One announced `m=` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// `video`, `audio`, ...
    pub kind: String,
    pub payload_type: u8,
    /// The rtpmap encoding name (`JPEG` for payload type 26 without one).
    pub encoding: Option<String>,
    pub clock_rate: Option<u32>,
    /// The `a=control` value as announced.
    pub control: Option<String>,
    pub framerate: Option<f64>,
    /// The media attributes readers get for a passed-through track (a= lines but control,
    /// direction and range), each printable ASCII.
    pub lines: Vec<String>,
}

impl Track {
    pub fn is_jpeg(&self) -> bool {
        self.payload_type == PT_JPEG
            || self
                .encoding
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("JPEG"))
    }

    pub fn is_h264(&self) -> bool {
        self.encoding
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("H264"))
    }

    /// Can rtspd serve it to readers? Video on the 90 kHz clock (RFC 3551 §5), every video
    /// payload format's, and a dynamic payload type (96-127) with the rtpmap that says what it
    /// is (RFC 4566 §6).
    fn servable(&self) -> bool {
        self.kind == "video"
            && self.clock_rate.is_none_or(|c| c == CLOCK_RATE)
            && (self.payload_type < 96 || self.encoding.is_some())
    }
}

/// A checked description.
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    pub tracks: Vec<Track>,
    /// The track readers get.
    pub served: usize,
}

impl Announced {
    /// Parses and checks `body`: within `limits`, valid SDP, at least one video track on the
    /// 90 kHz clock, payload types 0 to 127.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Announced, AnnounceError> {
        if body.len() > limits.max_bytes {
            return Err(AnnounceError(format!(
                "{} bytes, over the limit of {}",
                body.len(),
                limits.max_bytes
            )));
        }
        let text = std::str::from_utf8(body).map_err(|_| AnnounceError("not UTF-8".into()))?;
        let mut lines = 0;
        for line in text.lines() {
            lines += 1;
            if lines > limits.max_lines {
                return Err(AnnounceError(format!(
                    "more than {} lines",
                    limits.max_lines
                )));
            }
            if line.len() > limits.max_line {
                return Err(AnnounceError(format!(
                    "a line of {} bytes, over {}",
                    line.len(),
                    limits.max_line
                )));
            }
        }
        let sdp = Sdp::parse(text).map_err(|e| AnnounceError(e.0))?;
        if sdp.media.len() > limits.max_tracks {
            return Err(AnnounceError(format!(
                "{} media, more than {}",
                sdp.media.len(),
                limits.max_tracks
            )));
        }
        let mut tracks = Vec::with_capacity(sdp.media.len());
        for (i, m) in sdp.media.iter().enumerate() {
            // An attribute with control characters in it is dropped before anything reads it,
            // so what rtspd makes of a track is what readers are told.
            let m = &Media {
                attributes: m
                    .attributes
                    .iter()
                    .filter(|(n, v)| printable(n) && v.as_deref().is_none_or(printable))
                    .cloned()
                    .collect(),
                ..m.clone()
            };
            let payload_type = m
                .payload_type()
                .filter(|pt| *pt < 128)
                .ok_or_else(|| AnnounceError(format!("media {i}: no payload type 0-127")))?;
            if !m.proto.to_ascii_uppercase().starts_with("RTP/AVP") {
                return Err(AnnounceError(format!(
                    "media {i}: protocol {:?} is not RTP/AVP",
                    m.proto
                )));
            }
            let clock_rate = rtpmap(m, payload_type).and_then(|(_, rate)| rate);
            let lines = m
                .attributes
                .iter()
                .filter(|(n, _)| !is_replaced(n))
                .map(|(n, v)| match v {
                    Some(v) => format!("a={n}:{v}"),
                    None => format!("a={n}"),
                })
                .collect();
            tracks.push(Track {
                kind: m.kind.clone(),
                payload_type,
                encoding: m.encoding(),
                clock_rate,
                control: m.attr("control").map(|c| c.trim().to_string()),
                framerate: m.framerate(),
                lines,
            });
        }
        let served = tracks
            .iter()
            .position(Track::servable)
            .ok_or_else(|| AnnounceError("no video track on a 90 kHz clock".into()))?;
        Ok(Announced { tracks, served })
    }

    pub fn served_track(&self) -> &Track {
        &self.tracks[self.served]
    }

    /// The track a SETUP URL names: the one whose control URL (absolute, or relative to the
    /// path) it is; with a single track, the path itself names it too.
    pub fn track_for(&self, setup_url: &str, path_url_tail: &str) -> Option<usize> {
        let url = setup_url.trim_end_matches('/');
        let found = self.tracks.iter().position(|t| match t.control.as_deref() {
            Some(c) if c.contains("://") => c.trim_end_matches('/') == url,
            Some("*") | None => false,
            Some(c) => path_url_tail.trim_matches('/') == c.trim_matches('/'),
        });
        found.or_else(|| (self.tracks.len() == 1 && path_url_tail.is_empty()).then_some(0))
    }

    /// The SDP readers get for path `name`: rtspd's own for JPEG, the publisher's media lines
    /// for anything else. Its control is `trackID=0` under the Content-Base, as for files.
    pub fn reader_sdp(&self, name: &str, server: IpAddr, default_fps: f64) -> String {
        let track = self.served_track();
        if track.is_jpeg() {
            return movie_sdp(&MovieDescription {
                name,
                server_addr: server,
                duration: None,
                fps: track.framerate.unwrap_or(default_fps),
                width: 0,
                height: 0,
            });
        }
        let ip = if server.is_ipv6() { "IP6" } else { "IP4" };
        let mut s = format!(
            "v=0\r\no=- 0 0 IN {ip} {server}\r\ns={}\r\nc=IN {ip} 0.0.0.0\r\nt=0 0\r\n\
             a=tool:rtspd\r\na=control:*\r\nm={} 0 RTP/AVP {}\r\n",
            name.replace(|c: char| !c.is_ascii_graphic() && c != ' ', "_"),
            track.kind,
            track.payload_type
        );
        for l in &track.lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str("a=control:trackID=0\r\n");
        s
    }
}

/// `a=rtpmap:PT NAME/RATE[/PARAMS]` for `pt`: (name, rate).
fn rtpmap(m: &Media, pt: u8) -> Option<(String, Option<u32>)> {
    m.attributes
        .iter()
        .filter(|(n, _)| n == "rtpmap")
        .find_map(|(_, v)| {
            let (p, rest) = v.as_deref()?.trim().split_once(' ')?;
            if p.trim().parse::<u8>().ok()? != pt {
                return None;
            }
            let mut parts = rest.trim().split('/');
            let name = parts.next()?.to_string();
            Some((name, parts.next().and_then(|r| r.trim().parse().ok())))
        })
}

/// Attributes readers get from rtspd instead: the control URL, the direction (a publisher's
/// stream is `sendonly` for readers), the range (a live stream has none).
fn is_replaced(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "control" | "sendonly" | "recvonly" | "sendrecv" | "inactive" | "range"
    )
}

fn printable(line: &str) -> bool {
    line.bytes().all(|b| (0x20..0x7F).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What ffmpeg 7 sends for `-c:v copy` of an MJPEG file, and for libx264.
    pub(crate) const FFMPEG_MJPEG: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:libavformat 61.7.100\r\nm=video 0 RTP/AVP 26\r\n\
        a=control:streamid=0\r\n";
    pub(crate) const FFMPEG_H264: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:libavformat 61.7.100\r\nm=video 0 RTP/AVP 96\r\n\
        b=AS:200\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; \
        sprop-parameter-sets=Z2QADKzZQUH7ARAAAAMAEAAAAwPA8UKZYA==,aOvjyyLA; profile-level-id=64000C\r\n\
        a=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
        a=control:streamid=1\r\n";

    #[test]
    fn ffmpeg_mjpeg_is_served_with_our_own_sdp() {
        let a = Announced::parse(FFMPEG_MJPEG.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(a.tracks.len(), 1);
        let t = a.served_track();
        assert!(t.is_jpeg() && !t.is_h264());
        assert_eq!(t.control.as_deref(), Some("streamid=0"));
        assert_eq!(
            a.track_for("rtsp://h:8554/live/cam/streamid=0", "streamid=0"),
            Some(0)
        );
        assert_eq!(a.track_for("rtsp://h:8554/live/cam", ""), Some(0));
        assert_eq!(
            a.track_for("rtsp://h/live/cam/streamid=4", "streamid=4"),
            None
        );
        let sdp = a.reader_sdp("live/cam", "10.0.0.1".parse().unwrap(), 24.0);
        assert!(sdp.contains("m=video 0 RTP/AVP 26\r\n") && sdp.contains("a=framerate:24"));
        assert!(!sdp.contains("streamid"), "our control URLs: {sdp}");
    }

    #[test]
    fn h264_passes_through_with_its_media_lines() {
        let a = Announced::parse(FFMPEG_H264.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(a.tracks.len(), 2);
        assert_eq!(a.served, 0);
        assert!(a.served_track().is_h264());
        assert_eq!(a.served_track().clock_rate, Some(90_000));
        assert_eq!(
            a.track_for("rtsp://h/live/cam/streamid=1", "streamid=1"),
            Some(1)
        );
        let sdp = a.reader_sdp("live/cam", "10.0.0.1".parse().unwrap(), 24.0);
        let parsed = Sdp::parse(&sdp).unwrap();
        assert_eq!(parsed.media.len(), 1, "one stream per session: {sdp}");
        let v = parsed.video().unwrap();
        assert_eq!(v.payload_type(), Some(96));
        assert_eq!(v.encoding().as_deref(), Some("H264"));
        assert_eq!(v.attr("control"), Some("trackID=0"));
        assert!(v
            .attr("fmtp")
            .unwrap()
            .contains("sprop-parameter-sets=Z2QADK"));
        assert!(!sdp.contains("127.0.0.1") && !sdp.contains("streamid"));
        // Announcing what readers get gives the same track again.
        let again = Announced::parse(sdp.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(again.served_track().lines, a.served_track().lines);
    }

    #[test]
    fn refusals() {
        let l = Limits::default();
        for bad in [
            "",
            "v=0\r\nm=audio 0 RTP/AVP 0\r\n",
            "v=0\r\nm=video 0 RTP/AVP 200\r\n",
            "v=0\r\nm=video 0 RAW/UDP 26\r\n",
            "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/8000\r\n",
            "v=0\r\nm=video 0 RTP/AVP\r\n",
        ] {
            assert!(Announced::parse(bad.as_bytes(), &l).is_err(), "{bad:?}");
        }
        let long = format!(
            "v=0\r\nm=video 0 RTP/AVP 26\r\na=x:{}\r\n",
            "y".repeat(5000)
        );
        assert!(Announced::parse(long.as_bytes(), &l).is_err());
        let many = format!("v=0\r\n{}", "m=video 0 RTP/AVP 26\r\n".repeat(9));
        assert!(Announced::parse(many.as_bytes(), &l).is_err());
        let lines = format!("v=0\r\nm=video 0 RTP/AVP 26\r\n{}", "a=x\r\n".repeat(300));
        assert!(Announced::parse(lines.as_bytes(), &l).is_err());
        assert!(Announced::parse(&[0xFF, 0xFE], &l).is_err());
    }

    #[test]
    fn control_characters_never_reach_readers() {
        let text = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 x\u{7}y\r\n\
                    a=ok:1\r\n";
        let a = Announced::parse(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            a.served_track().lines,
            vec!["a=rtpmap:96 H264/90000", "a=ok:1"]
        );
        // Found by the announce fuzzer: an rtpmap with a control character in it named the
        // codec while readers were not told it. It counts as absent now, and a dynamic payload
        // type without an rtpmap is nothing rtspd can describe.
        let garbled = "v=0\r\nm=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\re:x\r\n";
        assert!(Announced::parse(garbled.as_bytes(), &Limits::default()).is_err());
        let garbled = "v=0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\u{5}\r\n";
        let b = Announced::parse(garbled.as_bytes(), &Limits::default()).unwrap();
        assert!(b.served_track().lines.is_empty() && b.served_track().is_jpeg());
        let sdp = a.reader_sdp("live/a\r\nb", "::1".parse().unwrap(), 24.0);
        assert!(sdp.contains("s=live/a__b\r\n") && sdp.contains("IN IP6 ::1"));
    }
}
