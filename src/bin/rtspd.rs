//! rtspd: serves the MJPEG movies of a folder over RTSP/RTP from one thread.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;
use rtsp_mjpeg::server::adapt::Mode;
use rtsp_mjpeg::server::auth::AuthConfig;
use rtsp_mjpeg::server::relay::RelaySpec;
use rtsp_mjpeg::server::{Config, Server};

/// Streams the MJPEG movies in a folder over RTSP 1.0 (RFC 2326) with RTP (RFC 3550) and the
/// JPEG payload format (RFC 2435). Watch with `ffplay rtsp://HOST:PORT/movie.Mjpeg`.
/// Logging: RUST_LOG=debug for per-request lines.
#[derive(FromArgs)]
struct Args {
    /// RTSP TCP port (default 8554; 0 picks a free one)
    #[argh(option, default = "8554")]
    port: u16,
    /// address to listen on: an IP address or a host name such as localhost (default 0.0.0.0,
    /// every address)
    #[argh(option, default = "String::from(\"0.0.0.0\")")]
    bind: String,
    /// folder of movies to serve (default media); with no movie in it (and no --relay), the
    /// built-in test movie is written there first
    #[argh(option, default = "PathBuf::from(\"media\")")]
    media: PathBuf,
    /// frame rate for movies without a .fps sidecar (default 24)
    #[argh(option, default = "24.0")]
    fps: f64,
    /// server RTP port, even; RTCP uses the next one (default 6970; 0 picks free ports)
    #[argh(option, default = "6970")]
    rtp_port: u16,
    /// largest RTP payload in bytes (default 1400; 200 to 65000)
    #[argh(option, default = "1400")]
    mtu: usize,
    /// seconds a session lives without its connection, a request or RTCP (default 60)
    #[argh(option, default = "60")]
    timeout: u64,
    /// most sessions at once; SETUP past it gets 453 (default 1000)
    #[argh(option, default = "1000")]
    max_sessions: usize,
    /// most sessions (publishers included) from one client address; SETUP or ANNOUNCE past it
    /// gets 453 (default 64)
    #[argh(option, default = "64")]
    max_sessions_per_peer: usize,
    /// most RTSP connections at once; more are closed on accept (default 4096)
    #[argh(option, default = "4096")]
    max_connections: usize,
    /// most RTSP connections from one client address (default 64)
    #[argh(option, default = "64")]
    max_connections_per_peer: usize,
    /// seconds before closing a connection that has no session and sends nothing, or that
    /// leaves a request unfinished (default 30)
    #[argh(option, default = "30")]
    idle_timeout: u64,
    /// largest request head (request line and headers) in bytes; larger gets 431 (default 8192)
    #[argh(option, default = "8192")]
    max_head: usize,
    /// most header lines in a request; more gets 431 (default 64)
    #[argh(option, default = "64")]
    max_headers: usize,
    /// largest request body in bytes; larger gets 413 (default 65536)
    #[argh(option, default = "65536")]
    max_body: usize,
    /// bytes of interleaved RTP queued per TCP connection before whole frames are dropped
    /// (default 524288)
    #[argh(option, default = "524288")]
    max_queue: usize,
    /// require this user:password (repeatable); every method but OPTIONS then needs credentials
    #[argh(option)]
    auth: Vec<String>,
    /// read users from a file: one user:password or user:realm:md5(user:realm:password) a line
    #[argh(option)]
    auth_file: Option<PathBuf>,
    /// authentication schemes offered, in order: digest, basic or digest,basic (default digest)
    #[argh(option, default = "String::from(\"digest\")")]
    auth_methods: String,
    /// the realm named in challenges and used in HA1 hashes (default rtspd)
    #[argh(option, default = "String::from(\"rtspd\")")]
    realm: String,
    /// offer multicast from this range of groups, e.g. 239.255.42.0/24: viewers asking for
    /// multicast share one sender per movie, playlist or live path (default: unicast only)
    #[argh(option)]
    multicast: Option<String>,
    /// TTL of multicast packets (default 1: this network only)
    #[argh(option, default = "1")]
    multicast_ttl: u8,
    /// the first multicast group's RTP port, even; further groups take the next pairs
    /// (default 5004)
    #[argh(option, default = "5004")]
    multicast_port: u16,
    /// adaptive streaming: on (each session follows its receiver's reports or its TCP queue,
    /// down to lower-quality renditions, fewer frames and half size) or off (every frame at full
    /// quality) (default on)
    #[argh(option, default = "Mode::On")]
    adaptive: Mode,
    /// megabytes of frames (read from disk and packetized) kept in memory for all movies
    /// together (default 32)
    #[argh(option, default = "32")]
    cache_mb: usize,
    /// stop at the end of a movie (with RTCP BYE) instead of looping
    #[argh(switch)]
    no_loop: bool,
    /// accept live streams: ANNOUNCE and RECORD (ffmpeg -f rtsp rtsp://HOST:PORT/live/NAME)
    /// on paths under live/, which readers then play as they would a movie
    #[argh(switch)]
    publish: bool,
    /// serve NAME by pulling rtsp://[USER:PASS@]HOST[:PORT]/PATH from another server when a
    /// reader asks for it (repeatable); one origin session however many readers, closed 10 s
    /// after the last leaves
    #[argh(option)]
    relay: Vec<String>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Args = argh::from_env();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtspd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    if !(args.fps > 0.0 && args.fps <= 1000.0) {
        return Err(format!(
            "--fps {}: must be above 0 and at most 1000",
            args.fps
        ));
    }
    if !(200..=65_000).contains(&args.mtu) {
        return Err(format!("--mtu {}: must be from 200 to 65000", args.mtu));
    }
    if args.timeout == 0 {
        return Err("--timeout 0: must be at least 1 second".into());
    }
    if args.rtp_port % 2 == 1 {
        return Err(format!(
            "--rtp-port {}: must be even (RTCP takes the next port)",
            args.rtp_port
        ));
    }
    if args.idle_timeout == 0 {
        return Err("--idle-timeout 0: must be at least 1 second".into());
    }
    if args.max_connections_per_peer == 0 || args.max_connections == 0 {
        return Err("--max-connections and --max-connections-per-peer must be at least 1".into());
    }
    if args.max_sessions_per_peer == 0 {
        return Err("--max-sessions-per-peer 0: must be at least 1".into());
    }
    if args.max_head < 256 {
        return Err(format!(
            "--max-head {}: must be at least 256",
            args.max_head
        ));
    }
    // The schemes are checked even without --auth, so a typo is not ignored until it is added.
    let mut auth = AuthConfig::new(&args.realm);
    auth.set_schemes(&args.auth_methods)
        .map_err(|e| format!("--auth-methods {e}"))?;
    let auth = if args.auth.is_empty() && args.auth_file.is_none() {
        if args.auth_methods != "digest" {
            return Err(format!(
                "--auth-methods {}: has no effect without --auth or --auth-file",
                args.auth_methods
            ));
        }
        None
    } else {
        for spec in &args.auth {
            // Never echo the password back.
            auth.add_plain(spec).map_err(|e| format!("--auth: {e}"))?;
        }
        if let Some(f) = &args.auth_file {
            auth.add_file(f).map_err(|e| format!("--auth-file {e}"))?;
        }
        if auth.users.is_empty() {
            return Err("--auth-file: no users in it".into());
        }
        log::info!(
            "authentication required ({}; {} user(s))",
            args.auth_methods,
            auth.users.len()
        );
        Some(auth)
    };
    let multicast = args
        .multicast
        .as_deref()
        .map(parse_multicast)
        .transpose()
        .map_err(|e| format!("--multicast {e}"))?;
    if args.multicast_ttl == 0 {
        return Err("--multicast-ttl 0: must be at least 1".into());
    }
    let bind = bind_address(&args.bind)?;
    let relays = relays(&args.relay, args.publish)?;
    if relays.is_empty() {
        // An edge serves what it relays; it needs no movie of its own.
        ensure_a_movie(&args.media)?;
    }
    let config = Config {
        bind,
        port: args.port,
        media: args.media,
        fps: args.fps,
        rtp_port: args.rtp_port,
        mtu: args.mtu,
        session_timeout: Duration::from_secs(args.timeout),
        max_sessions: args.max_sessions,
        max_connections: args.max_connections,
        max_connections_per_peer: args.max_connections_per_peer,
        max_sessions_per_peer: args.max_sessions_per_peer,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_head: args.max_head,
        max_headers: args.max_headers,
        max_body: args.max_body,
        max_queue: args.max_queue,
        auth,
        looping: !args.no_loop,
        multicast,
        multicast_ttl: args.multicast_ttl,
        multicast_port: args.multicast_port,
        adaptive: args.adaptive,
        cache_bytes: args.cache_mb.saturating_mul(1 << 20),
        publish: args.publish,
        relays,
        ..Config::default()
    };
    let mut server = Server::bind(config).map_err(|e| e.to_string())?;
    server
        .stop_on_signals()
        .map_err(|e| format!("signal handling: {e}"))?;
    server.run().map_err(|e| format!("server loop: {e}"))
}

/// The `--relay` specs, their origins resolved now (a name that does not resolve stops the
/// start, rather than failing each time a reader asks).
fn relays(specs: &[String], publish: bool) -> Result<Vec<RelaySpec>, String> {
    let mut out: Vec<RelaySpec> = Vec::new();
    for spec in specs {
        let (name, target) = RelaySpec::parse(spec).map_err(|e| format!("--relay {e}"))?;
        if publish && name.starts_with("live/") {
            return Err(format!("--relay {name}: live/ is for publishers"));
        }
        if out.iter().any(|r| r.name == name) {
            return Err(format!("--relay {name}: named twice"));
        }
        let origin = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| format!("--relay {name}: {}: {e}", target.host))?
            .next()
            .ok_or_else(|| format!("--relay {name}: {} has no address", target.host))?;
        log::info!("relay {name}: from {} ({origin})", target.url());
        out.push(RelaySpec {
            name,
            target,
            origin,
        });
    }
    Ok(out)
}

/// The embedded default: a media folder without a movie gets the built-in test movie, so a fresh
/// clone serves something at once.
fn ensure_a_movie(media: &Path) -> Result<(), String> {
    if !media.is_dir() {
        let why = if media.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(format!(
            "media folder {} {why} (use --media DIR)",
            media.display()
        ));
    }
    let has_movie = std::fs::read_dir(media)
        .map_err(|e| format!("media folder {}: {e}", media.display()))?
        .flatten()
        .any(|e| {
            let name = e.file_name().to_string_lossy().to_lowercase();
            name.ends_with(".mjpeg") || name.ends_with(".mjpg")
        });
    if has_movie {
        return Ok(());
    }
    let path = media.join("movie.Mjpeg");
    log::info!(
        "no movie in {}: writing the built-in test movie to {}",
        media.display(),
        path.display()
    );
    rtsp_mjpeg::media::testmovie::write_default(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `--bind`: an IP address, or a name resolved now (`localhost`).
fn bind_address(spec: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = spec.parse() {
        return Ok(ip);
    }
    (spec, 0)
        .to_socket_addrs()
        .map_err(|e| format!("--bind {spec}: {e}"))?
        .map(|a| a.ip())
        .min_by_key(|ip| ip.is_ipv6()) // IPv4 first, as most clients try it first
        .ok_or_else(|| format!("--bind {spec}: the name has no address"))
}

/// `239.255.42.0/24`: a multicast network and its prefix length.
fn parse_multicast(spec: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (net, prefix) = spec
        .split_once('/')
        .ok_or_else(|| format!("{spec:?}: expected NETWORK/PREFIX, e.g. 239.255.42.0/24"))?;
    let net: std::net::Ipv4Addr = net
        .parse()
        .map_err(|_| format!("{net:?} is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| format!("/{prefix} is not a prefix length"))?;
    if !net.is_multicast() {
        return Err(format!("{net} is not a multicast address (224.0.0.0/4)"));
    }
    if !(4..=30).contains(&prefix) {
        return Err(format!("/{prefix}: the prefix must be from 4 to 30"));
    }
    Ok((net, prefix))
}
