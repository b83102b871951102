//! rtspd's pages in Chromium (headless, through chromedriver and Selenium): the library lists
//! every movie with loaded thumbnails, the player's picture moves and its keys work, a browser
//! video file plays and seeks, at 1280x800 and 390x844. The checks are in
//! tests/browser/test_pages.py; the screenshots go to target/browser/.
//!
//! scripts/test.sh installs chromium, chromium-driver and python3-selenium; without them this
//! test fails under RTSP_MJPEG_REQUIRE_TOOLS and says loudly that it did not run otherwise.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{have_tool, seed_movie, skipped, write_movie, TempDir, TestServer};
use rtsp_mjpeg::media::testmovie::TestMovie;

const TEST: &str = "the_pages_work_in_chromium";

fn have_selenium() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import selenium"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("RTSP_MJPEG_REQUIRE_TOOLS").is_some() {
            panic!("{TEST}: python3-selenium is not installed (scripts/test.sh installs it)");
        }
        skipped(&format!(
            "{TEST}: python3-selenium is not installed; scripts/test.sh installs it"
        ));
    }
    ok
}

#[test]
fn the_pages_work_in_chromium() {
    if !have_tool("chromium", TEST)
        || !have_tool("chromedriver", TEST)
        || !have_tool("ffmpeg", TEST)
        || !have_selenium()
    {
        return;
    }
    let media = TempDir::new("browser");
    let movie = TestMovie {
        seconds: 6.0,
        ..TestMovie::default()
    };
    write_movie(&media.0, "movie.Mjpeg", &movie);
    std::fs::create_dir_all(media.0.join("clips")).unwrap();
    std::fs::write(media.0.join("twice.m3u"), "movie.Mjpeg\nmovie.Mjpeg\n").unwrap();
    let mut expect = vec!["movie.Mjpeg", "clips/sample.mp4", "twice.m3u"];
    if let Some(seed) = seed_movie(TEST) {
        std::fs::copy(seed, media.0.join("clips/seed.Mjpeg")).unwrap();
        expect.push("clips/seed.Mjpeg");
    }
    let mp4 = media.0.join("clips/sample.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .args(["-i", "testsrc=duration=6:size=640x360:rate=25"])
        .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
        .arg(&mp4)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg makes the sample video");
    let server = TestServer::start_in(media, |_| {});
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/test_pages.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["--url", &format!("http://{}", server.addr)])
        .arg("--out")
        .arg(&out)
        .args(["--movie", "movie.Mjpeg", "--file", "clips/sample.mp4"])
        .args(["--expect", &expect.join(",")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the browser checks did not finish in 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    println!("{text}");
    assert!(
        output.status.success(),
        "browser checks failed ({}):\n{text}\n{errors}",
        output.status
    );
    assert!(text.contains("browser: all checks passed"), "{text}");
    for shot in [
        "library-1280x800.png",
        "watch-1280x800.png",
        "library-390x844.png",
    ] {
        assert!(out.join(shot).is_file(), "screenshot {shot}");
    }
}
