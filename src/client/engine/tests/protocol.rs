//! RTSP on scripted replies: requests and their headers, authentication, the lab fallback,
//! keepalives, time-outs, hostile bytes.

use super::*;
use crate::rtsp::auth::{basic_authorization, digest_response, ha1, AuthHeader};

#[test]
fn requests_carry_cseq_session_transport_range_and_bandwidth() {
    let mut c = config(URL, udp());
    c.bandwidth = Some(2_000_000);
    let mut h = Harness::new(c);
    let describe = h.request();
    assert_eq!(
        (describe.method.clone(), describe.uri.as_str()),
        (Method::Describe, URL)
    );
    assert_eq!(cseq(&describe), 1);
    assert_eq!(describe.headers.get("Accept"), Some("application/sdp"));
    assert_eq!(h.e.poll_timeout(), Some(t0() + Duration::from_secs(2)));
    h.command(Command::Setup);
    assert!(h.requests().is_empty(), "SETUP waits for the dialect");
    let sdp =
        "v=0\r\ns=x\r\nt=0 0\r\na=range:npt=0-12.5\r\nm=video 0 RTP/AVP 26\r\na=control:track1\r\n";
    h.feed(
        format!(
            "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .as_bytes(),
    );
    let ev = h.events();
    let EngineEvent::Described(d) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!((d.dialect, d.duration), (Dialect::Standard, Some(12.5)));
    assert_eq!(d.control, format!("{URL}/track1"));
    let setup = h.request();
    assert_eq!((setup.uri.as_str(), cseq(&setup)), (d.control.as_str(), 2));
    assert_eq!(
        setup.headers.get("Transport"),
        Some("RTP/AVP;unicast;client_port=5000-5001")
    );
    assert_eq!(setup.headers.get("Bandwidth"), Some("2000000"));
    assert_eq!(setup.headers.get("Session"), None);
    h.ok(2, "Session: ABC;timeout=30\r\nTransport: RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971\r\n");
    assert_eq!(h.e.session_id(), Some("ABC"));
    h.command(Command::Seek(3.25));
    let play = h.request();
    assert_eq!((play.method.clone(), cseq(&play)), (Method::Play, 3));
    assert_eq!(play.headers.get("Range"), Some("npt=3.250-"));
    assert_eq!(play.headers.get("Session"), Some("ABC"));
    assert_eq!(play.headers.get("Bandwidth"), Some("2000000"));
    h.ok(3, "Session: ABC\r\nRange: npt=3.25-12.5\r\n");
    h.command(Command::Pause);
    let pause = h.request();
    assert_eq!(pause.headers.get("Bandwidth"), None, "only SETUP and PLAY");
    h.ok(4, "Session: ABC\r\n");
    h.command(Command::Teardown);
    assert_eq!(h.request().method, Method::Teardown);
    h.ok(5, "Session: ABC\r\n");
    let ev = h.events();
    assert_eq!(
        states(&ev),
        [
            PlayerState::Ready,
            PlayerState::Playing,
            PlayerState::Paused,
            PlayerState::Closed
        ]
    );
    assert_eq!(ev.last(), Some(&EngineEvent::Closed(None)));
    assert!(h.e.is_closed());
    assert_eq!(h.e.poll_timeout(), None);
}

#[test]
fn commands_out_of_state_are_dropped_and_tcp_asks_for_interleaving() {
    let mut h = Harness::standard(MediaTransport::Tcp);
    h.described();
    h.command(Command::Play);
    h.command(Command::Pause);
    assert!(h.requests().is_empty(), "no PLAY or PAUSE before SETUP");
    h.command(Command::Setup);
    let setup = h.request();
    assert_eq!(
        setup.headers.get("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=0-1")
    );
    assert_eq!(setup.headers.get("Bandwidth"), None, "not asked for");
}

#[test]
fn digest_with_qop_counts_nonces_and_echoes_opaque() {
    let mut h = Harness::new(config("rtsp://me:pw@127.0.0.1:8554/movie.Mjpeg", udp()));
    h.request();
    h.feed(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic realm=\"r\"\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", qop=\"auth-int,auth\", opaque=\"op\"\r\n\r\n");
    let again = h.request();
    assert_eq!((again.method.clone(), cseq(&again)), (Method::Describe, 2));
    let check = |req: &Request, nc: &str| {
        let value = req.headers.get("Authorization").expect("Authorization");
        let a = AuthHeader::parse(value).expect("parses");
        assert!(a.is("digest"), "Digest is preferred to Basic: {value}");
        assert_eq!(a.get("uri"), Some(req.uri.as_str()));
        assert_eq!(
            (a.get("nc"), a.get("qop"), a.get("opaque")),
            (Some(nc), Some("auth"), Some("op"))
        );
        let cnonce = a.get("cnonce").expect("cnonce");
        let want = digest_response(
            &ha1("me", "r", "pw"),
            "n1",
            req.method.as_str(),
            &req.uri,
            Some((nc, cnonce)),
        );
        assert_eq!(a.get("response"), Some(want.as_str()));
        cnonce.to_string()
    };
    let c1 = check(&again, "00000001");
    h.described_reply(2);
    h.command(Command::Setup);
    let setup = h.request();
    let c2 = check(&setup, "00000002");
    assert_ne!(c1, c2, "a fresh cnonce each time");
    assert!(errors(&h.events()).is_empty());
}

#[test]
fn digest_without_qop_and_stale_nonces() {
    let mut h = Harness::new(config("rtsp://me:pw@127.0.0.1:8554/movie.Mjpeg", udp()));
    h.request();
    let challenge = |nonce: &str, stale: bool| {
        let stale = if stale { ", stale=TRUE" } else { "" };
        format!("WWW-Authenticate: Digest realm=\"rtspd\", nonce=\"{nonce}\"{stale}\r\n")
    };
    // Nonces expire while the credentials stay good: stale=TRUE is never a wrong password.
    for (i, nonce) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let cseq = i as u32 + 1;
        let reply = format!(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n{}\r\n",
            challenge(nonce, i > 0)
        );
        h.feed(reply.as_bytes());
        let req = h.request();
        let a = AuthHeader::parse(req.headers.get("Authorization").unwrap()).unwrap();
        assert_eq!(a.get("nonce"), Some(*nonce));
        assert_eq!((a.get("qop"), a.get("nc")), (None, None));
        let want = digest_response(&ha1("me", "rtspd", "pw"), nonce, "DESCRIBE", URL, None);
        assert_eq!(a.get("response"), Some(want.as_str()));
    }
    assert!(errors(&h.events()).is_empty());
    // Refused twice more without stale: the password is wrong, and the user is told.
    for cseq in 6..=7 {
        let reply = format!(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n{}\r\n",
            challenge("f", false)
        );
        h.feed(reply.as_bytes());
    }
    assert_eq!(h.requests().len(), 1, "one more try, then no more");
    let errs = errors(&h.events());
    assert!(
        errs.iter()
            .any(|e| e.contains("refused the user name or password")),
        "{errs:?}"
    );
}

#[test]
fn basic_and_no_credentials() {
    let mut h = Harness::new(config("rtsp://me:pw@127.0.0.1:8554/movie.Mjpeg", udp()));
    h.request();
    h.feed(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic realm=\"r\"\r\n\r\n");
    let req = h.request();
    assert_eq!(
        req.headers.get("Authorization"),
        Some(basic_authorization("me", "pw").as_str())
    );
    let mut h = Harness::standard(udp());
    h.request();
    h.feed(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic realm=\"r\"\r\n\r\n");
    assert!(h.requests().is_empty());
    let errs = errors(&h.events());
    assert!(
        errs[0].contains("wants a user name and password"),
        "{errs:?}"
    );
    let mut h = Harness::new(config("rtsp://me:pw@127.0.0.1:8554/movie.Mjpeg", udp()));
    h.request();
    h.feed(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Negotiate\r\n\r\n");
    let errs = errors(&h.events());
    assert!(errs[0].contains("scheme we do not speak"), "{errs:?}");
}

#[test]
fn lab_fallback_when_describe_goes_unanswered() {
    let mut c = config(
        "rtsp://127.0.0.1:8554/movie.Mjpeg",
        MediaTransport::Udp { rtp_port: 25000 },
    );
    c.describe_timeout = ms(500);
    let mut h = Harness::new(c);
    h.request();
    h.command(Command::Setup);
    h.command(Command::Play);
    h.advance(ms(499));
    assert!(h.requests().is_empty() && h.events().is_empty());
    h.advance(ms(1));
    let ev = h.events();
    assert!(
        matches!(&ev[0], EngineEvent::Described(d) if d.dialect == Dialect::Lab),
        "{ev:?}"
    );
    assert_eq!(h.e.dialect(), Dialect::Lab);
    // Byte for byte what Client.py sends.
    let sent = h.transmits();
    assert_eq!(
        sent,
        [Transmit::Rtsp(
            b"SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 25000".to_vec()
        )]
    );
    // The lab reply: LF, no blank line. Whole only once the connection is quiet.
    h.feed(b"RTSP/1.0 200 OK\nCSeq: 1\nSession: 123456");
    h.advance(ms(49));
    assert_eq!(h.e.state(), PlayerState::Init);
    assert_eq!(h.e.poll_timeout(), Some(h.now + ms(1)));
    h.advance(ms(1));
    assert_eq!(h.e.state(), PlayerState::Ready);
    assert_eq!(
        h.transmits(),
        [Transmit::Rtsp(
            b"PLAY movie.Mjpeg RTSP/1.0\nCSeq: 2\nSession: 123456".to_vec()
        )]
    );
    h.feed(b"RTSP/1.0 200 OK\nCSeq: 2\nSession: 123456");
    h.advance(ms(50));
    assert_eq!(h.e.state(), PlayerState::Playing);
    h.command(Command::Seek(5.0));
    assert!(h.transmits().is_empty(), "no seeking on a lab server");
    assert_eq!(
        h.e.poll_timeout(),
        None,
        "no keepalives or reports for a lab server"
    );
}

#[test]
fn lab_fallback_on_501_405_and_400_but_not_404() {
    for status in [
        "501 Not Implemented",
        "405 Method Not Allowed",
        "400 Bad Request",
    ] {
        let mut h = Harness::standard(udp());
        h.request();
        h.feed(format!("RTSP/1.0 {status}\r\nCSeq: 1\r\n\r\n").as_bytes());
        assert_eq!(h.e.dialect(), Dialect::Lab, "{status}");
        h.command(Command::Setup);
        let t = h.transmits();
        assert!(
            matches!(&t[..], [Transmit::Rtsp(b)] if b.starts_with(b"SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\n")),
            "{t:?}"
        );
    }
    let mut h = Harness::standard(udp());
    h.request();
    // Autoplay asks for SETUP before DESCRIBE is answered: a refusal cancels it.
    h.command(Command::Setup);
    h.feed(b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n");
    assert_eq!(h.e.dialect(), Dialect::Standard);
    assert_eq!(errors(&h.events()), ["DESCRIBE refused: 404 Not Found"]);
    let t = h.transmits();
    assert!(t.is_empty(), "nothing after a refused DESCRIBE: {t:?}");
}

#[test]
fn a_standard_reply_cut_short_waits_for_the_rest() {
    let mut h = Harness::standard(udp());
    h.described();
    h.command(Command::Setup);
    h.request();
    h.feed(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nSession: 9");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.e.state(), PlayerState::Init, "not taken as a lab reply");
    h.feed(b"9;timeout=60\r\n\r\n");
    assert_eq!(
        (h.e.state(), h.e.session_id()),
        (PlayerState::Ready, Some("99"))
    );
}

#[test]
fn junk_from_a_lab_server_does_not_keep_the_timer_firing() {
    let mut h = Harness::standard(udp());
    h.request();
    h.feed(b"RTSP/1.0 501 Not Implemented\r\nCSeq: 1\r\n\r\n");
    h.command(Command::Setup);
    h.transmits();
    h.feed(b"half a line");
    assert_eq!(h.e.poll_timeout(), Some(h.now + ms(50)));
    h.advance_to_deadline();
    assert_eq!(
        h.e.poll_timeout(),
        Some(h.now - ms(50) + Duration::from_secs(10)),
        "the SETUP's"
    );
    // While the dialect is unknown, a reply with a Content-Length is a standard one: it waits.
    let mut h = Harness::standard(udp());
    h.request();
    h.feed(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 10\r\nContent-Ty");
    assert_eq!(h.e.poll_timeout(), Some(t0() + Duration::from_secs(2)));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.e.dialect(), Dialect::Unknown);
}

#[test]
fn keepalive_at_half_the_timeout_falls_back_to_options() {
    let mut h = Harness::standard(udp());
    h.described();
    h.command(Command::Setup);
    h.request();
    h.ok(2, "Session: 7;timeout=20\r\n");
    let set_up = h.now;
    assert_eq!(h.e.poll_timeout(), Some(set_up + Duration::from_secs(10)));
    h.advance(ms(9_999));
    assert!(h.requests().is_empty());
    h.advance(ms(1));
    let k = h.request();
    assert_eq!((k.method.clone(), cseq(&k)), (Method::GetParameter, 3));
    assert_eq!(k.headers.get("Session"), Some("7"));
    h.feed(b"RTSP/1.0 501 Not Implemented\r\nCSeq: 3\r\n\r\n");
    let k = h.request();
    assert_eq!(
        (k.method.clone(), cseq(&k)),
        (Method::Options, 4),
        "at once"
    );
    h.ok(4, "");
    assert_eq!(h.e.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    // Any request naming the session keeps it alive: PLAY moves the next keepalive.
    h.advance(Duration::from_secs(4));
    h.command(Command::Play);
    h.request();
    h.ok(5, "Session: 7\r\n");
    assert_eq!(h.e.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    h.advance(Duration::from_secs(10));
    assert_eq!(h.request().method, Method::Options, "OPTIONS from then on");
    // A keepalive nobody answers is logged, not shown; the next one still goes.
    h.advance(Duration::from_secs(10));
    assert!(errors(&h.events()).is_empty());
    assert_eq!(h.request().method, Method::Options);
}

#[test]
fn a_request_without_an_answer_is_reported_and_the_next_goes() {
    let mut h = Harness::standard(udp());
    h.described();
    h.command(Command::Setup);
    h.request();
    assert_eq!(h.e.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    h.advance_to_deadline();
    assert_eq!(errors(&h.events()), ["no answer to SETUP within 10 s"]);
    assert_eq!(h.e.state(), PlayerState::Init);
    h.command(Command::Setup);
    assert_eq!(cseq(&h.request()), 3);
    // A late answer to the old CSeq is not taken for the new request.
    h.ok(2, "Session: 1\r\n");
    assert_eq!(h.e.state(), PlayerState::Init);
    h.ok(3, "Session: 1\r\n");
    assert_eq!(h.e.state(), PlayerState::Ready);
}

#[test]
fn close_tears_down_and_gives_up_after_the_teardown_timeout() {
    let mut h = Harness::standard(udp());
    h.playing();
    h.e.close(h.now);
    let t = h.request();
    assert_eq!(t.method, Method::Teardown);
    h.command(Command::Play);
    assert!(h.requests().is_empty(), "nothing after closing");
    assert_eq!(h.e.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.advance_to_deadline();
    assert_eq!(
        h.events(),
        [
            EngineEvent::State(PlayerState::Closed),
            EngineEvent::Closed(None)
        ]
    );
    // A server that hangs up instead of answering TEARDOWN did what was asked: no error.
    let mut h = Harness::standard(udp());
    h.playing();
    h.e.close(h.now);
    h.e.handle_rtsp_closed(h.now);
    assert_eq!(h.events().last(), Some(&EngineEvent::Closed(None)));
    // Closing with nothing set up closes at once.
    let mut h = Harness::standard(udp());
    h.e.close(h.now);
    assert!(h.e.is_closed());
    // Closing while a request is in flight: TEARDOWN after it, waiting no longer than allowed.
    let mut h = Harness::standard(udp());
    h.described();
    h.command(Command::Setup);
    h.request();
    h.ok(2, "Session: 5\r\n");
    h.command(Command::Play);
    h.request();
    h.e.close(h.now);
    assert_eq!(h.e.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.advance_to_deadline();
    assert_eq!(h.request().method, Method::Teardown);
    h.ok(4, "");
    assert!(h.e.is_closed());
}

#[test]
fn the_server_closing_or_babbling_ends_the_engine_with_one_line() {
    let mut h = Harness::standard(udp());
    h.described();
    h.e.handle_rtsp_closed(h.now);
    let ev = h.events();
    assert_eq!(
        ev.last(),
        Some(&EngineEvent::Closed(Some(
            "the server closed the connection".into()
        )))
    );
    let mut h = Harness::standard(udp());
    h.feed(b"HTTP/1.1 200 OK\r\n\r\n");
    let ev = h.events();
    let Some(EngineEvent::Closed(Some(reason))) = ev.last() else {
        panic!("{ev:?}")
    };
    assert!(reason.starts_with("bad message from the server") && !reason.contains('\n'));
    let mut h = Harness::standard(udp());
    h.feed(&vec![b'$'; 300 * 1024]);
    assert!(h.e.is_closed(), "256 KiB of unparsed input is the limit");
    // A server's request gets 501 with its CSeq.
    let mut h = Harness::standard(udp());
    h.request();
    h.feed(b"OPTIONS * RTSP/1.0\r\nCSeq: 99\r\n\r\n");
    assert_eq!(
        h.transmits(),
        [Transmit::Rtsp(
            b"RTSP/1.0 501 Not Implemented\r\nCSeq: 99\r\n\r\n".to_vec()
        )]
    );
}

#[test]
fn hostile_session_and_range_values_do_not_panic() {
    let mut h = Harness::standard(udp());
    h.described();
    h.command(Command::Setup);
    h.request();
    h.ok(2, "Session: 1;timeout=18446744073709551615\r\n");
    assert_eq!(
        h.e.poll_timeout(),
        Some(h.now + Duration::from_secs(43_200))
    );
    h.command(Command::Seek(f64::NAN));
    assert_eq!(h.request().headers.get("Range"), Some("npt=0.000-"));
    h.ok(
        3,
        "Range: npt=1e308-\r\nRTP-Info: url=x;rtptime=4294967295\r\n",
    );
    assert_eq!(h.e.state(), PlayerState::Playing);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Whatever the server sends, the engine answers with events, never a panic.
    #[test]
    fn arbitrary_server_bytes_never_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..8),
        prefix in proptest::sample::select(vec![&b""[..], b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n", b"$\x00\x00\x10", b"RTSP/1.0 401 x\r\nCSeq: 1\r\nWWW-Authenticate: Digest "]),
    ) {
        for transport in [udp(), MediaTransport::Tcp] {
            let mut h = Harness::new(config("rtsp://u:p@127.0.0.1:8554/m", transport));
            h.command(Command::Setup);
            h.command(Command::Play);
            h.feed(prefix);
            for c in &chunks {
                h.feed(c);
                h.rtp(c);
                h.rtcp(c);
                h.advance(ms(30));
                // Whatever was due has run: no deadline in the past (a driver would spin).
                if let Some(t) = h.e.poll_timeout() {
                    proptest::prop_assert!(t > h.now);
                }
                h.advance(ms(30));
            }
            h.e.handle_rtsp_closed(h.now);
            h.events();
            h.transmits();
        }
    }
}

impl Harness {
    /// DESCRIBE's reply, for a DESCRIBE sent as `cseq`.
    pub fn described_reply(&mut self, cseq: u32) {
        let sdp = "v=0\r\ns=m\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\n";
        let reply = format!(
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.feed(reply.as_bytes());
    }
}
