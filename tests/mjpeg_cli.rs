//! The `mjpeg` binary end to end: `test`, `convert` (through ffmpeg and without it), `info`, and
//! every error path giving one `mjpeg: ` line and a non-zero exit.
//!
//! Tests that need ffmpeg skip loudly when it is missing, unless RTSP_MJPEG_REQUIRE_TOOLS is set,
//! which makes them fail instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use rtsp_mjpeg::jpeg;
use rtsp_mjpeg::media::convert::decode_rgb;
use rtsp_mjpeg::media::testmovie::read_frame_number;
use rtsp_mjpeg::media::{Format, Movie, TestMovie};

/// A temporary folder, unique to the test, removed on drop (the shared one, with helpers).
struct TempDir(common::TempDir);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        TempDir(common::TempDir::new(&format!("cli-{tag}")))
    }

    fn path(&self) -> &Path {
        &self.0 .0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The names in the folder, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The mjpeg command, run in `dir`.
fn mjpeg(dir: &TempDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mjpeg"));
    cmd.args(args).current_dir(dir.path()).stdin(Stdio::null());
    cmd
}

fn run(dir: &TempDir, args: &[&str]) -> Output {
    mjpeg(dir, args).output().unwrap()
}

/// Runs mjpeg with a PATH where no ffmpeg can be found.
fn run_without_ffmpeg(dir: &TempDir, args: &[&str]) -> Output {
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    mjpeg(dir, args).env("PATH", &empty).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "mjpeg failed: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts a clean failure: non-zero exit, exactly one stderr line starting `mjpeg: ` and holding
/// every one of `needles`, no panic.
fn fails_with(out: Output, needles: &[&str]) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "expected a failure, got: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr:?}");
    assert!(lines[0].starts_with("mjpeg: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
}

fn have_ffmpeg() -> bool {
    ["ffmpeg", "ffprobe"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Whether the test can go on: false (after a loud note) when ffmpeg is missing, a panic when
/// RTSP_MJPEG_REQUIRE_TOOLS says it must be there.
fn ffmpeg_or_skip(test: &str) -> bool {
    if have_ffmpeg() {
        return true;
    }
    if std::env::var_os("RTSP_MJPEG_REQUIRE_TOOLS").is_some() {
        panic!("{test}: ffmpeg/ffprobe not installed and RTSP_MJPEG_REQUIRE_TOOLS is set");
    }
    common::skipped(&format!(
        "{test}: ffmpeg not installed (apt-get install ffmpeg)"
    ));
    false
}

/// Runs ffmpeg quietly with `args`, asserting it worked; returns `out`.
fn ffmpeg(args: &[&str], out: &Path) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?} failed");
    out.to_path_buf()
}

/// The 2 s, 25 fps, 320x240 clip (50 frames) in MPEG-4 Part 2, which every ffmpeg can write.
fn ffmpeg_clip(dir: &TempDir, seconds: u32) -> PathBuf {
    let src = format!("testsrc=duration={seconds}:size=320x240:rate=25");
    ffmpeg(
        &["-f", "lavfi", "-i", &src, "-c:v", "mpeg4", "-q:v", "5"],
        &dir.join("clip.mp4"),
    )
}

/// Opens `path` and checks the frame count, size, that RFC 2435 carries every frame and that
/// no temporary file is left beside it.
fn check_movie(path: &Path, frames: usize, size: (u16, u16), format: Format) -> Movie {
    let movie = Movie::open(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(movie.format(), format, "{}", path.display());
    assert_eq!(movie.frame_count(), frames, "{}", path.display());
    for (i, frame) in movie.frames().enumerate() {
        let info = jpeg::parse(frame).unwrap();
        assert_eq!((info.width, info.height), size, "frame {}", i + 1);
        if let Err(e) = info.carriable() {
            panic!("{} frame {}: {e}", path.display(), i + 1);
        }
    }
    let mut partial = path.as_os_str().to_os_string();
    partial.push(".partial");
    assert!(!Path::new(&partial).exists(), "partial file left");
    movie
}

fn sidecar(path: &Path) -> String {
    let mut name = path.as_os_str().to_os_string();
    name.push(".fps");
    std::fs::read_to_string(name).unwrap().trim().to_string()
}

/// `n` test-movie frames, repeated `times`, as a lab movie in memory.
fn lab_movie(movie: &TestMovie, n: u32, times: usize) -> Vec<u8> {
    let frames: Vec<Vec<u8>> = (0..n).map(|i| movie.encode(i)).collect();
    let one: Vec<u8> = frames
        .iter()
        .flat_map(|f| {
            format!("{:05}", f.len())
                .into_bytes()
                .into_iter()
                .chain(f.clone())
        })
        .collect();
    one.repeat(times)
}

fn small_test_movie() -> TestMovie {
    TestMovie {
        seconds: 1.0,
        width: 320,
        height: 240,
        fps: 10,
        ..TestMovie::default()
    }
}

#[test]
fn test_writes_a_playable_movie_and_info_reports_it() {
    let dir = TempDir::new("test");
    let stdout = ok(run(
        &dir,
        &[
            "test",
            "m.Mjpeg",
            "--seconds",
            "1",
            "--size",
            "320x240",
            "--fps",
            "10",
        ],
    ));
    assert!(stdout.contains("10 frames 320x240 at 10 fps"), "{stdout}");
    let path = dir.join("m.Mjpeg");
    let movie = check_movie(&path, 10, (320, 240), Format::Lab);
    assert_eq!(sidecar(&path), "10");
    // Playable: every frame decodes and shows its own number.
    for (i, frame) in movie.frames().enumerate() {
        let (rgb, w, h) = decode_rgb(frame).unwrap();
        assert_eq!(read_frame_number(&rgb, w, h), Some(i as u32));
    }
    assert_eq!(dir.names(), ["m.Mjpeg", "m.Mjpeg.fps"]);

    let info = ok(run(&dir, &["info", "m.Mjpeg"]));
    for needle in [
        "lab (5-digit length + JPEG)",
        "frames      10\n",
        "dimensions  320x240\n",
        "sampling    4:2:0\n",
        "duration    1.000 s at 10 fps (from m.Mjpeg.fps)",
        "every frame carriable",
        "every frame fits its 20480-byte receive buffer",
    ] {
        assert!(info.contains(needle), "{needle:?} not in\n{info}");
    }
}

#[test]
fn test_defaults_to_media_movie() {
    let dir = TempDir::new("default");
    std::fs::create_dir(dir.join("media")).unwrap();
    ok(run(&dir, &["test", "--seconds", "0.5"]));
    check_movie(&dir.join("media/movie.Mjpeg"), 12, (640, 480), Format::Lab);
    assert_eq!(sidecar(&dir.join("media/movie.Mjpeg")), "24");
    // A movie already there (the seed, say) is left alone without --force.
    let before = std::fs::read(dir.join("media/movie.Mjpeg")).unwrap();
    fails_with(
        run(&dir, &["test", "--seconds", "1"]),
        &["media/movie.Mjpeg exists", "--force"],
    );
    assert_eq!(
        std::fs::read(dir.join("media/movie.Mjpeg")).unwrap(),
        before
    );
    ok(run(&dir, &["test", "--seconds", "1", "--force"]));
    check_movie(&dir.join("media/movie.Mjpeg"), 24, (640, 480), Format::Lab);
}

#[test]
fn convert_an_ffmpeg_clip_to_both_formats() {
    if !ffmpeg_or_skip("convert_an_ffmpeg_clip_to_both_formats") {
        return;
    }
    let dir = TempDir::new("ffmpeg");
    ffmpeg_clip(&dir, 2);
    for (name, format) in [("lab.Mjpeg", Format::Lab), ("raw.mjpeg", Format::Raw)] {
        let stdout = ok(run(&dir, &["convert", "clip.mp4", name]));
        assert!(stdout.contains("50 frames 320x240 at 25 fps"), "{stdout}");
        check_movie(&dir.join(name), 50, (320, 240), format);
        assert_eq!(sidecar(&dir.join(name)), "25");
    }
    // Every option: a 1 s piece from 0.5 s, at 10 fps, scaled.
    ok(run(
        &dir,
        &[
            "convert",
            "clip.mp4",
            "part.mjpeg",
            "--size",
            "160x128",
            "--fps",
            "10",
            "--start",
            "0.5",
            "--duration",
            "1",
            "--quality",
            "60",
        ],
    ));
    check_movie(&dir.join("part.mjpeg"), 10, (160, 128), Format::Raw);
    assert_eq!(sidecar(&dir.join("part.mjpeg")), "10");
}

#[test]
fn source_sizes_are_rounded_to_multiples_of_16() {
    if !ffmpeg_or_skip("source_sizes_are_rounded_to_multiples_of_16") {
        return;
    }
    let dir = TempDir::new("round");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=0.2:size=330x250:rate=10",
            "-c:v",
            "mpeg4",
        ],
        &dir.join("odd.mkv"),
    );
    ok(run(&dir, &["convert", "odd.mkv", "odd.Mjpeg"]));
    check_movie(&dir.join("odd.Mjpeg"), 2, (336, 256), Format::Lab);
}

#[test]
fn uncarriable_mjpeg_is_reencoded_without_ffmpeg() {
    if !ffmpeg_or_skip("uncarriable_mjpeg_is_reencoded_without_ffmpeg") {
        return;
    }
    let dir = TempDir::new("reencode");
    let src = "testsrc=duration=1:size=320x240:rate=10";
    // ffmpeg's defaults: 4:4:4 here, and always optimal Huffman tables; then 4:2:0 with
    // optimal tables, so the Huffman tables are the only problem.
    for (input, pix_fmt, reason) in [
        ("x.mjpeg", None, "sampling"),
        ("h.mjpeg", Some("yuvj420p"), "Huffman"),
    ] {
        let mut args = vec!["-f", "lavfi", "-i", src, "-c:v", "mjpeg"];
        if let Some(p) = pix_fmt {
            args.extend(["-pix_fmt", p]);
        }
        args.extend(["-f", "mjpeg"]);
        ffmpeg(&args, &dir.join(input));
        let before = Movie::open(dir.join(input)).unwrap();
        let why = jpeg::parse(before.frame(0).unwrap())
            .unwrap()
            .carriable()
            .unwrap_err()
            .to_string();
        assert!(why.contains(reason), "{input}: {why}");
        let info = ok(run(&dir, &["info", input]));
        assert!(info.contains("not carriable from frame 1"), "{info}");

        // No ffmpeg on the PATH: MJPEG input must not need it.
        let out = format!("{input}.Mjpeg");
        let stdout = ok(run_without_ffmpeg(&dir, &["convert", input, &out]));
        assert!(stdout.contains("0 copied, 10 re-encoded"), "{stdout}");
        check_movie(&dir.join(&out), 10, (320, 240), Format::Lab);
    }
}

#[test]
fn carriable_mjpeg_is_copied_and_can_be_resampled() {
    let dir = TempDir::new("copy");
    let t = small_test_movie();
    let bytes = lab_movie(&t, 10, 1);
    std::fs::write(dir.join("in.Mjpeg"), &bytes).unwrap();
    std::fs::write(dir.join("in.Mjpeg.fps"), "10").unwrap();

    let stdout = ok(run_without_ffmpeg(
        &dir,
        &["convert", "in.Mjpeg", "raw.mjpeg"],
    ));
    assert!(stdout.contains("10 copied, 0 re-encoded"), "{stdout}");
    let raw = check_movie(&dir.join("raw.mjpeg"), 10, (320, 240), Format::Raw);
    let original = Movie::open(dir.join("in.Mjpeg")).unwrap();
    assert!(raw.frames().eq(original.frames()), "copied frames changed");
    assert_eq!(sidecar(&dir.join("raw.mjpeg")), "10");

    ok(run_without_ffmpeg(
        &dir,
        &[
            "convert",
            "in.Mjpeg",
            "half.Mjpeg",
            "--fps",
            "5",
            "--size",
            "160x128",
            "--start",
            "0.2",
        ],
    ));
    check_movie(&dir.join("half.Mjpeg"), 4, (160, 128), Format::Lab);
    assert_eq!(sidecar(&dir.join("half.Mjpeg")), "5");
}

#[test]
fn lab_frame_limit_names_the_fix() {
    let dir = TempDir::new("limit");
    // A noisy picture at quality 100 makes a frame far over 99 999 bytes.
    let (w, h) = (640u16, 480u16);
    let noise: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let frame = rtsp_mjpeg::media::convert::encode_rgb(&noise, w, h, 90).unwrap();
    std::fs::write(dir.join("noise.mjpeg"), frame.repeat(2)).unwrap();

    fails_with(
        run(
            &dir,
            &["convert", "noise.mjpeg", "out.Mjpeg", "--quality", "100"],
        ),
        &["out.Mjpeg", "frame 1", "99999", "--quality", "--size"],
    );
    assert_eq!(dir.names(), ["noise.mjpeg"], "output or partial file left");
    // The raw format has no such limit.
    ok(run(
        &dir,
        &["convert", "noise.mjpeg", "out.mjpeg", "--quality", "100"],
    ));
    check_movie(&dir.join("out.mjpeg"), 2, (w, h), Format::Raw);
}

#[test]
fn without_ffmpeg_one_line_says_what_to_install() {
    let dir = TempDir::new("noffmpeg");
    std::fs::write(dir.join("clip.mp4"), b"\x00\x00\x00\x18ftypmp42 not really").unwrap();
    fails_with(
        run_without_ffmpeg(&dir, &["convert", "clip.mp4", "out.Mjpeg"]),
        &["clip.mp4", "ffmpeg", "apt-get install ffmpeg"],
    );
    assert!(!dir.join("out.Mjpeg").exists());
    // What does not need ffmpeg still works.
    ok(run_without_ffmpeg(
        &dir,
        &["test", "t.Mjpeg", "--seconds", "0.5", "--size", "160x128"],
    ));
    ok(run_without_ffmpeg(&dir, &["info", "t.Mjpeg"]));
}

#[test]
fn bad_input_gives_one_clear_line() {
    let dir = TempDir::new("badin");
    std::fs::write(dir.join("empty.mjpeg"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"hello, not a movie\n").unwrap();
    std::fs::write(dir.join("cut.Mjpeg"), b"01000\xFF\xD8\xFF").unwrap();

    fails_with(
        run(&dir, &["convert", "missing.mp4", "out.Mjpeg"]),
        &["missing.mp4", "No such file"],
    );
    fails_with(run(&dir, &["info", "missing.Mjpeg"]), &["missing.Mjpeg"]);
    fails_with(
        run(&dir, &["convert", "empty.mjpeg", "out.Mjpeg"]),
        &["empty.mjpeg", "no frames"],
    );
    fails_with(
        run(&dir, &["info", "empty.mjpeg"]),
        &["empty.mjpeg", "no frames"],
    );
    fails_with(
        run(&dir, &["info", "notes.txt"]),
        &["notes.txt", "not an MJPEG movie"],
    );
    fails_with(
        run(&dir, &["convert", "cut.Mjpeg", "out.Mjpeg"]),
        &["cut.Mjpeg", "truncated"],
    );
    fails_with(run(&dir, &["info"]), &["at least one"]);
    assert!(!dir.join("out.Mjpeg").exists());
}

#[test]
fn not_a_video_and_nothing_after_start() {
    if !ffmpeg_or_skip("not_a_video_and_nothing_after_start") {
        return;
    }
    let dir = TempDir::new("notvideo");
    std::fs::write(dir.join("notes.txt"), b"hello, not a movie\n").unwrap();
    fails_with(
        run(&dir, &["convert", "notes.txt", "out.Mjpeg"]),
        &["notes.txt", "not a video"],
    );
    ffmpeg_clip(&dir, 1);
    fails_with(
        run(&dir, &["convert", "clip.mp4", "out.Mjpeg", "--start", "30"]),
        &["clip.mp4", "no video frames"],
    );
    assert_eq!(dir.names(), ["clip.mp4", "notes.txt"]);
}

#[test]
fn bad_output_and_flags_give_one_clear_line() {
    let dir = TempDir::new("badout");
    std::fs::write(dir.join("in.Mjpeg"), lab_movie(&small_test_movie(), 2, 1)).unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["convert", "in.Mjpeg", "no/such/dir/out.Mjpeg"],
            &["no/such/dir/out.Mjpeg", "cannot write"],
        ),
        (
            &["test", "no/such/dir/t.Mjpeg", "--seconds", "0.1"],
            &["no/such/dir/t.Mjpeg", "cannot write"],
        ),
        (
            &["convert", "in.Mjpeg", "out.avi"],
            &["out.avi", ".Mjpeg", ".mjpeg"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--size", "big"],
            &["--size big"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--size", "100x100"],
            &["--size 100x100"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--size", "4096x2048"],
            &["--size"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--fps", "0"],
            &["--fps 0"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--quality", "0"],
            &["--quality 0"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--quality", "300"],
            &["--quality"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--start", "-1"],
            &["--start"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--start", "9"],
            &["--start"],
        ),
        (
            &["convert", "in.Mjpeg", "o.Mjpeg", "--duration", "0"],
            &["--duration 0"],
        ),
        (
            &["test", "t.Mjpeg", "--size", "100x100"],
            &["--size 100x100"],
        ),
        (&["test", "t.Mjpeg", "--size", "640"], &["--size 640"]),
        (&["test", "t.Mjpeg", "--fps", "0"], &["--fps 0"]),
        (&["test", "t.Mjpeg", "--seconds", "0"], &["--seconds 0"]),
        (&["convert", "in.Mjpeg"], &["output"]),
        (&["frobnicate"], &["frobnicate"]),
        (&["test", "--bogus"], &["--bogus"]),
    ];
    for (args, needles) in cases {
        let out = run(&dir, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        fails_with(out, needles);
    }
    assert_eq!(dir.names(), ["in.Mjpeg"], "files left behind");
}

/// Waits for `child` at most `limit`; kills it and fails the test past that.
fn wait_with_limit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mjpeg did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a long job writing `out`, waits until it is writing, sends SIGINT, and checks that it
/// exits 130 leaving only `keep` in the folder.
fn interrupt_leaves_nothing(dir: &TempDir, args: &[&str], out: &str, keep: &[&str]) {
    let mut child = mjpeg(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = dir.join(&format!("{out}.partial"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !partial.exists() {
        assert!(Instant::now() < deadline, "conversion never started");
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = wait_with_limit(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("mjpeg: interrupted"), "{stderr}");
    assert_eq!(dir.names(), keep, "half file left");
}

#[test]
fn ctrl_c_leaves_no_half_file() {
    let dir = TempDir::new("sigint");
    // Many frames, each upscaled and re-encoded: far longer than the test waits.
    let movie = lab_movie(&small_test_movie(), 10, 200);
    std::fs::write(dir.join("long.Mjpeg"), movie).unwrap();
    interrupt_leaves_nothing(
        &dir,
        &[
            "convert",
            "long.Mjpeg",
            "out.mjpeg",
            "--size",
            "1280x960",
            "--quality",
            "90",
        ],
        "out.mjpeg",
        &["long.Mjpeg"],
    );
    // The test movie too.
    interrupt_leaves_nothing(
        &dir,
        &[
            "test",
            "out.Mjpeg",
            "--seconds",
            "600",
            "--size",
            "1280x960",
        ],
        "out.Mjpeg",
        &["long.Mjpeg"],
    );
}

#[test]
fn ctrl_c_stops_ffmpeg_conversions_too() {
    if !ffmpeg_or_skip("ctrl_c_stops_ffmpeg_conversions_too") {
        return;
    }
    let dir = TempDir::new("sigint-ffmpeg");
    ffmpeg_clip(&dir, 60);
    interrupt_leaves_nothing(
        &dir,
        &[
            "convert",
            "clip.mp4",
            "out.mjpeg",
            "--size",
            "2032x1520",
            "--quality",
            "95",
        ],
        "out.mjpeg",
        &["clip.mp4"],
    );
}
