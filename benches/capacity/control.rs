//! The RTSP side: N sessions (DESCRIBE, SETUP, PLAY), opened by a few worker threads at once
//! (bounded concurrency), each on its own TCP connection that stays open until TEARDOWN so no
//! session times out. Each worker owns the sessions it opened: once all are playing it only
//! sends a GET_PARAMETER to those whose `Session: ...;timeout=` is half gone (rtspd keeps a
//! session alive as long as its connection, GStreamer wants requests or RTCP), then tears its
//! sessions down in parallel with the others.
//!
//! Messages are built and parsed with the crate's sans-IO pieces: `rtsp::message` for requests
//! and responses, `rtsp::headers` for Transport and Session, `rtsp::sdp` for the control URLs.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_mjpeg::rtsp::headers::{SessionHeader, Transport};
use rtsp_mjpeg::rtsp::message::{parse, Limits, Message, Method, ParseError, Request, Response};
use rtsp_mjpeg::rtsp::sdp::{resolve_control, Sdp};

const USER_AGENT: &str = "rtsp-mjpeg capacity";

/// How the sessions are opened.
pub struct Plan {
    pub url: String,
    pub sessions: usize,
    /// The RTP port each session asks for (`client_port=P-(P+1)`): one shared port, or one each.
    pub client_ports: Vec<u16>,
    pub concurrency: usize,
    pub timeout: Duration,
}

struct Shared {
    plan: Plan,
    next: AtomicUsize,
    playing: AtomicUsize,
    failed: AtomicUsize,
    /// Workers that found no more sessions to open.
    idle_workers: AtomicUsize,
    stop: AtomicBool,
    /// Session 0 was tried: the others wait for it, as a server may prepare a stream on its
    /// first DESCRIBE (GStreamer prerolls its pipeline then, and 64 DESCRIBEs queued behind
    /// that can time out).
    first_done: AtomicBool,
    torn_down: AtomicUsize,
    errors: Mutex<Vec<String>>,
    /// SSRCs from the SETUP answers' Transport headers.
    ssrcs: Mutex<Vec<u32>>,
}

/// The running sessions.
pub struct Control {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

pub struct Outcome {
    pub playing: usize,
    pub failed: usize,
    pub errors: Vec<String>,
    pub ssrcs: Vec<u32>,
}

impl Control {
    pub fn start(plan: Plan) -> Control {
        let workers = plan.concurrency.clamp(1, plan.sessions.max(1));
        let shared = Arc::new(Shared {
            plan,
            next: AtomicUsize::new(0),
            playing: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            idle_workers: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            first_done: AtomicBool::new(false),
            torn_down: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
            ssrcs: Mutex::new(Vec::new()),
        });
        let workers = (0..workers)
            .map(|w| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("rtsp-{w}"))
                    // Small stacks: up to a few hundred of these.
                    .stack_size(256 << 10)
                    .spawn(move || worker(&shared))
                    .expect("spawn an RTSP worker")
            })
            .collect();
        Control { shared, workers }
    }

    /// Waits until every session was tried; returns how many play.
    pub fn wait_until_set_up(&self) -> Outcome {
        while self.shared.idle_workers.load(Ordering::Acquire) < self.workers.len() {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.outcome()
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            playing: self.shared.playing.load(Ordering::Acquire),
            failed: self.shared.failed.load(Ordering::Acquire),
            errors: lock(&self.shared.errors).clone(),
            ssrcs: lock(&self.shared.ssrcs).clone(),
        }
    }

    /// Tears every session down; returns how many TEARDOWNs were answered 200.
    pub fn teardown(self) -> usize {
        self.shared.stop.store(true, Ordering::Release);
        for w in self.workers {
            let _ = w.join();
        }
        self.shared.torn_down.load(Ordering::Acquire)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker(shared: &Shared) {
    let plan = &shared.plan;
    let mut mine: Vec<Session> = Vec::new();
    let mut idle = false;
    while !shared.stop.load(Ordering::Acquire) {
        keep_alive(&mut mine, shared);
        let i = if idle {
            plan.sessions
        } else {
            shared.next.fetch_add(1, Ordering::AcqRel)
        };
        if i < plan.sessions {
            while i > 0 && !shared.first_done.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let opened = Session::open(plan, plan.client_ports[i % plan.client_ports.len()]);
            shared.first_done.store(true, Ordering::Release);
            match opened {
                Ok(s) => {
                    if let Some(ssrc) = s.ssrc {
                        lock(&shared.ssrcs).push(ssrc);
                    }
                    mine.push(s);
                    shared.playing.fetch_add(1, Ordering::AcqRel);
                }
                Err(e) => {
                    shared.failed.fetch_add(1, Ordering::AcqRel);
                    let mut errors = lock(&shared.errors);
                    if errors.len() < 10 {
                        errors.push(format!("session {i}: {e}"));
                    }
                }
            }
        } else {
            if !idle {
                idle = true;
                shared.idle_workers.fetch_add(1, Ordering::AcqRel);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for mut s in mine {
        if s.request(Method::Teardown, &s.aggregate.clone(), &[])
            .is_ok()
        {
            shared.torn_down.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// GET_PARAMETER to sessions whose timeout is half gone.
fn keep_alive(mine: &mut [Session], shared: &Shared) {
    let now = Instant::now();
    for s in mine.iter_mut() {
        let Some(t) = s.timeout else { continue };
        if now.duration_since(s.last_request) < t / 2 {
            continue;
        }
        if let Err(e) = s.request(Method::GetParameter, &s.aggregate.clone(), &[]) {
            let mut errors = lock(&shared.errors);
            if errors.len() < 10 {
                errors.push(format!("keep-alive: {e}"));
            }
        }
    }
}

struct Session {
    stream: TcpStream,
    cseq: u32,
    id: Option<String>,
    aggregate: String,
    ssrc: Option<u32>,
    timeout: Option<Duration>,
    last_request: Instant,
    inbuf: Vec<u8>,
}

impl Session {
    fn open(plan: &Plan, rtp_port: u16) -> Result<Session, String> {
        let hostport = host_port(&plan.url)?;
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| format!("{hostport}: {e}"))?
            .next()
            .ok_or_else(|| format!("{hostport}: no address"))?;
        let stream = TcpStream::connect_timeout(&addr, plan.timeout)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(plan.timeout))
            .map_err(|e| e.to_string())?;
        let mut s = Session {
            stream,
            cseq: 0,
            id: None,
            aggregate: plan.url.clone(),
            ssrc: None,
            timeout: None,
            last_request: Instant::now(),
            inbuf: Vec::with_capacity(4096),
        };
        let r = s.request(
            Method::Describe,
            &plan.url,
            &[("Accept", "application/sdp")],
        )?;
        // RFC 2326 C.1.1: control URLs are relative to Content-Base, else Content-Location,
        // else the request URL.
        let base = r
            .headers
            .get("Content-Base")
            .or_else(|| r.headers.get("Content-Location"))
            .unwrap_or(&plan.url)
            .to_string();
        let sdp = Sdp::parse(&String::from_utf8_lossy(&r.body)).map_err(|e| e.to_string())?;
        let media = sdp
            .video()
            .or(sdp.media.first())
            .ok_or("SDP has no media")?;
        let track = resolve_control(&base, media.attr("control"));
        s.aggregate = match sdp.attr("control") {
            Some(c) => resolve_control(&base, Some(c)),
            None => base.clone(),
        };
        let transport = format!("RTP/AVP;unicast;client_port={}-{}", rtp_port, rtp_port + 1);
        let r = s.request(Method::Setup, &track, &[("Transport", &transport)])?;
        let session = r
            .headers
            .get("Session")
            .ok_or("SETUP answer has no Session")?;
        let session = SessionHeader::parse(session).map_err(|e| e.to_string())?;
        s.id = Some(session.id);
        s.timeout = session.timeout.map(Duration::from_secs);
        if let Some(t) = r.headers.get("Transport") {
            s.ssrc = Transport::parse(t).ok().and_then(|t| t.ssrc);
        }
        s.request(
            Method::Play,
            &s.aggregate.clone(),
            &[("Range", "npt=0.000-")],
        )?;
        Ok(s)
    }

    /// Sends one request and waits for the answer with its CSeq; anything but 200 is an error.
    fn request(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, String> {
        self.cseq += 1;
        let mut req = Request::new(method.clone(), uri);
        req.headers.append("CSeq", &self.cseq.to_string());
        req.headers.append("User-Agent", USER_AGENT);
        if let (Some(id), false) = (&self.id, method == Method::Describe) {
            req.headers.append("Session", id);
        }
        for (n, v) in headers {
            req.headers.append(n, v);
        }
        let mut out = Vec::with_capacity(256);
        req.write_to(&mut out);
        self.stream
            .write_all(&out)
            .map_err(|e| format!("{method}: write: {e}"))?;
        self.last_request = Instant::now();
        let limits = Limits {
            max_body: 1 << 20,
            ..Limits::default()
        };
        loop {
            match parse(&self.inbuf, &limits) {
                Ok((msg, used)) => {
                    self.inbuf.drain(..used);
                    if let Message::Response(r) = msg {
                        let cseq = r.headers.get("CSeq").and_then(|c| c.trim().parse().ok());
                        if cseq != Some(self.cseq) {
                            continue; // a late answer to something earlier
                        }
                        if r.status.0 != 200 {
                            return Err(format!("{method} {uri}: {} {}", r.status.0, r.reason));
                        }
                        return Ok(r);
                    }
                }
                Err(ParseError::Incomplete { .. }) => {
                    let mut buf = [0u8; 8192];
                    match self.stream.read(&mut buf) {
                        Ok(0) => return Err(format!("{method}: the server closed the connection")),
                        Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            return Err(format!("{method}: no answer within the timeout"))
                        }
                        Err(e) => return Err(format!("{method}: read: {e}")),
                    }
                }
                Err(e) => return Err(format!("{method}: bad answer: {e}")),
            }
        }
    }
}

/// `host:port` of an `rtsp://` URL (port 554 when absent).
fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("rtsp://")
        .ok_or_else(|| format!("{url}: not an rtsp:// URL"))?;
    let auth = rest.split('/').next().unwrap_or("");
    let auth = auth.rsplit('@').next().unwrap_or(auth);
    if auth.is_empty() {
        return Err(format!("{url}: no host"));
    }
    if auth.contains(':') && !auth.ends_with(']') {
        Ok(auth.to_string())
    } else {
        Ok(format!("{auth}:554"))
    }
}

pub fn check() {
    assert_eq!(
        host_port("rtsp://127.0.0.1:8554/movie.Mjpeg").as_deref(),
        Ok("127.0.0.1:8554")
    );
    assert_eq!(host_port("rtsp://h/x").as_deref(), Ok("h:554"));
    assert!(host_port("http://h/x").is_err());
}
