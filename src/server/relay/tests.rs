//! A relay on virtual time against a scripted origin: no sockets.

use super::*;
use crate::media::testmovie::TestMovie;
use crate::rtp::jpeg::packetize;
use crate::rtp::packet::RtpHeader;
use crate::rtsp::message::{self, Limits, Message, Response};
use crate::rtsp::sdp::{movie_sdp, MovieDescription};

const ORIGIN: &str = "127.0.0.1:9554";

fn relay(now: Instant) -> Relay {
    let spec = RelaySpec {
        name: "cam".into(),
        target: Target::parse_url(&format!("rtsp://{ORIGIN}/movie.Mjpeg")).unwrap(),
        origin: ORIGIN.parse().unwrap(),
    };
    Relay::new(0, spec, Duration::from_secs(10), 1 << 20, 1400, now)
}

/// The origin's side: answers every request the relay sent, returns the methods it saw.
fn answer(r: &mut Relay, now: Instant, sdp: &str) -> Vec<String> {
    let mut methods = Vec::new();
    let sent: Vec<Vec<u8>> = std::iter::from_fn(|| r.poll_io())
        .filter_map(|io| match io {
            RelayIo::Send { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    for data in sent {
        let Ok((Message::Request(req), _)) = message::parse(&data, &Limits::default()) else {
            continue; // interleaved RTCP
        };
        methods.push(req.method.to_string());
        let mut resp = Response::new(StatusCode::OK);
        resp.headers
            .append("CSeq", req.headers.get("CSeq").unwrap());
        match req.method.as_str() {
            "DESCRIBE" => {
                resp.headers
                    .append("Content-Base", &format!("rtsp://{ORIGIN}/movie.Mjpeg/"));
                resp.headers.append("Content-Type", "application/sdp");
                resp.body = sdp.as_bytes().to_vec();
            }
            "SETUP" => {
                resp.headers.append("Session", "4242;timeout=60");
                resp.headers
                    .append("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1");
            }
            _ => resp.headers.append("Session", "4242"),
        }
        let mut bytes = Vec::new();
        resp.write_to(&mut bytes);
        r.input(&bytes, now);
    }
    methods
}

fn jpeg_sdp() -> String {
    movie_sdp(&MovieDescription {
        name: "movie.Mjpeg",
        server_addr: "127.0.0.1".parse().unwrap(),
        duration: Some(2.0),
        fps: 24.0,
        width: 160,
        height: 96,
    })
}

/// Frame `k` of the test movie as the origin sends it, interleaved on channel 0.
fn frame_bytes(k: u32) -> Vec<u8> {
    let movie = TestMovie {
        width: 160,
        height: 96,
        ..TestMovie::default()
    };
    let payloads = packetize(&movie.encode(k), 1400).unwrap();
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let mut pkt = RtpHeader {
            marker: i + 1 == payloads.len(),
            payload_type: 26,
            sequence: (k * 100 + i as u32) as u16,
            timestamp: 3750 * k,
            ssrc: 77,
        }
        .to_bytes()
        .to_vec();
        pkt.extend_from_slice(p);
        out.extend_from_slice(&[b'$', 0]);
        out.extend_from_slice(&(pkt.len() as u16).to_be_bytes());
        out.extend_from_slice(&pkt);
    }
    out
}

fn events(r: &mut Relay) -> Vec<RelayEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

/// Connects, describes, sets up and plays: the relay is then receiving.
fn open(r: &mut Relay, now: Instant) {
    r.want(now);
    assert_eq!(
        r.poll_io(),
        Some(RelayIo::Connect {
            relay: 0,
            addr: ORIGIN.parse().unwrap()
        })
    );
    r.connected(now);
    assert_eq!(answer(r, now, &jpeg_sdp()), ["DESCRIBE"]);
    assert_eq!(answer(r, now, &jpeg_sdp()), ["SETUP"]);
    assert_eq!(answer(r, now, &jpeg_sdp()), ["PLAY"]);
    assert!(matches!(events(r)[..], [RelayEvent::Described(0)]));
    assert_eq!(r.described.as_ref().unwrap().fps, Some(24.0));
}

#[test]
fn one_origin_session_brings_frames_and_closes_after_the_last_reader() {
    let t0 = Instant::now();
    let mut r = relay(t0);
    open(&mut r, t0);
    // More readers change nothing at the origin.
    r.want(t0);
    r.readers(5, t0);
    assert_eq!(r.poll_io(), None);
    for k in 0..3 {
        r.input(
            &frame_bytes(k),
            t0 + Duration::from_millis(40 * u64::from(k)),
        );
    }
    let pts: Vec<u64> = events(&mut r)
        .into_iter()
        .filter_map(|e| match e {
            RelayEvent::Frame(0, f, pts) => {
                assert!(!f.jpeg.is_empty() && !f.payloads.is_empty());
                Some(pts)
            }
            _ => None,
        })
        .collect();
    assert_eq!(pts.len(), 3);
    assert_eq!((pts[1] - pts[0], pts[2] - pts[1]), (3750, 3750));
    assert_eq!(r.stats.opened, 1);
    // The last reader leaves: 10 s later, TEARDOWN; the origin answers; then close and idle.
    let t1 = t0 + Duration::from_secs(1);
    r.readers(0, t1);
    r.handle_timeout(t1 + Duration::from_secs(9));
    let sent = answer(&mut r, t1 + Duration::from_secs(9), "");
    assert!(sent.is_empty(), "still lingering: {sent:?}");
    r.handle_timeout(t1 + Duration::from_secs(10));
    assert_eq!(
        answer(&mut r, t1 + Duration::from_secs(10), ""),
        ["TEARDOWN"]
    );
    assert_eq!(r.poll_io(), Some(RelayIo::Close { relay: 0 }));
    assert!(matches!(events(&mut r)[..], [RelayEvent::Idle(0)]));
    assert!(!r.is_active() && r.described.is_none());
    assert_eq!(r.poll_timeout(), None, "nothing to do until a reader comes");
}

#[test]
fn a_dropped_origin_is_opened_again_with_backoff_and_the_clock_goes_on() {
    let t0 = Instant::now();
    let mut r = relay(t0);
    open(&mut r, t0);
    r.readers(1, t0);
    r.input(&frame_bytes(0), t0);
    let first = match events(&mut r).pop() {
        Some(RelayEvent::Frame(_, _, pts)) => pts,
        other => panic!("{other:?}"),
    };
    // The origin goes away; connecting fails twice; the waits are 1 s, then 2 s, then 4 s.
    let mut t = t0 + Duration::from_secs(1);
    r.closed(t);
    let mut waits = Vec::new();
    for _ in 0..3 {
        let due = r.poll_timeout().unwrap();
        waits.push((due - t).as_secs());
        t = due;
        r.handle_timeout(t);
        let io: Vec<RelayIo> = std::iter::from_fn(|| r.poll_io()).collect();
        assert!(matches!(io.last(), Some(RelayIo::Connect { .. })), "{io:?}");
        if waits.len() < 3 {
            r.closed(t);
        }
    }
    assert_eq!(waits, [1, 2, 4]);
    // It comes back: same timeline, time continues from the wall clock.
    r.connected(t);
    answer(&mut r, t, &jpeg_sdp());
    answer(&mut r, t, &jpeg_sdp());
    answer(&mut r, t, &jpeg_sdp());
    r.input(&frame_bytes(0), t);
    let again = events(&mut r)
        .into_iter()
        .find_map(|e| match e {
            RelayEvent::Frame(_, _, pts) => Some(pts),
            _ => None,
        })
        .unwrap();
    assert_eq!(again - first, (t - t0).as_secs() * 90_000);
    assert_eq!(r.stats.opened, 2);
}

#[test]
fn an_origin_that_refuses_or_stalls() {
    let t0 = Instant::now();
    let mut r = relay(t0);
    r.want(t0);
    r.poll_io();
    r.connected(t0);
    let sent = std::iter::from_fn(|| r.poll_io()).count();
    assert_eq!(sent, 1, "DESCRIBE");
    let reply = b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n";
    r.input(reply, t0);
    let ev = events(&mut r);
    assert!(
        matches!(ev[..], [RelayEvent::Failed(0, StatusCode::NOT_FOUND), ..]),
        "{ev:?}"
    );
    // Connection refused: waiting requests get 503.
    let mut r = relay(t0);
    r.want(t0);
    r.poll_io();
    r.closed(t0);
    assert!(matches!(
        events(&mut r)[..],
        [RelayEvent::Failed(0, StatusCode::SERVICE_UNAVAILABLE)]
    ));
    // Playing, then nothing for 15 s: dropped and opened again.
    let mut r = relay(t0);
    open(&mut r, t0);
    r.readers(1, t0);
    r.handle_timeout(t0 + STALL);
    let io: Vec<RelayIo> = std::iter::from_fn(|| r.poll_io()).collect();
    assert!(io.contains(&RelayIo::Close { relay: 0 }), "{io:?}");
    assert_eq!(r.poll_timeout(), Some(t0 + STALL + Duration::from_secs(1)));
}

#[test]
fn relay_specs() {
    let (name, t) = RelaySpec::parse("cam=rtsp://u:p@10.0.0.2:8554/live/cam").unwrap();
    assert_eq!(name, "cam");
    assert_eq!(t.user, Some(("u".into(), "p".into())));
    assert_eq!(t.url(), "rtsp://10.0.0.2:8554/live/cam");
    assert_eq!(
        RelaySpec::parse("/a/b/=rtsp://h/x").unwrap().0,
        "a/b",
        "slashes around the name do not count"
    );
    for bad in [
        "cam",
        "=rtsp://h/x",
        "c m=rtsp://h/x",
        "../x=rtsp://h/x",
        "x=http://h/",
    ] {
        assert!(RelaySpec::parse(bad).is_err(), "{bad}");
    }
}
