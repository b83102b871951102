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

/// Target jpeg_header: a JPEG that `carriable()` accepts must come out of the RFC 2435 round
/// trip with the same pixels (or be refused).
///
/// Found 2026-11-25: `carriable()` never looks at the SOS header, but an RFC 2435 receiver
/// rebuilds a fixed one (components in SOF order, luma on Huffman tables 0/0, chroma on 1/1,
/// Ss 0, Se 63, Ah/Al 0). `sos-luma-ac-table-1.jpg` is a 16x16 4:2:0 baseline JPEG (standard
/// tables) whose scan codes luma with AC table 1 (SOS `03 00 01 01 11 02 11 00 3f 00`, valid
/// T.81): it is accepted and sent, and the receiver shows different pixels.
#[test]
fn carriable_jpeg_round_trips_pixel_exact_or_is_refused() {
    for name in ["sos-luma-ac-table-1.jpg"] {
        let data = input("jpeg_header", name);
        let info = jpeg::parse(&data).unwrap();
        if info.carriable().is_err() {
            continue; // refusing it is a fix too
        }
        let rebuilt = rfc2435_round_trip(&data);
        let (a, b) = (decode_rgb(&data).unwrap(), decode_rgb(&rebuilt).unwrap());
        assert_eq!((a.width, a.height), (b.width, b.height), "{name}");
        assert!(
            a.pixels == b.pixels,
            "{name}: carriable, but the RFC 2435 round trip changes pixels"
        );
    }
}
