//! A media folder larger than memory should be: 200 movies of about 50 MB (hard links of one
//! file). rtspd must answer at once (nothing is read at start) and stay small while three of them
//! stream (frames are read from disk into a bounded cache); files added or removed while it runs
//! are seen at the next request.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{spawn_rtspd, Client, TempDir};
use rtsp_mjpeg::media::testmovie::TestMovie;

const MOVIES: usize = 200;
const MOVIE_BYTES: usize = 50 << 20;

/// A lab-format movie of about 50 MB: 48 distinct 640x480 frames, repeated.
fn big_movie(path: &std::path::Path) -> usize {
    let t = TestMovie::default();
    let frames: Vec<Vec<u8>> = (0..48).map(|i| t.encode(i)).collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut written, mut n) = (0, 0);
    while written < MOVIE_BYTES {
        let frame = &frames[n % frames.len()];
        write!(f, "{:05}", frame.len()).unwrap();
        f.write_all(frame).unwrap();
        written += 5 + frame.len();
        n += 1;
    }
    f.flush().unwrap();
    n
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn two_hundred_big_movies_start_fast_and_stream_in_bounded_memory() {
    let media = TempDir::new("large");
    let first = media.0.join("movie000.Mjpeg");
    let frames = big_movie(&first);
    for i in 1..MOVIES {
        std::fs::hard_link(&first, media.0.join(format!("movie{i:03}.Mjpeg"))).unwrap();
    }
    // Three of them at 240 fps, so that a few seconds run through far more frames than the cache
    // holds.
    for i in [7, 70, 170] {
        std::fs::write(media.0.join(format!("movie{i:03}.Mjpeg.fps")), "240").unwrap();
    }

    let started = Instant::now();
    let (mut child, addr) = spawn_rtspd(&media.0, &["--cache-mb", "32"], "warn");
    let mut c = Client::connect(addr);
    let r = c.request("OPTIONS", &format!("rtsp://{addr}/movie000.Mjpeg"), &[]);
    let answered = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        answered < Duration::from_secs(1),
        "OPTIONS answered {answered:?} after start, with {MOVIES} movies of 50 MB"
    );

    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = rtp.local_addr().unwrap().port();
    let packets = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (packets, stop) = (packets.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if rtp.recv(&mut buf).is_ok() {
                    packets.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut sessions = Vec::new();
    for i in [7, 70, 170] {
        let url = format!("rtsp://{addr}/movie{i:03}.Mjpeg");
        let d = c.request("DESCRIBE", &url, &[]);
        assert_eq!(d.status, 200);
        let sdp = String::from_utf8_lossy(&d.body).to_string();
        let expected = format!("a=range:npt=0-{:.3}", frames as f64 / 240.0);
        assert!(sdp.contains(&expected), "{expected} in {sdp}");
        // All three send to one socket; the server does not care.
        let id = c.setup_udp(&format!("{url}/trackID=0"), port).session();
        assert_eq!(c.request("PLAY", &url, &[("Session", &id)]).status, 200);
        sessions.push((url, id));
    }
    std::thread::sleep(Duration::from_secs(6));
    let peak = peak_rss_kb(child.id());
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let got = packets.load(Ordering::Relaxed);
    // 3 x 240 fps x 6 s of ~24 packets a frame; most of it should arrive.
    assert!(got > 3 * 240 * 6 * 10, "only {got} RTP packets arrived");
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} kB after streaming three 50 MB movies (limit 64 MB)"
    );

    // The catalogue follows the folder: a new movie is served, a removed one is 404.
    std::fs::copy(&first, media.0.join("new.Mjpeg")).unwrap();
    let new = format!("rtsp://{addr}/new.Mjpeg");
    assert_eq!(c.request("DESCRIBE", &new, &[]).status, 200);
    std::fs::remove_file(media.0.join("movie199.Mjpeg")).unwrap();
    let gone = format!("rtsp://{addr}/movie199.Mjpeg");
    assert_eq!(c.request("DESCRIBE", &gone, &[]).status, 404);

    for (url, id) in &sessions {
        assert_eq!(c.request("TEARDOWN", url, &[("Session", id)]).status, 200);
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("OPTIONS after {answered:?}; peak RSS {peak} kB; {got} RTP packets");
}
