//! A hierarchical timer wheel, sans-IO: time is passed in, never read.
//!
//! Six levels of 64 slots (as tokio's time driver): level `L` slots span `64^L` ticks, so with
//! 1 ms ticks the wheel reaches 2^36 ms (795 days); later deadlines are clamped to that. Each
//! level has a `u64` occupancy bitmap, so finding the next timer is a `trailing_zeros`, and idle
//! stretches are jumped over rather than stepped through. Entries live in a slab (a Vec with a
//! free list) and slots hold `(index, generation)` pairs: a cancelled entry's generation changes,
//! so its stale references are skipped, and a stale key can never cancel a reused slot.
//!
//! Precision: a deadline is rounded up to a tick boundary, so an entry never fires before its
//! deadline and at most one tick after it. Rounding up (not down) also means an entry inserted for
//! a deadline still in the future can never come back from the `poll_expired` call in progress,
//! so a handler that re-arms itself for "a little later" cannot spin.

use std::time::{Duration, Instant};

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const MAX_TICK: u64 = (1 << (6 * LEVELS)) - 1;

/// Names an inserted timer; stale once it fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: usize,
    generation: u64,
}

struct Entry<T> {
    tick: u64,
    generation: u64,
    value: Option<T>,
}

pub struct TimerWheel<T> {
    start: Instant,
    tick: Duration,
    /// Every tick before this one has been processed.
    elapsed: u64,
    slots: Vec<Vec<(usize, u64)>>,
    occupied: [u64; LEVELS],
    entries: Vec<Entry<T>>,
    free: Vec<usize>,
    /// Entries already due, in deadline order of discovery.
    ready: std::collections::VecDeque<(usize, u64)>,
    len: usize,
}

impl<T> TimerWheel<T> {
    pub fn new(start: Instant, tick: Duration) -> TimerWheel<T> {
        TimerWheel {
            start,
            tick: tick.max(Duration::from_nanos(1)),
            elapsed: 0,
            slots: (0..LEVELS * SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            entries: Vec::new(),
            free: Vec::new(),
            ready: Default::default(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn tick_of(&self, t: Instant) -> u64 {
        let ticks = t.saturating_duration_since(self.start).as_nanos() / self.tick.as_nanos();
        (ticks as u64).min(MAX_TICK)
    }

    /// The first tick boundary at or after `t`.
    fn deadline_tick(&self, t: Instant) -> u64 {
        let ticks = t
            .saturating_duration_since(self.start)
            .as_nanos()
            .div_ceil(self.tick.as_nanos());
        (ticks as u64).min(MAX_TICK)
    }

    fn instant_of(&self, tick: u64) -> Instant {
        // tick <= 2^36 and a tick is at most seconds, so the product fits u64 nanoseconds for
        // any tick length a server would use; saturate rather than wrap past that.
        let nanos = (u128::from(tick) * self.tick.as_nanos()).min(u128::from(u64::MAX)) as u64;
        self.start + Duration::from_nanos(nanos)
    }

    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        let tick = self.deadline_tick(deadline);
        let index = match self.free.pop() {
            Some(i) => {
                let e = &mut self.entries[i];
                e.tick = tick;
                e.value = Some(value);
                i
            }
            None => {
                self.entries.push(Entry {
                    tick,
                    generation: 0,
                    value: Some(value),
                });
                self.entries.len() - 1
            }
        };
        let generation = self.entries[index].generation;
        self.place(index, generation, tick);
        self.len += 1;
        TimerKey { index, generation }
    }

    /// Files an entry in the slot for its tick relative to `elapsed`, or as ready.
    fn place(&mut self, index: usize, generation: u64, tick: u64) {
        if tick < self.elapsed {
            self.ready.push_back((index, generation));
            return;
        }
        let level = level_for(self.elapsed, tick);
        let slot = ((tick >> (6 * level)) & 63) as usize;
        self.slots[level * SLOTS + slot].push((index, generation));
        self.occupied[level] |= 1 << slot;
    }

    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let e = self.entries.get_mut(key.index)?;
        if e.generation != key.generation {
            return None;
        }
        let value = e.value.take()?;
        self.release(key.index);
        Some(value)
    }

    fn release(&mut self, index: usize) {
        self.entries[index].generation += 1;
        self.free.push(index);
        self.len -= 1;
    }

    /// The earliest tick with anything in it: (level, slot, first tick the slot covers).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for level in 0..LEVELS {
            if self.occupied[level] == 0 {
                continue;
            }
            let shift = 6 * level;
            let now_slot = (self.elapsed >> shift) & 63;
            let bits = self.occupied[level] & (!0u64 << now_slot);
            if bits == 0 {
                continue;
            }
            let slot = u64::from(bits.trailing_zeros());
            let level_span = 1u64 << (shift + 6);
            let base = self.elapsed & !(level_span - 1);
            let tick = (base + (slot << shift)).max(self.elapsed);
            // Earliest tick wins; on a tie the higher level, so its entries cascade first.
            if best.is_none_or(|(_, _, t)| tick <= t) {
                best = Some((level, slot as usize, tick));
            }
        }
        best
    }

    /// When the next entry is due (or a slot must cascade): what a reactor sleeps until.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(self.instant_of(self.elapsed));
        }
        self.next_slot().map(|(_, _, tick)| self.instant_of(tick))
    }

    /// One entry due at `now`, if any; call until `None`.
    pub fn poll_expired(&mut self, now: Instant) -> Option<(TimerKey, T)> {
        let now_tick = self.tick_of(now);
        loop {
            while let Some((index, generation)) = self.ready.pop_front() {
                let e = &mut self.entries[index];
                if e.generation != generation {
                    continue; // cancelled meanwhile
                }
                if let Some(value) = e.value.take() {
                    self.release(index);
                    return Some((TimerKey { index, generation }, value));
                }
            }
            match self.next_slot() {
                Some((level, slot, tick)) if tick <= now_tick => {
                    self.elapsed = tick;
                    self.occupied[level] &= !(1 << slot);
                    let due = std::mem::take(&mut self.slots[level * SLOTS + slot]);
                    for (index, generation) in due {
                        let e = &self.entries[index];
                        if e.generation != generation || e.value.is_none() {
                            continue;
                        }
                        if e.tick <= now_tick && (level == 0 || e.tick <= tick) {
                            self.ready.push_back((index, generation));
                        } else {
                            let t = e.tick;
                            self.place(index, generation, t);
                        }
                    }
                    if level == 0 {
                        self.elapsed = tick + 1;
                    }
                }
                _ => {
                    self.elapsed = self.elapsed.max(now_tick);
                    return None;
                }
            }
        }
    }
}

/// The level whose slots separate `elapsed` and `tick`: the highest 6-bit digit where they differ.
fn level_for(elapsed: u64, tick: u64) -> usize {
    let masked = (elapsed ^ tick) | 63;
    let significant = 63 - masked.leading_zeros() as usize;
    (significant / 6).min(LEVELS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(w: &mut TimerWheel<u32>, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some((_, v)) = w.poll_expired(now) {
            out.push(v);
        }
        out
    }

    #[test]
    fn fires_in_order_not_before_time() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        for (v, d) in [(3u32, 300), (1, 5), (2, 70), (4, 5000), (5, 70)] {
            w.insert(t0 + ms(d), v);
        }
        assert_eq!(w.len(), 5);
        assert_eq!(drain(&mut w, t0 + ms(4)), Vec::<u32>::new());
        assert_eq!(w.next_deadline(), Some(t0 + ms(5)));
        assert_eq!(drain(&mut w, t0 + ms(5)), vec![1]);
        assert_eq!(drain(&mut w, t0 + ms(69)), Vec::<u32>::new());
        let mut at70 = drain(&mut w, t0 + ms(70));
        at70.sort();
        assert_eq!(at70, vec![2, 5]);
        assert_eq!(drain(&mut w, t0 + ms(10_000)), vec![3, 4]);
        assert!(w.is_empty() && w.next_deadline().is_none());
    }

    #[test]
    fn sleeping_until_next_deadline_always_yields_progress() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        w.insert(t0 + ms(123_456), 9u32);
        let mut now = t0;
        let mut wakeups = 0;
        loop {
            let next = w.next_deadline().unwrap();
            assert!(next >= now);
            now = next;
            wakeups += 1;
            if let Some((_, v)) = w.poll_expired(now) {
                assert_eq!(v, 9);
                assert!(now <= t0 + ms(123_456) && now + ms(1) > t0 + ms(123_456));
                break;
            }
            assert!(wakeups < 10, "cascades take a few wakeups, not thousands");
        }
    }

    #[test]
    fn never_early_and_rearming_cannot_spin() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        w.insert(t0 + Duration::from_micros(1500), 1u32);
        assert_eq!(
            drain(&mut w, t0 + Duration::from_micros(1400)),
            Vec::<u32>::new()
        );
        assert_eq!(
            w.next_deadline(),
            Some(t0 + ms(2)),
            "rounded up to the tick"
        );
        assert_eq!(drain(&mut w, t0 + ms(2)), vec![1]);
        // A handler that re-arms for a moment later, as the lab grace timer does: the new entry
        // must wait for a later poll, or the poll loop would never end.
        let now = t0 + Duration::from_micros(5100);
        w.insert(t0 + ms(5), 2);
        let mut fired = 0;
        while let Some((_, v)) = w.poll_expired(now) {
            fired += 1;
            assert!(fired < 3, "re-armed entry came back in the same poll");
            w.insert(now + Duration::from_micros(300), v);
        }
        assert_eq!(fired, 1);
        assert_eq!(drain(&mut w, t0 + ms(6)), vec![2]);
    }

    /// Two sessions re-arming 42 ms after each deadline: once one timer sits in level 0 of the
    /// next span while the other waits in level 1 to cascade, the earliest must still win.
    /// (next_slot once returned the lowest occupied level, so 84 fired at 105.)
    #[test]
    fn a_higher_level_slot_due_first_is_not_starved() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        w.insert(t0, 0u32);
        w.insert(t0 + ms(21), 1);
        let mut due = [0u64, 21];
        for now in 0..=400u64 {
            while let Some((_, v)) = w.poll_expired(t0 + ms(now)) {
                let d = &mut due[v as usize];
                assert_eq!(now, *d, "timer {v} due at {} fired at {now}", *d);
                *d += 42;
                w.insert(t0 + ms(*d), v);
            }
        }
    }

    #[test]
    fn cancel_and_stale_keys() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        let a = w.insert(t0 + ms(10), 1u32);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        let b = w.insert(t0 + ms(10), 2); // reuses a's slot
        assert_eq!(
            w.cancel(a),
            None,
            "a stale key does not cancel the new entry"
        );
        assert_eq!(drain(&mut w, t0 + ms(10)), vec![2]);
        assert_eq!(w.cancel(b), None, "fired");
        assert!(w.is_empty());
    }

    #[test]
    fn past_and_far_future_deadlines() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        drain(&mut w, t0 + ms(1000));
        w.insert(t0, 1u32);
        assert_eq!(
            drain(&mut w, t0 + ms(1000)),
            vec![1],
            "a past deadline fires on the next poll"
        );
        w.insert(t0 + Duration::from_secs(3 * 86_400), 2);
        assert_eq!(
            drain(&mut w, t0 + Duration::from_secs(2 * 86_400)),
            Vec::<u32>::new()
        );
        assert_eq!(drain(&mut w, t0 + Duration::from_secs(3 * 86_400)), vec![2]);
    }

    #[test]
    fn periodic_timers_like_frame_pacing() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(1));
        let period = Duration::from_micros(41_667);
        for s in 0..100u32 {
            w.insert(t0 + period, s);
        }
        let mut fired = 0;
        let mut now = t0;
        while fired < 100 * 24 {
            now = w.next_deadline().unwrap();
            while let Some((_, s)) = w.poll_expired(now) {
                fired += 1;
                let k = fired / 100 + 1;
                w.insert(t0 + period * k as u32, s);
            }
        }
        assert!(
            now >= t0 + period * 24 && now < t0 + period * 24 + ms(1),
            "no drift, never early"
        );
    }

    proptest::proptest! {
        /// Periodic timers, as sessions are: each fires exactly at its deadline (whole ticks,
        /// polled every tick) and re-arms one period later.
        #[test]
        fn periodic_timers_fire_on_time(periods in proptest::collection::vec((1u64..300, 0u64..300), 1..40)) {
            let t0 = Instant::now();
            let mut w = TimerWheel::new(t0, ms(1));
            let mut due: Vec<u64> = periods.iter().map(|&(_, first)| first).collect();
            for (i, d) in due.iter().enumerate() {
                w.insert(t0 + ms(*d), i);
            }
            for now in 0..3000u64 {
                while let Some((_, i)) = w.poll_expired(t0 + ms(now)) {
                    proptest::prop_assert_eq!(now, due[i]);
                    due[i] += periods[i].0;
                    w.insert(t0 + ms(due[i]), i);
                }
            }
            for d in &due {
                proptest::prop_assert!(*d >= 3000, "a timer due at {} never fired", d);
            }
        }

        /// Against a sorted reference: the same values fire, never before their deadline and at
        /// the first poll at or past it (deadlines here are whole ticks).
        #[test]
        fn matches_a_reference(ops in proptest::collection::vec((0u8..3, 0u64..200_000), 1..200)) {
            let t0 = Instant::now();
            let mut w = TimerWheel::new(t0, ms(1));
            let mut live: Vec<(TimerKey, u64, u32)> = Vec::new();
            let mut now = 0u64;
            for (i, (op, arg)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let d = now + arg;
                        live.push((w.insert(t0 + ms(d), i as u32), d, i as u32));
                    }
                    1 if !live.is_empty() => {
                        let (k, _, v) = live.remove(arg as usize % live.len());
                        proptest::prop_assert_eq!(w.cancel(k), Some(v));
                    }
                    _ => {
                        now += arg / 10;
                        let mut got = drain(&mut w, t0 + ms(now));
                        got.sort();
                        let mut want: Vec<u32> = live.iter().filter(|(_, d, _)| *d <= now).map(|(_, _, v)| *v).collect();
                        want.sort();
                        live.retain(|(_, d, _)| *d > now);
                        proptest::prop_assert_eq!(got, want);
                    }
                }
                proptest::prop_assert_eq!(w.len(), live.len());
            }
        }
    }
}
