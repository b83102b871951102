//! Spreading playing sessions' frame times over the frame period.
//!
//! Sessions that start together would have their frames due together for as long as they play:
//! the reactor would then send hundreds of frames in one burst and the last of them would leave
//! late. So a PLAY does not start at once but at the least-used half millisecond of the next
//! frame period (at most one period later: 42 ms at 24 fps), and each session's phase is
//! counted until it pauses or ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The width of a phase bucket.
const BUCKET: Duration = Duration::from_micros(500);

/// Sessions per phase bucket, for each frame period in use.
pub struct Phases {
    epoch: Instant,
    by_period: HashMap<u64, Vec<u32>>,
}

/// A session's place in [`Phases`], to give back when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    period_ns: u64,
    bucket: usize,
}

impl Phases {
    pub fn new(epoch: Instant) -> Phases {
        Phases {
            epoch,
            by_period: HashMap::new(),
        }
    }

    /// When a session with frames every `period` that starts at `now` should send its first
    /// frame, and the phase it takes.
    pub fn place(&mut self, now: Instant, period: Duration) -> (Instant, Phase) {
        let period_ns = period.as_nanos().clamp(1, u128::from(u64::MAX)) as u64;
        let bucket_ns = BUCKET.as_nanos() as u64;
        let n = period_ns.div_ceil(bucket_ns).max(1) as usize;
        let counts = self
            .by_period
            .entry(period_ns)
            .or_insert_with(|| vec![0; n]);
        let since = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        let here = since % period_ns;
        let first = (here / bucket_ns) as usize;
        // The least-used bucket, searched from the one `now` falls in, so that ties start soonest.
        let bucket = (0..n)
            .map(|k| (first + k) % n)
            .min_by_key(|&b| counts[b])
            .unwrap_or(first);
        counts[bucket] += 1;
        let target = bucket as u64 * bucket_ns;
        let wait = if target >= here {
            target - here
        } else {
            period_ns - here + target
        };
        // Within the current bucket: go now.
        let wait = if bucket == first { 0 } else { wait };
        (
            now + Duration::from_nanos(wait),
            Phase { period_ns, bucket },
        )
    }

    pub fn release(&mut self, phase: Phase) {
        if let Some(c) = self
            .by_period
            .get_mut(&phase.period_ns)
            .and_then(|v| v.get_mut(phase.bucket))
        {
            *c = c.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_starting_together_spread_over_the_period() {
        let t0 = Instant::now();
        let mut p = Phases::new(t0);
        let period = Duration::from_secs(1) / 24;
        let mut starts = Vec::new();
        for _ in 0..168 {
            let (at, _) = p.place(t0, period);
            assert!(at >= t0 && at < t0 + period, "within one period");
            starts.push(at);
        }
        // 84 buckets of half a millisecond: two sessions in each.
        let mut per_bucket = vec![0; 84];
        for s in &starts {
            per_bucket[((*s - t0).as_micros() / 500) as usize] += 1;
        }
        assert!(per_bucket.iter().all(|&c| c == 2), "{per_bucket:?}");
        // A phase given back is used again first.
        let (at, phase) = p.place(t0 + period * 10, period);
        p.release(phase);
        let (again, _) = p.place(t0 + period * 10, period);
        assert_eq!(at, again);
    }
}
