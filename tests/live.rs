//! Live streams (`rtspd --publish`): ffmpeg publishes over UDP and TCP, and readers (ffmpeg,
//! GStreamer, rtsp-sdl) decode exactly the source's pictures; H.264 passes through; one
//! publisher per path; credentials; and publishers that misbehave.

mod common;

use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::live::{
    ffmpeg_mjpeg_raw, ffmpeg_publish, framemd5, gstreamer_jpegs, jpeg_md5s, run, run_of,
    source_md5, test_movie_raw, wait_for_status, Publisher,
};
use common::{have_tool, udp_pair, Client, TempDir, TestServer};
use rtsp_mjpeg::rtp::jpeg::Depacketizer;
use rtsp_mjpeg::rtp::packet::RtpPacket;
use rtsp_mjpeg::rtp::rtcp;

fn publishing() -> TestServer {
    TestServer::start(|c| c.publish = true)
}

/// ffmpeg and GStreamer readers of `live/cam`, over UDP and TCP, each get a run of the source.
fn readers_see_the_source(server: &TestServer, source: &[String], dir: &TempDir) {
    let url = server.url("live/cam");
    for transport in ["udp", "tcp"] {
        let got = framemd5(&["-rtsp_transport", transport, "-i", &url], 48);
        run_of(&got, source, &format!("ffmpeg reading over {transport}"));
    }
    let jpegs = gstreamer_jpegs(&url, 24, true, &dir.0);
    run_of(
        &jpeg_md5s(&jpegs, &dir.0),
        source,
        "GStreamer reading over TCP",
    );
    #[cfg(feature = "player")]
    for tcp in [false, true] {
        let jpegs = common::live::rtsp_sdl_jpegs(&url, 24, tcp, &dir.0);
        let what = format!("rtsp-sdl reading over {}", if tcp { "TCP" } else { "UDP" });
        run_of(&jpeg_md5s(&jpegs[..24], &dir.0), source, &what);
    }
}

#[test]
fn ffmpeg_publishes_over_udp_and_tcp_and_readers_get_the_source_pixels() {
    let test = "ffmpeg_publishes_over_udp_and_tcp_and_readers_get_the_source_pixels";
    if !have_tool("ffmpeg", test) || !have_tool("gst-launch-1.0", test) {
        return;
    }
    let dir = TempDir::new("live");
    // The test movie (two tables), and ffmpeg's own MJPEG (one table for both components, which
    // ffmpeg sends as 64 bytes of tables: rtspd re-packetizes it with both).
    let ours = test_movie_raw(&dir.0);
    let theirs = ffmpeg_mjpeg_raw(&dir.0);
    for (file, tcp) in [(&ours, false), (&theirs, true), (&theirs, false)] {
        let server = publishing();
        let file = file.to_string_lossy().into_owned();
        let input = ["-f", "mjpeg", "-framerate", "24", "-i", &file];
        let source = source_md5(&["-f", "mjpeg", "-i", &file]);
        assert_eq!(source.len(), 48);
        let _publisher = ffmpeg_publish(&input, &server.url("live/cam"), tcp, false);
        assert!(
            wait_for_status(
                server.addr,
                &server.url("live/cam"),
                200,
                Duration::from_secs(20)
            ),
            "the path appears"
        );
        readers_see_the_source(&server, &source, &dir);
    }
}

#[test]
fn a_second_publisher_is_refused_and_the_path_is_404_once_the_first_leaves() {
    let test = "a_second_publisher_is_refused_and_the_path_is_404_once_the_first_leaves";
    if !have_tool("ffmpeg", test) {
        return;
    }
    let dir = TempDir::new("live-second");
    let file = test_movie_raw(&dir.0).to_string_lossy().into_owned();
    let input = ["-f", "mjpeg", "-framerate", "24", "-i", &file];
    let server = publishing();
    let url = server.url("live/cam");
    // 48 frames at 24 fps: two seconds, then TEARDOWN.
    let first = ffmpeg_publish(&input, &url, true, true);
    assert!(wait_for_status(
        server.addr,
        &url,
        200,
        Duration::from_secs(20)
    ));
    // A reader over TCP, to see the BYE.
    let mut reader = Client::connect(server.addr);
    let r = reader.request(
        "SETUP",
        &format!("{url}/trackID=0"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    assert_eq!(r.status, 200);
    let session = r.session();
    assert_eq!(
        reader
            .request("PLAY", &url, &[("Session", &session)])
            .status,
        200
    );
    let second = ffmpeg_publish(&input, &url, false, true);
    let (ok, err) = second.finish(Duration::from_secs(30));
    assert!(!ok && err.contains("455"), "the second publisher: {err}");
    let (ok, err) = first.finish(Duration::from_secs(30));
    assert!(ok, "the first publisher: {err}");
    assert!(wait_for_status(
        server.addr,
        &url,
        404,
        Duration::from_secs(5)
    ));
    let rtcp = reader.read_interleaved(1, 100, Duration::from_secs(3));
    assert!(
        rtcp.iter()
            .any(|p| rtcp::Compound::new(p).any(|x| matches!(x, Ok(rtcp::Packet::Bye(_))))),
        "the reader got BYE"
    );
    assert!(
        reader.read_interleaved(0, 1, Duration::ZERO).len() >= 24,
        "and frames before it"
    );
}

#[test]
fn h264_passes_through_to_ffmpeg_and_gstreamer() {
    let test = "h264_passes_through_to_ffmpeg_and_gstreamer";
    if !have_tool("ffmpeg", test) || !have_tool("gst-launch-1.0", test) {
        return;
    }
    let dir = TempDir::new("live-h264");
    let file = dir.0.join("h264.mkv").to_string_lossy().into_owned();
    // A key frame every half second; no B-frames, so that decode order is display order and
    // a reader's pictures are a plain run of the file's.
    run(
        std::process::Command::new("ffmpeg").args([
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
            &file,
        ]),
        Duration::from_secs(60),
    );
    let source = source_md5(&["-i", &file]);
    assert_eq!(source.len(), 96);
    let server = publishing();
    let url = server.url("live/cam");
    for tcp in [false, true] {
        let _publisher = ffmpeg_publish(&["-i", &file], &url, tcp, false);
        assert!(wait_for_status(
            server.addr,
            &url,
            200,
            Duration::from_secs(20)
        ));
        let mut c = Client::connect(server.addr);
        let d = c.request("DESCRIBE", &url, &[]);
        let sdp = String::from_utf8_lossy(&d.body).into_owned();
        assert!(
            sdp.contains("H264/90000") && sdp.contains("sprop-parameter-sets"),
            "{sdp}"
        );
        for transport in ["udp", "tcp"] {
            let got = framemd5(&["-rtsp_transport", transport, "-i", &url], 36);
            run_of(
                &got,
                &source,
                &format!("ffmpeg reading H.264 over {transport}"),
            );
        }
        // GStreamer depayloads and decodes it too (libav's H.264 decoder).
        let pipeline = format!(
            "rtspsrc location={url} protocols=tcp latency=100 ! rtph264depay ! avdec_h264 ! \
             identity eos-after=25 ! fakesink"
        );
        // As in the interop tests, gst-launch now and then reports "Received end-of-file" on
        // the PAUSE it sends while shutting down, after its frames came: tolerated, while the
        // EOS it prints proves that 25 pictures were decoded.
        let out = common::tools::run_allowing(
            std::process::Command::new("gst-launch-1.0").args(pipeline.split_whitespace()),
            Duration::from_secs(60),
            "Received end-of-file",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Got EOS from element"), "{stdout}");
        drop(_publisher);
        assert!(wait_for_status(
            server.addr,
            &url,
            404,
            Duration::from_secs(10)
        ));
    }
}

#[test]
fn publishing_needs_credentials_when_auth_is_on() {
    let test = "publishing_needs_credentials_when_auth_is_on";
    if !have_tool("ffmpeg", test) {
        return;
    }
    let dir = TempDir::new("live-auth");
    let file = test_movie_raw(&dir.0).to_string_lossy().into_owned();
    let input = ["-f", "mjpeg", "-framerate", "24", "-i", &file];
    let server = TestServer::start(|c| {
        c.publish = true;
        let mut a = rtsp_mjpeg::server::auth::AuthConfig::new("rtspd");
        a.add_plain("cam:s3cret").unwrap();
        c.auth = Some(a);
    });
    let anonymous = ffmpeg_publish(&input, &server.url("live/cam"), true, true);
    let (ok, err) = anonymous.finish(Duration::from_secs(30));
    assert!(!ok && err.contains("401"), "without credentials: {err}");
    let wrong = format!("rtsp://cam:guess@{}/live/cam", server.addr);
    let (ok, _) = ffmpeg_publish(&input, &wrong, true, true).finish(Duration::from_secs(30));
    assert!(!ok, "wrong password");
    let url = format!("rtsp://cam:s3cret@{}/live/cam", server.addr);
    let _publisher = ffmpeg_publish(&input, &url, false, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let source = source_md5(&["-f", "mjpeg", "-i", &file]);
    loop {
        // Readers need the credentials too.
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &url,
        ])
        .args(["-frames:v", "24", "-f", "framemd5", "-"]);
        let out = cmd.output().unwrap();
        if out.status.success() {
            let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
                .collect();
            run_of(&got, &source, "a reader with credentials");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the publisher with credentials never appeared"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A reader over UDP: its socket and its session's RTSP connection.
fn udp_reader(server: &TestServer, path: &str) -> (Client, UdpSocket) {
    let url = server.url(path);
    let (rtp, rtcp) = udp_pair();
    std::mem::forget(rtcp);
    let mut c = Client::connect(server.addr);
    let r = c.setup_udp(
        &format!("{url}/trackID=0"),
        rtp.local_addr().unwrap().port(),
    );
    assert_eq!(r.status, 200);
    let s = r.session();
    assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
    (c, rtp)
}

/// Frames (as decoded frame numbers) a UDP reader gets within `window`.
fn frames_read(sock: &UdpSocket, window: Duration) -> Vec<u32> {
    let mut d = Depacketizer::new(1 << 22);
    let mut out = Vec::new();
    for p in common::drain_for(sock, window) {
        if let Ok(p) = RtpPacket::new_checked(&p) {
            let _ = d.push(&p);
        }
        while let Some(f) = d.pull() {
            let rgb = rtsp_mjpeg::jpeg::decode_rgb(&f.data).unwrap();
            out.push(
                rtsp_mjpeg::media::testmovie::read_frame_number(&rgb.pixels, rgb.width, rgb.height)
                    .expect("a frame of the test movie"),
            );
        }
    }
    out
}

#[test]
fn a_hostile_publisher_harms_no_reader() {
    let server = TestServer::start(|c| {
        c.publish = true;
        c.max_live_frame = 64 * 1024;
    });
    for udp in [true, false] {
        let mut p = Publisher::start(&server, "live/cam", udp);
        let (_keep, reader) = udp_reader(&server, "live/cam");
        // A stranger's RTP on the server's RTP port, and junk.
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let forged = p.packet(0, true, &[0; 40]);
        stranger.send_to(&forged, server.rtp).unwrap();
        stranger.send_to(b"\x80junk", server.rtp).unwrap();
        // Malformed RTP from the publisher itself: too short, a bad version, a truncated header.
        for junk in [
            &b"\x80"[..],
            &[0u8; 20][..],
            &[0x80, 26, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 9][..],
        ] {
            p.send_packet(junk);
        }
        p.send_frame(0, 1000);
        // An oversized frame (80 KiB of scan, over the 64 KiB limit) and an endless one (its
        // marker never comes).
        p.send_fake_frame(99_000, 64, true);
        p.send_fake_frame(88_000, 200, false);
        for k in 1..4 {
            p.send_frame(k, 1000);
        }
        let got = frames_read(&reader, Duration::from_millis(700));
        assert_eq!(
            got,
            [0, 1, 2, 3],
            "udp {udp}: the good frames, whole, the rest dropped"
        );
        // The server is fine: a new reader is served and the publisher still publishes.
        let (_keep2, reader2) = udp_reader(&server, "live/cam");
        p.send_frame(4, 1000);
        assert_eq!(frames_read(&reader2, Duration::from_millis(500)), [4]);
        let url = server.url("live/cam");
        let s = p.session.clone();
        assert_eq!(
            p.rtsp.request("TEARDOWN", &url, &[("Session", &s)]).status,
            200
        );
        assert!(wait_for_status(
            server.addr,
            &url,
            404,
            Duration::from_secs(3)
        ));
    }
}

#[test]
fn a_silent_publisher_times_out_and_a_stalled_reader_harms_nobody() {
    let server = TestServer::start(|c| {
        c.publish = true;
        c.session_timeout = Duration::from_secs(2);
        c.max_queue = 64 * 1024;
    });
    let mut p = Publisher::start(&server, "live/cam", true);
    // A TCP reader that never reads, and a UDP reader that does.
    let mut stalled = Client::connect(server.addr);
    let url = server.url("live/cam");
    let r = stalled.request(
        "SETUP",
        &format!("{url}/trackID=0"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    let s = r.session();
    assert_eq!(
        stalled.request("PLAY", &url, &[("Session", &s)]).status,
        200
    );
    stalled
        .stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let (_keep, reader) = udp_reader(&server, "live/cam");
    let reading = std::thread::spawn(move || frames_read(&reader, Duration::from_millis(1500)));
    let start = Instant::now();
    for k in 0..48 {
        p.send_frame(k, 1400);
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = reading.join().unwrap();
    assert_eq!(
        got,
        (0..48).collect::<Vec<_>>(),
        "every frame, whatever the stalled reader"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    // Silence: the publisher times out although its RTSP connection stays open, and the path
    // goes.
    assert!(wait_for_status(
        server.addr,
        &url,
        404,
        Duration::from_secs(5)
    ));
    assert!(start.elapsed() >= Duration::from_secs(2));
    drop(stalled);
    drop(p);
    let _ = TcpStream::connect(server.addr).expect("the server still accepts");
}

/// The body of an HTTP GET on a raw connection, read until `enough` says so or 10 s pass.
fn http_get(server: &TestServer, path: &str) -> (u16, Vec<u8>) {
    common::live::http_get(server.addr, path)
}

#[test]
fn a_browser_watches_a_live_path() {
    use common::live::{frame_number, MjpegReader};
    let server = publishing();
    let mut publisher = Publisher::start(&server, "live/cam", false);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sending = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut k = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && k < 24 * 20 {
                publisher.send_frame(k, 1400);
                k += 1;
                let due = start + Duration::from_secs(1) * k / 24;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            publisher
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // The library lists it, its page shows it, its thumbnail is its latest picture.
    let (status, page) = http_get(&server, "/");
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200);
    assert!(
        page.contains("href=\"/watch/live/cam\"") && page.contains("LIVE"),
        "{page}"
    );
    let (status, page) = http_get(&server, "/watch/live/cam");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("src=\"/mjpeg/live/cam\""));
    let (status, thumb) = http_get(&server, "/thumb/live/cam");
    assert_eq!(status, 200);
    assert!(thumb.windows(2).any(|w| w == [0xFF, 0xD8]), "a JPEG");
    let (_, api) = http_get(&server, "/api/movies");
    let api = String::from_utf8_lossy(&api);
    assert!(
        api.contains("\"name\": \"live/cam\"") && api.contains("\"duration\": null"),
        "{api}"
    );

    // /mjpeg/live/cam: parts of whole JPEGs, the publisher's frames in order.
    let mut viewer = MjpegReader::open(server.addr, "/mjpeg/live/cam");
    let mut numbers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while numbers.len() < 24 {
        let Some(jpeg) = viewer.next_jpeg(deadline) else {
            break;
        };
        numbers.push(frame_number(&jpeg));
    }
    assert!(numbers.len() >= 24, "{numbers:?}");
    for w in numbers.windows(2) {
        assert_eq!(
            w[1],
            (w[0] + 1) % 48,
            "frames in order, none missing: {numbers:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut publisher = sending.join().unwrap();
    let url = server.url("live/cam");
    let session = publisher.session.clone();
    assert_eq!(
        publisher
            .rtsp
            .request("TEARDOWN", &url, &[("Session", &session)])
            .status,
        200
    );
    assert_eq!(
        http_get(&server, "/watch/live/cam").0,
        404,
        "gone with its publisher"
    );
    assert!(
        viewer.ends_by(Instant::now() + Duration::from_secs(3)),
        "the viewer's body ends when the publisher leaves"
    );
}
