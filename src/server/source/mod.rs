//! What a session streams from: a *source*.
//!
//! Two kinds, one frame type:
//! - **on demand** ([`Seekable`]): a movie file, or a playlist of them. Each session reads it with
//!   its own [`Cursor`], at its own pace and position; pausing or seeking one session touches no
//!   other. Frames come through the shared [`FrameCache`], so sessions at the same spot share
//!   one read and one packetization.
//! - **shared timeline** ([`Timeline`]): one sequence of frames for everyone (a live publisher, a
//!   relay, a multicast sender). Its driver pushes each frame once and the sender fans it out
//!   to every subscribed session; a session that joins late starts at the next frame.
//!
//! Either way a session sees [`Frame`]s: the whole JPEG (for the lab client's one-packet frames
//! and for HTTP viewers) and its RFC 2435 payloads at the server's MTU (for RTP), made once and
//! shared by every session that sends the frame. Time is in 90 kHz ticks (RFC 2435 §3) on the
//! source's own timeline.

pub mod cache;
pub mod library;
pub mod movie;
pub mod playlist;
pub mod report;

use std::sync::Arc;

use crate::jpeg;
use crate::rtp::jpeg::{packetize, Payloads};

pub use cache::FrameCache;
pub use library::Library;

/// RTP clock rate for video (RFC 3551 §4.2, and RFC 2435 §3).
pub const CLOCK_RATE: u32 = 90_000;

/// One frame ready to send.
#[derive(Debug)]
pub struct Frame {
    /// The whole JPEG (empty for a passed-through frame of another codec).
    pub jpeg: Vec<u8>,
    /// RFC 2435 payloads (empty for a frame RFC 2435 cannot carry, which only HTTP can send),
    /// or the payloads of a passed-through frame as they came.
    pub payloads: Payloads,
    pub width: u16,
    pub height: u16,
    pub carriage: Carriage,
}

/// What a frame's payloads are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Carriage {
    /// RFC 2435 payloads rtspd made (payload type 26, the marker on the last).
    #[default]
    Jpeg,
    /// A live source's RTP payloads of another codec, sent on as they came (H.264 from a
    /// publisher, say): its payload type and each packet's marker bit.
    Passthrough {
        payload_type: u8,
        markers: Vec<bool>,
        /// A decoder can start here (an H.264 IDR; true when the codec is not known).
        key: bool,
    },
}

/// A frame as sessions hold it.
pub type FrameRef = Arc<Frame>;

impl Frame {
    /// Checks and packetizes one JPEG for RTP with payloads of at most `mtu` bytes.
    pub fn from_jpeg(jpeg: Vec<u8>, mtu: usize) -> Result<Frame, String> {
        let info = jpeg::parse(&jpeg).map_err(|e| e.to_string())?;
        let payloads = packetize(&jpeg, mtu).map_err(|e| e.to_string())?;
        Ok(Frame {
            width: info.width,
            height: info.height,
            payloads,
            jpeg,
            carriage: Carriage::Jpeg,
        })
    }

    /// RTP payloads of another codec, passed on with their payload type and markers.
    pub fn passthrough(payload_type: u8, packets: &[(&[u8], bool)], key: bool) -> Frame {
        let mut payloads = Payloads::default();
        for (p, _) in packets {
            payloads.push(p);
        }
        Frame {
            jpeg: Vec::new(),
            payloads,
            width: 0,
            height: 0,
            carriage: Carriage::Passthrough {
                payload_type,
                markers: packets.iter().map(|(_, m)| *m).collect(),
                key,
            },
        }
    }

    /// Can a receiver start decoding at this frame? (Every JPEG is whole.)
    pub fn is_key(&self) -> bool {
        match &self.carriage {
            Carriage::Jpeg => true,
            Carriage::Passthrough { key, .. } => *key,
        }
    }

    /// Memory the frame holds, for the cache's budget.
    pub fn bytes(&self) -> usize {
        self.jpeg.len() + self.payloads.total_len() + std::mem::size_of::<Frame>()
    }
}

/// What DESCRIBE, the logs and the catalogue say about a source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// The name in URLs (relative to the media folder, `/`-separated).
    pub name: String,
    pub width: u16,
    pub height: u16,
    /// Nominal frame rate (the first entry's, for a playlist).
    pub fps: f64,
    /// Seconds in one pass; None for a live timeline.
    pub duration: Option<f64>,
    pub frames: usize,
    pub bytes: u64,
}

/// A source read on demand by a cursor per session.
pub trait Seekable: Send + Sync {
    fn info(&self) -> &SourceInfo;

    /// Tells this source's frames apart from other sources' in the [`FrameCache`].
    fn uid(&self) -> u64;

    /// Frames in one pass.
    fn frame_count(&self) -> usize;

    /// When frame `i` starts, in ticks from the start of the pass; `pts(frame_count())` is the length of
    /// one pass. Non-decreasing.
    fn pts(&self, i: usize) -> u64;

    /// The frame shown `seconds` into a pass.
    fn index_at(&self, seconds: f64) -> usize {
        // Rounded to the nearest tick: 0.7 s is 62999.99... ticks in floating point, and a
        // seek to a frame's exact start must land on that frame, not the one before.
        let target = (seconds.max(0.0) * f64::from(CLOCK_RATE)).round() as u64;
        // The last frame whose start is not after the target.
        let (mut lo, mut hi) = (0, self.frame_count());
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.pts(mid) <= target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Frame `i`, through the cache.
    fn frame(&self, i: usize, cache: &mut FrameCache) -> Result<FrameRef, String>;
}

/// A session's place in an on-demand source.
#[derive(Clone)]
pub struct Cursor {
    pub source: Arc<dyn Seekable>,
    /// The next frame to send.
    pub index: usize,
}

impl Cursor {
    pub fn new(source: Arc<dyn Seekable>) -> Cursor {
        Cursor { source, index: 0 }
    }

    /// Seconds into the pass of the next frame.
    pub fn position(&self) -> f64 {
        self.source.pts(self.index) as f64 / f64::from(CLOCK_RATE)
    }

    pub fn at_end(&self) -> bool {
        self.index >= self.source.frame_count()
    }

    /// Ticks until the next frame after frame `i`.
    pub fn duration_of(&self, i: usize) -> u64 {
        self.source.pts(i + 1).saturating_sub(self.source.pts(i))
    }
}

/// Identifies a shared timeline in the core.
pub type TimelineId = u64;

/// A shared-timeline source as the core keeps it: what it is and who watches it.
pub struct Timeline {
    pub info: SourceInfo,
    /// Sessions that receive its frames while they play.
    pub subscribers: Vec<u64>,
    /// The timestamp of the last frame pushed, for sessions that start playing meanwhile.
    pub last_pts: Option<u64>,
    /// The last JPEG frame pushed (a live stream's thumbnail).
    pub last_jpeg: Option<FrameRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<u64>, SourceInfo);
    impl Seekable for Fixed {
        fn info(&self) -> &SourceInfo {
            &self.1
        }
        fn uid(&self) -> u64 {
            1
        }
        fn frame_count(&self) -> usize {
            self.0.len() - 1
        }
        fn pts(&self, i: usize) -> u64 {
            self.0[i.min(self.0.len() - 1)]
        }
        fn frame(&self, _: usize, _: &mut FrameCache) -> Result<FrameRef, String> {
            Err("none".into())
        }
    }

    #[test]
    fn index_at_finds_the_frame_on_screen() {
        let info = SourceInfo {
            name: "x".into(),
            width: 8,
            height: 8,
            fps: 1.0,
            duration: Some(3.0),
            frames: 3,
            bytes: 0,
        };
        // Frames of 1 s, 0.5 s and 1.5 s.
        let s = Fixed(vec![0, 90_000, 135_000, 270_000], info);
        assert_eq!(s.index_at(0.0), 0);
        assert_eq!(s.index_at(0.99), 0);
        assert_eq!(s.index_at(1.0), 1);
        assert_eq!(s.index_at(1.49), 1);
        assert_eq!(s.index_at(1.5), 2);
        assert_eq!(s.index_at(2.9), 2);
        // 30 fps: frame 21 starts at 0.7 s exactly.
        let thirty = Fixed((0..=30).map(|k| k * 3000).collect(), s.1.clone());
        assert_eq!(thirty.index_at(0.7), 21);
        assert_eq!(thirty.index_at(0.69), 20);
        let c = Cursor {
            source: Arc::new(s),
            index: 2,
        };
        assert_eq!(c.position(), 1.5);
        assert_eq!(c.duration_of(1), 45_000);
    }
}
