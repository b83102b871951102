//! Shared helpers for the integration tests: an in-process rtspd on port 0 with a temporary media
//! folder, and a small blocking RTSP client that speaks raw bytes.
#![allow(dead_code)]

pub mod live;
pub mod netns;
pub mod tools;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::server::{Config, Server, ShutdownHandle};

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        // Tests start on parallel threads at the same instant, and the clock may not tell them
        // apart: two servers once shared a folder, and the first to finish deleted the other's
        // movie. The counter keeps every folder of this process distinct.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("rtsp-mjpeg-{tag}-{}-{k}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test movie used by server tests: 2 s at 24 fps, 320x240, so 48 frames.
pub fn small_movie() -> TestMovie {
    TestMovie {
        seconds: 2.0,
        width: 320,
        height: 240,
        fps: 24,
        ..TestMovie::default()
    }
}

pub fn write_movie(dir: &Path, name: &str, movie: &TestMovie) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, movie.to_lab_bytes()).unwrap();
    path
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub rtp: SocketAddr,
    pub media: TempDir,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// rtspd on 127.0.0.1, port 0, with `movie.Mjpeg` (the small test movie) in its folder.
    pub fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let media = TempDir::new("media");
        write_movie(&media.0, "movie.Mjpeg", &small_movie());
        Self::start_in(media, tweak)
    }

    pub fn start_in(media: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            bind: "127.0.0.1".parse().unwrap(),
            port: 0,
            rtp_port: 0,
            media: media.0.clone(),
            ..Config::default()
        };
        tweak(&mut config);
        let server = Server::bind(config).expect("server starts");
        let addr = server.rtsp_addr();
        let rtp = server.rtp_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.run());
        TestServer {
            addr,
            rtp,
            media,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("rtsp://{}/{name}", self.addr)
    }

    pub fn stop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server loop ok");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A parsed reply: status, headers in order, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The reply's bytes exactly as received.
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The id part of the Session header.
    pub fn session(&self) -> String {
        self.header("Session")
            .expect("Session header")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string()
    }
}

/// A blocking RTSP connection that also collects interleaved packets it reads past.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub interleaved: Vec<(u8, Vec<u8>)>,
    cseq: u32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    /// A connection from a chosen local address (another loopback address, say).
    pub fn connect_from(src: std::net::IpAddr, addr: SocketAddr) -> Client {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::new(src, 0).into()).unwrap();
        sock.connect(&addr.into()).expect("connect");
        Client::from_stream(sock.into())
    }

    /// Bytes read past the last reply (interleaved data not yet taken).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
            interleaved: Vec::new(),
            cseq: 0,
        }
    }

    /// SETUP of `url` for unicast UDP to `rtp_port` (RTCP on the next port).
    pub fn setup_udp(&mut self, url: &str, rtp_port: u16) -> Reply {
        let transport = format!("RTP/AVP;unicast;client_port={rtp_port}-{}", rtp_port + 1);
        self.request("SETUP", url, &[("Transport", &transport)])
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends `METHOD url RTSP/1.0` with a fresh CSeq and `extra` header lines, returns the reply.
    pub fn request(&mut self, method: &str, url: &str, extra: &[(&str, &str)]) -> Reply {
        self.cseq += 1;
        let mut req = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for (n, v) in extra {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.send_raw(req.as_bytes());
        let reply = self.read_reply();
        assert_eq!(
            reply.header("CSeq"),
            Some(self.cseq.to_string().as_str()),
            "CSeq echoed: {reply:?}"
        );
        reply
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// Reads the next reply, keeping interleaved packets met on the way.
    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply()
            .expect("a reply before the connection closed or timed out")
    }

    pub fn try_read_reply(&mut self) -> Option<Reply> {
        loop {
            while self.buf.first() == Some(&b'$') {
                if !self.take_interleaved() && !self.fill() {
                    return None;
                }
            }
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap();
                let status: u16 = status_line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect(status_line);
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    if !self.fill() {
                        return None;
                    }
                }
                let raw: Vec<u8> = self.buf.drain(..end + 4 + len).collect();
                let body = raw[end + 4..].to_vec();
                return Some(Reply {
                    status,
                    headers,
                    body,
                    raw,
                });
            }
            if (self.buf.first().is_some_and(|&b| b != b'$') || self.buf.is_empty()) && !self.fill()
            {
                return None;
            }
        }
    }

    /// Moves one complete `$` frame from the buffer into `interleaved`.
    fn take_interleaved(&mut self) -> bool {
        if self.buf.len() < 4 {
            return false;
        }
        let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
        if self.buf.len() < 4 + len {
            return false;
        }
        let channel = self.buf[1];
        let data = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        self.interleaved.push((channel, data));
        true
    }

    /// Reads interleaved packets until `count` are collected on `channel` or `timeout` passes.
    pub fn read_interleaved(
        &mut self,
        channel: u8,
        count: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let collect = |c: &Client| -> Vec<Vec<u8>> {
            c.interleaved
                .iter()
                .filter(|(ch, _)| *ch == channel)
                .map(|(_, d)| d.clone())
                .collect()
        };
        loop {
            while self.buf.first() == Some(&b'$') && self.take_interleaved() {}
            let got = self
                .interleaved
                .iter()
                .filter(|(c, _)| *c == channel)
                .count();
            if got >= count || Instant::now() > deadline {
                return collect(self);
            }
            if !self.fill() && Instant::now() > deadline {
                return collect(self);
            }
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A bound UDP pair on 127.0.0.1 (even RTP port, RTCP next) for receiving a session.
pub fn udp_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            rtp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            rtcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            return (rtp, rtcp);
        }
    }
    panic!("no free UDP port pair on 127.0.0.1");
}

/// Receives datagrams until `count` arrive or `timeout` passes.
pub fn recv_n(sock: &UdpSocket, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while out.len() < count && Instant::now() < deadline {
        sock.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
    }
    out
}

/// Reads whatever arrives within `window`.
pub fn drain_for(sock: &UdpSocket, window: Duration) -> Vec<Vec<u8>> {
    recv_n(sock, usize::MAX, window)
}

/// Is `tool` on the PATH? When it is not: a test that needs it fails if
/// `RTSP_MJPEG_REQUIRE_TOOLS` is set (scripts/test.sh sets it after installing the tools), and
/// otherwise says loudly on stderr that it did not run.
pub fn have_tool(tool: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var_os("RTSP_MJPEG_REQUIRE_TOOLS").is_some() {
            panic!("{test}: `{tool}` is not installed (scripts/test.sh installs it)");
        }
        skipped(&format!(
            "{test}: `{tool}` is not installed; scripts/test.sh installs it"
        ));
    }
    found
}

/// The seed's sample movie: `$RTSP_MJPEG_SEED`, else `../shared/seed/movie.Mjpeg` from the
/// repository. It is not ours to install, so a missing seed is a loud skip, not a failure.
pub fn seed_movie(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RTSP_MJPEG_SEED").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/movie.Mjpeg")),
    ];
    if let Some(p) = candidates.into_iter().flatten().find(|p| p.is_file()) {
        return Some(p);
    }
    skipped(&format!(
        "{test}: the seed movie is not at ../shared/seed/movie.Mjpeg; set RTSP_MJPEG_SEED"
    ));
    None
}

/// The rtspd binary on a free loopback port with `media` as its folder and `extra` flags; returns
/// the child (stderr piped, RUST_LOG as given) once it accepts connections.
pub fn spawn_rtspd(media: &Path, extra: &[&str], log: &str) -> (std::process::Child, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rtspd"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--rtp-port",
            "0",
        ])
        .arg("--media")
        .arg(media)
        .args(extra)
        .env("RUST_LOG", log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rtspd starts");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "rtspd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}

/// Says a test did not run: on stderr (shown with --nocapture or on failure) and in
/// target/skipped-tests.txt, which scripts/test.sh prints after the run, so a skip is never silent.
pub fn skipped(what: &str) {
    eprintln!("\n*** SKIPPED {what} ***\n");
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/skipped-tests.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{what}");
    }
}
