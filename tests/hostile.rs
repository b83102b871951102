//! Hostile input. While one well-behaved client streams over UDP, everything a hostile client
//! might send is thrown at the server; every attack must get its answer, and the good session
//! must lose no packet and keep its pace. Then the player against hostile servers.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{udp_pair, Client, TestServer};
use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::client::Options;
use rtsp_mjpeg::client::{Command, PlayerState};
use rtsp_mjpeg::player::Player;

/// A deterministic byte source (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Sends raw bytes (ignoring a reset mid-way) and returns what the server answered before
/// closing or going quiet for a second.
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(reply: &str) -> Option<u16> {
    reply.split(' ').nth(1)?.parse().ok()
}

/// Connects from a chosen loopback address (127.0.0.N), so many connections are not all one
/// peer for the per-address limit.
fn connect_from(src: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::from((src, 0)).into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

#[test]
fn attacks_do_not_disturb_a_good_session() {
    let server = TestServer::start(|c| {
        c.max_sessions = 20;
        c.max_connections = 1200;
        c.max_connections_per_peer = 64;
    });
    let url = server.url("movie.Mjpeg");
    let rss_before = rss_kb();

    // The good session: UDP, its packets recorded with arrival times on a thread.
    let (rtp, _rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let mut good = Client::connect(server.addr);
    let r = good.setup_udp(&url, port);
    assert_eq!(r.status, 200);
    let good_id = r.session();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    rtp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let receiver = std::thread::spawn(move || {
        let mut got: Vec<(Instant, u16, bool)> = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop2.load(Ordering::SeqCst) {
            if let Ok(n) = rtp.recv(&mut buf) {
                assert!(n >= 12);
                got.push((
                    Instant::now(),
                    u16::from_be_bytes([buf[2], buf[3]]),
                    buf[1] & 0x80 != 0,
                ));
            }
        }
        got
    });
    assert_eq!(
        good.request("PLAY", &url, &[("Session", &good_id)]).status,
        200
    );
    let started = Instant::now();
    let addr = server.addr;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // Garbage: 400 and the connection closed.
    let reply = raw(addr, &rng.bytes(64 * 1024));
    assert!(
        reply.is_empty() || status_of(&reply) == Some(400),
        "garbage: {reply:?}"
    );
    // A 2 MB header line: 431.
    let mut big = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Long: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 2 << 20));
    assert_eq!(status_of(&raw(addr, &big)), Some(431));
    // 100 headers: 431.
    let mut many = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n".to_string();
    for i in 0..100 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(status_of(&raw(addr, many.as_bytes())), Some(431));
    // A huge Content-Length: 413, without waiting for the body.
    let reply = raw(
        addr,
        format!("SET_PARAMETER {url} RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 999999999\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(status_of(&reply), Some(413), "{reply}");
    // Another version: 505.
    assert_eq!(
        status_of(&raw(addr, b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n")),
        Some(505)
    );

    // Interleaved frames with bogus channels and lengths, then a request that must still work.
    let mut c = Client::connect(addr);
    let mut junk = vec![b'$', 9, 0x00, 0x10];
    junk.extend(rng.bytes(16));
    junk.extend([b'$', 200, 0xFF, 0xFF]);
    junk.extend(rng.bytes(0xFFFF));
    c.send_raw(&junk);
    assert_eq!(c.request("OPTIONS", &url, &[]).status, 200);

    // Random datagrams at the server's RTP and RTCP ports.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..2000 {
        let n = (rng.next() % 1500) as usize;
        let port = server.rtp.port() + (i % 2) as u16;
        let _ = udp.send_to(&rng.bytes(n), ("127.0.0.1", port));
    }

    // Forged, guessed and reused session ids: 454; the good session is untouched.
    for id in [
        "12345",
        "0",
        "-1",
        "99999999999999999999999",
        "abc;timeout=1",
    ] {
        assert_eq!(
            c.request("PLAY", &url, &[("Session", id)]).status,
            454,
            "{id}"
        );
    }
    let (own, _) = udp_pair();
    let op = own.local_addr().unwrap().port();
    let r = c.setup_udp(&url, op);
    let mine = r.session();
    assert_eq!(
        c.request("TEARDOWN", &url, &[("Session", &mine)]).status,
        200
    );
    assert_eq!(
        c.request("PLAY", &url, &[("Session", &mine)]).status,
        454,
        "a torn-down id is dead"
    );

    // Traversal in every encoding: 404.
    let base = format!("rtsp://{addr}");
    for path in [
        "../Cargo.toml",
        "%2e%2e/Cargo.toml",
        "%2E%2E%2FCargo.toml",
        "..%2fCargo.toml",
        "%252e%252e/Cargo.toml",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "..\\Cargo.toml",
        "movie.Mjpeg%00.txt",
        "./../movie.Mjpeg",
    ] {
        let r = c.request("DESCRIBE", &format!("{base}/{path}"), &[]);
        assert_eq!(r.status, 404, "{path}");
    }
    // RTP to a third party: 461.
    for dest in ["192.0.2.1", "127.0.0.2", "::1", "evil.example"] {
        let r = c.request(
            "SETUP",
            &url,
            &[(
                "Transport",
                &format!("RTP/AVP;unicast;destination={dest};client_port=5000-5001"),
            )],
        );
        assert_eq!(r.status, 461, "destination={dest}");
    }

    // A SETUP flood past the session limit: 453, and nothing else breaks.
    let mut statuses = Vec::new();
    for i in 0..40 {
        let p = 20000 + 2 * i;
        let r = c.setup_udp(&url, p);
        statuses.push(r.status);
    }
    assert!(statuses.iter().filter(|&&s| s == 200).count() <= 19);
    assert!(statuses.contains(&453), "{statuses:?}");

    // 1000 idle connections from 16 addresses (the per-address limit is 64).
    let mut idle = Vec::new();
    for i in 0..1000u32 {
        let src = Ipv4Addr::new(127, 0, 1, 1 + (i % 16) as u8);
        idle.push(connect_from(src, addr).expect("idle connection"));
    }
    // One more from an address already at its limit is closed at once.
    let crowded = Ipv4Addr::new(127, 0, 1, 1);
    let mut extra: Vec<TcpStream> = (0..10)
        .map(|_| connect_from(crowded, addr).unwrap())
        .collect();
    let closed = extra.iter_mut().any(|s| {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        matches!(s.read(&mut [0u8; 1]), Ok(0) | Err(_))
    });
    assert!(closed, "the 65th connection from one address is refused");
    // A request one byte at a time is still answered.
    let mut slow = TcpStream::connect(addr).unwrap();
    for b in format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 42\r\n\r\n").bytes() {
        slow.write_all(&[b]).unwrap();
    }
    slow.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("CSeq: 42"));

    // Let the good session run on for a while under all that, then check it.
    std::thread::sleep(Duration::from_millis(1500));
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let got = receiver.join().unwrap();
    drop(idle);
    let seqs: Vec<u16> = got.iter().map(|g| g.1).collect();
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0].wrapping_add(1),
            "a packet of the good session was lost"
        );
    }
    let frame_times: Vec<Instant> = got.iter().filter(|g| g.2).map(|g| g.0).collect();
    let expected = elapsed.as_secs_f64() * 24.0;
    assert!(
        (frame_times.len() as f64) > expected - 6.0,
        "{} frames in {elapsed:?}, expected about {expected:.0}",
        frame_times.len()
    );
    let worst = frame_times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(worst < Duration::from_millis(300), "a {worst:?} stall");
    let grown = rss_kb().saturating_sub(rss_before);
    assert!(grown < 200 * 1024, "memory grew by {grown} kB");
}

/// Closes a connection that holds no session and sends nothing, and one that dribbles a request
/// forever, after the idle time-out.
#[test]
fn idle_and_slowloris_connections_are_closed() {
    let server = TestServer::start(|c| c.idle_timeout = Duration::from_secs(1));
    let mut quiet = TcpStream::connect(server.addr).unwrap();
    let mut dribble = TcpStream::connect(server.addr).unwrap();
    dribble
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    quiet
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    let start = Instant::now();
    let mut closed = false;
    for b in b"OPTIONS * RTSP/1.0\r\nX-Slow: ".iter().cycle().take(40) {
        if dribble.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        if let Ok(0) = dribble.read(&mut [0u8; 1]) {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a request dribbled over {:?} is cut off",
        start.elapsed()
    );
    assert!(matches!(quiet.read(&mut [0u8; 1]), Ok(0) | Err(_)));
    assert!(start.elapsed() < Duration::from_secs(6));
}

/// A fake server: answers each request with what `answer` returns for its method (None: stay
/// silent), and can send datagrams to the client's RTP port after PLAY.
fn fake_server(
    answer: impl Fn(&str, u32, &str) -> Option<String> + Send + 'static,
    after_play: impl Fn(u16) + Send + 'static,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut client_port = 0;
        loop {
            let n = match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some(end) = common::find(&buf, b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end + 4);
                let method = text.split(' ').next().unwrap_or("").to_string();
                let cseq: u32 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("CSeq: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if let Some(p) = text.split("client_port=").nth(1) {
                    client_port = p.split('-').next().unwrap().parse().unwrap_or(0);
                }
                if let Some(reply) = answer(&method, cseq, &text) {
                    let _ = s.write_all(reply.as_bytes());
                }
                if method == "PLAY" {
                    after_play(client_port);
                }
            }
        }
    });
    addr
}

fn ok(cseq: u32, extra: &str, body: &str) -> String {
    format!(
        "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn player_for(addr: SocketAddr) -> Player {
    let mut o = Options::new(Target::parse_url(&format!("rtsp://{addr}/m")).unwrap());
    o.describe_timeout = Duration::from_millis(300);
    o.request_timeout = Duration::from_millis(800);
    Player::start(o, Instant::now()).unwrap()
}

/// Runs the player for `d`, showing frames as a window would.
fn run_for(p: &mut Player, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        p.poll_events();
        if let Some(f) = p.next_frame(Duration::from_millis(10)) {
            p.presented(&f, Instant::now());
        }
    }
}

#[test]
fn player_survives_bad_sdp() {
    let addr = fake_server(
        |m, cseq, _| match m {
            "DESCRIBE" => Some(ok(
                cseq,
                "Content-Type: application/sdp\r\n",
                "this is not SDP\r\n",
            )),
            _ => Some(format!(
                "RTSP/1.0 455 Method Not Valid in This State\r\nCSeq: {cseq}\r\n\r\n"
            )),
        },
        |_| {},
    );
    let mut p = player_for(addr);
    p.send(Command::Setup);
    run_for(&mut p, Duration::from_millis(800));
    assert!(
        p.error.as_deref().unwrap_or("").contains("SDP")
            || p.error.as_deref().unwrap_or("").contains("455"),
        "{:?}",
        p.error
    );
    assert_ne!(p.state, PlayerState::Playing);
}

#[test]
fn player_reports_a_server_that_stops_answering() {
    let addr = fake_server(|_, _, _| None, |_| {});
    let mut p = player_for(addr);
    p.send(Command::Setup);
    let t = Instant::now();
    run_for(&mut p, Duration::from_millis(1600));
    assert!(
        p.error.as_deref().unwrap_or("").contains("no answer"),
        "{:?}",
        p.error
    );
    assert_eq!(p.state, PlayerState::Init);
    let shut = Instant::now();
    p.shutdown();
    assert!(
        shut.elapsed() < Duration::from_secs(3),
        "shutdown does not hang"
    );
    assert!(t.elapsed() < Duration::from_secs(6));
}

#[test]
fn player_survives_bogus_rtp_and_jpeg() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:track0\r\n";
    let addr = fake_server(
        move |m, cseq, req| match m {
            "DESCRIBE" => Some(ok(cseq, "Content-Type: application/sdp\r\n", sdp)),
            "SETUP" => {
                let t = req
                    .lines()
                    .find_map(|l| l.strip_prefix("Transport: "))
                    .unwrap_or("")
                    .to_string();
                Some(ok(cseq, &format!("Session: 77\r\nTransport: {t}\r\n"), ""))
            }
            _ => Some(ok(cseq, "Session: 77\r\n", "")),
        },
        |port| {
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                let mut rng = Rng(42);
                for i in 0..3000u32 {
                    let mut p = vec![0x80, 26 | if i % 7 == 0 { 0x80 } else { 0 }];
                    p.extend((i as u16).to_be_bytes());
                    p.extend((i / 7).to_be_bytes());
                    p.extend([0, 0, 0, 1]);
                    match i % 3 {
                        // Random RFC 2435 headers and data.
                        0 => {
                            let n = (rng.next() % 1400) as usize;
                            p.extend(rng.bytes(n))
                        }
                        // A whole "JPEG" that is not one.
                        1 => {
                            p.extend([
                                0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0xFF, 0xFF, 0xFF, 0xFF,
                            ]);
                            p.extend(rng.bytes(200));
                        }
                        // Type 1, Q 255 with a table header claiming more than is there.
                        _ => {
                            p.extend([0, 0, 0, 0, 1, 255, 80, 60, 0, 0, 0xFF, 0xFF]);
                            p.extend(rng.bytes(64));
                        }
                    }
                    let _ = s.send_to(&p, ("127.0.0.1", port));
                    if i % 100 == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            });
        },
    );
    let mut p = player_for(addr);
    p.send(Command::Setup);
    p.send(Command::Play);
    run_for(&mut p, Duration::from_secs(2));
    assert_eq!(p.state, PlayerState::Playing, "{:?}", p.error);
    let s = p.snapshot(Instant::now());
    assert!(s.packets > 100, "the garbage arrived: {s:?}");
    assert!(s.frames_dropped > 0, "and was counted as dropped: {s:?}");
    p.shutdown();
}
