//! rtspd's HTTP side on its RTSP port (issue 13), through real sockets: every status code, HEAD,
//! keep-alive, Range, authentication, the limits, MJPEG viewers (paced, whole parts, a stalled
//! viewer harming no one and resuming at the current frame), ffmpeg reading `/mjpeg/` and
//! playing RTSP tunnelled over HTTP pixel-exact, and the tunnel by hand.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::tools::{framemd5, run};
use common::{have_tool, seed_movie, small_movie, write_movie, TempDir, TestServer};
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::rtsp::auth::{basic_authorization, digest_response, ha1, AuthHeader};
use rtsp_mjpeg::server::auth::AuthConfig;

/// A response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    fn headers(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
            })
            .collect()
    }
}

/// One HTTP connection that reads responses by their Content-Length.
struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    fn connect(addr: SocketAddr) -> Http {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Http {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, raw: &str) {
        self.stream.write_all(raw.as_bytes()).unwrap();
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response; `head_only` for the answer to HEAD.
    fn read(&mut self, head_only: bool) -> Option<Reply> {
        loop {
            if let Some(end) = common::find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
                let mut r = Reply {
                    status,
                    head,
                    body: Vec::new(),
                };
                let len: usize = match (head_only, r.header("Content-Length")) {
                    (false, Some(v)) => v.parse().unwrap(),
                    _ => 0,
                };
                while self.buf.len() < end + 4 + len {
                    if !self.fill() {
                        return None;
                    }
                }
                r.body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                return Some(r);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn get(&mut self, path: &str) -> Reply {
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"));
        self.read(false).expect("a response")
    }

    /// True once the server has closed the connection (within the read time-out).
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1024];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A server with the small test movie and a "video file" of 10 000 known bytes.
fn server(tweak: impl FnOnce(&mut rtsp_mjpeg::server::Config)) -> TestServer {
    let media = TempDir::new("http");
    write_movie(&media.0, "movie.Mjpeg", &small_movie());
    std::fs::create_dir_all(media.0.join("clips")).unwrap();
    std::fs::write(media.0.join("clips/video.mp4"), file_bytes()).unwrap();
    TestServer::start_in(media, tweak)
}

fn file_bytes() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn status_codes_head_and_keep_alive() {
    let s = server(|_| {});
    let mut c = Http::connect(s.addr);
    let r = c.get("/healthz");
    assert_eq!((r.status, r.body.as_slice()), (200, b"ok\n".as_slice()));
    let page = c.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(
        html.contains("href=\"/watch/movie.Mjpeg\"") && html.contains("/thumb/clips/video.mp4")
    );
    c.send("HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = c.read(true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some(page.body.len().to_string().as_str()),
        "HEAD says what GET would send, and sends nothing"
    );
    assert_eq!(c.get("/nope").status, 404);
    assert_eq!(c.get("/watch/missing.Mjpeg").status, 404);
    assert_eq!(c.get("/mjpeg/movie.Mjpeg?t=abc").status, 400);
    assert_eq!(c.get("/thumb/..%2Fetc%2Fpasswd").status, 404);
    c.send("DELETE / HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD")));
    let thumb = c.get("/thumb/movie.Mjpeg?t=1");
    assert_eq!(thumb.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(
        thumb.body,
        small_movie().encode(24),
        "the frame at 1 s, as it is"
    );
    let api = c.get("/api/movies");
    assert_eq!(api.header("Content-Type"), Some("application/json"));
    let json = String::from_utf8(api.body).unwrap();
    assert!(
        json.contains("\"url\": \"rtsp://test/movie.Mjpeg\""),
        "{json}"
    );
    assert!(json
        .contains("\"width\": 320, \"height\": 240, \"fps\": 24, \"frames\": 48, \"duration\": 2"));
    // Pipelined: two requests in one write, two responses in order.
    c.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read(false).unwrap().status, 200);
    assert_eq!(c.read(false).unwrap().status, 404);
    // Connection: close is honoured, and HTTP/1.0 closes by default.
    c.send("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed());
    let mut c = Http::connect(s.addr);
    c.send("GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(c.read(false).unwrap().status, 200);
    assert!(c.closed());
}

#[test]
fn malformed_requests_get_http_errors_and_a_close() {
    let s = server(|c| {
        c.max_head = 1024;
        c.max_body = 100;
    });
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400), // no Host
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n".to_vec(),
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n".to_vec(), 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            501,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n".to_vec(),
            413,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
                "y".repeat(2000)
            )
            .into_bytes(),
            431,
        ),
        (
            format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000)).into_bytes(),
            414,
        ),
    ];
    for (raw, want) in cases {
        let mut c = Http::connect(s.addr);
        c.stream.write_all(&raw).unwrap();
        let r = c.read(false).expect("an HTTP answer");
        assert!(r.head.starts_with("HTTP/1.1 "), "{}", r.head);
        assert_eq!(
            r.status,
            want,
            "{}",
            String::from_utf8_lossy(&raw[..60.min(raw.len())])
        );
        assert!(c.closed(), "closed after {want}");
    }
    // RTSP on the same port is untouched.
    let mut rtsp = common::Client::connect(s.addr);
    assert_eq!(
        rtsp.request("OPTIONS", &s.url("movie.Mjpeg"), &[]).status,
        200
    );
    let mut c = Http::connect(s.addr);
    let metrics = String::from_utf8(c.get("/metrics").body).unwrap();
    for line in [
        "rtspd_http_requests_total{method=\"invalid\",status=\"400\"} 4",
        "rtspd_http_requests_total{method=\"POST\",status=\"413\"} 1",
        "rtspd_requests_total{method=\"OPTIONS\",status=\"200\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[test]
fn byte_ranges_of_browser_video_files() {
    let s = server(|_| {});
    let data = file_bytes();
    let mut c = Http::connect(s.addr);
    let mut range = |spec: &str| {
        c.send(&format!(
            "GET /file/clips/video.mp4 HTTP/1.1\r\nHost: a\r\nRange: {spec}\r\n\r\n"
        ));
        c.read(false).unwrap()
    };
    let r = range("bytes=0-");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-9999/10000"));
    assert_eq!(r.body, data);
    let r = range("bytes=-500");
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (206, Some("bytes 9500-9999/10000"))
    );
    assert_eq!(r.body, &data[9500..]);
    let r = range("bytes=100-199");
    assert_eq!(r.body, &data[100..200]);
    assert_eq!(r.header("Content-Type"), Some("video/mp4"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let r = range("bytes=10000-");
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (416, Some("bytes */10000"))
    );
    let r = range("bytes=0-1,5-6");
    assert_eq!(
        (r.status, r.body.len()),
        (200, 10_000),
        "several ranges: the whole file"
    );
    let whole = c.get("/file/clips/video.mp4");
    assert_eq!((whole.status, whole.body == data), (200, true));
    let etag = whole.header("ETag").unwrap().to_string();
    c.send(&format!(
        "GET /file/clips/video.mp4 HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\nIf-Range: {etag}\r\n\r\n"
    ));
    assert_eq!(c.read(false).unwrap().status, 206);
    c.send("GET /file/clips/video.mp4 HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\nIf-Range: \"old\"\r\n\r\n");
    assert_eq!(
        c.read(false).unwrap().status,
        200,
        "If-Range of another version"
    );
    c.send("HEAD /file/clips/video.mp4 HTTP/1.1\r\nHost: a\r\nRange: bytes=10-19\r\n\r\n");
    let r = c.read(true).unwrap();
    assert_eq!((r.status, r.header("Content-Length")), (206, Some("10")));
    assert_eq!(
        c.get("/file/movie.Mjpeg").status,
        404,
        "only browser videos are files"
    );
    // A large file streams in chunks, the connection staying usable after it.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(s.media.0.join("big.webm"), &big).unwrap();
    let r = c.get("/file/big.webm");
    assert_eq!(
        (r.header("Content-Type"), r.body == big),
        (Some("video/webm"), true)
    );
    assert_eq!(c.get("/healthz").status, 200);
    // Many small bodies pipelined in one write: each answered in order, no recursion.
    std::fs::write(s.media.0.join("tiny.mp4"), b"0123456789").unwrap();
    let one = "GET /file/tiny.mp4 HTTP/1.1\r\nHost: a\r\n\r\n";
    c.send(&one.repeat(600));
    for i in 0..600 {
        let r = c.read(false).unwrap_or_else(|| panic!("response {i}"));
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, b"0123456789".as_slice())
        );
    }
}

fn digest_for(challenge: &str, method: &str, uri: &str) -> String {
    let h = AuthHeader::parse(challenge).unwrap();
    let nonce = h.get("nonce").unwrap();
    let ha1 = ha1("alice", "rtspd", "secret");
    let resp = digest_response(&ha1, nonce, method, uri, Some(("00000001", "0a4f113b")));
    format!(
        "Digest username=\"alice\", realm=\"rtspd\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", algorithm=MD5"
    )
}

#[test]
fn credentials_guard_every_path_but_healthz() {
    let with = |methods: &'static str| {
        server(move |c| {
            let mut a = AuthConfig::new("rtspd");
            a.add_plain("alice:secret").unwrap();
            a.set_schemes(methods).unwrap();
            c.auth = Some(a);
        })
    };
    let s = with("digest");
    let mut c = Http::connect(s.addr);
    assert_eq!(c.get("/healthz").status, 200);
    for path in [
        "/",
        "/watch/movie.Mjpeg",
        "/mjpeg/movie.Mjpeg",
        "/thumb/movie.Mjpeg",
        "/api/movies",
        "/metrics",
        "/file/clips/video.mp4",
    ] {
        let r = c.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r
            .header("WWW-Authenticate")
            .unwrap()
            .starts_with("Digest realm=\"rtspd\""));
    }
    let challenge = c
        .get("/api/movies")
        .header("WWW-Authenticate")
        .unwrap()
        .to_string();
    let auth = digest_for(&challenge, "GET", "/api/movies");
    c.send(&format!(
        "GET /api/movies HTTP/1.1\r\nHost: a\r\nAuthorization: {auth}\r\n\r\n"
    ));
    assert_eq!(c.read(false).unwrap().status, 200);
    let basic = basic_authorization("alice", "secret");
    c.send(&format!(
        "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: {basic}\r\n\r\n"
    ));
    assert_eq!(
        c.read(false).unwrap().status,
        401,
        "Basic is not allowed here"
    );
    let s = with("digest,basic");
    let mut c = Http::connect(s.addr);
    let r = c.get("/");
    assert_eq!(r.headers("WWW-Authenticate").len(), 2);
    c.send(&format!(
        "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: {basic}\r\n\r\n"
    ));
    assert_eq!(c.read(false).unwrap().status, 200);
    let wrong = basic_authorization("alice", "guess");
    c.send(&format!(
        "GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: {wrong}\r\n\r\n"
    ));
    assert_eq!(c.read(false).unwrap().status, 401);
    c.send(&format!(
        "GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: {basic}\r\n\r\n"
    ));
    let m = String::from_utf8(c.read(false).unwrap().body).unwrap();
    assert!(m.contains("rtspd_auth_failures_total 1\n"), "{m}");
}

#[test]
fn the_rtsp_limits_hold_for_http() {
    let s = server(|c| {
        c.max_connections_per_peer = 2;
        c.idle_timeout = Duration::from_secs(1);
    });
    let mut a = Http::connect(s.addr);
    let mut b = Http::connect(s.addr);
    assert_eq!(a.get("/healthz").status, 200);
    assert_eq!(b.get("/healthz").status, 200);
    let mut third = Http::connect(s.addr);
    assert!(
        third.closed(),
        "a third connection from one address is refused"
    );
    // An idle keep-alive connection is closed after the idle time-out.
    let t = Instant::now();
    assert!(a.closed());
    assert!(t.elapsed() < Duration::from_secs(4));
    // A slowloris request (a byte at a time) is cut off too.
    let mut slow = Http::connect(s.addr);
    let t = Instant::now();
    let mut cut = false;
    for b in b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "
        .iter()
        .cycle()
        .take(400)
    {
        if slow.stream.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        if t.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    assert!(cut || slow.closed(), "a request dribbled in is cut off");
}

/// Reads `multipart/x-mixed-replace` parts off a viewer's connection.
struct Viewer {
    stream: TcpStream,
    buf: Vec<u8>,
    boundary: Vec<u8>,
}

impl Viewer {
    fn open(addr: SocketAddr, path: &str, rcvbuf: Option<usize>) -> Viewer {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        if let Some(n) = rcvbuf {
            sock.set_recv_buffer_size(n).unwrap();
        }
        sock.connect(&addr.into()).unwrap();
        let mut stream: TcpStream = sock.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut v = Viewer {
            stream,
            buf: Vec::new(),
            boundary: Vec::new(),
        };
        let end = loop {
            if let Some(e) = common::find(&v.buf, b"\r\n\r\n") {
                break e;
            }
            assert!(v.fill(), "the stream's head");
        };
        let head = String::from_utf8(v.buf[..end].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Cache-Control: no-store"));
        let b = head
            .split("boundary=")
            .nth(1)
            .expect("a boundary")
            .split("\r\n")
            .next()
            .unwrap();
        v.boundary = format!("--{b}\r\n").into_bytes();
        v.buf.drain(..end + 4);
        v
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next part's JPEG, checked to be whole: boundary, headers, exactly Content-Length
    /// bytes, then CRLF and the next boundary.
    fn part(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(r) = self.try_part() {
                return Some(r);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn try_part(&mut self) -> Option<Vec<u8>> {
        let rest = self.buf.strip_prefix(self.boundary.as_slice())?;
        let end = common::find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        assert!(head.starts_with("Content-Type: image/jpeg\r\n"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("Content-Length")
            .parse()
            .unwrap();
        let start = self.boundary.len() + end + 4;
        if self.buf.len() < start + len + 2 + self.boundary.len() {
            return None;
        }
        let jpeg = self.buf[start..start + len].to_vec();
        assert_eq!(
            &self.buf[start + len..start + len + 2],
            b"\r\n",
            "a part ends whole"
        );
        self.buf.drain(..start + len + 2);
        Some(jpeg)
    }
}

#[test]
fn mjpeg_parts_are_the_movies_jpegs_at_its_frame_rate() {
    let s = server(|_| {});
    let movie = small_movie();
    let frames: Vec<Vec<u8>> = (0..48).map(|n| movie.encode(n)).collect();
    let mut v = Viewer::open(s.addr, "/mjpeg/movie.Mjpeg?t=1", None);
    let t0 = Instant::now();
    let mut got = Vec::new();
    while got.len() < 36 {
        let jpeg = v.part().expect("a part");
        got.push(
            frames
                .iter()
                .position(|f| *f == jpeg)
                .expect("bytes of a movie frame"),
        );
    }
    let expected: Vec<usize> = (24..60).map(|i| i % 48).collect();
    assert_eq!(got, expected, "from 1 s, in order, looping");
    let secs = t0.elapsed().as_secs_f64();
    // 35 frame periods after the first: 1.46 s at 24 fps.
    assert!((1.3..1.9).contains(&secs), "36 frames in {secs:.2} s");
    let mut c = Http::connect(s.addr);
    let m = String::from_utf8(c.get("/metrics").body).unwrap();
    assert!(m.contains("rtspd_http_viewers 1\n"), "{m}");
    drop(v);
    std::thread::sleep(Duration::from_millis(300));
    let m = String::from_utf8(c.get("/metrics").body).unwrap();
    assert!(m.contains("rtspd_http_viewers 0\n"));
}

#[test]
fn a_stalled_viewer_harms_no_one_and_resumes_with_whole_current_frames() {
    let s = server(|_| {});
    let movie = small_movie();
    let frames: Vec<Vec<u8>> = (0..48).map(|n| movie.encode(n)).collect();
    let index = |j: &[u8]| frames.iter().position(|f| f == j).expect("a movie frame");
    let mut fast = Viewer::open(s.addr, "/mjpeg/movie.Mjpeg", None);
    let opened = Instant::now();
    let mut slow = Viewer::open(s.addr, "/mjpeg/movie.Mjpeg", Some(4096));
    let first = index(&slow.part().unwrap());
    assert_eq!(first, 0);
    // The slow viewer stops reading for 12 s; the fast one reads on.
    let t0 = Instant::now();
    let mut fast_frames = 0;
    while t0.elapsed() < Duration::from_secs(12) {
        let j = fast.part().expect("the fast viewer keeps getting frames");
        index(&j);
        fast_frames += 1;
    }
    let rate = fast_frames as f64 / t0.elapsed().as_secs_f64();
    assert!(rate > 22.0, "the fast viewer got {rate:.1} fps");
    // Reading again: whole frames; after what the buffers held, the frame due now.
    let resumed = Instant::now();
    let mut seen = Vec::new();
    while resumed.elapsed() < Duration::from_secs(2) {
        seen.push(index(
            &slow
                .part()
                .expect("the stalled viewer was kept and resumes"),
        ));
    }
    eprintln!("resumed: {seen:?}");
    let last = *seen.last().unwrap();
    let expected = (opened.elapsed().as_secs_f64() * 24.0) as usize % 48;
    let distance = (last + 48 - expected) % 48;
    assert!(
        distance <= 2 || distance >= 46,
        "after resuming it shows frame {last}, the current one is about {expected}: {seen:?}"
    );
    // Not a queue: the stale frames (what the kernel buffers held) are few.
    let jumped = seen
        .windows(2)
        .position(|w| (w[1] + 48 - w[0]) % 48 > 2)
        .map_or(0, |p| p + 1);
    assert!(
        jumped <= 8,
        "{jumped} stale frames before the current ones: {seen:?}"
    );
    let mut c = Http::connect(s.addr);
    let m = String::from_utf8(c.get("/metrics").body).unwrap();
    let skipped: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("rtspd_http_frames_skipped_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        skipped > 200.0,
        "the stalled viewer's frames were skipped: {skipped}"
    );
}

/// The source's pictures: its frames as a raw JPEG stream through ffmpeg's mjpeg demuxer.
fn source_md5(media: &std::path::Path, name: &str, frames: usize) -> Vec<String> {
    let movie = Movie::open(media.join(name)).unwrap();
    let dir = TempDir::new("http-src");
    let path = dir.0.join("source.mjpeg");
    let bytes: Vec<u8> = movie.frames().flatten().copied().collect();
    std::fs::write(&path, bytes).unwrap();
    framemd5(&["-f", "mjpeg", "-i", path.to_str().unwrap()], frames)
}

fn ffmpeg_checks(s: &TestServer, frames: usize) {
    let want = source_md5(&s.media.0, "movie.Mjpeg", frames);
    assert_eq!(want.len(), frames);
    let mjpeg = format!("http://{}/mjpeg/movie.Mjpeg", s.addr);
    let got = framemd5(&["-f", "mpjpeg", "-i", &mjpeg], frames);
    assert_eq!(
        got, want,
        "ffmpeg -f mpjpeg: pictures differ from the source's"
    );
    let got = framemd5(
        &["-rtsp_transport", "http", "-i", &s.url("movie.Mjpeg")],
        frames,
    );
    assert_eq!(
        got, want,
        "ffmpeg over the HTTP tunnel: pictures differ from the source's"
    );
}

#[test]
fn ffmpeg_reads_mjpeg_and_the_tunnel_pixel_exact() {
    if !have_tool("ffmpeg", "ffmpeg_reads_mjpeg_and_the_tunnel_pixel_exact") {
        return;
    }
    let s = server(|_| {});
    ffmpeg_checks(&s, 48);
    let mut c = Http::connect(s.addr);
    let m = String::from_utf8(c.get("/metrics").body).unwrap();
    assert!(
        m.contains("rtspd_requests_total{method=\"PLAY\",status=\"200\"} 1"),
        "{m}"
    );
}

#[test]
fn ffmpeg_reads_the_seed_movie_over_mjpeg_and_the_tunnel() {
    let test = "ffmpeg_reads_the_seed_movie_over_mjpeg_and_the_tunnel";
    if !have_tool("ffmpeg", test) {
        return;
    }
    let Some(seed) = seed_movie(test) else {
        return;
    };
    let media = TempDir::new("http-seed");
    std::fs::copy(seed, media.0.join("movie.Mjpeg")).unwrap();
    let s = TestServer::start_in(media, |_| {});
    ffmpeg_checks(&s, 72);
}

#[test]
fn the_tunnel_by_hand_with_requests_split_anywhere() {
    let s = server(|_| {});
    let mut get = Http::connect(s.addr);
    get.send("GET /movie.Mjpeg HTTP/1.0\r\nx-sessioncookie: Zk9vYmFy\r\nAccept: application/x-rtsp-tunnelled\r\n\r\n");
    let r = get.read(true).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-rtsp-tunnelled")
    );
    let mut post = TcpStream::connect(s.addr).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let url = s.url("movie.Mjpeg");
    let body = format!(
        "{}{}",
        b64(&format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n")),
        b64(&format!(
            "DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n"
        )),
    );
    let head = "POST /movie.Mjpeg HTTP/1.0\r\nx-sessioncookie: Zk9vYmFy\r\n\
        Content-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n";
    let all = format!("{head}{body}");
    // In pieces that cut the head and the base64 groups anywhere.
    for piece in all.as_bytes().chunks(7) {
        post.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut rtsp = common::Client::from_stream(get.stream.try_clone().unwrap());
    let options = rtsp.read_reply();
    assert_eq!((options.status, options.header("CSeq")), (200, Some("1")));
    let describe = rtsp.read_reply();
    assert_eq!(describe.status, 200);
    assert!(String::from_utf8_lossy(&describe.body).contains("m=video 0 RTP/AVP 26"));
    // A POST with an unknown cookie gets 404; bad base64 closes the POST, not the GET.
    let mut stray = Http::connect(s.addr);
    stray.send("POST /x HTTP/1.0\r\nx-sessioncookie: nobody\r\nContent-Length: 32767\r\n\r\n");
    assert_eq!(stray.read(false).unwrap().status, 404);
    let mut bad = Http::connect(s.addr);
    bad.send("POST /x HTTP/1.0\r\nx-sessioncookie: Zk9vYmFy\r\nContent-Length: 32767\r\n\r\n!!!!");
    assert!(bad.closed());
    // Another GET cannot take the cookie (and so the POSTs) of a tunnel that is open.
    let mut thief = Http::connect(s.addr);
    thief.send("GET /movie.Mjpeg HTTP/1.0\r\nx-sessioncookie: Zk9vYmFy\r\nAccept: application/x-rtsp-tunnelled\r\n\r\n");
    assert_eq!(thief.read(false).unwrap().status, 409);
    post.write_all(b64(&format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 3\r\n\r\n")).as_bytes())
        .unwrap();
    assert_eq!(
        rtsp.read_reply().header("CSeq"),
        Some("3"),
        "the tunnel lives on"
    );
}

#[test]
fn gstreamer_plays_the_tunnel_in_order() {
    let test = "gstreamer_plays_the_tunnel_in_order";
    if !have_tool("gst-launch-1.0", test) {
        return;
    }
    let s = server(|_| {});
    let dir = TempDir::new("http-gst");
    let raw = dir.0.join("frames.rgb");
    // rtsph:// is rtspsrc's name for RTSP tunnelled over HTTP.
    let url = format!("rtsph://{}/movie.Mjpeg", s.addr);
    let pipeline = format!(
        "rtspsrc location={url} latency=200 ! rtpjpegdepay ! jpegdec ! videoconvert ! \
         video/x-raw,format=RGB ! identity eos-after=25 ! filesink location={}",
        raw.display()
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q").args(pipeline.split_whitespace());
    run(&mut cmd, Duration::from_secs(60));
    let bytes = std::fs::read(&raw).unwrap();
    let (w, h) = (320, 240);
    assert_eq!(bytes.len(), 24 * w * h * 3, "24 RGB frames");
    let numbers: Vec<Option<u32>> = bytes
        .chunks(w * h * 3)
        .map(|f| rtsp_mjpeg::media::testmovie::read_frame_number(f, w, h))
        .collect();
    let want: Vec<Option<u32>> = (0..24).map(Some).collect();
    assert_eq!(numbers, want, "frames 0..23 in order through the tunnel");
}
