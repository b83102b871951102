//! The RTP payload format for JPEG (RFC 2435), and the lab client's whole-frame payload.
//!
//! Packetizer (§3): each payload is the 8-byte main JPEG header, a restart marker header for
//! types 64-127 (§3.1.7), in the first packet only a quantization table header with Q=255 and the
//! frame's own tables (§3.1.8), then a slice of the entropy-coded scan whose position in the scan
//! is the fragment offset. Every payload but the last is exactly `max_payload` bytes, so a sender
//! can hand a whole frame to UDP segmentation offload in one call.
//!
//! Depacketizer: reassembles by timestamp and fragment offset with no gaps in sequence numbers,
//! drops and counts any frame it cannot complete, and rebuilds a complete JPEG (Appendix A and B:
//! tables from the packet or derived from Q, standard Huffman tables, DRI for types 64+).
//!
//! Whole-frame payload: the classic Python lab server sends each JPEG as one RTP packet with
//! PT 26 and no RFC 2435 header. Such a payload starts with SOI (FF D8), which an RFC 2435 payload
//! at offset 0 never does (its first byte is the type-specific 0 and the offset follows).

use std::collections::{HashMap, VecDeque};
use std::fmt;

use crate::jpeg::{self, std_tables, NotCarriable};
use crate::rtp::packet::RtpPacket;

/// Largest payload by default: with IPv6 (40) + UDP (8) + RTP (12) headers it fits 1500 bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = 1400;

const MAIN_HEADER: usize = 8;
const RESTART_HEADER: usize = 4;
const QTABLE_HEADER: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketizeError {
    Jpeg(jpeg::JpegError),
    NotCarriable(NotCarriable),
    /// The first packet's headers (with tables) leave no room for scan data.
    PayloadTooSmall {
        max_payload: usize,
        need: usize,
    },
    /// The fragment offset is 24 bits.
    ScanTooLarge(usize),
}

impl fmt::Display for PacketizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketizeError::Jpeg(e) => e.fmt(f),
            PacketizeError::NotCarriable(e) => write!(f, "not RFC 2435 carriable: {e}"),
            PacketizeError::PayloadTooSmall { max_payload, need } => {
                write!(f, "payload size {max_payload} is too small: the first packet's headers need {need} bytes")
            }
            PacketizeError::ScanTooLarge(n) => {
                write!(f, "scan of {n} bytes exceeds RFC 2435's 24-bit offset")
            }
        }
    }
}

impl std::error::Error for PacketizeError {}

/// A frame's payloads, stored back to back in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payloads {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Payloads {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.buf[start..end])
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// Bytes of all payloads together.
    pub fn total_len(&self) -> usize {
        self.buf.len()
    }

    /// Appends one payload (for payloads made elsewhere: RTP passed through as it came).
    pub fn push(&mut self, payload: &[u8]) {
        self.buf.extend_from_slice(payload);
        self.ends.push(self.buf.len());
    }
}

/// Cuts one JPEG into RFC 2435 payloads of at most `max_payload` bytes. The caller sets the RTP
/// header: PT 26, one 90 kHz timestamp for all, the marker bit on the last.
pub fn packetize(frame: &[u8], max_payload: usize) -> Result<Payloads, PacketizeError> {
    let info = jpeg::parse(frame).map_err(PacketizeError::Jpeg)?;
    let params = info.carriable().map_err(PacketizeError::NotCarriable)?;
    let scan = &frame[info.scan.clone()];
    if scan.len() >= 1 << 24 {
        return Err(PacketizeError::ScanTooLarge(scan.len()));
    }
    let restart = params.jpeg_type >= 64;
    let header = MAIN_HEADER + if restart { RESTART_HEADER } else { 0 };
    let first_header = header + QTABLE_HEADER + params.tables.len();
    if max_payload <= first_header {
        return Err(PacketizeError::PayloadTooSmall {
            max_payload,
            need: first_header + 1,
        });
    }
    let mut out = Payloads {
        buf: Vec::with_capacity(
            scan.len() + first_header + scan.len() / (max_payload - header) * header + header,
        ),
        ends: Vec::new(),
    };
    let mut offset = 0;
    while offset < scan.len() || offset == 0 {
        let first = offset == 0;
        let room = max_payload - if first { first_header } else { header };
        let take = room.min(scan.len() - offset);
        let o = (offset as u32).to_be_bytes();
        out.buf.extend_from_slice(&[
            0,
            o[1],
            o[2],
            o[3],
            params.jpeg_type,
            255,
            params.width8,
            params.height8,
        ]);
        if restart {
            let ri = params.restart_interval.to_be_bytes();
            // F=1, L=1, count 0x3FFF: the packet's data is not aligned to restart intervals.
            out.buf.extend_from_slice(&[ri[0], ri[1], 0xFF, 0xFF]);
        }
        if first {
            let len = (params.tables.len() as u16).to_be_bytes();
            out.buf
                .extend_from_slice(&[0, params.precision, len[0], len[1]]);
            out.buf.extend_from_slice(&params.tables);
        }
        out.buf.extend_from_slice(&scan[offset..offset + take]);
        out.ends.push(out.buf.len());
        offset += take;
        if take == 0 {
            break;
        }
    }
    Ok(out)
}

/// Does this payload hold a whole JPEG (the lab server's format) rather than RFC 2435 data?
pub fn is_whole_jpeg(payload: &[u8]) -> bool {
    payload.starts_with(&[0xFF, 0xD8])
}

/// A reassembled frame: a complete JPEG file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegFrame {
    pub timestamp: u32,
    pub data: Vec<u8>,
    pub width: u16,
    pub height: u16,
    /// The RFC 2435 Q value it came with (1-99: scaled standard tables, 128-255: tables in
    /// band); None for a whole JPEG (the lab format), which has no RFC 2435 header.
    pub q: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepacketizeError {
    /// The payload is shorter than its headers say.
    Truncated,
    /// Types 2-63 and 66-127 are not defined for baseline 4:2:x (RFC 2435 §3.1.3).
    UnsupportedType(u8),
    /// Q 128-255 with no tables in band, and none cached for that Q.
    MissingTables(u8),
    /// Q = 0 is reserved.
    ReservedQ,
}

impl fmt::Display for DepacketizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DepacketizeError::Truncated => f.write_str("RFC 2435 payload shorter than its headers"),
            DepacketizeError::UnsupportedType(t) => write!(f, "RFC 2435 type {t} not supported"),
            DepacketizeError::MissingTables(q) => write!(f, "Q={q} without quantization tables"),
            DepacketizeError::ReservedQ => f.write_str("Q=0 is reserved"),
        }
    }
}

impl std::error::Error for DepacketizeError {}

/// Why frames were dropped, counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DropCounts {
    /// A packet of the frame was missing (sequence gap, or its first packet never came).
    pub lost_packets: u64,
    /// Fragment offsets did not follow on.
    pub bad_offset: u64,
    /// The frame grew past the limit.
    pub too_large: u64,
    /// A header could not be used (type, tables, truncation).
    pub bad_header: u64,
    /// Completed frames nobody pulled before more arrived.
    pub overflow: u64,
}

impl DropCounts {
    pub fn total(&self) -> u64 {
        self.lost_packets + self.bad_offset + self.too_large + self.bad_header + self.overflow
    }
}

struct Partial {
    timestamp: u32,
    jpeg_type: u8,
    q: u8,
    width8: u8,
    height8: u8,
    restart_interval: u16,
    precision: u8,
    tables: Vec<u8>,
    scan: Vec<u8>,
    next_seq: u16,
}

/// Reassembles RFC 2435 (and whole-frame) payloads into JPEG files. `push` packets in arrival
/// order (after any reordering), then `pull` complete frames.
pub struct Depacketizer {
    max_frame: usize,
    partial: Option<Partial>,
    /// The timestamp of a frame already given up on: its later packets are skipped quietly.
    discarding: Option<u32>,
    ready: VecDeque<JpegFrame>,
    /// Tables for Q 128-254, which a sender may send only once (§3.1.8).
    cached_tables: HashMap<u8, (u8, Vec<u8>)>,
    pub frames_out: u64,
    pub dropped: DropCounts,
}

const MAX_READY: usize = 8;

impl Depacketizer {
    /// `max_frame`: the largest scan accepted, in bytes; bigger frames are dropped.
    pub fn new(max_frame: usize) -> Depacketizer {
        Depacketizer {
            max_frame,
            partial: None,
            discarding: None,
            ready: VecDeque::new(),
            cached_tables: HashMap::new(),
            frames_out: 0,
            dropped: DropCounts::default(),
        }
    }

    pub fn pull(&mut self) -> Option<JpegFrame> {
        self.ready.pop_front()
    }

    fn emit(&mut self, frame: JpegFrame) {
        if self.ready.len() >= MAX_READY {
            self.ready.pop_front();
            self.dropped.overflow += 1;
        }
        self.frames_out += 1;
        self.ready.push_back(frame);
    }

    fn abandon(&mut self, why: fn(&mut DropCounts) -> &mut u64) {
        if let Some(p) = self.partial.take() {
            *why(&mut self.dropped) += 1;
            self.discarding = Some(p.timestamp);
        }
    }

    pub fn push(&mut self, packet: &RtpPacket<'_>) -> Result<(), DepacketizeError> {
        let payload = packet.payload();
        let ts = packet.timestamp();
        if is_whole_jpeg(payload) {
            self.abandon(|d| &mut d.lost_packets);
            if payload.len() > self.max_frame {
                self.dropped.too_large += 1;
                return Ok(());
            }
            let (width, height) = jpeg::parse(payload)
                .map(|i| (i.width, i.height))
                .unwrap_or((0, 0));
            self.emit(JpegFrame {
                timestamp: ts,
                data: payload.to_vec(),
                width,
                height,
                q: None,
            });
            return Ok(());
        }
        if payload.len() < MAIN_HEADER {
            self.abandon(|d| &mut d.bad_header);
            return Err(DepacketizeError::Truncated);
        }
        let offset = u32::from_be_bytes([0, payload[1], payload[2], payload[3]]) as usize;
        let (jpeg_type, q, width8, height8) = (payload[4], payload[5], payload[6], payload[7]);
        let mut rest = &payload[MAIN_HEADER..];
        let mut restart_interval = 0;
        if (64..128).contains(&jpeg_type) {
            if rest.len() < RESTART_HEADER {
                self.abandon(|d| &mut d.bad_header);
                return Err(DepacketizeError::Truncated);
            }
            restart_interval = u16::from_be_bytes([rest[0], rest[1]]);
            rest = &rest[RESTART_HEADER..];
        }
        if !matches!(jpeg_type & 63, 0 | 1) || jpeg_type >= 128 {
            self.abandon(|d| &mut d.bad_header);
            self.discarding = Some(ts);
            self.dropped.bad_header += u64::from(offset == 0);
            return Err(DepacketizeError::UnsupportedType(jpeg_type));
        }

        if offset == 0 {
            // A new frame begins; whatever was unfinished is lost.
            self.abandon(|d| &mut d.lost_packets);
            self.discarding = None;
            let (precision, tables) = match q {
                0 => {
                    self.dropped.bad_header += 1;
                    self.discarding = Some(ts);
                    return Err(DepacketizeError::ReservedQ);
                }
                1..=127 => (0, q_tables(q)),
                _ => {
                    if rest.len() < QTABLE_HEADER {
                        self.dropped.bad_header += 1;
                        self.discarding = Some(ts);
                        return Err(DepacketizeError::Truncated);
                    }
                    let precision = rest[1];
                    let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
                    let Some(data) = rest.get(QTABLE_HEADER..QTABLE_HEADER + len) else {
                        self.dropped.bad_header += 1;
                        self.discarding = Some(ts);
                        return Err(DepacketizeError::Truncated);
                    };
                    rest = &rest[QTABLE_HEADER + len..];
                    let expected = table_len(precision & 1) + table_len(precision >> 1 & 1);
                    if len == 0 && q < 255 {
                        match self.cached_tables.get(&q) {
                            Some(t) => t.clone(),
                            None => {
                                self.dropped.bad_header += 1;
                                self.discarding = Some(ts);
                                return Err(DepacketizeError::MissingTables(q));
                            }
                        }
                    } else {
                        let t = if len == 64 && precision == 0 {
                            // One table for luma and chroma alike: ffmpeg's packetizer sends a
                            // frame's DQT tables as they are, and a JPEG may have only one.
                            (0, [data, data].concat())
                        } else if len < expected {
                            self.dropped.bad_header += 1;
                            self.discarding = Some(ts);
                            return Err(DepacketizeError::MissingTables(q));
                        } else {
                            (precision, data[..expected].to_vec())
                        };
                        if q < 255 {
                            self.cached_tables.insert(q, t.clone());
                        }
                        t
                    }
                }
            };
            self.partial = Some(Partial {
                timestamp: ts,
                jpeg_type,
                q,
                width8,
                height8,
                restart_interval,
                precision,
                tables,
                scan: Vec::with_capacity(rest.len() * 16),
                next_seq: packet.sequence(),
            });
        } else if self.discarding == Some(ts) {
            return Ok(());
        }

        let Some(p) = self.partial.as_mut() else {
            // A later fragment whose first packet never came.
            self.dropped.lost_packets += 1;
            self.discarding = Some(ts);
            return Ok(());
        };
        if p.timestamp != ts {
            // The frame in progress never got its last packet, and this one's first never came.
            self.abandon(|d| &mut d.lost_packets);
            self.dropped.lost_packets += 1;
            self.discarding = Some(ts);
            return Ok(());
        }
        if p.next_seq != packet.sequence() {
            self.abandon(|d| &mut d.lost_packets);
            return Ok(());
        }
        if p.scan.len() != offset {
            self.abandon(|d| &mut d.bad_offset);
            return Ok(());
        }
        if p.scan.len() + rest.len() > self.max_frame {
            self.abandon(|d| &mut d.too_large);
            return Ok(());
        }
        p.scan.extend_from_slice(rest);
        p.next_seq = p.next_seq.wrapping_add(1);
        if packet.marker() {
            if let Some(p) = self.partial.take() {
                let frame = rebuild(&p);
                self.emit(frame);
            }
        }
        Ok(())
    }
}

fn table_len(wide: u8) -> usize {
    if wide != 0 {
        128
    } else {
        64
    }
}

/// T.81 Annex K.1 tables in natural (row-major) order.
const LUMA_Q: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];
/// Zigzag position -> natural index.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The IJG quality (1-100) a luma quantization table (zigzag order, as DQT stores it) was most
/// likely scaled for: the inverse of RFC 2435 Appendix A's scaling, from the table's entries
/// against the standard table's, leaving out those clamped at 255. For a frame sent with Q
/// 128-255 (tables in band), this says what Q alone cannot. Exact for tables made that way.
pub fn estimate_quality(luma: &[u16]) -> Option<u8> {
    if luma.len() != 64 {
        return None;
    }
    let (mut sum, mut base) = (0u64, 0u64);
    for (&v, &natural) in luma.iter().zip(&ZIGZAG) {
        if v < 255 {
            sum += u64::from(v);
            base += u64::from(LUMA_Q[natural]);
        }
    }
    if base == 0 {
        // Every entry at the 8-bit ceiling: as coarse as the scaling goes.
        return Some(1);
    }
    let scale = sum as f64 * 100.0 / base as f64;
    let q = if scale <= 100.0 {
        (200.0 - scale) / 2.0
    } else {
        5000.0 / scale
    };
    Some(q.round().clamp(1.0, 100.0) as u8)
}

/// The luma and chroma tables for Q 1-99 (RFC 2435 Appendix A: the IJG scaling), zigzag order.
fn q_tables(q: u8) -> Vec<u8> {
    let factor = u32::from(q.clamp(1, 99));
    let scale = if factor < 50 {
        5000 / factor
    } else {
        200 - factor * 2
    };
    let mut out = Vec::with_capacity(128);
    for table in [&LUMA_Q, &CHROMA_Q] {
        for &n in &ZIGZAG {
            out.push(((u32::from(table[n]) * scale + 50) / 100).clamp(1, 255) as u8);
        }
    }
    out
}

fn push_marker_segment(out: &mut Vec<u8>, marker: u8, body: &[&[u8]]) {
    let len: usize = 2 + body.iter().map(|b| b.len()).sum::<usize>();
    out.extend_from_slice(&[0xFF, marker, (len >> 8) as u8, len as u8]);
    for b in body {
        out.extend_from_slice(b);
    }
}

/// Rebuilds the JPEG file around a reassembled scan (RFC 2435 Appendix B).
fn rebuild(p: &Partial) -> JpegFrame {
    let width = u16::from(p.width8) * 8;
    let height = u16::from(p.height8) * 8;
    let mut out = Vec::with_capacity(p.scan.len() + 700);
    out.extend_from_slice(&[0xFF, 0xD8]);
    let luma_len = table_len(p.precision & 1);
    let (luma, chroma) = p.tables.split_at(luma_len.min(p.tables.len()));
    for (id, wide, table) in [
        (0u8, p.precision & 1, luma),
        (1, p.precision >> 1 & 1, chroma),
    ] {
        push_marker_segment(&mut out, 0xDB, &[&[(wide << 4) | id], table]);
    }
    let luma_sampling = if p.jpeg_type & 63 == 0 { 0x21 } else { 0x22 };
    let (h, w) = (height.to_be_bytes(), width.to_be_bytes());
    push_marker_segment(
        &mut out,
        0xC0,
        &[&[
            8,
            h[0],
            h[1],
            w[0],
            w[1],
            3,
            0,
            luma_sampling,
            0,
            1,
            0x11,
            1,
            2,
            0x11,
            1,
        ]],
    );
    use std_tables::*;
    for (class_id, counts, symbols) in [
        (0x00u8, &DC_LUMA_COUNTS, &DC_SYMBOLS[..]),
        (0x10, &AC_LUMA_COUNTS, &AC_LUMA_SYMBOLS[..]),
        (0x01, &DC_CHROMA_COUNTS, &DC_SYMBOLS[..]),
        (0x11, &AC_CHROMA_COUNTS, &AC_CHROMA_SYMBOLS[..]),
    ] {
        push_marker_segment(&mut out, 0xC4, &[&[class_id], counts, symbols]);
    }
    if p.jpeg_type >= 64 && p.restart_interval != 0 {
        // An interval of 0 means no restart markers (T.81 B.2.4.4): no DRI, as the sender's
        // frame would have had none either.
        push_marker_segment(&mut out, 0xDD, &[&p.restart_interval.to_be_bytes()]);
    }
    push_marker_segment(&mut out, 0xDA, &[&[3, 0, 0x00, 1, 0x11, 2, 0x11, 0, 63, 0]]);
    out.extend_from_slice(&p.scan);
    if !p.scan.ends_with(&[0xFF, 0xD9]) {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
    JpegFrame {
        timestamp: p.timestamp,
        data: out,
        width,
        height,
        q: Some(p.q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::tests::encode;
    use crate::rtp::packet::RtpHeader;
    use jpeg_encoder::SamplingFactor;

    pub(crate) fn decode(jpeg: &[u8]) -> Vec<u8> {
        let mut d =
            zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(jpeg));
        d.decode().expect("decodes")
    }

    fn to_packets(payloads: &Payloads, seq: u16, ts: u32) -> Vec<Vec<u8>> {
        payloads
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let h = RtpHeader {
                    marker: i + 1 == payloads.len(),
                    payload_type: 26,
                    sequence: seq.wrapping_add(i as u16),
                    timestamp: ts,
                    ssrc: 7,
                };
                let mut v = h.to_bytes().to_vec();
                v.extend_from_slice(p);
                v
            })
            .collect()
    }

    fn push_all(d: &mut Depacketizer, packets: &[Vec<u8>]) {
        for p in packets {
            let _ = d.push(&RtpPacket::new_checked(p).unwrap());
        }
    }

    #[test]
    fn header_bytes_of_first_and_later_packets() {
        let jpeg = encode(64, 32, SamplingFactor::F_2_2, None);
        let p = packetize(&jpeg, 200).unwrap();
        let first = p.get(0).unwrap();
        assert_eq!(&first[..8], &[0, 0, 0, 0, 1, 255, 8, 4]);
        assert_eq!(
            &first[8..12],
            &[0, 0, 0, 128],
            "MBZ, precision 0, 128 bytes of tables"
        );
        let second = p.get(1).unwrap();
        let data_in_first = 200 - 8 - 4 - 128;
        assert_eq!(&second[..8], &[0, 0, 0, data_in_first as u8, 1, 255, 8, 4]);
    }

    #[test]
    fn every_payload_but_the_last_is_full() {
        for mtu in [150, 600, 1400] {
            for restart in [None, Some(4)] {
                let jpeg = encode(160, 96, SamplingFactor::F_2_2, restart);
                let p = packetize(&jpeg, mtu).unwrap();
                assert!(p.len() > 1);
                for (i, payload) in p.iter().enumerate() {
                    if i + 1 < p.len() {
                        assert_eq!(payload.len(), mtu);
                    } else {
                        assert!(payload.len() <= mtu && !payload.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn round_trip_is_pixel_exact() {
        for (sampling, restart) in [
            (SamplingFactor::F_2_2, None),
            (SamplingFactor::F_2_1, None),
            (SamplingFactor::F_2_2, Some(3)),
            (SamplingFactor::F_2_1, Some(1)),
        ] {
            let jpeg = encode(96, 64, sampling, restart);
            for mtu in [160, 500, 1400, 65_000] {
                let payloads = packetize(&jpeg, mtu).unwrap();
                let mut d = Depacketizer::new(1 << 20);
                push_all(&mut d, &to_packets(&payloads, 65_530, 1234));
                let frame = d.pull().expect("a frame");
                assert_eq!((frame.width, frame.height, frame.timestamp), (96, 64, 1234));
                assert_eq!(decode(&frame.data), decode(&jpeg), "{mtu} {restart:?}");
                assert!(d.pull().is_none());
            }
        }
    }

    #[test]
    fn lost_or_reordered_packets_drop_the_frame() {
        let jpeg = encode(96, 64, SamplingFactor::F_2_2, None);
        let payloads = packetize(&jpeg, 200).unwrap();
        let packets = to_packets(&payloads, 10, 90);
        assert!(packets.len() >= 4);
        // A middle packet lost.
        let mut d = Depacketizer::new(1 << 20);
        let mut lossy = packets.clone();
        lossy.remove(2);
        push_all(&mut d, &lossy);
        assert!(d.pull().is_none());
        assert_eq!(d.dropped.lost_packets, 1);
        // The first packet lost: counted once, not per packet.
        let mut d = Depacketizer::new(1 << 20);
        push_all(&mut d, &packets[1..]);
        assert!(d.pull().is_none());
        assert_eq!(d.dropped.total(), 1);
        // Two swapped: dropped, and the next frame still comes through.
        let mut d = Depacketizer::new(1 << 20);
        let mut swapped = packets.clone();
        swapped.swap(1, 2);
        push_all(&mut d, &swapped);
        assert!(d.pull().is_none());
        push_all(
            &mut d,
            &to_packets(&payloads, 10 + packets.len() as u16, 180),
        );
        assert_eq!(d.pull().map(|f| f.timestamp), Some(180));
        // Too large for the limit.
        let mut d = Depacketizer::new(300);
        push_all(&mut d, &packets);
        assert!(d.pull().is_none());
        assert_eq!(d.dropped.too_large, 1);
    }

    #[test]
    fn q_derived_tables_match_the_rfc() {
        // RFC 2435 Appendix A lists the luma table in zigzag order starting 16, 11, 12, 14, 12, 10.
        let t = q_tables(50);
        assert_eq!(&t[..6], &[16, 11, 12, 14, 12, 10]);
        assert_eq!(t[64], 17);
        assert!(q_tables(1).iter().all(|&v| v >= 1));
        for q in 1..=99u8 {
            let luma: Vec<u16> = q_tables(q)[..64].iter().map(|&v| u16::from(v)).collect();
            let est = i32::from(estimate_quality(&luma).unwrap());
            assert_eq!(est, i32::from(q), "Q {q} estimated {est}");
        }
        assert_eq!(estimate_quality(&[255; 64]), Some(1));
        assert_eq!(estimate_quality(&[1; 3]), None);
        assert!(
            q_tables(99).iter().all(|&v| (1..=3).contains(&v)),
            "Q=99 scales the tables to 2%"
        );
    }

    #[test]
    fn q_below_128_rebuilds_a_decodable_frame() {
        let jpeg = encode(32, 32, SamplingFactor::F_2_2, None);
        let mut payload = packetize(&jpeg, 65_000).unwrap().get(0).unwrap().to_vec();
        // Replace the in-band tables by Q=50.
        payload[5] = 50;
        payload.drain(8..8 + 4 + 128);
        let mut pkt = RtpHeader {
            marker: true,
            payload_type: 26,
            sequence: 1,
            timestamp: 5,
            ssrc: 1,
        }
        .to_bytes()
        .to_vec();
        pkt.extend_from_slice(&payload);
        let mut d = Depacketizer::new(1 << 20);
        d.push(&RtpPacket::new_checked(&pkt).unwrap()).unwrap();
        let frame = d.pull().unwrap();
        assert_eq!(decode(&frame.data).len(), 32 * 32 * 3);
    }

    #[test]
    fn one_table_for_both_components_as_ffmpeg_sends_it() {
        let jpeg = encode(32, 32, SamplingFactor::F_2_2, None);
        let mut payload = packetize(&jpeg, 65_000).unwrap().get(0).unwrap().to_vec();
        // Keep only the luma table, announced as 64 bytes (what ffmpeg sends for a JPEG whose
        // components share one DQT table).
        let luma = payload[12..12 + 64].to_vec();
        payload[10..12].copy_from_slice(&64u16.to_be_bytes());
        payload.drain(12 + 64..12 + 128);
        let mut pkt = RtpHeader {
            marker: true,
            payload_type: 26,
            sequence: 1,
            timestamp: 5,
            ssrc: 1,
        }
        .to_bytes()
        .to_vec();
        pkt.extend_from_slice(&payload);
        let mut d = Depacketizer::new(1 << 20);
        d.push(&RtpPacket::new_checked(&pkt).unwrap()).unwrap();
        let frame = d.pull().expect("a frame, not MissingTables");
        let info = crate::jpeg::parse(&frame.data).unwrap();
        assert_eq!(info.width, 32);
        // Both tables in the rebuilt file are the one that came.
        let dqt: Vec<&[u8]> = frame
            .data
            .windows(5)
            .enumerate()
            .filter(|(_, w)| w[0] == 0xFF && w[1] == 0xDB)
            .map(|(i, _)| &frame.data[i + 5..i + 5 + 64])
            .collect();
        assert_eq!(dqt, vec![&luma[..], &luma[..]]);
        assert_eq!(decode(&frame.data).len(), 32 * 32 * 3);
    }

    #[test]
    fn whole_frame_payloads() {
        let jpeg = encode(32, 16, SamplingFactor::F_2_2, None);
        assert!(is_whole_jpeg(&jpeg));
        assert!(!is_whole_jpeg(
            packetize(&jpeg, 1400).unwrap().get(0).unwrap()
        ));
        let mut pkt = RtpHeader {
            marker: false,
            payload_type: 26,
            sequence: 3,
            timestamp: 0,
            ssrc: 1,
        }
        .to_bytes()
        .to_vec();
        pkt.extend_from_slice(&jpeg);
        let mut d = Depacketizer::new(1 << 20);
        d.push(&RtpPacket::new_checked(&pkt).unwrap()).unwrap();
        let f = d.pull().unwrap();
        assert_eq!(f.data, jpeg);
        assert_eq!((f.width, f.height), (32, 16));
    }

    #[test]
    fn errors() {
        let jpeg = encode(32, 32, SamplingFactor::F_1_1, None);
        assert!(matches!(
            packetize(&jpeg, 1400),
            Err(PacketizeError::NotCarriable(_))
        ));
        assert!(matches!(
            packetize(b"nope", 1400),
            Err(PacketizeError::Jpeg(_))
        ));
        let jpeg = encode(32, 32, SamplingFactor::F_2_2, None);
        assert!(matches!(
            packetize(&jpeg, 100),
            Err(PacketizeError::PayloadTooSmall { .. })
        ));
        let mut d = Depacketizer::new(1 << 20);
        let short = RtpHeader {
            marker: true,
            payload_type: 26,
            sequence: 1,
            timestamp: 5,
            ssrc: 1,
        }
        .to_bytes();
        let mut pkt = short.to_vec();
        pkt.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            d.push(&RtpPacket::new_checked(&pkt).unwrap()),
            Err(DepacketizeError::Truncated)
        );
        let mut pkt = short.to_vec();
        pkt.extend_from_slice(&[0, 0, 0, 0, 7, 50, 4, 4]);
        assert_eq!(
            d.push(&RtpPacket::new_checked(&pkt).unwrap()),
            Err(DepacketizeError::UnsupportedType(7))
        );
        let mut pkt = short.to_vec();
        pkt.extend_from_slice(&[0, 0, 0, 0, 1, 200, 4, 4, 0, 0, 0, 0]);
        assert_eq!(
            d.push(&RtpPacket::new_checked(&pkt).unwrap()),
            Err(DepacketizeError::MissingTables(200))
        );
    }

    proptest::proptest! {
        #[test]
        fn depacketizer_never_panics(packets in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 12..200), 0..20)) {
            let mut d = Depacketizer::new(4096);
            for mut p in packets {
                p[0] = 0x80;
                if let Ok(pkt) = RtpPacket::new_checked(&p) {
                    let _ = d.push(&pkt);
                }
                while let Some(f) = d.pull() {
                    // What comes out must not crash a decoder either.
                    let mut dec = zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(&f.data));
                    let _ = dec.decode();
                }
            }
        }
    }
}
