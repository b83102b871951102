//! Real servers' bytes replayed: `../testdata/*.cap` were recorded by
//! `scripts/record_replies.py` from rtspd (this crate's server, debug build, `--port 0
//! --rtp-port 0` on a 24-frame 128x96 test movie from `mjpeg test --size 128x96 --seconds 1`),
//! from GStreamer 1.22's RTSP server (`scripts/gst_rtsp_server.py` on the same movie) and from
//! the classic lab server's stand-in (`tests/peers/lab_server.py`), each over UDP and, for the
//! standard servers, TCP; and rtspd's 401 (`--auth user:secret --auth-methods digest,basic`).
//! The script sends the requests this engine sends, so the engine must send them again byte for
//! byte, and every reply split at every byte must give the same events.

use super::*;
use crate::jpeg::decode_rgb;
use crate::rtp::rtcp;
use crate::rtsp::auth::{digest_response, ha1, AuthHeader};

const MAGIC: &[u8] = b"rtsp-mjpeg capture 1\n";

/// One record of a capture: a request we sent (Q), bytes read from the RTSP connection (R), an
/// RTP (P) or RTCP (C) datagram.
#[derive(Debug, Clone, Copy)]
enum Rec<'a> {
    Q(&'a [u8]),
    R(&'a [u8]),
    P(&'a [u8]),
    C(&'a [u8]),
}

fn records(cap: &[u8]) -> Vec<Rec<'_>> {
    let mut rest = cap.strip_prefix(MAGIC).expect("a capture file");
    let mut out = Vec::new();
    while let [tag, a, b, c, d, tail @ ..] = rest {
        let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        let (data, after) = tail.split_at(n);
        out.push(match tag {
            b'Q' => Rec::Q(data),
            b'R' => Rec::R(data),
            b'P' => Rec::P(data),
            b'C' => Rec::C(data),
            t => panic!("unknown record {t}"),
        });
        rest = after;
    }
    assert!(rest.is_empty(), "trailing bytes in the capture");
    out
}

const RTSPD_UDP: &[u8] = include_bytes!("../testdata/rtspd-udp.cap");
const RTSPD_TCP: &[u8] = include_bytes!("../testdata/rtspd-tcp.cap");
const GST_UDP: &[u8] = include_bytes!("../testdata/gst-udp.cap");
const GST_TCP: &[u8] = include_bytes!("../testdata/gst-tcp.cap");
const LAB_UDP: &[u8] = include_bytes!("../testdata/lab-udp.cap");
const RTSPD_401: &[u8] = include_bytes!("../testdata/rtspd-401.cap");

/// How the replay feeds the connection's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    Whole,
    /// Record `index` in two parts, cut before byte `at`.
    Split {
        index: usize,
        at: usize,
    },
    /// Every record one byte at a time.
    Bytewise,
}

/// What the engine did over a whole capture.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<EngineEvent>,
    /// RTCP it sent: datagrams, or interleaved frames.
    rtcp: Vec<Transmit>,
    counters: Counters,
}

/// The engine's configuration for a capture: its URL, and the client port its SETUP named.
fn config_for(recs: &[Rec<'_>]) -> Config {
    let requests: Vec<String> = recs
        .iter()
        .filter_map(|r| match r {
            Rec::Q(q) => Some(String::from_utf8_lossy(q).into_owned()),
            _ => None,
        })
        .collect();
    let first = requests[0].split(' ').nth(1).expect("a URI");
    let lab = !first.starts_with("rtsp://");
    let url = if lab {
        format!("rtsp://127.0.0.1:8554/{first}")
    } else {
        first.to_string()
    };
    let setup = requests.iter().find(|r| r.starts_with("SETUP"));
    let port = setup
        .and_then(|s| s.split("client_port=").nth(1))
        .map(|p| p.trim_start().split(['-', '\r', '\n']).next().unwrap_or(""))
        .and_then(|p| p.parse().ok());
    let transport = match port {
        Some(rtp_port) => MediaTransport::Udp { rtp_port },
        None => MediaTransport::Tcp,
    };
    config(&url, transport)
}

/// Everything the engine sent and said.
#[derive(Default)]
struct Sink {
    events: Vec<EngineEvent>,
    rtcp: Vec<Transmit>,
    requests: Vec<Vec<u8>>,
}

impl Sink {
    fn take(&mut self, h: &mut Harness) {
        for t in h.transmits() {
            match t {
                Transmit::Rtsp(b) if !b.starts_with(b"$") => self.requests.push(b),
                t => self.rtcp.push(t),
            }
        }
        self.events.extend(h.events());
    }

    fn expect_request(&mut self, want: &[u8]) {
        assert_eq!(self.requests.len(), 1, "one request");
        let got = self.requests.remove(0);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "the recorded request, byte for byte"
        );
    }
}

fn replay(cap: &[u8], feed: Feed) -> Outcome {
    let recs = records(cap);
    let mut h = Harness::new(config_for(&recs));
    let mut sink = Sink::default();
    for (index, rec) in recs.iter().enumerate() {
        match *rec {
            Rec::Q(q) if index == 0 && q.starts_with(b"DESCRIBE") => {
                sink.take(&mut h);
                sink.expect_request(q);
            }
            Rec::Q(q) => {
                if index == 0 {
                    // A lab capture starts at SETUP: the engine's DESCRIBE went unrecorded.
                    sink.take(&mut h);
                    let describe = sink.requests.pop().expect("DESCRIBE first");
                    assert!(describe.starts_with(b"DESCRIBE "));
                }
                // Quiet long enough for a lab reply to be whole.
                h.advance(ms(100));
                sink.take(&mut h);
                assert!(sink.requests.is_empty(), "nothing unasked for");
                let method = q.split(|&b| b == b' ').next().unwrap_or(b"");
                match method {
                    b"SETUP" if h.e.dialect() == Dialect::Unknown => {
                        // A lab server: DESCRIBE goes unanswered, SETUP follows the fallback.
                        h.command(Command::Setup);
                        h.advance(h.e.config().describe_timeout);
                    }
                    b"SETUP" => h.command(Command::Setup),
                    b"PLAY" => h.command(Command::Play),
                    b"PAUSE" => h.command(Command::Pause),
                    b"TEARDOWN" => h.command(Command::Teardown),
                    b"GET_PARAMETER" => {
                        // The keepalive, at half the session time-out (reports on the way).
                        for _ in 0..200 {
                            h.advance_to_deadline().expect("a keepalive is due");
                            sink.take(&mut h);
                            if !sink.requests.is_empty() {
                                break;
                            }
                        }
                    }
                    m => panic!("unexpected {}", String::from_utf8_lossy(m)),
                }
                sink.take(&mut h);
                sink.expect_request(q);
            }
            Rec::R(data) => {
                h.advance(ms(1));
                match feed {
                    Feed::Split { index: i, at } if i == index => {
                        h.feed(&data[..at]);
                        h.feed(&data[at..]);
                    }
                    Feed::Bytewise => data.chunks(1).for_each(|b| h.feed(b)),
                    _ => h.feed(data),
                }
            }
            Rec::P(data) => {
                h.advance(ms(1));
                h.rtp(data);
            }
            Rec::C(data) => {
                h.advance(ms(1));
                h.rtcp(data);
            }
        }
    }
    h.advance(ms(100));
    sink.take(&mut h);
    assert!(sink.requests.is_empty(), "nothing unasked for");
    Outcome {
        events: sink.events,
        rtcp: sink.rtcp,
        counters: h.e.counters().clone(),
    }
}

fn described(o: &Outcome) -> Description {
    o.events
        .iter()
        .find_map(|e| match e {
            EngineEvent::Described(d) => Some(d.clone()),
            _ => None,
        })
        .expect("described")
}

/// The checks every standard capture passes: its two frames whole and decodable at 128x96, the
/// states in order, a clean end, and receiver reports that quote the sender report.
fn check_standard(o: &Outcome, duration: Option<f64>) {
    let d = described(o);
    assert_eq!(
        (d.dialect, d.duration, d.fps),
        (Dialect::Standard, duration, Some(24.0))
    );
    assert!(d.sdp.as_deref().is_some_and(|s| s.contains("m=video")));
    assert_eq!(
        states(&o.events),
        [
            PlayerState::Ready,
            PlayerState::Playing,
            PlayerState::Paused,
            PlayerState::Closed
        ]
    );
    assert!(errors(&o.events).is_empty(), "{:?}", errors(&o.events));
    assert_eq!(o.events.last(), Some(&EngineEvent::Closed(None)));
    let f = frames(&o.events);
    assert!(f.len() >= 2, "{} frames", f.len());
    for (i, frame) in f.iter().enumerate() {
        let img = decode_rgb(&frame.jpeg).expect("decodes");
        assert_eq!((img.width, img.height), (128, 96));
        assert_eq!((frame.width, frame.height, frame.q), (128, 96, Some(255)));
        let pos = frame.position.expect("a position");
        assert!((pos - i as f64 / 24.0).abs() < 1e-3, "frame {i} at {pos}");
    }
    assert_eq!(o.counters.frames_dropped, 0);
    assert_eq!(o.counters.lost_packets, 0);
    assert!(!o.rtcp.is_empty(), "receiver reports went out");
}

/// The sender report's middle NTP bits, from the first SR in the capture.
fn first_sr_middle(cap: &[u8]) -> u32 {
    for rec in records(cap) {
        let data: Vec<u8> = match rec {
            Rec::C(d) => d.to_vec(),
            Rec::R(d) if d.len() > 4 && d[0] == b'$' && d[1] == 1 => d[4..].to_vec(),
            _ => continue,
        };
        for p in rtcp::Compound::new(&data).flatten() {
            if let rtcp::Packet::SenderReport(sr) = p {
                return sr.ntp.middle();
            }
        }
    }
    panic!("no sender report in the capture")
}

fn report_lsrs(o: &Outcome) -> Vec<u32> {
    o.rtcp
        .iter()
        .map(|t| match t {
            Transmit::Rtcp { data, .. } => &data[..],
            Transmit::Rtsp(b) => b.get(4..).unwrap_or_default(),
        })
        .flat_map(|d| rtcp::Compound::new(d).flatten().collect::<Vec<_>>())
        .filter_map(|p| match p {
            rtcp::Packet::ReceiverReport(rr) => rr.blocks.first().map(|b| b.lsr),
            _ => None,
        })
        .collect()
}

#[test]
fn rtspd_over_udp() {
    let o = replay(RTSPD_UDP, Feed::Whole);
    check_standard(&o, Some(1.0));
    assert!(report_lsrs(&o).contains(&first_sr_middle(RTSPD_UDP)));
    assert!(o
        .rtcp
        .iter()
        .all(|t| matches!(t, Transmit::Rtcp { to, .. } if to.port() != 0)));
}

#[test]
fn rtspd_over_tcp() {
    let o = replay(RTSPD_TCP, Feed::Whole);
    check_standard(&o, Some(1.0));
    assert!(report_lsrs(&o).contains(&first_sr_middle(RTSPD_TCP)));
}

#[test]
fn gstreamer_over_udp() {
    let o = replay(GST_UDP, Feed::Whole);
    check_standard(&o, None);
    assert!(report_lsrs(&o).contains(&first_sr_middle(GST_UDP)));
}

#[test]
fn gstreamer_over_tcp() {
    let o = replay(GST_TCP, Feed::Whole);
    check_standard(&o, None);
}

#[test]
fn lab_server() {
    let o = replay(LAB_UDP, Feed::Whole);
    let d = described(&o);
    assert_eq!((d.dialect, d.duration), (Dialect::Lab, None));
    assert_eq!(
        states(&o.events),
        [
            PlayerState::Ready,
            PlayerState::Playing,
            PlayerState::Paused,
            PlayerState::Closed
        ]
    );
    let f = frames(&o.events);
    assert_eq!(f.len(), 2);
    for frame in &f {
        assert_eq!(frame.q, None, "whole JPEGs, no RFC 2435 header");
        assert_eq!(
            decode_rgb(&frame.jpeg).map(|i| (i.width, i.height)),
            Ok((128, 96))
        );
    }
    assert!(o.rtcp.is_empty(), "no RTCP to a lab server");
    assert_eq!(o.events.last(), Some(&EngineEvent::Closed(None)));
}

#[test]
fn every_reply_split_at_every_byte_gives_the_same_events() {
    for (name, cap) in [
        ("rtspd-udp", RTSPD_UDP),
        ("rtspd-tcp", RTSPD_TCP),
        ("gst-udp", GST_UDP),
        ("gst-tcp", GST_TCP),
        ("lab-udp", LAB_UDP),
    ] {
        let whole = replay(cap, Feed::Whole);
        assert_eq!(replay(cap, Feed::Bytewise), whole, "{name} byte by byte");
        for (index, rec) in records(cap).iter().enumerate() {
            let Rec::R(data) = rec else { continue };
            for at in 1..data.len() {
                let split = replay(cap, Feed::Split { index, at });
                assert!(split == whole, "{name}: record {index} split at {at}");
            }
        }
    }
}

#[test]
fn rtspds_challenge_gets_a_digest_answer() {
    let recs = records(RTSPD_401);
    let [Rec::Q(_), Rec::R(reply)] = recs[..] else {
        panic!("{recs:?}")
    };
    let mut h = Harness::new(config(
        "rtsp://user:secret@127.0.0.1:38473/movie.Mjpeg",
        udp(),
    ));
    h.request();
    h.feed(reply);
    let again = h.request();
    let a = AuthHeader::parse(again.headers.get("Authorization").unwrap()).unwrap();
    assert!(a.is("digest"), "Digest chosen over the Basic also offered");
    let text = String::from_utf8_lossy(reply);
    let nonce = text
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let (nc, cnonce) = (a.get("nc").unwrap(), a.get("cnonce").unwrap());
    let want = digest_response(
        &ha1("user", "rtspd", "secret"),
        nonce,
        "DESCRIBE",
        &again.uri,
        Some((nc, cnonce)),
    );
    assert_eq!(a.get("response"), Some(want.as_str()));
}
