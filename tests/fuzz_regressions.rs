//! What the fuzzers in fuzz/ found (scripts/fuzz.sh; fuzz/README.md lists the runs), kept as
//! regression tests. Each input is a file under tests/fuzz-corpus/<target>/, named after what it
//! does; each test checks what that fuzz target checks. A test marked `#[ignore = "fuzz finding:
//! ..."]` fails until the finding is fixed; then drop the `ignore`.

use std::path::PathBuf;

use rtsp_mjpeg::jpeg::{self, decode_rgb};
use rtsp_mjpeg::rtp::jpeg::{packetize, Depacketizer};
use rtsp_mjpeg::rtp::packet::{RtpHeader, RtpPacket};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target)
}

fn input(target: &str, name: &str) -> Vec<u8> {
    let path = corpus_dir(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The frame a receiver rebuilds from the RTP packets `packetize` makes of `jpeg`.
fn rfc2435_round_trip(jpeg: &[u8]) -> Vec<u8> {
    let payloads = packetize(jpeg, 1400).expect("carriable JPEG packetizes");
    let mut d = Depacketizer::new(1 << 24);
    let n = payloads.len();
    for (i, payload) in payloads.iter().enumerate() {
        let header = RtpHeader {
            marker: i + 1 == n,
            payload_type: 26,
            sequence: i as u16,
            timestamp: 0,
            ssrc: 1,
        };
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(payload);
        d.push(&RtpPacket::new_checked(&bytes).unwrap()).unwrap();
    }
    d.pull().expect("the frame comes back").data
}

/// Target jpeg_header's property: a JPEG that `carriable()` accepts comes out of the RFC 2435
/// round trip with the same pixels, or is refused. Checks every input in
/// tests/fuzz-corpus/jpeg_header/<dir>/.
fn round_trips_pixel_exact_or_is_refused(dir: &str) {
    let dir = format!("jpeg_header/{dir}");
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir(&dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no inputs in {dir}");
    let mut failed = Vec::new();
    for name in &names {
        let data = input(&dir, name);
        let Ok(info) = jpeg::parse(&data) else {
            continue;
        };
        if info.carriable().is_err() {
            continue; // refusing it is a fix too
        }
        let rebuilt = rfc2435_round_trip(&data);
        if let (Ok(a), Ok(b)) = (decode_rgb(&data), decode_rgb(&rebuilt)) {
            if (a.width, a.height, &a.pixels) != (b.width, b.height, &b.pixels) {
                failed.push(name.clone());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{dir}: carriable, but the RFC 2435 round trip changes pixels: {failed:?}"
    );
}

/// Found 2026-11-25 by jpeg_header (AFL++, 63 crashes in 10 minutes, all this cause):
/// `carriable()` did not look at the SOS header, but an RFC 2435 receiver rebuilds a fixed one
/// (the three components in frame order, luma on Huffman tables 0/0, chroma on 1/1, Ss 0, Se 63,
/// Ah/Al 0), so such a frame was sent and shown with other pixels. Fixed in 8b1d64c. Inputs,
/// all baseline 4:2:0 with the standard tables:
/// - `sos-luma-ac-table-1.jpg`: 16x16 whose scan codes luma with AC table 1 (SOS
///   `03 00 01 01 11 02 11 00 3f 00`, valid T.81), made by hand from the seed.
/// - `afl-sos-chroma-table-selectors.jpg`: Cr on DC table 1, AC table 0 (`02 10`).
/// - `afl-sos-components-out-of-order.jpg`: the scan lists component 1 before 0.
/// - `afl-sos-spectral-end-61.jpg`: Se 61 instead of 63.
/// - `afl-sos-luma-only-scan.jpg`: a one-component scan of a three-component frame.
#[test]
fn scan_header_rfc2435_cannot_carry_is_refused() {
    round_trips_pixel_exact_or_is_refused("scan-header");
}

/// Found 2026-11-25 by jpeg_header (AFL++, resumed run on 8b1d64c): `jpeg::parse` reads
/// `FF 00` between header segments as a marker with a length and skips that many bytes, but
/// `FF 00` is not a marker (T.81 B.1.1.2) and decoders do not skip it: zune-jpeg (like libjpeg)
/// passes over it and reads the next real marker. A DHT inside the "segment" is used by the
/// decoder and never seen by `carriable()`, which then calls custom tables standard.
/// - `ff00-hides-luma-ac-dht.jpg`: the 16x16 4:2:0 seed with `FF 00 00 B9` + a DHT giving luma
///   AC table 0 the chroma AC codes, just before SOS.
/// - `afl-ff00-segment-{1,2}.jpg`: the fuzzer's inputs (`FF 00 00 DE` / `FF 00 00 CC` around a
///   luma AC DHT).
#[test]
fn ff00_in_headers_does_not_hide_tables() {
    round_trips_pixel_exact_or_is_refused("ff00-segment");
}

/// Found 2026-11-25 while triaging jpeg_header's pixel check (not by the fuzzer itself): a frame
/// that says its three components are RGB, not YCbCr, is carriable, but RFC 2435 cannot say so
/// and the receiver's rebuilt frame (component ids 0, 1, 2, no APP14) decodes as YCbCr.
/// - `component-ids-rgb.jpg`: the 16x16 seed with component ids 'R' 'G' 'B' (zune-jpeg, jpegli
///   and, without JFIF, libjpeg take these for RGB).
/// - `adobe-app14-transform-0.jpg`: the seed with an Adobe APP14 segment, transform 0 (RGB).
#[test]
fn rgb_coded_jpeg_is_refused() {
    round_trips_pixel_exact_or_is_refused("rgb-colour");
}

/// Found 2026-12-02 by the m3u target's checks on its own seeds, before any fuzzing: an entry
/// `.` in a playlist in folder `a/b` became the name `a/b`, the folder itself (harmless, as
/// `Catalog::resolve` then refused it as "not a file", but not a file name either).
/// `m3u::entry_name` now refuses every entry that ends in a folder (`.`, `..`, `/`).
/// - `folder-entries.m3u`: such entries, every one refused.
/// - `hostile_paths.m3u`, `binary.m3u`, `extended_bom_crlf.m3u8`: the target's seeds of
///   traversal, absolute paths, URLs, nested playlists, junk bytes, a BOM and CRLF; each is
///   checked as the target checks it.
#[test]
fn m3u_entries_name_files_inside_the_folder() {
    use rtsp_mjpeg::media::m3u::{self, Limits, Refused};
    let dir = corpus_dir("m3u");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 4, "inputs in {}", dir.display());
    for file in &names {
        let data = input("m3u", file);
        let limits = Limits::default();
        let p = m3u::parse(&data, &limits);
        assert!(p.entries.len() <= limits.max_entries && p.problems.len() <= limits.max_problems);
        for e in &p.entries {
            assert!(!e.path.is_empty() && !e.path.starts_with('#'), "{file}");
            for playlist in ["list.m3u", "a/b/list.m3u8"] {
                let r = m3u::entry_name(playlist, &e.path, "/srv/media");
                if file == "folder-entries.m3u" {
                    assert_eq!(r, Err(Refused::NoFile), "{file}: {:?}", e.path);
                }
                let Ok(name) = r else { continue };
                assert!(!name.starts_with('/'), "{file}: {name:?}");
                assert!(
                    name.split('/').all(|c| !matches!(c, "" | "." | "..")),
                    "{file}: {:?} gave {name:?}",
                    e.path
                );
                assert!(!m3u::is_playlist_name(&name), "{file}: {name:?}");
                if playlist.starts_with("a/b/")
                    && !e.path.contains("..")
                    && !e.path.starts_with('/')
                {
                    assert!(name.starts_with("a/b/"), "{file}: {name:?}");
                }
            }
        }
    }
}

fn http_refusal(name: &str) -> Result<(), rtsp_mjpeg::http::request::ParseError> {
    use rtsp_mjpeg::http::request::parse_head;
    let data = input("http_request", name);
    let limits = rtsp_mjpeg::rtsp::message::Limits::default();
    // As the http_request target checks: no prefix of the input is a whole request.
    for cut in 0..data.len() {
        assert!(
            parse_head(&data[..cut], &limits).is_err(),
            "{name}: a prefix of {cut} bytes parsed"
        );
    }
    parse_head(&data, &limits).map(|_| ())
}

/// Hostile requests the http_request target was seeded with (made by hand, from the ways
/// servers and proxies have read one request two ways; AFL++ found nothing more in its runs,
/// fuzz/README.md): each is refused, so nothing behind rtspd can frame it differently.
/// - `smuggle-cl-and-te.txt`: Content-Length and Transfer-Encoding both (501, closed).
/// - `smuggle-two-lengths.txt`: two Content-Length values (400).
/// - `space-before-colon.txt`: `Transfer-Encoding :` (400, RFC 9112 §5.1).
/// - `obs-fold.txt`: a folded line that would hide a header (400, §5.2).
/// - `bare-cr-in-value.txt`: a CR alone inside a value (400).
/// - `huge-content-length.txt`: 20 digits (400, not an overflow).
/// - `nul-and-dots-in-path.txt`: a well-formed head whose path decodes to `../secret\0`: the
///   target parser refuses the NUL (and the catalogue `..`).
#[test]
fn hostile_http_requests_are_refused() {
    use rtsp_mjpeg::http::request::ParseError::*;
    assert_eq!(
        http_refusal("smuggle-cl-and-te.txt"),
        Err(UnsupportedTransferCoding)
    );
    assert_eq!(
        http_refusal("smuggle-two-lengths.txt"),
        Err(Invalid("Content-Length values differ"))
    );
    assert_eq!(
        http_refusal("space-before-colon.txt"),
        Err(Invalid("bad header name"))
    );
    assert_eq!(
        http_refusal("obs-fold.txt"),
        Err(Invalid("obsolete line folding"))
    );
    assert_eq!(
        http_refusal("bare-cr-in-value.txt"),
        Err(Invalid("control character in a header value"))
    );
    assert_eq!(
        http_refusal("huge-content-length.txt"),
        Err(Invalid("bad Content-Length"))
    );
    assert_eq!(http_refusal("nul-and-dots-in-path.txt"), Ok(()));
    let data = input("http_request", "nul-and-dots-in-path.txt");
    let (req, _) = rtsp_mjpeg::http::request::parse_head(&data, &Default::default()).unwrap();
    assert!(rtsp_mjpeg::http::url::parse_target(&req.target).is_err());
}

/// Tunnel bodies the tunnel_base64 target was seeded with: each decodes the same whole and a
/// byte at a time (the target's check), to these bytes or this error.
/// - `padding-mid-stream.b64`: two requests encoded one by one, `==` then CRLF mid-stream.
/// - `data-after-padding.b64`: `=X` (a misplaced pad: the POST is closed).
/// - `raw-interleaved-rtcp.bin`: an RTCP report sent raw, not base64 (closed at byte 0).
#[test]
fn tunnel_bodies_decode_the_same_in_any_pieces() {
    use rtsp_mjpeg::http::tunnel::{Base64Error, Base64Reader};
    let decode = |data: &[u8], piece: usize| {
        let mut r = Base64Reader::new();
        let mut out = Vec::new();
        for c in data.chunks(piece) {
            r.push(c, &mut out)?;
        }
        Ok::<_, Base64Error>(out)
    };
    for (name, want) in [
        ("padding-mid-stream.b64", Ok(b"OPTIONSOPT".to_vec())),
        (
            "data-after-padding.b64",
            Err(Base64Error::BadPadding { at: 7 }),
        ),
        (
            "raw-interleaved-rtcp.bin",
            Err(Base64Error::BadCharacter { byte: b'$', at: 0 }),
        ),
    ] {
        let data = input("tunnel_base64", name);
        assert_eq!(decode(&data, data.len().max(1)), want, "{name}");
        assert_eq!(decode(&data, 1), want, "{name}, a byte at a time");
    }
}

/// Found 2026-12-02 by announce (AFL++, 119 crashing inputs in 10 minutes, one cause): an
/// announced `a=rtpmap` with a control character in it (`H265/90001\r...`, `H26\0 90000`) gave
/// the track its codec, while the line itself was dropped from what readers are told, so readers
/// got a dynamic payload type with no rtpmap. Fixed: attributes with control characters are
/// dropped before anything reads them, and a dynamic payload type without an rtpmap is not
/// served. The check: for every input that is accepted, what readers get, announced again, names
/// the same codec and the same media lines.
#[test]
fn announced_codec_is_what_readers_are_told() {
    use rtsp_mjpeg::server::live::{Announced, Limits};
    let dir = corpus_dir("announce");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for path in names {
        let data = std::fs::read(&path).unwrap();
        let Ok(a) = Announced::parse(&data, &Limits::default()) else {
            continue; // refusing it is a fix too
        };
        let t = a.served_track();
        let sdp = a.reader_sdp("live/cam", "127.0.0.1".parse().unwrap(), 24.0);
        let again = Announced::parse(sdp.as_bytes(), &Limits::default()).unwrap();
        let u = again.served_track();
        let pt = if t.is_jpeg() { 26 } else { t.payload_type };
        assert_eq!(u.payload_type, pt, "{}", path.display());
        if !t.is_jpeg() {
            assert_eq!(
                (&u.encoding, &u.lines),
                (&t.encoding, &t.lines),
                "{}",
                path.display()
            );
        }
    }
}

/// Found 2026-12-02 by live_ingest (AFL++, 3 inputs, one cause): a publisher's RFC 2435 frame of
/// type 64/65 with a restart interval of 0 was rebuilt with `DRI 0`, which rtspd's packetizer
/// (rightly: 0 means no restart markers) then sends as type 0/1, so what readers rebuilt differed
/// from what rtspd had taken in (the same pixels, other bytes). Fixed: the depacketizer writes no
/// DRI for an interval of 0. The check: each frame the publisher's packets make comes back
/// byte for byte through rtspd's own payloads.
#[test]
fn restart_interval_zero_re_packetizes_byte_for_byte() {
    use rtsp_mjpeg::server::live::Ingest;
    let data = input("live_ingest", "afl-restart-interval-zero.bin");
    let max_frame = 64usize << (data[0] & 15);
    let mut ingest = Ingest::jpeg(max_frame, 1400, data[0] & 0x20 != 0);
    let mut rest = &data[1..];
    let now = std::time::Instant::now();
    let mut frames = 0;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let end = (2 + len).min(rest.len());
        ingest.push(&rest[2..end], now);
        rest = &rest[end..];
        while let Some((frame, _)) = ingest.pull() {
            frames += 1;
            let mut d = Depacketizer::new(1 << 24);
            let n = frame.payloads.len();
            for (i, p) in frame.payloads.iter().enumerate() {
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
                d.push(&RtpPacket::new_checked(&bytes).unwrap()).unwrap();
            }
            assert_eq!(d.pull().unwrap().data, frame.jpeg);
        }
    }
    assert!(frames > 0, "the input makes a frame");
}
