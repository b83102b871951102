//! Adaptive streaming through a real bottleneck (issue 12's targets), on the seed movie.
//!
//! The test re-runs itself inside a new network namespace (`unshare -n`, root), where loopback
//! has a 1500-byte MTU and traffic to each client address is shaped on its own: an htb root
//! classifies by destination (a u32 filter), and under each class a `tbf rate R burst 3000
//! latency 100ms` (two packets of burst, so a non-adaptive server is not flattered by whole
//! frames slipping through). rtspd runs in-process on 127.0.0.1, twice: adaptive, and with
//! `--adaptive off` for comparison. The clients, in threads, report every second (RFC 3550 RR
//! with honest loss, jitter and LSR/DLSR):
//!
//! | client | server | transport | path |
//! |---|---|---|---|
//! | 127.0.0.2 | adaptive | UDP | clean 5 s, 1.2 Mbit/s 20 s, 20 Mbit/s 15 s |
//! | 127.0.0.3 | adaptive off | UDP | the same |
//! | 127.0.0.4 | adaptive | TCP interleaved | the same |
//! | 127.0.0.5 | adaptive | UDP, `Bandwidth: 800000` | clean |

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::netns::{in_namespace, sh};
use common::{seed_movie, Client, TempDir, TestServer};
use rtsp_mjpeg::rtp::jpeg::{packetize, Depacketizer, DEFAULT_MAX_PAYLOAD};
use rtsp_mjpeg::rtp::packet::RtpPacket;
use rtsp_mjpeg::rtp::rtcp;
use rtsp_mjpeg::rtp::seq::ReceptionStats;
use rtsp_mjpeg::server::adapt::Mode;

const CLEAN: u64 = 5;
const NARROW: u64 = 20;
const WIDE: u64 = 15;

fn shape(ip: &str, class: u32, rate: &str, change: bool) {
    let verb = if change { "change" } else { "add" };
    sh(&format!(
        "tc qdisc {verb} dev lo parent 1:{class} handle {class}0: tbf rate {rate} burst 3000 latency 100ms"
    ));
    if !change {
        sh(&format!(
            "tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip dst {ip}/32 flowid 1:{class}"
        ));
    }
}

fn set_up_namespace() {
    sh("ip link set lo mtu 1500");
    sh("tc qdisc add dev lo root handle 1: htb default 1");
    for class in 1..=4 {
        sh(&format!(
            "tc class add dev lo parent 1: classid 1:{class} htb rate 10gbit"
        ));
    }
    for (ip, class) in [("127.0.0.2", 2), ("127.0.0.3", 3), ("127.0.0.4", 4)] {
        shape(ip, class, "20mbit", false);
    }
}

/// What one client saw in one second.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    frames: u32,
    /// RTP payload bytes of the complete frames, and what those frames have in the movie.
    bytes: u64,
    movie_bytes: u64,
    expected: u64,
    received: u64,
    rtp_bytes: u64,
    /// The largest delay of a complete frame behind its schedule.
    late_ms: f64,
}

/// Reassembles RTP packets and counts per second from `start`.
struct Tally {
    start: Instant,
    depack: Depacketizer,
    stats: ReceptionStats,
    secs: Vec<Second>,
    payload_of: HashMap<u32, u64>,
    movie: Arc<Vec<u64>>,
    rtptime: u32,
    epoch: Instant,
    last_expected: u64,
    last_received: u64,
    /// Earliest (arrival - schedule) seen, to measure delay against.
    offset: Option<f64>,
}

impl Tally {
    fn new(start: Instant, movie: Arc<Vec<u64>>, rtptime: u32) -> Tally {
        Tally {
            start,
            depack: Depacketizer::new(8 << 20),
            stats: ReceptionStats::default(),
            secs: vec![Second::default(); (CLEAN + NARROW + WIDE + 2) as usize],
            payload_of: HashMap::new(),
            movie,
            rtptime,
            epoch: Instant::now(),
            last_expected: 0,
            last_received: 0,
            offset: None,
        }
    }

    fn second(&mut self, now: Instant) -> Option<&mut Second> {
        let k = now.saturating_duration_since(self.start).as_secs() as usize;
        self.secs.get_mut(k)
    }

    fn packet(&mut self, data: &[u8], now: Instant) {
        let Ok(p) = RtpPacket::new_checked(data) else {
            return;
        };
        let arrival = (now.duration_since(self.epoch).as_secs_f64() * 90_000.0) as u64 as u32;
        self.stats.record(p.sequence(), p.timestamp(), arrival);
        let payload = p.payload().len() as u64;
        *self.payload_of.entry(p.timestamp()).or_default() += payload;
        let (exp, rec) = (self.stats.expected(), self.stats.received());
        let (de, dr) = (exp - self.last_expected, rec - self.last_received);
        self.last_expected = exp;
        self.last_received = rec;
        if let Some(s) = self.second(now) {
            s.expected += de;
            s.received += dr;
            s.rtp_bytes += data.len() as u64;
        }
        let _ = self.depack.push(&p);
        while let Some(f) = self.depack.pull() {
            let bytes = self.payload_of.remove(&f.timestamp).unwrap_or(0);
            let ticks = f.timestamp.wrapping_sub(self.rtptime);
            let index = ((f64::from(ticks) / 3750.0).round() as usize) % self.movie.len();
            let movie_bytes = self.movie[index];
            let schedule = f64::from(ticks) / 90_000.0;
            let at = now.duration_since(self.start).as_secs_f64();
            let offset = *self.offset.get_or_insert(at - schedule);
            let late = (at - schedule - offset) * 1000.0;
            self.offset = Some(offset.min(at - schedule));
            if let Some(s) = self.second(now) {
                s.frames += 1;
                s.bytes += bytes;
                s.movie_bytes += movie_bytes;
                s.late_ms = s.late_ms.max(late);
            }
        }
        if self.payload_of.len() > 64 {
            let newest = p.timestamp();
            self.payload_of
                .retain(|ts, _| newest.wrapping_sub(*ts) < 90_000);
        }
    }
}

struct Session {
    client: Client,
    url: String,
    id: String,
    rtptime: u32,
}

fn open(server: SocketAddr, ip: IpAddr, transport: &str, extra: &[(&str, &str)]) -> Session {
    let url = format!("rtsp://{server}/movie.Mjpeg");
    let mut client = Client::connect_from(ip, server);
    assert_eq!(client.request("DESCRIBE", &url, &[]).status, 200);
    let mut headers = vec![("Transport", transport)];
    headers.extend_from_slice(extra);
    let r = client.request("SETUP", &format!("{url}/trackID=0"), &headers);
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.session();
    let r = client.request("PLAY", &url, &[("Session", &id)]);
    assert_eq!(r.status, 200);
    let rtptime = r
        .header("RTP-Info")
        .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("rtptime=")))
        .and_then(|v| v.parse().ok())
        .expect("rtptime in RTP-Info");
    Session {
        client,
        url,
        id,
        rtptime,
    }
}

/// A UDP client on `ip` that reports every second; returns its seconds.
fn udp_client(
    server: SocketAddr,
    server_rtcp: SocketAddr,
    ip: &str,
    extra: &'static [(&'static str, &'static str)],
    movie: Arc<Vec<u64>>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Second>> {
    let ip: IpAddr = ip.parse().unwrap();
    std::thread::spawn(move || {
        let (rtp, rtcp_sock) = loop {
            let rtp = UdpSocket::bind((ip, 0)).unwrap();
            let port = rtp.local_addr().unwrap().port();
            if port % 2 == 0 {
                if let Ok(r) = UdpSocket::bind((ip, port + 1)) {
                    break (rtp, r);
                }
            }
        };
        let port = rtp.local_addr().unwrap().port();
        let transport = format!("RTP/AVP;unicast;client_port={port}-{}", port + 1);
        let mut s = open(server, ip, &transport, extra);
        rtp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        rtcp_sock.set_nonblocking(true).unwrap();
        let mut tally = Tally::new(start, movie, s.rtptime);
        let mut buf = vec![0u8; 65536];
        let mut last_sr: Option<(u32, Instant)> = None;
        let mut sender = None;
        let mut next_rr = Instant::now() + Duration::from_secs(1);
        while !stop.load(Ordering::Relaxed) {
            if let Ok(n) = rtp.recv(&mut buf) {
                let now = Instant::now();
                if let Ok(p) = RtpPacket::new_checked(&buf[..n]) {
                    sender = Some(p.ssrc());
                }
                tally.packet(&buf[..n], now);
            }
            while let Ok(n) = rtcp_sock.recv(&mut buf) {
                for p in rtcp::Compound::new(&buf[..n]).flatten() {
                    if let rtcp::Packet::SenderReport(sr) = p {
                        last_sr = Some((sr.ntp.middle(), Instant::now()));
                    }
                }
            }
            let now = Instant::now();
            if now >= next_rr {
                next_rr += Duration::from_secs(1);
                if let Some(ssrc) = sender {
                    let rep = tally.stats.report();
                    let (lsr, dlsr) = last_sr.map_or((0, 0), |(m, at)| {
                        (m, (now.duration_since(at).as_secs_f64() * 65536.0) as u32)
                    });
                    let mut packet = Vec::new();
                    rtcp::ReceiverReport {
                        ssrc: 0x5eed,
                        blocks: vec![rtcp::ReportBlock {
                            ssrc,
                            fraction_lost: rep.fraction_lost,
                            cumulative_lost: rep.cumulative_lost,
                            highest_seq: rep.highest_seq,
                            jitter: rep.jitter,
                            lsr,
                            dlsr,
                        }],
                    }
                    .write(&mut packet);
                    let _ = rtcp_sock.send_to(&packet, server_rtcp);
                }
            }
        }
        let _ = s.client.request("TEARDOWN", &s.url, &[("Session", &s.id)]);
        tally.secs
    })
}

/// A TCP-interleaved client on `ip`: RTP on channel 0, read as fast as it arrives.
fn tcp_client(
    server: SocketAddr,
    ip: &str,
    movie: Arc<Vec<u64>>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Second>> {
    let ip: IpAddr = ip.parse().unwrap();
    std::thread::spawn(move || {
        let mut s = open(server, ip, "RTP/AVP/TCP;unicast;interleaved=0-1", &[]);
        let mut tally = Tally::new(start, movie, s.rtptime);
        let mut buf = s.client.take_buffered();
        let mut stream = s.client.stream.try_clone().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut chunk = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            if let Ok(n) = stream.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
            }
            let now = Instant::now();
            while buf.len() >= 4 && buf[0] == b'$' {
                let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                if buf.len() < 4 + len {
                    break;
                }
                if buf[1] == 0 {
                    tally.packet(&buf[4..4 + len], now);
                }
                buf.drain(..4 + len);
            }
            // Replies to nothing (none are sent) would leave non-$ bytes; skip to the next $.
            if !buf.is_empty() && buf[0] != b'$' {
                let skip = buf.iter().position(|&b| b == b'$').unwrap_or(buf.len());
                buf.drain(..skip);
            }
        }
        tally.secs
    })
}

fn fps(secs: &[Second]) -> f64 {
    secs.iter().map(|s| f64::from(s.frames)).sum::<f64>() / secs.len() as f64
}

fn loss(secs: &[Second]) -> f64 {
    let e: u64 = secs.iter().map(|s| s.expected).sum();
    let r: u64 = secs.iter().map(|s| s.received).sum();
    if e == 0 {
        1.0
    } else {
        1.0 - r as f64 / e as f64
    }
}

fn byte_share(secs: &[Second]) -> f64 {
    let b: u64 = secs.iter().map(|s| s.bytes).sum();
    let m: u64 = secs.iter().map(|s| s.movie_bytes).sum();
    b as f64 / m.max(1) as f64
}

fn table(name: &str, secs: &[Second]) {
    eprintln!("{name}: second: complete fps, loss %, kbit/s of RTP, bytes share %, max late ms");
    for (k, s) in secs.iter().enumerate() {
        eprintln!(
            "  {k:2}: {:2} fps {:5.1} % {:6.0} kbit/s {:5.1} % {:6.0} ms",
            s.frames,
            100.0 * loss(std::slice::from_ref(s)),
            s.rtp_bytes as f64 * 8.0 / 1000.0,
            100.0 * byte_share(std::slice::from_ref(s)),
            s.late_ms
        );
    }
}

#[test]
fn adaptive_streaming_through_a_bottleneck() {
    if !in_namespace("adaptive_streaming_through_a_bottleneck") {
        return;
    }
    let Some(seed) = seed_movie("adaptive_streaming_through_a_bottleneck") else {
        panic!("the seed movie is needed (../shared/seed/movie.Mjpeg)");
    };
    set_up_namespace();
    let movie = rtsp_mjpeg::media::Movie::open(&seed).unwrap();
    let sizes: Vec<u64> = movie
        .frames()
        .map(|f| packetize(f, DEFAULT_MAX_PAYLOAD).unwrap().total_len() as u64)
        .collect();
    let sizes = Arc::new(sizes);
    let serve = |mode: Mode| {
        let media = TempDir::new("adaptive");
        std::fs::copy(&seed, media.0.join("movie.Mjpeg")).unwrap();
        TestServer::start_in(media, |c| {
            c.adaptive = mode;
            c.mtu = DEFAULT_MAX_PAYLOAD;
        })
    };
    let on = serve(Mode::On);
    let off = serve(Mode::Off);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let spawn_udp =
        |server: &TestServer, ip: &str, extra: &'static [(&'static str, &'static str)]| {
            let rtcp = SocketAddr::new(server.rtp.ip(), server.rtp.port() + 1);
            udp_client(
                server.addr,
                rtcp,
                ip,
                extra,
                sizes.clone(),
                start,
                stop.clone(),
            )
        };
    let adaptive = spawn_udp(&on, "127.0.0.2", &[]);
    let plain = spawn_udp(&off, "127.0.0.3", &[]);
    let capped = spawn_udp(&on, "127.0.0.5", &[("Bandwidth", "800000")]);
    let tcp = tcp_client(on.addr, "127.0.0.4", sizes.clone(), start, stop.clone());

    let at = |s: u64| start + Duration::from_secs(s);
    std::thread::sleep(at(CLEAN).saturating_duration_since(Instant::now()));
    for (ip, class) in [("127.0.0.2", 2), ("127.0.0.3", 3), ("127.0.0.4", 4)] {
        shape(ip, class, "1200kbit", true);
    }
    std::thread::sleep(at(CLEAN + NARROW).saturating_duration_since(Instant::now()));
    for (ip, class) in [("127.0.0.2", 2), ("127.0.0.3", 3), ("127.0.0.4", 4)] {
        shape(ip, class, "20mbit", true);
    }
    std::thread::sleep(at(CLEAN + NARROW + WIDE).saturating_duration_since(Instant::now()));
    stop.store(true, Ordering::Relaxed);
    let adaptive = adaptive.join().unwrap();
    let plain = plain.join().unwrap();
    let capped = capped.join().unwrap();
    let tcp = tcp.join().unwrap();
    for (name, secs) in [
        ("adaptive UDP", &adaptive),
        ("adaptive off, UDP", &plain),
        ("adaptive TCP", &tcp),
        ("Bandwidth: 800000", &capped),
    ] {
        table(name, secs);
    }

    let (c, n) = (CLEAN as usize, NARROW as usize);
    // A clean link: full quality from the first second.
    let first = &adaptive[1..c];
    assert!(fps(first) >= 23.0, "clean: {} fps", fps(first));
    assert!(byte_share(first) >= 0.9, "clean: {}", byte_share(first));
    // Seconds 5-20 of the bottleneck.
    let narrow = &adaptive[c + 5..c + n];
    assert!(
        fps(narrow) >= 12.0,
        "1.2 Mbit/s: {} complete fps",
        fps(narrow)
    );
    assert!(
        loss(narrow) <= 0.02,
        "1.2 Mbit/s: {:.1} % loss",
        100.0 * loss(narrow)
    );
    let plain_narrow = &plain[c + 5..c + n];
    assert!(
        fps(plain_narrow) <= fps(narrow) / 2.0,
        "adaptive off: {} fps against {}",
        fps(plain_narrow),
        fps(narrow)
    );
    // After the bottleneck lifts: within 15 s, 3 s at full rate and (nearly) full quality.
    let wide = &adaptive[c + n..];
    let recovered = wide
        .windows(3)
        .position(|w| fps(w) >= 23.0 && byte_share(w) >= 0.9);
    assert!(
        recovered.is_some(),
        "no 3 s window at full quality after the lift"
    );
    // TCP: the queue steers it; frames keep coming and do not fall seconds behind.
    let tcp_narrow = &tcp[c + 5..c + n];
    assert!(
        fps(tcp_narrow) >= 12.0,
        "TCP at 1.2 Mbit/s: {} fps",
        fps(tcp_narrow)
    );
    let late = tcp_narrow.iter().map(|s| s.late_ms).fold(0.0, f64::max);
    assert!(late < 1500.0, "TCP frames {late} ms behind");
    // Bandwidth: 800000 on a clean link, seconds 2-8.
    let cap = &capped[2..8];
    let rate = cap.iter().map(|s| s.rtp_bytes).sum::<u64>() as f64 * 8.0 / 6.0;
    assert!(rate <= 880_000.0, "capped at {rate} bit/s");
    assert!(fps(cap) >= 6.0, "capped: {} fps", fps(cap));
    eprintln!(
        "RESULT bottleneck adaptive {:.1} fps {:.2} % loss; off {:.1} fps; recovered after {:?} s; tcp {:.1} fps; capped {:.0} kbit/s {:.1} fps",
        fps(narrow),
        100.0 * loss(narrow),
        fps(plain_narrow),
        recovered,
        fps(tcp_narrow),
        rate / 1000.0,
        fps(cap)
    );
}
