//! RTP and RTCP on virtual time: loss, duplication and reordering; receiver reports (when,
//! and what they say); interleaved media; BYE; what is not ours.

use super::*;
use crate::jpeg::decode_rgb;
use crate::rtp::jpeg::packetize;
use crate::rtp::packet::RtpHeader;
use crate::rtp::rtcp::{self, NtpTimestamp, Packet, ReportBlock};

pub(super) const SSRC: u32 = 0xC0FF_EE00;

pub(super) fn jpeg() -> Vec<u8> {
    crate::jpeg::tests::encode(64, 48, jpeg_encoder::SamplingFactor::F_2_2, None)
}

pub(super) fn packet(seq: u16, ts: u32, marker: bool, pt: u8, payload: &[u8]) -> Vec<u8> {
    let header = RtpHeader {
        marker,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: SSRC,
    };
    let mut p = header.to_bytes().to_vec();
    p.extend_from_slice(payload);
    p
}

/// A frame's RTP packets, small enough that it takes several.
pub(super) fn frame_packets(jpeg: &[u8], seq0: u16, ts: u32) -> Vec<Vec<u8>> {
    let payloads = packetize(jpeg, 300).expect("the test JPEG is carriable");
    let n = payloads.len();
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| packet(seq0.wrapping_add(i as u16), ts, i + 1 == n, 26, p))
        .collect()
}

/// Three frames, 1/24 s apart, sequence numbers running on from 65530 (across the wrap).
fn three_frames() -> (Vec<u8>, Vec<Vec<Vec<u8>>>) {
    let j = jpeg();
    let mut seq = 65530u16;
    let frames = (0..3u32)
        .map(|i| {
            let f = frame_packets(&j, seq, i * 3750);
            seq = seq.wrapping_add(f.len() as u16);
            f
        })
        .collect::<Vec<_>>();
    assert!(frames[0].len() >= 3, "several packets per frame");
    (j, frames)
}

pub(super) fn reports(t: &[Transmit]) -> Vec<ReportBlock> {
    t.iter()
        .filter_map(|t| match t {
            Transmit::Rtcp { data, .. } => Some(&data[..]),
            Transmit::Rtsp(b) if b.starts_with(b"$") => Some(&b[4..]),
            _ => None,
        })
        .flat_map(|d| rtcp::Compound::new(d).flatten().collect::<Vec<_>>())
        .filter_map(|p| match p {
            Packet::ReceiverReport(rr) => {
                assert_eq!(rr.ssrc, 0x5EED_0001, "our SSRC");
                rr.blocks.first().copied()
            }
            _ => None,
        })
        .collect()
}

#[test]
fn reordered_packets_within_the_window_make_whole_frames() {
    let mut h = Harness::standard(udp());
    h.playing();
    let (j, mut f) = three_frames();
    f[1].swap(0, 2);
    f[2].reverse();
    for p in f.iter().flatten() {
        h.rtp(p);
    }
    let got = frames(&h.events());
    assert_eq!(
        got.iter().map(|f| f.timestamp).collect::<Vec<_>>(),
        [0, 3750, 7500]
    );
    let want = decode_rgb(&j).unwrap().pixels;
    assert!(got
        .iter()
        .all(|f| decode_rgb(&f.jpeg).unwrap().pixels == want));
    let c = h.e.counters();
    assert_eq!((c.frames, c.frames_dropped, c.lost_packets), (3, 0, 0));
    assert_eq!(
        h.e.poll_timeout(),
        Some(h.now + Duration::from_secs(1)),
        "only the RR is due"
    );
}

#[test]
fn a_frame_that_lost_a_packet_is_dropped_and_counted() {
    let mut h = Harness::standard(udp());
    h.playing();
    let (_, mut f) = three_frames();
    let lost = f[1].remove(1);
    for p in f.iter().flatten() {
        h.rtp(p);
    }
    assert_eq!(frames(&h.events()).len(), 1, "frame 2 waits behind the gap");
    // The reorder buffer gives the gap 40 ms, then lets the rest through.
    assert_eq!(h.e.poll_timeout(), Some(h.now + ms(40)));
    h.advance_to_deadline();
    let got = frames(&h.events());
    assert_eq!(got.iter().map(|f| f.timestamp).collect::<Vec<_>>(), [7500]);
    let c = h.e.counters().clone();
    assert_eq!((c.frames, c.frames_dropped, c.lost_packets), (2, 1, 1));
    // The missing packet, too late now, is not a frame's worth of anything.
    h.rtp(&lost);
    assert_eq!(h.e.counters().late_packets, 1);
    assert!(frames(&h.events()).is_empty());
}

#[test]
fn duplicates_are_ignored() {
    let mut h = Harness::standard(udp());
    h.playing();
    let (_, f) = three_frames();
    for p in f.iter().flatten() {
        h.rtp(p);
        if p == &f[1][1] {
            h.rtp(p);
        }
    }
    h.rtp(&f[0][0]);
    assert_eq!(frames(&h.events()).len(), 3);
    let c = h.e.counters();
    assert_eq!((c.frames, c.frames_dropped, c.late_packets), (3, 0, 2));
    // RFC 3550 A.3: duplicates count as received, so "lost" can go below zero.
    assert_eq!(c.lost_packets, -2);
}

#[test]
fn frames_carry_position_quality_and_arrival() {
    let mut h = Harness::standard(udp());
    h.playing();
    let j = jpeg();
    h.advance(ms(5));
    for p in frame_packets(&j, 1, 90_000) {
        h.rtp(&p);
    }
    let f = &frames(&h.events())[0];
    assert_eq!(
        f.position,
        Some(1.0),
        "rtptime 0 is npt 0; 90 000 ticks later is 1 s"
    );
    assert_eq!((f.width, f.height, f.completed), (64, 48, t0() + ms(5)));
    assert!(f.q.is_some(), "RFC 2435 frames carry a Q");
}

#[test]
fn receiver_reports_every_second_with_loss_jitter_lsr_and_dlsr() {
    let mut h = Harness::standard(udp());
    h.playing();
    // 25 packets a second, 3600 ticks apart. Odd packets arrive 10 ms (900 ticks) late, so the
    // transit time alternates and |D| is 900 after the first packet. Lost: 5 and 6 in the first
    // second, 30-32 in the second.
    let lost = [5u32, 6, 30, 31, 32];
    let seq0 = 1000u16;
    let sr_ntp = NtpTimestamp(0x0001_2345_6789_ABCD);
    let mut arrivals = Vec::new();
    for i in 0..50u32 {
        if !lost.contains(&i) {
            let late = if i % 2 == 1 { 10 } else { 0 };
            arrivals.push((u64::from(i) * 40 + late, i));
        }
    }
    let mut sent = Vec::new();
    let mut jitter = 0.0f64;
    let mut last_transit: Option<i64> = None;
    let mut expect_jitter = Vec::new();
    let mut sr_fed = false;
    for (at, i) in arrivals {
        let when = t0() + ms(at);
        // Timers first, at their own times, as a driver would run them.
        while let Some(d) = h.e.poll_timeout().filter(|d| *d <= when) {
            h.now = d;
            h.e.handle_timeout(d);
            let r = reports(&h.transmits());
            if !r.is_empty() {
                sent.push((d, r[0]));
                expect_jitter.push(jitter);
            }
        }
        h.now = when;
        if !sr_fed && at >= 500 {
            sr_fed = true;
            let mut sr = Vec::new();
            rtcp::SenderReport {
                ssrc: SSRC,
                ntp: sr_ntp,
                rtp_timestamp: 0,
                packet_count: 0,
                octet_count: 0,
                blocks: vec![],
            }
            .write(&mut sr);
            h.now = t0() + ms(500);
            h.rtcp(&sr);
            h.now = when;
        }
        let ts = i * 3600;
        h.rtp(&packet(
            seq0.wrapping_add(i as u16),
            ts,
            true,
            26,
            b"not RFC 2435",
        ));
        // RFC 3550 A.8 in floating point, arrival in 90 kHz ticks from the engine's start.
        let arrival = ((when - t0()).as_secs_f64() * 90_000.0) as i64;
        let transit = arrival - i64::from(ts);
        if let Some(l) = last_transit {
            jitter += ((transit - l).abs() as f64 - jitter) / 16.0;
        }
        last_transit = Some(transit);
    }
    let times: Vec<Duration> = sent.iter().map(|(t, _)| *t - t0()).collect();
    assert_eq!(times, [Duration::from_secs(1)], "one report per second");
    let (_, first) = sent[0];
    assert_eq!(first.ssrc, SSRC);
    // Packets 0-24 were expected by 1 s, 23 came: 2 lost, 2/25 of 256 = 20.
    assert_eq!((first.fraction_lost, first.cumulative_lost), (20, 2));
    assert_eq!(first.highest_seq, u32::from(seq0) + 24);
    assert!(
        (f64::from(first.jitter) - expect_jitter[0]).abs() <= 1.0,
        "jitter {} vs {}",
        first.jitter,
        expect_jitter[0]
    );
    assert_eq!(first.lsr, sr_ntp.middle());
    assert_eq!(first.dlsr, 32_768, "0.5 s in 1/65536 s");
    // The second second: 25 more expected, 3 lost: 3/25 of 256 = 30.
    h.advance_to_deadline();
    let r = reports(&h.transmits());
    assert_eq!(h.now - t0(), Duration::from_secs(2));
    assert_eq!((r[0].fraction_lost, r[0].cumulative_lost), (30, 5));
    assert_eq!(r[0].highest_seq, u32::from(seq0) + 49);
    assert!(
        (f64::from(r[0].jitter) - jitter).abs() <= 1.0,
        "{} vs {jitter}",
        r[0].jitter
    );
    assert!(
        (800.0..900.0).contains(&jitter),
        "converging on 900: {jitter}"
    );
    assert_eq!(r[0].dlsr, 65_536 * 3 / 2);
    assert_eq!(h.e.counters().reports_sent, 2);
}

#[test]
fn reports_go_to_the_servers_rtcp_port_with_our_cname_at_the_set_interval() {
    let mut c = config(URL, udp());
    c.report_interval = Duration::from_secs(5);
    let mut h = Harness::new(c);
    h.playing();
    let keepalive = Some(t0() + Duration::from_secs(30));
    assert_eq!(
        h.e.poll_timeout(),
        keepalive,
        "no report before a packet comes"
    );
    h.rtp(&packet(1, 0, true, 26, b"x"));
    assert_eq!(h.e.poll_timeout(), Some(t0() + Duration::from_secs(5)));
    h.advance_to_deadline();
    let t = h.transmits();
    let [Transmit::Rtcp { to, data }] = &t[..] else {
        panic!("{t:?}")
    };
    assert_eq!(*to, SocketAddr::new(SERVER_IP, 6971));
    let packets: Vec<Packet> = rtcp::Compound::new(data).flatten().collect();
    assert!(
        matches!(&packets[1], Packet::Sdes(s) if s.chunks == [(0x5EED_0001, "rtsp-sdl".to_string())])
    );
    assert_eq!(h.e.poll_timeout(), Some(t0() + Duration::from_secs(10)));
}

#[test]
fn interleaved_rtp_rtcp_and_replies_share_the_connection() {
    let mut h = Harness::standard(MediaTransport::Tcp);
    h.playing();
    let j = jpeg();
    let mut stream = Vec::new();
    let frame = |seq0, ts| frame_packets(&j, seq0, ts);
    let push = |stream: &mut Vec<u8>, ch: u8, d: &[u8]| {
        stream.extend_from_slice(&[b'$', ch]);
        stream.extend_from_slice(&(d.len() as u16).to_be_bytes());
        stream.extend_from_slice(d);
    };
    let f0 = frame(10, 0);
    for p in &f0 {
        push(&mut stream, 0, p);
    }
    let mut sr = Vec::new();
    rtcp::SenderReport {
        ssrc: SSRC,
        ntp: NtpTimestamp(0xAAAA_BBBB_CCCC_DDDD),
        rtp_timestamp: 0,
        packet_count: 1,
        octet_count: 1,
        blocks: vec![],
    }
    .write(&mut sr);
    push(&mut stream, 1, &sr);
    h.command(Command::Pause);
    h.request();
    stream.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: 42\r\n\r\n");
    // After PAUSE, stragglers are counted but not shown.
    for p in &frame(10 + f0.len() as u16, 3750) {
        push(&mut stream, 0, p);
    }
    for chunk in stream.chunks(7) {
        h.feed(chunk);
    }
    let ev = h.events();
    assert_eq!(frames(&ev).len(), 1);
    assert_eq!(states(&ev), [PlayerState::Paused]);
    assert_eq!(h.e.counters().packets as usize, 2 * f0.len());
    h.advance(Duration::from_secs(1));
    let t = h.transmits();
    assert!(
        matches!(&t[..], [Transmit::Rtsp(b)] if b.starts_with(&[b'$', 1])),
        "the RR goes interleaved on the RTCP channel: {t:?}"
    );
    assert_eq!(
        reports(&t)[0].lsr,
        NtpTimestamp(0xAAAA_BBBB_CCCC_DDDD).middle()
    );
}

#[test]
fn bye_from_the_sender_pauses_and_ends_reports() {
    let mut h = Harness::standard(udp());
    h.playing();
    h.rtp(&packet(1, 0, true, 26, b"x"));
    let bye = |ssrc| {
        let mut b = Vec::new();
        rtcp::Bye {
            ssrcs: vec![ssrc],
            reason: Some("end".into()),
        }
        .write(&mut b);
        b
    };
    h.rtcp(&bye(0x1234));
    assert_eq!(h.e.state(), PlayerState::Playing, "not our sender's BYE");
    assert!(h.e.poll_timeout().is_some());
    h.rtcp(&bye(SSRC));
    assert_eq!(
        h.events(),
        [
            EngineEvent::State(PlayerState::Paused),
            EngineEvent::Bye(Some("end".into()))
        ],
        "the state, then the end of the stream for a play queue"
    );
    let keepalive = Some(t0() + Duration::from_secs(30));
    assert_eq!(
        h.e.poll_timeout(),
        keepalive,
        "no reports about a source that left"
    );
}

#[test]
fn strangers_and_other_payload_types() {
    let mut h = Harness::standard(udp());
    h.playing();
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 6970);
    let j = jpeg();
    for p in frame_packets(&j, 1, 0) {
        h.e.handle_rtp_datagram(stranger, &p, h.now);
        h.e.handle_rtcp_datagram(stranger, &p, h.now);
    }
    assert!(
        frames(&h.events()).is_empty(),
        "frames only from the server"
    );
    let n = h.e.counters().foreign_packets;
    assert!(n >= 6, "{n}");
    let opus = packet(7, 960, false, 111, b"opus?");
    h.rtp(&opus);
    h.rtp(b"\x80");
    assert_eq!(
        h.events(),
        [EngineEvent::Rtp {
            payload_type: 111,
            packet: opus
        }]
    );
    let c = h.e.counters();
    assert_eq!((c.packets, c.other_payloads), (1, 1));
}
