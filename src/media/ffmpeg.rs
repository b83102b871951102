//! The ffmpeg side of `mjpeg convert`: `ffprobe` for the source's size and frame rate, and an
//! `ffmpeg` child that scales any video and hands over raw RGB frames on a pipe, which are then
//! encoded as RFC 2435-carriable JPEGs.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::convert::{
    finish, fit_size, input_error, ConvertError, MovieWriter, Observer, Options, Summary,
    DEFAULT_FPS,
};
use super::movie::Format;
use super::pixels::encode_rgb;

/// What ffprobe says about a video's first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub width: usize,
    pub height: usize,
    pub fps: Option<f64>,
    /// Seconds, when the container says.
    pub duration: Option<f64>,
}

/// Runs ffprobe on `input`.
pub fn probe(input: &Path) -> Result<Probe, ConvertError> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,avg_frame_rate,r_frame_rate,duration:format=duration")
        .args(["-of", "flat"])
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffprobe", input, e))?;
    if !output.status.success() {
        let line = first_line(&output.stderr);
        // ffprobe starts its message with the file name, which ours already gives.
        let prefix = format!("{}: ", input.display());
        let why = line.strip_prefix(&prefix).unwrap_or(&line);
        return Err(input_error(
            input,
            format!("not a video ffmpeg can read ({why})"),
        ));
    }
    parse_probe(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| input_error(input, "no video stream (ffprobe found none)"))
}

/// Reads `ffprobe -of flat` output; `None` without a video stream.
pub fn parse_probe(text: &str) -> Option<Probe> {
    let get = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim().trim_matches('"'))
    };
    let number = |key: &str| get(key).and_then(|v| v.parse::<f64>().ok());
    let width = get("streams.stream.0.width")?.parse().ok()?;
    let height = get("streams.stream.0.height")?.parse().ok()?;
    let fps = ["avg_frame_rate", "r_frame_rate"]
        .iter()
        .find_map(|k| get(&format!("streams.stream.0.{k}")).and_then(parse_rate));
    let duration = number("format.duration")
        .or_else(|| number("streams.stream.0.duration"))
        .filter(|d| d.is_finite() && *d > 0.0);
    (width > 0 && height > 0).then_some(Probe {
        width,
        height,
        fps,
        duration,
    })
}

/// `25/1` or `30000/1001` as frames per second, when it is a usable rate.
pub(super) fn parse_rate(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/').unwrap_or((text, "1"));
    let rate = num.parse::<f64>().ok()? / den.parse::<f64>().ok()?;
    (rate.is_finite() && rate > 0.0 && rate <= 240.0).then_some(rate)
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    line.unwrap_or("no reason given").to_string()
}

fn spawn_error(tool: &'static str, input: &Path, e: io::Error) -> ConvertError {
    if e.kind() == io::ErrorKind::NotFound {
        ConvertError::ToolMissing {
            tool,
            input: input.to_path_buf(),
        }
    } else {
        input_error(input, format!("cannot run {tool}: {e}"))
    }
}

/// An ffmpeg child that is killed and reaped if dropped before it is waited for.
struct Ffmpeg {
    child: Child,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Ffmpeg {
    /// Starts ffmpeg writing `input` as raw RGB24 frames of `width`x`height` at `fps` to its
    /// stdout.
    fn spawn(
        input: &Path,
        width: u16,
        height: u16,
        fps: f64,
        opts: &Options,
    ) -> Result<Ffmpeg, ConvertError> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
        if let Some(start) = opts.start {
            cmd.arg("-ss").arg(start.to_string());
        }
        cmd.arg("-i").arg(input);
        if let Some(duration) = opts.duration {
            cmd.arg("-t").arg(duration.to_string());
        }
        cmd.args(["-map", "0:v:0", "-an", "-sn", "-f", "rawvideo"])
            .args(["-pix_fmt", "rgb24", "-vf"])
            .arg(format!("fps={fps},scale={width}:{height}"))
            .arg("-")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C reaches only us, and we stop ffmpeg ourselves.
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| spawn_error("ffmpeg", input, e))?;
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        });
        Ok(Ffmpeg { child, stderr })
    }

    /// Waits for ffmpeg to exit; its first error line when it failed.
    fn wait(mut self) -> Result<(), String> {
        let status = self.child.wait().map_err(|e| e.to_string())?;
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(first_line(&stderr))
        }
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Any video in: ffmpeg decodes, scales and resamples it; each RGB frame is encoded here.
pub(super) fn convert_with_ffmpeg(
    input: &Path,
    output: &Path,
    format: Format,
    opts: &Options,
    observer: &mut impl Observer,
) -> Result<Summary, ConvertError> {
    let source = probe(input)?;
    let (width, height) = opts
        .size
        .unwrap_or_else(|| fit_size(source.width, source.height));
    let fps = opts.fps.or(source.fps).unwrap_or(DEFAULT_FPS);
    let expected = expected_frames(&source, opts, fps);
    let mut ffmpeg = Ffmpeg::spawn(input, width, height, fps, opts)?;
    let mut writer = MovieWriter::create(output, format)?;
    observer.start(expected);
    let frame_len = usize::from(width) * usize::from(height) * 3;
    let mut rgb = vec![0u8; frame_len];
    let mut pipe = ffmpeg
        .child
        .stdout
        .take()
        .ok_or_else(|| input_error(input, "ffmpeg gave no output pipe"))?;
    loop {
        if observer.cancelled() {
            return Err(ConvertError::Interrupted);
        }
        let more = read_frame(&mut pipe, &mut rgb)
            .map_err(|e| input_error(input, format!("reading frames from ffmpeg: {e}")))?;
        if !more {
            break;
        }
        let jpeg = encode_rgb(&rgb, width, height, opts.quality()).map_err(|e| {
            input_error(
                input,
                format!("frame {}: encoding: {e}", writer.frames() + 1),
            )
        })?;
        writer.push(&jpeg)?;
        observer.frame_done(writer.frames());
    }
    drop(pipe);
    if observer.cancelled() {
        return Err(ConvertError::Interrupted);
    }
    ffmpeg
        .wait()
        .map_err(|why| input_error(input, format!("ffmpeg failed: {why}")))?;
    if writer.frames() == 0 {
        return Err(input_error(
            input,
            "no video frames to convert (is --start past the end?)",
        ));
    }
    finish(writer, observer, fps).map(|frames| Summary {
        format,
        frames,
        width,
        height,
        fps,
        copied: 0,
        used_ffmpeg: true,
    })
}

/// How many frames ffmpeg should deliver, for the progress bar.
fn expected_frames(source: &Probe, opts: &Options, fps: f64) -> Option<usize> {
    let left = source.duration? - opts.start.unwrap_or(0.0);
    let seconds = opts.duration.map_or(left, |d| d.min(left));
    Some((seconds.max(0.0) * fps).round() as usize)
}

/// Fills `buf` with the next frame; `Ok(false)` at a clean end of stream.
fn read_frame(pipe: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match pipe.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "stream ended inside a frame ({filled} of {} bytes)",
                        buf.len()
                    ),
                ))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
