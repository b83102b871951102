//! Spending a rate frame by frame: a token bucket filled at the session's rate, and for each
//! frame the best candidate (original or rendition) it can pay for, or none (the frame is
//! skipped). Between two renditions the bucket mixes them, so the rate sent follows the estimate
//! smoothly rather than in ladder steps, and a probe upward raises it by a few percent, not by a
//! whole rung.
//!
//! The bucket is shallow (a tenth of a second of the rate, or the smallest candidate) so that
//! savings never come out as a burst that a small bottleneck queue would drop.

use std::time::{Duration, Instant};

/// A way to send one frame and what it costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub variant: u8,
    pub bits: f64,
}

/// Seconds of the rate the bucket holds.
const DEPTH: f64 = 0.1;

#[derive(Debug, Default)]
pub struct Shaper {
    tokens: f64,
    last: Option<Instant>,
}

impl Shaper {
    /// The candidate to send now at `rate` bits/s (`candidates` best first), or None to skip
    /// this frame. `period` is the time until the next frame.
    ///
    /// Frames come before quality: the best candidate is taken only if the next frame can
    /// still afford the smallest one; when even the smallest cannot be sent every frame, the
    /// smallest is sent as often as the bucket allows (fewer frames a second).
    pub fn choose(
        &mut self,
        now: Instant,
        rate: f64,
        period: Duration,
        candidates: &[Candidate],
    ) -> Option<Candidate> {
        let fresh = self.last.is_none();
        let dt = self
            .last
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(Duration::from_secs(1));
        self.last = Some(now);
        let smallest = candidates
            .iter()
            .map(|c| c.bits)
            .fold(f64::INFINITY, f64::min);
        if !smallest.is_finite() {
            return None;
        }
        let depth = (rate * DEPTH).max(smallest * 1.05);
        if fresh {
            // A new bucket starts full: the first frame after PLAY is never held back.
            self.tokens = depth;
        }
        self.tokens = (self.tokens + rate * dt.as_secs_f64()).min(depth);
        let per_frame = rate * period.as_secs_f64();
        let limit = (self.tokens + per_frame - smallest).min(self.tokens);
        let pick = match candidates.iter().find(|c| c.bits <= limit) {
            Some(c) => *c,
            None => *candidates
                .iter()
                .filter(|c| c.bits <= self.tokens)
                .min_by(|a, b| a.bits.total_cmp(&b.bits))?,
        };
        self.tokens -= pick.bits;
        Some(pick)
    }

    /// Starts afresh (after PLAY, or when the session was not shaped for a while).
    pub fn reset(&mut self) {
        self.tokens = 0.0;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64, candidates: &[Candidate], frames: usize) -> (f64, Vec<Option<u8>>) {
        let mut s = Shaper::default();
        let t0 = Instant::now();
        let period = Duration::from_secs(1) / 24;
        let mut bits = 0.0;
        let mut picks = Vec::new();
        for k in 0..frames {
            let p = s.choose(t0 + period * k as u32, rate, period, candidates);
            bits += p.map_or(0.0, |c| c.bits);
            picks.push(p.map(|c| c.variant));
        }
        (bits / (frames as f64 / 24.0), picks)
    }

    #[test]
    fn mixes_two_renditions_to_follow_the_rate() {
        let c = [
            Candidate {
                variant: 0,
                bits: 100_000.0,
            },
            Candidate {
                variant: 1,
                bits: 58_000.0,
            },
            Candidate {
                variant: 2,
                bits: 42_000.0,
            },
        ];
        let (rate, picks) = run(1.1e6, &c, 240);
        assert!((rate - 1.1e6).abs() / 1.1e6 < 0.05, "sent {rate}");
        assert!(picks.iter().all(Option::is_some), "no skips: {picks:?}");
        assert!(picks.contains(&Some(1)) && picks.contains(&Some(2)));
        // Too little for every frame even at the smallest: the smallest, as often as it fits.
        let (rate, picks) = run(0.6e6, &c, 240);
        let sent: Vec<u8> = picks.iter().flatten().copied().collect();
        assert!(sent.iter().all(|&v| v == 2), "{sent:?}");
        assert!(
            (130..=150).contains(&sent.len()),
            "about 14 fps: {}",
            sent.len()
        );
        assert!(rate <= 0.6e6 * 1.02);
    }

    #[test]
    fn thins_when_only_the_original_is_there_and_never_stalls() {
        let c = [Candidate {
            variant: 0,
            bits: 100_000.0,
        }];
        let (rate, picks) = run(1.2e6, &c, 240);
        let sent = picks.iter().filter(|p| p.is_some()).count();
        assert!((110..=125).contains(&sent), "about 12 fps: {sent}");
        assert!(rate <= 1.2e6 * 1.02);
        // A rate far under one frame a second still sends now and then.
        let (_, picks) = run(64e3, &c, 24 * 10);
        assert!(picks.iter().filter(|p| p.is_some()).count() >= 5);
    }
}
