//! Helpers for the live-stream and relay tests: child processes that are always reaped,
//! ffmpeg publishers and readers, and checks that what readers decoded is a run of the source.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::io::Write;
use std::net::UdpSocket;

use rtsp_mjpeg::rtp::jpeg::packetize;
use rtsp_mjpeg::rtp::packet::RtpHeader;

pub use super::tools::{framemd5, run};
use super::{small_movie, udp_pair, Client, TestServer};

/// A child process killed and reaped on drop (a test that fails must not leave it running).
pub struct Proc {
    pub child: Child,
    pub what: String,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc::spawn_with(cmd, Stdio::null())
    }

    /// As [`Proc::spawn`], with stdout as given (piped, to read a "ready" line).
    pub fn spawn_with(cmd: &mut Command, stdout: Stdio) -> Proc {
        let what = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        Proc { child, what }
    }

    /// Waits at most `limit` for it to end by itself; its stderr and whether it succeeded.
    pub fn finish(mut self, limit: Duration) -> (bool, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.success(), err);
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {limit:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks that `got` is a run of consecutive source pictures (the source looping), and says
/// where it started.
pub fn run_of(got: &[String], source: &[String], what: &str) -> usize {
    assert!(!got.is_empty(), "{what}: no pictures");
    let first = source
        .iter()
        .position(|s| *s == got[0])
        .unwrap_or_else(|| panic!("{what}: the first picture is none of the source's"));
    for (i, g) in got.iter().enumerate() {
        assert_eq!(
            *g,
            source[(first + i) % source.len()],
            "{what}: picture {i} is not the source's picture {} (started at {first})",
            (first + i) % source.len()
        );
    }
    first
}

/// The small test movie (48 frames, 320x240, two quantization tables) as a raw JPEG stream.
pub fn test_movie_raw(dir: &Path) -> PathBuf {
    let movie = small_movie();
    let path = dir.join("movie.mjpeg");
    let bytes: Vec<u8> = (0..48).flat_map(|i| movie.encode(i)).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// 48 frames of ffmpeg's test pattern from ffmpeg's own MJPEG encoder: one quantization table
/// for luma and chroma, which ffmpeg's RTP packetizer sends as 64 bytes.
pub fn ffmpeg_mjpeg_raw(dir: &Path) -> PathBuf {
    let path = dir.join("ffmpeg.mjpeg");
    run(
        Command::new("ffmpeg").args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=24",
            "-frames:v",
            "48",
            "-c:v",
            "mjpeg",
            "-pix_fmt",
            "yuvj420p",
            "-huffman",
            "default",
            "-q:v",
            "4",
            "-f",
            "mjpeg",
            &path.to_string_lossy(),
        ]),
        Duration::from_secs(60),
    );
    path
}

/// The decoded pictures' MD5s of a file, as ffmpeg decodes it.
pub fn source_md5(args: &[&str]) -> Vec<String> {
    framemd5(args, 100_000)
}

/// `ffmpeg -re` publishing `input` (looped for ever unless `once`) to `url`, stream copied.
pub fn ffmpeg_publish(input: &[&str], url: &str, tcp: bool, once: bool) -> Proc {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re"]);
    if !once {
        cmd.args(["-stream_loop", "-1"]);
    }
    cmd.args(input).args(["-an", "-c:v", "copy", "-f", "rtsp"]);
    if tcp {
        cmd.args(["-rtsp_transport", "tcp"]);
    }
    cmd.arg(url);
    Proc::spawn(&mut cmd)
}

/// DESCRIBE `url` until it answers `status` (a publisher's path appearing or going).
pub fn wait_for_status(addr: SocketAddr, url: &str, status: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let mut c = Client::connect(addr);
        if let Some(r) = {
            c.send_raw(format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n").as_bytes());
            c.try_read_reply()
        } {
            if r.status == status {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The JPEGs GStreamer's rtspsrc and rtpjpegdepay receive: `frames` of them.
pub fn gstreamer_jpegs(url: &str, frames: usize, tcp: bool, dir: &Path) -> Vec<Vec<u8>> {
    let out = dir.join(format!("gst-{}", if tcp { "tcp" } else { "udp" }));
    std::fs::create_dir_all(&out).unwrap();
    let pipeline = format!(
        "rtspsrc location={url} protocols={} latency=100 ! rtpjpegdepay ! identity eos-after={} ! \
         multifilesink location={}/f%05d.jpg",
        if tcp { "tcp" } else { "udp" },
        frames + 1,
        out.display()
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q").args(pipeline.split_whitespace());
    let p = Proc::spawn(&mut cmd);
    let (_, err) = p.finish(Duration::from_secs(60));
    let mut names: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), frames, "GStreamer's frames: {err}");
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// MD5s of JPEG files as ffmpeg decodes them (GStreamer's received frames, say).
pub fn jpeg_md5s(jpegs: &[Vec<u8>], dir: &Path) -> Vec<String> {
    let path = dir.join("received.mjpeg");
    std::fs::write(&path, jpegs.concat()).unwrap();
    source_md5(&["-f", "mjpeg", "-i", &path.to_string_lossy()])
}

/// The JPEGs rtsp-sdl (headless) receives from `url`: `frames` of them, from its recording.
#[cfg(feature = "player")]
pub fn rtsp_sdl_jpegs(url: &str, frames: usize, tcp: bool, dir: &Path) -> Vec<Vec<u8>> {
    let rec = dir.join(format!("rtsp-sdl-{tcp}.mjpeg"));
    let _ = std::fs::remove_file(&rec);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtsp-sdl"));
    cmd.args([
        url,
        "--headless",
        "--autoplay",
        "--frames",
        &frames.to_string(),
    ])
    .arg("--record")
    .arg(&rec);
    if tcp {
        cmd.arg("--tcp");
    }
    let out = run(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("summary: {frames} frames shown")),
        "{stdout}"
    );
    let movie = rtsp_mjpeg::media::movie::Movie::open(&rec).unwrap();
    movie.frames().map(|f| f.to_vec()).collect()
}

/// A publisher in Rust, to misbehave exactly (or to time exactly): over TCP interleaved (channels 0-1) or UDP, speaking raw RTSP.
pub struct Publisher {
    pub rtsp: Client,
    pub session: String,
    udp: Option<(UdpSocket, SocketAddr)>,
    seq: u16,
}

const MJPEG_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nt=0 0\r\n\
    m=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";

impl Publisher {
    pub fn start(server: &TestServer, path: &str, udp: bool) -> Publisher {
        let url = server.url(path);
        let mut rtsp = Client::connect(server.addr);
        rtsp.send_raw(
            format!(
                "ANNOUNCE {url} RTSP/1.0\r\nCSeq: 10\r\nContent-Type: application/sdp\r\n\
                 Content-Length: {}\r\n\r\n{MJPEG_SDP}",
                MJPEG_SDP.len()
            )
            .as_bytes(),
        );
        assert_eq!(rtsp.read_reply().status, 200);
        let (transport, sock) = if udp {
            let (rtp, _rtcp) = udp_pair();
            let port = rtp.local_addr().unwrap().port();
            (
                format!(
                    "RTP/AVP/UDP;unicast;client_port={port}-{};mode=record",
                    port + 1
                ),
                Some(rtp),
            )
        } else {
            (
                "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record".to_string(),
                None,
            )
        };
        rtsp.send_raw(
            format!(
                "SETUP {url}/streamid=0 RTSP/1.0\r\nCSeq: 11\r\nTransport: {transport}\r\n\r\n"
            )
            .as_bytes(),
        );
        let r = rtsp.read_reply();
        assert_eq!(r.status, 200);
        let session = r.session();
        rtsp.send_raw(
            format!("RECORD {url} RTSP/1.0\r\nCSeq: 12\r\nSession: {session}\r\n\r\n").as_bytes(),
        );
        assert_eq!(rtsp.read_reply().status, 200);
        let udp = sock.map(|s| (s, server.rtp));
        Publisher {
            rtsp,
            session,
            udp,
            seq: 0,
        }
    }

    pub fn send_packet(&mut self, packet: &[u8]) {
        match &self.udp {
            Some((s, to)) => {
                s.send_to(packet, to).unwrap();
            }
            None => {
                let mut framed = vec![b'$', 0];
                framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
                framed.extend_from_slice(packet);
                self.rtsp.stream.write_all(&framed).unwrap();
            }
        }
    }

    pub fn packet(&mut self, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = RtpHeader {
            marker,
            payload_type: 26,
            sequence: self.seq,
            timestamp: ts,
            ssrc: 0x1234,
        }
        .to_bytes()
        .to_vec();
        self.seq = self.seq.wrapping_add(1);
        p.extend_from_slice(payload);
        p
    }

    /// A frame of `packets` packets of 1292 bytes of scan each (RFC 2435 type 1, Q 255).
    pub fn send_fake_frame(&mut self, ts: u32, packets: u32, marker: bool) {
        for i in 0..packets {
            let o = (i * 1292).to_be_bytes();
            let mut payload = vec![0, o[1], o[2], o[3], 1, 255, 40, 30];
            if i == 0 {
                payload.extend_from_slice(&[0, 0, 0, 128]);
                payload.extend_from_slice(&[1; 128]);
            }
            payload.extend_from_slice(&[0x55; 1292]);
            let packet = self.packet(ts, marker && i + 1 == packets, &payload);
            self.send_packet(&packet);
        }
    }

    /// Frame `k` of the small test movie, packetized at `mtu`.
    pub fn send_frame(&mut self, k: u32, mtu: usize) {
        let payloads = packetize(&small_movie().encode(k), mtu).unwrap();
        for (i, p) in payloads.iter().enumerate() {
            let packet = self.packet(k * 3750, i + 1 == payloads.len(), p);
            self.send_packet(&packet);
        }
    }
}

/// `GET path` on `addr` with `Connection: close`: the status and everything that came.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let status = String::from_utf8_lossy(&all[..all.len().min(12)])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, all)
}

/// A browser's `/mjpeg/` connection, read part by part.
pub struct MjpegReader {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    ended: bool,
}

impl MjpegReader {
    pub fn open(addr: SocketAddr, path: &str) -> MjpegReader {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        MjpegReader {
            stream,
            buf: Vec::new(),
            ended: false,
        }
    }

    /// The next part's JPEG; None when the body ends or nothing whole comes by `deadline`.
    pub fn next_jpeg(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        use std::io::Read;
        loop {
            // Each part: headers with Content-Length, a blank line, the JPEG.
            if let Some(at) = super::find(&self.buf, b"Content-Length: ") {
                if let Some(end) = super::find(&self.buf[at..], b"\r\n\r\n") {
                    let len: usize = String::from_utf8_lossy(&self.buf[at + 16..at + end])
                        .trim()
                        .parse()
                        .unwrap();
                    let body = at + end + 4;
                    if self.buf.len() >= body + len {
                        let jpeg = self.buf[body..body + len].to_vec();
                        self.buf.drain(..body + len);
                        return Some(jpeg);
                    }
                }
            }
            if self.ended || Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.ended = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.ended = true,
            }
        }
    }

    /// Whether the server ends the body (closes the connection) by `deadline`.
    pub fn ends_by(&mut self, deadline: Instant) -> bool {
        while self.next_jpeg(deadline).is_some() {}
        self.ended
    }
}

/// The number the test movie draws in a frame.
pub fn frame_number(jpeg: &[u8]) -> u32 {
    let rgb = rtsp_mjpeg::jpeg::decode_rgb(jpeg).unwrap();
    rtsp_mjpeg::media::testmovie::read_frame_number(&rgb.pixels, rgb.width, rgb.height)
        .expect("a frame of the test movie")
}
