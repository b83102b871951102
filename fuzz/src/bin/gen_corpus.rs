//! Writes the seed corpora: `gen_corpus [DIR]` (default `corpus`) fills DIR/<target>/ with small
//! real inputs made by the library's own writers (RTSP messages as the lab client, ffmpeg and
//! GStreamer send them, the server's SDP, RTP packets from `packetize` on test-movie frames,
//! RTCP reports, JPEGs, lab and raw movies). Deterministic: running it again gives the same files.
use std::fs;
use std::path::PathBuf;

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::rtp::jpeg::packetize;
use rtsp_mjpeg::rtp::packet::RtpHeader;
use rtsp_mjpeg::rtp::rtcp::{Bye, NtpTimestamp, ReceiverReport, ReportBlock, Sdes, SenderReport};
use rtsp_mjpeg::rtsp::sdp::{movie_sdp, MovieDescription};
use rtsp_mjpeg_fuzz::join_packets;

struct Out {
    root: PathBuf,
    count: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create corpus dir");
        fs::write(dir.join(name), data).expect("write seed");
        self.count += 1;
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("corpus"));
    let mut out = Out { root, count: 0 };
    rtsp(&mut out);
    headers(&mut out);
    sdp(&mut out);
    let jpegs = jpegs();
    rtp_and_depacketize(&mut out, &jpegs);
    rtcp(&mut out);
    for (name, data) in &jpegs {
        out.put("jpeg_header", &format!("{name}.jpg"), data);
    }
    movies(&mut out, &jpegs);
    playlists(&mut out);
    adapt(&mut out);
    for (target, name, data) in rtsp_mjpeg_fuzz::http::seeds() {
        out.put(target, name, &data);
    }
    live(&mut out, &jpegs);
    println!("wrote {} seeds under {}", out.count, out.root.display());
}

// ---------------------------------------------------------------------------------------------

const SDP_EXAMPLE: &str =
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=movie.Mjpeg\r\nc=IN IP4 0.0.0.0\r\n\
t=0 0\r\na=tool:rtspd\r\na=control:*\r\na=range:npt=0-10.000\r\nm=video 0 RTP/AVP 26\r\n\
a=rtpmap:26 JPEG/90000\r\na=control:trackID=0\r\na=framerate:24\r\n";

fn rtsp(out: &mut Out) {
    let url = "rtsp://127.0.0.1:8554/movie.Mjpeg";
    let seeds: Vec<(&str, String)> = vec![
        // The classic lab client: bare LF, no blank line after the last header.
        (
            "lab_setup",
            "SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 25000".into(),
        ),
        (
            "lab_play",
            "PLAY movie.Mjpeg RTSP/1.0\nCSeq: 2\nSession: 123456".into(),
        ),
        (
            "lab_pause",
            "PAUSE movie.Mjpeg RTSP/1.0\nCSeq: 3\nSession: 123456\n".into(),
        ),
        (
            "lab_teardown",
            "TEARDOWN movie.Mjpeg RTSP/1.0\nCSeq: 4\nSession: 123456\n\n".into(),
        ),
        // ffmpeg (Lavf): full URLs, CRLF, UDP then TCP interleaved.
        (
            "ffmpeg_options",
            format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf60.16.100\r\n\r\n"),
        ),
        (
            "ffmpeg_describe",
            format!(
                "DESCRIBE {url} RTSP/1.0\r\nAccept: application/sdp\r\nCSeq: 2\r\n\
                 User-Agent: Lavf60.16.100\r\n\r\n"
            ),
        ),
        (
            "ffmpeg_setup_udp",
            format!(
                "SETUP {url}/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/UDP;unicast;\
                 client_port=20000-20001\r\nCSeq: 3\r\nUser-Agent: Lavf60.16.100\r\n\r\n"
            ),
        ),
        (
            "ffmpeg_setup_tcp",
            format!(
                "SETUP {url}/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/TCP;unicast;\
                 interleaved=0-1\r\nCSeq: 3\r\nUser-Agent: Lavf60.16.100\r\n\r\n"
            ),
        ),
        (
            "ffmpeg_play",
            format!(
                "PLAY {url}/ RTSP/1.0\r\nRange: npt=0.000-\r\nCSeq: 4\r\n\
                 User-Agent: Lavf60.16.100\r\nSession: 5C2A9B1D0E3F4711\r\n\r\n"
            ),
        ),
        (
            "ffmpeg_get_parameter",
            format!(
                "GET_PARAMETER {url}/ RTSP/1.0\r\nCSeq: 5\r\nUser-Agent: Lavf60.16.100\r\n\
                 Session: 5C2A9B1D0E3F4711\r\n\r\n"
            ),
        ),
        // GStreamer rtspsrc: alternatives in one Transport header, mode, Range with a clock.
        (
            "gst_setup",
            format!(
                "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nUser-Agent: GStreamer/1.22.0\r\n\
                 Transport: RTP/AVP;unicast;client_port=38462-38463;mode=\"PLAY\",\
                 RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY\"\r\n\r\n"
            ),
        ),
        (
            "gst_play",
            format!(
                "PLAY {url}/ RTSP/1.0\r\nCSeq: 4\r\nUser-Agent: GStreamer/1.22.0\r\n\
                 Range: npt=2.5-8;time=20261125T120000Z\r\nSession: abcdef\r\n\r\n"
            ),
        ),
        // Responses a player parses.
        (
            "resp_describe",
            format!(
                "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Base: {url}/\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_EXAMPLE}",
                SDP_EXAMPLE.len()
            ),
        ),
        (
            "resp_setup",
            "RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=20000-20001;\
             server_port=6970-6971;ssrc=1A2B3C4D\r\nSession: 5C2A9B1D0E3F4711;timeout=60\r\n\r\n"
                .into(),
        ),
        (
            "resp_play",
            format!(
                "RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: 5C2A9B1D0E3F4711\r\nRange: npt=0.000-10.000\r\n\
                 RTP-Info: url={url}/trackID=0;seq=4711;rtptime=90000\r\n\r\n"
            ),
        ),
        (
            "resp_lab",
            "RTSP/1.0 200 OK\nCSeq: 1\nSession: 123456\n\n".into(),
        ),
        (
            "resp_error",
            "RTSP/1.0 454 Session Not Found\r\nCSeq: 9\r\n\r\n".into(),
        ),
        // Folded header, pipelining, CRLF keep-alives.
        (
            "folded",
            format!(
                "OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: a\r\n  folded\r\n\r\n\
                 \r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n"
            ),
        ),
        (
            "announce_body",
            format!(
                "SET_PARAMETER {url} RTSP/1.0\r\nCSeq: 7\r\nContent-Type: text/parameters\r\n\
                 Content-Length: 12\r\n\r\nbarparam: x\n"
            ),
        ),
        ("http_version", "OPTIONS * HTTP/1.1\r\nCSeq: 1\r\n\r\n".into()),
    ];
    for (name, text) in seeds {
        out.put("rtsp_message", &format!("{name}.txt"), text.as_bytes());
    }
    // Interleaved RTP and RTCP frames on the RTSP connection, then a response.
    let mut inter = vec![b'$', 0, 0, 16];
    inter.extend_from_slice(&[0x80, 0x9A, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
    inter.extend_from_slice(&[b'$', 1, 0, 8, 0x81, 201, 0, 1, 1, 2, 3, 4]);
    inter.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n");
    out.put("rtsp_message", "interleaved.bin", &inter);
}

fn headers(out: &mut Out) {
    let seeds = [
        // Transport
        "RTP/UDP; client_port= 25000",
        "RTP/AVP;unicast;client_port=5000-5001",
        "RTP/AVP/UDP;unicast;client_port=20000-20001;server_port=6970-6971;ssrc=1A2B3C4D",
        "RTP/AVP/TCP;unicast;interleaved=0-1",
        "RTP/AVP;multicast;destination=\"232.0.0.1\";ttl=16;mode=\"PLAY\"",
        "RTP/AVP;unicast;client_port=38462-38463;mode=\"PLAY\",RTP/AVP/TCP;unicast;interleaved=0-1",
        "RAW/RAW/UDP;unicast;x-custom=1;source=10.0.0.1",
        // Range
        "npt=0.000-",
        "npt=0-10.000",
        "npt=now-",
        "npt=1:02:03.5-2:00:00",
        "npt = 2.5-8;time=20261125T120000Z",
        "smpte=0:10:00-",
        // RTP-Info
        "url=rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0;seq=4711;rtptime=90000",
        "url=rtsp://h/a;seq=1,url=rtsp://h/b;seq=2;rtptime=3",
        // Session
        "5C2A9B1D0E3F4711;timeout=60",
        "123456",
    ];
    for (i, s) in seeds.iter().enumerate() {
        out.put("rtsp_headers", &format!("{i:02}.txt"), s.as_bytes());
    }
}

fn sdp(out: &mut Out) {
    let ours = movie_sdp(&MovieDescription {
        name: "movie.Mjpeg",
        server_addr: "127.0.0.1".parse().unwrap(),
        duration: Some(10.0),
        fps: 24.0,
        width: 640,
        height: 480,
    });
    out.put("sdp", "rtspd_ipv4.sdp", ours.as_bytes());
    let big = movie_sdp(&MovieDescription {
        name: "big movie",
        server_addr: "::1".parse().unwrap(),
        duration: Some(123.456),
        fps: 29.97,
        width: 4096,
        height: 2160,
    });
    out.put("sdp", "rtspd_ipv6_big.sdp", big.as_bytes());
    // As GStreamer's rtsp-server and an IP camera describe MJPEG.
    let gst =
        "v=0\r\no=- 1188340656180883 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\n\
i=rtsp-server\r\nt=0 0\r\na=tool:GStreamer\r\na=type:broadcast\r\na=range:npt=now-\r\n\
a=control:rtsp://127.0.0.1:8554/test\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n\
b=AS:2000\r\na=rtpmap:96 JPEG/90000\r\na=framerate:30\r\na=control:stream=0\r\n";
    out.put("sdp", "gstreamer.sdp", gst.as_bytes());
    let camera = "v=0\no=- 0 0 IN IP4 192.0.2.1\ns=Camera\nm=audio 0 RTP/AVP 0\na=control:audio\n\
m=video 0 RTP/AVP 26\na=control:rtsp://192.0.2.1/video\na=x-dimensions:2592,1944\n";
    out.put("sdp", "camera.sdp", camera.as_bytes());
}

// ---------------------------------------------------------------------------------------------

fn picture(w: u16, h: u16, channels: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(usize::from(w) * usize::from(h) * channels);
    for y in 0..usize::from(h) {
        for x in 0..usize::from(w) {
            for c in 0..channels {
                px.push(((x * 7 + y * 13 + c * 80) % 256) as u8);
            }
        }
    }
    px
}

struct JpegSpec {
    w: u16,
    h: u16,
    sampling: SamplingFactor,
    quality: u8,
    restart: u16,
    progressive: bool,
    optimized: bool,
    grey: bool,
}

impl Default for JpegSpec {
    fn default() -> Self {
        JpegSpec {
            w: 16,
            h: 16,
            sampling: SamplingFactor::F_2_2,
            quality: 50,
            restart: 0,
            progressive: false,
            optimized: false,
            grey: false,
        }
    }
}

fn encode(s: JpegSpec) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, s.quality);
    enc.set_sampling_factor(s.sampling);
    enc.set_optimized_huffman_tables(s.optimized);
    enc.set_progressive(s.progressive);
    if s.restart > 0 {
        enc.set_restart_interval(s.restart);
    }
    let (color, channels) = if s.grey {
        (ColorType::Luma, 1)
    } else {
        (ColorType::Rgb, 3)
    };
    enc.encode(&picture(s.w, s.h, channels), s.w, s.h, color)
        .expect("encode seed JPEG");
    out
}

/// Small JPEGs: RFC 2435 carriable ones (4:2:0, 4:2:2, with restarts, the test movie's frame)
/// and ones it is not (4:4:4, grey, progressive, optimized tables, odd size).
fn jpegs() -> Vec<(String, Vec<u8>)> {
    let test_frame = TestMovie {
        seconds: 0.2,
        width: 160,
        height: 128,
        ..Default::default()
    }
    .encode(0);
    vec![
        ("yuv420_16x16".into(), encode(JpegSpec::default())),
        (
            "yuv422_16x8".into(),
            encode(JpegSpec {
                h: 8,
                sampling: SamplingFactor::F_2_1,
                ..Default::default()
            }),
        ),
        (
            "yuv420_32x16_restart".into(),
            encode(JpegSpec {
                w: 32,
                restart: 1,
                quality: 90,
                ..Default::default()
            }),
        ),
        (
            "yuv444_8x8".into(),
            encode(JpegSpec {
                w: 8,
                h: 8,
                sampling: SamplingFactor::F_1_1,
                ..Default::default()
            }),
        ),
        (
            "grey_8x8".into(),
            encode(JpegSpec {
                w: 8,
                h: 8,
                grey: true,
                ..Default::default()
            }),
        ),
        (
            "progressive_16x16".into(),
            encode(JpegSpec {
                progressive: true,
                ..Default::default()
            }),
        ),
        (
            "optimized_16x16".into(),
            encode(JpegSpec {
                optimized: true,
                ..Default::default()
            }),
        ),
        (
            "odd_13x7".into(),
            encode(JpegSpec {
                w: 13,
                h: 7,
                ..Default::default()
            }),
        ),
        (
            "q100_16x16".into(),
            encode(JpegSpec {
                quality: 100,
                ..Default::default()
            }),
        ),
        ("testmovie_160x128".into(), test_frame),
    ]
}

fn rtp(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let h = RtpHeader {
        marker,
        payload_type: 26,
        sequence: seq,
        timestamp: ts,
        ssrc: 0x1A2B_3C4D,
    };
    let mut p = h.to_bytes().to_vec();
    p.extend_from_slice(payload);
    p
}

/// A frame's RTP packets as the server sends them.
fn frame_packets(jpeg: &[u8], max_payload: usize, seq: u16, ts: u32) -> Vec<Vec<u8>> {
    let payloads = packetize(jpeg, max_payload).expect("seed JPEG packetizes");
    let n = payloads.len();
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| rtp(seq.wrapping_add(i as u16), ts, i + 1 == n, p))
        .collect()
}

/// The same first payload with Q 1-99 (tables implied) instead of Q 255 and in-band tables.
fn implied_q(first: &[u8], q: u8) -> Vec<u8> {
    let restart = first[12 + 4] >= 64;
    let qheader_at = 12 + 8 + if restart { 4 } else { 0 };
    let len = usize::from(u16::from_be_bytes([
        first[qheader_at + 2],
        first[qheader_at + 3],
    ]));
    let mut p = first[..qheader_at].to_vec();
    p[12 + 5] = q;
    p.extend_from_slice(&first[qheader_at + 4 + len..]);
    p
}

fn rtp_and_depacketize(out: &mut Out, jpegs: &[(String, Vec<u8>)]) {
    let jpeg = |name: &str| &jpegs.iter().find(|(n, _)| n == name).unwrap().1;
    let small = jpeg("yuv420_16x16");
    let restart = jpeg("yuv420_32x16_restart");
    let big = jpeg("testmovie_160x128");

    // rtp_packet: single datagrams.
    let p = frame_packets(small, 1400, 100, 3000);
    out.put("rtp_packet", "rfc2435_one_packet.bin", &p[0]);
    let p = frame_packets(big, 1400, 65534, 90_000);
    out.put("rtp_packet", "rfc2435_first_fragment.bin", &p[0]);
    out.put("rtp_packet", "rfc2435_last_fragment.bin", p.last().unwrap());
    let mut csrc_ext_pad = vec![0xB2, 0x9A, 0, 7, 0, 0, 0, 9, 1, 2, 3, 4];
    csrc_ext_pad.extend_from_slice(&[5, 6, 7, 8, 9, 10, 11, 12]); // two CSRCs
    csrc_ext_pad.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // extension, 1 word
    csrc_ext_pad.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3]); // payload
    csrc_ext_pad.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
    out.put("rtp_packet", "csrc_ext_padding.bin", &csrc_ext_pad);
    let lab = rtp(0, 0, true, small);
    out.put("rtp_packet", "lab_whole_jpeg.bin", &lab);

    // rtp_jpeg_depacketize: byte 0 = frame limit (64 << n), then length-prefixed packets.
    let t = "rtp_jpeg_depacketize";
    out.put(
        t,
        "one_frame_one_packet.bin",
        &join_packets(14, &frame_packets(small, 1400, 1, 0)),
    );
    out.put(
        t,
        "one_frame_fragmented.bin",
        &join_packets(14, &frame_packets(small, 200, 1, 0)),
    );
    out.put(
        t,
        "restart_fragmented.bin",
        &join_packets(14, &frame_packets(restart, 200, 7, 0)),
    );
    out.put(
        t,
        "testmovie_frame.bin",
        &join_packets(14, &frame_packets(big, 1400, 65534, 0)),
    );
    // Two frames with Q 128-254 tables sent in the first one only (cached, RFC 2435 §3.1.8).
    let mut cached = frame_packets(small, 1400, 10, 0);
    cached[0][12 + 5] = 200;
    let mut second = frame_packets(small, 1400, 11, 3750);
    second[0][12 + 5] = 200;
    let qat = 12 + 8;
    let len = usize::from(u16::from_be_bytes([second[0][qat + 2], second[0][qat + 3]]));
    let without: Vec<u8> = second[0][..qat + 2]
        .iter()
        .chain(&[0u8, 0])
        .chain(&second[0][qat + 4 + len..])
        .copied()
        .collect();
    second[0] = without;
    cached.extend(second);
    out.put(t, "cached_tables.bin", &join_packets(14, &cached));
    // Q 50: the tables are computed, not sent.
    let mut implied = frame_packets(small, 200, 1, 0);
    implied[0] = implied_q(&implied[0], 50);
    out.put(t, "implied_q50.bin", &join_packets(14, &implied));
    // A lost middle packet, then a whole frame.
    let mut lost = frame_packets(restart, 160, 1, 0);
    lost.remove(1);
    lost.extend(frame_packets(small, 1400, 40, 7500));
    out.put(t, "lost_packet.bin", &join_packets(14, &lost));
    // The lab server's whole-JPEG payloads, and a limit too small for the frame.
    out.put(
        t,
        "lab_whole_jpeg.bin",
        &join_packets(14, std::slice::from_ref(&lab)),
    );
    out.put(
        t,
        "over_limit.bin",
        &join_packets(0, &frame_packets(small, 200, 1, 0)),
    );
}

fn rtcp(out: &mut Out) {
    let block = ReportBlock {
        ssrc: 0x1A2B_3C4D,
        fraction_lost: 12,
        cumulative_lost: -3,
        highest_seq: 0x0001_0203,
        jitter: 45,
        lsr: 0x1122_3344,
        dlsr: 65536,
    };
    let sr = SenderReport {
        ssrc: 0x1A2B_3C4D,
        ntp: NtpTimestamp(0xE8A1_B2C3_8000_0000),
        rtp_timestamp: 90_000,
        packet_count: 240,
        octet_count: 300_000,
        blocks: vec![],
    };
    let rr = ReceiverReport {
        ssrc: 0x0506_0708,
        blocks: vec![block, ReportBlock { ssrc: 9, ..block }],
    };
    let sdes = Sdes::cname(0x1A2B_3C4D, "rtspd@127.0.0.1");
    let bye = Bye {
        ssrcs: vec![0x0506_0708],
        reason: Some("teardown".into()),
    };
    let write = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = Vec::new();
        f(&mut v);
        v
    };
    out.put("rtcp", "sr.bin", &write(&|v| sr.write(v)));
    out.put("rtcp", "rr.bin", &write(&|v| rr.write(v)));
    out.put(
        "rtcp",
        "sr_sdes.bin",
        &write(&|v| {
            sr.write(v);
            sdes.write(v);
        }),
    );
    out.put(
        "rtcp",
        "rr_sdes_bye.bin",
        &write(&|v| {
            rr.write(v);
            sdes.write(v);
            bye.write(v);
        }),
    );
    // APP (204) with padding, as some senders add.
    out.put(
        "rtcp",
        "app_padded.bin",
        &[
            0xA0, 204, 0, 3, 1, 2, 3, 4, b'n', b'a', b'm', b'e', 0, 0, 0, 4,
        ],
    );
}

fn movies(out: &mut Out, jpegs: &[(String, Vec<u8>)]) {
    let jpeg = |name: &str| &jpegs.iter().find(|(n, _)| n == name).unwrap().1;
    let (a, b) = (jpeg("yuv420_16x16"), jpeg("yuv422_16x8"));
    let mut lab = Vec::new();
    for f in [a, b] {
        lab.extend_from_slice(format!("{:05}", f.len()).as_bytes());
        lab.extend_from_slice(f);
    }
    out.put("movie_index", "lab_two_frames.Mjpeg", &lab);
    let raw: Vec<u8> = [a.as_slice(), b, jpeg("yuv420_32x16_restart")].concat();
    out.put("movie_index", "raw_three_frames.mjpeg", &raw);
    let test = TestMovie {
        seconds: 0.1,
        width: 64,
        height: 64,
        quality: 30,
        ..Default::default()
    }
    .to_lab_bytes();
    out.put("movie_index", "testmovie_64x64.Mjpeg", &test);
    // Segments holding FF D9 must not end a raw frame early: an APP1 with a fake EOI.
    let mut app = a[..2].to_vec();
    app.extend_from_slice(&[0xFF, 0xE1, 0, 6, 0xFF, 0xD9, 0xFF, 0xD9]);
    app.extend_from_slice(&a[2..]);
    out.put(
        "movie_index",
        "raw_app1_with_eoi.mjpeg",
        &[app.as_slice(), a].concat(),
    );
}

fn playlists(out: &mut Out) {
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("simple.m3u", b"a.Mjpeg\nclips/b.mjpeg\n".to_vec()),
        (
            "extended_bom_crlf.m3u8",
            b"\xEF\xBB\xBF#EXTM3U\r\n#EXTINF:10.5,First clip\r\nclips/a b.Mjpeg\r\n\r\n\
              #EXTINF:-1 tvg-id=\"x\",Second\r\n./sub/../c.Mjpeg\r\n"
                .to_vec(),
        ),
        (
            "hostile_paths.m3u",
            b"../secret.Mjpeg\n/srv/media/ok.Mjpeg\n/srv/media/../x\n/etc/passwd\n\
              sub/../../x\nhttp://h/x.Mjpeg\nlist.m3u\nother.M3U8\n.\nsub/..\n%2e%2e/x\n"
                .to_vec(),
        ),
        ("comments_only.m3u", b"#EXTM3U\n# nothing\n\n   \n".to_vec()),
        ("long_line.m3u", {
            let mut v = vec![b'x'; 5000];
            v.extend_from_slice(b"\nok.Mjpeg\n");
            v
        }),
        (
            "binary.m3u",
            b"\x00\xff\xfe\n\x89PNG\r\n\x1a\na\x00b\n\xc3\x28\n".to_vec(),
        ),
    ];
    for (name, data) in seeds {
        out.put("m3u", name, &data);
    }
}

/// Feedback sequences: a clean path, a bottleneck, absurd reports, a TCP queue that fills.
fn adapt(out: &mut Out) {
    let step = |dt: u8, sent: u16, kind: u8, a: u8, b: u8, c: u8, d: u8| {
        let s = sent.to_be_bytes();
        vec![dt, s[0], s[1], kind, a, b, c, d]
    };
    let clean: Vec<u8> = std::iter::once(0)
        .chain((0..10).flat_map(|_| step(50, 24_000, 0, 0, 1, 60, 120)))
        .collect();
    out.put("adapt_reports", "clean", &clean);
    let bottleneck: Vec<u8> = std::iter::once(0)
        .chain((0..20).flat_map(|k| step(50, 24_000, 0, if k < 3 { 128 } else { 5 }, 2, 60, 90)))
        .collect();
    out.put("adapt_reports", "bottleneck", &bottleneck);
    let absurd: Vec<u8> = std::iter::once(81)
        .chain((0..20).flat_map(|_| step(50, 65_535, 0, 255, 255, 255, 255)))
        .collect();
    out.put("adapt_reports", "absurd_capped", &absurd);
    let tcp: Vec<u8> = std::iter::once(0)
        .chain((0..20).flat_map(|k| step(50, 20_000, 1 + (k % 2), 100, 60, 150, 80)))
        .collect();
    out.put("adapt_reports", "tcp_queue", &tcp);
// ---------------------------------------------------------------------------------------------
// Live streams: what publishers ANNOUNCE and send.

fn live(out: &mut Out, jpegs: &[(String, Vec<u8>)]) {
    // announce: ffmpeg's SDP for MJPEG and for H.264 with AAC, a camera's, and rtspd's own.
    let ffmpeg_mjpeg = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\na=tool:libavformat 61.7.100\r\nm=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";
    out.put("announce", "ffmpeg_mjpeg.sdp", ffmpeg_mjpeg.as_bytes());
    let ffmpeg_h264 = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\na=tool:libavformat 61.7.100\r\nm=video 0 RTP/AVP 96\r\nb=AS:200\r\n\
a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; \
sprop-parameter-sets=Z2QADKzZQUH7ARAAAAMAEAAAAwPA8UKZYA==,aOvjyyLA; profile-level-id=64000C\r\n\
a=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\nb=AS:128\r\n\
a=rtpmap:97 MPEG4-GENERIC/44100/2\r\na=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13\r\n\
a=control:streamid=1\r\n";
    out.put("announce", "ffmpeg_h264_aac.sdp", ffmpeg_h264.as_bytes());
    let camera = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=Camera\nt=0 0\na=control:*\n\
m=audio 0 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=control:rtsp://192.0.2.1/audio\na=sendonly\n\
m=video 0 RTP/AVP 97\na=rtpmap:97 H265/90000\na=control:rtsp://192.0.2.1/video\n\
a=framerate:25\na=recvonly\n";
    out.put("announce", "camera_h265.sdp", camera.as_bytes());
    let ours = movie_sdp(&MovieDescription {
        name: "live/cam",
        server_addr: "127.0.0.1".parse().unwrap(),
        duration: None,
        fps: 24.0,
        width: 640,
        height: 480,
    });
    out.put("announce", "rtspd.sdp", ours.as_bytes());

    // live_ingest: byte 0 = frame limit (64 << low 4 bits), 0x10 passthrough, 0x20 reorder.
    let jpeg = |name: &str| &jpegs.iter().find(|(n, _)| n == name).unwrap().1;
    let small = jpeg("yuv420_16x16");
    let big = jpeg("testmovie_160x128");
    let mut two = frame_packets(big, 300, 1, 0);
    two.extend(frame_packets(small, 300, two.len() as u16 + 1, 3750));
    out.put("live_ingest", "two_frames.bin", &join_packets(14, &two));
    // ffmpeg's form of a frame whose components share one table: 64 bytes of tables.
    let mut shared = frame_packets(small, 1400, 1, 0);
    let at = 12 + 8;
    shared[0][at + 3] = 64;
    shared[0].drain(at + 4 + 64..at + 4 + 128);
    out.put("live_ingest", "one_table.bin", &join_packets(14, &shared));
    let mut swapped = frame_packets(big, 300, 65534, 0);
    swapped.swap(1, 2);
    out.put(
        "live_ingest",
        "reordered.bin",
        &join_packets(0x20 | 14, &swapped),
    );
    // H.264: an IDR in FU-A pieces, a P slice, an SPS and IDR in a STAP-A.
    let h264 = |seq: u16, ts: u32, marker: bool, payload: &[u8]| {
        let mut p = rtp(seq, ts, marker, payload);
        p[1] = (p[1] & 0x80) | 96;
        p
    };
    let units = vec![
        h264(1, 0, false, &[0x7C, 0x85, 1, 2, 3]),
        h264(2, 0, true, &[0x7C, 0x45, 4, 5]),
        h264(3, 3750, true, &[0x41, 0x9A, 6]),
        h264(4, 7500, true, &[24, 0, 2, 0x67, 0x64, 0, 2, 0x65, 0x88]),
    ];
    out.put(
        "live_ingest",
        "h264_units.bin",
        &join_packets(0x10 | 14, &units),
    );
}
