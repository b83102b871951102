//! Turning any video into a streamable movie: the engine behind `mjpeg convert`.
//!
//! Every frame written is baseline JPEG, 4:2:0, with the standard Huffman tables, so RFC 2435
//! carries it (see [`crate::jpeg`]). Two inputs:
//! - a movie that is already MJPEG (lab or raw, told by content) is handled here, without
//!   ffmpeg: frames RFC 2435 can carry are copied, the others decoded and encoded again;
//! - anything else goes through an `ffmpeg` child that scales it, fixes its frame rate and hands
//!   over raw RGB frames on a pipe; `ffprobe` gives the source's size and frame rate first.
//!
//! The output is written to `<OUT>.partial` ([`partial_path`]) and renamed at the end, so a
//! failed or interrupted conversion leaves no half movie; the frame rate goes to the
//! `<OUT>.fps` sidecar that [`super::sidecar_fps`] reads.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::ffmpeg::convert_with_ffmpeg;
pub use super::ffmpeg::{parse_probe, probe, Probe};
use super::movie::{sidecar_fps, Format, MediaError, MediaErrorKind, Movie};
pub use super::pixels::{decode_rgb, encode_rgb, resize_rgb};
use crate::jpeg;

/// Largest frame the lab format's five length digits can describe.
pub const LAB_MAX_FRAME: usize = 99_999;
/// Largest width or height chosen or accepted: the biggest multiple of 16 within RFC 2435's 2040.
pub const MAX_DIMENSION: u16 = 2032;
/// Frame rate assumed when neither the source nor the user gives one.
pub const DEFAULT_FPS: f64 = 24.0;
/// JPEG quality when `--quality` is not given.
pub const DEFAULT_QUALITY: u8 = 75;

/// What the user asked for; `None` means "as the source".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Output width and height (multiples of 16, see [`check_size`]).
    pub size: Option<(u16, u16)>,
    pub fps: Option<f64>,
    /// JPEG quality 1-100; given, it also forces re-encoding of carriable MJPEG frames.
    pub quality: Option<u8>,
    /// Seconds skipped at the start of the source.
    pub start: Option<f64>,
    /// Most seconds converted.
    pub duration: Option<f64>,
}

impl Options {
    /// Checks every setting; the error names the flag (`--fps 0: ...`).
    pub fn validate(&self) -> Result<(), String> {
        if let Some((w, h)) = self.size {
            check_size(w, h).map_err(|e| format!("--size {w}x{h}: {e}"))?;
        }
        if let Some(fps) = self.fps {
            if !(fps > 0.0 && fps <= 240.0) {
                return Err(format!("--fps {fps}: must be above 0 and at most 240"));
            }
        }
        if let Some(q) = self.quality {
            if !(1..=100).contains(&q) {
                return Err(format!("--quality {q}: must be 1 to 100"));
            }
        }
        if let Some(s) = self.start {
            if !(s.is_finite() && s >= 0.0) {
                return Err(format!("--start {s}: must be 0 or more seconds"));
            }
        }
        if let Some(d) = self.duration {
            if !(d.is_finite() && d > 0.0) {
                return Err(format!("--duration {d}: must be above 0 seconds"));
            }
        }
        Ok(())
    }

    pub(super) fn quality(&self) -> u8 {
        self.quality.unwrap_or(DEFAULT_QUALITY)
    }
}

/// Parses `WIDTHxHEIGHT` (`640x480`); range checks are [`check_size`]'s.
pub fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("--size {text}: expected WIDTHxHEIGHT, e.g. 640x480");
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    let w = w.trim().parse::<u16>().map_err(|_| bad())?;
    let h = h.trim().parse::<u16>().map_err(|_| bad())?;
    Ok((w, h))
}

/// A size every output frame can have: multiples of 16 (whole 4:2:0 blocks) from 16 to
/// [`MAX_DIMENSION`].
pub fn check_size(width: u16, height: u16) -> Result<(), String> {
    for v in [width, height] {
        if !(16..=MAX_DIMENSION).contains(&v) || v % 16 != 0 {
            return Err(format!(
                "width and height must be multiples of 16 from 16 to {MAX_DIMENSION} \
                 (RFC 2435 limits, whole 4:2:0 blocks)"
            ));
        }
    }
    Ok(())
}

/// The source size scaled, aspect kept, so both sides are multiples of 16 within
/// [`MAX_DIMENSION`].
pub fn fit_size(width: usize, height: usize) -> (u16, u16) {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let limit = f64::from(MAX_DIMENSION);
    let scale = (limit / w).min(limit / h).min(1.0);
    let round16 = |v: f64| ((v * scale / 16.0).round() * 16.0).clamp(16.0, limit) as u16;
    (round16(w), round16(h))
}

/// The output container, from the output's name: `.Mjpeg` is the lab format, `.mjpeg` (or
/// `.mjpg`) a raw JPEG stream.
pub fn output_format(out: &Path) -> Result<Format, String> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("Mjpeg") => Ok(Format::Lab),
        Some("mjpeg" | "mjpg") => Ok(Format::Raw),
        _ => Err(format!(
            "{}: the name must end in .Mjpeg (lab format) or .mjpeg (raw JPEG stream)",
            out.display()
        )),
    }
}

/// The temporary file a movie is written to before it is renamed to `out`.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// The frame-rate sidecar of `movie`: `<movie>.fps`.
pub fn sidecar_path(movie: &Path) -> PathBuf {
    let mut name = movie.file_name().unwrap_or_default().to_os_string();
    name.push(".fps");
    movie.with_file_name(name)
}

/// Writes `fps` to `movie`'s sidecar, as a decimal number without needless digits.
pub fn write_sidecar(movie: &Path, fps: f64) -> io::Result<()> {
    let text = format!("{fps:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    std::fs::write(sidecar_path(movie), format!("{text}\n"))
}

/// Why a conversion failed, as one line a user can act on.
#[derive(Debug)]
pub enum ConvertError {
    /// A settings or output-name problem; the message names the flag or file.
    Usage(String),
    /// An external tool (ffmpeg, ffprobe) is not installed.
    ToolMissing { tool: &'static str, input: PathBuf },
    /// The input is missing, unreadable, empty, or MJPEG that is broken.
    Movie(MediaError),
    /// The input is not something we can convert.
    Input { path: PathBuf, why: String },
    /// Writing the output failed.
    Output { path: PathBuf, source: io::Error },
    /// A frame is too big for the lab format.
    FrameTooLarge {
        path: PathBuf,
        frame: usize,
        bytes: usize,
    },
    /// [`Observer::cancelled`] said stop; nothing was written.
    Interrupted,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Usage(msg) => f.write_str(msg),
            ConvertError::ToolMissing { tool, input } => write!(
                f,
                "{}: not an MJPEG movie, and converting other videos needs ffmpeg \
                 ({tool} not found): apt-get install ffmpeg",
                input.display()
            ),
            ConvertError::Movie(e) => write!(f, "{e}"),
            ConvertError::Input { path, why } => write!(f, "{}: {why}", path.display()),
            ConvertError::Output { path, source } => {
                write!(f, "{}: cannot write: {source}", path.display())
            }
            ConvertError::FrameTooLarge { path, frame, bytes } => write!(
                f,
                "{}: frame {frame} is {bytes} bytes, over the lab format's {LAB_MAX_FRAME} \
                 (5 length digits); lower --quality or --size, or write a raw .mjpeg",
                path.display()
            ),
            ConvertError::Interrupted => f.write_str("interrupted; nothing written"),
        }
    }
}

impl std::error::Error for ConvertError {}

pub(super) fn input_error(path: &Path, why: impl Into<String>) -> ConvertError {
    ConvertError::Input {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// What a conversion reports as it goes, and how it is stopped. Every method has a do-nothing
/// default, so `()` is an observer that watches nothing.
pub trait Observer {
    /// The number of frames expected (an estimate for ffmpeg input), when known.
    fn start(&mut self, _total: Option<usize>) {}
    /// `done` frames are written.
    fn frame_done(&mut self, _done: usize) {}
    /// Polled before each frame and at the end: true abandons the conversion with
    /// [`ConvertError::Interrupted`].
    fn cancelled(&self) -> bool {
        false
    }
}

impl Observer for () {}

/// What a finished conversion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub format: Format,
    pub frames: usize,
    pub width: u16,
    pub height: u16,
    pub fps: f64,
    /// Frames copied unchanged (already carriable MJPEG); the rest were encoded.
    pub copied: usize,
    /// Whether ffmpeg decoded the input.
    pub used_ffmpeg: bool,
}

/// Converts `input` to the movie `output` (format from its name, see [`output_format`]), then
/// writes the `<output>.fps` sidecar.
pub fn convert(
    input: &Path,
    output: &Path,
    opts: &Options,
    observer: &mut impl Observer,
) -> Result<Summary, ConvertError> {
    opts.validate().map_err(ConvertError::Usage)?;
    let format = output_format(output).map_err(ConvertError::Usage)?;
    match Movie::open(input) {
        Ok(movie) => reencode_mjpeg(&movie, output, format, opts, observer),
        // Not MJPEG at all: a job for ffmpeg.
        Err(e) if matches!(e.kind, MediaErrorKind::UnknownFormat(_)) => {
            convert_with_ffmpeg(input, output, format, opts, observer)
        }
        Err(e) => Err(ConvertError::Movie(e)),
    }
}

/// Writes frames to `<out>.partial`, then renames it to `out`; dropped unfinished, it removes
/// the partial file.
pub struct MovieWriter {
    out: PathBuf,
    tmp: PathBuf,
    format: Format,
    file: BufWriter<File>,
    frames: usize,
    finished: bool,
}

impl MovieWriter {
    pub fn create(out: &Path, format: Format) -> Result<MovieWriter, ConvertError> {
        let tmp = partial_path(out);
        let file = File::create(&tmp).map_err(|source| ConvertError::Output {
            path: out.to_path_buf(),
            source,
        })?;
        Ok(MovieWriter {
            out: out.to_path_buf(),
            tmp,
            format,
            file: BufWriter::with_capacity(1 << 20, file),
            frames: 0,
            finished: false,
        })
    }

    fn output_error(&self, source: io::Error) -> ConvertError {
        ConvertError::Output {
            path: self.out.clone(),
            source,
        }
    }

    /// Appends one JPEG frame.
    pub fn push(&mut self, jpeg: &[u8]) -> Result<(), ConvertError> {
        if self.format == Format::Lab {
            if jpeg.len() > LAB_MAX_FRAME {
                return Err(ConvertError::FrameTooLarge {
                    path: self.out.clone(),
                    frame: self.frames + 1,
                    bytes: jpeg.len(),
                });
            }
            write!(self.file, "{:05}", jpeg.len()).map_err(|e| self.output_error(e))?;
        }
        self.file
            .write_all(jpeg)
            .map_err(|e| self.output_error(e))?;
        self.frames += 1;
        Ok(())
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Flushes to disk, renames the partial file to the output and writes the sidecar.
    pub fn finish(mut self, fps: f64) -> Result<usize, ConvertError> {
        self.file.flush().map_err(|e| self.output_error(e))?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| self.output_error(e))?;
        std::fs::rename(&self.tmp, &self.out).map_err(|e| self.output_error(e))?;
        self.finished = true;
        write_sidecar(&self.out, fps).map_err(|source| ConvertError::Output {
            path: sidecar_path(&self.out),
            source,
        })?;
        Ok(self.frames)
    }
}

impl Drop for MovieWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// For each output frame, the source frame shown at its time: `n` source frames at `src_fps`,
/// resampled to `out_fps`, from `start` seconds for at most `duration`.
pub fn pick_frames(
    n: usize,
    src_fps: f64,
    out_fps: f64,
    start: f64,
    duration: Option<f64>,
) -> Vec<usize> {
    let length = n as f64 / src_fps;
    let end = duration.map_or(length, |d| (start + d).min(length));
    if start >= end {
        return Vec::new();
    }
    let count = (((end - start) * out_fps).round() as usize).max(1);
    (0..count)
        .map(|k| {
            let t = start + k as f64 / out_fps;
            // A hair of slack so 3 frames at 1/3 s do not land on the previous frame.
            ((t * src_fps + 1e-6).floor() as usize).min(n - 1)
        })
        .collect()
}

/// MJPEG in, MJPEG out, no ffmpeg: carriable frames are copied (unless a size or quality change
/// was asked for), the rest decoded, scaled if needed and encoded again.
fn reencode_mjpeg(
    movie: &Movie,
    output: &Path,
    format: Format,
    opts: &Options,
    observer: &mut impl Observer,
) -> Result<Summary, ConvertError> {
    let input = movie.path();
    let first = movie.frame(0).unwrap_or_default();
    let info = jpeg::parse(first).map_err(|e| input_error(input, format!("frame 1: {e}")))?;
    let carriable = info.carriable().is_ok();
    let (width, height) = opts.size.unwrap_or_else(|| {
        if carriable {
            (info.width, info.height)
        } else {
            fit_size(usize::from(info.width), usize::from(info.height))
        }
    });
    let src_fps = sidecar_fps(input).unwrap_or(DEFAULT_FPS);
    let fps = opts.fps.unwrap_or(src_fps);
    let picks = pick_frames(
        movie.frame_count(),
        src_fps,
        fps,
        opts.start.unwrap_or(0.0),
        opts.duration,
    );
    if picks.is_empty() {
        return Err(input_error(
            input,
            format!(
                "no frames to convert: --start is past the end ({} frames at {src_fps} fps)",
                movie.frame_count()
            ),
        ));
    }
    let copy_allowed = opts.size.is_none() && opts.quality.is_none();
    let mut writer = MovieWriter::create(output, format)?;
    observer.start(Some(picks.len()));
    let mut copied = 0;
    for (done, &i) in picks.iter().enumerate() {
        if observer.cancelled() {
            return Err(ConvertError::Interrupted);
        }
        let frame = movie.frame(i).unwrap_or_default();
        if copy_allowed && is_carriable_at(frame, width, height) {
            writer.push(frame)?;
            copied += 1;
        } else {
            let jpeg = reencode_frame(frame, width, height, opts.quality())
                .map_err(|e| input_error(input, format!("frame {}: {e}", i + 1)))?;
            writer.push(&jpeg)?;
        }
        observer.frame_done(done + 1);
    }
    finish(writer, observer, fps).map(|frames| Summary {
        format,
        frames,
        width,
        height,
        fps,
        copied,
        used_ffmpeg: false,
    })
}

/// Whether `frame` can go out as it is: RFC 2435 carries it and it has the output's size.
fn is_carriable_at(frame: &[u8], width: u16, height: u16) -> bool {
    jpeg::parse(frame)
        .is_ok_and(|i| i.width == width && i.height == height && i.carriable().is_ok())
}

fn reencode_frame(frame: &[u8], width: u16, height: u16, quality: u8) -> Result<Vec<u8>, String> {
    let (rgb, sw, sh) = decode_rgb(frame)?;
    let rgb = resize_rgb(&rgb, sw, sh, usize::from(width), usize::from(height));
    encode_rgb(&rgb, width, height, quality)
}

/// The last check before the output appears: an interruption that came after the last frame
/// still leaves nothing behind.
pub(super) fn finish(
    writer: MovieWriter,
    observer: &mut impl Observer,
    fps: f64,
) -> Result<usize, ConvertError> {
    if observer.cancelled() {
        return Err(ConvertError::Interrupted);
    }
    writer.finish(fps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ffmpeg::parse_rate;

    #[test]
    fn sizes_fit_rfc2435() {
        assert_eq!(fit_size(320, 240), (320, 240));
        assert_eq!(fit_size(1920, 1080), (1920, 1088));
        assert_eq!(fit_size(4000, 3000), (2032, 1520));
        assert_eq!(fit_size(3, 1000), (16, 1008));
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert!(parse_size("640").unwrap_err().starts_with("--size 640:"));
        assert!(parse_size("ax480").is_err());
        assert!(check_size(640, 480).is_ok());
        assert!(check_size(100, 480).is_err());
        assert!(check_size(2048, 480).is_err());
        assert!(check_size(0, 0).is_err());
    }

    #[test]
    fn output_format_from_name() {
        assert_eq!(output_format(Path::new("a/b.Mjpeg")), Ok(Format::Lab));
        assert_eq!(output_format(Path::new("b.mjpeg")), Ok(Format::Raw));
        assert_eq!(output_format(Path::new("b.mjpg")), Ok(Format::Raw));
        assert!(output_format(Path::new("b.mp4")).is_err());
        assert!(output_format(Path::new("b")).is_err());
        assert_eq!(
            partial_path(Path::new("d/m.Mjpeg")),
            Path::new("d/m.Mjpeg.partial")
        );
        assert_eq!(
            sidecar_path(Path::new("d/m.Mjpeg")),
            Path::new("d/m.Mjpeg.fps")
        );
    }

    #[test]
    fn frame_picking_resamples_and_trims() {
        assert_eq!(pick_frames(4, 24.0, 24.0, 0.0, None), vec![0, 1, 2, 3]);
        assert_eq!(pick_frames(4, 24.0, 12.0, 0.0, None), vec![0, 2]);
        assert_eq!(pick_frames(2, 12.0, 24.0, 0.0, None), vec![0, 0, 1, 1]);
        assert_eq!(
            pick_frames(30, 10.0, 10.0, 1.0, Some(0.5)),
            vec![10, 11, 12, 13, 14]
        );
        assert_eq!(pick_frames(3, 3.0, 3.0, 0.0, None), vec![0, 1, 2]);
        assert!(pick_frames(10, 10.0, 10.0, 5.0, None).is_empty());
    }

    #[test]
    fn probe_output_parsing() {
        let text = "streams.stream.0.width=320\nstreams.stream.0.height=240\n\
                    streams.stream.0.r_frame_rate=\"25/1\"\n\
                    streams.stream.0.avg_frame_rate=\"0/0\"\n\
                    streams.stream.0.duration=\"N/A\"\nformat.duration=\"2.000000\"\n";
        let p = parse_probe(text).unwrap();
        assert_eq!(
            (p.width, p.height, p.fps, p.duration),
            (320, 240, Some(25.0), Some(2.0))
        );
        assert_eq!(parse_probe("format.duration=\"2.0\"\n"), None);
        assert_eq!(
            parse_rate("30000/1001").map(|r| (r * 100.0).round()),
            Some(2997.0)
        );
        assert_eq!(parse_rate("0/0"), None);
    }

    #[test]
    fn options_name_the_bad_flag() {
        let bad = |o: Options| o.validate().unwrap_err();
        assert!(bad(Options {
            size: Some((100, 64)),
            ..Options::default()
        })
        .starts_with("--size"));
        assert!(bad(Options {
            fps: Some(0.0),
            ..Options::default()
        })
        .starts_with("--fps"));
        assert!(bad(Options {
            quality: Some(0),
            ..Options::default()
        })
        .starts_with("--quality"));
        assert!(bad(Options {
            start: Some(-1.0),
            ..Options::default()
        })
        .starts_with("--start"));
        assert!(bad(Options {
            duration: Some(0.0),
            ..Options::default()
        })
        .starts_with("--duration"));
        assert!(Options::default().validate().is_ok());
    }

    #[test]
    fn encoded_frames_are_carriable_and_resize_keeps_colour() {
        let (w, h) = (48usize, 32usize);
        let rgb: Vec<u8> = (0..w * h).flat_map(|_| [200u8, 40, 90]).collect();
        let small = resize_rgb(&rgb, w, h, 32, 16);
        assert_eq!(small.len(), 32 * 16 * 3);
        assert!(small.chunks(3).all(|p| p == [200, 40, 90]));
        let jpeg = encode_rgb(&small, 32, 16, 75).unwrap();
        assert!(jpeg::parse(&jpeg).unwrap().carriable().is_ok());
        let (back, bw, bh) = decode_rgb(&jpeg).unwrap();
        assert_eq!((bw, bh, back.len()), (32, 16, 32 * 16 * 3));
        assert!(decode_rgb(b"not a jpeg").is_err());
    }

    #[test]
    fn sidecar_text_is_short() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-conv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let movie = dir.join("m.Mjpeg");
        write_sidecar(&movie, 25.0).unwrap();
        assert_eq!(
            std::fs::read_to_string(sidecar_path(&movie)).unwrap(),
            "25\n"
        );
        write_sidecar(&movie, 30000.0 / 1001.0).unwrap();
        assert_eq!(
            std::fs::read_to_string(sidecar_path(&movie)).unwrap(),
            "29.97003\n"
        );
        assert_eq!(sidecar_fps(&movie), Some(29.97003));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
