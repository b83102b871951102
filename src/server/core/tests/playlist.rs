//! A playlist through the core: one RTP stream across entries of different sizes, rates and
//! tables (issue 14).
use super::*;
use crate::rtsp::headers::{NptRange, RtpInfo};

/// The fixture's movie.Mjpeg (12 frames, 160x128 at 24 fps: 0.5 s), then b.Mjpeg (6 frames,
/// 128x96 at 12 fps from its sidecar, quality 30: 0.5 s), as list.m3u.
fn second_entry() -> TestMovie {
    TestMovie {
        seconds: 0.5,
        width: 128,
        height: 96,
        fps: 12,
        quality: 30,
    }
}

fn playlist_fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let f = fixture(tweak);
    let dir = &f._dir.0;
    std::fs::write(dir.join("b.Mjpeg"), second_entry().to_lab_bytes()).unwrap();
    std::fs::write(dir.join("b.Mjpeg.fps"), "12\n").unwrap();
    std::fs::write(
        dir.join("list.m3u"),
        "#EXTM3U\r\n#EXTINF:0.5,one\r\nmovie.Mjpeg\r\n../escape.Mjpeg\r\nb.Mjpeg\r\n",
    )
    .unwrap();
    f
}

const URL: &str = "rtsp://127.0.0.1:8554/list.m3u";

fn setup_play(f: &mut Fixture, range: Option<&str>) -> Response {
    let t0 = f.t0;
    let r = f.request(
        t0,
        &format!("SETUP {URL}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n"),
    );
    assert_eq!(r.status, StatusCode::OK);
    let id = session_of(&r);
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    let r = f.request(
        t0,
        &format!("PLAY {URL} RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n{range}\r\n"),
    );
    assert_eq!(r.status, StatusCode::OK);
    r
}

/// One sent frame: when, its RTP timestamp, and its RFC 2435 size (width, height) in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SentFrame {
    at: Instant,
    ts: u32,
    size: (u16, u16),
}

/// The frames of the recorded stream, checking on the way what holds for every packet: one
/// SSRC, sequence numbers +1 per packet, the marker on each frame's last packet, and Q=255 with
/// the tables in band in each frame's first packet (RFC 2435 §3.1.8: receivers reload them).
fn frames(f: &Fixture) -> Vec<SentFrame> {
    let mut out: Vec<SentFrame> = Vec::new();
    let (mut ssrc, mut seq, mut open) = (None, None::<u16>, false);
    for (at, _, bytes) in &f.out.rtp {
        let p = RtpPacket::new_checked(bytes).unwrap();
        assert_eq!(
            *ssrc.get_or_insert(p.ssrc()),
            p.ssrc(),
            "one SSRC throughout"
        );
        if let Some(prev) = seq {
            assert_eq!(p.sequence(), prev.wrapping_add(1), "sequence +1 per packet");
        }
        seq = Some(p.sequence());
        let h = p.payload();
        let offset = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        assert_eq!(h[5], 255, "Q=255 on every packet");
        if !open {
            assert_eq!(offset, 0, "a frame starts at offset 0");
            let table_len = u16::from_be_bytes([h[10], h[11]]);
            assert_eq!(table_len, 128, "two 64-byte tables in band in every frame");
            out.push(SentFrame {
                at: *at,
                ts: p.timestamp(),
                size: (u16::from(h[6]) * 8, u16::from(h[7]) * 8),
            });
        } else {
            assert_eq!(
                out.last().unwrap().ts,
                p.timestamp(),
                "one timestamp a frame"
            );
        }
        open = !p.marker();
    }
    out
}

#[test]
fn one_stream_across_entries_at_their_own_rates_and_looping_whole() {
    let mut f = playlist_fixture(|_| {});
    let t0 = f.t0;
    let d = f.request(t0, &format!("DESCRIBE {URL} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
    assert_eq!(d.status, StatusCode::OK);
    let sdp = String::from_utf8(d.body.clone()).unwrap();
    assert!(
        sdp.contains("a=range:npt=0-1.000\r\n"),
        "0.5 s + 0.5 s: {sdp}"
    );
    let r = setup_play(&mut f, None);
    let info = RtpInfo::parse_list(r.headers.get("RTP-Info").unwrap()).unwrap();
    assert_eq!(info[0].url, format!("{URL}/trackID=0"), "the stream's URL");
    assert_eq!(r.headers.get("Range"), Some("npt=0.000-1.000"));
    // One whole pass and the first three frames of the next.
    f.run_until(t0 + Duration::from_millis(1100));
    let got = frames(&f);
    let mut expected: Vec<(u64, (u16, u16))> = Vec::new();
    for pass in 0..2u64 {
        let start = pass * 90_000;
        expected.extend((0..12).map(|k| (start + k * 3750, (160, 128))));
        expected.extend((0..6).map(|j| (start + 45_000 + j * 7500, (128, 96))));
    }
    expected.truncate(21);
    assert_eq!(got.len(), expected.len());
    let ts0 = info[0].rtptime.unwrap();
    assert_eq!(got[0].ts, ts0, "RTP-Info's rtptime is the first frame's");
    for (k, (g, (pts, size))) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g.ts, ts0.wrapping_add(*pts as u32), "frame {k}'s timestamp");
        assert_eq!(g.size, *size, "frame {k}'s size");
        let due = t0 + Duration::from_nanos(pts * 1_000_000_000 / 90_000);
        assert!(
            g.at >= due && g.at < due + Duration::from_millis(2),
            "frame {k} sent {:?} after its time",
            g.at.saturating_duration_since(due)
        );
    }
    // The first report follows media and counts it.
    let (_, first) = f.out.rtcp.first().expect("a report");
    match rtcp::Compound::new(first).next() {
        Some(Ok(rtcp::Packet::SenderReport(sr))) => assert!(sr.packet_count > 0),
        other => panic!("not a sender report: {other:?}"),
    }
}

#[test]
fn the_last_frame_is_followed_by_bye_a_frame_period_later() {
    let mut f = playlist_fixture(|c| c.looping = false);
    let t0 = f.t0;
    setup_play(&mut f, None);
    let has_bye = |f: &Fixture| {
        f.out
            .rtcp
            .iter()
            .any(|(_, b)| rtcp::Compound::new(b).any(|p| matches!(p, Ok(rtcp::Packet::Bye(_)))))
    };
    // The last frame (entry 2's sixth, at 0.9167 s) lasts 1/12 s: BYE at 1.0 s, not before.
    f.run_until(t0 + Duration::from_millis(999));
    assert_eq!(frames(&f).len(), 18);
    assert!(!has_bye(&f), "no BYE while the last frame is on screen");
    f.run_until(t0 + Duration::from_millis(1001));
    assert!(has_bye(&f), "BYE when the last frame's time is over");
    f.run_until(t0 + Duration::from_secs(3));
    assert_eq!(frames(&f).len(), 18, "nothing after the end");
}

#[test]
fn seeking_lands_in_the_second_entry() {
    let mut f = playlist_fixture(|_| {});
    let t0 = f.t0;
    let r = setup_play(&mut f, Some("npt=0.6-"));
    // Entry 2 starts at 0.5 s; its frame 1 (at 0.583 s) is on screen at 0.6 s.
    let range = NptRange::parse(r.headers.get("Range").unwrap()).unwrap();
    assert!(
        (range.start.unwrap() - (0.5 + 1.0 / 12.0)).abs() < 0.001,
        "{range:?}"
    );
    assert_eq!(range.end, Some(1.0));
    f.run_until(t0 + Duration::from_millis(500));
    let got = frames(&f);
    // Frames 1..5 of entry 2, then the playlist again from its first entry.
    let sizes: Vec<(u16, u16)> = got.iter().map(|g| g.size).collect();
    assert_eq!(&sizes[..5], [(128, 96); 5]);
    assert_eq!(sizes[5], (160, 128));
    let ts: Vec<u32> = got.iter().map(|g| g.ts.wrapping_sub(got[0].ts)).collect();
    assert_eq!(&ts[..7], [0, 7500, 15000, 22500, 30000, 37500, 41250]);
    // The first frame sent is entry 2's frame 1, byte for byte.
    let want = Frame::from_jpeg(second_entry().encode(1), f.core.config().mtu).unwrap();
    let first: Vec<&[u8]> = f.out.rtp[..want.payloads.len()]
        .iter()
        .map(|(_, _, b)| RtpPacket::new_checked(b).unwrap().payload())
        .collect();
    assert_eq!(first, want.payloads.iter().collect::<Vec<_>>());
    // Past the end is refused.
    let id = {
        let r = f.request(
            t0,
            &format!("SETUP {URL}/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=5002-5003\r\n\r\n"),
        );
        session_of(&r)
    };
    let r = f.request(
        t0,
        &format!("PLAY {URL} RTSP/1.0\r\nCSeq: 4\r\nSession: {id}\r\nRange: npt=1.0-\r\n\r\n"),
    );
    assert_eq!(r.status, StatusCode::INVALID_RANGE);
}

#[test]
fn a_playlist_with_nothing_playable_is_not_found() {
    let mut f = fixture(|_| {});
    std::fs::write(
        f._dir.0.join("bad.m3u"),
        "../movie.Mjpeg\n/etc/passwd\nbad.m3u\n",
    )
    .unwrap();
    let t0 = f.t0;
    let r = f.request(
        t0,
        "DESCRIBE rtsp://127.0.0.1:8554/bad.m3u RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    );
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
