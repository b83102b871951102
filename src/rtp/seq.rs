//! Sequence-number and timestamp arithmetic that survives wrap-around, and the receiver
//! statistics of RFC 3550 Appendix A.1 (extended sequence), A.3 (loss) and A.8 (jitter).

/// `a - b` for 16-bit sequence numbers, as the shortest signed distance around the circle.
pub fn seq_diff(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// `a - b` for 32-bit RTP timestamps.
pub fn ts_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Extends 16-bit sequence numbers to a monotonic 64-bit count (RFC 3550 A.1's cycles).
#[derive(Debug, Default, Clone)]
pub struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    /// The extended number of `seq`: the 64-bit value nearest the last one seen with these
    /// low 16 bits. Reordered (older) packets map below it; a jump forward maps above.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            None => u64::from(seq) + (1 << 16), // start one cycle up so early reordering stays >= 0
            Some(last) => {
                let d = i64::from(seq_diff(seq, last as u16));
                (last as i64 + d).max(0) as u64
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }

    pub fn highest(&self) -> Option<u64> {
        self.last
    }
}

/// What a receiver report block says about one source (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceptionReport {
    pub fraction_lost: u8,
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
}

/// Loss and interarrival jitter for one source, fed every packet.
#[derive(Debug, Default, Clone)]
pub struct ReceptionStats {
    ext: SeqExtender,
    base: Option<u64>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Jitter in timestamp units, scaled by 16 as in A.8.
    jitter16: u64,
    last_transit: Option<i64>,
}

impl ReceptionStats {
    /// Records a packet: its sequence number, RTP timestamp and arrival time in the same clock
    /// (90 kHz for video).
    pub fn record(&mut self, seq: u16, rtp_ts: u32, arrival: u32) {
        let ext = self.ext.extend(seq);
        self.base = Some(self.base.map_or(ext, |b| b.min(ext)));
        self.received += 1;
        let transit = i64::from(arrival.wrapping_sub(rtp_ts) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 to stay in integers.
            self.jitter16 = self.jitter16 + d - ((self.jitter16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected from the first to the highest sequence number seen.
    pub fn expected(&self) -> u64 {
        match (self.base, self.ext.highest()) {
            (Some(b), Some(h)) => h - b + 1,
            _ => 0,
        }
    }

    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    pub fn jitter(&self) -> u32 {
        (self.jitter16 >> 4) as u32
    }

    /// A report block's numbers, and starts the next interval for `fraction_lost`.
    pub fn report(&mut self) -> ReceptionReport {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        ReceptionReport {
            fraction_lost,
            cumulative_lost: self.lost().clamp(-(1 << 23), (1 << 23) - 1) as i32,
            // The extender starts one cycle up; the report counts cycles from the first packet.
            highest_seq: self.ext.highest().map_or(0, |h| h.saturating_sub(1 << 16)) as u32,
            jitter: self.jitter(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_wrap() {
        assert_eq!(seq_diff(2, 65534), 4);
        assert_eq!(seq_diff(65534, 2), -4);
        assert_eq!(ts_diff(10, u32::MAX - 9), 20);
    }

    #[test]
    fn extender_crosses_wrap_and_handles_reordering() {
        let mut e = SeqExtender::default();
        let a = e.extend(65534);
        assert_eq!(e.extend(65535), a + 1);
        assert_eq!(e.extend(1), a + 3);
        assert_eq!(e.extend(0), a + 2, "a late packet maps just below");
        assert_eq!(e.extend(2), a + 4);
        assert_eq!(e.highest(), Some(a + 4));
    }

    #[test]
    fn loss_and_fraction() {
        let mut s = ReceptionStats::default();
        for seq in (65530u16..=65535).chain(0..10).filter(|s| s % 4 != 0) {
            s.record(seq, 0, 0);
        }
        assert_eq!(s.expected(), 16);
        assert_eq!(s.lost(), 4); // 65532, 0, 4, 8
        let r = s.report();
        assert_eq!(r.fraction_lost, 64); // 4/16 of 256
        assert_eq!(r.cumulative_lost, 4);
        assert_eq!(
            r.highest_seq,
            9 + (1 << 16),
            "one wrap since the first packet"
        );
        assert_eq!(
            s.report().fraction_lost,
            0,
            "nothing new in the next interval"
        );
    }

    #[test]
    fn jitter_of_steady_stream_is_zero_and_grows_with_variation() {
        let mut s = ReceptionStats::default();
        for i in 0..50u32 {
            s.record(i as u16, i * 3750, 1000 + i * 3750);
        }
        assert_eq!(s.jitter(), 0);
        for i in 50..100u32 {
            let wobble = if i % 2 == 0 { 900 } else { 0 };
            s.record(i as u16, i * 3750, 1000 + i * 3750 + wobble);
        }
        assert!((700..=900).contains(&s.jitter()), "{}", s.jitter());
    }
}
