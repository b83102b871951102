//! A movie file as an on-demand source: the disk index, a constant frame rate, and frames read,
//! checked and packetized when a session first needs them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log::warn;

use crate::jpeg;
use crate::media::{self, DiskMovie, ReadError};
use crate::server::source::{Frame, FrameCache, FrameRef, Seekable, SourceInfo, CLOCK_RATE};

/// How far ahead of a read the kernel is asked to fetch.
const READ_AHEAD: u64 = 1 << 20;

pub struct MovieSource {
    uid: u64,
    info: SourceInfo,
    disk: DiskMovie,
    fps: f64,
    mtu: usize,
    /// A frame that cannot be sent is logged once per movie, not once per session and loop.
    warned: AtomicBool,
    /// The file shrank or was rewritten under us: no frame of it is trusted any more, cached or
    /// not (the library indexes the new file at the next request for it).
    stale: AtomicBool,
}

impl MovieSource {
    /// Indexes `path` and checks that its first frame can be sent as RFC 2435. The error is one
    /// line that names the file and, where it is one frame's fault, the frame.
    pub fn open(
        uid: u64,
        name: &str,
        path: &Path,
        default_fps: f64,
        mtu: usize,
    ) -> Result<MovieSource, String> {
        let disk = DiskMovie::open(path).map_err(|e| e.to_string())?;
        let first = disk
            .read_frame(0)
            .map_err(|e| format!("{}: frame 1: {e}", path.display()))?;
        let info = jpeg::parse(&first).map_err(|e| format!("{}: frame 1: {e}", path.display()))?;
        if let Err(why) = info.carriable() {
            return Err(format!(
                "{}: frame 1 cannot be sent as RFC 2435: {why}",
                path.display()
            ));
        }
        let fps = media::sidecar_fps(path).unwrap_or(default_fps);
        let frames = disk.frame_count();
        Ok(MovieSource {
            uid,
            info: SourceInfo {
                name: name.to_string(),
                width: info.width,
                height: info.height,
                fps,
                duration: Some(frames as f64 / fps),
                frames,
                bytes: disk.total_bytes(),
            },
            disk,
            fps,
            mtu,
            warned: AtomicBool::new(false),
            stale: AtomicBool::new(false),
        })
    }

    pub fn disk(&self) -> &DiskMovie {
        &self.disk
    }

    fn load(&self, i: usize) -> Result<FrameRef, String> {
        if i % 16 == 0 {
            self.disk.prefetch(i, READ_AHEAD);
        }
        let jpeg = self.disk.read_frame(i).map_err(|e| {
            if matches!(e, ReadError::Short { .. } | ReadError::Changed) {
                self.stale.store(true, Ordering::Relaxed);
            }
            e.to_string()
        })?;
        Frame::from_jpeg(jpeg, self.mtu).map(Arc::new)
    }
}

impl Seekable for MovieSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn uid(&self) -> u64 {
        self.uid
    }

    fn frame_count(&self) -> usize {
        self.disk.frame_count()
    }

    fn pts(&self, i: usize) -> u64 {
        // Rounded per frame from the frame number, so 29.97 fps never drifts.
        ((i as f64) * f64::from(CLOCK_RATE) / self.fps).round() as u64
    }

    fn frame(&self, i: usize, cache: &mut FrameCache) -> Result<FrameRef, String> {
        let key = (self.uid, i as u32, 0);
        let result = if self.stale.load(Ordering::Relaxed) {
            Err("the file changed on disk while it streamed".to_string())
        } else {
            cache.get_or_try_insert(key, || self.load(i))
        };
        result.map_err(|e| {
            let msg = format!("{}: frame {}: {e}", self.disk.path().display(), i + 1);
            if !self.warned.swap(true, Ordering::Relaxed) {
                warn!("{msg} (skipped; further errors in this movie are not logged)");
            }
            msg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;

    #[test]
    fn frames_come_from_disk_through_the_cache() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-msrc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.Mjpeg");
        let t = TestMovie {
            seconds: 0.5,
            width: 64,
            height: 64,
            ..TestMovie::default()
        };
        std::fs::write(&path, t.to_lab_bytes()).unwrap();
        let m = MovieSource::open(7, "m.Mjpeg", &path, 30.0, 1400).unwrap();
        assert_eq!(m.info().fps, 30.0);
        assert_eq!(m.frame_count(), 12);
        assert_eq!(m.pts(3), 9000);
        assert_eq!((m.info().width, m.info().height), (64, 64));
        let mut cache = FrameCache::new(1 << 20);
        let a = m.frame(5, &mut cache).unwrap();
        assert_eq!(a.jpeg, t.encode(5));
        assert!(!a.payloads.is_empty());
        let b = m.frame(5, &mut cache).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second read is the cached frame");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
