//! Adaptive sessions on virtual time: reports in, the rate, thinning and renditions out.

use super::*;
use crate::rtp::packet::RtpPacket;
use crate::server::adapt::render::render;

/// 640x480 frames at quality 95, so that lower qualities save what they save on real video.
fn big() -> TestMovie {
    TestMovie {
        seconds: 2.0,
        quality: 95,
        ..TestMovie::default()
    }
}

const RTCP_PORT: u16 = 5001;

fn start(f: &mut Fixture, extra: &str) -> String {
    let t0 = f.t0;
    let r = f.request(
        t0,
        &format!("SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=5000-{RTCP_PORT}\r\n{extra}\r\n"),
    );
    assert_eq!(r.status, StatusCode::OK);
    let id = session_of(&r);
    let r = f.request(
        t0,
        &format!(
            "PLAY rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\nSession: {id}\r\n\r\n"
        ),
    );
    assert_eq!(r.status, StatusCode::OK);
    id
}

/// The SSRC of the session's packets.
fn ssrc(f: &Fixture) -> u32 {
    RtpPacket::new_checked(&f.out.rtp[0].2).unwrap().ssrc()
}

/// A receiver report about `ssrc` saying `fraction` of 256 were lost, sent from `from`.
fn report(f: &mut Fixture, at: Instant, ssrc: u32, fraction: u8, from: SocketAddr) {
    let mut packet = Vec::new();
    rtcp::ReceiverReport {
        ssrc: 0x1234,
        blocks: vec![rtcp::ReportBlock {
            ssrc,
            fraction_lost: fraction,
            cumulative_lost: 0,
            highest_seq: 0,
            jitter: 0,
            lsr: 0,
            dlsr: 0,
        }],
    }
    .write(&mut packet);
    f.core.handle_rtcp(RtcpFrom::Udp(from), &packet, at);
}

/// Frames (by timestamp) and RTP bytes sent in [from, to).
fn sent_between(f: &Fixture, from: Instant, to: Instant) -> (usize, usize) {
    let mut frames = std::collections::HashSet::new();
    let mut bytes = 0;
    for (at, _, b) in &f.out.rtp {
        if *at >= from && *at < to {
            frames.insert(RtpPacket::new_checked(b).unwrap().timestamp());
            bytes += b.len();
        }
    }
    (frames.len(), bytes)
}

/// Makes every rendition the core asked for, as the worker thread would.
fn render_all(f: &mut Fixture) -> usize {
    let jobs = f.core.take_render_jobs();
    for job in &jobs {
        for done in render(job) {
            f.core.render_done(done);
        }
    }
    jobs.len()
}

fn client_rtcp() -> SocketAddr {
    format!("127.0.0.1:{RTCP_PORT}").parse().unwrap()
}

#[test]
fn loss_reports_thin_at_once_and_renditions_bring_the_frames_back() {
    let mut f = fixture_with(big(), |_| {});
    start(&mut f, "");
    let t0 = f.t0;
    let s = Duration::from_secs(1);
    f.run_until(t0 + s);
    let (full, full_bytes) = sent_between(&f, t0, t0 + s);
    assert!(full >= 24, "full quality from the first second: {full}");
    let ssrc = ssrc(&f);
    // Half of it was lost: the path carries about half the movie's rate.
    report(&mut f, t0 + s, ssrc, 128, client_rtcp());
    f.run_until(t0 + 2 * s);
    let (thinned, bytes) = sent_between(&f, t0 + s, t0 + 2 * s);
    assert!(
        thinned < 20 && thinned > 3,
        "originals thinned to the rate: {thinned} frames"
    );
    assert!(
        (bytes as f64) < full_bytes as f64 * 0.55,
        "{bytes} bytes against {full_bytes}"
    );
    assert!(render_all(&mut f) > 0, "renditions asked for");
    // With renditions made (as the worker would, a step at a time), the frames come back
    // within the same rate.
    let step = Duration::from_millis(50);
    let mut at = t0 + 2 * s;
    while at < t0 + 5 * s {
        at += step;
        f.run_until(at);
        render_all(&mut f);
    }
    let (frames, bytes) = sent_between(&f, t0 + 4 * s, t0 + 5 * s);
    assert!(frames >= 20, "renditions fill the frame rate: {frames}");
    assert!(
        (bytes as f64) < full_bytes as f64 * 0.6,
        "{bytes} bytes against {full_bytes}"
    );
    assert!(f.core.totals().frames_thinned > 0);
}

#[test]
fn reports_from_another_port_do_not_steer_a_session() {
    let mut f = fixture_with(big(), |_| {});
    start(&mut f, "");
    let t0 = f.t0;
    let s = Duration::from_secs(1);
    f.run_until(t0 + s);
    let ssrc = ssrc(&f);
    for k in 1..4 {
        let elsewhere = format!("127.0.0.1:{}", 6000 + k).parse().unwrap();
        report(&mut f, t0 + k * s, ssrc, 255, elsewhere);
        let third_party = "192.0.2.9:5001".parse().unwrap();
        report(&mut f, t0 + k * s, ssrc, 255, third_party);
        f.run_until(t0 + (k + 1) * s);
    }
    let (frames, _) = sent_between(&f, t0 + s, t0 + 4 * s);
    assert!(frames >= 71, "every frame still sent: {frames}");
    assert_eq!(f.core.totals().frames_thinned, 0);
}

#[test]
fn absurd_reports_leave_the_session_streaming_at_its_lowest() {
    let mut f = fixture_with(big(), |_| {});
    start(&mut f, "");
    let t0 = f.t0;
    let s = Duration::from_secs(1);
    f.run_until(t0 + s);
    let ssrc = ssrc(&f);
    for k in 1..20 {
        report(&mut f, t0 + k * s, ssrc, 255, client_rtcp());
        f.run_until(t0 + (k + 1) * s);
        render_all(&mut f);
    }
    let (frames, bytes) = sent_between(&f, t0 + 10 * s, t0 + 20 * s);
    assert!(frames >= 5, "still streaming: {frames} frames in 10 s");
    assert!(bytes * 8 < 2 * 64_000 * 10, "at the floor: {bytes} bytes");
    assert_eq!(f.core.session_count(), 1);
}

#[test]
fn a_bandwidth_header_caps_the_session() {
    let mut f = fixture_with(big(), |_| {});
    start(&mut f, "Bandwidth: 800000\r\n");
    let t0 = f.t0;
    let s = Duration::from_secs(1);
    for k in 1..9 {
        f.run_until(t0 + k * s);
        render_all(&mut f);
    }
    let (frames, bytes) = sent_between(&f, t0 + 2 * s, t0 + 8 * s);
    let rate = bytes as f64 * 8.0 / 6.0;
    assert!(rate <= 880_000.0, "{rate} bit/s of RTP");
    assert!(frames >= 6 * 6, "{frames} frames in 6 s");
    // A bad value is a bad request.
    let r = f.request(
        t0,
        "SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\nCSeq: 9\r\nTransport: RTP/AVP;unicast;client_port=5004-5005\r\nBandwidth: lots\r\n\r\n",
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[test]
fn adaptive_off_sends_every_frame_whatever_the_reports() {
    let mut f = fixture_with(big(), |c| c.adaptive = crate::server::adapt::Mode::Off);
    start(&mut f, "Bandwidth: 100000\r\n");
    let t0 = f.t0;
    let s = Duration::from_secs(1);
    f.run_until(t0 + s);
    let ssrc = ssrc(&f);
    report(&mut f, t0 + s, ssrc, 200, client_rtcp());
    f.run_until(t0 + 3 * s);
    assert!(f.core.take_render_jobs().is_empty());
    let (frames, _) = sent_between(&f, t0 + s, t0 + 3 * s);
    assert!(frames >= 47, "{frames}");
}
