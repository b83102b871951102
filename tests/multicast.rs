//! Multicast with real viewers, in a network namespace of the test's own (`unshare -n`, loopback
//! up, `224.0.0.0/4` routed to it), so nothing leaves the machine.
//!
//! A viewer of the test's own (an RTSP session whose socket joins the group, bound with
//! SO_REUSEADDR like every viewer) stays for the whole test; ffmpeg
//! (`-rtsp_transport udp_multicast`), GStreamer (`rtspsrc protocols=udp-mcast`) and
//! `rtsp-sdl --multicast` join the same group on the same host one after the other, and ffmpeg
//! and GStreamer must decode the movie's own pixels, while the test's viewer sees one stream, not
//! one per viewer.
//!
//! ffmpeg and GStreamer are not run at the same time: GStreamer hears its own receiver reports
//! looped back from the group (on one host), takes them for an SSRC collision and sends BYE to
//! the group, and ffmpeg ends its stream at any BYE it hears there. Neither happens on a LAN.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::netns::{in_namespace, sh};
use common::tools::{framemd5, raw_copy, run_allowing};
use common::{have_tool, Client, TempDir, TestServer};
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::read_frame_number;
use rtsp_mjpeg::rtp::packet::RtpPacket;

/// The test's own viewer: joins `group:port` and records (SSRC, timestamp) of each packet.
fn join(group: Ipv4Addr, port: u16) -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&SocketAddr::from((group, port)).into()).unwrap();
    s.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s.into()
}

#[test]
fn ffmpeg_and_gstreamer_play_one_multicast_stream_on_the_servers_host() {
    let test = "ffmpeg_and_gstreamer_play_one_multicast_stream_on_the_servers_host";
    if !have_tool("ffmpeg", test) || !have_tool("gst-launch-1.0", test) {
        return;
    }
    if !in_namespace(test) {
        return;
    }
    sh("ip route add 224.0.0.0/4 dev lo");
    let server = TestServer::start(|c| {
        c.multicast = Some(("239.255.42.0".parse().unwrap(), 24));
    });
    let movie = Movie::open(server.media.0.join("movie.Mjpeg")).unwrap();
    let dir = TempDir::new("mcast");
    let source = framemd5(&["-f", "mjpeg", "-i", &raw_copy(&movie, &dir.0)], 48);
    let url = server.url("movie.Mjpeg");

    // Our viewer: SETUP for multicast, whatever group it names; the server picks.
    let mut c = Client::connect(server.addr);
    let r = c.request(
        "SETUP",
        &format!("{url}/trackID=0"),
        &[(
            "Transport",
            "RTP/AVP;multicast;destination=192.0.2.1;port=7000-7001",
        )],
    );
    assert_eq!(r.status, 200);
    let t = r.header("Transport").unwrap().to_string();
    assert!(
        t.contains("destination=239.255.42.1;port=5004-5005;") && t.contains(";ttl=1"),
        "{t}"
    );
    let sock = join("239.255.42.1".parse().unwrap(), 5004);
    let id = r.session();
    assert_eq!(c.request("PLAY", &url, &[("Session", &id)]).status, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ssrcs, mut stamps, mut packets) = (BTreeSet::new(), Vec::new(), 0u64);
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    // Viewers send to the group too (ffmpeg's hole punching): only RTP JPEG.
                    let Ok(p) = RtpPacket::new_checked(&buf[..n]) else {
                        continue;
                    };
                    if p.payload_type() != 26 {
                        continue;
                    }
                    ssrcs.insert(p.ssrc());
                    if stamps.last() != Some(&p.timestamp()) {
                        stamps.push(p.timestamp());
                    }
                    packets += 1;
                }
            }
            (ssrcs, stamps, packets)
        })
    };

    // ffmpeg joins the stream in progress: 48 pictures, each the movie's, consecutive.
    let got = framemd5(&["-rtsp_transport", "udp_multicast", "-i", &url], 48);
    assert_eq!(got.len(), 48);
    let first = source
        .iter()
        .position(|h| *h == got[0])
        .expect("ffmpeg's first picture is one of the movie's");
    for (i, h) in got.iter().enumerate() {
        assert_eq!(
            *h,
            source[(first + i) % source.len()],
            "ffmpeg's picture {i} over multicast differs from the movie's"
        );
    }

    // GStreamer: 48 frames, in order, by the numbers drawn in them.
    let raw = dir.0.join("gst.rgb");
    let pipeline = format!(
        "rtspsrc location={url} protocols=udp-mcast latency=200 ! rtpjpegdepay ! jpegdec ! \
         videoconvert ! video/x-raw,format=RGB ! identity eos-after=49 ! filesink location={}",
        raw.display()
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q").args(pipeline.split_whitespace());
    run_allowing(&mut cmd, Duration::from_secs(60), "Received end-of-file");
    let bytes = std::fs::read(&raw).unwrap();
    let (w, h) = (320, 240);
    assert_eq!(bytes.len(), 48 * w * h * 3, "48 RGB frames from GStreamer");
    let numbers: Vec<u32> = bytes
        .chunks(w * h * 3)
        .map(|f| read_frame_number(f, w, h).expect("a frame of the movie"))
        .collect();
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            (pair[0] + 1) % 48,
            "GStreamer's frames: {numbers:?}"
        );
    }

    // rtsp-sdl --multicast, headless, on the same host and group.
    let out = Command::new(env!("CARGO_BIN_EXE_rtsp-sdl"))
        .args([
            "--headless",
            "--autoplay",
            "--multicast",
            "--frames",
            "24",
            &url,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rtsp-sdl: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("summary: 24 frames shown"), "{text}");

    // All along, one sender: one SSRC, each frame once, as many packets as one viewer needs.
    stop.store(true, Ordering::Relaxed);
    let (ssrcs, stamps, packets) = seen.join().unwrap();
    assert_eq!(ssrcs.len(), 1, "one stream for three viewers");
    let unique: BTreeSet<u32> = stamps.iter().copied().collect();
    assert_eq!(unique.len(), stamps.len(), "no frame sent twice");
    let per_frame = packets as f64 / stamps.len() as f64;
    assert!(per_frame < 12.0, "{per_frame} packets a frame: one copy");
    assert_eq!(c.request("TEARDOWN", &url, &[("Session", &id)]).status, 200);
}
