//! rtspd driven over real sockets on 127.0.0.1: sessions over UDP and TCP, pause and seek,
//! time-outs, the lab client's dialect byte for byte, every error status, pipelining, vanished
//! clients, and 200 sessions at once.

mod common;

use std::time::Duration;

use common::*;
use rtsp_mjpeg::media::testmovie::read_frame_number;
use rtsp_mjpeg::rtp::jpeg::Depacketizer;
use rtsp_mjpeg::rtp::packet::RtpPacket;

/// Depacketizes datagrams and returns the frame numbers the test movie drew into each frame.
fn frame_numbers(packets: &[Vec<u8>]) -> Vec<u32> {
    let mut depack = Depacketizer::new(1 << 20);
    let mut numbers = Vec::new();
    for p in packets {
        let Ok(pkt) = RtpPacket::new_checked(p) else {
            continue;
        };
        assert_eq!(pkt.payload_type(), 26);
        let _ = depack.push(&pkt);
        while let Some(frame) = depack.pull() {
            numbers.push(decode_number(&frame.data));
        }
    }
    numbers
}

fn decode_number(jpeg: &[u8]) -> u32 {
    let mut decoder =
        zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(jpeg));
    let pixels = decoder.decode().expect("a decodable frame");
    let info = decoder.info().unwrap();
    read_frame_number(&pixels, usize::from(info.width), usize::from(info.height))
        .expect("frame number readable")
}

/// SETUP of the track URL, as ffmpeg and GStreamer send it.
fn udp_setup(c: &mut Client, url: &str, rtp_port: u16) -> Reply {
    c.setup_udp(&format!("{url}/trackID=0"), rtp_port)
}

#[test]
fn options_and_describe() {
    let server = TestServer::start(|_| {});
    let mut c = Client::connect(server.addr);
    let r = c.request("OPTIONS", "*", &[]);
    assert_eq!(r.status, 200);
    let public = r.header("Public").unwrap();
    for m in [
        "DESCRIBE",
        "SETUP",
        "PLAY",
        "PAUSE",
        "TEARDOWN",
        "GET_PARAMETER",
    ] {
        assert!(public.contains(m), "{public}");
    }
    let r = c.request(
        "DESCRIBE",
        &server.url("movie.Mjpeg"),
        &[("Accept", "application/sdp")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/sdp"));
    let sdp = String::from_utf8(r.body.clone()).unwrap();
    assert!(sdp.contains("m=video 0 RTP/AVP 26"), "{sdp}");
    assert!(sdp.contains("a=range:npt=0-2"), "{sdp}");
    assert!(sdp.contains("a=control:"), "{sdp}");
    assert_eq!(
        r.header("Content-Base"),
        Some(format!("{}/", server.url("movie.Mjpeg")).as_str())
    );
}

#[test]
fn udp_session_streams_frames_in_order_and_tears_down() {
    let server = TestServer::start(|_| {});
    let (rtp, _rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let mut c = Client::connect(server.addr);
    let url = server.url("movie.Mjpeg");
    let r = udp_setup(&mut c, &url, port);
    assert_eq!(r.status, 200, "{r:?}");
    let transport = r.header("Transport").unwrap();
    assert!(
        transport.contains(&format!("client_port={port}-{}", port + 1)),
        "{transport}"
    );
    assert!(
        transport.contains(&format!(
            "server_port={}-{}",
            server.rtp.port(),
            server.rtp.port() + 1
        )),
        "{transport}"
    );
    assert!(r.header("Session").unwrap().contains(";timeout=60"));
    let session = r.session();
    assert!(
        session.len() >= 7,
        "session ids carry at least 64 random bits: {session}"
    );

    let r = c.request("PLAY", &url, &[("Session", &session), ("Range", "npt=0-")]);
    assert_eq!(r.status, 200);
    let info = r.header("RTP-Info").unwrap();
    assert!(info.contains("seq=") && info.contains("rtptime="), "{info}");
    let packets = recv_n(&rtp, 400, Duration::from_millis(700));
    let numbers = frame_numbers(&packets);
    assert!(
        numbers.len() >= 10,
        "about 16 frames in 0.7 s at 24 fps, got {}",
        numbers.len()
    );
    let expected: Vec<u32> = (0..numbers.len() as u32).collect();
    assert_eq!(
        numbers, expected,
        "frames arrive whole and in order from the first"
    );
    // The first packet carries the sequence number RTP-Info announced.
    let first = RtpPacket::new_checked(&packets[0]).unwrap();
    assert!(
        info.contains(&format!("seq={}", first.sequence())),
        "{info}"
    );
    assert!(
        info.contains(&format!("rtptime={}", first.timestamp())),
        "{info}"
    );

    let r = c.request("TEARDOWN", &url, &[("Session", &session)]);
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(100));
    drain_for(&rtp, Duration::from_millis(50));
    assert!(
        drain_for(&rtp, Duration::from_millis(200)).is_empty(),
        "no RTP after TEARDOWN"
    );
    let r = c.request("PLAY", &url, &[("Session", &session)]);
    assert_eq!(r.status, 454, "the session is gone");
}

#[test]
fn tcp_interleaved_session() {
    let server = TestServer::start(|_| {});
    let mut c = Client::connect(server.addr);
    let url = server.url("movie.Mjpeg");
    let r = c.request(
        "SETUP",
        &format!("{url}/trackID=0"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("Transport").unwrap().contains("interleaved=0-1"));
    let session = r.session();
    let r = c.request("PLAY", &url, &[("Session", &session)]);
    assert_eq!(r.status, 200);
    let packets = c.read_interleaved(0, 150, Duration::from_secs(2));
    let numbers = frame_numbers(&packets);
    assert!(numbers.len() >= 10, "got {}", numbers.len());
    assert_eq!(numbers, (0..numbers.len() as u32).collect::<Vec<_>>());
    // A sender report comes on the RTCP channel at the start of play.
    let rtcp = c.read_interleaved(1, 1, Duration::from_secs(1));
    assert!(
        !rtcp.is_empty() && rtcp[0][1] == 200,
        "RTCP SR on channel 1"
    );
    let r = c.request("TEARDOWN", &url, &[("Session", &session)]);
    assert_eq!(r.status, 200);
}

#[test]
fn pause_stops_frames_and_play_resumes_where_it_paused() {
    let server = TestServer::start(|_| {});
    let (rtp, _rtcp) = udp_pair();
    let mut c = Client::connect(server.addr);
    let url = server.url("movie.Mjpeg");
    let session = udp_setup(&mut c, &url, rtp.local_addr().unwrap().port()).session();
    assert_eq!(
        c.request("PLAY", &url, &[("Session", &session)]).status,
        200
    );
    let first = frame_numbers(&recv_n(&rtp, 10_000, Duration::from_millis(400)));
    assert_eq!(
        c.request("PAUSE", &url, &[("Session", &session)]).status,
        200
    );
    let tail = frame_numbers(&drain_for(&rtp, Duration::from_millis(100)));
    assert!(
        drain_for(&rtp, Duration::from_millis(300)).is_empty(),
        "no packets while paused"
    );
    let last = *tail.last().or(first.last()).unwrap();
    let r = c.request("PLAY", &url, &[("Session", &session)]);
    assert_eq!(r.status, 200);
    let resumed = frame_numbers(&recv_n(&rtp, 60, Duration::from_millis(400)));
    assert_eq!(
        resumed.first(),
        Some(&(last + 1)),
        "resumes with the frame after {last}"
    );
}

#[test]
fn play_with_range_seeks() {
    let server = TestServer::start(|_| {});
    let (rtp, _rtcp) = udp_pair();
    let mut c = Client::connect(server.addr);
    let url = server.url("movie.Mjpeg");
    let session = udp_setup(&mut c, &url, rtp.local_addr().unwrap().port()).session();
    let r = c.request(
        "PLAY",
        &url,
        &[("Session", &session), ("Range", "npt=1.5-")],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("Range").unwrap().starts_with("npt=1.5"),
        "{:?}",
        r.header("Range")
    );
    let numbers = frame_numbers(&recv_n(&rtp, 40, Duration::from_millis(300)));
    assert_eq!(numbers.first(), Some(&36), "1.5 s at 24 fps is frame 36");
    let r = c.request("PLAY", &url, &[("Session", &session), ("Range", "npt=5-")]);
    assert_eq!(r.status, 457, "beyond the 2 s movie");
}

#[test]
fn session_times_out_without_connection_or_rtcp() {
    let server = TestServer::start(|c| c.session_timeout = Duration::from_secs(1));
    let (rtp, _rtcp) = udp_pair();
    let url = server.url("movie.Mjpeg");
    let session = {
        let mut c = Client::connect(server.addr);
        let s = udp_setup(&mut c, &url, rtp.local_addr().unwrap().port()).session();
        assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
        s
    }; // the connection closes here
    assert!(
        !recv_n(&rtp, 5, Duration::from_millis(500)).is_empty(),
        "plays on after the connection closes"
    );
    std::thread::sleep(Duration::from_millis(1800));
    drain_for(&rtp, Duration::from_millis(20));
    assert!(
        drain_for(&rtp, Duration::from_millis(300)).is_empty(),
        "stopped after the time-out"
    );
    let mut c = Client::connect(server.addr);
    assert_eq!(
        c.request("PLAY", &url, &[("Session", &session)]).status,
        454
    );
}

#[test]
fn keepalive_keeps_a_session_without_connection() {
    let server = TestServer::start(|c| c.session_timeout = Duration::from_secs(1));
    let (rtp, _rtcp) = udp_pair();
    let url = server.url("movie.Mjpeg");
    let session = {
        let mut c = Client::connect(server.addr);
        udp_setup(&mut c, &url, rtp.local_addr().unwrap().port()).session()
    };
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        let mut c = Client::connect(server.addr);
        assert_eq!(
            c.request("GET_PARAMETER", &url, &[("Session", &session)])
                .status,
            200
        );
    }
}

/// The seed's Client.py, byte for byte: LF line ends, no blank line, relative URL, and it reads
/// CSeq from the reply's second line and the session from its third.
#[test]
fn lab_client_dialect() {
    let server = TestServer::start(|_| {});
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut c = Client::connect(server.addr);
    let read_lab_reply = |c: &mut Client| -> String {
        let mut buf = [0u8; 1024];
        c.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = std::io::Read::read(&mut c.stream, &mut buf).expect("a lab reply within 5 s");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    c.send_raw(
        format!("SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= {port}")
            .as_bytes(),
    );
    let reply = read_lab_reply(&mut c);
    let lines: Vec<&str> = reply.split('\n').collect();
    assert!(lines[0].starts_with("RTSP/1.0 200"), "{reply}");
    assert_eq!(
        lines[1].split(' ').nth(1).unwrap().trim(),
        "1",
        "CSeq on line 2: {reply}"
    );
    let session = lines[2].split(' ').nth(1).unwrap().trim();
    assert!(lines[2].starts_with("Session: "), "{reply}");
    let id: u64 = session
        .parse()
        .expect("a decimal session id with nothing after it");

    c.send_raw(format!("PLAY movie.Mjpeg RTSP/1.0\nCSeq: 2\nSession: {id}").as_bytes());
    let reply = read_lab_reply(&mut c);
    assert!(reply.starts_with("RTSP/1.0 200"), "{reply}");
    assert!(reply.split('\n').nth(1).unwrap().starts_with("CSeq: 2"));
    rtp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 20480];
    let mut last_seq = 0;
    for i in 0..5 {
        let n = rtp.recv(&mut buf).unwrap();
        assert_eq!(
            buf[12..14],
            [0xFF, 0xD8],
            "a whole JPEG after the 12-byte header"
        );
        assert_eq!(buf[1] & 0x7F, 26);
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        assert_eq!(seq, i + 1, "sequence number = frame number from 1");
        assert!(seq > last_seq);
        last_seq = seq;
        assert_eq!(decode_number(&buf[12..n]), u32::from(i));
    }
    c.send_raw(format!("PAUSE movie.Mjpeg RTSP/1.0\nCSeq: 3\nSession: {id}").as_bytes());
    assert!(read_lab_reply(&mut c).starts_with("RTSP/1.0 200"));
    c.send_raw(format!("TEARDOWN movie.Mjpeg RTSP/1.0\nCSeq: 4\nSession: {id}").as_bytes());
    let reply = read_lab_reply(&mut c);
    assert!(reply.starts_with("RTSP/1.0 200"), "{reply}");
    assert_eq!(
        reply
            .split('\n')
            .nth(2)
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .trim(),
        id.to_string()
    );
}

/// A standard client's request that pauses mid-way is never taken as complete.
#[test]
fn slow_standard_request_is_not_cut_short() {
    let server = TestServer::start(|_| {});
    let mut c = Client::connect(server.addr);
    c.send_raw(
        format!(
            "OPTIONS {} RTSP/1.0\r\nCSeq: 7\r\n",
            server.url("movie.Mjpeg")
        )
        .as_bytes(),
    );
    std::thread::sleep(Duration::from_millis(300));
    c.send_raw(b"User-Agent: slow\r\n\r\n");
    let r = c.read_reply();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("CSeq"), Some("7"));
}

#[test]
fn error_statuses() {
    let server = TestServer::start(|c| c.max_sessions = 2);
    std::fs::write(
        server.media.0.join("other.Mjpeg"),
        small_movie().to_lab_bytes(),
    )
    .unwrap();
    let url = server.url("movie.Mjpeg");
    let mut c = Client::connect(server.addr);

    // 404: unknown movie, and every traversal.
    assert_eq!(
        c.request("DESCRIBE", &server.url("nothing.Mjpeg"), &[])
            .status,
        404
    );
    for bad in [
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
    ] {
        assert_eq!(
            c.request("DESCRIBE", &format!("rtsp://{}/{bad}", server.addr), &[])
                .status,
            404,
            "{bad}"
        );
    }
    // 454: unknown session.
    assert_eq!(
        c.request("PLAY", &url, &[("Session", "12345678")]).status,
        454
    );
    // 461: no transport we support; multicast; RTP aimed at a third party.
    assert_eq!(
        c.request(
            "SETUP",
            &url,
            &[("Transport", "RAW/RAW/UDP;unicast;client_port=5000")]
        )
        .status,
        461
    );
    assert_eq!(
        c.request(
            "SETUP",
            &url,
            &[("Transport", "RTP/AVP;multicast;port=5000-5001")]
        )
        .status,
        461
    );
    let r = c.request(
        "SETUP",
        &url,
        &[(
            "Transport",
            "RTP/AVP;unicast;destination=192.0.2.7;client_port=5000-5001",
        )],
    );
    assert_eq!(r.status, 461, "destination elsewhere is refused");
    // 455: PAUSE before PLAY.
    let (rtp, _rtcp) = udp_pair();
    let session = udp_setup(&mut c, &url, rtp.local_addr().unwrap().port()).session();
    assert_eq!(
        c.request("PAUSE", &url, &[("Session", &session)]).status,
        455
    );
    // 459: a second movie in the same session.
    let r = c.request(
        "SETUP",
        &server.url("other.Mjpeg"),
        &[
            ("Session", &session),
            ("Transport", "RTP/AVP;unicast;client_port=5000-5001"),
        ],
    );
    assert_eq!(r.status, 459);
    // 453: past the session limit (2).
    assert_eq!(udp_setup(&mut c, &url, 5002).status, 200);
    assert_eq!(udp_setup(&mut c, &url, 5004).status, 453);
    // 501: methods we do not implement, with Public.
    let r = c.request("RECORD", &url, &[("Session", &session)]);
    assert_eq!(r.status, 501);
    assert!(r.header("Public").is_some());
    // 551: a Require'd option.
    assert_eq!(
        c.request("OPTIONS", &url, &[("Require", "funky-feature")])
            .status,
        551
    );

    // 400: no CSeq (and the connection is kept for the next request).
    let mut c = Client::connect(server.addr);
    c.send_raw(format!("OPTIONS {url} RTSP/1.0\r\n\r\n").as_bytes());
    assert_eq!(c.read_reply().status, 400);
    // 400: garbage; then the connection closes.
    let mut c = Client::connect(server.addr);
    c.send_raw(b"\x00\x01\x02 this is not RTSP\r\n\r\n");
    assert_eq!(c.read_reply().status, 400);
    assert!(
        c.try_read_reply().is_none(),
        "closed after a malformed request"
    );
    // 505: another version.
    let mut c = Client::connect(server.addr);
    c.send_raw(format!("OPTIONS {url} RTSP/2.0\r\nCSeq: 1\r\n\r\n").as_bytes());
    assert_eq!(c.read_reply().status, 505);
    // 413: a body larger than the limit.
    let mut c = Client::connect(server.addr);
    c.send_raw(
        format!("SET_PARAMETER {url} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 100000000\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(c.read_reply().status, 413);
    // 431: a header block larger than the limit.
    let mut c = Client::connect(server.addr);
    let long = "x".repeat(20_000);
    c.send_raw(format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nX-Long: {long}\r\n\r\n").as_bytes());
    assert_eq!(c.read_reply().status, 431);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(|_| {});
    let url = server.url("movie.Mjpeg");
    let mut c = Client::connect(server.addr);
    let mut batch = String::new();
    for i in 1..=5 {
        batch.push_str(&format!("OPTIONS {url} RTSP/1.0\r\nCSeq: {i}\r\n\r\n"));
    }
    batch.push_str(&format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 6\r\n\r\n"));
    c.send_raw(batch.as_bytes());
    for i in 1..=6 {
        let r = c.read_reply();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("CSeq"), Some(i.to_string().as_str()));
    }
}

#[test]
fn one_byte_at_a_time() {
    let server = TestServer::start(|_| {});
    let url = server.url("movie.Mjpeg");
    let mut c = Client::connect(server.addr);
    c.stream.set_nodelay(true).unwrap();
    for b in format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 9\r\n\r\n").bytes() {
        c.send_raw(&[b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = c.read_reply();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("CSeq"), Some("9"));
}

/// A client that vanishes (connection dropped, UDP port closed) costs other sessions nothing.
#[test]
fn vanished_client_does_not_disturb_others() {
    let server = TestServer::start(|_| {});
    let url = server.url("movie.Mjpeg");
    {
        let (gone, _gone_rtcp) = udp_pair();
        let mut c = Client::connect(server.addr);
        let s = udp_setup(&mut c, &url, gone.local_addr().unwrap().port()).session();
        assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
    } // socket and connection gone: the server now gets ICMP port unreachable
    let (rtp, _rtcp) = udp_pair();
    let mut c = Client::connect(server.addr);
    let s = udp_setup(&mut c, &url, rtp.local_addr().unwrap().port()).session();
    assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
    let numbers = frame_numbers(&recv_n(&rtp, 10_000, Duration::from_millis(800)));
    assert!(numbers.len() >= 15, "got {}", numbers.len());
    assert_eq!(
        numbers,
        (0..numbers.len() as u32).collect::<Vec<_>>(),
        "no frame lost"
    );
}

#[test]
fn two_hundred_concurrent_sessions() {
    // All from 127.0.0.1, so the per-address limits (64 by default) are raised.
    let server = TestServer::start(|c| {
        c.max_connections_per_peer = 1000;
        c.max_sessions_per_peer = 1000;
    });
    let url = server.url("movie.Mjpeg");
    let rx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    rx.set_recv_buffer_size(8 << 20).unwrap();
    rx.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    let rx: std::net::UdpSocket = rx.into();
    let port = rx.local_addr().unwrap().port();
    let mut clients = Vec::new();
    for _ in 0..200 {
        let mut c = Client::connect(server.addr);
        let r = c.setup_udp(&url, port);
        assert_eq!(r.status, 200);
        let s = r.session();
        assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
        clients.push(c);
    }
    let packets = drain_for(&rx, Duration::from_millis(1000));
    let mut ssrcs: Vec<u32> = packets
        .iter()
        .filter_map(|p| RtpPacket::new_checked(p).ok())
        .filter(|p| p.marker())
        .map(|p| p.ssrc())
        .collect();
    ssrcs.sort_unstable();
    ssrcs.dedup();
    assert_eq!(ssrcs.len(), 200, "every session delivered whole frames");
}

/// An interleaved client that stops reading: its queue fills, and the server drops whole frames
/// for it (never parts of one) while a UDP session on the same server keeps its pace.
#[test]
fn slow_tcp_reader_loses_whole_frames_only() {
    let server = TestServer::start(|c| c.max_queue = 64 * 1024);
    let url = server.url("movie.Mjpeg");
    let (rtp, _rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let mut good = Client::connect(server.addr);
    let id = good.setup_udp(&url, port).session();
    let mut slow = Client::connect(server.addr);
    socket2::SockRef::from(&slow.stream)
        .set_recv_buffer_size(16 * 1024)
        .unwrap();
    let r = slow.request(
        "SETUP",
        &url,
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    let slow_id = r.session();
    assert_eq!(
        slow.request("PLAY", &url, &[("Session", &slow_id)]).status,
        200
    );
    assert_eq!(good.request("PLAY", &url, &[("Session", &id)]).status, 200);
    // The slow client reads nothing for 1.5 s; the good one gets every frame meanwhile.
    let good_packets = recv_n(&rtp, usize::MAX, Duration::from_millis(1500));
    let frames = good_packets.iter().filter(|p| p[1] & 0x80 != 0).count();
    assert!(
        frames >= 33,
        "the UDP session kept pace: {frames} frames in 1.5 s"
    );
    // Now it reads: every frame it gets is whole, and some were skipped whole.
    let packets = slow.read_interleaved(0, usize::MAX, Duration::from_secs(4));
    let mut d = Depacketizer::new(1 << 24);
    let mut stamps = Vec::new();
    for p in &packets {
        let pkt = RtpPacket::new_checked(p).unwrap();
        d.push(&pkt).unwrap();
        while let Some(f) = d.pull() {
            stamps.push(f.timestamp);
        }
    }
    assert!(stamps.len() > 10, "{} frames", stamps.len());
    assert_eq!(d.dropped.total(), 0, "no partial frame: {:?}", d.dropped);
    let skipped = stamps.windows(2).any(|w| w[1].wrapping_sub(w[0]) > 3750);
    assert!(skipped, "frames were dropped for the slow reader (whole)");
}
