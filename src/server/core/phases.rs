//! Spreading playing sessions' frame times over the frame period.
//!
//! Sessions that start together would have their frames due together for as long as they play:
//! the reactor would then send hundreds of frames in one burst and the last of them would leave
//! late. Sessions spread thinly, on the other hand, wake the reactor once per frame, and on this
//! kind of machine a wake-up (two context switches) costs more than sending a frame. So a PLAY
//! starts at the first half millisecond of the next frame period that holds fewer than
//! [`PER_BUCKET`] sessions (a burst of them takes about a fifth of a millisecond), or at the
//! least-used one when all are full: at most one period later (42 ms at 24 fps). Sessions in one
//! bucket share their due times and go out in one wake-up. Each session's phase is counted until
//! it pauses or ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The width of a phase bucket.
const BUCKET: Duration = Duration::from_micros(500);
/// Sessions a bucket takes before the next one is opened.
pub const PER_BUCKET: u32 = 32;

/// Per frame period in use, each bucket's sessions and the offset in the period they share.
pub struct Phases {
    epoch: Instant,
    by_period: HashMap<u64, Vec<(u32, u64)>>,
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
        let buckets = self
            .by_period
            .entry(period_ns)
            .or_insert_with(|| vec![(0, 0); n]);
        let since = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        let here = since % period_ns;
        let first = (here / bucket_ns) as usize;
        // The first bucket from `now` on with room; else the least-used (ties: the soonest).
        let order = (0..n).map(|k| (first + k) % n);
        let bucket = order
            .clone()
            .find(|&b| buckets[b].0 > 0 && buckets[b].0 < PER_BUCKET)
            .or_else(|| order.min_by_key(|&b| buckets[b].0))
            .unwrap_or(first);
        let slot = &mut buckets[bucket];
        if slot.0 == 0 {
            // A bucket's first session sets its offset: now if `now` is in it, else its start.
            slot.1 = if bucket == first {
                here
            } else {
                bucket as u64 * bucket_ns
            };
        }
        slot.0 += 1;
        let wait = (slot.1 + period_ns - here) % period_ns;
        (
            now + Duration::from_nanos(wait),
            Phase { period_ns, bucket },
        )
    }

    pub fn release(&mut self, phase: Phase) {
        if let Some(slot) = self
            .by_period
            .get_mut(&phase.period_ns)
            .and_then(|v| v.get_mut(phase.bucket))
        {
            slot.0 = slot.0.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_share_a_wake_up_until_it_is_full_then_spread() {
        let t0 = Instant::now();
        let mut p = Phases::new(t0);
        let period = Duration::from_secs(1) / 24;
        let mut starts = Vec::new();
        for _ in 0..PER_BUCKET * 3 {
            let (at, _) = p.place(t0, period);
            assert!(at >= t0 && at < t0 + period, "within one period");
            starts.push(at);
        }
        // The first bucket starts now and takes PER_BUCKET sessions, all due together; then the
        // next buckets, half a millisecond apart.
        starts.sort();
        starts.dedup();
        assert_eq!(starts.len(), 3, "{starts:?}");
        assert_eq!(starts[0], t0);
        assert_eq!(starts[1] - t0, Duration::from_micros(500));
        // Past every bucket's capacity, sessions go to the least-used buckets: 84 buckets of
        // half a millisecond in 1/24 s, so 84 * 32 sessions fill every one.
        for _ in 0..(84 - 3) * PER_BUCKET {
            p.place(t0, period);
        }
        let loads: Vec<u32> = p
            .by_period
            .values()
            .next()
            .unwrap()
            .iter()
            .map(|b| b.0)
            .collect();
        assert!(loads.iter().all(|&c| c == PER_BUCKET), "{loads:?}");
        // A phase given back is used again first.
        let (at, phase) = p.place(t0 + period * 10, period);
        p.release(phase);
        let (again, _) = p.place(t0 + period * 10, period);
        assert_eq!(at, again);
    }

    #[test]
    fn a_session_joining_a_bucket_later_keeps_its_offset() {
        let t0 = Instant::now();
        let mut p = Phases::new(t0);
        let period = Duration::from_secs(1) / 24;
        let now = t0 + Duration::from_micros(1234);
        let (a, _) = p.place(now, period);
        assert_eq!(a, now, "an idle server starts at once");
        let later = now + Duration::from_millis(5);
        let (b, _) = p.place(later, period);
        assert_eq!(
            (b - a).as_nanos() % period.as_nanos(),
            0,
            "the same phase as the first"
        );
        assert!(b > later && b <= later + period);
    }
}
