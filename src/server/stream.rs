//! One movie as the server streams it: the indexed file, its frame rate, and every frame already
//! cut into RFC 2435 payloads, shared read-only by all sessions (`Arc<Stream>`).
//!
//! Packetizing once per movie instead of once per session per frame is what keeps the per-stream
//! cost at a header write and a `sendmsg`: sessions differ only in the 12-byte RTP header.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::jpeg;
use crate::media::{self, Movie};
use crate::rtp::jpeg::{packetize, Payloads};

/// RTP clock rate for video (RFC 3551 §4.2, and RFC 2435 §3).
pub const CLOCK_RATE: u32 = 90_000;

/// A movie ready to stream.
pub struct Stream {
    /// The name clients use in URLs (relative to the media folder, `/`-separated).
    pub name: String,
    pub path: PathBuf,
    pub movie: Arc<Movie>,
    pub fps: f64,
    pub width: u16,
    pub height: u16,
    /// RFC 2435 payloads of each frame.
    payloads: Vec<Payloads>,
}

impl Stream {
    /// Indexes and packetizes `path`. The error is one line that names the file and, where it is
    /// one frame's fault, the frame.
    pub fn load(name: &str, path: &Path, default_fps: f64, mtu: usize) -> Result<Stream, String> {
        let movie = Movie::open(path).map_err(|e| e.to_string())?;
        let fps = media::sidecar_fps(path).unwrap_or(default_fps);
        let mut payloads = Vec::with_capacity(movie.frame_count());
        let (mut width, mut height) = (0, 0);
        for (i, frame) in movie.frames().enumerate() {
            let info = jpeg::parse(frame)
                .map_err(|e| format!("{}: frame {}: {e}", path.display(), i + 1))?;
            if let Err(why) = info.carriable() {
                return Err(format!(
                    "{}: frame {} cannot be sent as RFC 2435: {why}",
                    path.display(),
                    i + 1
                ));
            }
            if i == 0 {
                (width, height) = (info.width, info.height);
            }
            let p = packetize(frame, mtu)
                .map_err(|e| format!("{}: frame {}: {e}", path.display(), i + 1))?;
            payloads.push(p);
        }
        Ok(Stream {
            name: name.to_string(),
            path: path.to_path_buf(),
            movie: Arc::new(movie),
            fps,
            width,
            height,
            payloads,
        })
    }

    pub fn frame_count(&self) -> usize {
        self.payloads.len()
    }

    /// Duration in seconds at the stream's frame rate.
    pub fn duration(&self) -> f64 {
        self.frame_count() as f64 / self.fps
    }

    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.fps)
    }

    /// The RFC 2435 payloads of frame `i` (0-based).
    pub fn payloads(&self, i: usize) -> Option<&Payloads> {
        self.payloads.get(i)
    }

    /// The whole JPEG of frame `i`, for the lab client's one-frame-per-packet mode.
    pub fn jpeg(&self, i: usize) -> Option<&[u8]> {
        self.movie.frame(i)
    }

    /// RTP timestamp offset of the `n`th frame sent since the session began, rounded per frame
    /// so that non-integer rates (29.97) never drift.
    pub fn rtp_offset(&self, n: u64) -> u32 {
        ((n as f64) * f64::from(CLOCK_RATE) / self.fps).round() as u64 as u32
    }
}
