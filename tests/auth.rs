//! rtspd with authentication: the protocol (401, challenges, OPTIONS open, lockout), the player,
//! ffmpeg and GStreamer playing an authenticated stream, and no credentials in the logs.

mod common;

use std::process::{Command as Proc, Stdio};
use std::time::{Duration, Instant};

use common::{have_tool, Client, TempDir, TestServer};
use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::client::Options;
use rtsp_mjpeg::client::{Command, PlayerState};
use rtsp_mjpeg::player::Player;
use rtsp_mjpeg::rtsp::auth::{basic_authorization, AuthHeader};
use rtsp_mjpeg::server::auth::{AuthConfig, MAX_FAILURES};

fn with_auth(schemes: &str) -> TestServer {
    TestServer::start(|c| {
        let mut a = AuthConfig::new("rtspd");
        a.add_plain("alice:s3cret-pass").unwrap();
        a.set_schemes(schemes).unwrap();
        c.auth = Some(a);
    })
}

fn url_with(server: &TestServer, cred: &str) -> String {
    format!("rtsp://{cred}@{}/movie.Mjpeg", server.addr)
}

#[test]
fn challenges_and_lockout() {
    let server = with_auth("digest,basic");
    let mut c = Client::connect(server.addr);
    let url = server.url("movie.Mjpeg");
    assert_eq!(
        c.request("OPTIONS", &url, &[]).status,
        200,
        "OPTIONS stays open"
    );
    let r = c.request("DESCRIBE", &url, &[]);
    assert_eq!(r.status, 401);
    let offers: Vec<AuthHeader> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| AuthHeader::parse(v).unwrap())
        .collect();
    assert!(offers[0].is("digest") && offers[0].get("nonce").is_some());
    assert_eq!(offers[0].get("realm"), Some("rtspd"));
    assert!(offers[1].is("basic"));
    let good = basic_authorization("alice", "s3cret-pass");
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &good)])
            .status,
        200
    );
    let bad = basic_authorization("alice", "guess");
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            c.request("DESCRIBE", &url, &[("Authorization", &bad)])
                .status,
            401
        );
    }
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &good)])
            .status,
        403,
        "locked out after {MAX_FAILURES} failures"
    );
}

fn play(url: &str) -> Player {
    let p = Player::start(
        Options::new(Target::parse_url(url).unwrap()),
        Instant::now(),
    )
    .unwrap();
    p.send(Command::Setup);
    p.send(Command::Play);
    p
}

fn frames_within(p: &mut Player, n: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    while p.shown < n && Instant::now() < deadline {
        p.poll_events();
        if let Some(f) = p.next_frame_in_order(Duration::from_millis(20)) {
            p.presented(&f, Instant::now());
        }
    }
    p.shown
}

#[test]
fn player_answers_digest_and_basic() {
    for scheme in ["digest", "basic"] {
        let server = with_auth(scheme);
        let mut p = play(&url_with(&server, "alice:s3cret-pass"));
        assert_eq!(
            frames_within(&mut p, 10, Duration::from_secs(10)),
            10,
            "{scheme}: {:?}",
            p.error
        );
        p.shutdown();
        assert_eq!(p.state, PlayerState::Closed);
    }
}

#[test]
fn player_reports_missing_or_wrong_credentials() {
    let server = with_auth("digest");
    for (cred, expect) in [
        (None, "wants a user name and password"),
        (Some("alice:wrong"), "refused"),
    ] {
        let url = match cred {
            Some(c) => url_with(&server, c),
            None => server.url("movie.Mjpeg"),
        };
        let mut p = play(&url);
        assert_eq!(frames_within(&mut p, 1, Duration::from_secs(2)), 0);
        let err = p.error.clone().unwrap_or_default();
        assert!(
            err.contains(expect) || err.contains("401"),
            "{cred:?}: {err}"
        );
        assert_ne!(p.state, PlayerState::Playing);
    }
}

#[test]
fn ffmpeg_and_gstreamer_play_with_digest() {
    let server = with_auth("digest");
    if have_tool("ffmpeg", "ffmpeg_and_gstreamer_play_with_digest") {
        let run = |cred: &str| {
            Proc::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-i"])
                .arg(url_with(&server, cred))
                .args(["-frames:v", "10", "-f", "null", "-"])
                .stdin(Stdio::null())
                .status()
                .unwrap()
        };
        assert!(run("alice:s3cret-pass").success(), "ffmpeg with digest");
        assert!(!run("alice:nope").success(), "ffmpeg with a wrong password");
    }
    if have_tool("gst-launch-1.0", "ffmpeg_and_gstreamer_play_with_digest") {
        let dir = TempDir::new("gstauth");
        let raw = dir.0.join("frames.rgb");
        let out = Proc::new("timeout")
            .args(["30", "gst-launch-1.0", "-q", "rtspsrc"])
            .arg(format!("location={}", server.url("movie.Mjpeg")))
            .args(["user-id=alice", "user-pw=s3cret-pass", "latency=0"])
            .args(["!", "rtpjpegdepay", "!", "jpegdec", "!", "videoconvert"])
            .args([
                "!",
                "video/x-raw,format=RGB",
                "!",
                "identity",
                "eos-after=11",
            ])
            .args(["!", "filesink"])
            .arg(format!("location={}", raw.display()))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let frames = std::fs::metadata(&raw).map(|m| m.len()).unwrap_or(0) / (320 * 240 * 3);
        assert_eq!(
            frames, 10,
            "gst-launch with digest got {frames} frames: {err}"
        );
        // Seen twice in about a hundred runs, only at the end: gst-launch reports "Received
        // end-of-file" on its PAUSE or TEARDOWN after the frames came. Anything else fails.
        assert!(
            out.status.success() || err.contains("Received end-of-file"),
            "gst-launch with digest: {err}"
        );
    }
}

/// The rtspd binary with --auth, logging at debug: neither the password nor anything derived
/// from it may appear in its output.
#[test]
fn credentials_never_reach_the_log() {
    let media = TempDir::new("authlog");
    std::fs::write(
        media.0.join("movie.Mjpeg"),
        common::small_movie().to_lab_bytes(),
    )
    .unwrap();
    let (server, addr) = common::spawn_rtspd(
        &media.0,
        &[
            "--auth",
            "alice:s3cret-pass",
            "--auth-methods",
            "digest,basic",
        ],
        "debug",
    );
    let url = format!("rtsp://{addr}/movie.Mjpeg");
    let mut c = Client::connect(addr);
    let good = basic_authorization("alice", "s3cret-pass");
    let bad = basic_authorization("alice", "s3cret-wrong");
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &good)])
            .status,
        200
    );
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &bad)])
            .status,
        401
    );
    let mut p = play(&format!("rtsp://alice:s3cret-pass@{addr}/movie.Mjpeg"));
    assert!(frames_within(&mut p, 5, Duration::from_secs(10)) >= 5);
    p.shutdown();
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let out = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("authentication failed for user \"alice\""),
        "{log}"
    );
    for secret in ["s3cret", &good[6..], &bad[6..], "response="] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}
