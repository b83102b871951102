//! RFC 2435 round trip on real files: every frame packetized, reassembled from its packets and
//! decoded must give exactly the pixels of the source frame. On the built-in test movie, the
//! seed's movie.Mjpeg, and a file made by ffmpeg's own MJPEG encoder with standard tables.

mod common;

use std::process::Command;

use common::{have_tool, seed_movie, TempDir};
use rtsp_mjpeg::jpeg::{self, decode_rgb};
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::rtp::jpeg::{packetize, Depacketizer, DEFAULT_MAX_PAYLOAD};
use rtsp_mjpeg::rtp::packet::{RtpHeader, RtpPacket};

/// Sends every frame of `movie` through the packetizer and depacketizer (with sequence numbers
/// that wrap on the way) and compares the decoded pixels. Returns the number of packets.
fn round_trip(movie: &Movie, what: &str) -> usize {
    let mut d = Depacketizer::new(8 << 20);
    let mut seq: u16 = 65_000;
    let mut packets = 0;
    for (i, frame) in movie.frames().enumerate() {
        jpeg::parse(frame)
            .unwrap()
            .carriable()
            .unwrap_or_else(|e| panic!("{what} frame {i}: {e}"));
        let payloads = packetize(frame, DEFAULT_MAX_PAYLOAD).unwrap();
        let ts = (i as u32).wrapping_mul(3750);
        for (k, p) in payloads.iter().enumerate() {
            assert!(p.len() <= DEFAULT_MAX_PAYLOAD);
            let mut bytes = RtpHeader {
                marker: k + 1 == payloads.len(),
                payload_type: 26,
                sequence: seq,
                timestamp: ts,
                ssrc: 0x1234_5678,
            }
            .to_bytes()
            .to_vec();
            bytes.extend_from_slice(p);
            seq = seq.wrapping_add(1);
            packets += 1;
            d.push(&RtpPacket::new_checked(&bytes).unwrap()).unwrap();
        }
        let out = d
            .pull()
            .unwrap_or_else(|| panic!("{what} frame {i}: no frame"));
        assert_eq!(out.timestamp, ts);
        let want = decode_rgb(frame).unwrap();
        let got = decode_rgb(&out.data)
            .unwrap_or_else(|e| panic!("{what} frame {i}: rebuilt JPEG does not decode: {e}"));
        assert_eq!((got.width, got.height), (want.width, want.height));
        assert!(
            got.pixels == want.pixels,
            "{what} frame {i}: pixels differ after the round trip"
        );
    }
    assert_eq!(d.dropped.total(), 0, "{what}: {:?}", d.dropped);
    packets
}

#[test]
fn built_in_test_movie_round_trips_pixel_exact() {
    let movie = TestMovie {
        seconds: 2.0,
        ..TestMovie::default()
    };
    let m = Movie::from_bytes("test", movie.to_lab_bytes()).unwrap();
    assert_eq!(m.frame_count(), 48);
    round_trip(&m, "test movie");
}

#[test]
fn seed_movie_round_trips_pixel_exact() {
    let Some(path) = seed_movie("seed_movie_round_trips_pixel_exact") else {
        return;
    };
    let m = Movie::open(&path).unwrap();
    assert!(m.frame_count() > 100);
    let packets = round_trip(&m, "seed movie");
    assert!(packets > m.frame_count() * 5);
}

#[test]
fn ffmpeg_made_file_round_trips_pixel_exact() {
    if !have_tool("ffmpeg", "ffmpeg_made_file_round_trips_pixel_exact") {
        return;
    }
    let dir = TempDir::new("ffmjpeg");
    let out = dir.0.join("clip.mjpeg");
    // ffmpeg's MJPEG encoder: 4:2:0 and the standard Huffman tables, as RFC 2435 needs.
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "testsrc=duration=2:size=352x288:rate=25"])
        .args([
            "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-huffman", "default",
        ])
        .args(["-q:v", "3", "-f", "mjpeg"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let m = Movie::open(&out).unwrap();
    assert_eq!(m.frame_count(), 50);
    round_trip(&m, "ffmpeg file");

    // The same encoder's default (optimized Huffman tables) must be reported, not streamed.
    let optimal = dir.0.join("optimal.mjpeg");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "testsrc=duration=0.2:size=352x288:rate=25"])
        .args(["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-f", "mjpeg"])
        .arg(&optimal)
        .status()
        .unwrap();
    assert!(status.success());
    let m = Movie::open(&optimal).unwrap();
    let why = jpeg::parse(m.frame(0).unwrap())
        .unwrap()
        .carriable()
        .unwrap_err();
    assert!(why.to_string().contains("Huffman"), "{why}");
}
