//! Multicast (issue 16) on virtual time: SETUP asks for a group without ports, the reply's
//! `destination`, `port` and `ttl` become the group the driver joins before Ready, RTP counts only
//! from the server, and receiver reports go to the server's RTCP port or else the group's.

use super::media::{frame_packets, jpeg, packet, reports};
use super::*;

const GROUP: &str = "239.255.42.1";

/// GStreamer's RTSP server's reply (with a multicast address pool), as it sent it: no
/// server_port, `mode` quoted.
const GST_REPLY: &str = "Transport: RTP/AVP;multicast;destination=239.255.42.1;ttl=1;port=5000-5001;mode=\"PLAY\"\r\nSession: -KyKit+wda52haWc\r\n";

fn set_up(reply: &str) -> (Harness, Vec<EngineEvent>) {
    let mut h = Harness::standard(MediaTransport::Multicast);
    h.described();
    h.events();
    h.command(Command::Setup);
    let setup = h.request();
    assert_eq!(setup.method, Method::Setup);
    assert_eq!(
        setup.headers.get("Transport"),
        Some("RTP/AVP;multicast"),
        "no client_port: the server assigns the group's"
    );
    h.ok(2, reply);
    let events = h.events();
    (h, events)
}

fn group(rtp_port: u16, rtcp_port: u16, ttl: Option<u8>) -> MulticastGroup {
    MulticastGroup {
        group: GROUP.parse().unwrap(),
        rtp_port,
        rtcp_port,
        ttl,
    }
}

#[test]
fn the_group_is_joined_before_ready_and_reports_go_to_it() {
    let (mut h, events) = set_up(GST_REPLY);
    assert_eq!(
        events,
        [
            EngineEvent::JoinMulticast(group(5000, 5001, Some(1))),
            EngineEvent::State(PlayerState::Ready)
        ],
        "the sockets first, so PLAY's first packets find them"
    );
    assert_eq!(h.e.session_id(), Some("-KyKit+wda52haWc"));
    h.command(Command::Play);
    let play = h.request();
    assert_eq!(play.headers.get("Session"), Some("-KyKit+wda52haWc"));
    h.ok(
        3,
        "Session: -KyKit+wda52haWc\r\nRange: npt=0-5\r\nRTP-Info: url=x;seq=30193;rtptime=0\r\n",
    );
    assert_eq!(h.e.state(), PlayerState::Playing);
    h.events();
    // The group's datagrams come from the server's own address; anyone else's are not ours.
    let j = jpeg();
    let stranger = SocketAddr::new("10.0.0.9".parse().unwrap(), 5000);
    for p in frame_packets(&j, 30193, 0) {
        h.e.handle_rtp_datagram(stranger, &p, h.now);
    }
    assert!(frames(&h.events()).is_empty(), "only the server's RTP");
    for p in frame_packets(&j, 30193, 0) {
        h.rtp(&p);
    }
    assert_eq!(frames(&h.events()).len(), 1);
    // No server_port in the reply: reports go to the group's RTCP port.
    h.advance(Duration::from_secs(1));
    let t = h.transmits();
    let to: Vec<SocketAddr> = t
        .iter()
        .filter_map(|t| match t {
            Transmit::Rtcp { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(to, [SocketAddr::new(GROUP.parse().unwrap(), 5001)]);
    assert_eq!(reports(&t).len(), 1);
}

#[test]
fn reports_go_to_the_servers_rtcp_port_when_it_gives_one() {
    let (mut h, events) = set_up(
        "Transport: RTP/AVP;multicast;destination=239.255.42.1;port=5002;server_port=6970-6971\r\nSession: 7\r\n",
    );
    assert_eq!(
        events[0],
        EngineEvent::JoinMulticast(group(5002, 5003, None)),
        "one port: RTCP is the next"
    );
    h.command(Command::Play);
    h.request();
    h.ok(3, "Session: 7\r\n");
    h.rtp(&packet(1, 0, true, 26, b"x"));
    h.advance(Duration::from_secs(1));
    let t = h.transmits();
    assert!(
        matches!(&t[..], [Transmit::Rtcp { to, .. }] if *to == SocketAddr::new(SERVER_IP, 6971)),
        "{t:?}"
    );
}

#[test]
fn replies_without_a_usable_group_are_refused_and_torn_down() {
    for (transport, why) in [
        (
            "RTP/AVP;unicast;client_port=5000-5001",
            "asked for multicast, the server answered RTP/AVP;unicast;client_port=5000-5001",
        ),
        (
            "RTP/AVP;multicast;port=5000-5001",
            "without a destination group",
        ),
        (
            "RTP/AVP;multicast;destination=10.0.0.1;port=5000-5001",
            "10.0.0.1 is not a multicast group",
        ),
        (
            "RTP/AVP;multicast;destination=group;port=5000",
            "\"group\" is not an IP address",
        ),
        ("RTP/AVP;multicast;destination=239.1.1.1", "without a port"),
        (
            // Not a Transport at all: the typed header refuses it.
            "RTP/AVP;multicast;destination=239.1.1.1;port=x-y",
            "no Transport to say the multicast group",
        ),
        (
            "RTP/AVP;multicast;destination=239.1.1.1;port=65535",
            "port=\"65535\"",
        ),
        (
            "RTP/AVP;multicast;destination=239.1.1.1;port=0-1",
            "port=\"0-1\"",
        ),
    ] {
        let (mut h, events) = set_up(&format!("Transport: {transport}\r\nSession: 9\r\n"));
        let errs = errors(&events);
        assert!(
            errs.len() == 1 && errs[0].starts_with("SETUP reply: ") && errs[0].ends_with(why),
            "{transport}: {errs:?}"
        );
        assert!(states(&events).is_empty(), "{transport}: not Ready");
        h.command(Command::Play);
        assert!(h.requests().is_empty(), "{transport}: no PLAY");
        h.e.close(h.now);
        let teardown = h.request();
        assert_eq!(
            teardown.method,
            Method::Teardown,
            "{transport}: the session goes"
        );
    }
    let (_, events) = set_up("Session: 9\r\n");
    assert_eq!(
        errors(&events),
        ["SETUP reply: no Transport to say the multicast group"]
    );
}

#[test]
fn the_lab_server_has_no_multicast() {
    let mut h = Harness::new(config(URL, MediaTransport::Multicast));
    h.request();
    h.feed(b"RTSP/1.0 501 Not Implemented\r\nCSeq: 1\r\n\r\n");
    h.events();
    h.command(Command::Setup);
    assert!(h.requests().is_empty());
    assert_eq!(
        errors(&h.events()),
        ["the lab server has no multicast; use UDP"]
    );
}
