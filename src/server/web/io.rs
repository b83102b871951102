//! The reactor's side of HTTP: which protocol each connection speaks, and moving its bytes.
//!
//! A connection's [`Link`] is decided from its first request line ([`classify`]) and then
//! follows what the connection became: keep-alive HTTP requests, an MJPEG viewer (the core
//! paces it), a file body (read from disk as the socket drains, so a slow reader costs one
//! chunk of memory), or one end of an RTSP tunnel. A tunnel's GET connection is an RTSP
//! connection from then on: the POST's body, base64-decoded, is appended to its input and parsed
//! by the usual RTSP path, so replies and interleaved RTP go out on the GET.
//!
//! Three hooks in the reactor call in here: [`Server::http_input`] before RTSP parsing,
//! [`Server::http_drained`] when a connection's queue has gone out, [`Server::http_busy`] in the
//! idle sweep.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};
use mio::{Interest, Token};

use crate::http::request::{classify, parse_head, ParseError, Protocol, Request};
use crate::http::response::{http_date, Response};
use crate::http::tunnel::{tunnel_end, Base64Reader, TunnelEnd};
use crate::server::core::{ConnInfo, SERVER};
use crate::server::reactor::{Server, CONN_BASE};
use crate::server::web::files::FileBody;
use crate::server::web::{error, Action, Gauges};

/// Bytes of a file read per chunk.
const FILE_CHUNK: usize = 256 * 1024;
/// Chunks sent back to back before other connections get their turn.
const FILE_BURST: u32 = 8;
/// A viewer that takes nothing for this long (or the idle time-out, if longer) is closed.
const MIN_STALL: Duration = Duration::from_secs(10);

/// What a connection is, once its first request line has been seen.
#[derive(Default)]
pub enum Link {
    /// Nothing complete yet.
    #[default]
    Undecided,
    Rtsp,
    /// HTTP requests, one response each.
    Http,
    /// An MJPEG stream: the core sends its parts; input is ignored.
    Viewer {
        progress: Progress,
    },
    /// A response body being read from a file.
    File {
        body: FileBody,
        keep_alive: bool,
        burst: u32,
        progress: Progress,
    },
    /// The server-to-client half of an RTSP tunnel: an RTSP connection from now on.
    TunnelGet,
    /// The client-to-server half: base64 RTSP for the GET connection `(slot, serial)`.
    TunnelPost {
        get: (usize, u64),
        reader: Base64Reader,
    },
}

/// When a streaming connection last took bytes.
pub struct Progress {
    written: u64,
    at: Instant,
}

/// Open tunnels: cookie -> the GET connection's (slot, serial, address).
#[derive(Default)]
pub struct Tunnels(HashMap<String, (usize, u64, IpAddr)>);

impl Server {
    /// Called before RTSP parsing: handles the input of an HTTP connection and returns true, or
    /// returns false for RTSP (and tunnel GET) connections.
    pub(in crate::server) fn http_input(
        &mut self,
        slot: usize,
        now: Instant,
        wall: SystemTime,
    ) -> bool {
        let max_head = self.limits.max_head;
        let Some(c) = self.conns.get_mut(slot) else {
            return true;
        };
        match &c.web {
            Link::Rtsp | Link::TunnelGet => return false,
            Link::Undecided => match classify(&c.input, max_head) {
                None => return true,
                Some(Protocol::Rtsp) => {
                    c.web = Link::Rtsp;
                    return false;
                }
                Some(Protocol::Http) => c.web = Link::Http,
            },
            Link::Viewer { .. } => {
                c.input.clear(); // a stream's client has nothing more to say
                c.partial_since = None;
                return true;
            }
            Link::File { .. } => return true, // pipelined requests wait for the body
            Link::TunnelPost { .. } => {
                self.tunnel_post_input(slot, now, wall);
                return true;
            }
            Link::Http => {}
        }
        self.http_requests(slot, now, wall);
        true
    }

    fn gauges(&self) -> Gauges {
        let http = self
            .conns
            .slots
            .iter()
            .flatten()
            .filter(|c| !matches!(c.web, Link::Undecided | Link::Rtsp))
            .count();
        Gauges {
            connections: self.conns.count,
            http_connections: http,
            tunnels: self.web.tunnels.0.len(),
            refused: self.web.refused,
        }
    }

    /// Answers every complete request in an HTTP connection's input.
    fn http_requests(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let max_queue = self.core.config().max_queue;
        loop {
            let limits = self.limits;
            let Some(c) = self.conns.get_mut(slot) else {
                return;
            };
            if c.closing || !matches!(c.web, Link::Http) || c.input.is_empty() {
                return;
            }
            if c.queued() > max_queue {
                return; // read on once the client has taken its responses
            }
            let (req, mut used) = match parse_head(&c.input, &limits) {
                Ok(parsed) => parsed,
                Err(ParseError::Incomplete) => return,
                Err(e) => {
                    let line_ends = c.input.iter().take(limits.max_head).any(|&b| b == b'\n');
                    let status = match e {
                        ParseError::HeadTooLarge if !line_ends => 414,
                        ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
                        ParseError::UnsupportedVersion => 505,
                        ParseError::UnsupportedTransferCoding => 501,
                        _ => 400,
                    };
                    info!(
                        "{}: bad HTTP request ({e}); answering {status} and closing",
                        c.peer
                    );
                    let mut r = error(status, "The server could not read that request.");
                    r.close = true;
                    c.input.clear();
                    self.send(slot, None, r, false);
                    return;
                }
            };
            // Bodies: the tunnel's POST is read as it comes; others are skipped (nothing here
            // takes one), up to the RTSP body limit.
            if req.body_len > 0 && !matches!(tunnel_end(&req), Some(TunnelEnd::Post(_))) {
                if req.body_len > limits.max_body as u64 {
                    let mut r = error(413, "That request is too large.");
                    r.close = true;
                    c.input.clear();
                    self.send(slot, Some(&req), r, false);
                    return;
                }
                let total = used + req.body_len as usize;
                if c.input.len() < total {
                    return;
                }
                used = total;
            }
            c.input.drain(..used);
            c.partial_since = (!c.input.is_empty()).then_some(now);
            let info = ConnInfo {
                id: slot,
                peer: c.peer,
                local: c.local,
            };
            // Counting HTTP connections walks the slab: only /metrics shows it.
            let gauges = if req.target.contains("/metrics") {
                self.gauges()
            } else {
                Gauges::default()
            };
            let action = self.web.respond(&mut self.core, &req, &info, &gauges, wall);
            debug!(
                "{}: HTTP {} {} -> {}",
                info.peer,
                req.method,
                req.target,
                action.status().map_or("(tunnel)".into(), |s| s.to_string())
            );
            self.apply(slot, &req, action, now, wall);
        }
    }

    /// Queues an MJPEG response's head and its first boundary line, and marks the connection
    /// as a viewer's; false if the connection is gone.
    fn open_stream(&mut self, slot: usize, response: &Response, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(slot) else {
            return false;
        };
        let mut head = response.to_bytes(true);
        head.extend_from_slice(format!("--{}\r\n", crate::http::response::BOUNDARY).as_bytes());
        c.push_reply(&head);
        c.web = Link::Viewer {
            progress: Progress {
                written: 0,
                at: now,
            },
        };
        self.dirty.push(slot);
        true
    }

    /// The open tunnel GET `cookie` names: its slot, serial and client address.
    fn live_tunnel(&self, cookie: &str) -> Option<(usize, u64, IpAddr)> {
        let (g, serial, ip) = *self.web.tunnels.0.get(cookie)?;
        let gc = self.conns.slots.get(g)?.as_ref()?;
        (gc.serial == serial && matches!(gc.web, Link::TunnelGet)).then_some((g, serial, ip))
    }

    /// Queues a whole response and counts it.
    fn send(&mut self, slot: usize, req: Option<&Request>, mut r: Response, head_only: bool) {
        if r.get("Date").is_none() {
            r.headers
                .push(("Date".into(), http_date(SystemTime::now())));
            r.headers.push(("Server".into(), SERVER.into()));
        }
        self.core
            .counters_mut()
            .count_http(req.map(|r| r.method.as_str()), r.status);
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        c.push_reply(&r.to_bytes(head_only));
        c.closing |= r.close;
        self.dirty.push(slot);
    }

    fn apply(
        &mut self,
        slot: usize,
        req: &Request,
        action: Action,
        now: Instant,
        wall: SystemTime,
    ) {
        let action = match action {
            // A cookie names one tunnel: another GET cannot take it over (and with it the
            // first one's POSTs) while that tunnel's GET is open.
            Action::TunnelGet { cookie, .. } if self.live_tunnel(&cookie).is_some() => {
                info!("tunnel GET with a cookie already in use; refused");
                let mut response = error(409, "That tunnel cookie is in use.");
                response.close = true;
                Action::Reply {
                    response,
                    head_only: false,
                }
            }
            a => a,
        };
        if let Some(status) = action.status() {
            if !matches!(action, Action::Reply { .. }) {
                self.core
                    .counters_mut()
                    .count_http(Some(&req.method), status);
            }
        }
        match action {
            Action::Reply {
                response,
                head_only,
            } => self.send(slot, Some(req), response, head_only),
            Action::Mjpeg {
                response,
                source,
                start,
            } => {
                if self.open_stream(slot, &response, now) {
                    self.core.start_viewer(slot, source, start, now);
                }
            }
            Action::MjpegLive { response, timeline } => {
                if self.open_stream(slot, &response, now) {
                    self.core.start_live_viewer(slot, timeline);
                }
            }
            Action::MjpegRelay { response, name } => {
                if self.open_stream(slot, &response, now) {
                    self.core.watch_relay(slot, &name, now);
                }
            }
            Action::File {
                response,
                path,
                start,
                len,
            } => match FileBody::open(&path, start, len) {
                Ok(body) => {
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    c.push_reply(&response.to_bytes(true));
                    c.web = Link::File {
                        body,
                        keep_alive: !response.close,
                        burst: 0,
                        progress: Progress {
                            written: 0,
                            at: now,
                        },
                    };
                    // The request loop goes on with the next request if this body is done.
                    self.fill_file(slot, now, wall, false);
                }
                Err(e) => {
                    warn!("{}: {e}", path.display());
                    let mut r = error(500, "The file could not be read.");
                    r.close = true;
                    self.send(slot, Some(req), r, false);
                }
            },
            Action::TunnelGet { response, cookie } => {
                let Some(c) = self.conns.get_mut(slot) else {
                    return;
                };
                c.push_reply(&response.to_bytes(true));
                c.web = Link::TunnelGet;
                let entry = (slot, c.serial, c.peer.ip());
                info!("{}: RTSP tunnel over HTTP opened", c.peer);
                self.dirty.push(slot);
                // A cookie left by a closed GET is free to take.
                self.web.tunnels.0.insert(cookie, entry);
            }
            Action::TunnelPost { cookie } => {
                let Some(peer) = self.conns.get_mut(slot).map(|c| c.peer.ip()) else {
                    return;
                };
                let alive = self.live_tunnel(&cookie).filter(|&(_, _, ip)| ip == peer);
                let Some((g, serial, _)) = alive else {
                    let mut r = error(404, "No RTSP tunnel has that cookie.");
                    r.close = true;
                    info!("tunnel POST with an unknown cookie");
                    self.send(slot, Some(req), r, false);
                    return;
                };
                self.core.counters_mut().count_http(Some("POST"), 200);
                if let Some(c) = self.conns.get_mut(slot) {
                    c.web = Link::TunnelPost {
                        get: (g, serial),
                        reader: Base64Reader::new(),
                    };
                }
                self.tunnel_post_input(slot, now, wall);
            }
        }
    }

    /// Decodes a tunnel POST's input and hands the RTSP bytes to its GET connection.
    fn tunnel_post_input(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let Link::TunnelPost { get, reader } = &mut c.web else {
            return;
        };
        let (g, serial) = *get;
        let input = std::mem::take(&mut c.input);
        c.partial_since = None;
        let mut decoded = Vec::new();
        if let Err(e) = reader.push(&input, &mut decoded) {
            info!("{}: RTSP tunnel POST: {e}; closing it", c.peer);
            c.closing = true;
            self.dirty.push(slot);
            return;
        }
        let get_alive = self
            .conns
            .get_mut(g)
            .filter(|gc| gc.serial == serial && matches!(gc.web, Link::TunnelGet));
        let Some(gc) = get_alive else {
            if let Some(c) = self.conns.get_mut(slot) {
                c.closing = true;
            }
            self.dirty.push(slot);
            return;
        };
        if decoded.is_empty() {
            return;
        }
        gc.input.extend_from_slice(&decoded);
        gc.last_rx = now;
        gc.partial_since.get_or_insert(now);
        if gc.input_full() {
            warn!(
                "{}: RTSP tunnel: more requests than the GET connection takes; closing both",
                gc.peer
            );
            self.close(g, now, wall);
            self.close(slot, now, wall);
            return;
        }
        self.process_input(g, now, wall, false);
    }

    /// Viewers whose stream ended are closed once what they were sent has gone out.
    pub(in crate::server) fn end_viewers(&mut self) {
        while let Some(slot) = self.core.poll_ended_viewer() {
            if let Some(c) = self.conns.get_mut(slot) {
                debug!("{}: the stream this viewer watched ended", c.peer);
                c.closing = true;
                self.dirty.push(slot);
            }
        }
    }

    /// A connection's queue has gone out: a file body gets its next chunk.
    pub(in crate::server) fn http_drained(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        if let Some(c) = self.conns.get_mut(slot) {
            if matches!(c.web, Link::File { .. }) {
                self.fill_file(slot, now, wall, true);
            }
        }
    }

    /// Queues the next chunk of a file body. `drained`: called because the queue went out (not
    /// from the request loop), so requests that waited behind the body are read here.
    fn fill_file(&mut self, slot: usize, now: Instant, wall: SystemTime, drained: bool) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let Link::File {
            body,
            keep_alive,
            burst,
            ..
        } = &mut c.web
        else {
            return;
        };
        let mut chunk = Vec::new();
        let done = match body.read_chunk(FILE_CHUNK, &mut chunk) {
            Ok(done) => done,
            Err(e) => {
                warn!("{}: file body: {e}; closing", c.peer);
                self.close(slot, now, wall);
                return;
            }
        };
        *burst += 1;
        let keep_alive = *keep_alive;
        let yield_now = *burst >= FILE_BURST && !done;
        if yield_now {
            *burst = 0;
        }
        c.push_reply(&chunk);
        if yield_now {
            // Let other connections have their turn: ask to be woken when the socket can take
            // more (epoll reports a writable socket at once on re-registration).
            c.want_write = true;
            let _ = self.poll.registry().reregister(
                &mut c.stream,
                Token(CONN_BASE + slot),
                Interest::READABLE | Interest::WRITABLE,
            );
            // Flush what was queued now; the writable event brings the rest.
            let _ = c.flush();
            return;
        }
        self.dirty.push(slot);
        if done {
            if keep_alive {
                c.web = Link::Http;
                if drained {
                    // Requests that came meanwhile, and any the full input buffer left unread.
                    self.read_conn(slot, now, wall);
                }
            } else {
                c.closing = true;
            }
        }
    }

    /// Streaming connections that are still taking bytes (viewers, file bodies) and tunnel
    /// POSTs whose GET is open are busy: the idle sweep leaves them alone. Forgets tunnels
    /// whose GET has closed.
    pub(in crate::server) fn http_busy(&mut self, busy: &mut HashSet<usize>, now: Instant) {
        let limit = self.core.config().idle_timeout.max(MIN_STALL);
        let gets: HashSet<(usize, u64)> = self
            .conns
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| matches!(c.web, Link::TunnelGet))
            .map(|(i, c)| (i, c.serial))
            .collect();
        self.web
            .tunnels
            .0
            .retain(|_, (slot, serial, _)| gets.contains(&(*slot, *serial)));
        for (i, c) in self.conns.slots.iter_mut().enumerate() {
            let Some(c) = c else { continue };
            let written = c.written_total();
            match &mut c.web {
                Link::Viewer { progress } | Link::File { progress, .. } => {
                    if written != progress.written {
                        progress.written = written;
                        progress.at = now;
                    }
                    if now.saturating_duration_since(progress.at) < limit {
                        busy.insert(i);
                    }
                }
                Link::TunnelPost { get, .. } if gets.contains(get) => {
                    busy.insert(i);
                }
                _ => {}
            }
        }
    }
}
