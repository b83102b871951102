//! The player's network thread: it owns the sockets and drives the sans-IO [`Engine`] with
//! them, decodes the JPEGs the engine reassembles, and records them when asked. The UI thread
//! sends [`Command`]s and receives [`Event`]s and decoded [`Frame`]s over channels, so it never
//! waits on the network. No protocol here: that is all the engine's.
//!
//! One mio loop multiplexes the RTSP connection (with interleaved RTP when `--tcp`), the RTP and
//! RTCP sockets (unicast, or joined to the multicast group SETUP's reply names), and a waker for
//! commands; after each wake-up it hands the engine what arrived
//! and the time, then sends what the engine queued and sleeps until its next deadline.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::client::engine::{
    self, Command, Config, Dialect, Engine, EngineEvent, MediaTransport, MulticastGroup,
    PlayerState, ReceivedFrame, Transmit,
};
use crate::client::record::Recorder;
use crate::client::sockets::{bind_pair, multicast_socket};
use crate::client::target::Target;
use crate::client::timeline::{Mark, Timeline};
use crate::jpeg::decode_rgb_into;
use crate::rtp::jpeg::estimate_quality;

/// How the player reaches the server.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    /// Local RTP port (RTCP is the next); 0 picks a free even pair.
    pub rtp_port: u16,
    /// RTP interleaved on the RTSP connection instead of UDP.
    pub tcp: bool,
    /// UDP multicast: the server assigns a group and ports, joined once SETUP's reply names them.
    pub multicast: bool,
    /// How long DESCRIBE may go unanswered before assuming a lab server.
    pub describe_timeout: Duration,
    /// How long any other request may go unanswered.
    pub request_timeout: Duration,
    /// Between RTCP receiver reports.
    pub report_interval: Duration,
    /// The bit rate asked for with `Bandwidth:` on SETUP and PLAY (RFC 2326 §12.6).
    pub bandwidth: Option<u64>,
    /// Where the first connection, replies, packet, frame and decode are marked.
    pub timeline: Arc<Timeline>,
}

impl Options {
    pub fn new(target: Target) -> Options {
        Options {
            target,
            rtp_port: 0,
            tcp: false,
            multicast: false,
            describe_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            report_interval: Duration::from_secs(1),
            bandwidth: None,
            timeline: Arc::new(Timeline::new(Instant::now())),
        }
    }
}

/// What the network side tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The movie as DESCRIBE told it (or the lab fallback, which tells nothing).
    Described {
        dialect: Dialect,
        duration: Option<f64>,
        fps: Option<f64>,
        /// Width and height, when the SDP says (a window can make its texture before frames).
        size: Option<(u16, u16)>,
    },
    State(PlayerState),
    /// The server said its stream is over (RTCP BYE, with its reason if any).
    Ended(Option<String>),
    /// Something went wrong that the user should see; playback may go on.
    Error(String),
    Recording(Option<PathBuf>),
    /// The network side has stopped; with the reason when it was not a TEARDOWN.
    Closed(Option<String>),
}

/// A decoded frame for the screen.
#[derive(Debug, Clone)]
pub struct Frame {
    pub rgb: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub jpeg: Arc<Vec<u8>>,
    /// The RFC 2435 Q value it came with (None for the lab server's whole JPEGs).
    pub q: Option<u8>,
    /// The IJG quality (1-100) its luma table was scaled for, estimated from the table.
    pub quality: Option<u8>,
    /// Seconds into the movie, when the server gave a Range and RTP-Info (or it can be inferred).
    pub position: Option<f64>,
    /// When the packet that completed it arrived.
    pub received: Instant,
    /// When its decoding finished.
    pub decoded: Instant,
}

/// Counters the network side keeps and the UI reads.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub lost_packets: i64,
    /// Frames not shown: incomplete, undecodable, or the UI was behind.
    pub frames_dropped: u64,
    pub frames_decoded: u64,
    /// Datagrams from an address other than the server's, ignored.
    pub foreign_packets: u64,
    /// Duplicates, and packets later than the reorder buffer could wait.
    pub late_packets: u64,
    pub reports_sent: u64,
}

enum ToNet {
    Do(Command),
    Record(Option<PathBuf>),
    Quit,
}

/// Pixel buffers the UI has finished with, waiting to be decoded into again.
const SPARE_BUFFERS: usize = 4;

/// The running network side.
pub struct Client {
    tx: Sender<ToNet>,
    waker: Arc<Waker>,
    pub events: Receiver<Event>,
    pub frames: Receiver<Frame>,
    /// Where the UI hands back a frame's pixels once shown, so decoding reuses the memory.
    spare: SyncSender<Vec<u8>>,
    pub counters: Arc<Mutex<Counters>>,
    thread: Option<JoinHandle<()>>,
}

const RTSP: Token = Token(0);
const RTP: Token = Token(1);
const RTCP: Token = Token(2);
const WAKE: Token = Token(3);

/// Frames waiting for the UI; past this the network side drops rather than queue.
const FRAME_QUEUE: usize = 3;
/// How long the last bytes (a TEARDOWN's, say) may take to leave once the engine is closed.
const FLUSH_AT_CLOSE: Duration = Duration::from_secs(1);

impl Client {
    /// Connects (on the network thread) and describes the movie; SETUP waits for a command.
    pub fn start(opts: Options) -> io::Result<Client> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = mpsc::channel();
        let (ev_tx, events) = mpsc::channel();
        let (fr_tx, frames) = mpsc::sync_channel(FRAME_QUEUE);
        let (spare, spare_rx) = mpsc::sync_channel(SPARE_BUFFERS);
        let counters = Arc::new(Mutex::new(Counters::default()));
        let shared = counters.clone();
        let thread = std::thread::Builder::new()
            .name("rtsp-net".into())
            .spawn(move || {
                let ev = ev_tx.clone();
                let channels = Channels {
                    rx,
                    ev: ev_tx,
                    frames: fr_tx,
                    spare: spare_rx,
                };
                let reason = match Driver::connect(opts, poll, channels, shared) {
                    Ok(mut d) => d.run(),
                    Err(e) => Some(e.to_string()),
                };
                let _ = ev.send(Event::Closed(reason));
            })?;
        Ok(Client {
            tx,
            waker,
            events,
            frames,
            spare,
            counters,
            thread: Some(thread),
        })
    }

    /// Gives a shown frame's pixel buffer back for the next decode (dropped if enough wait).
    pub fn recycle(&self, pixels: Vec<u8>) {
        let _ = self.spare.try_send(pixels);
    }

    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(ToNet::Do(cmd));
        let _ = self.waker.wake();
    }

    /// Starts recording received frames to `path` (stopping any recording first), or stops.
    pub fn record(&self, path: Option<PathBuf>) {
        let _ = self.tx.send(ToNet::Record(path));
        let _ = self.waker.wake();
    }

    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Asks for TEARDOWN and the thread's end without waiting for either (a play queue moving
    /// on): see [`Client::is_finished`], and [`Client::shutdown`] to wait.
    pub fn close(&self) {
        let _ = self.tx.send(ToNet::Quit);
        let _ = self.waker.wake();
    }

    /// True once the network thread has stopped.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Tears the session down (waiting up to a second for the reply) and stops the thread.
    pub fn shutdown(&mut self) {
        let _ = self.tx.send(ToNet::Quit);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The driver's ends of the channels to and from the UI.
struct Channels {
    rx: Receiver<ToNet>,
    ev: Sender<Event>,
    frames: SyncSender<Frame>,
    spare: Receiver<Vec<u8>>,
}

struct Driver {
    engine: Engine,
    poll: Poll,
    rx: Receiver<ToNet>,
    ev: Sender<Event>,
    frames: SyncSender<Frame>,
    spare: Receiver<Vec<u8>>,
    /// One datagram, read into again and again.
    datagram: Vec<u8>,
    shared: Arc<Mutex<Counters>>,
    rtsp: TcpStream,
    /// Our end of the RTSP connection: the interface multicast groups are joined on.
    local_ip: IpAddr,
    /// The server closed the RTSP connection.
    eof: bool,
    rtp: Option<UdpSocket>,
    rtcp: Option<UdpSocket>,
    output: Vec<u8>,
    recorder: Option<Recorder>,
    /// Frames the driver itself dropped (undecodable, or the UI was behind), and decoded.
    dropped: u64,
    decoded: u64,
    /// The engine's last word.
    closed: Option<Option<String>>,
    timeline: Arc<Timeline>,
}

impl Driver {
    fn connect(
        opts: Options,
        poll: Poll,
        channels: Channels,
        shared: Arc<Mutex<Counters>>,
    ) -> io::Result<Driver> {
        let t = &opts.target;
        let addr = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", t.host)))?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{}: no address", t.host))
            })?;
        let std = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| io::Error::new(e.kind(), format!("connect to {addr}: {e}")))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let local_ip = std.local_addr()?.ip();
        let mut rtsp = TcpStream::from_std(std);
        poll.registry()
            .register(&mut rtsp, RTSP, Interest::READABLE | Interest::WRITABLE)?;
        let (transport, rtp, rtcp) = if opts.tcp {
            (MediaTransport::Tcp, None, None)
        } else if opts.multicast {
            // The sockets come with SETUP's reply, which names the group and its ports.
            (MediaTransport::Multicast, None, None)
        } else {
            let (mut rtp, mut rtcp) = bind_pair(opts.rtp_port)?;
            poll.registry()
                .register(&mut rtp, RTP, Interest::READABLE)?;
            if let Some(r) = rtcp.as_mut() {
                poll.registry().register(r, RTCP, Interest::READABLE)?;
            }
            let rtp_port = rtp.local_addr()?.port();
            (MediaTransport::Udp { rtp_port }, Some(rtp), rtcp)
        };
        let mut config = Config::new(opts.target, addr.ip(), transport);
        config.describe_timeout = opts.describe_timeout;
        config.request_timeout = opts.request_timeout;
        config.report_interval = opts.report_interval;
        config.bandwidth = opts.bandwidth;
        opts.timeline.mark(Mark::Connected);
        info!("connected to {addr}");
        Ok(Driver {
            engine: Engine::new(config, Instant::now()),
            poll,
            rx: channels.rx,
            ev: channels.ev,
            frames: channels.frames,
            spare: channels.spare,
            datagram: vec![0; 65_536],
            shared,
            rtsp,
            local_ip,
            eof: false,
            rtp,
            rtcp,
            output: Vec::new(),
            recorder: None,
            dropped: 0,
            decoded: 0,
            closed: None,
            timeline: opts.timeline,
        })
    }

    /// Runs until the engine is closed; the reason it gives, or the I/O error that ended it.
    fn run(&mut self) -> Option<String> {
        let mut events = Events::with_capacity(64);
        let mut closed_at = None;
        loop {
            if let Err(e) = self.turn(&mut events) {
                // The engine's own reason (say, the server closed the connection) comes first.
                self.drain();
                return self.closed.take().unwrap_or(Some(e.to_string()));
            }
            if self.engine.is_closed() {
                // What is left to send gets a moment, not forever: a server that stopped
                // reading must not keep the player from exiting.
                let since = *closed_at.get_or_insert_with(Instant::now);
                if self.output.is_empty() || self.eof || since.elapsed() > FLUSH_AT_CLOSE {
                    return self.closed.take().flatten();
                }
            }
        }
    }

    /// One wake-up: wait, feed the engine what arrived, carry out what it asks.
    fn turn(&mut self, events: &mut Events) -> io::Result<()> {
        let now = Instant::now();
        let timeout = match self.engine.poll_timeout() {
            _ if self.engine.is_closed() => Some(FLUSH_AT_CLOSE / 10),
            t => t.map(|t| t.saturating_duration_since(now)),
        };
        if let Err(e) = self.poll.poll(events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        for event in events.iter() {
            match event.token() {
                RTSP if event.is_readable() || event.is_read_closed() => self.read_rtsp(now)?,
                RTP => self.read_udp(false, now),
                RTCP => self.read_udp(true, now),
                _ => {}
            }
        }
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                ToNet::Do(cmd) => self.engine.command(cmd, now),
                ToNet::Record(path) => self.toggle_record(path),
                ToNet::Quit => self.engine.close(now),
            }
        }
        self.engine.handle_timeout(now);
        if self.engine.counters().packets > 0 {
            self.timeline.mark_at(Mark::FirstPacket, now);
        }
        self.drain();
        if !self.eof {
            self.flush()?;
        }
        self.publish();
        Ok(())
    }

    fn read_rtsp(&mut self, now: Instant) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        while !self.eof {
            match self.rtsp.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    self.engine.handle_rtsp_closed(now);
                }
                Ok(n) => self.engine.handle_rtsp_input(&buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("RTSP connection: {e}"))),
            }
        }
        Ok(())
    }

    fn read_udp(&mut self, rtcp: bool, now: Instant) {
        let mut buf = std::mem::take(&mut self.datagram);
        self.read_udp_into(&mut buf, rtcp, now);
        self.datagram = buf;
    }

    fn read_udp_into(&mut self, buf: &mut [u8], rtcp: bool, now: Instant) {
        loop {
            let sock = if rtcp { &self.rtcp } else { &self.rtp };
            let Some(sock) = sock else { return };
            match sock.recv_from(buf) {
                Ok((n, from)) if rtcp => self.engine.handle_rtcp_datagram(from, &buf[..n], now),
                Ok((n, from)) => self.engine.handle_rtp_datagram(from, &buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{} socket: {e}", if rtcp { "RTCP" } else { "RTP" });
                    return;
                }
            }
        }
    }

    /// Carries out what the engine queued: bytes to send, events for the UI, frames to decode.
    fn drain(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            match t {
                Transmit::Rtsp(bytes) => self.output.extend_from_slice(&bytes),
                Transmit::Rtcp { to, data } => {
                    if let Some(s) = &self.rtcp {
                        if let Err(e) = s.send_to(&data, to) {
                            debug!("RTCP to {to}: {e}");
                        }
                    }
                }
            }
        }
        while let Some(e) = self.engine.poll_event() {
            let ui = match e {
                EngineEvent::Described(d) => {
                    self.timeline.mark(Mark::Described);
                    Event::Described {
                        dialect: d.dialect,
                        duration: d.duration,
                        fps: d.fps,
                        size: d.size,
                    }
                }
                EngineEvent::JoinMulticast(g) => {
                    if let Err(e) = self.join(g) {
                        self.emit(Event::Error(e));
                    }
                    continue;
                }
                EngineEvent::State(s) => {
                    match s {
                        PlayerState::Ready => self.timeline.mark(Mark::SetUp),
                        PlayerState::Playing => self.timeline.mark(Mark::Playing),
                        _ => {}
                    }
                    Event::State(s)
                }
                EngineEvent::Bye(reason) => Event::Ended(reason),
                EngineEvent::Error(msg) => Event::Error(msg),
                EngineEvent::Frame(f) => {
                    self.deliver(f);
                    continue;
                }
                // Counted by the engine; the player shows JPEG only.
                EngineEvent::Rtp { .. } => continue,
                EngineEvent::Closed(reason) => {
                    self.closed = Some(reason);
                    continue;
                }
            };
            self.emit(ui);
        }
    }

    /// Receives a multicast group on its RTP and RTCP ports.
    fn join(&mut self, g: MulticastGroup) -> Result<(), String> {
        let what = |port: u16, e: io::Error| format!("joining {} port {port}: {e}", g.group);
        let mut rtp = multicast_socket(g.group, g.rtp_port, self.local_ip, g.ttl)
            .map_err(|e| what(g.rtp_port, e))?;
        let mut rtcp = multicast_socket(g.group, g.rtcp_port, self.local_ip, g.ttl)
            .map_err(|e| what(g.rtcp_port, e))?;
        let registry = self.poll.registry();
        registry
            .register(&mut rtp, RTP, Interest::READABLE)
            .map_err(|e| what(g.rtp_port, e))?;
        registry
            .register(&mut rtcp, RTCP, Interest::READABLE)
            .map_err(|e| what(g.rtcp_port, e))?;
        info!(
            "joined {} ports {}-{} on {}",
            g.group, g.rtp_port, g.rtcp_port, self.local_ip
        );
        // Leaving the group is the kernel's business when the sockets close.
        self.rtp = Some(rtp);
        self.rtcp = Some(rtcp);
        Ok(())
    }

    fn emit(&self, e: Event) {
        let _ = self.ev.send(e);
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            match self.rtsp.write(&self.output) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("RTSP connection: {e}"))),
            }
        }
        Ok(())
    }

    /// Records and decodes a frame, and hands it to the UI unless the UI is behind.
    fn deliver(&mut self, f: ReceivedFrame) {
        if let Some(rec) = self.recorder.as_mut() {
            if let Err(e) = rec.write(&f.jpeg) {
                let msg = format!("recording to {}: {e}", rec.path().display());
                if let Some(rec) = self.recorder.take() {
                    rec.abandon();
                }
                self.emit(Event::Error(msg));
                self.emit(Event::Recording(None));
            }
        }
        self.timeline.mark_at(Mark::FirstFrame, f.completed);
        // A buffer the UI gave back: no fresh allocation (and page faults) per frame.
        let mut rgb = self.spare.try_recv().unwrap_or_default();
        match decode_rgb_into(&f.jpeg, &mut rgb) {
            Ok((width, height)) => {
                self.decoded += 1;
                self.timeline.mark(Mark::FirstDecoded);
                let quality = estimated_quality(&f.jpeg);
                let frame = Frame {
                    rgb,
                    width,
                    height,
                    jpeg: Arc::new(f.jpeg),
                    q: f.q,
                    quality,
                    position: f.position,
                    received: f.completed,
                    decoded: Instant::now(),
                };
                if let Err(TrySendError::Full(_)) = self.frames.try_send(frame) {
                    self.dropped += 1;
                }
            }
            Err(e) => {
                debug!("undecodable frame: {e}");
                self.dropped += 1;
            }
        }
    }

    /// Copies the counters where the UI can read them.
    fn publish(&self) {
        let e: &engine::Counters = self.engine.counters();
        if let Ok(mut c) = self.shared.lock() {
            *c = Counters {
                packets: e.packets,
                bytes: e.bytes,
                lost_packets: e.lost_packets,
                frames_dropped: e.frames_dropped + self.dropped,
                frames_decoded: self.decoded,
                foreign_packets: e.foreign_packets,
                late_packets: e.late_packets,
                reports_sent: e.reports_sent,
            };
        }
    }

    fn toggle_record(&mut self, path: Option<PathBuf>) {
        if let Some(rec) = self.recorder.take() {
            match rec.finish() {
                Ok((p, n)) => info!("recorded {n} frames to {}", p.display()),
                Err(e) => self.emit(Event::Error(format!("recording: {e}"))),
            }
            self.emit(Event::Recording(None));
        }
        if let Some(path) = path {
            match Recorder::create(&path) {
                Ok(r) => {
                    info!("recording to {}", path.display());
                    self.recorder = Some(r);
                    self.emit(Event::Recording(Some(path)));
                }
                Err(e) => self.emit(Event::Error(format!("{}: {e}", path.display()))),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(rec) = self.recorder.take() {
            match rec.finish() {
                Ok((p, n)) => info!("recorded {n} frames to {}", p.display()),
                Err(e) => warn!("recording: {e}"),
            }
        }
    }
}

/// What quality the sender chose, from the frame's luma quantization table: with Q 128-255
/// (what rtspd and GStreamer send) the tables travel in band and Q says nothing of it.
fn estimated_quality(jpeg: &[u8]) -> Option<u8> {
    let info = crate::jpeg::parse(jpeg).ok()?;
    let luma = info.components.first()?.tq;
    let table = info.qtables.iter().find(|t| t.id == luma)?;
    estimate_quality(&table.values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::movie::Movie;
    use crate::media::testmovie::TestMovie;

    #[test]
    fn quality_is_read_back_from_the_tables() {
        for quality in [30, 75, 95] {
            let tm = TestMovie {
                seconds: 0.1,
                width: 64,
                height: 64,
                quality,
                ..TestMovie::default()
            };
            let movie = Movie::from_bytes("m", tm.to_lab_bytes()).unwrap();
            let frame = movie.frame(0).unwrap();
            assert_eq!(estimated_quality(frame), Some(quality));
        }
        assert_eq!(estimated_quality(b"not a JPEG"), None);
    }
}
