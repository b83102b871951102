//! When frames leave, and when sessions end.
//!
//! An on-demand session's frame `k` is due at `anchor + (clock_k - clock_anchor) / 90 kHz`,
//! where `(anchor, clock_anchor)` is set by PLAY and `clock` advances by each frame's duration,
//! so lateness never accumulates and a source's own frame times (a playlist's entries at their
//! own rates) are kept exactly. A shared timeline's frames leave when its driver pushes them
//! ([`Core::push_frame`]), to every subscribed session that is playing.

use std::time::{Duration, Instant, SystemTime};

use log::{info, warn};

use crate::server::core::adaptive::frame_bits;
use crate::server::core::sender::{Delivery, Sent};
use crate::server::core::session::{Feed, Session, State};
use crate::server::core::{Core, Outbox, Tick};
use crate::server::source::{FrameRef, SourceInfo, Timeline, TimelineId, CLOCK_RATE};

/// A session whose source fails this many frames in a row is ended rather than left spinning.
const MAX_UNREADABLE_IN_A_ROW: u32 = 48;

/// A timeline session's clock starts here rather than at 0, so that frames stamped a little
/// before its first one (B-frames passed through) still get their own timestamps.
pub(super) const TIMELINE_LEAD: u64 = CLOCK_RATE as u64;

impl Core {
    /// A session starts playing: an on-demand one gets a phase in its frame period (see
    /// [`super::phases`]) and its first frame's timer; a timeline's waits for its frames.
    pub(super) fn start_pacing(&mut self, id: u64, now: Instant) {
        self.stop_pacing(id);
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(c) = s.cursor() else {
            s.anchor = (now, s.clock);
            return;
        };
        let period = Duration::from_secs_f64(1.0 / c.source.info().fps.max(0.1));
        let (start, phase) = self.phases.place(now, period);
        s.phase = Some(phase);
        s.anchor = (start, s.clock);
        s.timer = Some(self.timers.insert(start, Tick::Frame(id)));
    }

    /// A session stops playing (PAUSE, its end): no more frame timer, its phase is free.
    pub(super) fn stop_pacing(&mut self, id: u64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(key) = s.timer.take() {
            self.timers.cancel(key);
        }
        if let Some(p) = s.phase.take() {
            self.phases.release(p);
        }
    }

    /// The timer of a playing on-demand session: its next frame is due.
    pub(super) fn send_next_frame(
        &mut self,
        id: u64,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        s.timer = None;
        let ended = self.pace_cursor(&mut s, now, wall, out);
        self.sessions.insert(id, s);
        if let Some(why) = ended {
            self.end_session(id, why, now, wall, out);
        }
    }

    /// Sends the cursor's next frame and schedules the one after. Some(reason) ends the session.
    fn pace_cursor(
        &mut self,
        s: &mut Session,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) -> Option<&'static str> {
        if s.state != State::Playing {
            return None;
        }
        let at_end = s.cursor().is_some_and(|c| c.at_end());
        if at_end && !self.config.looping {
            // --no-loop: the last frame's time is over. Saying BYE only now, a frame period
            // after it left, gives receivers (GStreamer's jitter buffer) time to show it.
            info!("session {}: end of {}", s.id, s.name);
            s.rtp.send_report(s.rtp_now(now), wall, true, out);
            s.state = State::Ready;
            s.finished = true;
            if let Some(p) = s.phase.take() {
                self.phases.release(p);
            }
        }
        let Feed::Cursor(cursor) = &mut s.feed else {
            return None;
        };
        if at_end {
            cursor.index = 0;
        }
        if s.state != State::Playing {
            return None;
        }
        let i = cursor.index;
        let duration = cursor.duration_of(i);
        let source = cursor.source.clone();
        let mut unreadable = 0;
        match source.frame(i, &mut self.cache) {
            Ok(original) => {
                if s.adapt.as_ref().is_some_and(|a| a.queue_sample_due(now))
                    && matches!(s.rtp.delivery, Delivery::Tcp { .. })
                {
                    let bits = self.variant_bits(source.as_ref());
                    Core::adapt_queue(s, now, out, &bits);
                }
                match self.adapt_frame(s, &source, i, original, now) {
                    Some(frame) => {
                        let ts = s.rtp_time(s.clock);
                        let outcome = s.rtp.send_frame(&frame, ts, &mut self.scratch, out);
                        self.count(outcome);
                        if let Some(a) = s.adapt.as_mut() {
                            match outcome {
                                Sent::Whole => a.controller.on_sent(frame_bits(&frame)),
                                Sent::Dropped { .. } => a.controller.on_queue_drop(),
                            }
                        }
                    }
                    // Thinned: the frame's time passes unsent, its timestamp unused.
                    None => self.totals.frames_thinned += 1,
                }
            }
            Err(_) => {
                // Logged once by the source; the frame's time passes as if it had been shown.
                self.totals.frames_unreadable += 1;
                s.rtp.stats.frames_dropped += 1;
                unreadable = 1;
            }
        }
        s.clock += duration;
        let Feed::Cursor(cursor) = &mut s.feed else {
            return None;
        };
        cursor.index += 1;
        s.unreadable_run = if unreadable == 0 {
            0
        } else {
            s.unreadable_run + 1
        };
        if s.unreadable_run >= MAX_UNREADABLE_IN_A_ROW {
            warn!(
                "session {}: {} can no longer be read; ending the session",
                s.id, s.name
            );
            return Some("source unreadable");
        }
        // After the frame, so that the first report after PLAY counts what was sent
        // (RFC 3550 §6.4: no report of an empty stream before its first packet).
        if !s.rtp.lab && now >= s.next_report && s.rtp.stats.packets > 0 {
            let ntp = s.rtp.send_report(s.rtp_now(now), wall, false, out);
            let mut interval = self.config.sr_interval;
            if let Some(a) = s.adapt.as_mut() {
                a.sent_report(ntp, now);
                // A fresh round trip each second: what steers the rate is a second old at most.
                interval = interval.min(Duration::from_secs(1));
            }
            s.next_report = now + interval;
        }
        let mut due = s.anchor.0 + ticks(s.clock - s.anchor.1);
        if due + Duration::from_secs(1) < now {
            // The loop was held up for over a second: start afresh rather than burst.
            s.anchor = (now, s.clock);
            due = now;
        }
        s.timer = Some(self.timers.insert(due, Tick::Frame(s.id)));
        None
    }

    fn count(&mut self, outcome: Sent) {
        match outcome {
            Sent::Whole => self.totals.frames_sent += 1,
            Sent::Dropped { error } => {
                self.totals.frames_dropped += 1;
                if error {
                    self.totals.send_errors += 1;
                }
            }
        }
    }

    /// Registers a shared timeline under `info.name`; sessions that SETUP that name follow it.
    pub fn add_timeline(&mut self, info: SourceInfo) -> TimelineId {
        let id = self.next_timeline;
        self.next_timeline += 1;
        self.timelines.insert(
            id,
            Timeline {
                info,
                subscribers: Vec::new(),
                last_pts: None,
                last_jpeg: None,
            },
        );
        id
    }

    /// Ends a timeline: its sessions get RTCP BYE and end.
    pub fn remove_timeline(
        &mut self,
        id: TimelineId,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let followers: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| matches!(s.feed, Feed::Timeline(t) if t == id))
            .map(|s| s.id)
            .collect();
        self.timelines.remove(&id);
        self.end_live_viewers(id);
        for sid in followers {
            self.end_session(sid, "its stream ended", now, wall, out);
        }
    }

    /// One frame of timeline `id`, at `pts` ticks on the timeline: sent at once to every
    /// session following it that is playing. Each session's RTP timestamps start where it
    /// joined, so a late joiner starts at this whole frame.
    pub fn push_frame(
        &mut self,
        id: TimelineId,
        frame: &FrameRef,
        pts: u64,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(t) = self.timelines.get_mut(&id) else {
            return;
        };
        t.last_pts = Some(pts);
        if !frame.jpeg.is_empty() {
            if t.info.width == 0 {
                // The SDP gave no size (a relay of rtspd, most publishers): the frames do.
                if let Ok(j) = crate::jpeg::parse(&frame.jpeg) {
                    (t.info.width, t.info.height) = (j.width, j.height);
                }
            }
            t.last_jpeg = Some(frame.clone());
        }
        for s in self.sessions.values_mut() {
            if !matches!(s.feed, Feed::Timeline(t) if t == id) || s.state != State::Playing {
                continue;
            }
            if s.timeline_origin.is_none() && !frame.is_key() {
                // A new reader starts where a decoder can (an H.264 IDR; every JPEG).
                continue;
            }
            // The session's clock runs from the first frame it gets; a pause leaves a gap.
            let origin = *s.timeline_origin.get_or_insert(pts.saturating_sub(s.clock));
            s.clock = pts.saturating_sub(origin);
            s.anchor = (now, s.clock);
            let ts = s.rtp_time(s.clock);
            let outcome = s.rtp.send_frame(frame, ts, &mut self.scratch, out);
            match outcome {
                Sent::Whole => self.totals.frames_sent += 1,
                Sent::Dropped { error } => {
                    self.totals.frames_dropped += 1;
                    self.totals.send_errors += u64::from(error);
                }
            }
            if !s.rtp.lab && now >= s.next_report {
                s.rtp.send_report(s.rtp_now(now), wall, false, out);
                s.next_report = now + self.config.sr_interval;
            }
        }
        self.push_to_live_viewers(id, frame, out);
    }

    pub(super) fn check_expiry(
        &mut self,
        id: u64,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let timeout = self.config.session_timeout;
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let next = if s.conn.is_some() {
            now + timeout
        } else {
            s.last_seen + timeout
        };
        if next > now {
            self.timers.insert(next, Tick::Expire(id));
        } else {
            self.totals.sessions_timed_out += 1;
            self.end_session(id, "timed out", now, wall, out);
        }
    }

    pub(super) fn end_session(
        &mut self,
        id: u64,
        why: &str,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        if let Some(key) = s.timer.take() {
            self.timers.cancel(key);
        }
        if let Some(p) = s.phase.take() {
            self.phases.release(p);
        }
        // A multicast member carries its group's SSRC, which stays the group sender's.
        if self.by_ssrc.get(&s.rtp.ssrc) == Some(&id) {
            self.by_ssrc.remove(&s.rtp.ssrc);
        }
        self.http_session_ended(id, &s.rtp.stats);
        if s.rtp.stats.frames > 0 && !s.rtp.lab {
            s.rtp.send_report(s.rtp_now(now), wall, true, out);
        }
        info!(
            "session {id}: {why} ({} from {}; {} frames, {} dropped)",
            s.name, s.peer, s.rtp.stats.frames, s.rtp.stats.frames_dropped
        );
        if let Feed::Group(g) = s.feed {
            self.leave_group(g, id, now, wall, out);
        }
    }
}

/// `n` ticks of the 90 kHz clock as a duration.
fn ticks(n: u64) -> Duration {
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(CLOCK_RATE);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}
