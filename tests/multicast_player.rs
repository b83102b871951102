//! The player receiving multicast (issue 16) from GStreamer's RTSP server with an address pool
//! (239.255.42.1-10, ports 5000-5010, TTL 1), several viewers on one host at once.
//!
//! The test re-runs itself inside a new network namespace (`unshare -n`, root), the viewers'
//! host. The server gets a namespace of its own (GStreamer binds the group's ports without
//! SO_REUSEADDR, so it cannot share a host with its viewers), linked to the viewers' by a veth
//! pair, 10.42.0.2 (server) to 10.42.0.1 (viewers), with `224.0.0.0/4` routed over it on both
//! sides. So the group is joined on a real interface, the one facing the server, and nothing
//! touches the machine's network. rtspd's own multicast is another branch's; GStreamer's server
//! stands in for it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{self, sh};
use common::{have_tool, TempDir};
use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::client::{Frame, Options};
use rtsp_mjpeg::jpeg::decode_rgb;
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::{read_frame_number, TestMovie};
use rtsp_mjpeg::player::Player;

const TEST: &str = "viewers_on_one_host_receive_gstreamer_multicast";

/// Debian's python3 has the gi bindings; a python3 earlier on PATH (pyenv) may not.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Whether what the test needs is here; with `RTSP_MJPEG_REQUIRE_TOOLS`, missing is a failure.
fn tools_present() -> bool {
    for tool in ["unshare", "ip", "ffmpeg", "python3"] {
        if !have_tool(tool, TEST) {
            return false;
        }
    }
    let gi = Command::new(python())
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !gi {
        if std::env::var_os("RTSP_MJPEG_REQUIRE_TOOLS").is_some() {
            panic!("{TEST}: python3-gi with gir1.2-gst-rtsp-server-1.0 is not installed");
        }
        common::skipped(&format!(
            "{TEST}: gst-rtsp-server's Python bindings are not installed"
        ));
    }
    gi
}

/// A child process killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test movie (8 s, 320x240, 24 fps) as an AVI for GStreamer, and its source frames.
fn movie(dir: &Path) -> (std::path::PathBuf, Movie) {
    let tm = TestMovie {
        seconds: 8.0,
        width: 320,
        height: 240,
        fps: 24,
        ..TestMovie::default()
    };
    let source = Movie::from_bytes("m", tm.to_lab_bytes()).unwrap();
    let raw = dir.join("movie.mjpeg");
    let avi = dir.join("movie.avi");
    let bytes: Vec<u8> = source.frames().flatten().copied().collect();
    std::fs::write(&raw, bytes).unwrap();
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "mjpeg"])
        .args(["-framerate", "24", "-i"])
        .arg(&raw)
        .args(["-c", "copy"])
        .arg(&avi)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg wraps the JPEGs in an AVI");
    (avi, source)
}

fn number(f: &Frame) -> u32 {
    read_frame_number(&f.rgb, f.width, f.height).expect("the frame shows its number")
}

/// `n` frames in order, or a failure after `limit`.
fn frames(p: &mut Player, n: usize, limit: Duration) -> Vec<Frame> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} frames (state {}, error {:?})",
            out.len(),
            p.state,
            p.error
        );
        p.poll_events();
        if let Some(f) = p.next_frame_in_order(Duration::from_millis(20)) {
            p.presented(&f, Instant::now());
            out.push(f);
        }
    }
    out
}

#[test]
fn viewers_on_one_host_receive_gstreamer_multicast() {
    if !netns::inside() && !tools_present() {
        return;
    }
    if !netns::in_namespace(TEST) {
        return;
    }
    let dir = TempDir::new("multicast");
    let (avi, source) = movie(&dir.0);
    // The server's namespace: it waits for its end of the link, sets it up, then serves.
    let script = format!(
        "while ! ip link show v1 >/dev/null 2>&1; do sleep 0.02; done; \
         ip link set lo up && ip addr add 10.42.0.2/24 dev v1 && ip link set v1 up && \
         ip route add 224.0.0.0/4 dev v1 && \
         exec {} {} 0 {} multicast address=10.42.0.2",
        python(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers/gst_server.py")
            .display(),
        avi.display()
    );
    let mut child = Command::new("unshare")
        .args(["-n", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the GStreamer server in a namespace of its own");
    let server_ns = child.id();
    let stdout = child.stdout.take().unwrap();
    let _server = Peer(child);
    sh(&format!(
        "ip link set lo up && ip link add v0 type veth peer name v1 netns {server_ns} && \
         ip addr add 10.42.0.1/24 dev v0 && ip link set v0 up && \
         ip route add 224.0.0.0/4 dev v0"
    ));
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port: u16 = line
        .strip_prefix("listening ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the server said {line:?}"));
    let url = format!("rtsp://10.42.0.2:{port}/movie");

    // Two viewers in this process: the same group and ports, each gets every datagram.
    let start = || {
        let mut o = Options::new(Target::parse_url(&url).unwrap());
        o.multicast = true;
        let mut p = Player::start(o, Instant::now()).unwrap();
        p.autoplay();
        p
    };
    let mut a = start();
    let first = frames(&mut a, 6, Duration::from_secs(10));
    let mut b = start();
    // Taken in turns: a viewer not read from for long drops frames (it keeps only the newest).
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    while fa.len() < 24 || fb.len() < 24 {
        fa.extend(frames(&mut a, 1, Duration::from_secs(10)));
        fb.extend(frames(&mut b, 1, Duration::from_secs(10)));
    }
    for (who, got) in [("first", &fa), ("second", &fb)] {
        let n: Vec<u32> = got.iter().map(number).collect();
        assert!(
            n.windows(2).all(|w| w[1] == w[0] + 1),
            "{who} viewer: frames in order, none lost: {n:?}"
        );
        for f in got.iter() {
            let want = decode_rgb(source.frame(number(f) as usize).unwrap()).unwrap();
            assert!(f.rgb == want.pixels, "{who} viewer: the source's pixels");
        }
    }
    let (na, nb) = (number(fa.last().unwrap()), number(&fb[0]));
    assert!(
        number(&first[0]) < 24 && nb <= na,
        "one stream shared: the second viewer joins where the first is ({nb} <= {na})"
    );
    std::thread::sleep(Duration::from_millis(1200));
    for (who, p) in [("first", &mut a), ("second", &mut b)] {
        p.poll_events();
        // (Members' reports to the group reach every member: those count as foreign.)
        let c = p.counters();
        assert_eq!(c.lost_packets, 0, "{who}: {c:?}");
        assert!(
            c.reports_sent >= 1,
            "{who}: receiver reports to the group: {c:?}"
        );
        assert!(p.error.is_none(), "{who}: {:?}", p.error);
    }

    // Two player processes at once, with the in-process viewers still joined: SO_REUSEADDR and
    // SO_REUSEPORT let every one bind the group's ports.
    let bin = env!("CARGO_BIN_EXE_rtsp-sdl");
    let spawn = || {
        Command::new(bin)
            .args([&url, "--multicast", "--headless", "--autoplay"])
            .args(["--frames", "24", "--seconds", "20"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn(), spawn()];
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("summary: 24 frames shown"), "{stdout}");
        assert!(
            stderr.contains("joined 239.255.42.1 ports 5000-5001"),
            "{stderr}"
        );
    }
    a.shutdown();
    b.shutdown();
}
