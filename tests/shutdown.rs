//! SIGINT/SIGTERM: rtspd says RTCP BYE to every playing session and exits 0 within a second.

mod common;

use std::time::{Duration, Instant};

use common::{small_movie, spawn_rtspd, udp_pair, Client, TempDir};
use rtsp_mjpeg::rtp::rtcp::{Compound, Packet};

#[test]
fn signals_end_sessions_with_bye_and_exit_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let media = TempDir::new("shutdown");
        std::fs::write(media.0.join("movie.Mjpeg"), small_movie().to_lab_bytes()).unwrap();
        let (mut child, addr) = spawn_rtspd(&media.0, &[], "info");
        let url = format!("rtsp://{addr}/movie.Mjpeg");
        let (rtp, rtcp) = udp_pair();
        let port = rtp.local_addr().unwrap().port();
        let mut c = Client::connect(addr);
        let r = c.setup_udp(&url, port);
        let id = r.session();
        assert_eq!(c.request("PLAY", &url, &[("Session", &id)]).status, 200);
        let mut buf = [0u8; 2048];
        rtp.recv(&mut buf).expect("frames flow");

        let sent = Instant::now();
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(1),
                "still running 1 s after the signal"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            status.success(),
            "exit status {status:?} after signal {signal}"
        );
        // The BYE: a compound with SR, SDES and BYE on the RTCP port.
        rtcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut bye = false;
        while let Ok(n) = rtcp.recv(&mut buf) {
            bye |= Compound::new(&buf[..n])
                .flatten()
                .any(|p| matches!(p, Packet::Bye(_)));
            if bye {
                break;
            }
        }
        assert!(bye, "RTCP BYE after signal {signal}");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "nothing new is answered"
        );
    }
}
