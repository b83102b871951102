//! A small reorder buffer for RTP over UDP: packets come out in sequence order, waiting a little
//! for a late one, never long enough to stall the picture.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::rtp::seq::SeqExtender;

/// Holds out-of-order packets until the gap before them fills, `window` packets pile up behind
/// it, or the oldest has waited `max_wait`; then the gap is given up on (the depacketizer sees the
/// missing sequence number and drops that frame).
pub struct Reorder {
    window: usize,
    max_wait: Duration,
    ext: SeqExtender,
    next: Option<u64>,
    held: BTreeMap<u64, (Instant, Vec<u8>)>,
    /// Packets older than what was already released, or repeated: dropped.
    pub late: u64,
    /// Gaps given up on.
    pub skipped: u64,
}

impl Reorder {
    pub fn new(window: usize, max_wait: Duration) -> Reorder {
        Reorder {
            window: window.max(1),
            max_wait,
            ext: SeqExtender::default(),
            next: None,
            held: BTreeMap::new(),
            late: 0,
            skipped: 0,
        }
    }

    /// Forgets the sequence (after a seek, where the server may restart numbering).
    pub fn reset(&mut self) {
        *self = Reorder::new(self.window, self.max_wait);
    }

    pub fn push(&mut self, seq: u16, packet: Vec<u8>, now: Instant) {
        let ext = self.ext.extend(seq);
        let next = *self.next.get_or_insert(ext);
        if ext < next || self.held.contains_key(&ext) {
            self.late += 1;
            return;
        }
        self.held.insert(ext, (now, packet));
    }

    /// The next packet in order, if it may leave now.
    pub fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (&first, &(arrived, _)) = self.held.iter().next()?;
        let next = self.next?;
        let oldest_wait = self.held.values().map(|(t, _)| *t).min().unwrap_or(arrived);
        if first != next {
            let give_up =
                self.held.len() > self.window || now.duration_since(oldest_wait) >= self.max_wait;
            if !give_up {
                return None;
            }
            self.skipped += 1;
        }
        self.next = Some(first + 1);
        self.held.remove(&first).map(|(_, p)| p)
    }

    /// When a held packet's wait runs out (for the poll timeout).
    pub fn deadline(&self) -> Option<Instant> {
        self.held.values().map(|(t, _)| *t + self.max_wait).min()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut Reorder, now: Instant) -> Vec<u8> {
        std::iter::from_fn(|| r.pop(now)).map(|p| p[0]).collect()
    }

    #[test]
    fn reorders_within_the_window() {
        let t = Instant::now();
        let mut r = Reorder::new(8, Duration::from_millis(50));
        for s in [10u16, 12, 11, 13] {
            r.push(s, vec![s as u8], t);
        }
        assert_eq!(drain(&mut r, t), vec![10, 11, 12, 13]);
        r.push(11, vec![11], t);
        assert_eq!(r.late, 1, "already released");
        assert!(drain(&mut r, t).is_empty());
    }

    #[test]
    fn a_lost_packet_is_given_up_after_the_wait() {
        let t = Instant::now();
        let mut r = Reorder::new(8, Duration::from_millis(50));
        r.push(1, vec![1], t);
        r.push(3, vec![3], t);
        assert_eq!(drain(&mut r, t), vec![1]);
        assert_eq!(r.deadline(), Some(t + Duration::from_millis(50)));
        assert_eq!(
            drain(&mut r, t + Duration::from_millis(49)),
            Vec::<u8>::new()
        );
        assert_eq!(drain(&mut r, t + Duration::from_millis(50)), vec![3]);
        assert_eq!(r.skipped, 1);
    }

    #[test]
    fn a_full_window_gives_up_at_once_and_wraps() {
        let t = Instant::now();
        let mut r = Reorder::new(4, Duration::from_secs(10));
        r.push(65534, vec![0], t);
        assert_eq!(drain(&mut r, t), vec![0]);
        for (i, s) in [0u16, 1, 2, 3, 4].iter().enumerate() {
            r.push(*s, vec![i as u8 + 1], t); // 65535 never comes
        }
        assert_eq!(drain(&mut r, t), vec![1, 2, 3, 4, 5]);
    }
}
