//! Relayed names on virtual time: readers' requests wait for the origin, one origin session
//! feeds them all, and it closes after the last one leaves.

use super::*;
use crate::client::target::Target;
use crate::rtp::packet::{RtpHeader, RtpPacket};
use crate::rtsp::sdp::{movie_sdp, MovieDescription};
use crate::server::relay::{RelayIo, RelaySpec};

fn edge_fixture() -> Fixture {
    fixture(|c| {
        c.relays = vec![RelaySpec {
            name: "cam".into(),
            target: Target::parse_url("rtsp://127.0.0.1:9554/movie.Mjpeg").unwrap(),
            origin: "127.0.0.1:9554".parse().unwrap(),
        }]
    })
}

fn parse(text: &str) -> Request {
    match message::parse(text.as_bytes(), &Limits::default())
        .unwrap()
        .0
    {
        Message::Request(r) => r,
        _ => panic!("not a request"),
    }
}

/// The origin answers what the relay sent; returns how many connections it was asked for.
fn origin(f: &mut Fixture, now: Instant) -> usize {
    let mut connects = 0;
    let wall = f.wall(now);
    f.out.now = Some(now);
    while let Some(io) = f.core.poll_relay_io() {
        match io {
            RelayIo::Connect { relay, .. } => {
                connects += 1;
                f.core.relay_connected(relay, now, wall, &mut f.out);
            }
            RelayIo::Send { relay, data } => {
                let Ok((Message::Request(req), _)) = message::parse(&data, &Limits::default())
                else {
                    continue;
                };
                let mut r = Response::new(StatusCode::OK);
                r.headers.append("CSeq", req.headers.get("CSeq").unwrap());
                match req.method {
                    Method::Describe => {
                        r.headers.append("Content-Type", "application/sdp");
                        r.body = movie_sdp(&MovieDescription {
                            name: "movie.Mjpeg",
                            server_addr: "127.0.0.1".parse().unwrap(),
                            duration: Some(1.0),
                            fps: 24.0,
                            width: 160,
                            height: 128,
                        })
                        .into_bytes();
                    }
                    Method::Setup => {
                        r.headers.append("Session", "99;timeout=60");
                        r.headers
                            .append("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1");
                    }
                    _ => r.headers.append("Session", "99"),
                }
                let mut bytes = Vec::new();
                r.write_to(&mut bytes);
                f.core.relay_input(relay, &bytes, now, wall, &mut f.out);
            }
            RelayIo::Close { .. } => {}
        }
    }
    connects
}

#[test]
fn readers_wait_for_the_origin_and_share_one_session() {
    let mut f = edge_fixture();
    let t0 = f.t0;
    let wall = f.wall(t0);
    f.out.now = Some(t0);
    let describe = parse("DESCRIBE rtsp://127.0.0.1:8554/cam RTSP/1.0\r\nCSeq: 4\r\n\r\n");
    // A driver that cannot wait gets 503 and Retry-After.
    let r = f
        .core
        .handle_request(&f.conn, &describe, t0, wall, &mut f.out);
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers.get("Retry-After"), Some("1"));
    // One that can is answered once the origin has described the stream.
    let none = f
        .core
        .handle_request_or_defer(&f.conn, &describe, t0, wall, &mut f.out);
    assert!(none.is_none());
    assert!(f.core.poll_reply().is_none());
    assert_eq!(origin(&mut f, t0), 1, "one connection to the origin");
    let (conn, r) = f.core.poll_reply().expect("the deferred reply");
    assert_eq!((conn, r.status), (f.conn.id, StatusCode::OK));
    assert_eq!(r.headers.get("CSeq"), Some("4"));
    assert!(String::from_utf8_lossy(&r.body).contains("m=video 0 RTP/AVP 26"));
    // Three readers, no more origin sessions.
    for port in [5000, 5002, 5004] {
        let r = f.request(
            t0,
            &format!("SETUP rtsp://127.0.0.1:8554/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port={port}-{}\r\n\r\n", port + 1),
        );
        assert_eq!(r.status, StatusCode::OK);
        let id = session_of(&r);
        let r = f.request(
            t0,
            &format!("PLAY rtsp://127.0.0.1:8554/cam RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"),
        );
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(origin(&mut f, t0), 0);
    assert_eq!(f.core.relay_status("cam").unwrap().1.opened, 1);
    // A frame from the origin reaches all three.
    let movie = TestMovie {
        width: 160,
        height: 128,
        ..TestMovie::default()
    };
    let payloads = crate::rtp::jpeg::packetize(&movie.encode(3), 1400).unwrap();
    let mut bytes = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let mut pkt = RtpHeader {
            marker: i + 1 == payloads.len(),
            payload_type: 26,
            sequence: i as u16,
            timestamp: 0,
            ssrc: 5,
        }
        .to_bytes()
        .to_vec();
        pkt.extend_from_slice(p);
        bytes.extend_from_slice(&[b'$', 0]);
        bytes.extend_from_slice(&(pkt.len() as u16).to_be_bytes());
        bytes.extend_from_slice(&pkt);
    }
    let at = t0 + Duration::from_millis(50);
    let wall = f.wall(at);
    f.out.now = Some(at);
    f.core.relay_input(0, &bytes, at, wall, &mut f.out);
    for port in [5000, 5002, 5004] {
        let n = f
            .out
            .rtp
            .iter()
            .filter(|(_, d, b)| d.port() == port && RtpPacket::new_checked(b).is_ok())
            .count();
        assert_eq!(n, payloads.len(), "reader on {port}");
    }
    // They leave; ten seconds later the origin session is torn down and the name is idle.
    for id in f.core.sessions.keys().copied().collect::<Vec<_>>() {
        f.core.end_session(id, "test", at, wall, &mut f.out);
    }
    f.run_until(at + Duration::from_secs(5));
    assert!(f.core.relay_status("cam").unwrap().0, "lingering");
    f.run_until(at + Duration::from_secs(13));
    origin(&mut f, at + Duration::from_secs(13));
    f.run_until(at + Duration::from_secs(14));
    assert!(!f.core.relay_status("cam").unwrap().0, "closed");
    let r = f.core.handle_request(
        &f.conn,
        &describe,
        at + Duration::from_secs(14),
        wall,
        &mut f.out,
    );
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "opens afresh");
}

#[test]
fn requests_that_wait_too_long_or_for_an_unreachable_origin() {
    let mut f = edge_fixture();
    let t0 = f.t0;
    let wall = f.wall(t0);
    f.out.now = Some(t0);
    let setup = parse(
        "SETUP rtsp://127.0.0.1:8554/cam/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n\
         Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
    );
    assert!(f
        .core
        .handle_request_or_defer(&f.conn, &setup, t0, wall, &mut f.out)
        .is_none());
    // Connected, but the origin never answers DESCRIBE: 504 after 15 s.
    assert!(matches!(
        f.core.poll_relay_io(),
        Some(RelayIo::Connect { .. })
    ));
    f.core.relay_connected(0, t0, wall, &mut f.out);
    f.run_until(t0 + Duration::from_secs(16));
    let (_, r) = f.core.poll_reply().expect("an answer");
    assert_eq!(r.status.0, 504);
    // The connection to the origin is refused: 503 at once.
    let mut f = edge_fixture();
    assert!(f
        .core
        .handle_request_or_defer(&f.conn, &setup, t0, wall, &mut f.out)
        .is_none());
    f.core.poll_relay_io();
    f.core.relay_closed(0, t0, wall, &mut f.out);
    let (_, r) = f.core.poll_reply().expect("an answer");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    // Nobody asks again: it is tried again (1 s, 2 s, 4 s, 8 s) until the linger is over, then
    // left alone.
    let mut attempts = Vec::new();
    while let Some(t) = f.core.poll_timeout() {
        if t > t0 + Duration::from_secs(120) {
            break;
        }
        f.out.now = Some(t);
        let wall = f.wall(t);
        f.core.handle_timeout(t, wall, &mut f.out);
        while let Some(io) = f.core.poll_relay_io() {
            if let RelayIo::Connect { .. } = io {
                attempts.push((t - t0).as_secs());
                f.core.relay_closed(0, t, wall, &mut f.out);
            }
        }
    }
    assert_eq!(attempts, [1, 3, 7], "then idle");
    assert!(!f.core.relay_status("cam").unwrap().0);
    // A waiting request whose connection closes is forgotten.
    let mut f = edge_fixture();
    assert!(f
        .core
        .handle_request_or_defer(&f.conn, &setup, t0, wall, &mut f.out)
        .is_none());
    let conn = f.conn.id;
    f.core.connection_closed(conn, t0, wall, &mut f.out);
    origin(&mut f, t0);
    assert!(f.core.poll_reply().is_none());
}
