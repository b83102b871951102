//! rtspd's settings: every limit and default in one place, with the reasons for the defaults.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::server::adapt::Mode;
use crate::server::auth::AuthConfig;
use crate::server::relay::RelaySpec;

/// Everything the server needs to start. `Default` gives the values `rtspd --help` documents.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on for RTSP (and to bind the RTP/RTCP sockets to).
    pub bind: IpAddr,
    /// RTSP TCP port; 0 picks a free one (tests).
    pub port: u16,
    /// Folder whose movies are served.
    pub media: PathBuf,
    /// Frame rate for movies without a `.fps` sidecar.
    pub fps: f64,
    /// Server RTP port (even); RTCP is the next one. 0 picks a free pair.
    pub rtp_port: u16,
    /// Largest RTP payload (RFC 2435 header + data) in bytes; 1400 keeps IPv4/IPv6 + UDP + RTP
    /// under a 1500-byte Ethernet MTU.
    pub mtu: usize,
    /// A session with no RTSP connection and no RTSP request or RTCP packet for this long ends.
    pub session_timeout: Duration,
    pub max_sessions: usize,
    /// Sessions (publishers included) one client address may hold at once, so that one client
    /// cannot take every slot of `max_sessions`.
    pub max_sessions_per_peer: usize,
    pub max_connections: usize,
    /// Connections one client address may hold at once; more are closed on accept.
    pub max_connections_per_peer: usize,
    /// A connection with no session that sends nothing for this long is closed (slowloris).
    pub idle_timeout: Duration,
    /// Loop movies at their end (the seed server's behaviour); false ends with RTCP BYE.
    pub looping: bool,
    /// How long the classic lab client's request (no blank line at its end) may sit idle before it
    /// is taken as complete. Only requests with a relative URL qualify, so a slow standard client's
    /// half-sent request (always an absolute rtsp:// URL) is never cut short.
    pub lab_grace: Duration,
    /// Bytes of interleaved RTP a TCP connection may have queued before whole frames are dropped.
    pub max_queue: usize,
    /// Interval between RTCP sender reports (RFC 3550 §6.2 suggests 5 s minimum).
    pub sr_interval: Duration,
    /// Limits on one RTSP request.
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: usize,
    /// Multicast groups to hand out (`--multicast 239.255.42.0/24`): network and prefix length.
    pub multicast: Option<(Ipv4Addr, u8)>,
    /// TTL of multicast packets (1: this network only).
    pub multicast_ttl: u8,
    /// The first group's RTP port; each further group takes the next pair.
    pub multicast_port: u16,
    /// Adaptive streaming: each session follows what its receiver reports (or its TCP queue).
    pub adaptive: Mode,
    /// Bytes of frames (JPEG and RFC 2435 payloads) kept in memory, shared by all movies.
    pub cache_bytes: usize,
    /// Credentials every method but OPTIONS must carry; None serves everyone.
    pub auth: Option<AuthConfig>,
    /// Accept publishers (ANNOUNCE, SETUP with mode=record, RECORD) on paths under `live/`.
    pub publish: bool,
    /// The largest frame a live source (publisher or relay) may send, in bytes; larger ones are
    /// dropped whole.
    pub max_live_frame: usize,
    /// Names served by pulling from another server (`--relay NAME=URL`).
    pub relays: Vec<RelaySpec>,
    /// A relay's origin session is closed this long after its last reader left.
    pub relay_linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8554,
            media: PathBuf::from("media"),
            fps: 24.0,
            rtp_port: 6970,
            mtu: 1400,
            session_timeout: Duration::from_secs(60),
            max_sessions: 1000,
            max_sessions_per_peer: 64,
            max_connections: 4096,
            max_connections_per_peer: 64,
            idle_timeout: Duration::from_secs(30),
            looping: true,
            lab_grace: Duration::from_millis(30),
            max_queue: 512 * 1024,
            sr_interval: Duration::from_secs(5),
            max_head: 8192,
            max_headers: 64,
            max_body: 64 * 1024,
            multicast: None,
            multicast_ttl: 1,
            multicast_port: 5004,
            adaptive: Mode::On,
            cache_bytes: 32 << 20,
            auth: None,
            publish: false,
            max_live_frame: 4 << 20,
            relays: Vec::new(),
            relay_linger: Duration::from_secs(10),
        }
    }
}
