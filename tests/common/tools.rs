//! Running real clients (ffmpeg, GStreamer) from tests, and comparing what they decode.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rtsp_mjpeg::media::movie::Movie;

/// Runs a command, killing it if it outlives `limit` (a stuck client must fail the test, not hang).
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    run_allowing(cmd, limit, "")
}

/// As [`run`], but a failed exit whose stderr contains `tolerated` (when not empty) passes.
pub fn run_allowing(cmd: &mut Command, limit: Duration, tolerated: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read stdout meanwhile, so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
        v
    });
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = child.wait_with_output().unwrap();
    out.stdout = reader.join().unwrap();
    let tolerated =
        !tolerated.is_empty() && String::from_utf8_lossy(&out.stderr).contains(tolerated);
    assert!(
        out.status.success() || tolerated,
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// ffmpeg's MD5 of each decoded picture, from `-f framemd5`.
pub fn framemd5(args: &[&str], frames: usize) -> Vec<String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error"])
        .args(args)
        .args(["-frames:v", &frames.to_string(), "-f", "framemd5", "-"]);
    let out = run(&mut cmd, Duration::from_secs(90));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// The frames of `movie` as a raw JPEG stream file that ffmpeg's mjpeg demuxer reads.
pub fn raw_copy(movie: &Movie, dir: &Path) -> String {
    let path = dir.join("source.mjpeg");
    let bytes: Vec<u8> = movie.frames().flatten().copied().collect();
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}
