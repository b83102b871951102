//! Publishing on virtual time: a publisher's requests and RTP in, readers' RTP out.

use super::*;
use crate::rtp::jpeg::{packetize, Depacketizer};
use crate::rtp::packet::{RtpHeader, RtpPacket};

const MJPEG_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
    t=0 0\r\na=tool:libavformat 61.7.100\r\nm=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";
const H264_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
    t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
    a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADKzZQUH7ARAAAAMAEAAAAwPA8UKZYA==,aOvjyyLA\r\n\
    a=control:streamid=0\r\n";

/// The publisher's connection: another peer than the fixture's reader.
fn publisher_conn() -> ConnInfo {
    ConnInfo {
        id: 7,
        peer: "127.0.0.2:41000".parse().unwrap(),
        local: "127.0.0.1:8554".parse().unwrap(),
    }
}

fn on(f: &mut Fixture, conn: &ConnInfo, now: Instant, text: &str) -> Response {
    let (msg, _) = message::parse(text.as_bytes(), &Limits::default()).unwrap();
    let Message::Request(req) = msg else {
        panic!("not a request")
    };
    f.out.now = Some(now);
    let wall = f.wall(now);
    f.core.handle_request(conn, &req, now, wall, &mut f.out)
}

fn announce(f: &mut Fixture, conn: &ConnInfo, sdp: &str) -> Response {
    let t0 = f.t0;
    on(
        f,
        conn,
        t0,
        &format!(
            "ANNOUNCE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 1\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    )
}

/// ANNOUNCE, SETUP over UDP from port 30000, RECORD: the session id.
fn start_publishing(f: &mut Fixture, sdp: &str) -> String {
    let p = publisher_conn();
    assert_eq!(announce(f, &p, sdp).status, StatusCode::OK);
    let t0 = f.t0;
    let r = on(
        f,
        &p,
        t0,
        "SETUP rtsp://127.0.0.1:8554/live/cam/streamid=0 RTSP/1.0\r\nCSeq: 2\r\n\
         Transport: RTP/AVP/UDP;unicast;client_port=30000-30001;mode=record\r\n\r\n",
    );
    assert_eq!(r.status, StatusCode::OK);
    let t = r.headers.get("Transport").unwrap();
    assert!(
        t.contains("server_port=6970-6971") && t.contains("mode="),
        "{t}"
    );
    let id = session_of(&r);
    let r = on(
        f,
        &p,
        t0,
        &format!("RECORD rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 3\r\nSession: {id}\r\nRange: npt=0.000-\r\n\r\n"),
    );
    assert_eq!(r.status, StatusCode::OK);
    id
}

fn read(f: &mut Fixture, port: u16) -> Response {
    let t0 = f.t0;
    let r = f.request(
        t0,
        &format!("SETUP rtsp://127.0.0.1:8554/live/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port={port}-{}\r\n\r\n", port + 1),
    );
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let id = session_of(&r);
    f.request(
        t0,
        &format!(
            "PLAY rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"
        ),
    )
}

fn rtp(seq: u16, ts: u32, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: 0xABCD,
    }
    .to_bytes()
    .to_vec();
    v.extend_from_slice(payload);
    v
}

fn send(f: &mut Fixture, from: &str, at: Instant, packet: &[u8]) {
    f.out.now = Some(at);
    let wall = f.wall(at);
    f.core
        .handle_publisher_rtp(from.parse().unwrap(), packet, at, wall, &mut f.out);
}

fn received(f: &Fixture, port: u16) -> Vec<Vec<u8>> {
    f.out
        .rtp
        .iter()
        .filter(|(_, d, _)| d.port() == port)
        .map(|(_, _, b)| b.clone())
        .collect()
}

#[test]
fn a_publisher_is_heard_from_its_own_port_and_readers_get_whole_frames() {
    let mut f = fixture(|c| c.publish = true);
    let t0 = f.t0;
    // Nobody publishes yet.
    let d = f.request(
        t0,
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    );
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    let id = start_publishing(&mut f, MJPEG_SDP);
    let d = f.request(
        t0,
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    );
    assert_eq!(d.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&d.body).contains("m=video 0 RTP/AVP 26"));
    // A second publisher is refused while the first records.
    let other = ConnInfo {
        id: 9,
        ..publisher_conn()
    };
    assert_eq!(
        announce(&mut f, &other, MJPEG_SDP).status,
        StatusCode::METHOD_NOT_VALID_IN_THIS_STATE
    );
    assert_eq!(read(&mut f, 5000).status, StatusCode::OK);

    let movie = TestMovie {
        width: 160,
        height: 96,
        ..TestMovie::default()
    };
    let mut seq = 1000u16;
    for k in 0..3 {
        let at = t0 + Duration::from_millis(40 * k as u64 + 1);
        let jpeg = movie.encode(k);
        let payloads = packetize(&jpeg, 300).unwrap();
        for (i, p) in payloads.iter().enumerate() {
            let packet = rtp(seq, 3600 * k, 26, i + 1 == payloads.len(), p);
            seq = seq.wrapping_add(1);
            // The same packet from elsewhere (another port, another host) is not heard.
            send(&mut f, "127.0.0.2:30002", at, &packet);
            send(&mut f, "127.0.0.3:30000", at, &packet);
            send(&mut f, "127.0.0.2:30000", at, &packet);
        }
        if k == 1 {
            // A reader joining now starts at the next whole frame.
            read(&mut f, 6000);
        }
    }
    let mut frames = Vec::new();
    for port in [5000, 6000] {
        let mut d = Depacketizer::new(1 << 20);
        for b in received(&f, port) {
            let p = RtpPacket::new_checked(&b).unwrap();
            assert_eq!(p.payload_type(), 26);
            assert!(p.payload().len() > 300, "re-packetized at the server's MTU");
            d.push(&p).unwrap();
        }
        let got: Vec<_> = std::iter::from_fn(|| d.pull()).collect();
        frames.push(got.len());
        for (g, k) in got.iter().zip(if port == 5000 { 0 } else { 2 }..) {
            assert_eq!(
                crate::jpeg::decode_rgb(&g.data).unwrap(),
                crate::jpeg::decode_rgb(&movie.encode(k)).unwrap()
            );
        }
    }
    assert_eq!(frames, [3, 1]);

    // TEARDOWN: readers get BYE, the path is free and 404 again.
    let at = t0 + Duration::from_millis(200);
    let p = publisher_conn();
    let r = on(
        &mut f,
        &p,
        at,
        &format!(
            "TEARDOWN rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 4\r\nSession: {id}\r\n\r\n"
        ),
    );
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        f.core.session_count(),
        0,
        "readers ended with the publisher"
    );
    let byes = f
        .out
        .rtcp
        .iter()
        .filter(|(_, b)| rtcp::Compound::new(b).any(|p| matches!(p, Ok(rtcp::Packet::Bye(_)))))
        .count();
    assert_eq!(byes, 2);
    let d = f.request(
        at,
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 9\r\n\r\n",
    );
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    assert_eq!(announce(&mut f, &other, MJPEG_SDP).status, StatusCode::OK);
}

#[test]
fn a_silent_publisher_times_out_and_its_readers_get_bye() {
    let mut f = fixture(|c| {
        c.publish = true;
        c.session_timeout = Duration::from_secs(5);
    });
    let t0 = f.t0;
    start_publishing(&mut f, MJPEG_SDP);
    assert_eq!(read(&mut f, 5000).status, StatusCode::OK);
    // Its RTCP keeps it alive for a while; then nothing comes.
    let sr = {
        let mut v = Vec::new();
        rtcp::SenderReport {
            ssrc: 1,
            ntp: rtcp::NtpTimestamp(0),
            rtp_timestamp: 0,
            packet_count: 0,
            octet_count: 0,
            blocks: vec![],
        }
        .write(&mut v);
        v
    };
    let at = t0 + Duration::from_secs(4);
    f.core
        .handle_rtcp(RtcpFrom::Udp("127.0.0.2:30001".parse().unwrap()), &sr, at);
    f.run_until(t0 + Duration::from_secs(8));
    let d = f.request(
        t0 + Duration::from_secs(8),
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    );
    assert_eq!(d.status, StatusCode::OK, "alive 4 s after its report");
    f.run_until(t0 + Duration::from_secs(10));
    let d = f.request(
        t0 + Duration::from_secs(10),
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 2\r\n\r\n",
    );
    assert_eq!(d.status, StatusCode::NOT_FOUND, "timed out");
    assert_eq!(f.core.session_count(), 0);
}

#[test]
fn h264_is_passed_through_and_readers_start_at_an_idr() {
    let mut f = fixture(|c| c.publish = true);
    let t0 = f.t0;
    start_publishing(&mut f, H264_SDP);
    let d = f.request(
        t0,
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    );
    let sdp = String::from_utf8(d.body).unwrap();
    assert!(
        sdp.contains("a=rtpmap:96 H264/90000") && sdp.contains("sprop-parameter-sets=Z2QADK"),
        "{sdp}"
    );
    // The lab client cannot take H.264.
    let lab = f.request(
        t0,
        "SETUP live/cam RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/UDP; client_port= 25000\r\n\r\n",
    );
    assert_eq!(lab.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    read(&mut f, 5000);
    // A P slice (not a place to start), then an IDR in two FU-A pieces, then a P slice.
    let units: [&[(&[u8], bool)]; 3] = [
        &[(&[0x41, 1], true)],
        &[(&[0x7C, 0x85, 2], false), (&[0x7C, 0x45, 3], true)],
        &[(&[0x41, 4], true)],
    ];
    let mut seq = 7;
    for (k, unit) in units.iter().enumerate() {
        for (payload, marker) in unit.iter() {
            let at = t0 + Duration::from_millis(40 * k as u64);
            send(
                &mut f,
                "127.0.0.2:30000",
                at,
                &rtp(seq, 1000 * k as u32, 96, *marker, payload),
            );
            seq += 1;
        }
    }
    let got: Vec<(u8, bool, Vec<u8>, u32)> = received(&f, 5000)
        .iter()
        .map(|b| {
            let p = RtpPacket::new_checked(b).unwrap();
            (p.payload_type(), p.marker(), p.payload().to_vec(), p.ssrc())
        })
        .collect();
    assert_eq!(got.len(), 3, "from the IDR on: {got:?}");
    assert_eq!(
        got.iter()
            .map(|g| (g.0, g.1, g.2.clone()))
            .collect::<Vec<_>>(),
        [
            (96, false, vec![0x7C, 0x85, 2]),
            (96, true, vec![0x7C, 0x45, 3]),
            (96, true, vec![0x41, 4])
        ]
    );
    assert_ne!(got[0].3, 0xABCD, "the reader's own SSRC");
}

#[test]
fn publishing_is_off_unless_asked_and_only_under_live() {
    let mut f = fixture(|_| {});
    let p = publisher_conn();
    let r = announce(&mut f, &p, MJPEG_SDP);
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert!(!r.headers.get("Public").unwrap().contains("ANNOUNCE"));
    let mut f = fixture(|c| c.publish = true);
    let t0 = f.t0;
    let r = on(
        &mut f,
        &p,
        t0,
        &format!(
            "ANNOUNCE rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n{MJPEG_SDP}",
            MJPEG_SDP.len()
        ),
    );
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = announce(&mut f, &p, "v=0\r\nm=audio 0 RTP/AVP 0\r\n");
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = on(&mut f, &p, t0, "OPTIONS * RTSP/1.0\r\nCSeq: 5\r\n\r\n");
    assert!(r
        .headers
        .get("Public")
        .unwrap()
        .contains("ANNOUNCE, SETUP, RECORD"));
    // RECORD before SETUP, SETUP without ANNOUNCE.
    let r = on(
        &mut f,
        &p,
        t0,
        "SETUP rtsp://127.0.0.1:8554/live/other/streamid=0 RTSP/1.0\r\nCSeq: 6\r\n\
         Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n",
    );
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
