//! Figures for the README, not checks: run with `cargo bench --bench live_latency`
//! (scripts/bench_live.sh does, with the relay figures).
//!
//! Publisher-to-reader latency added by rtspd: a Rust publisher sends 640x480 frames at 24 fps
//! (1400-byte packets, as ffmpeg sends them) to an in-process rtspd, and a reader on the same
//! machine notes when each frame's last packet arrives. Latency is that time minus when the
//! publisher handed the frame's last packet to the kernel. The same publisher and reader
//! connected directly (no server) give the floor of loopback and thread wake-ups; rtspd adds
//! the difference.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::live::Publisher;
use common::{udp_pair, Client, TestServer};
use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::rtp::jpeg::{packetize, Payloads};
use rtsp_mjpeg::rtp::packet::RtpPacket;

const FRAMES: u32 = 480;
const PERIOD: Duration = Duration::from_nanos(1_000_000_000 / 24);

fn frames() -> Vec<Payloads> {
    let movie = TestMovie {
        width: 640,
        height: 480,
        ..TestMovie::default()
    };
    (0..48)
        .map(|k| packetize(&movie.encode(k), 1400).unwrap())
        .collect()
}

/// Sends FRAMES frames at 24 fps through `send`; returns when each frame's last packet left.
fn publish(frames: &[Payloads], mut send: impl FnMut(u32, bool, &[u8])) -> Vec<Instant> {
    let start = Instant::now() + Duration::from_millis(200);
    let mut sent = Vec::new();
    for k in 0..FRAMES {
        let due = start + PERIOD * k;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let payloads = &frames[(k % 48) as usize];
        for (i, p) in payloads.iter().enumerate() {
            send(k * 3750, i + 1 == payloads.len(), p);
        }
        sent.push(Instant::now());
    }
    sent
}

/// (RTP timestamp, arrival) of each marker packet a reader gets, until `stop` says so.
type Arrivals = Vec<(u32, Instant)>;

fn read_udp(sock: UdpSocket, stop: mpsc::Receiver<()>) -> Arrivals {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while stop.try_recv().is_err() {
        if let Ok(n) = sock.recv(&mut buf) {
            let at = Instant::now();
            if let Ok(p) = RtpPacket::new_checked(&buf[..n]) {
                if p.marker() {
                    out.push((p.timestamp(), at));
                }
            }
        }
    }
    out
}

fn read_tcp(mut stream: TcpStream, stop: mpsc::Receiver<()>) -> Arrivals {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    let mut out = Vec::new();
    while stop.try_recv().is_err() {
        let Ok(n) = stream.read(&mut chunk) else {
            continue;
        };
        let at = Instant::now();
        buf.extend_from_slice(&chunk[..n]);
        while buf.len() >= 4 && buf[0] == b'$' {
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() < 4 + len {
                break;
            }
            if buf[1] == 0 {
                if let Ok(p) = RtpPacket::new_checked(&buf[4..4 + len]) {
                    if p.marker() {
                        out.push((p.timestamp(), at));
                    }
                }
            }
            buf.drain(..4 + len);
        }
    }
    out
}

/// Latencies (ms) of the frames that arrived, matched to their sending by RTP time.
fn latencies(sent: &[Instant], got: &Arrivals) -> Vec<f64> {
    let Some(&(ts0, _)) = got.first() else {
        return Vec::new();
    };
    let mut out: Vec<f64> = got
        .iter()
        .filter_map(|(ts, at)| {
            let k = (ts.wrapping_sub(ts0) / 3750) as usize;
            sent.get(k)
                .map(|s| at.saturating_duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn row(what: &str, lat: &[f64]) {
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "| {what} | {} of {FRAMES} | {:.3} | {:.3} | {:.3} |",
        lat.len(),
        q(0.5),
        q(0.99),
        lat[lat.len() - 1]
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this without it, and a
    // measurement is not a test: it then only says how to run it.
    if std::env::args().any(|a| a == "--bench") {
        publisher_to_reader_latency();
    } else {
        println!("live_latency: a measurement, not a test; run cargo bench --bench live_latency");
    }
}

fn publisher_to_reader_latency() {
    let frames = frames();
    println!("| path | frames | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|");

    // The floor: publisher straight to reader over loopback UDP.
    let (reader, _rtcp) = udp_pair();
    let to = reader.local_addr().unwrap();
    let (stop, stopped) = mpsc::channel();
    let r = std::thread::spawn(move || read_udp(reader, stopped));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seq = 0u16;
    let sent = publish(&frames, |ts, marker, payload| {
        let mut p = rtsp_mjpeg::rtp::packet::RtpHeader {
            marker,
            payload_type: 26,
            sequence: seq,
            timestamp: ts,
            ssrc: 1,
        }
        .to_bytes()
        .to_vec();
        seq = seq.wrapping_add(1);
        p.extend_from_slice(payload);
        sock.send_to(&p, to).unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.send(()).unwrap();
    row(
        "loopback UDP, no server (the floor)",
        &latencies(&sent, &r.join().unwrap()),
    );

    for tcp in [false, true] {
        let server = TestServer::start(|c| c.publish = true);
        let mut publisher = Publisher::start(&server, "live/cam", !tcp);
        let url = server.url("live/cam");
        let (stop, stopped) = mpsc::channel();
        let (reader, _keep) = if tcp {
            let mut c = Client::connect(server.addr);
            let s = c
                .request(
                    "SETUP",
                    &format!("{url}/trackID=0"),
                    &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
                )
                .session();
            assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
            let stream = c.stream.try_clone().unwrap();
            (std::thread::spawn(move || read_tcp(stream, stopped)), c)
        } else {
            let (sock, _rtcp) = udp_pair();
            let mut c = Client::connect(server.addr);
            let port = sock.local_addr().unwrap().port();
            let s = c.setup_udp(&format!("{url}/trackID=0"), port).session();
            assert_eq!(c.request("PLAY", &url, &[("Session", &s)]).status, 200);
            (std::thread::spawn(move || read_udp(sock, stopped)), c)
        };
        let sent = publish(&frames, |ts, marker, payload| {
            let p = publisher.packet(ts, marker, payload);
            publisher.send_packet(&p);
        });
        std::thread::sleep(Duration::from_millis(300));
        stop.send(()).unwrap();
        let what = if tcp {
            "through rtspd, TCP interleaved in and out"
        } else {
            "through rtspd, UDP in and out"
        };
        row(what, &latencies(&sent, &reader.join().unwrap()));
    }
}
