//! rtspd's command line as a user meets it: every bad flag stops the start with one line that
//! names the flag (exit 1, no panic), and the friendlier forms work (`--bind localhost`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

fn rtspd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rtspd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("rtspd runs")
}

#[test]
fn each_bad_flag_gets_one_line_naming_it() {
    let media = TempDir::new("cli-media");
    let m = media.0.to_str().unwrap();
    let file = media.0.join("movie.Mjpeg");
    std::fs::write(&file, common::small_movie().to_lab_bytes()).unwrap();
    let f = file.to_str().unwrap();
    let missing = media.0.join("no-such-folder");
    let missing = missing.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--media", m, "--fps", "0"], &["--fps 0"]),
        (&["--media", m, "--mtu", "10"], &["--mtu 10"]),
        (
            &["--media", m, "--rtp-port", "6971"],
            &["--rtp-port 6971", "even"],
        ),
        (&["--media", m, "--timeout", "0"], &["--timeout 0"]),
        (&["--media", f], &["is not a folder", "--media"]),
        (&["--media", missing], &["does not exist", "--media"]),
        (
            &["--media", m, "--auth-methods", "foo"],
            &["--auth-methods", "foo"],
        ),
        (
            &["--media", m, "--auth-methods", "basic"],
            &["--auth-methods basic", "without --auth"],
        ),
        (
            &["--media", m, "--bind", "no-such-host.invalid"],
            &["--bind no-such-host.invalid"],
        ),
        (
            &["--media", m, "--multicast", "10.0.0.0/8"],
            &["--multicast", "not a multicast"],
        ),
        (&["--media", m, "--relay", "nourl"], &["--relay"]),
        (
            &["--media", m, "--auth", "alice:pw", "--auth-methods", "md5"],
            &["--auth-methods", "md5"],
        ),
    ];
    for (args, needles) in cases {
        let out = rtspd(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line expected: {stderr:?}");
        assert!(lines[0].starts_with("rtspd: "), "{args:?}: {stderr}");
        for needle in *needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle:?} not in {stderr:?}"
            );
        }
    }
    // Nothing was written into the folder that is a file's name, or anywhere else.
    assert!(!std::path::Path::new(missing).exists());
}

#[test]
fn bind_takes_a_host_name_and_the_log_says_where_to_browse() {
    let media = TempDir::new("cli-bind");
    common::write_movie(&media.0, "movie.Mjpeg", &common::small_movie());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtspd"))
        .args([
            "--bind",
            "localhost",
            "--port",
            "0",
            "--rtp-port",
            "0",
            "--media",
        ])
        .arg(&media.0)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("rtspd starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut listening = None;
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) if line.contains("listening on") => {
                listening = Some(line);
                break;
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = listening.expect("a 'listening on' line within 10 s");
    assert!(line.contains("rtsp://127.0.0.1:"), "{line}");
    assert!(line.contains("in a browser: http://127.0.0.1:"), "{line}");
}
