//! Harnesses for live streams: the SDP a publisher ANNOUNCEs (or an origin describes to a relay),
//! and the RTP a publisher or origin sends, turned into frames for readers.

use std::time::{Duration, Instant};

use rtsp_mjpeg::jpeg;
use rtsp_mjpeg::rtp::jpeg::Depacketizer;
use rtsp_mjpeg::rtp::packet::{RtpHeader, RtpPacket};
use rtsp_mjpeg::rtsp::sdp::Sdp;
use rtsp_mjpeg::server::live::{Announced, Ingest, Limits};
use rtsp_mjpeg::server::source::Carriage;

use crate::split_packets;

/// `Announced::parse` under the default and tight limits; for what it accepts, the SDP readers
/// get, and SETUP URLs matched to tracks.
pub fn announce(data: &[u8]) {
    let tight = Limits {
        max_bytes: 512,
        max_lines: 16,
        max_line: 128,
        max_tracks: 2,
    };
    for limits in [Limits::default(), tight] {
        let Ok(a) = Announced::parse(data, &limits) else {
            continue;
        };
        // CHECK: within the limits; the served track is a video track on the 90 kHz clock.
        assert!(data.len() <= limits.max_bytes && a.tracks.len() <= limits.max_tracks);
        let t = a.served_track();
        assert_eq!(t.kind, "video");
        assert!(t.clock_rate.is_none_or(|c| c == 90_000));
        for (i, track) in a.tracks.iter().enumerate() {
            // CHECK: a relative control URL names its own track (or an earlier one with the
            // same control).
            if let Some(c) = track
                .control
                .as_deref()
                .filter(|c| !c.contains("://") && *c != "*" && !c.is_empty() && !c.contains('/'))
            {
                let url = format!("rtsp://h:8554/live/x/{c}");
                let found = a.track_for(&url, c);
                assert!(
                    found.is_some_and(|f| f <= i),
                    "control {c:?} of track {i} found {found:?}"
                );
            }
        }
        for server in ["10.0.0.1", "::1"] {
            // Paths are checked before they get here (live::valid_path, RelaySpec::parse).
            let sdp = a.reader_sdp("live/cam", server.parse().unwrap(), 24.0);
            // CHECK: what readers get is printable SDP with one stream, the served payload type,
            // rtspd's own control URL, and the encoding as announced.
            assert!(
                sdp.bytes()
                    .all(|b| b == b'\r' || b == b'\n' || (0x20..0x7F).contains(&b)),
                "control characters in {sdp:?}"
            );
            let parsed = Sdp::parse(&sdp).unwrap_or_else(|e| panic!("{sdp:?}: {e}"));
            assert_eq!(parsed.media.len(), 1, "{sdp:?}");
            let m = &parsed.media[0];
            assert_eq!(
                m.payload_type(),
                Some(if t.is_jpeg() { 26 } else { t.payload_type })
            );
            assert_eq!(m.attr("control"), Some("trackID=0"), "{sdp:?}");
            assert_eq!(
                m.attributes.iter().filter(|(n, _)| n == "control").count(),
                1,
                "{sdp:?}"
            );
            if !t.is_jpeg() {
                // CHECK: announced again, what readers get is the same track.
                let again = Announced::parse(sdp.as_bytes(), &Limits::default())
                    .unwrap_or_else(|e| panic!("{sdp:?}: {e}"));
                let u = again.served_track();
                assert_eq!(
                    (u.payload_type, &u.encoding, &u.lines),
                    (t.payload_type, &t.encoding, &t.lines),
                    "{sdp:?}"
                );
            }
        }
    }
}

/// A live source's packets through `Ingest`: byte 0 picks the frame limit (as
/// `rtp_jpeg_depacketize`), bit 4 of byte 0 passthrough (H.264, PT 96) rather than JPEG, bit 5
/// the reorder buffer; packets are 5 ms apart.
pub fn live_ingest(data: &[u8]) {
    let (max_frame, packets) = split_packets(data);
    let mode = data.first().copied().unwrap_or(0);
    let passthrough = mode & 0x10 != 0;
    let reorder = mode & 0x20 != 0;
    let mut ingest = if passthrough {
        Ingest::passthrough(96, true, max_frame, reorder)
    } else {
        Ingest::jpeg(max_frame, 1400, reorder)
    };
    let t0 = Instant::now();
    let mut now = t0;
    for bytes in packets {
        now += Duration::from_millis(5);
        ingest.push(bytes, now);
        if let Some(t) = ingest.poll_timeout() {
            // CHECK: a held packet's deadline is soon.
            assert!(t <= now + Duration::from_millis(20));
        }
        drain(&mut ingest, max_frame);
    }
    ingest.handle_timeout(now + Duration::from_secs(1));
    drain(&mut ingest, max_frame);
    let s = ingest.stats;
    assert!(s.frames <= s.packets, "{s:?}");
}

fn drain(ingest: &mut Ingest, max_frame: usize) {
    while let Some((frame, _pts)) = ingest.pull() {
        match &frame.carriage {
            Carriage::Jpeg => {
                // CHECK: a frame readers get is a JPEG within the limit, and its RFC 2435
                // payloads (rtspd's own) bring back the same picture.
                assert!(frame.jpeg.len() <= max_frame);
                let mut d = Depacketizer::new(1 << 24);
                let n = frame.payloads.len();
                for (i, p) in frame.payloads.iter().enumerate() {
                    assert!(p.len() <= 1400);
                    let mut bytes = RtpHeader {
                        marker: i + 1 == n,
                        payload_type: 26,
                        sequence: i as u16,
                        timestamp: 0,
                        ssrc: 1,
                    }
                    .to_bytes()
                    .to_vec();
                    bytes.extend_from_slice(p);
                    let _ = d.push(&RtpPacket::new_checked(&bytes).unwrap());
                }
                let back = d.pull().expect("rtspd's payloads make a frame");
                // A frame whose one scan runs to its final EOI comes back byte for byte (the
                // same headers rebuilt around the same scan); others are sent up to the marker
                // that cuts their scan, all RFC 2435 can do.
                let info = jpeg::parse(&frame.jpeg).expect("a frame readers get parses");
                if info.has_eoi && info.scan.end + 2 == frame.jpeg.len() {
                    if back.data != frame.jpeg {
                        let at = back
                            .data
                            .iter()
                            .zip(&frame.jpeg)
                            .position(|(a, b)| a != b)
                            .unwrap_or(back.data.len().min(frame.jpeg.len()));
                        let near =
                            |v: &[u8]| v[at.saturating_sub(8)..(at + 8).min(v.len())].to_vec();
                        panic!(
                            "re-packetized frame differs at byte {at} of {} / {}: {:02x?} / {:02x?}",
                            back.data.len(),
                            frame.jpeg.len(),
                            near(&back.data),
                            near(&frame.jpeg)
                        );
                    }
                }
            }
            Carriage::Passthrough {
                markers,
                payload_type,
                ..
            } => {
                // CHECK: a passed-through unit keeps its payload type, one marker per payload,
                // and stays within the limit.
                assert_eq!(*payload_type, 96);
                assert_eq!(markers.len(), frame.payloads.len());
                assert!(frame.payloads.total_len() <= max_frame);
            }
        }
    }
}
