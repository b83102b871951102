//! What `mjpeg info` says about one movie: format, size, frame rate and where it came from,
//! whether RFC 2435 can carry every frame and whether the classic lab client can receive them.

use std::path::Path;

use crate::jpeg::{self, JpegInfo};
use crate::media::convert;
use crate::media::{sidecar_fps, Movie};

/// The classic Python lab client reads each RTP packet into a buffer of this many bytes.
pub const LAB_CLIENT_BUFFER: usize = 20_480;
/// Frame rate assumed for a movie without a `.fps` sidecar (rtspd's default too).
pub const DEFAULT_FPS: f64 = 24.0;

/// The report for one movie, a line each, every line ending in a newline.
pub fn movie_report(movie: &Movie) -> String {
    let path = movie.path();
    let first = movie.frame(0).and_then(|f| jpeg::parse(f).ok());
    let (dimensions, sampling) = match &first {
        Some(info) => (
            format!("{}x{}{}", info.width, info.height, mixed_sizes(movie, info)),
            info.sampling().to_string(),
        ),
        None => (
            "unknown (frame 1 is not a readable JPEG)".into(),
            "unknown".into(),
        ),
    };
    let (min, median, max) = movie.frame_len_stats();
    let (fps, fps_source) = frame_rate(path);
    let seconds = movie.frame_count() as f64 / fps;
    let over = movie
        .frames()
        .filter(|f| f.len() > LAB_CLIENT_BUFFER)
        .count();
    let lab_client = if over == 0 {
        format!("every frame fits its {LAB_CLIENT_BUFFER}-byte receive buffer")
    } else {
        format!(
            "{over} of {} frames over its {LAB_CLIENT_BUFFER}-byte receive buffer (largest \
             {max}); lower --quality or --size with `mjpeg convert`",
            movie.frame_count()
        )
    };
    [
        path.display().to_string(),
        format!("  format      {}", movie.format()),
        format!("  frames      {}", movie.frame_count()),
        format!("  dimensions  {dimensions}"),
        format!("  sampling    {sampling}"),
        format!("  frame size  min {min}, median {median}, max {max} bytes"),
        format!("  duration    {seconds:.3} s at {fps} fps ({fps_source})"),
        format!("  RFC 2435    {}", carriability(movie)),
        format!("  lab client  {lab_client}"),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}

/// The movie's frame rate and where it came from (its `.fps` sidecar, or the default).
pub fn frame_rate(path: &Path) -> (f64, String) {
    let sidecar = convert::sidecar_path(path);
    let name = sidecar.file_name().unwrap_or_default().to_string_lossy();
    match sidecar_fps(path) {
        Some(fps) => (fps, format!("from {name}")),
        None => (DEFAULT_FPS, format!("default; no valid {name}")),
    }
}

/// " (but 12 frames have another size)" when some frames differ from the first.
fn mixed_sizes(movie: &Movie, first: &JpegInfo) -> String {
    let others = movie
        .frames()
        .filter_map(|f| jpeg::parse(f).ok())
        .filter(|i| (i.width, i.height) != (first.width, first.height))
        .count();
    if others == 0 {
        String::new()
    } else {
        format!(" (but {others} frames have another size)")
    }
}

/// "every frame carriable", or the first frame that is not and why.
fn carriability(movie: &Movie) -> String {
    for (i, frame) in movie.frames().enumerate() {
        let why = match jpeg::parse(frame) {
            Ok(info) => match info.carriable() {
                Ok(_) => continue,
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        let fix = if why.contains("mjpeg convert") {
            ""
        } else {
            "; fix with `mjpeg convert`"
        };
        return format!("not carriable from frame {}: {why}{fix}", i + 1);
    }
    "every frame carriable".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TestMovie;
    use crate::testutil::TempDir;

    fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_test_movie_is_reported_whole_and_carriable() {
        let dir = TempDir::new("report");
        let movie = TestMovie {
            seconds: 1.0,
            ..TestMovie::default()
        };
        let path = dir.path().join("t.Mjpeg");
        movie.write_file(&path, |_, _| {}).unwrap();
        std::fs::write(dir.path().join("t.Mjpeg.fps"), "12.5\n").unwrap();
        let text = movie_report(&Movie::open(&path).unwrap());
        let frames = movie.frame_count();
        for needle in [
            format!("frames      {frames}"),
            format!("dimensions  {}x{}\n", movie.width, movie.height),
            "at 12.5 fps (from t.Mjpeg.fps)".to_string(),
            format!("{:.3} s", frames as f64 / 12.5),
            "every frame carriable".to_string(),
            "every frame fits".to_string(),
        ] {
            assert!(text.contains(&needle), "{needle:?} not in\n{text}");
        }
        assert_eq!(text.lines().count(), 9, "{text}");
    }

    #[test]
    fn the_first_bad_frame_is_named_with_a_fix() {
        let dir = TempDir::new("report");
        let good = TestMovie::default().encode(0);
        // Frame 2 says it is progressive (SOF2), which RFC 2435 cannot carry.
        let mut progressive = good.clone();
        let sof = progressive
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .unwrap();
        progressive[sof + 1] = 0xC2;
        let mut raw = good.clone();
        raw.extend_from_slice(&progressive);
        let path = write(&dir, "bad.mjpeg", &raw);
        let text = movie_report(&Movie::open(&path).unwrap());
        assert!(text.contains("not carriable from frame 2"), "{text}");
        assert!(text.contains("mjpeg convert"), "{text}");
        assert!(text.contains("default; no valid bad.mjpeg.fps"), "{text}");
    }
}
