//! Playback statistics: frame rate and bit rate over the last second, loss, and latency
//! percentiles, all fed explicit times so they can be tested.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Events within a sliding window: how many, and how many bytes.
#[derive(Debug, Clone)]
pub struct Meter {
    window: Duration,
    events: VecDeque<(Instant, u64)>,
    bytes: u64,
}

impl Meter {
    pub fn new(window: Duration) -> Meter {
        Meter {
            window,
            events: VecDeque::new(),
            bytes: 0,
        }
    }

    pub fn record(&mut self, now: Instant, bytes: u64) {
        self.events.push_back((now, bytes));
        self.bytes += bytes;
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(t, b)) = self.events.front() {
            if now.duration_since(t) < self.window {
                break;
            }
            self.events.pop_front();
            self.bytes -= b;
        }
    }

    /// Events per second over the window ending `now`.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.expire(now);
        self.events.len() as f64 / self.window.as_secs_f64()
    }

    /// Mean bytes per event over the window ending `now` (None when it is empty).
    pub fn mean_bytes(&mut self, now: Instant) -> Option<f64> {
        self.expire(now);
        (!self.events.is_empty()).then(|| self.bytes as f64 / self.events.len() as f64)
    }

    /// Kilobits per second over the window ending `now`.
    pub fn kbps(&mut self, now: Instant) -> f64 {
        self.expire(now);
        self.bytes as f64 * 8.0 / 1000.0 / self.window.as_secs_f64()
    }
}

/// Latency samples, for p50/p99.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Keeps at most this many (the most recent are dropped past it; a run is minutes long).
    const MAX: usize = 1 << 20;

    pub fn push(&mut self, d: Duration) {
        if self.0.len() < Self::MAX {
            self.0.push(d);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0-100), nearest rank.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let mut v = self.0.clone();
        v.sort();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        Some(v[rank.clamp(1, v.len()) - 1])
    }
}

/// Where each frame's time went from its last packet to the screen: decoding (network thread),
/// waiting for the UI thread to take it, the upload to the texture, and drawing and presenting.
#[derive(Debug, Clone, Default)]
pub struct Breakdown {
    pub decode: Samples,
    pub queue: Samples,
    pub upload: Samples,
    pub present: Samples,
}

impl Breakdown {
    /// One frame's times: last packet in, decoded, taken by the UI, uploaded, presented.
    pub fn record(&mut self, times: [Instant; 5]) {
        let [received, decoded, taken, uploaded, presented] = times;
        let span = |a: Instant, b: Instant| b.saturating_duration_since(a);
        self.decode.push(span(received, decoded));
        self.queue.push(span(decoded, taken));
        self.upload.push(span(taken, uploaded));
        self.present.push(span(uploaded, presented));
    }

    /// `frame-spans: decode=P50/P99 queue=... upload=... present=...` in milliseconds.
    pub fn report(&self) -> String {
        let pct = |s: &Samples, p| {
            s.percentile(p)
                .map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
        };
        let parts: Vec<String> = [
            ("decode", &self.decode),
            ("queue", &self.queue),
            ("upload", &self.upload),
            ("present", &self.present),
        ]
        .iter()
        .map(|(name, s)| format!("{name}={}/{}", pct(s, 50.0), pct(s, 99.0)))
        .collect();
        format!("frame-spans: {}", parts.join(" "))
    }
}

/// What the overlay and the headless report show, as of one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub frames: u64,
    pub fps: f64,
    pub kbps: f64,
    /// Mean JPEG size over the last second.
    pub bytes_per_frame: Option<f64>,
    /// The last frame's width and height, its RFC 2435 Q value (None for whole JPEGs), and the
    /// IJG quality its luma table was scaled for.
    pub frame_size: Option<(usize, usize)>,
    pub q: Option<u8>,
    pub quality: Option<u8>,
    pub packets: u64,
    pub lost_packets: i64,
    pub frames_dropped: u64,
    pub position: Option<f64>,
    pub duration: Option<f64>,
}

impl Snapshot {
    /// Lost packets as a percentage of those expected.
    pub fn loss_percent(&self) -> f64 {
        let expected = self.packets as i64 + self.lost_packets.max(0);
        if expected <= 0 {
            0.0
        } else {
            100.0 * self.lost_packets.max(0) as f64 / expected as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_counts_the_last_second() {
        let t = Instant::now();
        let mut m = Meter::new(Duration::from_secs(1));
        for i in 0..48u32 {
            m.record(t + Duration::from_millis(u64::from(i) * 1000 / 24), 1250);
        }
        let end = t + Duration::from_millis(47 * 1000 / 24);
        assert_eq!(m.rate(end), 24.0);
        assert_eq!(m.kbps(end), 24.0 * 1250.0 * 8.0 / 1000.0);
        assert_eq!(m.mean_bytes(end), Some(1250.0));
        assert_eq!(
            m.rate(end + Duration::from_secs(2)),
            0.0,
            "quiet means zero"
        );
        assert_eq!(m.mean_bytes(end + Duration::from_secs(2)), None);
    }

    #[test]
    fn percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.percentile(50.0), None);
        for ms in 1..=100 {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(s.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(s.percentile(100.0), Some(Duration::from_millis(100)));
    }

    #[test]
    fn breakdown() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut b = Breakdown::default();
        b.record([t, ms(2), ms(3), ms(5), ms(9)]);
        assert_eq!(
            b.report(),
            "frame-spans: decode=2.00/2.00 queue=1.00/1.00 upload=2.00/2.00 present=4.00/4.00"
        );
        assert_eq!(
            Breakdown::default().report(),
            "frame-spans: decode=-/- queue=-/- upload=-/- present=-/-"
        );
    }

    #[test]
    fn loss() {
        let s = Snapshot {
            packets: 990,
            lost_packets: 10,
            ..Default::default()
        };
        assert!((s.loss_percent() - 1.0).abs() < 1e-9);
        assert_eq!(Snapshot::default().loss_percent(), 0.0);
    }
}
