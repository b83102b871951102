//! Relayed names in the core (`--relay NAME=URL`): the glue between [`crate::server::relay`]'s
//! relays and the core's timelines, sessions and replies.
//!
//! A relayed name is a shared timeline fed by one origin session. A reader's DESCRIBE or SETUP
//! of it wakes the relay; until the origin has described its stream the request waits (the
//! reactor stops reading that connection meanwhile, so pipelined requests keep their order),
//! then it is answered as any other, through [`Core::poll_reply`]. If the origin cannot be had
//! the waiting requests get 503 (unreachable), 404 (refused), 415 (nothing servable) or 504
//! (no answer in time). The timeline outlives origin drops, so readers keep their sessions; it
//! goes when the relay closes for want of readers.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use log::info;

use crate::rtsp::message::{Method, Request, Response, StatusCode};
use crate::server::catalog::movie_name_from_uri;
use crate::server::core::session::Feed;
use crate::server::core::{plain, ConnId, ConnInfo, Core, Outbox, SERVER};
use crate::server::relay::{Relay, RelayEvent, RelayId, RelayIo};
use crate::server::source::{SourceInfo, TimelineId};

/// How long a request may wait for an origin to describe its stream.
const WAIT_FOR_ORIGIN: Duration = Duration::from_secs(15);
const GATEWAY_TIMEOUT: StatusCode = StatusCode(504);

/// A request waiting for its relay's origin.
struct Waiting {
    conn: ConnInfo,
    req: Request,
    relay: RelayId,
    deadline: Instant,
}

/// A browser's `/mjpeg/` connection waiting for its relay's origin (its response head is sent;
/// frames follow once the origin describes the stream).
struct WaitingViewer {
    conn: ConnId,
    relay: RelayId,
    deadline: Instant,
}

/// The relays and what waits for them.
#[derive(Default)]
pub struct Edge {
    relays: Vec<Relay>,
    timelines: Vec<Option<TimelineId>>,
    waiting: Vec<Waiting>,
    viewers: Vec<WaitingViewer>,
    replies: VecDeque<(ConnId, Response)>,
    /// When readers are next counted (for the relays' linger).
    next_count: Option<Instant>,
}

impl Edge {
    pub fn new(relays: Vec<Relay>) -> Edge {
        Edge {
            timelines: vec![None; relays.len()],
            relays,
            ..Edge::default()
        }
    }
}

impl Core {
    /// The relay a request must wait for, if any: a DESCRIBE or SETUP of a relayed name whose
    /// origin has not described its stream yet. Any request for a relayed name wakes it.
    pub(super) fn relay_gate(&mut self, req: &Request, now: Instant) -> Option<RelayId> {
        if !matches!(req.method, Method::Describe | Method::Setup) || self.edge.relays.is_empty() {
            return None;
        }
        let name = movie_name_from_uri(&req.uri).ok()?.name;
        let id = self.wake_relay(&name, now)?;
        self.edge.timelines[id].is_none().then_some(id)
    }

    /// Relay `name` is wanted (a reader asks for it): it wakes if it sleeps, and readers are
    /// counted from now on. None if `name` is not relayed.
    fn wake_relay(&mut self, name: &str, now: Instant) -> Option<RelayId> {
        let id = self.edge.relays.iter().position(|r| r.spec.name == name)?;
        self.edge.relays[id].want(now);
        self.edge
            .next_count
            .get_or_insert(now + Duration::from_secs(1));
        Some(id)
    }

    /// Whether `name` is relayed (`--relay NAME=...`), pulled now or not.
    pub fn is_relay(&self, name: &str) -> bool {
        self.edge.relays.iter().any(|r| r.spec.name == name)
    }

    /// The relayed names.
    pub fn relay_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.edge.relays.iter().map(|r| r.spec.name.as_str())
    }

    /// A browser watches relayed `name` on connection `conn` (response head already queued):
    /// the relay wakes if it sleeps, and the viewer gets its frames once the origin has
    /// described the stream (or its body ends if the origin cannot be had). Nothing happens if
    /// `name` is not relayed.
    pub fn watch_relay(&mut self, conn: ConnId, name: &str, now: Instant) {
        let Some(id) = self.wake_relay(name, now) else {
            return;
        };
        match self.edge.timelines[id] {
            Some(t) => self.start_live_viewer(conn, t),
            None => {
                self.viewer_closed(conn);
                self.edge.viewers.push(WaitingViewer {
                    conn,
                    relay: id,
                    deadline: now + WAIT_FOR_ORIGIN,
                });
            }
        }
    }

    /// Viewer connections waiting for an origin.
    pub(super) fn relay_viewers_waiting(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.edge.viewers.iter().map(|v| v.conn)
    }

    /// Keeps a request until its relay's origin answers.
    pub(super) fn defer(&mut self, conn: &ConnInfo, req: &Request, relay: RelayId, now: Instant) {
        self.edge.waiting.push(Waiting {
            conn: *conn,
            req: req.clone(),
            relay,
            deadline: now + WAIT_FOR_ORIGIN,
        });
    }

    /// A reply to a request that waited: queue it on connection `.0`, then read that
    /// connection's input again.
    pub fn poll_reply(&mut self) -> Option<(ConnId, Response)> {
        self.edge.replies.pop_front()
    }

    /// What the relays want done with their origin connections.
    pub fn poll_relay_io(&mut self) -> Option<RelayIo> {
        self.edge.relays.iter_mut().find_map(Relay::poll_io)
    }

    /// Relay `id`'s connection to its origin is up.
    pub fn relay_connected(
        &mut self,
        id: RelayId,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        if let Some(r) = self.edge.relays.get_mut(id) {
            r.connected(now);
        }
        self.relay_events(now, wall, out);
    }

    /// Bytes from relay `id`'s origin.
    pub fn relay_input(
        &mut self,
        id: RelayId,
        data: &[u8],
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        if let Some(r) = self.edge.relays.get_mut(id) {
            r.input(data, now);
        }
        self.relay_events(now, wall, out);
    }

    /// Relay `id`'s origin connection failed or closed.
    pub fn relay_closed(
        &mut self,
        id: RelayId,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        if let Some(r) = self.edge.relays.get_mut(id) {
            r.closed(now);
        }
        self.relay_events(now, wall, out);
    }

    /// Relay `id`'s counters and whether its origin session is open, for logs and tests.
    pub fn relay_status(&self, name: &str) -> Option<(bool, crate::server::relay::RelayStats)> {
        let r = self.edge.relays.iter().find(|r| r.spec.name == name)?;
        Some((r.is_active(), r.stats))
    }

    fn relay_events(&mut self, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        loop {
            let Some(event) = self.edge.relays.iter_mut().find_map(Relay::poll_event) else {
                return;
            };
            match event {
                RelayEvent::Frame(id, frame, pts) => {
                    if let Some(t) = self.edge.timelines[id] {
                        self.push_frame(t, &frame, pts, now, wall, out);
                    }
                }
                RelayEvent::Described(id) => {
                    self.relay_described(id);
                    self.answer_waiting(id, None, now, wall, out);
                    let ready = self.take_viewers(|v| v.relay == id);
                    if let Some(t) = self.edge.timelines[id] {
                        for conn in ready {
                            self.start_live_viewer(conn, t);
                        }
                    }
                }
                RelayEvent::Failed(id, status) => {
                    self.answer_waiting(id, Some(status), now, wall, out);
                    let failed = self.take_viewers(|v| v.relay == id);
                    self.end_viewers(failed);
                }
                RelayEvent::Idle(id) => {
                    if let Some(t) = self.edge.timelines[id].take() {
                        self.remove_timeline(t, now, wall, out);
                    }
                }
            }
        }
    }

    /// The waiting viewers' connections that `pick` chooses, no longer waiting.
    fn take_viewers(&mut self, pick: impl Fn(&WaitingViewer) -> bool) -> Vec<ConnId> {
        let (taken, rest) = std::mem::take(&mut self.edge.viewers)
            .into_iter()
            .partition(|v| pick(v));
        self.edge.viewers = rest;
        taken.into_iter().map(|v: WaitingViewer| v.conn).collect()
    }

    /// The origin described the stream: the timeline readers follow, made or updated.
    fn relay_described(&mut self, id: RelayId) {
        let r = &self.edge.relays[id];
        let Some(d) = r.described.as_ref() else {
            return;
        };
        let (w, h) = d.size.unwrap_or((0, 0));
        let info = SourceInfo {
            name: r.spec.name.clone(),
            width: w,
            height: h,
            fps: d.fps.unwrap_or(self.config.fps),
            duration: None,
            frames: 0,
            bytes: 0,
        };
        match self.edge.timelines[id] {
            Some(t) => {
                if let Some(tl) = self.timelines.get_mut(&t) {
                    tl.info = info;
                }
            }
            None => self.edge.timelines[id] = Some(self.add_timeline(info)),
        }
    }

    /// Answers the requests waiting for relay `id`: as if they came now, or with `failed`.
    fn answer_waiting(
        &mut self,
        id: RelayId,
        failed: Option<StatusCode>,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let (ready, rest): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.edge.waiting)
            .into_iter()
            .partition(|w| w.relay == id);
        self.edge.waiting = rest;
        for w in ready {
            self.answer_one(w, failed, now, wall, out);
        }
    }

    fn answer_one(
        &mut self,
        w: Waiting,
        failed: Option<StatusCode>,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let cseq = w.req.headers.get("CSeq").map(|c| c.trim().to_string());
        let mut r = match failed {
            Some(status) => plain(status, cseq.as_deref()),
            // Authorized when it came; the relay has a timeline now, so it is answered at once.
            None => self
                .dispatch(&w.conn, &w.req, cseq.as_deref(), now, wall, out, false)
                .unwrap_or_else(|| plain(StatusCode::SERVICE_UNAVAILABLE, cseq.as_deref())),
        };
        r.headers.append("Server", SERVER);
        info!(
            "{}: {} {} answered {} after waiting for the origin",
            w.conn.peer, w.req.method, w.req.uri, r.status.0
        );
        self.edge.replies.push_back((w.conn.id, r));
    }

    /// The server is stopping: origin sessions are torn down.
    pub(super) fn edge_shutdown(&mut self, now: Instant) {
        for r in &mut self.edge.relays {
            r.shutdown(now);
        }
    }

    /// A connection closed: what waited on it is forgotten.
    pub(super) fn edge_closed(&mut self, conn: ConnId) {
        self.edge.waiting.retain(|w| w.conn.id != conn);
        self.edge.viewers.retain(|v| v.conn != conn);
        self.edge.replies.retain(|(c, _)| *c != conn);
    }

    pub(super) fn edge_deadline(&self) -> Option<Instant> {
        let relays = self.edge.relays.iter().filter_map(Relay::poll_timeout);
        let waiting = self.edge.waiting.iter().map(|w| w.deadline);
        let viewers = self.edge.viewers.iter().map(|v| v.deadline);
        relays
            .chain(waiting)
            .chain(viewers)
            .chain(self.edge.next_count)
            .min()
    }

    pub(super) fn edge_timeout(&mut self, now: Instant, wall: SystemTime, out: &mut dyn Outbox) {
        if self.edge.relays.is_empty() {
            return;
        }
        if self.edge.next_count.is_some_and(|t| now >= t) {
            self.count_relay_readers(now);
        }
        // Requests that waited their time first: the origin did not answer them in time,
        // whatever the relay then makes of its silence.
        let (late, rest): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.edge.waiting)
            .into_iter()
            .partition(|w| now >= w.deadline);
        self.edge.waiting = rest;
        for w in late {
            self.answer_one(w, Some(GATEWAY_TIMEOUT), now, wall, out);
        }
        let late = self.take_viewers(|v| now >= v.deadline);
        self.end_viewers(late);
        for r in &mut self.edge.relays {
            if r.poll_timeout().is_some_and(|t| now >= t) {
                r.handle_timeout(now);
            }
        }
        self.relay_events(now, wall, out);
    }

    /// Tells each relay how many readers it has: sessions on its timeline, browsers watching
    /// it, requests and browsers waiting for it.
    fn count_relay_readers(&mut self, now: Instant) {
        let mut any = false;
        for id in 0..self.edge.relays.len() {
            let t = self.edge.timelines[id];
            let sessions = self
                .sessions
                .values()
                .filter(|s| t.is_some() && matches!(s.feed, Feed::Timeline(x) if Some(x) == t))
                .count();
            let browsers = self.http.live.values().filter(|x| t == Some(**x)).count();
            let waiting = self.edge.waiting.iter().filter(|w| w.relay == id).count()
                + self.edge.viewers.iter().filter(|v| v.relay == id).count();
            let r = &mut self.edge.relays[id];
            r.readers(sessions + browsers + waiting, now);
            any |= r.is_active() || r.is_wanted() || t.is_some();
        }
        self.edge.next_count = any.then(|| now + Duration::from_secs(1));
    }

    /// The SDP readers get for a relay's timeline when the origin's codec is passed through.
    pub(super) fn relay_sdp(&self, timeline: TimelineId, server: IpAddr) -> Option<String> {
        let id = self
            .edge
            .timelines
            .iter()
            .position(|t| *t == Some(timeline))?;
        let r = &self.edge.relays[id];
        let d = r.described.as_ref()?;
        (!d.is_jpeg()).then(|| {
            d.announced
                .reader_sdp(&r.spec.name, server, self.config.fps)
        })
    }

    pub(super) fn relay_passthrough(&self, timeline: TimelineId) -> bool {
        self.edge
            .timelines
            .iter()
            .position(|t| *t == Some(timeline))
            .and_then(|id| self.edge.relays[id].described.as_ref())
            .is_some_and(|d| !d.is_jpeg())
    }
}
