//! Fuzz harnesses for rtsp-mjpeg's parsers. Each `pub fn` takes the fuzzer's bytes and must not
//! panic; besides "no panic" each checks properties that hold for every input (marked CHECK), so
//! a wrong answer counts as a crash too. The AFL++ binaries in `fuzz_targets/` call these, and
//! so does `replay`, which runs saved inputs outside AFL.

use rtsp_mjpeg::jpeg;
use rtsp_mjpeg::media::m3u::{self, is_playlist_name, Refused};
use rtsp_mjpeg::media::movie::{Format, Movie};
use rtsp_mjpeg::rtp::jpeg::{is_whole_jpeg, packetize, Depacketizer};
use rtsp_mjpeg::rtp::packet::{RtpHeader, RtpPacket};
use rtsp_mjpeg::rtp::rtcp::{Compound, Packet};
use rtsp_mjpeg::rtsp::headers::{parse_transports, NptRange, RtpInfo, SessionHeader, Transport};
use rtsp_mjpeg::rtsp::message::{self, Limits, Message, ParseError};
use rtsp_mjpeg::rtsp::sdp::{self, MovieDescription, Sdp};

pub mod http;
pub use http::{http_request, tunnel_base64};
mod live;
pub use live::{announce, live_ingest};

/// A harness: the fuzzer's bytes in, a panic on any failure.
pub type Harness = fn(&[u8]);

/// Every target, by the name of its binary.
pub const TARGETS: &[(&str, Harness)] = &[
    ("rtsp_message", rtsp_message),
    ("rtsp_headers", rtsp_headers),
    ("sdp", sdp),
    ("rtp_packet", rtp_packet),
    ("rtcp", rtcp),
    ("rtp_jpeg_depacketize", rtp_jpeg_depacketize),
    ("jpeg_header", jpeg_header),
    ("movie_index", movie_index),
    ("m3u", m3u),
    ("adapt_reports", adapt_reports),
    ("http_request", http_request),
    ("tunnel_base64", tunnel_base64),
    ("announce", announce),
    ("live_ingest", live_ingest),
];

pub fn target(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Text targets see valid UTF-8 as is and anything else lossily converted, so no input is
/// wasted.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

// ---------------------------------------------------------------------------------------------
// RTSP messages

/// `rtsp::message::parse` and `parse_unterminated` on the bytes as a connection's receive
/// buffer: every message in it in turn (pipelining, interleaved `$` frames), under the default
/// limits and under tight ones; the typed header parsers then run on each parsed message.
pub fn rtsp_message(data: &[u8]) {
    let tight = Limits {
        max_head: 256,
        max_headers: 8,
        max_body: 64,
    };
    for limits in [Limits::default(), tight] {
        drain(data, &limits, false);
        drain(data, &limits, true);
    }
}

fn drain(data: &[u8], limits: &Limits, unterminated: bool) {
    let parse = if unterminated {
        message::parse_unterminated
    } else {
        message::parse
    };
    let mut rest = data;
    // Each round consumes at least one byte, so this ends; the cap only bounds the time.
    for _ in 0..64 {
        match parse(rest, limits) {
            Ok((msg, used)) => {
                // CHECK: a message uses some of the buffer and no more than all of it.
                assert!(
                    used > 0 && used <= rest.len(),
                    "used {used} of {}",
                    rest.len()
                );
                if !unterminated {
                    // CHECK: a complete message is self-delimiting: the same bytes alone give the
                    // same message, and parse_unterminated agrees with parse on it.
                    let again = message::parse(&rest[..used], limits);
                    assert_eq!(again, Ok((msg.clone(), used)), "prefix re-parse differs");
                    let unterm = message::parse_unterminated(rest, limits);
                    assert_eq!(
                        unterm,
                        Ok((msg.clone(), used)),
                        "parse_unterminated differs"
                    );
                }
                typed_headers(&msg);
                reserialize(&msg, limits);
                rest = &rest[used..];
                if rest.is_empty() {
                    break;
                }
            }
            Err(ParseError::Incomplete { needed }) => {
                // CHECK: when the parser says how much more it needs, that much more is
                // possible (it never asks for zero bytes).
                if let Some(n) = needed {
                    assert!(n > 0, "Incomplete asks for 0 more bytes");
                }
                break;
            }
            Err(_) => break,
        }
    }
}

fn typed_headers(msg: &Message) {
    let headers = match msg {
        Message::Request(r) => {
            let _ = r.cseq();
            let _ = r.method.as_str();
            &r.headers
        }
        Message::Response(r) => {
            let _ = r.status.canonical_reason();
            &r.headers
        }
        Message::Interleaved { .. } => return,
    };
    for (name, value) in headers.iter() {
        match name.to_ascii_lowercase().as_str() {
            "transport" => {
                let _ = parse_transports(value);
            }
            "range" => {
                let _ = NptRange::parse(value);
            }
            "rtp-info" => {
                let _ = RtpInfo::parse_list(value);
            }
            "session" => {
                let _ = SessionHeader::parse(value);
            }
            _ => {}
        }
    }
}

/// What the server writes back must itself parse (it may differ: the serializer cleans CR/LF
/// out of values and the parser trims them).
fn reserialize(msg: &Message, limits: &Limits) {
    let mut out = Vec::new();
    match msg {
        Message::Request(r) => r.write_to(&mut out),
        Message::Response(r) => r.write_to(&mut out),
        Message::Interleaved { .. } => return,
    }
    let big = Limits {
        max_head: out.len() + 1,
        max_headers: limits.max_headers.max(1) * 2,
        max_body: limits.max_body,
    };
    let _ = message::parse(&out, &big);
}

// ---------------------------------------------------------------------------------------------
// Typed headers: Transport, Range, RTP-Info, Session

/// Every typed header parser on the same value; what parses is formatted and parsed again.
pub fn rtsp_headers(data: &[u8]) {
    let value = text(data);
    let value = value.as_ref();

    if let Ok(t) = Transport::parse(value) {
        let _ = (t.is_tcp(), t.is_lab(), t.is_rtp_avp());
        let shown = t.to_string();
        // CHECK: what the server echoes back in a Transport header parses to the same
        // delivery parameters.
        let back = Transport::parse(&shown)
            .unwrap_or_else(|e| panic!("Transport {shown:?} (from {value:?}) does not parse: {e}"));
        assert_eq!(
            (
                &back.protocol,
                &back.profile,
                &back.lower,
                back.multicast,
                back.client_port,
                back.server_port,
                back.interleaved,
                back.ssrc,
                back.ttl
            ),
            (
                &t.protocol,
                &t.profile,
                &t.lower,
                t.multicast,
                t.client_port,
                t.server_port,
                t.interleaved,
                t.ssrc,
                t.ttl
            ),
            "Transport {value:?} -> {shown:?}"
        );
    }
    let _ = parse_transports(value);

    if let Ok(r) = NptRange::parse(value) {
        if let (Some(s), Some(e)) = (r.start, r.end) {
            assert!(s <= e, "range {value:?} parsed with end before start");
        }
        let shown = r.to_string();
        // CHECK: a range we send (3 decimals) parses back, open ends staying open.
        let back = NptRange::parse(&shown)
            .unwrap_or_else(|e| panic!("Range {shown:?} (from {value:?}) does not parse: {e}"));
        assert_eq!(
            (back.start.is_some(), back.end.is_some()),
            (r.start.is_some(), r.end.is_some()),
            "Range {value:?} -> {shown:?}"
        );
        for (a, b) in [(r.start, back.start), (r.end, back.end)] {
            if let (Some(a), Some(b)) = (a, b) {
                assert!(
                    (a - b).abs() <= 0.0005 + a.abs() * 1e-12,
                    "Range {value:?} -> {shown:?}: {a} became {b}"
                );
            }
        }
    }

    if let Ok(list) = RtpInfo::parse_list(value) {
        let shown = RtpInfo::format_list(&list);
        // CHECK: RTP-Info formats and parses back exactly.
        let back = RtpInfo::parse_list(&shown)
            .unwrap_or_else(|e| panic!("RTP-Info {shown:?} (from {value:?}) does not parse: {e}"));
        assert_eq!(back, list, "RTP-Info {value:?} -> {shown:?}");
    }

    if let Ok(s) = SessionHeader::parse(value) {
        let shown = s.to_string();
        // CHECK: Session formats and parses back exactly.
        let back = SessionHeader::parse(&shown)
            .unwrap_or_else(|e| panic!("Session {shown:?} (from {value:?}) does not parse: {e}"));
        assert_eq!(back, s, "Session {value:?} -> {shown:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// SDP

/// `Sdp::parse` and every accessor a player uses; then the bytes as a movie name in the
/// server's own SDP, which must parse back.
pub fn sdp(data: &[u8]) {
    let value = text(data);
    if let Ok(s) = Sdp::parse(&value) {
        let _ = s.attr("control");
        let _ = s.range();
        for m in &s.media {
            let _ = (
                m.payload_type(),
                m.encoding(),
                m.framerate(),
                m.dimensions(),
            );
            let _ = sdp::resolve_control("rtsp://127.0.0.1:8554/movie.Mjpeg", m.attr("control"));
        }
        if let Some(v) = s.video() {
            let base = s.attr("control").unwrap_or("rtsp://h/x/");
            let _ = sdp::resolve_control(base, v.attr("control"));
        }
    }

    // CHECK: whatever a movie is called, the server's SDP for it parses and describes it.
    let fps = f64::from(data.first().copied().unwrap_or(24)) / 4.0 + 0.25;
    let width = u16::from_be_bytes([data.get(1).copied().unwrap_or(2), 0x80]);
    let desc = MovieDescription {
        name: &value,
        server_addr: if data.len().is_multiple_of(2) {
            "127.0.0.1".parse().unwrap()
        } else {
            "::1".parse().unwrap()
        },
        duration: Some(data.len() as f64 / 7.0),
        fps,
        width,
        height: 480,
    };
    let text = sdp::movie_sdp(&desc);
    let s = Sdp::parse(&text).unwrap_or_else(|e| panic!("our SDP {text:?} does not parse: {e}"));
    assert_eq!(s.session_name, value.replace(['\r', '\n'], " "), "{text:?}");
    let v = s.video().unwrap_or_else(|| panic!("no video in {text:?}"));
    assert_eq!(v.payload_type(), Some(26), "{text:?}");
    assert_eq!(v.encoding().as_deref(), Some("JPEG"), "{text:?}");
    assert_eq!(v.attr("control"), Some("trackID=0"), "{text:?}");
    let got_fps = v
        .framerate()
        .unwrap_or_else(|| panic!("no framerate in {text:?}"));
    assert!((got_fps - fps).abs() < 0.001, "{fps} became {got_fps}");
    if width > 2040 {
        assert_eq!(v.dimensions(), Some((width, 480)), "{text:?}");
    }
    let range = s.range().unwrap_or_else(|| panic!("no range in {text:?}"));
    assert_eq!(range.start, Some(0.0), "{text:?}");
}

// ---------------------------------------------------------------------------------------------
// RTP and RTCP

/// `RtpPacket::new_checked` and the accessors; a valid packet's header re-serialised in front of
/// its payload must read back the same.
pub fn rtp_packet(data: &[u8]) {
    let Ok(p) = RtpPacket::new_checked(data) else {
        return;
    };
    let h = p.header();
    let payload = p.payload();
    // CHECK: the payload lies inside the datagram, after the fixed header.
    assert!(payload.len() + RtpHeader::LEN <= data.len());
    let mut again = h.to_bytes().to_vec();
    again.extend_from_slice(payload);
    let q = RtpPacket::new_checked(&again).expect("re-serialised packet does not parse");
    assert_eq!(q.header(), h);
    assert_eq!(q.payload(), payload);
    assert_eq!(
        (
            q.marker(),
            q.payload_type(),
            q.sequence(),
            q.timestamp(),
            q.ssrc()
        ),
        (
            p.marker(),
            p.payload_type(),
            p.sequence(),
            p.timestamp(),
            p.ssrc()
        )
    );
}

/// `rtcp::Compound` over a datagram; each packet that parses is written again and must parse to
/// the same report (SR, RR) or the same SSRCs (SDES, BYE).
pub fn rtcp(data: &[u8]) {
    let mut n = 0;
    for item in Compound::new(data) {
        n += 1;
        // CHECK: the iterator ends (each Ok packet is at least 4 bytes long).
        assert!(
            n <= data.len() / 4 + 1,
            "more packets than the datagram holds"
        );
        let Ok(packet) = item else { continue };
        let mut out = Vec::new();
        match &packet {
            Packet::SenderReport(sr) => sr.write(&mut out),
            Packet::ReceiverReport(rr) => rr.write(&mut out),
            Packet::Sdes(s) => s.write(&mut out),
            Packet::Bye(b) => b.write(&mut out),
            Packet::Other { .. } => continue,
        }
        let mut back = Compound::new(&out);
        let again = back
            .next()
            .unwrap_or_else(|| panic!("{packet:?} wrote nothing"))
            .unwrap_or_else(|e| panic!("{packet:?} wrote {out:02x?}, which does not parse: {e}"));
        assert!(
            back.next().is_none(),
            "{packet:?} wrote more than one packet"
        );
        match (&packet, &again) {
            (Packet::SenderReport(_), _) | (Packet::ReceiverReport(_), _) => {
                assert_eq!(again, packet)
            }
            (Packet::Sdes(a), Packet::Sdes(b)) => {
                let ssrcs = |s: &rtsp_mjpeg::rtp::rtcp::Sdes| -> Vec<u32> {
                    s.chunks.iter().map(|c| c.0).collect()
                };
                assert_eq!(ssrcs(a), ssrcs(b));
            }
            (Packet::Bye(a), Packet::Bye(b)) => assert_eq!(a.ssrcs, b.ssrcs),
            _ => panic!("{packet:?} came back as {again:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 2435 depacketizer and the JPEG it rebuilds

/// Splits the depacketizer target's input: byte 0 picks the frame size limit, then each packet
/// is a 16-bit big-endian length and that many bytes (a short last packet takes what is left).
pub fn split_packets(data: &[u8]) -> (usize, Vec<&[u8]>) {
    let max_frame = 64usize << (data.first().copied().unwrap_or(0) & 15);
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut packets = Vec::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let end = (2 + len).min(rest.len());
        packets.push(&rest[2..end]);
        rest = &rest[end..];
    }
    (max_frame, packets)
}

/// The inverse of [`split_packets`], for writing seeds.
pub fn join_packets(max_frame_shift: u8, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![max_frame_shift];
    for p in packets {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Packets through `Depacketizer::push`; every frame pulled goes to `jpeg::parse` and to
/// zune-jpeg through `jpeg::decode_rgb`, as the player does.
pub fn rtp_jpeg_depacketize(data: &[u8]) {
    let (max_frame, packets) = split_packets(data);
    let mut d = Depacketizer::new(max_frame);
    for bytes in packets {
        let Ok(packet) = RtpPacket::new_checked(bytes) else {
            continue;
        };
        let _ = d.push(&packet);
        let whole = is_whole_jpeg(packet.payload());
        while let Some(frame) = d.pull() {
            if whole {
                // CHECK: a whole-JPEG payload (the lab server's format) comes out as it went in.
                assert_eq!(frame.data, packet.payload());
            } else {
                // CHECK: a rebuilt frame is a JPEG whose headers parse, at the size the RFC 2435
                // header said, within the frame limit plus the headers rebuild adds.
                let info = jpeg::parse(&frame.data).unwrap_or_else(|e| {
                    panic!("rebuilt frame does not parse: {e}: {:02x?}", frame.data)
                });
                assert_eq!((info.width, info.height), (frame.width, frame.height));
                assert!(frame.data.len() <= max_frame + 1024, "frame over the limit");
            }
            let _ = jpeg::decode_rgb(&frame.data);
        }
    }
    let _ = d.dropped.total();
}

/// `jpeg::parse`, `sampling`, `carriable`; a carriable JPEG is packetized, depacketized and must
/// come back as one frame, which decodes to the same pixels as the original whenever both decode.
pub fn jpeg_header(data: &[u8]) {
    let Ok(info) = jpeg::parse(data) else {
        return;
    };
    // CHECK: the scan lies inside the data, after the headers.
    assert!(info.scan.start <= info.scan.end && info.scan.end <= data.len());
    let _ = info.sampling().to_string();
    let Ok(params) = info.carriable() else {
        return;
    };
    assert_eq!(
        (u16::from(params.width8) * 8, u16::from(params.height8) * 8),
        (info.width, info.height)
    );
    // Small packets exercise fragmentation; big ones the single-packet case.
    let max_payload = 8 + 4 + 4 + params.tables.len() + 1 + usize::from(data[data.len() - 1] & 63);
    let mut frames = Vec::new();
    for max_payload in [max_payload, 1400] {
        let payloads = match packetize(data, max_payload) {
            Ok(p) => p,
            Err(e) => panic!("carriable JPEG does not packetize at {max_payload}: {e}"),
        };
        let mut d = Depacketizer::new(1 << 24);
        let n = payloads.len();
        for (i, payload) in payloads.iter().enumerate() {
            assert!(payload.len() <= max_payload);
            let header = RtpHeader {
                marker: i + 1 == n,
                payload_type: 26,
                sequence: 65530u16.wrapping_add(i as u16),
                timestamp: 90_000,
                ssrc: 1,
            };
            let mut bytes = header.to_bytes().to_vec();
            bytes.extend_from_slice(payload);
            let packet = RtpPacket::new_checked(&bytes).unwrap();
            d.push(&packet)
                .unwrap_or_else(|e| panic!("our own payload {i} of {n} is refused: {e}"));
        }
        // CHECK: what packetize makes, the depacketizer puts back together, once.
        let frame = d.pull().expect("packetized frame does not come back");
        assert!(d.pull().is_none(), "one frame came back as two");
        assert_eq!(d.dropped.total(), 0);
        assert_eq!((frame.width, frame.height), (info.width, info.height));
        frames.push(frame.data);
    }
    // CHECK: the packet size does not change the frame.
    assert_eq!(frames[0], frames[1], "frame depends on the packet size");

    // Only a well-formed file whose one scan runs to the EOI that ends it is compared: a scan
    // cut by some other marker (a corrupt stream, or a second scan) is sent up to that marker,
    // which is all RFC 2435 can do, and decoders differ on what such a file shows. Decoding is
    // the slow part, so only small pictures are compared.
    let whole_scan = info.has_eoi && info.scan.end + 2 == data.len();
    if whole_scan && usize::from(info.width) * usize::from(info.height) <= 256 * 256 {
        if let (Ok(a), Ok(b)) = (jpeg::decode_rgb(data), jpeg::decode_rgb(&frames[0])) {
            // CHECK: RFC 2435 carries the picture exactly (it moves the same entropy-coded scan
            // and the same tables).
            assert_eq!((a.width, a.height), (b.width, b.height));
            if a.pixels != b.pixels {
                // Name the causes found so far apart from any new one, for triage (see
                // tests/fuzz_regressions.rs).
                let cause = known_cause(data, &info).unwrap_or("cause not seen before");
                panic!("RFC 2435 round trip changes pixels: {cause}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MJPEG indexer

/// `Movie::from_bytes` (lab 5-digit and raw formats) and everything a session reads from it.
pub fn movie_index(data: &[u8]) {
    let Ok(movie) = Movie::from_bytes("fuzz.mjpeg", data.to_vec()) else {
        return;
    };
    let n = movie.frame_count();
    assert!(n > 0);
    let mut total = 0;
    for (i, frame) in movie.frames().enumerate() {
        // CHECK: every indexed frame is a JPEG, and the shared view is the same bytes.
        assert!(frame.starts_with(&[0xFF, 0xD8]), "frame {i} is not a JPEG");
        assert_eq!(Some(frame), movie.frame(i));
        assert_eq!(frame, &*movie.frame_shared(i).unwrap());
        total += frame.len();
        let _ = jpeg::parse(frame).map(|info| info.carriable());
    }
    assert!(movie.frame(n).is_none());
    // CHECK: the frames (and the lab format's 5-digit lengths) account for every byte.
    let overhead = match movie.format() {
        Format::Lab => 5 * n,
        Format::Raw => 0,
    };
    assert_eq!(total + overhead, movie.total_bytes());
    assert_eq!(movie.total_bytes(), data.len());
    let (min, med, max) = movie.frame_len_stats();
    assert!(min <= med && med <= max);
}

// ---------------------------------------------------------------------------------------------
// M3U playlists

/// The media folder's absolute path for `entry_name`.
const ROOT: &str = "/srv/media";

/// `m3u::parse` under the default limits and tight ones, and `m3u::entry_name` on every entry
/// it gives, from a playlist at the top of the folder and from one two folders down.
pub fn m3u(data: &[u8]) {
    let tight = m3u::Limits {
        max_bytes: 256,
        max_line: 32,
        max_entries: 4,
        max_problems: 2,
    };
    for limits in [m3u::Limits::default(), tight] {
        let p = m3u::parse(data, &limits);
        // CHECK: nothing kept beyond the limits, and a cut only when over, at a line's end.
        assert!(p.entries.len() <= limits.max_entries);
        assert!(p.problems.len() <= limits.max_problems);
        match p.cut_at {
            Some(at) => assert!(
                data.len() > limits.max_bytes
                    && at <= limits.max_bytes
                    && (at == 0 || data[at - 1] == b'\n'),
                "cut at {at} of {}",
                data.len()
            ),
            None => assert!(data.len() <= limits.max_bytes),
        }
        let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
        let mut last_line = 0;
        for e in &p.entries {
            // CHECK: an entry is one trimmed, non-empty, non-comment line within the limit,
            // and entries come in line order.
            assert!(e.line > last_line && e.line <= lines, "line {}", e.line);
            last_line = e.line;
            assert!(!e.path.is_empty() && !e.path.starts_with('#'));
            assert_eq!(e.path.trim(), e.path);
            assert!(!e.path.contains('\n') && e.path.len() <= limits.max_line);
            check_entry_name(&e.path);
        }
        // CHECK: the entries written one a line read back the same.
        let mut again = String::from("#EXTM3U\n");
        for e in &p.entries {
            again.push_str(&e.path);
            again.push('\n');
        }
        let big = m3u::Limits {
            max_bytes: usize::MAX,
            ..limits
        };
        let back: Vec<String> = m3u::parse(again.as_bytes(), &big)
            .entries
            .into_iter()
            .map(|e| e.path)
            .collect();
        let paths: Vec<&String> = p.entries.iter().map(|e| &e.path).collect();
        assert!(back.iter().eq(paths), "entries do not read back");
        // CHECK: fewer entries allowed gives a prefix, and counts the rest.
        if !p.entries.is_empty() {
            let fewer = m3u::Limits {
                max_entries: p.entries.len() - 1,
                ..limits
            };
            let q = m3u::parse(data, &fewer);
            assert_eq!(q.entries[..], p.entries[..p.entries.len() - 1]);
            assert_eq!(q.entries_ignored, p.entries_ignored + 1);
        }
    }
}

fn check_entry_name(entry: &str) {
    for playlist in ["list.m3u", "a/b/list.m3u8"] {
        match m3u::entry_name(playlist, entry, ROOT) {
            Ok(name) => {
                // CHECK: a name is relative, of plain parts, not a playlist, and stays itself
                // when named again from the top of the folder.
                assert!(!name.is_empty() && !name.starts_with('/'), "{name:?}");
                assert!(
                    name.split('/').all(|c| !matches!(c, "" | "." | "..")),
                    "{name:?} from {entry:?}"
                );
                assert!(!is_playlist_name(&name));
                assert_eq!(m3u::entry_name("x.m3u", &name, ROOT), Ok(name.clone()));
                // CHECK: only `..` leaves the playlist's own folder.
                let dir = playlist.rsplit_once('/').map_or("", |(d, _)| d);
                if !entry.starts_with('/') && !entry.contains("..") && !dir.is_empty() {
                    assert!(name.starts_with(&format!("{dir}/")), "{name:?}");
                }
            }
            // CHECK: climbing out takes a `..`.
            Err(Refused::Escapes) => assert!(entry.contains("..")),
            Err(Refused::Absolute) => assert!(entry.starts_with('/')),
            Err(_) => {}
        }
    }
}

/// Why a carriable JPEG's RFC 2435 round trip changed its pixels, when it is a cause already
/// found (each has a test in tests/fuzz_regressions.rs).
fn known_cause(data: &[u8], info: &jpeg::JpegInfo) -> Option<&'static str> {
    let headers = &data[..info.scan.start];
    let c = &info.components;
    if odd_scan_header(data, info) {
        Some("scan header is not the fixed one RFC 2435 receivers rebuild")
    } else if headers.windows(2).any(|w| w == [0xFF, 0x00]) {
        Some("FF 00 between header segments, which jpeg::parse skips as a segment")
    } else if c.iter().map(|c| c.id).eq(*b"RGB") {
        Some("component ids R G B, which decoders take for RGB")
    } else if headers
        .windows(7)
        .any(|w| w == [0xFF, 0xEE, 0, 14, b'A', b'd', b'o'])
    {
        Some("Adobe APP14 segment, whose transform flag can say RGB")
    } else {
        None
    }
}

/// Whether the SOS header before the scan differs from the one RFC 2435 receivers rebuild: the
/// three SOF components in order, luma on Huffman tables 0/0 and chroma 1/1, Ss 0, Se 63, Ah/Al 0.
fn odd_scan_header(data: &[u8], info: &jpeg::JpegInfo) -> bool {
    let Some(sos) = (1..=4usize).find_map(|n| {
        let at = info.scan.start.checked_sub(2 + 6 + 2 * n)?;
        let seg = data.get(at..info.scan.start)?;
        let len = usize::from(u16::from_be_bytes([seg[2], seg[3]]));
        (seg[..2] == [0xFF, 0xDA] && len == 6 + 2 * n && usize::from(seg[4]) == n)
            .then_some(&seg[4..])
    }) else {
        return true;
    };
    let c = &info.components;
    sos != [3, c[0].id, 0x00, c[1].id, 0x11, c[2].id, 0x11, 0, 63, 0]
}

// ---------------------------------------------------------------------------------------------
// Adaptive streaming fed what receivers report

/// The adaptive rate controller and shaper driven by arbitrary feedback. Byte 0 sets a
/// `Bandwidth:` cap (odd: a cap of that many 10 kbit/s; even: none); then every 8 bytes are one
/// step: time passing (up to 5 s), bits sent, then a receiver report (any fraction lost, any
/// round trip), a TCP queue sample (any backlog and bytes written) or a frame dropped at the
/// queue; then one frame slot for the shaper with two candidates of any size.
/// CHECK: the rate is a number, never under the 64 kbit/s floor (a session always streams)
/// and never over the cap; the shaper only sends a candidate it was offered.
pub fn adapt_reports(data: &[u8]) {
    use rtsp_mjpeg::server::adapt::controller::RateController;
    use rtsp_mjpeg::server::adapt::shaper::{Candidate, Shaper};
    use std::time::{Duration, Instant};
    const FLOOR: f64 = 64_000.0;
    let Some((&first, steps)) = data.split_first() else {
        return;
    };
    let mut t = Instant::now();
    let mut c = RateController::new(4.8e6, FLOOR, t);
    let cap = (first & 1 == 1).then(|| f64::from(first) * 10_000.0);
    c.set_cap(cap);
    let mut shaper = Shaper::default();
    let mut written = 0u64;
    for step in steps.chunks(8) {
        let b = |i: usize| step.get(i).copied().unwrap_or(0);
        t += Duration::from_millis(u64::from(b(0)) * 20);
        c.on_sent(f64::from(u16::from_be_bytes([b(1), b(2)])) * 100.0);
        match b(3) % 3 {
            0 => {
                let rtt = (b(5) > 0).then(|| Duration::from_millis(u64::from(b(5)) * 40));
                c.on_report(t, f64::from(b(4)) / 256.0, rtt);
            }
            1 => {
                written += u64::from(b(6)) * 1000;
                c.on_queue(
                    t,
                    usize::from(b(4)) * 4000,
                    usize::from(b(5)) * 4000,
                    written,
                );
            }
            _ => c.on_queue_drop(),
        }
        let rate = c.rate();
        assert!(rate.is_finite(), "rate {rate}");
        assert!(rate >= FLOOR - 1e-6, "rate {rate} under the floor");
        if let Some(cap) = cap {
            assert!(
                rate <= cap.max(FLOOR) + 1e-6,
                "rate {rate} over the cap {cap}"
            );
        }
        let candidates = [
            Candidate {
                variant: 0,
                bits: f64::from(b(6)) * 2000.0 + 1.0,
            },
            Candidate {
                variant: 1,
                bits: f64::from(b(7)) * 500.0 + 1.0,
            },
        ];
        if let Some(p) = shaper.choose(t, rate, Duration::from_millis(41), &candidates) {
            assert!(candidates.contains(&p), "{p:?} was not offered");
        }
    }
}
