//! Multicast with real viewers, in a network namespace of the test's own (`unshare -n`, loopback
//! up, `224.0.0.0/4` routed to it), so nothing leaves the machine: ffmpeg
//! (`-rtsp_transport udp_multicast`) and GStreamer (`rtspsrc protocols=udp-mcast`) on the same
//! host at once, both decoding the movie's own pixels from the one stream rtspd sends.

mod common;

use std::process::Command;
use std::time::Duration;

use common::netns::{in_namespace, sh};
use common::tools::{framemd5, raw_copy, run_allowing};
use common::{have_tool, TempDir, TestServer};
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::read_frame_number;

#[test]
fn ffmpeg_and_gstreamer_share_one_multicast_stream() {
    let test = "ffmpeg_and_gstreamer_share_one_multicast_stream";
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

    // GStreamer first, in a thread; ffmpeg joins the same group while it plays.
    let raw = dir.0.join("gst.rgb");
    let gst = {
        let (url, raw) = (url.clone(), raw.clone());
        std::thread::spawn(move || {
            let pipeline = format!(
                "rtspsrc location={url} protocols=udp-mcast latency=200 ! rtpjpegdepay ! \
                 jpegdec ! videoconvert ! video/x-raw,format=RGB ! identity eos-after=73 ! \
                 filesink location={}",
                raw.display()
            );
            let mut cmd = Command::new("gst-launch-1.0");
            cmd.arg("-q").args(pipeline.split_whitespace());
            run_allowing(&mut cmd, Duration::from_secs(60), "Received end-of-file");
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let got = framemd5(&["-rtsp_transport", "udp_multicast", "-i", &url], 48);
    gst.join().unwrap();

    // ffmpeg: 48 pictures, each one of the movie's, consecutive (it joined mid-stream).
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
    // GStreamer: 72 frames, in order, by the numbers drawn in them.
    let bytes = std::fs::read(&raw).unwrap();
    let (w, h) = (320, 240);
    assert_eq!(bytes.len(), 72 * w * h * 3, "72 RGB frames from GStreamer");
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
}
