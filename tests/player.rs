//! The player's client against real servers: rtspd in-process (UDP and TCP), a classic lab server
//! and GStreamer's RTSP server in other processes; and the rtsp-sdl binary, headless and in a
//! real window under Xvfb.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Proc, Stdio};
use std::time::{Duration, Instant};

use common::{have_tool, small_movie, TempDir, TestServer};
use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::client::{Command, PlayerState};
use rtsp_mjpeg::client::{Dialect, Frame, Options};
use rtsp_mjpeg::jpeg::decode_rgb;
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::{read_frame_number, TestMovie};
use rtsp_mjpeg::player::Player;

fn start(url: &str, tweak: impl FnOnce(&mut Options)) -> Player {
    let mut o = Options::new(Target::parse_url(url).unwrap());
    tweak(&mut o);
    Player::start(o, Instant::now()).expect("player starts")
}

fn wait_state(p: &mut Player, want: PlayerState) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.state != want {
        assert!(
            Instant::now() < deadline,
            "state {} never became {want} (error: {:?})",
            p.state,
            p.error
        );
        p.poll_events();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The next `n` frames, failing after `limit`.
fn frames(p: &mut Player, n: usize, limit: Duration) -> Vec<Frame> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} frames (error: {:?})",
            out.len(),
            p.error
        );
        p.poll_events();
        if let Ok(f) = p_frames(p) {
            p.presented(&f, Instant::now());
            out.push(f);
        }
    }
    out
}

fn p_frames(p: &mut Player) -> Result<Frame, ()> {
    p.next_frame_in_order(Duration::from_millis(20)).ok_or(())
}

fn number(f: &Frame) -> u32 {
    read_frame_number(&f.rgb, f.width, f.height).expect("the frame shows its number")
}

fn pixels_match_source(got: &[Frame]) {
    let source = Movie::from_bytes("m", small_movie().to_lab_bytes()).unwrap();
    for f in got {
        let i = number(f) as usize;
        let want = decode_rgb(source.frame(i).unwrap()).unwrap();
        assert_eq!(
            (f.width, f.height),
            (want.width, want.height),
            "frame {i} size"
        );
        assert!(
            f.rgb == want.pixels,
            "frame {i}: pixels differ from the source's"
        );
    }
}

fn consecutive(got: &[Frame]) {
    let n: Vec<u32> = got.iter().map(number).collect();
    for w in n.windows(2) {
        assert_eq!(
            w[1],
            (w[0] + 1) % 48,
            "frames in order with none lost: {n:?}"
        );
    }
}

fn play_and_check(tcp: bool) {
    let server = TestServer::start(|_| {});
    let mut p = start(&server.url("movie.Mjpeg"), |o| o.tcp = tcp);
    p.send(Command::Setup);
    p.send(Command::Play);
    wait_state(&mut p, PlayerState::Playing);
    assert_eq!(p.dialect, Dialect::Standard);
    assert_eq!(p.duration, Some(2.0));
    let got = frames(&mut p, 30, Duration::from_secs(10));
    assert_eq!(number(&got[0]), 0, "playback starts at the first frame");
    consecutive(&got);
    pixels_match_source(&got);
    let pos = got[24].position.expect("position from Range and RTP-Info");
    assert!((pos - 1.0).abs() < 0.01, "frame 24 is at 1 s: {pos}");
    p.shutdown();
    assert_eq!(p.state, PlayerState::Closed);
}

#[test]
fn plays_rtspd_over_udp_with_source_pixels() {
    play_and_check(false);
}

#[test]
fn plays_rtspd_over_tcp_with_source_pixels() {
    play_and_check(true);
}

#[test]
fn pause_stops_frames_and_play_resumes() {
    let server = TestServer::start(|_| {});
    let mut p = start(&server.url("movie.Mjpeg"), |_| {});
    p.send(Command::Setup);
    p.send(Command::Play);
    wait_state(&mut p, PlayerState::Playing);
    let before = frames(&mut p, 10, Duration::from_secs(5));
    p.send(Command::Pause);
    wait_state(&mut p, PlayerState::Paused);
    // Frames already in flight may land; then nothing for half a second.
    std::thread::sleep(Duration::from_millis(100));
    while p.next_frame(Duration::ZERO).is_some() {}
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        assert!(
            p.next_frame(Duration::from_millis(20)).is_none(),
            "a frame arrived while paused"
        );
    }
    p.send(Command::Play);
    wait_state(&mut p, PlayerState::Playing);
    let after = frames(&mut p, 5, Duration::from_secs(5));
    let last = number(before.last().unwrap());
    let resumed = number(&after[0]);
    assert!(
        resumed > last && resumed <= last + 4,
        "resumes where it paused: {last} then {resumed}"
    );
}

#[test]
fn seek_lands_on_the_right_frame() {
    let server = TestServer::start(|_| {});
    let mut p = start(&server.url("movie.Mjpeg"), |_| {});
    p.send(Command::Setup);
    p.send(Command::Play);
    wait_state(&mut p, PlayerState::Playing);
    frames(&mut p, 3, Duration::from_secs(5));
    p.send(Command::Seek(1.5));
    // Frames sent before the seek may still arrive; the seek shows once its frames do.
    let deadline = Instant::now() + Duration::from_secs(5);
    let first = loop {
        assert!(Instant::now() < deadline, "no frame from the seek target");
        let f = &frames(&mut p, 1, Duration::from_secs(5))[0];
        let n = number(f);
        if n >= 30 {
            break (n, f.position);
        }
    };
    assert_eq!(first.0, 36, "1.5 s at 24 fps is frame 36");
    let pos = first.1.unwrap();
    assert!((pos - 1.5).abs() < 0.01, "position after seek: {pos}");
}

/// A child process killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a peer script and waits for its `listening PORT` line.
fn peer(cmd: &mut Proc) -> (Peer, u16) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn peer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .strip_prefix("listening ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("peer said {line:?}"));
    (Peer(child), port)
}

fn peers_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"))
}

#[test]
fn falls_back_to_a_classic_lab_server() {
    if !have_tool("python3", "falls_back_to_a_classic_lab_server") {
        return;
    }
    let dir = TempDir::new("labsrv");
    let movie = dir.0.join("movie.Mjpeg");
    std::fs::write(&movie, small_movie().to_lab_bytes()).unwrap();
    let (_srv, port) = peer(
        Proc::new("python3")
            .arg(peers_dir().join("lab_server.py"))
            .arg("0")
            .arg(&movie),
    );
    let mut p = start(&format!("rtsp://127.0.0.1:{port}/movie.Mjpeg"), |o| {
        o.describe_timeout = Duration::from_millis(500);
    });
    p.send(Command::Setup);
    p.send(Command::Play);
    wait_state(&mut p, PlayerState::Playing);
    assert_eq!(p.dialect, Dialect::Lab);
    let got = frames(&mut p, 10, Duration::from_secs(10));
    assert_eq!(number(&got[0]), 0);
    consecutive(&got);
    pixels_match_source(&got);
    p.send(Command::Pause);
    wait_state(&mut p, PlayerState::Paused);
    p.shutdown();
    assert_eq!(p.state, PlayerState::Closed, "TEARDOWN answered");
}

#[test]
fn plays_gstreamer_rtsp_server() {
    let test = "plays_gstreamer_rtsp_server";
    if !have_tool("python3", test) {
        return;
    }
    // Debian's python3 has the gi bindings; a python3 earlier on PATH (pyenv) may not.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let probe = Proc::new(python)
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !probe {
        if std::env::var_os("RTSP_MJPEG_REQUIRE_TOOLS").is_some() {
            panic!("{test}: python3-gi with gir1.2-gst-rtsp-server-1.0 is not installed");
        }
        common::skipped(&format!(
            "{test}: gst-rtsp-server's Python bindings are not installed"
        ));
        return;
    }
    if !have_tool("ffmpeg", test) {
        return;
    }
    let dir = TempDir::new("gstsrv");
    let raw = dir.0.join("movie.mjpeg");
    let avi = dir.0.join("movie.avi");
    let source = Movie::from_bytes("m", small_movie().to_lab_bytes()).unwrap();
    std::fs::write(
        &raw,
        source.frames().flatten().copied().collect::<Vec<u8>>(),
    )
    .unwrap();
    let ok = Proc::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "mjpeg",
            "-framerate",
            "24",
            "-i",
        ])
        .arg(&raw)
        .args(["-c", "copy"])
        .arg(&avi)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg wraps the JPEGs in an AVI");
    let (_srv, port) = peer(
        Proc::new(python)
            .arg(peers_dir().join("gst_server.py"))
            .arg("0")
            .arg(&avi),
    );
    for tcp in [false, true] {
        let mut p = start(&format!("rtsp://127.0.0.1:{port}/movie"), |o| o.tcp = tcp);
        p.send(Command::Setup);
        p.send(Command::Play);
        wait_state(&mut p, PlayerState::Playing);
        assert_eq!(p.dialect, Dialect::Standard);
        let got = frames(&mut p, 24, Duration::from_secs(10));
        assert_eq!(number(&got[0]), 0, "tcp={tcp}");
        consecutive(&got);
        // rtpjpegpay sends quantization tables for Q 255 as we do, so pixels are the source's.
        pixels_match_source(&got);
        p.shutdown();
    }
}

/// Three short movies of different sizes (so each entry's frames say whose they are): 12, 18
/// and 24 frames at 24 fps.
const QUEUE: [(&str, u16, u16, f64); 3] = [
    ("a.Mjpeg", 160, 128, 0.5),
    ("b.Mjpeg", 192, 144, 0.75),
    ("c.Mjpeg", 224, 160, 1.0),
];

fn queue_server(looping: bool) -> TestServer {
    let media = TempDir::new("queue");
    for (name, width, height, seconds) in QUEUE {
        let movie = TestMovie {
            seconds,
            width,
            height,
            fps: 24,
            ..Default::default()
        };
        common::write_movie(&media.0, name, &movie);
    }
    TestServer::start_in(media, |c| c.looping = looping)
}

fn queue_of(server: &TestServer) -> rtsp_mjpeg::player::queue::Queue {
    let entries = QUEUE
        .iter()
        .map(|(name, ..)| rtsp_mjpeg::player::playlist::Entry::from_url(&server.url(name)).unwrap())
        .collect();
    rtsp_mjpeg::player::queue::Queue::new(entries).unwrap()
}

/// Frames until one of `width` comes (the new entry's), then `n` of them in order.
fn frames_of_width(p: &mut Player, width: usize, n: usize) -> Vec<Frame> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} frames {width} wide (entry {}, error {:?})",
            got.len(),
            p.queue().index(),
            p.error
        );
        p.poll_events();
        if let Some(f) = p.next_frame_in_order(Duration::from_millis(20)) {
            p.presented(&f, Instant::now());
            if f.width == width {
                got.push(f);
            }
        }
    }
    got
}

#[test]
fn n_and_b_move_through_the_queue() {
    use rtsp_mjpeg::player::control::Action;
    let server = queue_server(true);
    let mut o = Options::new(Target::parse_url(&server.url("a.Mjpeg")).unwrap());
    o.describe_timeout = Duration::from_secs(2);
    let mut p = Player::with_queue(o, queue_of(&server), Instant::now()).unwrap();
    p.autoplay();
    let a = frames_of_width(&mut p, 160, 3);
    assert_eq!(number(&a[0]), 0, "the first entry from its start");
    assert_eq!(p.queue().label().as_deref(), Some("1/3 a.Mjpeg"));
    assert!(!p.act(&Action::Previous));
    assert_eq!(p.queue().index(), 0, "nothing before the first");
    p.act(&Action::Next);
    assert_eq!(p.queue().label().as_deref(), Some("2/3 b.Mjpeg"));
    let b = frames_of_width(&mut p, 192, 3);
    assert_eq!(number(&b[0]), 0, "the next entry plays from its start");
    assert!(p.state == PlayerState::Playing && p.duration == Some(0.75));
    p.act(&Action::Next);
    frames_of_width(&mut p, 224, 3);
    p.act(&Action::Next);
    assert_eq!(p.queue().index(), 2, "nothing after the last");
    p.act(&Action::Previous);
    assert_eq!(p.queue().label().as_deref(), Some("2/3 b.Mjpeg"));
    frames_of_width(&mut p, 192, 2);
    let pb = p.playback();
    assert_eq!((pb.entry, pb.entries), (1, 3));
    p.shutdown();
    let s = p.snapshot(Instant::now());
    assert!(
        s.frames >= 11 && s.packets > 0,
        "counted over every entry: {s:?}"
    );
    assert!(p.failures.is_empty(), "{:?}", p.failures);
}

#[cfg(feature = "player")]
mod binary {
    use super::*;

    const BIN: &str = env!("CARGO_BIN_EXE_rtsp-sdl");

    fn run(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        let mut child = Proc::new(BIN)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("rtsp-sdl {args:?} hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    #[test]
    fn headless_binary_plays_and_snapshots() {
        let server = TestServer::start(|_| {});
        let dir = TempDir::new("headless");
        let snap = dir.0.join("last.png");
        let rec = dir.0.join("rec.Mjpeg");
        let url = server.url("movie.Mjpeg");
        let out = run(
            &[
                &url,
                "--headless",
                "--autoplay",
                "--frames",
                "30",
                "--snapshot",
                snap.to_str().unwrap(),
                "--record",
                rec.to_str().unwrap(),
            ],
            &[],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("summary: 30 frames shown"), "{stdout}");
        let img = decode_png(&snap);
        assert_eq!(read_frame_number(&img.2, img.0, img.1), Some(29));
        let recorded = Movie::open(&rec).unwrap();
        assert!(recorded.frame_count() >= 30, "{}", recorded.frame_count());
    }

    /// The entries' `entry I/N URL` lines, in order, and the summary's frame count.
    fn queue_output(out: &std::process::Output) -> (Vec<String>, u64) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let entries = stdout
            .lines()
            .filter(|l| l.starts_with("entry "))
            .map(str::to_string)
            .collect();
        let shown = stdout
            .lines()
            .find_map(|l| l.strip_prefix("summary: "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no summary: {stdout}"));
        (entries, shown)
    }

    /// rtspd `--no-loop` ends each entry with RTCP BYE; a looping rtspd's entries end where
    /// their range does. Either way each plays once, whole, in order, and the run ends after
    /// the last.
    #[test]
    fn headless_queue_plays_every_entry_once_in_order() {
        for looping in [false, true] {
            let server = queue_server(looping);
            let urls: Vec<String> = QUEUE.iter().map(|(n, ..)| server.url(n)).collect();
            let started = Instant::now();
            let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
            args.extend(["--headless", "--autoplay"]);
            let out = run(&args, &[("RUST_LOG", "warn")]);
            let (entries, shown) = queue_output(&out);
            let want: Vec<String> = urls
                .iter()
                .enumerate()
                .map(|(i, u)| format!("entry {}/3 {u}", i + 1))
                .collect();
            assert_eq!(entries, want, "looping {looping}");
            assert_eq!(
                shown,
                12 + 18 + 24,
                "every frame of every entry, looping {looping}"
            );
            assert!(started.elapsed() < Duration::from_secs(20));
        }
    }

    /// The same from an M3U file with CRLF, titles and comments; the last frame is the last
    /// entry's last.
    #[test]
    fn headless_playlist_file() {
        let server = queue_server(false);
        let dir = TempDir::new("m3u");
        let list = dir.0.join("list.m3u");
        let snap = dir.0.join("last.png");
        let mut text = String::from("#EXTM3U\r\n");
        for (i, (name, ..)) in QUEUE.iter().enumerate() {
            text.push_str(&format!(
                "#EXTINF:-1,Movie {i}\r\n# comment\r\n\r\n{}\r\n",
                server.url(name)
            ));
        }
        std::fs::write(&list, text).unwrap();
        let out = run(
            &[
                "--playlist",
                list.to_str().unwrap(),
                "--headless",
                "--autoplay",
                "--snapshot",
                snap.to_str().unwrap(),
            ],
            &[("RUST_LOG", "warn")],
        );
        let (entries, shown) = queue_output(&out);
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(entries[2], format!("entry 3/3 {}", server.url("c.Mjpeg")));
        assert_eq!(shown, 54);
        let (w, h, rgb) = decode_png(&snap);
        assert_eq!((w, h), (224, 160));
        assert_eq!(read_frame_number(&rgb, w, h), Some(23));
        // A playlist that is not one: a one-line error naming the line.
        std::fs::write(&list, "#EXTM3U\nmovie.Mjpeg\n").unwrap();
        let out = run(&["--playlist", list.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("line 2: movie.Mjpeg: not an rtsp:// URL"),
            "{err}"
        );
    }

    #[test]
    fn ctrl_c_tears_down_and_exits_zero() {
        let server = TestServer::start(|_| {});
        let child = Proc::new(BIN)
            .args([&server.url("movie.Mjpeg"), "--headless", "--autoplay"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let sent = Instant::now();
        let out = child.wait_with_output().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(3));
        assert!(out.status.success(), "{:?}", out.status);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("torn down"),
            "TEARDOWN answered before exit: {err}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("summary:"));
    }

    #[test]
    fn bad_arguments_and_unreachable_servers_get_one_line() {
        let out = run(&["only-two", "args"], &[]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("rtsp-sdl: expected rtsp:// URLs"), "{err}");
        // A port nobody listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = run(
            &[
                &format!("rtsp://127.0.0.1:{port}/x"),
                "--headless",
                "--autoplay",
            ],
            &[("RUST_LOG", "off")],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("connect to 127.0.0.1"), "{err}");
        // A movie the server does not have: the error reaches the user and the exit code.
        let server = TestServer::start(|_| {});
        let out = run(
            &[
                &server.url("nope.Mjpeg"),
                "--headless",
                "--autoplay",
                "--frames",
                "5",
                "--seconds",
                "3",
            ],
            &[("RUST_LOG", "off")],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("0 of 5 frames"), "{err}");
        // A window with no display to open it on: said at once, not played invisibly.
        let out = Proc::new(BIN)
            .arg(server.url("movie.Mjpeg"))
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("SDL_VIDEODRIVER")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("rtsp-sdl: no display") && err.contains("--headless"),
            "{err}"
        );
    }

    fn decode_png(path: &Path) -> (usize, usize, Vec<u8>) {
        let mut r = png::Decoder::new(std::fs::File::open(path).unwrap())
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width as usize, info.height as usize, buf)
    }

    /// The real window under Xvfb: the screenshot must show the video (its frame number readable
    /// in the scaled picture), the overlay's white text and the button strip, not a black window.
    #[test]
    fn window_under_xvfb_shows_video_and_overlay() {
        if !have_tool("xvfb-run", "window_under_xvfb_shows_video_and_overlay") {
            return;
        }
        // A queue of two whose first entry (4 s) outlasts the 36 frames asked for, even if a
        // loaded machine makes the window skip some: Next is enabled, Previous is not.
        let server = TestServer::start(|_| {});
        let long = TestMovie {
            seconds: 4.0,
            ..small_movie()
        };
        common::write_movie(&server.media.0, "long.Mjpeg", &long);
        let dir = TempDir::new("xvfb");
        let shot = dir.0.join("window.png");
        let (first, second) = (server.url("long.Mjpeg"), server.url("movie.Mjpeg"));
        let mut child = Proc::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1024x768x24", BIN, &first, &second])
            .args(["--autoplay", "--frames", "36", "--snapshot"])
            .arg(&shot)
            .env("SDL_RENDER_DRIVER", "software")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "windowed player hung");
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (w, h, rgb) = decode_png(&shot);
        assert_eq!(
            (w, h),
            (640, 480 + rtsp_mjpeg::player::overlay::CONTROLS_H as usize)
        );
        let px = |x: usize, y: usize| &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
        // The video fills the top 640x480: its frame number strip reads back.
        let video: Vec<u8> = rgb[..640 * 480 * 3].to_vec();
        // Which frame depends on how many a loaded machine made the window skip; that it reads
        // back at all (its parity checks pass) shows a real frame of the movie is on screen.
        let n = read_frame_number(&video, 640, 480).expect("the video's frame number strip");
        assert!(n < 96, "frame {n} of a 96-frame movie");
        // Its colours are the source's, channels in their places: the top 100 rows of frame n,
        // shown twice as large, have the same mean red, green and blue.
        let source = Movie::from_bytes("m", long.to_lab_bytes()).unwrap();
        let want = decode_rgb(source.frame(n as usize).unwrap()).unwrap();
        let mean = |rgb: &[u8]| -> [f64; 3] {
            let mut sum = [0u64; 3];
            for p in rgb.chunks(3) {
                for c in 0..3 {
                    sum[c] += u64::from(p[c]);
                }
            }
            sum.map(|s| s as f64 / (rgb.len() / 3) as f64)
        };
        let (shown, source) = (
            mean(&rgb[..640 * 200 * 3]),
            mean(&want.pixels[..320 * 100 * 3]),
        );
        assert!(
            (source[0] - source[2]).abs() > 8.0,
            "red and blue differ in the source: {source:?}"
        );
        for c in 0..3 {
            assert!(
                (shown[c] - source[c]).abs() < 4.0,
                "channel {c}: on screen {shown:?}, in the source {source:?}"
            );
        }
        let lit = video
            .chunks(3)
            .filter(|p| p.iter().any(|&c| c > 40))
            .count();
        assert!(lit > 640 * 480 / 2, "not a black window: {lit} lit pixels");
        // The overlay: pure white text in the lower left of the video.
        let white = (300..420)
            .flat_map(|y| (8..480).map(move |x| (x, y)))
            .filter(|&(x, y)| px(x, y) == [255, 255, 255])
            .count();
        assert!(white > 300, "overlay text: {white} white pixels");
        // The button strip under the video: enabled buttons in one colour, disabled ones dimmed.
        use rtsp_mjpeg::player::control::Button;
        let layout = rtsp_mjpeg::player::overlay::Layout::compute(w as u32, h as u32, 640, 480);
        let colour = |b: Button| {
            let (_, r) = layout.buttons.iter().find(|(k, _)| *k == b).unwrap();
            px(r.x as usize + 2, r.y as usize + 2).to_vec()
        };
        let (on, off) = ([70, 70, 90], [35, 35, 40]);
        assert_eq!(colour(Button::Pause), on, "playing: Pause is enabled");
        assert_eq!(colour(Button::Next), on, "a second entry to go to");
        assert_eq!(colour(Button::Previous), off, "nothing before the first");
        assert_eq!(colour(Button::Setup), off, "already set up");
    }
}
