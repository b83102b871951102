//! Adaptive streaming in the core: each adaptive session's controller and shaper, the
//! renditions it asks the worker for, and the receiver reports that steer it
//! (see [`crate::server::adapt`] for the scheme).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;

use crate::rtp::packet::RtpHeader;
use crate::rtp::rtcp::ReportBlock;
use crate::server::adapt::controller::{RateController, Signal, Verdict};
use crate::server::adapt::render::{Done, Job};
use crate::server::adapt::shaper::{Candidate, Shaper};
use crate::server::adapt::{guessed_share, FIRST_HALF, HALF_BELOW_FPS, ORIGINAL, VARIANTS};
use crate::server::core::sender::Delivery;
use crate::server::core::session::Session;
use crate::server::core::{Core, Outbox};
use crate::server::source::{Frame, FrameRef, Seekable};

/// The rate a session never goes under (bits/s): the lowest rung still streams.
const FLOOR: f64 = 64_000.0;
/// Frames ahead of a shaped session whose renditions are asked for.
const LOOKAHEAD: usize = 12;
/// Frames waiting for the worker, all sessions together.
const MAX_PENDING: usize = 48;
/// Sender reports remembered, to tell a real LSR from a bogus one.
const SR_MEMORY: usize = 8;
/// A TCP session's queue is sampled this often.
const QUEUE_SAMPLE: Duration = Duration::from_secs(1);

/// What a session sends, in the ladder's terms, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub variant: u8,
    pub fps: f64,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = VARIANTS[usize::from(self.variant)];
        match (v.quality, v.half) {
            (0, _) => write!(f, "original")?,
            (q, false) => write!(f, "quality {q}")?,
            (q, true) => write!(f, "half size, quality {q}")?,
        }
        write!(f, " at {:.1} fps", self.fps)
    }
}

/// One session's adaptation state.
pub struct SessionAdapt {
    pub controller: RateController,
    shaper: Shaper,
    shaped: bool,
    pub level: Option<Level>,
    /// (NTP middle 32 bits, when) of the sender reports sent.
    reports: VecDeque<(u32, Instant)>,
    next_queue_sample: Instant,
}

impl SessionAdapt {
    /// `nominal` is the source's bitrate at full quality; the session starts at twice that, so
    /// a clean path gets full quality from the first frame.
    pub fn new(nominal: f64, now: Instant) -> SessionAdapt {
        SessionAdapt {
            controller: RateController::new(2.0 * nominal, FLOOR, now),
            shaper: Shaper::default(),
            shaped: false,
            level: None,
            reports: VecDeque::new(),
            next_queue_sample: now + QUEUE_SAMPLE,
        }
    }

    /// Whether a TCP session's queue is due to be sampled.
    pub fn queue_sample_due(&self, now: Instant) -> bool {
        now >= self.next_queue_sample
    }

    pub fn sent_report(&mut self, ntp_middle: u32, now: Instant) {
        if self.reports.len() == SR_MEMORY {
            self.reports.pop_front();
        }
        self.reports.push_back((ntp_middle, now));
    }

    /// The round trip a report block gives (RFC 3550 §6.4.1), only when its LSR is a report we
    /// sent and the result is plausible.
    fn rtt(&self, lsr: u32, dlsr: u32, now: Instant) -> Option<Duration> {
        let (_, sent) = self.reports.iter().find(|(m, _)| *m == lsr && lsr != 0)?;
        let held = Duration::from_secs_f64(f64::from(dlsr) / 65_536.0);
        now.saturating_duration_since(*sent)
            .checked_sub(held)
            .filter(|rtt| *rtt < Duration::from_secs(10))
    }
}

/// RTP bits of a frame on the wire (payloads and RTP headers).
pub fn frame_bits(f: &Frame) -> f64 {
    ((f.payloads.total_len() + f.payloads.len() * RtpHeader::LEN) * 8) as f64
}

/// A source's full-quality bitrate (bits/s) and its bits per frame.
pub fn nominal(source: &dyn Seekable) -> (f64, f64) {
    let info = source.info();
    let per_frame = (info.bytes as f64 / info.frames.max(1) as f64) * 8.0 * 1.01;
    (per_frame * info.fps, per_frame)
}

impl Core {
    /// What to send of frame `i` for an adaptive session: the original, a rendition, or None
    /// (skip it). Asks the worker for renditions ahead when the session is shaped.
    pub(super) fn adapt_frame(
        &mut self,
        s: &mut Session,
        source: &Arc<dyn Seekable>,
        i: usize,
        original: FrameRef,
        now: Instant,
    ) -> Option<FrameRef> {
        let Some(a) = s.adapt.as_mut() else {
            return Some(original);
        };
        let rate = a.controller.rate();
        let (nominal_rate, per_frame) = nominal(source.as_ref());
        if rate >= 1.3 * nominal_rate {
            // Room to spare: every frame as it is, as with adaptation off.
            a.shaped = false;
            return Some(original);
        }
        if !a.shaped {
            a.shaped = true;
            a.shaper.reset();
        }
        let uid = source.uid();
        let lowest_full = self.average_bits(uid, FIRST_HALF - 1, per_frame);
        let allow_half = rate < lowest_full * HALF_BELOW_FPS;
        let mut candidates = vec![Candidate {
            variant: ORIGINAL,
            bits: frame_bits(&original),
        }];
        let mut frames = vec![original];
        let last = if allow_half {
            VARIANTS.len() as u8
        } else {
            FIRST_HALF
        };
        for v in 1..last {
            if let Some(f) = self.cache.get((uid, i as u32, v)) {
                candidates.push(Candidate {
                    variant: v,
                    bits: frame_bits(&f),
                });
                frames.push(f);
            }
        }
        let Some(a) = s.adapt.as_mut() else {
            return frames.into_iter().next();
        };
        let period = Duration::from_secs_f64(1.0 / source.info().fps.max(1.0));
        let pick = a.shaper.choose(now, rate, period, &candidates);
        let wanted: Vec<u8> = (1..last).collect();
        self.request_renditions(source, i, &wanted);
        let k = candidates.iter().position(|c| Some(*c) == pick)?;
        frames.into_iter().nth(k)
    }

    /// Average bits a frame of each variant of `source` (measured, else guessed).
    pub(super) fn variant_bits(&self, source: &dyn Seekable) -> Vec<f64> {
        let (_, per_frame) = nominal(source);
        (0..VARIANTS.len() as u8)
            .map(|v| {
                if v == ORIGINAL {
                    per_frame
                } else {
                    self.average_bits(source.uid(), v, per_frame)
                }
            })
            .collect()
    }

    /// The variant bits of session `id`'s source, if it has one.
    pub(super) fn session_variant_bits(&self, id: u64) -> Vec<f64> {
        self.sessions
            .get(&id)
            .and_then(|s| s.cursor())
            .map(|c| self.variant_bits(c.source.as_ref()))
            .unwrap_or_default()
    }

    /// Average bits of variant `v`'s frames of source `uid` made so far, else a guess from the
    /// original's.
    fn average_bits(&self, uid: u64, v: u8, original_per_frame: f64) -> f64 {
        match self.rendition_bits.get(&(uid, v)) {
            Some(&(sum, n)) if n > 0 => sum / f64::from(n),
            _ => original_per_frame * guessed_share(v),
        }
    }

    fn request_renditions(&mut self, source: &Arc<dyn Seekable>, from: usize, variants: &[u8]) {
        let uid = source.uid();
        let frames = source.frame_count();
        for k in 0..LOOKAHEAD.min(frames) {
            if self.pending.len() >= MAX_PENDING {
                return;
            }
            let j = (from + k) % frames;
            let missing: Vec<u8> = variants
                .iter()
                .copied()
                .filter(|&v| {
                    let key = (uid, j as u32, v);
                    !self.cache.contains(key) && !self.pending.contains(&key)
                })
                .collect();
            if missing.is_empty() {
                continue;
            }
            let Ok(original) = source.frame(j, &mut self.cache) else {
                continue;
            };
            for &v in &missing {
                self.pending.insert((uid, j as u32, v));
            }
            self.jobs.push(Job {
                uid,
                frame: j as u32,
                original,
                variants: missing,
                mtu: self.config.mtu,
            });
        }
    }

    /// Renditions for the worker thread to make.
    pub fn take_render_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.jobs)
    }

    /// A job the worker could not take (its queue was full): ask again later.
    pub fn render_refused(&mut self, job: &Job) {
        for &v in &job.variants {
            self.pending.remove(&(job.uid, job.frame, v));
        }
    }

    /// A rendition the worker made.
    pub fn render_done(&mut self, done: Done) {
        let key = (done.uid, done.frame, done.variant);
        self.pending.remove(&key);
        match done.result {
            Ok(frame) => {
                let e = self
                    .rendition_bits
                    .entry((done.uid, done.variant))
                    .or_insert((0.0, 0));
                e.0 += frame_bits(&frame);
                e.1 += 1;
                self.cache.insert(key, frame);
            }
            Err(e) => debug!("rendition {key:?}: {e}"),
        }
    }

    /// A receiver report block about session `s`, from `from` (None: on its own interleaved
    /// connection). Only its own peer's RTCP port steers it.
    pub(super) fn adapt_report(
        s: &mut Session,
        block: &ReportBlock,
        from: Option<SocketAddr>,
        now: Instant,
        bits: &[f64],
    ) {
        let trusted = match (s.rtp.delivery, from) {
            (Delivery::Udp { rtcp: Some(r), .. }, Some(f)) => r == f,
            (Delivery::Tcp { .. }, None) => true,
            _ => false,
        };
        let Some(a) = s.adapt.as_mut() else {
            return;
        };
        if !trusted {
            debug!(
                "session {}: receiver report from {from:?}, not its RTCP port; not used",
                s.id
            );
            return;
        }
        let rtt = a.rtt(block.lsr, block.dlsr, now);
        let loss = f64::from(block.fraction_lost) / 256.0;
        let (verdict, signal) = a.controller.on_report(now, loss, rtt);
        note_level(s, verdict, signal, Some(block), bits);
    }

    /// TCP-interleaved sessions: sample the connection's queues about once a second.
    pub(super) fn adapt_queue(s: &mut Session, now: Instant, out: &mut dyn Outbox, bits: &[f64]) {
        let Delivery::Tcp { conn, .. } = s.rtp.delivery else {
            return;
        };
        let Some(a) = s.adapt.as_mut() else {
            return;
        };
        if now < a.next_queue_sample {
            return;
        }
        a.next_queue_sample = now + QUEUE_SAMPLE;
        let Some(b) = out.backlog(conn) else {
            return;
        };
        let (verdict, signal) = a.controller.on_queue(now, b.queued, b.unsent, b.written);
        note_level(s, verdict, signal, None, bits);
    }
}

/// Works out the session's level from its rate (the best variant whose average frame fits every
/// frame slot, else the smallest full-size one at fewer frames, else half size) and logs a
/// change, with what caused it. `bits` holds each variant's average frame, in bits.
fn note_level(
    s: &mut Session,
    verdict: Verdict,
    signal: Signal,
    block: Option<&ReportBlock>,
    bits: &[f64],
) {
    let Some(c) = s.cursor() else { return };
    let fps = c.source.info().fps;
    let Some(a) = s.adapt.as_mut() else { return };
    if bits.len() != VARIANTS.len() {
        return;
    }
    let rate = a.controller.rate();
    let fits = |v: u8| bits[usize::from(v)] * fps <= rate;
    let level = match (0..FIRST_HALF).find(|&v| fits(v)) {
        Some(v) => Level { variant: v, fps },
        None => {
            let lowest = FIRST_HALF - 1;
            let f = rate / bits[usize::from(lowest)];
            if f >= HALF_BELOW_FPS {
                Level {
                    variant: lowest,
                    fps: f,
                }
            } else {
                Level {
                    variant: FIRST_HALF,
                    fps: (rate / bits[usize::from(FIRST_HALF)]).min(fps),
                }
            }
        }
    };
    let rounded = Level {
        fps: (level.fps * 2.0).round() / 2.0,
        ..level
    };
    if a.level != Some(rounded) {
        debug!(
            "session {}: level {} -> {rounded} (rate {:.0} kbit/s, {verdict:?}: loss {:.1} %, rtt {:?}, sent {:.0} kbit/s, backlog {:?}, jitter {:?}, cumulative lost {:?})",
            s.id,
            a.level.map_or("start".to_string(), |l| l.to_string()),
            rate / 1e3,
            signal.loss * 100.0,
            signal.rtt,
            signal.sent_rate / 1e3,
            signal.backlog,
            block.map(|b| b.jitter),
            block.map(|b| b.cumulative_lost),
        );
        a.level = Some(rounded);
    }
}
