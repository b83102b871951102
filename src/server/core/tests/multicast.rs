//! Multicast on virtual time: one sender per movie, members that send nothing.

use super::*;
use crate::rtp::packet::RtpPacket;
use crate::server::core::multicast::GroupChange;
use crate::server::source::{Frame, SourceInfo};

fn setup_member(f: &mut Fixture, peer: &str, transport: &str) -> Response {
    f.conn.peer = peer.parse().unwrap();
    let t0 = f.t0;
    f.request(
        t0,
        &format!("SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: {transport}\r\n\r\n"),
    )
}

fn say(f: &mut Fixture, at: Instant, peer: &str, method: &str, id: &str) -> Response {
    f.conn.peer = peer.parse().unwrap();
    f.request(
        at,
        &format!("{method} rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\nRange: npt=0-\r\n\r\n"),
    )
}

fn multicast_fixture() -> Fixture {
    fixture(|c| {
        c.multicast = Some(("239.255.42.0".parse().unwrap(), 24));
        c.multicast_ttl = 3;
    })
}

#[test]
fn one_sender_for_every_member_at_the_group_the_server_picks() {
    let mut f = multicast_fixture();
    let t0 = f.t0;
    // The client names a group and ports of its own: the server assigns its own instead.
    let a = setup_member(
        &mut f,
        "127.0.0.1:40000",
        "RTP/AVP;multicast;destination=192.0.2.7;port=9000-9001",
    );
    assert_eq!(a.status, StatusCode::OK);
    let t = a.headers.get("Transport").unwrap();
    assert!(
        t.starts_with("RTP/AVP;multicast;destination=239.255.42.1;port=5004-5005;"),
        "{t}"
    );
    assert!(t.contains("ttl=3"), "{t}");
    assert_eq!(
        f.core.poll_group_change(),
        Some(GroupChange::Join("239.255.42.1:5005".parse().unwrap()))
    );
    let b = setup_member(&mut f, "127.0.0.2:40000", "RTP/AVP;multicast");
    assert_eq!(
        b.headers.get("Transport"),
        a.headers.get("Transport"),
        "same group, same SSRC"
    );
    assert_eq!(
        f.core.session_count(),
        2,
        "the sender is not a viewer's session"
    );
    let (ida, idb) = (session_of(&a), session_of(&b));

    // Nothing is sent before the first PLAY; then one stream, to the group only.
    f.run_until(t0 + Duration::from_millis(200));
    assert!(f.out.rtp.is_empty());
    say(
        &mut f,
        t0 + Duration::from_millis(200),
        "127.0.0.1:40000",
        "PLAY",
        &ida,
    );
    f.run_until(t0 + Duration::from_millis(400));
    let before_b = f.out.rtp.len();
    let r = say(
        &mut f,
        t0 + Duration::from_millis(400),
        "127.0.0.2:40000",
        "PLAY",
        &idb,
    );
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("Range").unwrap().starts_with("npt=0.2"),
        "the late member joins the stream in progress: {:?}",
        r.headers.get("Range")
    );
    // PAUSE by one member stops no one.
    say(
        &mut f,
        t0 + Duration::from_millis(500),
        "127.0.0.1:40000",
        "PAUSE",
        &ida,
    );
    f.run_until(t0 + Duration::from_millis(1000));
    let dests: std::collections::HashSet<SocketAddr> =
        f.out.rtp.iter().map(|(_, d, _)| *d).collect();
    assert_eq!(dests.len(), 1);
    assert!(dests.contains(&"239.255.42.1:5004".parse().unwrap()));
    let frames: std::collections::HashSet<u32> = f
        .out
        .rtp
        .iter()
        .map(|(_, _, b)| RtpPacket::new_checked(b).unwrap().timestamp())
        .collect();
    assert_eq!(
        frames.len(),
        20,
        "one stream of 24 fps from 0.2 s to 1 s, not two"
    );
    assert!(f.out.rtp.len() > before_b);

    // The last member leaving stops the sender with BYE to the group.
    say(
        &mut f,
        t0 + Duration::from_secs(1),
        "127.0.0.1:40000",
        "TEARDOWN",
        &ida,
    );
    let sent = f.out.rtp.len();
    f.run_until(t0 + Duration::from_millis(1100));
    assert!(f.out.rtp.len() > sent, "one member left: still sending");
    say(
        &mut f,
        t0 + Duration::from_millis(1100),
        "127.0.0.2:40000",
        "TEARDOWN",
        &idb,
    );
    let sent = f.out.rtp.len();
    f.run_until(t0 + Duration::from_secs(2));
    assert_eq!(f.out.rtp.len(), sent, "no member: nothing sent");
    let bye = f.out.rtcp.iter().any(|(d, b)| {
        *d == "239.255.42.1:5005".parse().unwrap()
            && rtcp::Compound::new(b).any(|p| matches!(p, Ok(rtcp::Packet::Bye(_))))
    });
    assert!(bye, "BYE to the group's RTCP port");
    assert_eq!(
        f.core.poll_group_change(),
        Some(GroupChange::Leave("239.255.42.1:5005".parse().unwrap()))
    );
    assert_eq!(f.core.session_count(), 0);
}

#[test]
fn members_reports_keep_them_alive_and_silence_ends_them() {
    let mut f = fixture(|c| {
        c.multicast = Some(("239.255.42.0".parse().unwrap(), 24));
        c.session_timeout = Duration::from_secs(3);
    });
    let t0 = f.t0;
    let a = setup_member(&mut f, "127.0.0.1:40000", "RTP/AVP;multicast");
    let b = setup_member(&mut f, "127.0.0.2:40000", "RTP/AVP;multicast");
    let (ida, idb) = (session_of(&a), session_of(&b));
    say(&mut f, t0, "127.0.0.1:40000", "PLAY", &ida);
    say(&mut f, t0, "127.0.0.2:40000", "PLAY", &idb);
    // Both connections go away; only 127.0.0.1 keeps reporting (to the group's RTCP port).
    let wall = f.wall(t0);
    f.core.connection_closed(1, t0, wall, &mut f.out);
    f.run_until(t0 + Duration::from_millis(100));
    let ssrc = RtpPacket::new_checked(&f.out.rtp[0].2).unwrap().ssrc();
    for k in 1..8 {
        let at = t0 + Duration::from_secs(k);
        let mut rr = Vec::new();
        rtcp::ReceiverReport {
            ssrc: 7,
            blocks: vec![rtcp::ReportBlock {
                ssrc,
                ..Default::default()
            }],
        }
        .write(&mut rr);
        f.core
            .handle_rtcp(RtcpFrom::Udp("127.0.0.1:5005".parse().unwrap()), &rr, at);
        f.run_until(at);
    }
    assert_eq!(
        f.core.session_count(),
        1,
        "the silent member timed out, the other lives"
    );
    let sent = f.out.rtp.len();
    f.run_until(t0 + Duration::from_secs(12));
    assert_eq!(f.core.session_count(), 0);
    let after = f.out.rtp.len();
    f.run_until(t0 + Duration::from_secs(13));
    assert!(
        after > sent && f.out.rtp.len() == after,
        "sending stopped with the last member"
    );
}

#[test]
fn without_a_pool_multicast_is_refused() {
    let mut f = fixture(|_| {});
    let r = setup_member(&mut f, "127.0.0.1:40000", "RTP/AVP;multicast");
    assert_eq!(r.status, StatusCode::UNSUPPORTED_TRANSPORT);
}

#[test]
fn a_live_timeline_has_one_group_sender_too() {
    let mut f = multicast_fixture();
    let t0 = f.t0;
    let tl = f.core.add_timeline(SourceInfo {
        name: "live/cam".into(),
        width: 64,
        height: 64,
        fps: 24.0,
        duration: None,
        frames: 0,
        bytes: 0,
    });
    let mut ids = Vec::new();
    for peer in ["127.0.0.1:40000", "127.0.0.2:40000"] {
        f.conn.peer = peer.parse().unwrap();
        let r = f.request(
            t0,
            "SETUP rtsp://127.0.0.1:8554/live/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;multicast\r\n\r\n",
        );
        assert_eq!(r.status, StatusCode::OK);
        let id = session_of(&r);
        let r = f.request(
            t0,
            &format!(
                "PLAY rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"
            ),
        );
        assert_eq!(r.status, StatusCode::OK);
        ids.push(id);
    }
    let movie = TestMovie {
        seconds: 0.25,
        width: 64,
        height: 64,
        ..TestMovie::default()
    };
    for k in 0..3u32 {
        let frame = std::sync::Arc::new(Frame::from_jpeg(movie.encode(k), 1400).unwrap());
        let at = t0 + Duration::from_millis(40 * u64::from(k));
        f.out.now = Some(at);
        let wall = f.wall(at);
        f.core
            .push_frame(tl, &frame, 3750 * u64::from(k), at, wall, &mut f.out);
    }
    let dests: std::collections::HashSet<SocketAddr> =
        f.out.rtp.iter().map(|(_, d, _)| *d).collect();
    assert_eq!(
        dests.into_iter().collect::<Vec<_>>(),
        vec!["239.255.42.1:5004".parse::<SocketAddr>().unwrap()],
        "one stream, to the group"
    );
    let stamps: std::collections::BTreeSet<u32> = f
        .out
        .rtp
        .iter()
        .map(|(_, _, b)| RtpPacket::new_checked(b).unwrap().timestamp())
        .collect();
    assert_eq!(stamps.len(), 3, "each frame once for two viewers");
}
