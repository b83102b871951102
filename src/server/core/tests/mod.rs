//! The core driven without sockets: a recording outbox and a simulated clock.
use super::*;
use crate::media::testmovie::TestMovie;
use crate::rtp::packet::RtpPacket;
use crate::rtsp::message::{self, Limits, Message};
use crate::server::source::{Frame, FrameRef, SourceInfo};

#[derive(Default)]
struct Recorder {
    /// (time, destination, RTP packet bytes)
    rtp: Vec<(Instant, SocketAddr, Vec<u8>)>,
    rtcp: Vec<(SocketAddr, Vec<u8>)>,
    now: Option<Instant>,
}

impl Outbox for Recorder {
    fn rtp_udp(&mut self, dest: SocketAddr, packets: &[(&[u8], &[u8])]) -> usize {
        let now = self.now.expect("time set");
        for (h, p) in packets {
            self.rtp.push((now, dest, [*h, *p].concat()));
        }
        packets.len()
    }
    fn rtcp_udp(&mut self, dest: SocketAddr, packet: &[u8]) {
        self.rtcp.push((dest, packet.to_vec()));
    }
    fn interleaved(&mut self, _: ConnId, _: &[&[u8]]) -> bool {
        panic!("no TCP sessions in these tests")
    }
    fn backlog(&mut self, _: ConnId) -> Option<Backlog> {
        None
    }
}

struct Fixture {
    _dir: TempDir,
    core: Core,
    conn: ConnInfo,
    t0: Instant,
    wall0: SystemTime,
    out: Recorder,
}

use crate::testutil::TempDir;

/// A core serving a 12-frame, 24 fps movie (half a second) with `tweak` applied.
fn fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
    fixture_with(
        TestMovie {
            seconds: 0.5,
            width: 160,
            height: 128,
            fps: 24,
            ..TestMovie::default()
        },
        tweak,
    )
}

fn fixture_with(movie: TestMovie, tweak: impl FnOnce(&mut Config)) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "rtsp-mjpeg-core-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("movie.Mjpeg"), movie.to_lab_bytes()).unwrap();
    let mut config = Config {
        media: dir.clone(),
        ..Config::default()
    };
    tweak(&mut config);
    let t0 = Instant::now();
    let core = Core::new(config, Catalog::new(&dir).unwrap(), 6970, t0).unwrap();
    let conn = ConnInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:8554".parse().unwrap(),
    };
    Fixture {
        _dir: TempDir(dir),
        core,
        conn,
        t0,
        wall0: SystemTime::now(),
        out: Recorder::default(),
    }
}

impl Fixture {
    fn wall(&self, now: Instant) -> SystemTime {
        self.wall0 + (now - self.t0)
    }

    fn request(&mut self, now: Instant, text: &str) -> Response {
        let (msg, _) = message::parse(text.as_bytes(), &Limits::default()).unwrap();
        let Message::Request(req) = msg else {
            panic!("not a request")
        };
        self.out.now = Some(now);
        let wall = self.wall(now);
        self.core
            .handle_request(&self.conn, &req, now, wall, &mut self.out)
    }

    /// Runs every timer up to `until`, at the moments the core asks to be woken.
    fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.core.poll_timeout() {
            if t > until {
                break;
            }
            self.out.now = Some(t);
            let wall = self.wall(t);
            self.core.handle_timeout(t, wall, &mut self.out);
        }
    }

    fn setup_udp(&mut self, transport: &str) -> Response {
        let t0 = self.t0;
        self.request(
            t0,
            &format!("SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: {transport}\r\n\r\n"),
        )
    }
}

fn session_of(r: &Response) -> String {
    r.headers
        .get("Session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn frames_are_paced_without_drift_and_timestamps_keep_rising_across_loops() {
    let mut f = fixture(|_| {});
    let r = f.setup_udp("RTP/AVP;unicast;client_port=5000-5001");
    assert_eq!(r.status, StatusCode::OK);
    let id = session_of(&r);
    let t0 = f.t0;
    let r = f.request(
        t0,
        &format!(
            "PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"
        ),
    );
    assert_eq!(r.status, StatusCode::OK);
    // Three loops of the 12-frame movie, plus the first frame of the fourth.
    let period = Duration::from_secs(1) / 24;
    f.run_until(t0 + period * 36 + Duration::from_millis(1));
    let mut frames: Vec<(Instant, u32)> = Vec::new();
    let mut last_seq = None;
    for (at, dest, bytes) in &f.out.rtp {
        assert_eq!(
            *dest,
            "127.0.0.1:5000".parse().unwrap(),
            "RTP goes to the client port only"
        );
        let p = RtpPacket::new_checked(bytes).unwrap();
        assert_eq!(p.payload_type(), PT_JPEG);
        if let Some(prev) = last_seq {
            assert_eq!(
                p.sequence(),
                u16::wrapping_add(prev, 1),
                "no gap in sequence numbers"
            );
        }
        last_seq = Some(p.sequence());
        if frames.last().is_none_or(|&(_, ts)| ts != p.timestamp()) {
            frames.push((*at, p.timestamp()));
        }
    }
    assert_eq!(frames.len(), 37);
    for (k, &(at, ts)) in frames.iter().enumerate() {
        let due = t0 + period * k as u32;
        assert!(
            at >= due && at < due + Duration::from_millis(2),
            "frame {k} sent {:?} after its due time",
            at - due
        );
        let expected = frames[0].1.wrapping_add((k as f64 * 3750.0).round() as u32);
        assert_eq!(
            ts, expected,
            "90 kHz timestamps count frames, across loops too"
        );
    }
    // The last packet of each frame carries the marker bit, and only it.
    let markers = f
        .out
        .rtp
        .iter()
        .filter(|(_, _, b)| b[1] & 0x80 != 0)
        .count();
    assert_eq!(markers, 37);
}

#[test]
fn sender_reports_tie_ntp_to_rtp_time() {
    let mut f = fixture(|c| c.sr_interval = Duration::from_secs(1));
    let id = session_of(&f.setup_udp("RTP/AVP;unicast;client_port=5000-5001"));
    let t0 = f.t0;
    f.request(
        t0,
        &format!(
            "PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"
        ),
    );
    f.run_until(t0 + Duration::from_millis(2500));
    let first_ts = RtpPacket::new_checked(&f.out.rtp[0].2).unwrap().timestamp();
    let reports: Vec<rtcp::SenderReport> = f
        .out
        .rtcp
        .iter()
        .inspect(|(dest, _)| assert_eq!(*dest, "127.0.0.1:5001".parse().unwrap()))
        .filter_map(|(_, b)| match rtcp::Compound::new(b).next() {
            Some(Ok(rtcp::Packet::SenderReport(sr))) => Some(sr),
            _ => None,
        })
        .collect();
    assert!(
        reports.len() >= 2,
        "a report at least every second: {}",
        reports.len()
    );
    let wall0 = f.wall0.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    for sr in &reports {
        let since_play = sr.ntp.to_unix().saturating_sub(wall0).as_secs_f64();
        let expected = first_ts.wrapping_add((since_play * 90_000.0).round() as u32);
        let off = sr.rtp_timestamp.wrapping_sub(expected) as i32;
        assert!(off.abs() <= 2, "SR RTP time off by {off} ticks");
    }
}

#[test]
fn destination_of_a_third_party_is_refused() {
    let mut f = fixture(|_| {});
    let r = f.setup_udp("RTP/AVP;unicast;destination=192.0.2.7;client_port=5000-5001");
    assert_eq!(r.status, StatusCode::UNSUPPORTED_TRANSPORT);
    assert_eq!(f.core.session_count(), 0);
    let r = f.setup_udp("RTP/AVP;unicast;destination=127.0.0.1;client_port=5000-5001");
    assert_eq!(r.status, StatusCode::OK, "naming the peer itself is fine");
}

#[test]
fn lab_sessions_get_whole_jpegs_numbered_from_one() {
    let mut f = fixture(|_| {});
    let t0 = f.t0;
    let r = f.request(
        t0,
        "SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 25000\n\n",
    );
    assert_eq!(r.status, StatusCode::OK);
    let id = session_of(&r);
    assert!(id.parse::<u64>().is_ok(), "decimal id: {id}");
    let mut head = Vec::new();
    r.write_to(&mut head);
    let text = String::from_utf8(head).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "CSeq: 1");
    assert_eq!(lines[2], format!("Session: {id}"));
    f.request(
        t0,
        &format!("PLAY movie.Mjpeg RTSP/1.0\nCSeq: 2\nSession: {id}\n\n"),
    );
    f.run_until(t0 + Duration::from_millis(200));
    assert_eq!(f.out.rtp.len(), 5);
    for (i, (_, dest, b)) in f.out.rtp.iter().enumerate() {
        assert_eq!(dest.port(), 25000);
        let p = RtpPacket::new_checked(b).unwrap();
        assert_eq!(p.sequence() as usize, i + 1);
        assert!(p.payload().starts_with(&[0xFF, 0xD8]) && p.payload().ends_with(&[0xFF, 0xD9]));
    }
    assert!(f.out.rtcp.is_empty(), "the lab client has no RTCP");
}

#[test]
fn session_limit_and_unknown_sessions() {
    let mut f = fixture(|c| c.max_sessions = 1);
    assert_eq!(
        f.setup_udp("RTP/AVP;unicast;client_port=5000-5001").status,
        StatusCode::OK
    );
    let r = f.setup_udp("RTP/AVP;unicast;client_port=5002-5003");
    assert!(
        matches!(
            r.status,
            StatusCode::NOT_ENOUGH_BANDWIDTH | StatusCode::SERVICE_UNAVAILABLE
        ),
        "{:?}",
        r.status
    );
    let t0 = f.t0;
    let r = f.request(
        t0,
        "PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 3\r\nSession: 12345\r\n\r\n",
    );
    assert_eq!(r.status, StatusCode::SESSION_NOT_FOUND);
}

#[test]
fn one_address_cannot_take_every_session() {
    let mut f = fixture(|c| c.max_sessions_per_peer = 2);
    let transport = |port: u16| format!("RTP/AVP;unicast;client_port={port}-{}", port + 1);
    let first = f.setup_udp(&transport(5000));
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(f.setup_udp(&transport(5002)).status, StatusCode::OK);
    // A third from the same address, even on another connection, is refused...
    f.conn.id = 2;
    f.conn.peer = "127.0.0.1:40002".parse().unwrap();
    let r = f.setup_udp(&transport(5004));
    assert_eq!(r.status, StatusCode::NOT_ENOUGH_BANDWIDTH);
    // ...while another address is served.
    f.conn.id = 3;
    f.conn.peer = "127.0.0.2:40000".parse().unwrap();
    assert_eq!(f.setup_udp(&transport(5000)).status, StatusCode::OK);
    // A session ended frees its slot.
    f.conn.id = 1;
    f.conn.peer = "127.0.0.1:40000".parse().unwrap();
    let t0 = f.t0;
    let r = f.request(
        t0,
        &format!(
            "TEARDOWN rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 4\r\nSession: {}\r\n\r\n",
            session_of(&first)
        ),
    );
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(f.setup_udp(&transport(5004)).status, StatusCode::OK);
}

fn play(f: &mut Fixture, now: Instant, id: &str) -> Response {
    f.request(
        now,
        &format!(
            "PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"
        ),
    )
}

mod adaptive;
mod edge;
mod multicast;
mod publish;

#[test]
fn rtp_info_names_the_stream_and_the_first_report_follows_media() {
    let mut f = fixture(|_| {});
    let id = session_of(&f.setup_udp("RTP/AVP;unicast;client_port=5000-5001"));
    let t0 = f.t0;
    let r = play(&mut f, t0, &id);
    let info = r.headers.get("RTP-Info").unwrap();
    assert!(
        info.starts_with("url=rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0;"),
        "RFC 2326 §12.33: the stream's URL, as SETUP named it: {info}"
    );
    f.run_until(t0 + Duration::from_millis(100));
    let (_, first) = f.out.rtcp.first().expect("a report after the first frame");
    match rtcp::Compound::new(first).next() {
        Some(Ok(rtcp::Packet::SenderReport(sr))) => {
            assert!(sr.packet_count > 0, "no report of an empty stream")
        }
        other => panic!("not a sender report: {other:?}"),
    }
    let first_rtp = f.out.rtp.first().unwrap().0;
    assert!(first_rtp <= t0 + Duration::from_millis(1));
}

#[test]
fn a_shared_timeline_fans_out_and_late_joiners_start_at_the_next_frame() {
    let mut f = fixture(|_| {});
    let t0 = f.t0;
    let movie = TestMovie {
        seconds: 0.25,
        width: 64,
        height: 64,
        ..TestMovie::default()
    };
    let frames: Vec<FrameRef> = (0..4)
        .map(|i| std::sync::Arc::new(Frame::from_jpeg(movie.encode(i), 1400).unwrap()))
        .collect();
    let tl = f.core.add_timeline(SourceInfo {
        name: "live/cam".into(),
        width: 64,
        height: 64,
        fps: 25.0,
        duration: None,
        frames: 0,
        bytes: 0,
    });
    let setup = |f: &mut Fixture, port: u16| {
        let r = f.request(
            t0,
            &format!("SETUP rtsp://127.0.0.1:8554/live/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port={port}-{}\r\n\r\n", port + 1),
        );
        assert_eq!(r.status, StatusCode::OK);
        let id = session_of(&r);
        let r = f.request(
            t0,
            &format!("PLAY rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\nRange: npt=0-\r\n\r\n"),
        );
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.get("Range").unwrap().starts_with("npt=0"));
    };
    let d = f.request(
        t0,
        "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n",
    );
    let sdp = String::from_utf8(d.body.clone()).unwrap();
    assert!(
        !sdp.contains("a=range"),
        "a live stream has no range: {sdp}"
    );
    setup(&mut f, 5000);
    let push = |f: &mut Fixture, k: usize| {
        let at = t0 + Duration::from_millis(40 * k as u64);
        f.out.now = Some(at);
        let wall = f.wall(at);
        f.core
            .push_frame(tl, &frames[k], 1000 + 3600 * k as u64, at, wall, &mut f.out);
    };
    push(&mut f, 0);
    push(&mut f, 1);
    setup(&mut f, 6000);
    push(&mut f, 2);
    push(&mut f, 3);
    let stream = |port: u16| -> Vec<(u16, u32, u32)> {
        f.out
            .rtp
            .iter()
            .filter(|(_, d, _)| d.port() == port)
            .map(|(_, _, b)| {
                let p = RtpPacket::new_checked(b).unwrap();
                (p.sequence(), p.timestamp(), p.ssrc())
            })
            .collect()
    };
    let (a, b) = (stream(5000), stream(6000));
    let frames_of = |s: &[(u16, u32, u32)]| {
        let mut ts: Vec<u32> = s.iter().map(|x| x.1).collect();
        ts.dedup();
        ts
    };
    assert_eq!(frames_of(&a).len(), 4);
    assert_eq!(
        frames_of(&b).len(),
        2,
        "the late joiner starts at the next frame"
    );
    assert_ne!(a[0].2, b[0].2, "each session has its own SSRC");
    for s in [&a, &b] {
        for w in s.windows(2) {
            assert_eq!(w[1].0, w[0].0.wrapping_add(1), "no sequence gap");
        }
        let ts = frames_of(s);
        for w in ts.windows(2) {
            assert_eq!(
                w[1].wrapping_sub(w[0]),
                3600,
                "timestamps follow the timeline"
            );
        }
    }
    // The timeline ends: both sessions get BYE and are gone.
    let before = f.out.rtcp.len();
    let at = t0 + Duration::from_millis(200);
    let wall = f.wall(at);
    f.core.remove_timeline(tl, at, wall, &mut f.out);
    assert_eq!(f.core.session_count(), 0);
    let byes = f.out.rtcp[before..]
        .iter()
        .filter(|(_, b)| rtcp::Compound::new(b).any(|p| matches!(p, Ok(rtcp::Packet::Bye(_)))))
        .count();
    assert_eq!(byes, 2);
}

#[test]
fn a_movie_truncated_while_it_streams_ends_its_session_cleanly() {
    let mut f = fixture(|c| c.cache_bytes = 0);
    let id = session_of(&f.setup_udp("RTP/AVP;unicast;client_port=5000-5001"));
    let t0 = f.t0;
    play(&mut f, t0, &id);
    let period = Duration::from_secs(1) / 24;
    f.run_until(t0 + period * 3);
    let sent_before = f.out.rtp.len();
    assert!(sent_before > 0);
    // Cut the file to nothing under the running session.
    let path = f._dir.0.join("movie.Mjpeg");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    f.run_until(t0 + Duration::from_secs(5));
    assert_eq!(
        f.core.session_count(),
        0,
        "ended, not spinning: {:?} {}",
        f.core.totals(),
        f.out.rtp.len()
    );
    assert!(f.core.totals().frames_unreadable > 0);
    assert_eq!(f.out.rtp.len(), sent_before, "no torn frame went out");
    // A DESCRIBE now sees the empty file and says it cannot be streamed.
    let r = f.request(
        t0 + Duration::from_secs(5),
        "DESCRIBE rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 9\r\n\r\n",
    );
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

mod playlist;
