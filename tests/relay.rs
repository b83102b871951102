//! Relays (`rtspd --relay NAME=URL`) against real origins: rtspd (a file, a live publisher, with
//! credentials), GStreamer's RTSP server; five readers on one origin session; a relay of a relay;
//! the origin restarted under a reader.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::live::{
    ffmpeg_publish, framemd5, run_of, source_md5, test_movie_raw, wait_for_status, Proc,
};
use common::{have_tool, small_movie, write_movie, TempDir, TestServer};
use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::server::relay::RelaySpec;

/// rtspd as a child process on `port`, its log lines kept.
struct Origin {
    _proc: Proc,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    fn start(media: &Path, port: u16, extra: &[&str]) -> Origin {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtspd"));
        cmd.args([
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
        // The reactor's debug lines say when a connection comes.
        .env("RUST_LOG", "info,rtsp_mjpeg::server::reactor=debug");
        let mut proc = Proc::spawn(&mut cmd);
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = proc.child.stderr.take().unwrap();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "rtspd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Origin {
            _proc: proc,
            addr,
            log,
        }
    }

    /// RTSP connections accepted so far.
    fn connections(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("connection from") && !l.ends_with("closed"))
            .count()
    }

    /// Sessions set up at this origin so far.
    fn sessions(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(": setup by "))
            .count()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn media_with_movie(tag: &str) -> TempDir {
    let media = TempDir::new(tag);
    write_movie(&media.0, "movie.Mjpeg", &small_movie());
    media
}

/// An in-process edge relaying `name` from `url`.
fn edge(name: &str, url: &str) -> TestServer {
    edge_with(name, url, |_| {})
}

fn edge_with(
    name: &str,
    url: &str,
    tweak: impl FnOnce(&mut rtsp_mjpeg::server::Config),
) -> TestServer {
    let target = Target::parse_url(url).unwrap();
    let origin = format!("{}:{}", target.host, target.port).parse().unwrap();
    let spec = RelaySpec {
        name: name.into(),
        target,
        origin,
    };
    TestServer::start(|c| {
        c.relays = vec![spec];
        tweak(c)
    })
}

/// The source pictures of the small test movie, as ffmpeg decodes them.
fn movie_md5(dir: &Path) -> Vec<String> {
    let raw = test_movie_raw(dir);
    source_md5(&["-f", "mjpeg", "-i", &raw.to_string_lossy()])
}

/// A browser is a reader like any other: the library lists a relay that sleeps, its page and
/// `/mjpeg/` wake it, the viewer alone keeps it open past the linger, and it closes after the
/// viewer leaves.
#[test]
fn a_browser_wakes_a_relay_and_keeps_it_open() {
    use common::live::{frame_number, http_get, MjpegReader};
    let media = media_with_movie("origin-web");
    let origin = Origin::start(&media.0, free_port(), &[]);
    let edge = edge_with("cam", &format!("rtsp://{}/movie.Mjpeg", origin.addr), |c| {
        c.relay_linger = Duration::from_secs(1)
    });
    let (status, api) = http_get(edge.addr, "/api/movies");
    let api = String::from_utf8_lossy(&api);
    assert_eq!(status, 200);
    assert!(
        api.contains("\"name\": \"cam\""),
        "a sleeping relay is listed: {api}"
    );
    let (status, page) = http_get(edge.addr, "/watch/cam");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("src=\"/mjpeg/cam\""));
    assert_eq!(http_get(edge.addr, "/thumb/cam").0, 200);
    assert_eq!(origin.sessions(), 0, "pages alone do not pull the origin");

    // 4 s of frames (the linger is 1 s): in order, none missing, one origin session.
    let mut viewer = MjpegReader::open(edge.addr, "/mjpeg/cam");
    let start = Instant::now();
    let mut numbers = Vec::new();
    while start.elapsed() < Duration::from_secs(4) {
        let jpeg = viewer
            .next_jpeg(Instant::now() + Duration::from_secs(5))
            .unwrap_or_else(|| panic!("frames stopped after {numbers:?}"));
        numbers.push(frame_number(&jpeg));
    }
    assert!(numbers.len() >= 60, "{} frames in 4 s", numbers.len());
    for w in numbers.windows(2) {
        assert_eq!(w[1], (w[0] + 1) % 48, "in order, none missing: {numbers:?}");
    }
    assert_eq!(origin.sessions(), 1);
    let (_, api) = http_get(edge.addr, "/api/movies");
    let api = String::from_utf8_lossy(&api);
    assert!(
        api.contains("\"width\": 320, \"height\": 240"),
        "size from the frames: {api}"
    );

    // The viewer leaves: the origin session is torn down after the linger.
    drop(viewer);
    let deadline = Instant::now() + Duration::from_secs(6);
    while !origin
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(": teardown ("))
    {
        assert!(
            Instant::now() < deadline,
            "the relay closed after its viewer left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn five_readers_on_a_relay_share_one_origin_session() {
    let test = "five_readers_on_a_relay_share_one_origin_session";
    if !have_tool("ffmpeg", test) {
        return;
    }
    let media = media_with_movie("origin");
    let origin = Origin::start(&media.0, free_port(), &[]);
    let edge = edge("cam", &format!("rtsp://{}/movie.Mjpeg", origin.addr));
    let source = movie_md5(&media.0);
    let url = edge.url("cam");
    let readers: Vec<_> = (0..5)
        .map(|i| {
            let url = url.clone();
            let transport = if i % 2 == 0 { "tcp" } else { "udp" };
            std::thread::spawn(move || {
                (
                    transport,
                    framemd5(&["-rtsp_transport", transport, "-i", &url], 48),
                )
            })
        })
        .collect();
    for r in readers {
        let (transport, got) = r.join().unwrap();
        run_of(&got, &source, &format!("a reader over {transport}"));
    }
    assert_eq!(origin.sessions(), 1, "one origin session for five readers");
    // One connection from the edge, and one from Origin::start's check that it listens.
    assert_eq!(origin.connections(), 2, "on one connection");
}

#[test]
fn a_relay_of_a_relay_and_an_origin_restarted_under_a_reader() {
    let test = "a_relay_of_a_relay_and_an_origin_restarted_under_a_reader";
    if !have_tool("ffmpeg", test) {
        return;
    }
    let media = media_with_movie("origin");
    let port = free_port();
    let origin = Origin::start(&media.0, port, &[]);
    let first = edge("cam", &format!("rtsp://{}/movie.Mjpeg", origin.addr));
    let second = edge("again", &first.url("cam"));
    let source = movie_md5(&media.0);
    let url = second.url("again");
    for transport in ["tcp", "udp"] {
        let got = framemd5(&["-rtsp_transport", transport, "-i", &url], 48);
        run_of(
            &got,
            &source,
            &format!("a reader of an edge of an edge over {transport}"),
        );
    }
    assert_eq!(origin.sessions(), 1);

    // A reader plays 200 frames (8 s) while the origin is killed and started again.
    let reading = {
        let url = url.clone();
        std::thread::spawn(move || framemd5(&["-rtsp_transport", "tcp", "-i", &url], 200))
    };
    std::thread::sleep(Duration::from_secs(2));
    drop(origin);
    std::thread::sleep(Duration::from_millis(1500));
    let again = Origin::start(&media.0, port, &[]);
    let got = reading.join().unwrap();
    assert_eq!(got.len(), 200, "the reader got all its frames");
    for (i, g) in got.iter().enumerate() {
        assert!(source.contains(g), "picture {i} is one of the source's");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while again.sessions() == 0 {
        assert!(
            Instant::now() < deadline,
            "the edge opened the origin again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn relays_of_gstreamer_a_live_h264_path_and_an_origin_with_credentials() {
    let test = "relays_of_gstreamer_a_live_h264_path_and_an_origin_with_credentials";
    if !have_tool("ffmpeg", test) || !have_tool("/usr/bin/python3", test) {
        return;
    }
    let dir = TempDir::new("relay-origins");
    let source = movie_md5(&dir.0);
    // GStreamer's RTSP server, looping the test movie.
    let raw = test_movie_raw(&dir.0);
    let gst_port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gst_rtsp_server.py");
    let mut gst = Proc::spawn_with(
        Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&raw)
            .args(["--port", &gst_port.to_string(), "--mount", "/movie"]),
        Stdio::piped(),
    );
    let mut line = String::new();
    BufReader::new(gst.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "{line}");
    let from_gst = edge("cam", &format!("rtsp://127.0.0.1:{gst_port}/movie"));
    let got = framemd5(&["-rtsp_transport", "tcp", "-i", &from_gst.url("cam")], 48);
    run_of(
        &got,
        &source,
        "a reader of GStreamer's server through rtspd",
    );
    drop(gst);

    // rtspd with credentials, a publisher of H.264 on it, and an edge with the credentials.
    let h264 = dir.0.join("h264.mkv").to_string_lossy().into_owned();
    common::live::run(
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
            "96",
            "-c:v",
            "libx264",
            "-g",
            "12",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            &h264,
        ]),
        Duration::from_secs(60),
    );
    let h264_source = source_md5(&["-i", &h264]);
    let media = media_with_movie("origin-auth");
    let origin = Origin::start(&media.0, free_port(), &["--publish", "--auth", "u:pw"]);
    let _publisher = ffmpeg_publish(
        &["-i", &h264],
        &format!("rtsp://u:pw@{}/live/cam", origin.addr),
        true,
        false,
    );
    let edge = edge("cam", &format!("rtsp://u:pw@{}/live/cam", origin.addr));
    let url = edge.url("cam");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !wait_for_status(edge.addr, &url, 200, Duration::from_secs(5)) {
        assert!(Instant::now() < deadline, "the relayed path never appeared");
    }
    for transport in ["tcp", "udp"] {
        let got = framemd5(&["-rtsp_transport", transport, "-i", &url], 36);
        run_of(
            &got,
            &h264_source,
            &format!("H.264 through a relay over {transport}"),
        );
    }
}
