//! The server core's hot paths, one core, no I/O but the movie read:
//!
//! - `rtsp_parse/{setup_ffmpeg,play_range}`: `rtsp::message::parse` on the requests ffmpeg sends
//!   (bytes/s), and `rtsp_write/setup_response`: a SETUP answer built and serialized.
//! - `rtp_packetize/SIZE`: RFC 2435 packetization of one frame at `DEFAULT_MAX_PAYLOAD` (JPEG
//!   bytes/s), and `rtp_depacketize/SIZE`: every packet of that frame checked
//!   (`RtpPacket::new_checked`), pushed into a `Depacketizer`, the rebuilt JPEG pulled.
//! - `movie_open/lab_100MB`: `Movie::open` of a ~100 MB lab-format file in the page cache
//!   (read + index, bytes/s).
//! - `timer_wheel/10k_periodic_24fps`: 10 000 timers each firing every 1/24 s, time simulated in
//!   1 ms steps (the server's tick); one iteration is one frame period, so ~10 000 fires, each
//!   polled out and inserted again (elements/s = timer fires/s).
//! - `jpeg_decode/SIZE`: a whole frame decoded to RGB by `jpeg::decode_rgb` (what a player pays
//!   per frame; compare with the server's per-frame cost above).
//!
//! Frames come from the test movie. It needs dimensions that are multiples of 16, so 1920x1088
//! stands in for 1080p. Qualities (94 and 90) give ~30 KB 640x480 frames and ~120 KB 1080p
//! frames; the setup prints the actual sizes.
//!
//! Run: `cargo bench --bench core` (about 2 minutes); `cargo bench --bench core -- timer` for one
//! group.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use rtsp_mjpeg::jpeg::decode_rgb;
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::rtp::jpeg::{packetize, Depacketizer, DEFAULT_MAX_PAYLOAD};
use rtsp_mjpeg::rtp::packet::{RtpHeader, RtpPacket};
use rtsp_mjpeg::rtsp::message::{parse, Limits, Message, Response, StatusCode};
use rtsp_mjpeg::server::timer::TimerWheel;

/// What ffmpeg 6 sends for SETUP (UDP), as on the wire.
const SETUP_FFMPEG: &[u8] = b"SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\n\
Transport: RTP/AVP/UDP;unicast;client_port=41234-41235\r\n\
CSeq: 3\r\n\
User-Agent: Lavf60.16.100\r\n\
\r\n";

/// A PLAY with a Range and a Session, as ffmpeg sends it.
const PLAY_RANGE: &[u8] = b"PLAY rtsp://127.0.0.1:8554/movie.Mjpeg/ RTSP/1.0\r\n\
Range: npt=0.000-\r\n\
CSeq: 4\r\n\
User-Agent: Lavf60.16.100\r\n\
Session: 9F3A61C27B0D44E8\r\n\
\r\n";

struct Frame {
    name: &'static str,
    jpeg: Vec<u8>,
    /// RTP packets (header + RFC 2435 payload) of this frame.
    packets: Vec<Vec<u8>>,
}

fn frame(name: &'static str, width: u16, height: u16, quality: u8, n: u32) -> Frame {
    let tm = TestMovie {
        seconds: 1.0,
        width,
        height,
        fps: 24,
        quality,
    };
    tm.validate().expect("test movie settings");
    let jpeg = tm.encode(n);
    let payloads = packetize(&jpeg, DEFAULT_MAX_PAYLOAD).expect("RFC 2435 carriable");
    let count = payloads.len();
    let packets = payloads
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let h = RtpHeader {
                marker: k + 1 == count,
                payload_type: 26,
                sequence: k as u16,
                timestamp: 3750 * n,
                ssrc: 0x1234_5678,
            };
            let mut v = h.to_bytes().to_vec();
            v.extend_from_slice(p);
            v
        })
        .collect::<Vec<_>>();
    eprintln!(
        "core bench: {name} ({width}x{height} q{quality}): JPEG {} bytes, {} RTP packets",
        jpeg.len(),
        packets.len()
    );
    Frame {
        name,
        jpeg,
        packets,
    }
}

fn frames() -> Vec<Frame> {
    vec![
        frame("640x480", 640, 480, 94, 12),
        frame("1920x1088", 1920, 1088, 90, 12),
    ]
}

fn quick<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g
}

fn bench_rtsp(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = quick(c, "rtsp_parse");
    for (name, req) in [("setup_ffmpeg", SETUP_FFMPEG), ("play_range", PLAY_RANGE)] {
        // Check once that the bench parses what it claims to.
        match parse(req, &limits) {
            Ok((Message::Request(_), used)) => assert_eq!(used, req.len()),
            other => panic!("{name}: {other:?}"),
        }
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| b.iter(|| parse(black_box(req), &limits)));
    }
    g.finish();

    let mut g = quick(c, "rtsp_write");
    let mut out = Vec::with_capacity(512);
    let mut sample = Vec::new();
    setup_response().write_to(&mut sample);
    g.throughput(Throughput::Bytes(sample.len() as u64));
    g.bench_function("setup_response", |b| {
        b.iter(|| {
            out.clear();
            setup_response().write_to(&mut out);
            black_box(&out);
        })
    });
    g.finish();
}

/// A SETUP answer as rtspd gives one: built from scratch each time, as the server does.
fn setup_response() -> Response {
    let mut r = Response::new(StatusCode::OK);
    r.headers.append("CSeq", black_box("3"));
    r.headers.append("Date", "Tue, 25 Nov 2025 01:42:00 GMT");
    r.headers.append("Session", "9F3A61C27B0D44E8;timeout=60");
    r.headers.append(
        "Transport",
        "RTP/AVP/UDP;unicast;client_port=41234-41235;server_port=6970-6971;ssrc=12345678;mode=\"PLAY\"",
    );
    r.headers.append("Server", "rtspd/0.1.0");
    r
}

fn bench_rtp(c: &mut Criterion, frames: &[Frame]) {
    let mut g = quick(c, "rtp_packetize");
    for f in frames {
        g.throughput(Throughput::Bytes(f.jpeg.len() as u64));
        g.bench_function(f.name, |b| {
            b.iter(|| packetize(black_box(&f.jpeg), DEFAULT_MAX_PAYLOAD).expect("packetizes"))
        });
    }
    g.finish();

    let mut g = quick(c, "rtp_depacketize");
    for f in frames {
        g.throughput(Throughput::Bytes(f.jpeg.len() as u64));
        let mut d = Depacketizer::new(4 << 20);
        let mut packets = f.packets.clone();
        let n = packets.len() as u16;
        g.bench_function(f.name, |b| {
            b.iter(|| {
                // The next frame of a stream: sequence numbers run on, the timestamp advances.
                for p in packets.iter_mut() {
                    let seq = u16::from_be_bytes([p[2], p[3]]).wrapping_add(n);
                    p[2..4].copy_from_slice(&seq.to_be_bytes());
                    let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]).wrapping_add(3750);
                    p[4..8].copy_from_slice(&ts.to_be_bytes());
                }
                for p in &packets {
                    let pkt = RtpPacket::new_checked(black_box(p)).expect("valid RTP");
                    d.push(&pkt).expect("pushes");
                }
                d.pull().expect("a whole frame")
            })
        });
        assert_eq!(d.dropped.total(), 0, "{}: frames dropped", f.name);
    }
    g.finish();
}

fn bench_decode(c: &mut Criterion, frames: &[Frame]) {
    let mut g = quick(c, "jpeg_decode");
    g.sample_size(30);
    for f in frames {
        g.throughput(Throughput::Bytes(f.jpeg.len() as u64));
        g.bench_function(f.name, |b| {
            b.iter(|| decode_rgb(black_box(&f.jpeg)).expect("decodes"))
        });
    }
    g.finish();
}

/// A ~100 MB lab-format movie in a fresh temporary folder, removed on drop.
struct TempMovie {
    dir: PathBuf,
    path: PathBuf,
    len: u64,
    frames: usize,
}

impl TempMovie {
    fn write(target: usize) -> TempMovie {
        let dir =
            std::env::temp_dir().join(format!("rtsp_mjpeg_core_bench.{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let path = dir.join("movie.Mjpeg");
        // One second of the default (640x480, q75) test movie, repeated: frames differ, so the
        // index sees varied lengths, as with a real movie.
        let one_second = TestMovie {
            seconds: 1.0,
            ..TestMovie::default()
        }
        .to_lab_bytes();
        let reps = target.div_ceil(one_second.len());
        let mut data = Vec::with_capacity(reps * one_second.len());
        for _ in 0..reps {
            data.extend_from_slice(&one_second);
        }
        std::fs::write(&path, &data).expect("writing the temp movie");
        eprintln!(
            "core bench: movie_open: {} ({:.1} MB, {} frames)",
            path.display(),
            data.len() as f64 / 1e6,
            reps * 24
        );
        TempMovie {
            dir,
            path,
            len: data.len() as u64,
            frames: reps * 24,
        }
    }
}

impl Drop for TempMovie {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bench_movie(c: &mut Criterion) {
    let movie = TempMovie::write(100_000_000);
    let m = Movie::open(&movie.path).expect("opens"); // also warms the page cache
    assert_eq!(m.total_bytes() as u64, movie.len);
    assert_eq!(m.frame_count(), movie.frames);
    drop(m);
    let mut g = c.benchmark_group("movie_open");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Bytes(movie.len));
    g.bench_function("lab_100MB", |b| {
        b.iter(|| Movie::open(black_box(&movie.path)).expect("opens"))
    });
    g.finish();
}

const TIMERS: usize = 10_000;

/// 10 000 sessions' frame timers at 24 fps, phases spread over the period, in a 1 ms wheel.
struct Timers {
    wheel: TimerWheel<(u32, Instant)>,
    now: Instant,
    period: Duration,
    fired: u64,
    /// The latest any timer fired after its deadline (should be under 2 ms: 1 ms ticks, 1 ms
    /// polling steps).
    max_late: Duration,
}

impl Timers {
    fn new() -> Timers {
        let start = Instant::now();
        let period = Duration::from_nanos(1_000_000_000 / 24);
        let mut wheel = TimerWheel::new(start, Duration::from_millis(1));
        for i in 0..TIMERS {
            let deadline = start + period * i as u32 / TIMERS as u32;
            wheel.insert(deadline, (i as u32, deadline));
        }
        Timers {
            wheel,
            now: start,
            period,
            fired: 0,
            max_late: Duration::ZERO,
        }
    }

    /// Advances simulated time by one frame period in 1 ms steps, re-arming every fired timer.
    fn run_period(&mut self) {
        let end = self.now + self.period;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(1)).min(end);
            while let Some((_, (i, deadline))) = self.wheel.poll_expired(self.now) {
                self.max_late = self
                    .max_late
                    .max(self.now.saturating_duration_since(deadline));
                let next = deadline + self.period;
                self.wheel.insert(next, (i, next));
                self.fired += 1;
            }
        }
    }
}

fn bench_timers(c: &mut Criterion) {
    let mut g = quick(c, "timer_wheel");
    g.throughput(Throughput::Elements(TIMERS as u64));
    let mut t = Timers::new();
    let mut periods = 0u64;
    g.bench_function("10k_periodic_24fps", |b| {
        b.iter(|| {
            t.run_period();
            periods += 1;
        })
    });
    g.finish();
    // Each period should fire every timer once, none later than 2 ms. Reported rather than
    // asserted, so a wheel that bunches or starves timers still gets its cost measured.
    if periods == 0 {
        return; // filtered out
    }
    let per_period = t.fired as f64 / periods as f64;
    let ok = (per_period - TIMERS as f64).abs() < TIMERS as f64 * 0.01
        && t.max_late <= Duration::from_millis(2);
    eprintln!(
        "core bench: timer_wheel: {per_period:.0} fires per period over {periods} periods \
         (expected {TIMERS}), latest fire {:?} after its deadline{}",
        t.max_late,
        if ok {
            ""
        } else {
            ": WRONG, timers fire late (the figures above are of a broken schedule)"
        }
    );
    assert_eq!(t.wheel.len(), TIMERS);
}

fn benches(c: &mut Criterion) {
    let frames = frames();
    bench_rtsp(c);
    bench_rtp(c, &frames);
    bench_timers(c);
    bench_decode(c, &frames);
    bench_movie(c);
}

criterion_group!(core, benches);
criterion_main!(core);
