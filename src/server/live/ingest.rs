//! A live source's RTP turned into frames for a shared timeline: a publisher's track, or what a
//! relay's client engine receives from its origin.
//!
//! JPEG (RFC 2435) is reassembled into whole frames ([`Depacketizer`], with a maximum frame
//! size) and re-framed by rtspd ([`Frame::from_jpeg`]): every reader then gets rtspd's own
//! packetization, with both tables in band (ffmpeg may send one 64-byte table, which GStreamer's
//! depayloader misreads), and a late joiner starts at a whole frame. Other payloads are grouped
//! into access units (the packets of one timestamp, up to the marker) and passed through, so a
//! slow reader loses whole units; an H.264 unit says whether it holds an IDR picture (RFC 6184
//! §5.6-5.8), where a new reader may start.
//!
//! Timestamps: a source's 32-bit RTP timestamps become a 64-bit timeline that never jumps
//! backwards by more than reordering allows ([`PtsClock`]); a source that restarts its clock
//! (a relay's origin came back, a publisher's SSRC changed) continues from the wall-clock time
//! since its last frame.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;

use crate::client::reorder::Reorder;
use crate::rtp::jpeg::Depacketizer;
use crate::rtp::packet::RtpPacket;
use crate::rtp::seq::ts_diff;
use crate::server::source::{Frame, FrameRef, CLOCK_RATE};

/// Where a timeline's clock starts: far from zero so that frames a little before the first
/// (B-frames) still have a place.
const PTS_START: u64 = 1 << 32;
/// A timestamp step larger than this (either way) is a restart, not a frame interval.
const MAX_STEP: i64 = 10 * CLOCK_RATE as i64;

/// Maps a source's RTP timestamps onto the timeline's 64-bit clock.
#[derive(Debug, Clone, Default)]
pub struct PtsClock {
    /// The last timestamp taken and its pts, and when it came.
    last: Option<(u32, u64, Instant)>,
    /// The highest pts given, for restarts.
    high: u64,
    /// The next timestamp starts afresh (continuing from the wall clock).
    restart: bool,
}

impl PtsClock {
    /// The pts of a frame stamped `ts` that arrived at `now`.
    pub fn pts(&mut self, ts: u32, now: Instant) -> u64 {
        let pts = match self.last {
            None => PTS_START,
            Some((last_ts, last_pts, at)) => {
                let step = i64::from(ts_diff(ts, last_ts));
                if self.restart || step.abs() > MAX_STEP {
                    let gap = now.saturating_duration_since(at).as_secs_f64();
                    self.high + ((gap * f64::from(CLOCK_RATE)) as u64).max(1)
                } else {
                    last_pts.saturating_add_signed(step)
                }
            }
        };
        self.restart = false;
        self.last = Some((ts, pts, now));
        self.high = self.high.max(pts);
        pts
    }

    /// The source's clock starts over (a new origin session, a new SSRC).
    pub fn restart(&mut self) {
        self.restart = true;
    }
}

/// What an ingest has counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestStats {
    pub packets: u64,
    pub bytes: u64,
    pub frames: u64,
    /// Frames lost in reassembly (a packet missing, too large, a bad header), or JPEGs that
    /// rtspd could not re-packetize.
    pub frames_dropped: u64,
    /// Datagrams that were not RTP, or of the wrong payload type.
    pub malformed: u64,
}

enum Kind {
    Jpeg {
        depack: Depacketizer,
        mtu: usize,
    },
    Passthrough {
        payload_type: u8,
        h264: bool,
        unit: Unit,
    },
}

/// An access unit being collected.
#[derive(Default)]
struct Unit {
    ts: Option<u32>,
    packets: Vec<(Vec<u8>, bool)>,
    bytes: usize,
}

/// One live track's RTP in, frames with their pts out.
pub struct Ingest {
    kind: Kind,
    /// Present for UDP: packets are put back in order before reassembly.
    reorder: Option<Reorder>,
    max_frame: usize,
    ssrc: Option<u32>,
    clock: PtsClock,
    ready: VecDeque<(FrameRef, u64)>,
    pub stats: IngestStats,
}

/// Packets in one passed-through unit at most (a 4 MiB unit at 1400 bytes a packet).
const MAX_UNIT_PACKETS: usize = 3000;

impl Ingest {
    /// JPEG reassembly; frames re-packetized at `mtu`, scans over `max_frame` bytes dropped.
    pub fn jpeg(max_frame: usize, mtu: usize, reorder: bool) -> Ingest {
        Ingest::new(
            Kind::Jpeg {
                depack: Depacketizer::new(max_frame),
                mtu,
            },
            max_frame,
            reorder,
        )
    }

    /// Passthrough of `payload_type` (H.264 when `h264`, for where readers may start).
    pub fn passthrough(payload_type: u8, h264: bool, max_frame: usize, reorder: bool) -> Ingest {
        Ingest::new(
            Kind::Passthrough {
                payload_type,
                h264,
                unit: Unit::default(),
            },
            max_frame,
            reorder,
        )
    }

    fn new(kind: Kind, max_frame: usize, reorder: bool) -> Ingest {
        Ingest {
            kind,
            reorder: reorder.then(|| Reorder::new(64, Duration::from_millis(20))),
            max_frame,
            ssrc: None,
            clock: PtsClock::default(),
            ready: VecDeque::new(),
            stats: IngestStats::default(),
        }
    }

    /// Takes over another ingest's clock (the same timeline, a new origin session), so that
    /// its frames continue the timeline's time.
    pub fn continue_from(&mut self, other: &Ingest) {
        self.clock = other.clock.clone();
        self.clock.restart();
    }

    /// The source's clock and numbering start over (a relay's origin was re-opened).
    pub fn restart(&mut self) {
        self.clock.restart();
        self.ssrc = None;
        if let Some(r) = self.reorder.as_mut() {
            r.reset();
        }
    }

    /// One RTP packet as it arrived.
    pub fn push(&mut self, data: &[u8], now: Instant) {
        let Ok(p) = RtpPacket::new_checked(data) else {
            self.stats.malformed += 1;
            return;
        };
        self.stats.packets += 1;
        self.stats.bytes += data.len() as u64;
        if self.ssrc != Some(p.ssrc()) {
            if self.ssrc.is_some() {
                debug!("live source: SSRC changed; its clock starts over");
                self.clock.restart();
                if let Some(r) = self.reorder.as_mut() {
                    r.reset();
                }
            }
            self.ssrc = Some(p.ssrc());
        }
        match self.reorder.as_mut() {
            Some(r) => {
                r.push(p.sequence(), data.to_vec(), now);
                self.drain_reorder(now);
            }
            None => self.take(data, now),
        }
    }

    /// A JPEG frame already reassembled (by a relay's client engine).
    pub fn push_jpeg(&mut self, jpeg: Vec<u8>, ts: u32, now: Instant) {
        let mtu = match &self.kind {
            Kind::Jpeg { mtu, .. } => *mtu,
            Kind::Passthrough { .. } => return,
        };
        self.jpeg_frame(jpeg, ts, mtu, now);
    }

    /// The next frame and its pts.
    pub fn pull(&mut self) -> Option<(FrameRef, u64)> {
        self.ready.pop_front()
    }

    /// When a packet held for reordering must be let go.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reorder.as_ref().and_then(Reorder::deadline)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.drain_reorder(now);
    }

    fn drain_reorder(&mut self, now: Instant) {
        while let Some(data) = self.reorder.as_mut().and_then(|r| r.pop(now)) {
            self.take(&data, now);
        }
    }

    /// A packet in sequence order.
    fn take(&mut self, data: &[u8], now: Instant) {
        let Ok(p) = RtpPacket::new_checked(data) else {
            return;
        };
        match &mut self.kind {
            Kind::Jpeg { depack, mtu } => {
                let mtu = *mtu;
                let before = depack.dropped.total();
                if p.payload_type() != crate::server::core::PT_JPEG {
                    self.stats.malformed += 1;
                    return;
                }
                if let Err(e) = depack.push(&p) {
                    debug!("live JPEG: {e}");
                }
                self.stats.frames_dropped += depack.dropped.total() - before;
                let mut done = Vec::new();
                while let Some(f) = depack.pull() {
                    done.push(f);
                }
                for f in done {
                    self.jpeg_frame(f.data, f.timestamp, mtu, now);
                }
            }
            Kind::Passthrough {
                payload_type,
                h264,
                unit,
            } => {
                if p.payload_type() != *payload_type {
                    self.stats.malformed += 1;
                    return;
                }
                let (pt, h264) = (*payload_type, *h264);
                if unit.ts.is_some_and(|t| t != p.timestamp()) {
                    // The last unit's marker never came: send what it has.
                    let unit = std::mem::take(unit);
                    self.finish_unit(unit, pt, h264, now);
                }
                let Kind::Passthrough { unit, .. } = &mut self.kind else {
                    return;
                };
                unit.ts = Some(p.timestamp());
                unit.bytes += p.payload().len();
                unit.packets.push((p.payload().to_vec(), p.marker()));
                if unit.bytes > self.max_frame || unit.packets.len() > MAX_UNIT_PACKETS {
                    // Endless: dropped whole rather than held without bound.
                    *unit = Unit::default();
                    self.stats.frames_dropped += 1;
                } else if p.marker() {
                    let unit = std::mem::take(unit);
                    self.finish_unit(unit, pt, h264, now);
                }
            }
        }
    }

    fn finish_unit(&mut self, unit: Unit, pt: u8, h264: bool, now: Instant) {
        let Some(ts) = unit.ts else {
            return;
        };
        let key = !h264 || unit.packets.iter().any(|(p, _)| h264_idr(p));
        let packets: Vec<(&[u8], bool)> = unit
            .packets
            .iter()
            .map(|(p, m)| (p.as_slice(), *m))
            .collect();
        let frame = Frame::passthrough(pt, &packets, key);
        let pts = self.clock.pts(ts, now);
        self.stats.frames += 1;
        self.ready.push_back((Arc::new(frame), pts));
    }

    fn jpeg_frame(&mut self, jpeg: Vec<u8>, ts: u32, mtu: usize, now: Instant) {
        if jpeg.len() > self.max_frame {
            self.stats.frames_dropped += 1;
            return;
        }
        match Frame::from_jpeg(jpeg, mtu) {
            Ok(frame) => {
                let pts = self.clock.pts(ts, now);
                self.stats.frames += 1;
                self.ready.push_back((Arc::new(frame), pts));
            }
            Err(e) => {
                debug!("live JPEG not re-packetized: {e}");
                self.stats.frames_dropped += 1;
            }
        }
    }
}

/// Does this H.264 RTP payload (RFC 6184) carry an IDR slice (NAL type 5), or its start?
fn h264_idr(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1F {
        5 => true,
        // STAP-A: 16-bit sizes, each followed by a NAL unit (§5.7.1).
        24 => {
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let Some(nal) = rest.get(2..2 + size) else {
                    return false;
                };
                if nal.first().is_some_and(|b| b & 0x1F == 5) {
                    return true;
                }
                rest = &rest[2 + size..];
            }
            false
        }
        // FU-A with the start bit: the fragmented NAL's type is in the FU header (§5.8).
        28 => payload
            .get(1)
            .is_some_and(|h| h & 0x80 != 0 && h & 0x1F == 5),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;
    use crate::rtp::jpeg::packetize;
    use crate::rtp::packet::RtpHeader;
    use crate::server::source::Carriage;

    fn packet(seq: u16, ts: u32, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut v = RtpHeader {
            marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 9,
        }
        .to_bytes()
        .to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn jpeg_packets(jpeg: &[u8], seq: u16, ts: u32, mtu: usize) -> Vec<Vec<u8>> {
        let p = packetize(jpeg, mtu).unwrap();
        p.iter()
            .enumerate()
            .map(|(i, pl)| packet(seq.wrapping_add(i as u16), ts, 26, i + 1 == p.len(), pl))
            .collect()
    }

    #[test]
    fn jpeg_frames_are_reassembled_and_re_packetized() {
        let movie = TestMovie {
            width: 160,
            height: 96,
            ..TestMovie::default()
        };
        let t = Instant::now();
        for reorder in [false, true] {
            let mut ing = Ingest::jpeg(1 << 20, 1400, reorder);
            let mut seq = 100;
            for k in 0..3u32 {
                // The publisher's packets are small; ours are at our MTU.
                for p in jpeg_packets(&movie.encode(k), seq, 7000 + 3750 * k, 300) {
                    ing.push(&p, t);
                    seq += 1;
                }
            }
            let frames: Vec<_> = std::iter::from_fn(|| ing.pull()).collect();
            assert_eq!(frames.len(), 3);
            assert_eq!(frames[1].1 - frames[0].1, 3750);
            assert_eq!(frames[2].1 - frames[1].1, 3750);
            let f = &frames[0].0;
            assert_eq!(f.carriage, Carriage::Jpeg);
            assert!(f.payloads.len() < 10, "re-packetized at 1400 bytes");
            let back = crate::jpeg::decode_rgb(&f.jpeg).unwrap();
            assert_eq!(back, crate::jpeg::decode_rgb(&movie.encode(0)).unwrap());
        }
    }

    #[test]
    fn reordered_udp_packets_still_make_frames() {
        let movie = TestMovie::default();
        let mut packets = jpeg_packets(&movie.encode(1), 65_530, 0, 400);
        packets.swap(1, 2);
        let t = Instant::now();
        let mut ing = Ingest::jpeg(1 << 20, 1400, true);
        for p in &packets {
            ing.push(p, t);
        }
        assert!(ing.pull().is_some());
        // Without the reorder buffer the frame is lost.
        let mut ing = Ingest::jpeg(1 << 20, 1400, false);
        for p in &packets {
            ing.push(p, t);
        }
        assert!(ing.pull().is_none());
        assert_eq!(ing.stats.frames_dropped, 1);
    }

    #[test]
    fn oversized_endless_and_malformed_input_is_dropped() {
        let movie = TestMovie::default();
        let t = Instant::now();
        let mut ing = Ingest::jpeg(2000, 1400, false);
        for p in jpeg_packets(&movie.encode(0), 1, 0, 500) {
            ing.push(&p, t);
        }
        assert!(ing.pull().is_none(), "over 2000 bytes");
        ing.push(b"junk", t);
        ing.push(&packet(50, 1, 96, true, b"x"), t);
        assert_eq!(ing.stats.malformed, 2);
        // A passthrough unit that never ends is dropped once it passes the limit.
        let mut ing = Ingest::passthrough(96, true, 10_000, false);
        for i in 0..20u16 {
            ing.push(&packet(i, 5, 96, false, &[0x7C; 1000]), t);
        }
        assert!(ing.pull().is_none());
        assert!(ing.stats.frames_dropped >= 1);
    }

    #[test]
    fn h264_units_are_grouped_and_idr_marked() {
        let t = Instant::now();
        let mut ing = Ingest::passthrough(96, true, 1 << 20, false);
        // An IDR in FU-A pieces, then a P slice alone.
        ing.push(&packet(1, 1000, 96, false, &[0x7C, 0x85, 1, 2]), t);
        ing.push(&packet(2, 1000, 96, false, &[0x7C, 0x05, 3]), t);
        ing.push(&packet(3, 1000, 96, true, &[0x7C, 0x45, 4]), t);
        ing.push(&packet(4, 4750, 96, true, &[0x41, 9, 9]), t);
        // A STAP-A with SPS and an IDR, whose marker got lost: flushed by the next unit.
        ing.push(
            &packet(5, 8500, 96, false, &[24, 0, 1, 0x67, 0, 2, 0x65, 1]),
            t,
        );
        ing.push(&packet(6, 12250, 96, true, &[0x41]), t);
        let units: Vec<_> = std::iter::from_fn(|| ing.pull()).collect();
        assert_eq!(units.len(), 4);
        let keys: Vec<bool> = units.iter().map(|(f, _)| f.is_key()).collect();
        assert_eq!(keys, [true, false, true, false]);
        match &units[0].0.carriage {
            Carriage::Passthrough {
                payload_type,
                markers,
                ..
            } => {
                assert_eq!(*payload_type, 96);
                assert_eq!(markers, &[false, false, true]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(units[0].0.payloads.get(1), Some(&[0x7C, 0x05, 3][..]));
        assert_eq!(units[1].1 - units[0].1, 3750);
    }

    #[test]
    fn the_clock_survives_restarts_and_b_frames() {
        let t = Instant::now();
        let mut c = PtsClock::default();
        let a = c.pts(u32::MAX - 100, t);
        assert_eq!(c.pts(200, t), a + 301, "across the 32-bit wrap");
        assert_eq!(c.pts(100, t), a + 201, "a B-frame a little before");
        c.restart();
        let later = t + Duration::from_secs(2);
        let r = c.pts(77, later);
        assert_eq!(r, a + 301 + 180_000, "continues from the wall clock");
        assert_eq!(c.pts(77 + 3000, later), r + 3000);
        // A wild jump is a restart too.
        let j = c.pts(2_000_000_000, later + Duration::from_millis(40));
        assert_eq!(j, r + 3000 + 3600);
    }
}
