//! What the HTTP side of the port asks of the core (issue 13), sans-IO like the rest of it:
//! sources by name and single frames (through the shared [`FrameCache`]), authentication with
//! the RTSP credentials, the counters `/metrics` shows, and MJPEG viewers.
//!
//! An MJPEG viewer is an on-demand reader like an RTSP session: its own [`Cursor`] on a
//! [`Seekable`] source, paced by the core's timer wheel at the source's frame times (no drift:
//! frame `k` is due at `anchor + clock_k`), frames from the cache every session shares. Each
//! frame is one part of a `multipart/x-mixed-replace` body, queued whole on the viewer's
//! connection through [`Outbox::stream`]:
//!
//! - **Advance headers.** Chromium shows part `k` only once the headers of part `k + 1` have
//!   arrived (crbug 527446). So after a frame's body the viewer also sends the boundary and the
//!   headers of the frame due next: that frame is *committed* (its `Content-Length` is on the
//!   wire) and its body alone goes out when it is due.
//! - **The newest frame, never a queue.** A frame is queued only when the connection has taken
//!   what it had: our queue holds at most part headers and the kernel at most
//!   `max(2 frames, 32 KiB)` unsent or unacknowledged (`SIOCOUTQ`). Otherwise the frame's time
//!   passes unsent (counted as skipped) and the next due frame gets the next chance, so a slow
//!   viewer sees the current picture at the rate its path allows, and a stalled one resumes at
//!   the current position. A commitment made just before a viewer fell behind is honoured (its
//!   body is sent when the socket can take it, so no part is ever cut), and advance headers
//!   resume only once the viewer has kept up for two frames in a row.
//!
//! A viewer ends when its connection closes; the reactor closes connections whose viewer has
//! taken nothing for its idle limit.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::debug;

use crate::http::response::{part_head, PART_END};
use crate::rtsp::message::{Method, StatusCode};
use crate::server::auth::Verdict;
use crate::server::core::sender::SenderStats;
use crate::server::core::{ConnId, Core, Outbox, Tick, Totals};
use crate::server::source::library::LookupError;
use crate::server::source::{Cursor, FrameRef, Seekable, SourceInfo, TimelineId, CLOCK_RATE};
use crate::server::timer::TimerKey;

/// The kernel may hold this much of a viewer's stream (or two frames, if more) before the
/// viewer is considered behind: enough for a path of ~100 ms at 24 fps of 640x480.
const MIN_IN_FLIGHT: usize = 32 * 1024;

/// Our own queue may hold this much (part headers) and still take a frame.
const HEADERS_ONLY: usize = 1024;

/// A viewer whose frames cannot be read this many times in a row stops (its connection then
/// goes idle and is closed).
const MAX_UNREADABLE_IN_A_ROW: u32 = 48;

struct Viewer {
    conn: ConnId,
    cursor: Cursor,
    /// Ticks of media played since the start, and the pacing origin (when `clock` was `.1`).
    clock: u64,
    anchor: (Instant, u64),
    timer: Option<TimerKey>,
    /// The frame whose part headers are on the wire: its body is the next thing to send.
    committed: Option<(usize, FrameRef)>,
    /// Frames in a row the connection could take.
    streak: u32,
    unreadable_run: u32,
}

/// Counters over the server's life that `/metrics` shows beside [`Totals`].
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// RTSP requests by (method, status); methods outside RFC 2326 count as `other`, requests
    /// too broken to parse as `invalid`.
    pub rtsp_requests: BTreeMap<(&'static str, u16), u64>,
    /// HTTP requests by (method, status), the same way.
    pub http_requests: BTreeMap<(&'static str, u16), u64>,
    pub viewers_started: u64,
    pub viewer_frames_sent: u64,
    /// Frames whose time passed while the viewer's connection could not take them.
    pub viewer_frames_skipped: u64,
    pub viewer_bytes: u64,
    /// RTP sent by sessions that have ended (live sessions are added when asked).
    pub ended_packets: u64,
    pub ended_octets: u64,
    pub receiver_reports: u64,
    /// Packets receivers reported lost: the rises of each session's cumulative count.
    pub reported_lost: u64,
    last_lost: HashMap<u64, i32>,
}

impl Counters {
    pub fn count_rtsp(&mut self, method: Option<&Method>, status: StatusCode) {
        let label = match method {
            None => "invalid",
            Some(m) => m.known_name().unwrap_or("other"),
        };
        *self.rtsp_requests.entry((label, status.0)).or_insert(0) += 1;
    }

    pub fn count_http(&mut self, method: Option<&str>, status: u16) {
        let label = match method {
            None => "invalid",
            Some("GET") => "GET",
            Some("HEAD") => "HEAD",
            Some("POST") => "POST",
            Some(_) => "other",
        };
        *self.http_requests.entry((label, status)).or_insert(0) += 1;
    }

    fn on_report(&mut self, session: u64, cumulative_lost: i32) {
        self.receiver_reports += 1;
        // Duplicates can make the cumulative count fall (RFC 3550 §6.4.1): only rises past the
        // highest count seen are new losses.
        let last = self.last_lost.entry(session).or_insert(0);
        if cumulative_lost > *last {
            self.reported_lost += u64::try_from(cumulative_lost - *last).unwrap_or(0);
            *last = cumulative_lost;
        }
    }

    fn session_ended(&mut self, session: u64, stats: &SenderStats) {
        self.ended_packets += stats.packets;
        self.ended_octets += stats.octets;
        self.last_lost.remove(&session);
    }
}

/// The HTTP side's state in the core.
#[derive(Default)]
pub struct HttpSide {
    viewers: HashMap<u64, Viewer>,
    by_conn: HashMap<ConnId, u64>,
    /// Viewers of live streams (shared timelines): their connection and the timeline.
    pub(super) live: HashMap<ConnId, TimelineId>,
    /// Viewer connections whose stream ended (a publisher left, an origin could not be had):
    /// the reactor closes them once their queue drains, so readers see the body end.
    ended: Vec<ConnId>,
    next_viewer: u64,
    pub counters: Counters,
}

/// What an HTTP request's credentials allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    Allowed,
    /// 401 with these `WWW-Authenticate` values.
    Challenge(Vec<String>),
    /// 403: too many failures from this address.
    Locked,
}

/// Everything `/metrics` shows from the core, taken at once.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sessions: usize,
    pub playing: usize,
    pub viewers: usize,
    pub totals: Totals,
    /// RTP packets and bytes (12-byte headers included) sent over the server's life.
    pub rtp_packets: u64,
    pub rtp_bytes: u64,
    pub counters: Counters,
    pub auth_failures: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_bytes: usize,
    pub sources_loaded: usize,
}

impl Core {
    /// The on-demand source called `name`: a movie or a playlist.
    pub fn source(&mut self, name: &str) -> Result<Arc<dyn Seekable>, LookupError> {
        self.library.source(name, &mut self.cache)
    }

    /// Frame `i` of `source`, through the shared cache.
    pub fn frame_of(&mut self, source: &dyn Seekable, i: usize) -> Result<FrameRef, String> {
        source.frame(i, &mut self.cache)
    }

    /// Checks an HTTP request's `Authorization` against the RTSP credentials (same users,
    /// schemes, nonces and lockout). Everyone is allowed without `--auth`.
    pub fn authorize_http(
        &mut self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        peer: IpAddr,
        wall: SystemTime,
    ) -> HttpAuth {
        let Some(auth) = self.auth.as_mut() else {
            return HttpAuth::Allowed;
        };
        match auth.check(method, target, authorization, peer, wall) {
            Verdict::Allowed => HttpAuth::Allowed,
            Verdict::Challenge { stale } => HttpAuth::Challenge(auth.challenges(wall, stale)),
            Verdict::Locked => HttpAuth::Locked,
        }
    }

    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.http.counters
    }

    pub fn viewer_count(&self) -> usize {
        self.http.viewers.len() + self.http.live.len()
    }

    /// Connections that carry an MJPEG viewer (or one waiting for a relay's origin).
    pub fn viewer_connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.http
            .by_conn
            .keys()
            .chain(self.http.live.keys())
            .copied()
            .chain(self.relay_viewers_waiting())
    }

    /// A viewer connection whose stream has ended, to close once its queue drains.
    pub fn poll_ended_viewer(&mut self) -> Option<ConnId> {
        self.http.ended.pop()
    }

    /// The browsers watching live `timeline` lose it (it ended): their bodies end.
    pub(super) fn end_live_viewers(&mut self, timeline: TimelineId) {
        let ended = &mut self.http.ended;
        self.http.live.retain(|conn, t| {
            let keep = *t != timeline;
            if !keep {
                ended.push(*conn);
            }
            keep
        });
    }

    /// Viewer connections to close: their stream could not be had.
    pub(super) fn end_viewers(&mut self, conns: impl IntoIterator<Item = ConnId>) {
        self.http.ended.extend(conns);
    }

    /// The live stream (a publisher's or a relay's shared timeline) called `name`, if one is on.
    pub fn live_stream(&self, name: &str) -> Option<(TimelineId, SourceInfo)> {
        self.timelines
            .iter()
            .find(|(_, t)| t.info.name == name)
            .map(|(id, t)| (*id, t.info.clone()))
    }

    /// The live streams on now, by name.
    pub fn live_streams(&self) -> Vec<SourceInfo> {
        let mut v: Vec<SourceInfo> = self.timelines.values().map(|t| t.info.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The last JPEG frame of the live stream `name` (its thumbnail).
    pub fn live_frame(&self, name: &str) -> Option<FrameRef> {
        self.timelines
            .values()
            .find(|t| t.info.name == name)
            .and_then(|t| t.last_jpeg.clone())
    }

    /// Streams the live `timeline` to connection `conn` (response head and first boundary
    /// line already queued): each JPEG frame it pushes from now on, as one part.
    pub fn start_live_viewer(&mut self, conn: ConnId, timeline: TimelineId) {
        self.viewer_closed(conn);
        self.http.live.insert(conn, timeline);
        self.http.counters.viewers_started += 1;
    }

    /// A live frame for the browsers watching `timeline`: each whose connection has taken what
    /// it had gets it as one part, followed at once by the next part's boundary (so a browser
    /// shows it without waiting for the next frame); the others let it pass. Frames of other
    /// codecs (passed through from a publisher) are not MJPEG and are not sent.
    pub(super) fn push_to_live_viewers(
        &mut self,
        timeline: TimelineId,
        frame: &FrameRef,
        out: &mut dyn Outbox,
    ) {
        if frame.jpeg.is_empty() || self.http.live.is_empty() {
            return;
        }
        let conns: Vec<ConnId> = self
            .http
            .live
            .iter()
            .filter(|(_, t)| **t == timeline)
            .map(|(c, _)| *c)
            .collect();
        let head = part_head(frame.jpeg.len());
        let budget = (2 * frame.jpeg.len()).max(MIN_IN_FLIGHT);
        for conn in conns {
            let Some(b) = out.backlog(conn) else {
                self.http.live.remove(&conn);
                continue;
            };
            if b.queued > HEADERS_ONLY || b.queued + b.unsent > budget {
                self.http.counters.viewer_frames_skipped += 1;
                continue;
            }
            if out.stream(conn, &[&head, &frame.jpeg, PART_END]) {
                self.http.counters.viewer_frames_sent += 1;
                self.http.counters.viewer_bytes +=
                    (head.len() + frame.jpeg.len() + PART_END.len()) as u64;
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let live = self.sessions.values().map(|s| s.rtp.stats);
        let (mut packets, mut octets) = (
            self.http.counters.ended_packets,
            self.http.counters.ended_octets,
        );
        for st in live {
            packets += st.packets;
            octets += st.octets;
        }
        Snapshot {
            sessions: self.session_count(),
            playing: self
                .sessions
                .values()
                .filter(|s| s.state == super::session::State::Playing)
                .filter(|s| !self.is_group_sender(s.id))
                .count(),
            viewers: self.http.viewers.len(),
            totals: self.totals,
            rtp_packets: packets,
            rtp_bytes: octets + 12 * packets,
            counters: self.http.counters.clone(),
            auth_failures: self.auth.as_ref().map_or(0, |a| a.failures_total()),
            cache_hits: self.cache.hits,
            cache_misses: self.cache.misses,
            cache_bytes: self.cache.held_bytes(),
            sources_loaded: self.library.loaded_count(),
        }
    }

    /// Starts streaming `source` from frame `start` to connection `conn`, whose response head
    /// (ending with the first boundary line) is already queued. The first frame leaves at the
    /// next [`Core::handle_timeout`].
    pub fn start_viewer(
        &mut self,
        conn: ConnId,
        source: Arc<dyn Seekable>,
        start: usize,
        now: Instant,
    ) {
        self.viewer_closed(conn);
        let id = self.http.next_viewer;
        self.http.next_viewer += 1;
        let mut cursor = Cursor::new(source);
        cursor.index = start.min(cursor.source.frame_count().saturating_sub(1));
        let timer = Some(self.timers.insert(now, Tick::View(id)));
        self.http.viewers.insert(
            id,
            Viewer {
                conn,
                cursor,
                clock: 0,
                anchor: (now, 0),
                timer,
                committed: None,
                streak: 1,
                unreadable_run: 0,
            },
        );
        self.http.by_conn.insert(conn, id);
        self.http.counters.viewers_started += 1;
    }

    /// Forgets the viewer on `conn`, if any (its connection closed).
    pub(super) fn viewer_closed(&mut self, conn: ConnId) {
        self.http.live.remove(&conn);
        self.http.ended.retain(|c| *c != conn);
        if let Some(id) = self.http.by_conn.remove(&conn) {
            if let Some(v) = self.http.viewers.remove(&id) {
                if let Some(k) = v.timer {
                    self.timers.cancel(k);
                }
            }
        }
    }

    pub(super) fn http_report(&mut self, session: u64, cumulative_lost: i32) {
        self.http.counters.on_report(session, cumulative_lost);
    }

    pub(super) fn http_session_ended(&mut self, session: u64, stats: &SenderStats) {
        self.http.counters.session_ended(session, stats);
    }

    /// A viewer's timer: its next frame is due.
    pub(super) fn viewer_tick(&mut self, id: u64, now: Instant, out: &mut dyn Outbox) {
        let Some(mut v) = self.http.viewers.remove(&id) else {
            return;
        };
        v.timer = None;
        let source = v.cursor.source.clone();
        let count = source.frame_count();
        let Some(backlog) = out.backlog(v.conn).filter(|_| count > 0) else {
            self.http.by_conn.remove(&v.conn);
            return;
        };
        if v.cursor.at_end() {
            v.cursor.index = 0; // viewers loop
        }
        let i = v.cursor.index;
        match source.frame(i, &mut self.cache) {
            Ok(frame) => {
                v.unreadable_run = 0;
                let budget = (2 * frame.jpeg.len()).max(MIN_IN_FLIGHT);
                if backlog.queued <= HEADERS_ONLY && backlog.queued + backlog.unsent <= budget {
                    self.send_part(&mut v, i, &frame, out);
                } else {
                    v.streak = 0;
                    self.http.counters.viewer_frames_skipped += 1;
                }
            }
            Err(_) => {
                self.totals.frames_unreadable += 1;
                v.unreadable_run += 1;
                if v.unreadable_run >= MAX_UNREADABLE_IN_A_ROW {
                    debug!(
                        "viewer on connection {}: source unreadable; stopped",
                        v.conn
                    );
                    self.http.by_conn.remove(&v.conn);
                    return;
                }
            }
        }
        v.clock += v.cursor.duration_of(i);
        v.cursor.index += 1;
        let mut due = v.anchor.0 + ticks(v.clock - v.anchor.1);
        if due + Duration::from_secs(1) < now {
            // The loop was held up for over a second: start afresh rather than burst.
            v.anchor = (now, v.clock);
            due = now;
        }
        v.timer = Some(self.timers.insert(due, Tick::View(id)));
        self.http.viewers.insert(id, v);
    }

    /// Sends frame `i` (or first the body its headers already promised) to a viewer whose
    /// connection can take it.
    fn send_part(&mut self, v: &mut Viewer, i: usize, frame: &FrameRef, out: &mut dyn Outbox) {
        let head;
        let mut chunks: Vec<&[u8]> = Vec::with_capacity(5);
        let committed = v.committed.take();
        let mut caught_up = true;
        match &committed {
            Some((ci, f)) => {
                chunks.extend_from_slice(&[&f.jpeg, PART_END]);
                if *ci != i {
                    // Promised before the viewer fell behind: it goes out now, and the due
                    // frame's time passes.
                    self.http.counters.viewer_frames_skipped += 1;
                    caught_up = false;
                }
            }
            None => {
                head = part_head(frame.jpeg.len());
                chunks.extend_from_slice(&[&head, &frame.jpeg, PART_END]);
            }
        }
        v.streak = if caught_up { v.streak + 1 } else { 1 };
        let next_head;
        let source = v.cursor.source.clone();
        let next = (i + 1) % source.frame_count().max(1);
        if v.streak >= 2 {
            if let Ok(f) = source.frame(next, &mut self.cache) {
                next_head = part_head(f.jpeg.len());
                chunks.push(&next_head);
                v.committed = Some((next, f));
            }
        }
        let bytes: usize = chunks.iter().map(|c| c.len()).sum();
        if out.stream(v.conn, &chunks) {
            self.http.counters.viewer_frames_sent += 1;
            self.http.counters.viewer_bytes += bytes as u64;
        }
    }
}

/// `n` ticks of the 90 kHz clock as a duration.
fn ticks(n: u64) -> Duration {
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(CLOCK_RATE);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;
    use crate::server::catalog::Catalog;
    use crate::server::config::Config;
    use crate::server::core::Backlog;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    /// One connection's bytes, with a socket the test can stall.
    #[derive(Default)]
    struct Socket {
        bytes: Vec<u8>,
        /// What the "kernel" holds: bytes queued while stalled.
        unsent: usize,
        stalled: bool,
        closed: bool,
    }

    impl Outbox for Socket {
        fn rtp_udp(&mut self, _: SocketAddr, _: &[(&[u8], &[u8])]) -> usize {
            unreachable!()
        }
        fn rtcp_udp(&mut self, _: SocketAddr, _: &[u8]) {}
        fn interleaved(&mut self, _: ConnId, _: &[&[u8]]) -> bool {
            unreachable!("viewers use stream()")
        }
        fn backlog(&mut self, _: ConnId) -> Option<Backlog> {
            (!self.closed).then_some(Backlog {
                queued: 0,
                unsent: self.unsent,
                written: 0,
            })
        }
        fn stream(&mut self, _: ConnId, chunks: &[&[u8]]) -> bool {
            for c in chunks {
                self.bytes.extend_from_slice(c);
                if self.stalled {
                    self.unsent += c.len();
                }
            }
            true
        }
    }

    struct Fixture {
        dir: PathBuf,
        core: Core,
        t0: Instant,
        movie: TestMovie,
        frames: Vec<Vec<u8>>,
    }

    impl Fixture {
        /// The movie's frame numbers of these JPEGs.
        fn numbers(&self, jpegs: &[Vec<u8>]) -> Vec<u32> {
            jpegs
                .iter()
                .map(|j| {
                    self.frames
                        .iter()
                        .position(|f| f == j)
                        .expect("a movie frame") as u32
                })
                .collect()
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "rtsp-mjpeg-viewer-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let movie = TestMovie {
            seconds: 1.0,
            width: 320,
            height: 240,
            fps: 24,
            ..TestMovie::default()
        };
        std::fs::write(dir.join("movie.Mjpeg"), movie.to_lab_bytes()).unwrap();
        let config = Config {
            media: dir.clone(),
            ..Config::default()
        };
        let t0 = Instant::now();
        let core = Core::new(config, Catalog::new(&dir).unwrap(), 6970, t0).unwrap();
        let frames = (0..24).map(|n| movie.encode(n)).collect();
        Fixture {
            dir,
            core,
            t0,
            movie,
            frames,
        }
    }

    fn run(core: &mut Core, until: Instant, out: &mut Socket) {
        while let Some(t) = core.poll_timeout().filter(|t| *t <= until) {
            core.handle_timeout(t, SystemTime::now(), out);
        }
    }

    /// The parts in a stream body (after the response head): each part's JPEG.
    fn parts(body: &[u8]) -> (Vec<Vec<u8>>, usize) {
        let mut out = Vec::new();
        let mut rest = body;
        while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&rest[..end]).unwrap();
            assert!(head.starts_with("Content-Type: image/jpeg\r\nContent-Length: "));
            let len: usize = head.rsplit(' ').next().unwrap().parse().unwrap();
            let start = end + 4;
            if rest.len() < start + len + PART_END.len() {
                break; // headers sent ahead of their frame
            }
            out.push(rest[start..start + len].to_vec());
            assert_eq!(&rest[start + len..start + len + PART_END.len()], PART_END);
            rest = &rest[start + len + PART_END.len()..];
        }
        (out, body.len() - rest.len())
    }

    #[test]
    fn frames_paced_with_the_next_parts_headers_sent_ahead() {
        let mut f = fixture();
        let src = f.core.source("movie.Mjpeg").unwrap();
        let mut sock = Socket::default();
        let t0 = f.t0;
        f.core.start_viewer(7, src, 22, t0);
        assert_eq!(f.core.viewer_count(), 1);
        let period = Duration::from_secs(1) / 24;
        // Frame 0 at once, then one per period.
        run(&mut f.core, t0 + Duration::from_millis(1), &mut sock);
        let (p, used) = parts(&sock.bytes);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0],
            f.movie.encode(22),
            "bytes identical to the movie's JPEG"
        );
        let ahead = std::str::from_utf8(&sock.bytes[used..]).unwrap();
        assert_eq!(
            ahead,
            format!(
                "Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                f.movie.encode(23).len()
            ),
            "the next part's headers follow the frame"
        );
        run(
            &mut f.core,
            t0 + period * 5 + Duration::from_millis(2),
            &mut sock,
        );
        let (p, _) = parts(&sock.bytes);
        let numbers = f.numbers(&p);
        assert_eq!(numbers, vec![22, 23, 0, 1, 2, 3], "loops at the end");
        let c = &f.core.snapshot().counters;
        assert_eq!((c.viewer_frames_sent, c.viewer_frames_skipped), (6, 0));
        f.core
            .connection_closed(7, t0 + period * 6, SystemTime::now(), &mut sock);
        assert_eq!(f.core.viewer_count(), 0);
        let sent = sock.bytes.len();
        run(&mut f.core, t0 + period * 20, &mut sock);
        assert_eq!(sock.bytes.len(), sent, "its timer is gone too");
    }

    #[test]
    fn a_stalled_viewer_gets_no_queue_and_resumes_at_the_current_frame() {
        let mut f = fixture();
        let src = f.core.source("movie.Mjpeg").unwrap();
        let mut sock = Socket::default();
        let t0 = f.t0;
        let period = Duration::from_secs(1) / 24;
        f.core.start_viewer(3, src, 0, t0);
        run(
            &mut f.core,
            t0 + period * 2 + Duration::from_millis(1),
            &mut sock,
        );
        assert_eq!(parts(&sock.bytes).0.len(), 3);
        // The reader stops: what the kernel holds grows, then nothing more is queued.
        sock.stalled = true;
        let before = sock.bytes.len();
        run(
            &mut f.core,
            t0 + period * 14 + Duration::from_millis(1),
            &mut sock,
        );
        let stalled_bytes = sock.bytes.len() - before;
        assert!(
            stalled_bytes <= MIN_IN_FLIGHT + 2 * f.movie.encode(0).len(),
            "{stalled_bytes} bytes queued for a stalled viewer"
        );
        let skipped = f.core.snapshot().counters.viewer_frames_skipped;
        assert!(skipped >= 8, "{skipped}");
        // It reads again: whole frames, from the frame due now.
        sock.stalled = false;
        sock.unsent = 0;
        run(
            &mut f.core,
            t0 + period * 17 + Duration::from_millis(1),
            &mut sock,
        );
        let (p, _) = parts(&sock.bytes);
        let numbers = f.numbers(&p);
        let n = numbers.len();
        assert_eq!(&numbers[n - 2..], &[16, 17], "{numbers:?}");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }

    #[test]
    fn a_closed_connection_ends_the_viewer_at_its_next_frame() {
        let mut f = fixture();
        let src = f.core.source("movie.Mjpeg").unwrap();
        let mut sock = Socket {
            closed: true,
            ..Socket::default()
        };
        f.core.start_viewer(1, src, 0, f.t0);
        run(&mut f.core, f.t0 + Duration::from_millis(1), &mut sock);
        assert_eq!(f.core.viewer_count(), 0);
        assert!(sock.bytes.is_empty());
    }

    #[test]
    fn request_and_loss_counters() {
        let mut c = Counters::default();
        c.count_rtsp(Some(&Method::Play), StatusCode::OK);
        c.count_rtsp(Some(&Method::Other("FOO".into())), StatusCode(501));
        c.count_rtsp(None, StatusCode::BAD_REQUEST);
        c.count_http(Some("GET"), 200);
        c.count_http(Some("BREW"), 405);
        assert_eq!(c.rtsp_requests[&("PLAY", 200)], 1);
        assert_eq!(c.rtsp_requests[&("other", 501)], 1);
        assert_eq!(c.rtsp_requests[&("invalid", 400)], 1);
        assert_eq!(c.http_requests[&("other", 405)], 1);
        c.on_report(1, 5);
        c.on_report(1, 3);
        c.on_report(1, 10);
        c.on_report(2, 1);
        assert_eq!((c.receiver_reports, c.reported_lost), (4, 11));
    }
}
