//! mjpeg: makes, converts and checks MJPEG movies.
//!
//! - `mjpeg test [OUT]` writes the built-in test movie;
//! - `mjpeg convert IN OUT` turns any video (through ffmpeg) or MJPEG movie (without it) into
//!   one RFC 2435 carries;
//! - `mjpeg info FILE...` says what a movie is and whether it streams, or what a playlist plays.
//!
//! Errors are one line on stderr starting `mjpeg: `, with a non-zero exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
use indicatif::{ProgressBar, ProgressStyle};
use rtsp_mjpeg::jpeg;
use rtsp_mjpeg::media::convert::{self, ConvertError, Observer, Options};
use rtsp_mjpeg::media::m3u::is_playlist_name;
use rtsp_mjpeg::media::{sidecar_fps, Movie, TestMovie};
use rtsp_mjpeg::server::catalog::Catalog;
use rtsp_mjpeg::server::source::movie::MovieSource;
use rtsp_mjpeg::server::source::playlist::{self, Built};
use rtsp_mjpeg::server::source::Seekable;

/// The classic Python lab client reads each RTP packet into a buffer of this many bytes.
const LAB_CLIENT_BUFFER: usize = 20_480;
/// Frame rate assumed for a movie without a `.fps` sidecar (as rtspd does by default).
const DEFAULT_FPS: f64 = 24.0;

/// Makes, converts and checks MJPEG movies for rtspd.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Test(TestArgs),
    Convert(ConvertArgs),
    Info(InfoArgs),
}

/// Writes the built-in test movie (lab format) and its .fps sidecar.
#[derive(FromArgs)]
#[argh(subcommand, name = "test")]
struct TestArgs {
    /// output file (default media/movie.Mjpeg)
    #[argh(positional, default = "PathBuf::from(\"media/movie.Mjpeg\")")]
    out: PathBuf,
    /// length in seconds (default 10)
    #[argh(option, default = "10.0")]
    seconds: f64,
    /// picture size WIDTHxHEIGHT, multiples of 16 (default 640x480)
    #[argh(option, default = "String::from(\"640x480\")")]
    size: String,
    /// frames per second (default 24)
    #[argh(option, default = "24")]
    fps: u32,
    /// JPEG quality 1-100 (default 75)
    #[argh(option, default = "75")]
    quality: u8,
}

/// Converts any video ffmpeg reads, or an MJPEG movie RFC 2435 cannot carry, into a streamable
/// movie: OUT ending in .Mjpeg is the lab format, .mjpeg a raw JPEG stream.
#[derive(FromArgs)]
#[argh(subcommand, name = "convert")]
struct ConvertArgs {
    /// the video to convert
    #[argh(positional)]
    input: PathBuf,
    /// the movie to write (.Mjpeg or .mjpeg)
    #[argh(positional)]
    output: PathBuf,
    /// picture size WIDTHxHEIGHT, multiples of 16 (default: the source's, rounded to 16)
    #[argh(option)]
    size: Option<String>,
    /// frames per second (default: the source's, else 24)
    #[argh(option)]
    fps: Option<f64>,
    /// JPEG quality 1-100 (default 75); given, carriable MJPEG frames are re-encoded too
    #[argh(option)]
    quality: Option<u8>,
    /// seconds to skip at the start
    #[argh(option)]
    start: Option<f64>,
    /// most seconds to convert
    #[argh(option)]
    duration: Option<f64>,
}

/// Says what movies are: format, frames, size, duration, and whether they stream; for a
/// playlist (.m3u, .m3u8), each entry and why any is skipped, as rtspd would play it.
#[derive(FromArgs)]
#[argh(subcommand, name = "info")]
struct InfoArgs {
    /// the movies and playlists to check
    #[argh(positional, greedy)]
    files: Vec<PathBuf>,
    /// the media folder rtspd serves, which playlist entries must stay in (default: each
    /// playlist's own folder)
    #[argh(option)]
    media: Option<PathBuf>,
}

/// How a run ended badly: a message for stderr and the exit code.
struct Failure {
    message: String,
    code: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, code: 1 }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let result = match args.command {
        Command::Test(a) => run_test(a),
        Command::Convert(a) => run_convert(a),
        Command::Info(a) => run_info(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("mjpeg: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// argh's parsing, with its errors put on one `mjpeg: ` line (exit 2) and help on stdout.
fn parse_args() -> Result<Args, ExitCode> {
    let mut strings = Vec::new();
    for (i, arg) in std::env::args_os().enumerate() {
        match arg.into_string() {
            Ok(s) => strings.push(s),
            Err(bad) => {
                eprintln!("mjpeg: argument {i} ({bad:?}) is not valid UTF-8");
                return Err(ExitCode::from(2));
            }
        }
    }
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    Args::from_args(&["mjpeg"], &rest).map_err(|exit| match exit.status {
        Ok(()) => {
            println!("{}", exit.output.trim_end());
            ExitCode::SUCCESS
        }
        Err(()) => {
            let lines: Vec<&str> = exit
                .output
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("mjpeg: {}", lines.join(" "));
            ExitCode::from(2)
        }
    })
}

/// `mjpeg test`: the built-in movie through the library's writer, then the sidecar.
fn run_test(args: TestArgs) -> Result<(), Failure> {
    let movie = test_movie(&args)?;
    let out = &args.out;
    let total = movie.frame_count();
    let bar = progress_bar(Some(total));
    signals::install();
    let partial = convert::partial_path(out);
    movie
        .write_file(out, |done, _| {
            if let Some(code) = signals::exit_code() {
                // write_file's own temporary file: leave nothing half written.
                let _ = std::fs::remove_file(&partial);
                bar.finish_and_clear();
                eprintln!("mjpeg: interrupted; {} not written", out.display());
                std::process::exit(i32::from(code));
            }
            bar.set_position(done as u64);
        })
        .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
    bar.finish_and_clear();
    convert::write_sidecar(out, f64::from(movie.fps)).map_err(|e| {
        format!(
            "{}: cannot write: {e}",
            convert::sidecar_path(out).display()
        )
    })?;
    println!(
        "wrote {}: {total} frames {}x{} at {} fps",
        out.display(),
        movie.width,
        movie.height,
        movie.fps
    );
    Ok(())
}

/// The test movie's settings from the flags; an error names the flag.
fn test_movie(args: &TestArgs) -> Result<TestMovie, String> {
    let (width, height) = convert::parse_size(&args.size)?;
    let base = TestMovie::default();
    // Each flag checked alone against the defaults, so the error can name it.
    let checks = [
        (
            format!("--size {}", args.size),
            TestMovie {
                width,
                height,
                ..base.clone()
            },
        ),
        (
            format!("--seconds {}", args.seconds),
            TestMovie {
                seconds: args.seconds,
                ..base.clone()
            },
        ),
        (
            format!("--fps {}", args.fps),
            TestMovie {
                fps: args.fps,
                ..base.clone()
            },
        ),
        (
            format!("--quality {}", args.quality),
            TestMovie {
                quality: args.quality,
                ..base.clone()
            },
        ),
    ];
    for (flag, movie) in checks {
        movie.validate().map_err(|e| format!("{flag}: {e}"))?;
    }
    Ok(TestMovie {
        seconds: args.seconds,
        width,
        height,
        fps: args.fps,
        quality: args.quality,
    })
}

/// `mjpeg convert`.
fn run_convert(args: ConvertArgs) -> Result<(), Failure> {
    let size = args.size.as_deref().map(convert::parse_size).transpose()?;
    let opts = Options {
        size,
        fps: args.fps,
        quality: args.quality,
        start: args.start,
        duration: args.duration,
    };
    signals::install();
    let mut observer = BarObserver { bar: None };
    let result = convert::convert(&args.input, &args.output, &opts, &mut observer);
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(s) => {
            let how = if s.used_ffmpeg {
                "decoded by ffmpeg".to_string()
            } else {
                format!("{} copied, {} re-encoded", s.copied, s.frames - s.copied)
            };
            println!(
                "wrote {}: {} frames {}x{} at {} fps, {} ({how})",
                args.output.display(),
                s.frames,
                s.width,
                s.height,
                s.fps,
                s.format
            );
            Ok(())
        }
        Err(ConvertError::Interrupted) => Err(Failure {
            message: format!("interrupted; {} not written", args.output.display()),
            code: signals::exit_code().unwrap_or(130),
        }),
        Err(e) => Err(e.to_string().into()),
    }
}

/// Shows conversion progress on stderr when it is a terminal, and stops on a signal.
struct BarObserver {
    bar: Option<ProgressBar>,
}

impl Observer for BarObserver {
    fn start(&mut self, total: Option<usize>) {
        self.bar = Some(progress_bar(total));
    }

    fn frame_done(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn cancelled(&self) -> bool {
        signals::exit_code().is_some()
    }
}

/// A bar of frames done of `total` with an ETA (a counter when the total is unknown); hidden
/// unless stderr is a terminal.
fn progress_bar(total: Option<usize>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n as u64),
            "[{elapsed_precise}] {wide_bar} {pos}/{len} frames, ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {pos} frames {per_sec}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// `mjpeg info`: a report per file; fails (after the others) if any cannot be read.
fn run_info(args: InfoArgs) -> Result<(), Failure> {
    if args.files.is_empty() {
        return Err(Failure {
            message: "info: name at least one movie file".into(),
            code: 2,
        });
    }
    let mut failed = false;
    for (i, path) in args.files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        if is_playlist_name(&path.to_string_lossy()) {
            match playlist_report(path, args.media.as_deref()) {
                Ok(text) => print!("{text}"),
                Err(e) => {
                    eprintln!("mjpeg: {}: {e}", path.display());
                    failed = true;
                }
            }
            continue;
        }
        match Movie::open(path) {
            Ok(movie) => print!("{}", report(&movie)),
            Err(e) => {
                eprintln!("mjpeg: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure {
            message: String::new(),
            code: 1,
        })
    } else {
        Ok(())
    }
}

/// The `info` text for one movie.
fn report(movie: &Movie) -> String {
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

/// The `info` text for a playlist: what rtspd would make of it with `media` as its folder. An
/// error when it cannot be read or has no entry to play (the report is printed first).
fn playlist_report(path: &Path, media: Option<&Path>) -> Result<String, String> {
    let folder = match media {
        Some(m) => m.to_path_buf(),
        None => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
    };
    let catalog =
        Catalog::new(&folder).map_err(|e| format!("media folder {}: {e}", folder.display()))?;
    let file = path.canonicalize().map_err(|e| e.to_string())?;
    if !file.starts_with(catalog.root()) {
        return Err(format!(
            "not in the media folder {} (use --media DIR)",
            folder.display()
        ));
    }
    let name = catalog.name_of(&file);
    let bytes = playlist::read_file(&file).map_err(|e| e.to_string())?;
    let root = catalog.root().to_string_lossy().into_owned();
    let mut uid = 0;
    let built = playlist::build(&name, &bytes, &root, |n| {
        let p = catalog.resolve(n).map_err(|why| why.to_string())?;
        uid += 1;
        MovieSource::open(uid, n, &p, DEFAULT_FPS, 1400).map(std::sync::Arc::new)
    });
    let text = playlist_text(path, &built);
    if built.source.is_none() {
        print!("{text}");
        return Err("no entry can be played (rtspd answers 404)".into());
    }
    Ok(text)
}

fn playlist_text(path: &Path, built: &Built) -> String {
    let played = built.source.as_ref().map_or(&[][..], |p| p.entries());
    // Played and skipped entries, in file order.
    let mut lines: Vec<(usize, String)> = played
        .iter()
        .map(|e| {
            let i = e.movie.info();
            let (_, fps_source) = frame_rate(e.movie.disk().path());
            let title = e
                .title
                .as_ref()
                .map_or(String::new(), |t| format!(" {t:?}"));
            let line = format!(
                "{}{title}: {} frames, {}x{}, {} fps ({fps_source}), {:.3} s, from {:.3} s",
                e.name,
                i.frames,
                i.width,
                i.height,
                i.fps,
                i.duration.unwrap_or(0.0),
                e.start_seconds()
            );
            (e.line, line)
        })
        .collect();
    lines.extend(
        built
            .skipped
            .iter()
            .map(|s| (s.line, format!("{:?}: skipped: {}", s.entry, s.why))),
    );
    lines.sort_by_key(|(n, _)| *n);
    let mut out = vec![
        path.display().to_string(),
        format!(
            "  entries     {}: {} played, {} skipped",
            lines.len(),
            played.len(),
            built.skipped.len()
        ),
    ];
    out.extend(built.problems.iter().map(|p| format!("  warning     {p}")));
    out.extend(lines.iter().map(|(n, l)| format!("  line {n:<6} {l}")));
    if let Some(p) = &built.source {
        let i = p.info();
        out.push(format!(
            "  total       {} frames, {:.3} s",
            i.frames,
            i.duration.unwrap_or(0.0)
        ));
    }
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// " (frames differ: 12 are not WxH)" when some frames have another size.
fn mixed_sizes(movie: &Movie, first: &jpeg::JpegInfo) -> String {
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

/// The movie's frame rate and where it came from.
fn frame_rate(path: &Path) -> (f64, String) {
    let sidecar = convert::sidecar_path(path);
    let name = sidecar.file_name().unwrap_or_default().to_string_lossy();
    match sidecar_fps(path) {
        Some(fps) => (fps, format!("from {name}")),
        None => (DEFAULT_FPS, format!("default; no valid {name}")),
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

/// SIGINT and SIGTERM set a flag that long jobs poll between frames, so they can remove their
/// temporary file and exit 128 + the signal's number.
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(signal: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        RECEIVED.store(signal, Ordering::SeqCst);
    }

    pub fn install() {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }

    /// The exit code for the signal received (130 for SIGINT), if one was.
    pub fn exit_code() -> Option<u8> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(128u8.saturating_add(signal as u8)),
        }
    }
}
