//! Playlists (issue 14) end to end: ffmpeg and GStreamer decode a playlist whose entries differ
//! in size, frame rate and quality pixel for pixel as they decode the entries' own files, over
//! UDP and TCP, across the loop and after a seek; the RTP stream seen from real sockets; hostile
//! playlists; `mjpeg info` on a playlist.

mod common;

use std::io::Read;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tools::run;
use common::*;
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::rtp::packet::RtpPacket;
use rtsp_mjpeg::rtp::rtcp::{Compound, Packet};
use rtsp_mjpeg::rtsp::headers::RtpInfo;

/// The entries: (file, movie, `.fps` sidecar). a has none: the server's default, 24 fps.
fn entries() -> Vec<(&'static str, TestMovie, Option<&'static str>)> {
    let t = |seconds, width, height, fps, quality| TestMovie {
        seconds,
        width,
        height,
        fps,
        quality,
    };
    vec![
        ("a.Mjpeg", t(0.5, 320, 240, 24, 75), None), // 12 frames, 0.5 s
        ("b.Mjpeg", t(0.4, 256, 192, 30, 95), Some("30\n")), // 12 frames, 0.4 s
        ("c.Mjpeg", t(0.5, 160, 128, 12, 30), Some("12")), // 6 frames, 0.5 s
    ]
}

const FRAMES: usize = 30;

/// A server whose folder holds the entries and `list.m3u` (with a missing entry, skipped).
fn playlist_server(tweak: impl FnOnce(&mut rtsp_mjpeg::server::Config)) -> TestServer {
    let media = TempDir::new("playlist");
    std::fs::create_dir_all(media.0.join("clips")).unwrap();
    for (name, movie, fps) in entries() {
        write_movie(&media.0, name, &movie);
        if let Some(fps) = fps {
            std::fs::write(media.0.join(format!("{name}.fps")), fps).unwrap();
        }
    }
    std::fs::write(
        media.0.join("list.m3u"),
        "#EXTM3U\r\n#EXTINF:0.5,A\r\na.Mjpeg\r\nmissing.Mjpeg\r\n\r\n#EXTINF:0.5,B\r\n\
         clips/../b.Mjpeg\r\n./c.Mjpeg\r\n",
    )
    .unwrap();
    TestServer::start_in(media, tweak)
}

/// ffmpeg's MD5 of each decoded picture. `-autoscale 0` keeps each picture at its own size
/// (ffmpeg otherwise scales every later one to the first one's), `-fps_mode passthrough` keeps
/// every frame once whatever its rate.
fn framemd5(args: &[&str], frames: usize) -> Vec<String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error"])
        .args(args)
        .args(["-autoscale", "0", "-fps_mode", "passthrough"])
        .args(["-frames:v", &frames.to_string(), "-f", "framemd5", "-"]);
    let out = run(&mut cmd, Duration::from_secs(60));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// Each entry's frames as a raw JPEG stream file (what ffmpeg's and GStreamer's JPEG
/// demuxers read), in playlist order.
fn raw_entries(server: &TestServer, dir: &Path) -> Vec<String> {
    entries()
        .iter()
        .map(|(name, _, _)| {
            let movie = Movie::open(server.media.0.join(name)).unwrap();
            let path = dir.join(format!("{name}.raw.mjpeg"));
            let bytes: Vec<u8> = movie.frames().flatten().copied().collect();
            std::fs::write(&path, bytes).unwrap();
            path.to_string_lossy().into_owned()
        })
        .collect()
}

/// ffmpeg's hashes of the entries' own frames, one pass of the playlist.
fn reference_md5(server: &TestServer, dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for (raw, (_, movie, _)) in raw_entries(server, dir).iter().zip(entries()) {
        let n = movie.frame_count();
        let got = framemd5(&["-f", "mjpeg", "-i", raw], n);
        assert_eq!(got.len(), n);
        all.extend(got);
    }
    assert_eq!(all.len(), FRAMES);
    all
}

#[test]
fn ffmpeg_decodes_every_entry_pixel_exact_over_udp_and_tcp_and_across_the_loop() {
    if !have_tool("ffmpeg", "ffmpeg_decodes_every_entry_pixel_exact") {
        return;
    }
    let server = playlist_server(|_| {});
    let dir = TempDir::new("playlist-ff");
    let reference = reference_md5(&server, &dir.0);
    // One pass and the first three frames of the next: back from 160x128 to 320x240.
    let mut expected = reference.clone();
    expected.extend_from_slice(&reference[..3]);
    let url = server.url("list.m3u");
    for transport in ["udp", "tcp"] {
        let got = framemd5(&["-rtsp_transport", transport, "-i", &url], expected.len());
        assert_eq!(
            got, expected,
            "ffmpeg over {transport}: the playlist's pictures differ from its entries'"
        );
    }
}

#[test]
fn ffmpeg_seeks_into_the_second_entry() {
    if !have_tool("ffmpeg", "ffmpeg_seeks_into_the_second_entry") {
        return;
    }
    let server = playlist_server(|_| {});
    let dir = TempDir::new("playlist-seek");
    let reference = reference_md5(&server, &dir.0);
    // b's frame 3 starts at 0.5 + 3/30 = 0.6 s: PLAY with Range: npt=0.600- starts there.
    // (Into b rather than c: ffmpeg's MJPEG decoder takes the first picture after a seek for
    // one field of an interlaced frame when it is under 3/4 of the height it first probed,
    // 240 here, and c is 128 high. A decoder heuristic: the packets are right either way.)
    let got = framemd5(
        &[
            "-rtsp_transport",
            "tcp",
            "-ss",
            "0.6",
            "-i",
            &server.url("list.m3u"),
        ],
        6,
    );
    assert_eq!(got, reference[12 + 3..12 + 9], "b's frames 3-8");
}

/// GStreamer's RGB pictures of `pipeline_head ! rtpjpegdepay` or of a JPEG file, one file each.
fn gst_frames(source: &str, frames: usize, dir: &Path) -> Vec<Vec<u8>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let pipeline = format!(
        "{source} ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! identity eos-after={} ! \
         multifilesink location={}/f%05d.rgb",
        frames + 1,
        dir.display()
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q").args(pipeline.split_whitespace());
    run(&mut cmd, Duration::from_secs(60));
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn gstreamer_decodes_across_size_changes_pixel_exact() {
    let test = "gstreamer_decodes_across_size_changes_pixel_exact";
    if !have_tool("gst-launch-1.0", test) {
        return;
    }
    let server = playlist_server(|_| {});
    let dir = TempDir::new("playlist-gst");
    let mut reference = Vec::new();
    for (raw, (_, movie, _)) in raw_entries(&server, &dir.0).iter().zip(entries()) {
        let source = format!("filesrc location={raw} ! jpegparse");
        let frames = gst_frames(&source, movie.frame_count(), &dir.0.join("ref"));
        assert_eq!(frames.len(), movie.frame_count());
        reference.extend(frames);
    }
    for protocols in ["tcp", "udp"] {
        let source = format!(
            "rtspsrc location={} protocols={protocols} latency=200 ! rtpjpegdepay",
            server.url("list.m3u")
        );
        let got = gst_frames(&source, FRAMES, &dir.0.join(protocols));
        assert_eq!(got.len(), FRAMES, "GStreamer over {protocols}");
        // Over UDP GStreamer may miss the very start of a stream under load (see interop.rs):
        // the run is checked from the frame it started at.
        let first = reference
            .iter()
            .position(|r| *r == got[0])
            .expect("the first picture is one of the entries'");
        assert!(
            first == 0 || (protocols == "udp" && first <= 2),
            "over {protocols} GStreamer starts at frame {first}"
        );
        for (i, g) in got.iter().enumerate() {
            let want = &reference[(first + i) % FRAMES];
            assert!(
                g == want,
                "GStreamer over {protocols}: picture {i} ({} bytes) is not frame {} ({} bytes)",
                g.len(),
                (first + i) % FRAMES,
                want.len()
            );
        }
    }
}

/// Every datagram on `sock` with its arrival time until `stop` says so or `limit` passes.
fn receive(
    sock: UdpSocket,
    limit: Duration,
    stop: impl Fn(&[u8]) -> bool + Send + 'static,
) -> std::thread::JoinHandle<Vec<(Instant, Vec<u8>)>> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                out.push((Instant::now(), buf[..n].to_vec()));
                if stop(&buf[..n]) {
                    break;
                }
            }
        }
        out
    })
}

fn is_bye(b: &[u8]) -> bool {
    Compound::new(b).any(|p| matches!(p, Ok(Packet::Bye(_))))
}

#[test]
fn rtp_over_udp_one_ssrc_continuous_sequence_and_timeline_then_bye() {
    let server = playlist_server(|c| c.looping = false);
    let mut c = Client::connect(server.addr);
    let url = server.url("list.m3u");
    let d = c.request("DESCRIBE", &url, &[("Accept", "application/sdp")]);
    assert_eq!(d.status, 200);
    let sdp = String::from_utf8(d.body.clone()).unwrap();
    assert!(
        sdp.contains("a=range:npt=0-1.400\r\n"),
        "0.5 + 0.5 + 0.4 s: {sdp}"
    );
    let (rtp, rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let track = format!("{url}/trackID=0");
    let r = c.setup_udp(&track, port);
    assert_eq!(r.status, 200);
    let session = r.session();
    let rtp_rx = receive(rtp, Duration::from_secs(5), |_| false);
    let rtcp_rx = receive(rtcp, Duration::from_secs(5), is_bye);
    let r = c.request("PLAY", &url, &[("Session", &session)]);
    assert_eq!(r.status, 200);
    let info = RtpInfo::parse_list(r.header("RTP-Info").unwrap()).unwrap();
    assert_eq!(info[0].url, track, "RTP-Info names the stream's URL");
    let rtcp = rtcp_rx.join().unwrap();
    let rtp = rtp_rx.join().unwrap();

    // Frames: (arrival of the last packet, timestamp, width), with the per-packet rules.
    let mut frames: Vec<(Instant, u32, u16)> = Vec::new();
    let (mut ssrc, mut seq) = (None, None::<u16>);
    let mut width = 0;
    for (at, bytes) in &rtp {
        let p = RtpPacket::new_checked(bytes).unwrap();
        assert_eq!(*ssrc.get_or_insert(p.ssrc()), p.ssrc(), "one SSRC");
        if let Some(prev) = seq {
            assert_eq!(p.sequence(), prev.wrapping_add(1), "no gap at any boundary");
        }
        seq = Some(p.sequence());
        let h = p.payload();
        if h[1..4] == [0, 0, 0] {
            assert_eq!(h[5], 255, "Q=255: tables in band, never cached per Q");
            width = u16::from(h[6]) * 8;
        }
        if p.marker() {
            frames.push((*at, p.timestamp(), width));
        }
    }
    assert_eq!(frames.len(), FRAMES, "one pass, then the end (--no-loop)");
    assert_eq!(frames[0].1, info[0].rtptime.unwrap());
    // The RTP timeline: each entry at its own rate, each starting where the last one ended.
    let mut expected: Vec<(u64, u16)> = Vec::new();
    expected.extend((0..12).map(|k| (k * 3750, 320)));
    expected.extend((0..12).map(|k| (45_000 + k * 3000, 256)));
    expected.extend((0..6).map(|k| (81_000 + k * 7500, 160)));
    for (k, ((_, ts, w), (pts, width))) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(ts.wrapping_sub(frames[0].1), *pts as u32, "frame {k}");
        assert_eq!(w, width, "frame {k}");
    }
    // RTCP: the first report counts media already sent; BYE comes a frame period (1/12 s)
    // after the last frame, so a receiver that reads RTCP first still shows that frame.
    let first = rtcp.first().expect("RTCP");
    match Compound::new(&first.1).next() {
        Some(Ok(Packet::SenderReport(sr))) => assert!(sr.packet_count > 0, "{sr:?}"),
        other => panic!("the first RTCP packet is not a sender report: {other:?}"),
    }
    let (bye_at, _) = rtcp.last().filter(|(_, b)| is_bye(b)).expect("BYE");
    let last_at = frames.last().unwrap().0;
    let gap = bye_at.saturating_duration_since(last_at);
    assert!(
        gap >= Duration::from_millis(25),
        "BYE {gap:?} after the last frame"
    );
}

/// Makes a FIFO: opening it for reading blocks until a writer comes, so a server that opened
/// one would hang, and the test would see it.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn hostile_playlists_are_bounded_and_never_leave_the_folder() {
    let base = TempDir::new("playlist-hostile");
    let base_path = base.0.canonicalize().unwrap();
    let media = base_path.join("media");
    std::fs::create_dir_all(media.join("sub")).unwrap();
    write_movie(&media, "movie.Mjpeg", &small_movie()); // 2 s
    write_movie(&base_path, "secret.Mjpeg", &small_movie());
    mkfifo(&base_path.join("outside.fifo"));
    mkfifo(&media.join("fifo.m3u"));
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, media.join(name)).unwrap();
    };
    link("../secret.Mjpeg", "out.Mjpeg");
    link("../outside.fifo", "fifo.Mjpeg");
    link("movie.Mjpeg", "in.Mjpeg");
    link("../outside.fifo", "link.m3u");
    let b = base_path.display();
    let m = media.display();
    let hostile = [
        "../secret.Mjpeg".to_string(),
        "../outside.fifo".into(),
        format!("{b}/secret.Mjpeg"),
        format!("{b}/outside.fifo"),
        "/etc/passwd".into(),
        "out.Mjpeg".into(),
        "fifo.Mjpeg".into(),
        "sub/../../secret.Mjpeg".into(),
        "mixed.m3u".into(),
        "other.m3u".into(),
        "http://example.com/a.Mjpeg".into(),
        "sub".into(),
        "%2e%2e/secret.Mjpeg".into(),
        "fifo.m3u".into(),
    ];
    let mut mixed = hostile.join("\n");
    mixed.push_str(&format!(
        "\n{m}/movie.Mjpeg\nin.Mjpeg\nsub/../movie.Mjpeg\n"
    ));
    std::fs::write(media.join("mixed.m3u"), &mixed).unwrap();
    std::fs::write(media.join("traversal.m3u"), hostile.join("\r\n")).unwrap();
    std::fs::write(media.join("self.m3u"), "#EXTM3U\nself.m3u\n").unwrap();
    std::fs::write(media.join("other.m3u"), "mixed.m3u\n").unwrap();
    std::fs::File::create(media.join("huge.m3u"))
        .unwrap()
        .set_len(10 << 30) // sparse: 10 GB that cost no disk
        .unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let junk: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(media.join("junk.m3u"), junk).unwrap();
    let mut long = vec![b'a'; 1_000_000];
    long.extend_from_slice(b"\nmovie.Mjpeg\n");
    std::fs::write(media.join("longline.m3u"), long).unwrap();
    std::fs::write(media.join("many.m3u"), "movie.Mjpeg\n".repeat(100_000)).unwrap();

    let (mut child, addr) = spawn_rtspd(&media, &[], "warn");
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut c = Client::connect(addr);
    let url = |n: &str| format!("rtsp://{addr}/{n}");
    let range = |r: &Reply| {
        let sdp = String::from_utf8_lossy(&r.body).to_string();
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=range:npt=0-"))
            .map(str::to_string)
    };
    let t = Instant::now();
    let r = c.request("DESCRIBE", &url("mixed.m3u"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        range(&r).as_deref(),
        Some("6.000"),
        "the three good entries"
    );
    for name in [
        "traversal.m3u",
        "self.m3u",
        "other.m3u",
        "huge.m3u",
        "junk.m3u",
        "fifo.m3u",
        "link.m3u",
    ] {
        let r = c.request("DESCRIBE", &url(name), &[]);
        assert_eq!(r.status, 404, "{name}");
    }
    let r = c.request("DESCRIBE", &url("longline.m3u"), &[]);
    assert_eq!(
        range(&r).as_deref(),
        Some("2.000"),
        "the line after it plays"
    );
    let r = c.request("DESCRIBE", &url("many.m3u"), &[]);
    assert_eq!(range(&r).as_deref(), Some("2000.000"), "1000 entries kept");
    let r = c.request("DESCRIBE", &url("movie.Mjpeg"), &[]);
    assert_eq!(r.status, 200, "still serving");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "bounded work: {:?}",
        t.elapsed()
    );
    drop(c);
    child.kill().unwrap();
    child.wait().unwrap();
    let log = log.join().unwrap();
    // Each skipped entry is named, at warn level, with its reason.
    let warned = |entry: &str, why: &str| {
        log.lines().any(|l| {
            l.contains("WARN")
                && l.contains("playlist mixed.m3u")
                && l.contains(&format!("{entry:?} skipped: {why}"))
        })
    };
    for (entry, why) in [
        ("../secret.Mjpeg", "leaves the media folder"),
        ("/etc/passwd", "an absolute path outside the media folder"),
        ("out.Mjpeg", "outside the media folder"),
        ("fifo.Mjpeg", "outside the media folder"),
        ("mixed.m3u", "a playlist"),
        ("other.m3u", "a playlist"),
        ("http://example.com/a.Mjpeg", "a URL"),
        ("sub", "not a file"),
        ("%2e%2e/secret.Mjpeg", "unsafe name"),
    ] {
        assert!(
            warned(entry, why),
            "no warning for {entry:?} ({why}) in:\n{log}"
        );
    }
    assert!(log.contains("more than 1000 entries"), "{log}");
    assert!(
        log.contains("playlist self.m3u: no entry can be played"),
        "{log}"
    );
}

#[test]
fn mjpeg_info_describes_a_playlist() {
    let server = playlist_server(|_| {});
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_mjpeg"))
            .arg("info")
            .arg(server.media.0.join("list.m3u")),
        Duration::from_secs(30),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "entries     4: 3 played, 1 skipped",
        "line 3      a.Mjpeg \"A\": 12 frames, 320x240, 24 fps (default; no valid a.Mjpeg.fps), \
         0.500 s, from 0.000 s",
        "line 4      \"missing.Mjpeg\": skipped: no such file",
        "line 7      b.Mjpeg \"B\": 12 frames, 256x192, 30 fps (from b.Mjpeg.fps), 0.400 s, \
         from 0.500 s",
        "line 8      c.Mjpeg: 6 frames, 160x128, 12 fps (from c.Mjpeg.fps), 0.500 s, from 0.900 s",
        "total       30 frames, 1.400 s",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
}
