//! A session's sending rate, from what its path reports.
//!
//! The scheme is the loss-based half of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02 §6), fed by RTCP receiver reports (RFC 3550 §6.4.2):
//! - loss above 10 %: rate × (1 − 0.5 × loss);
//! - loss under 2 %: increase;
//! - in between: hold.
//!
//! with two additions from TFRC (RFC 5348 §4.3), which bounds a sender by what its receiver
//! says arrives:
//! - on congestion the rate also comes down to 90 % of the receive rate (what was sent in the
//!   report's interval times one minus the loss; the margin covers IP and UDP headers and the
//!   burst of a frame's packets), so one report is enough to land under the bottleneck instead of
//!   holding above it in GCC's 2-10 % band. The next report, which still counts packets sent
//!   before the decrease, does not decrease again (TFRC likewise waits a round trip);
//! - a clean report raises the rate at most to 1.5 times what was actually sent, so an idle or
//!   thinned session does not claim capacity it never used (GCC §5 has the same bound).
//!
//! Probing is gentle near the rate where congestion was last seen (5 % a report, GCC's rate) and quick away
//! from it, below (back up to it) or above (the path got faster; 25 % a report), so a path that
//! gets faster is found within seconds while a steady bottleneck is touched rarely. A rising round-trip time (a queue filling before it drops) counts
//! as congestion without loss. For TCP-interleaved sessions the signal is the send queue instead:
//! a backlog over a quarter second of the rate, or a frame dropped at the queue, is congestion,
//! and the rate comes down to what the connection drained.
//!
//! Everything is sans-IO: reports, queue samples and sent bits in, a rate out, time from `now`.

use std::time::{Duration, Instant};

/// Loss above this is heavy (GCC: multiplicative decrease).
const LOSS_HIGH: f64 = 0.10;
/// Loss under this is clean (GCC: increase).
const LOSS_LOW: f64 = 0.02;
const GENTLE: f64 = 1.05;
const QUICK: f64 = 1.25;
/// Within these factors of the last congestion rate, probe gently.
const NEAR_BELOW: f64 = 0.85;
const NEAR_ABOVE: f64 = 1.15;
/// Share of the receive rate to land on after congestion.
const LANDING: f64 = 0.9;
/// Seconds in which a TCP backlog should drain.
const DRAIN_SECONDS: f64 = 4.0;
/// On a TCP path, never below this share of what it carried.
const TCP_FLOOR_SHARE: f64 = 0.5;
/// A round-trip time this much over the path's minimum means a queue is building.
const QUEUE_RTT: Duration = Duration::from_millis(60);
/// A TCP backlog of this many seconds of the rate means the path is slower than the rate.
const QUEUE_SECONDS: f64 = 0.25;
/// How long the minimum round-trip time is remembered.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(30);

/// What one report said, for the log line of a change it caused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    pub loss: f64,
    pub rtt: Option<Duration>,
    /// Bits per second sent over the interval the report covers.
    pub sent_rate: f64,
    /// TCP: bytes waiting in the queues.
    pub backlog: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Congested,
    Hold,
    Clean,
}

pub struct RateController {
    estimate: f64,
    floor: f64,
    cap: Option<f64>,
    /// The receive rate when congestion was last seen.
    congestion_rate: Option<f64>,
    min_rtt: Option<(Duration, Instant)>,
    bits_since: f64,
    since: Instant,
    /// TCP: bytes the connection had written and its backlog, at the last sample.
    drained_mark: Option<(u64, usize)>,
    dropped_since: u64,
    /// When the rate was last brought down.
    decreased_at: Option<Instant>,
}

impl RateController {
    /// Starts at `initial` bits/s (high enough that a clean path sees full quality at once),
    /// never going under `floor`.
    pub fn new(initial: f64, floor: f64, now: Instant) -> RateController {
        RateController {
            estimate: initial.max(floor),
            floor,
            cap: None,
            congestion_rate: None,
            min_rtt: None,
            bits_since: 0.0,
            since: now,
            drained_mark: None,
            dropped_since: 0,
            decreased_at: None,
        }
    }

    /// The rate to send at: the estimate, within the cap a client asked for (RFC 2326 §12.6).
    pub fn rate(&self) -> f64 {
        match self.cap {
            Some(c) => self.estimate.min(c),
            None => self.estimate,
        }
    }

    pub fn estimate(&self) -> f64 {
        self.estimate
    }

    pub fn set_cap(&mut self, bits_per_second: Option<f64>) {
        self.cap = bits_per_second.map(|c| c.max(self.floor));
    }

    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    /// Bits that left for the receiver (RTP headers and payloads).
    pub fn on_sent(&mut self, bits: f64) {
        self.bits_since += bits;
    }

    /// A frame the TCP queue could not take.
    pub fn on_queue_drop(&mut self) {
        self.dropped_since += 1;
    }

    /// Seconds covered by the next report, and what was sent in them (bits/s); starts the next.
    fn take_interval(&mut self, now: Instant) -> f64 {
        let secs = now
            .saturating_duration_since(self.since)
            .as_secs_f64()
            .clamp(0.05, 30.0);
        let rate = self.bits_since / secs;
        self.bits_since = 0.0;
        self.since = now;
        rate
    }

    /// A receiver report: `loss` is its fraction lost (0 to 1), `rtt` the round trip computed
    /// from its LSR/DLSR when they name a report we sent.
    pub fn on_report(
        &mut self,
        now: Instant,
        loss: f64,
        rtt: Option<Duration>,
    ) -> (Verdict, Signal) {
        let loss = if loss.is_finite() {
            loss.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let interval_start = self.since;
        let sent_rate = self.take_interval(now);
        let queueing = rtt.is_some_and(|r| self.note_rtt(r, now));
        // A report whose interval began before the last decrease still counts what was sent
        // at the old rate: it says nothing new about the lowered one.
        let stale = self.decreased_at.is_some_and(|t| interval_start < t);
        let verdict = if loss > LOSS_LOW || queueing {
            let received = sent_rate * (1.0 - loss);
            if !stale {
                let mut next = self.estimate.min(received * LANDING);
                if loss > LOSS_HIGH {
                    next = next.min(self.estimate * (1.0 - 0.5 * loss));
                }
                if next < self.estimate {
                    self.estimate = next;
                    self.decreased_at = Some(now);
                }
                self.congestion_rate = Some(received);
            }
            if loss > LOSS_HIGH || queueing {
                Verdict::Congested
            } else {
                Verdict::Hold
            }
        } else {
            self.increase(sent_rate);
            Verdict::Clean
        };
        self.estimate = self.estimate.max(self.floor);
        (
            verdict,
            Signal {
                loss,
                rtt,
                sent_rate,
                backlog: None,
            },
        )
    }

    /// A TCP-interleaved session's queues, sampled about once a second: `queued` bytes waiting in
    /// our queue, `unsent` in the kernel's (not yet sent or not yet acknowledged), `written` the
    /// connection's total bytes handed to the kernel so far.
    pub fn on_queue(
        &mut self,
        now: Instant,
        queued: usize,
        unsent: usize,
        written: u64,
    ) -> (Verdict, Signal) {
        let backlog = queued + unsent;
        let secs = now
            .saturating_duration_since(self.since)
            .as_secs_f64()
            .clamp(0.05, 30.0);
        let sent_rate = self.take_interval(now);
        // What the path carried: bytes handed to the kernel less the growth of what it holds.
        let carried = self.drained_mark.map(|(w, u)| {
            let out = written.saturating_sub(w) as f64 + u as f64 - unsent as f64;
            out.max(0.0) * 8.0 / secs
        });
        self.drained_mark = Some((written, unsent));
        let dropped = std::mem::take(&mut self.dropped_since);
        let delay = backlog as f64 * 8.0 / self.rate().max(1.0);
        let verdict = match carried {
            Some(carried) if dropped > 0 || delay > QUEUE_SECONDS => {
                let drain = backlog as f64 * 8.0 / DRAIN_SECONDS;
                let next = (carried * LANDING - drain).max(carried * TCP_FLOOR_SHARE);
                self.estimate = self.estimate.min(next);
                self.congestion_rate = Some(carried);
                self.decreased_at = Some(now);
                Verdict::Congested
            }
            Some(_) => {
                self.increase(sent_rate);
                Verdict::Clean
            }
            None => Verdict::Hold,
        };
        self.estimate = self.estimate.max(self.floor);
        (
            verdict,
            Signal {
                loss: 0.0,
                rtt: None,
                sent_rate,
                backlog: Some(backlog),
            },
        )
    }

    fn increase(&mut self, sent_rate: f64) {
        let near = self
            .congestion_rate
            .is_some_and(|c| self.estimate >= c * NEAR_BELOW && self.estimate < c * NEAR_ABOVE);
        let factor = if near { GENTLE } else { QUICK };
        let bound = (sent_rate * 1.5).max(self.estimate);
        self.estimate = (self.estimate * factor).min(bound);
    }

    /// Tracks the path's minimum round trip; true when this one says a queue is building.
    fn note_rtt(&mut self, rtt: Duration, now: Instant) -> bool {
        match self.min_rtt {
            Some((min, at)) if rtt >= min && now.duration_since(at) < MIN_RTT_WINDOW => {
                rtt > min + QUEUE_RTT
            }
            _ => {
                self.min_rtt = Some((rtt, now));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBIT: f64 = 1e6;

    /// One second of sending at `rate` capped by a `link`, and the report that follows.
    fn second(c: &mut RateController, t: &mut Instant, link: f64) -> Verdict {
        let sent = c.rate();
        c.on_sent(sent);
        *t += Duration::from_secs(1);
        let loss = if sent > link { 1.0 - link / sent } else { 0.0 };
        c.on_report(*t, loss, None).0
    }

    #[test]
    fn lands_under_a_bottleneck_in_one_report_and_probes_gently() {
        let mut t = Instant::now();
        let mut c = RateController::new(4.8 * MBIT, 64e3, t);
        assert_eq!(second(&mut c, &mut t, 1.2 * MBIT), Verdict::Congested);
        assert!(c.rate() < 1.2 * MBIT, "{}", c.rate());
        // Over the next 20 s the rate stays near the link, and what probing loses is small.
        let (mut lost, mut sent) = (0.0, 0.0);
        for _ in 0..20 {
            let r = c.rate();
            sent += r;
            lost += (r - 1.2 * MBIT).max(0.0);
            second(&mut c, &mut t, 1.2 * MBIT);
            assert!(
                c.rate() > 0.9 * MBIT,
                "not far under the link: {}",
                c.rate()
            );
        }
        assert!(
            lost / sent < 0.02,
            "{:.1} % lost probing",
            100.0 * lost / sent
        );
        assert!(sent / 20.0 > 1.1 * MBIT, "{} on average", sent / 20.0);
    }

    #[test]
    fn finds_a_faster_path_within_seconds() {
        let mut t = Instant::now();
        let mut c = RateController::new(4.8 * MBIT, 64e3, t);
        for _ in 0..10 {
            second(&mut c, &mut t, 1.2 * MBIT);
        }
        let mut secs = 0;
        while c.rate() < 2.6 * MBIT {
            second(&mut c, &mut t, 20.0 * MBIT);
            secs += 1;
            assert!(secs <= 10, "still at {} after {secs} s", c.rate());
        }
    }

    #[test]
    fn absurd_reports_leave_the_floor_not_zero() {
        let mut t = Instant::now();
        let mut c = RateController::new(4.8 * MBIT, 64e3, t);
        for _ in 0..30 {
            c.on_sent(c.rate());
            t += Duration::from_secs(1);
            c.on_report(t, 1.0, Some(Duration::from_secs(3600)));
        }
        assert_eq!(c.rate(), 64e3);
        c.on_report(t, f64::NAN, None);
        assert!(c.rate() >= 64e3);
    }

    #[test]
    fn a_cap_bounds_the_rate_and_does_not_move_the_estimate() {
        let t = Instant::now();
        let mut c = RateController::new(4.8 * MBIT, 64e3, t);
        c.set_cap(Some(800e3));
        assert_eq!(c.rate(), 800e3);
        assert_eq!(c.estimate(), 4.8 * MBIT);
        c.set_cap(Some(1.0));
        assert_eq!(c.rate(), 64e3, "never under the floor");
    }

    #[test]
    fn an_idle_sender_does_not_inflate_its_estimate() {
        let mut t = Instant::now();
        let mut c = RateController::new(2.0 * MBIT, 64e3, t);
        for _ in 0..20 {
            c.on_sent(0.5 * MBIT);
            t += Duration::from_secs(1);
            c.on_report(t, 0.0, None);
        }
        assert_eq!(c.estimate(), 2.0 * MBIT);
    }

    #[test]
    fn a_growing_round_trip_is_congestion() {
        let mut t = Instant::now();
        let mut c = RateController::new(2.0 * MBIT, 64e3, t);
        c.on_sent(2.0 * MBIT);
        t += Duration::from_secs(1);
        c.on_report(t, 0.0, Some(Duration::from_millis(5)));
        c.on_sent(2.0 * MBIT);
        t += Duration::from_secs(1);
        let (v, _) = c.on_report(t, 0.0, Some(Duration::from_millis(90)));
        assert_eq!(v, Verdict::Congested);
        assert!(c.estimate() < 2.0 * MBIT);
    }

    #[test]
    fn tcp_backlog_brings_the_rate_to_what_drains() {
        let mut t = Instant::now();
        let mut c = RateController::new(4.8 * MBIT, 64e3, t);
        let mut written = 0u64;
        c.on_queue(t, 0, 100_000, written);
        for _ in 0..3 {
            c.on_sent(c.rate());
            t += Duration::from_secs(1);
            written += 150_000; // 1.2 Mbit/s carried, the kernel holding 100 KB throughout
            c.on_queue(t, 100_000, 100_000, written);
        }
        // Under what the path carries, by enough to drain the backlog in two seconds.
        let carried = 1.2 * MBIT;
        let r = c.rate();
        let want = (carried * 0.9 - 200_000.0 * 8.0 / 4.0).max(carried * 0.5);
        assert!((r - want).abs() < 1.0, "{r} against {want}");
        c.on_queue_drop();
        t += Duration::from_secs(1);
        written += 150_000;
        assert_eq!(c.on_queue(t, 0, 100_000, written).0, Verdict::Congested);
    }
}
