//! mjpeg: makes, converts and checks MJPEG movies.
//!
//! - `mjpeg test [OUT]` writes the built-in test movie;
//! - `mjpeg convert IN OUT` turns any video (through ffmpeg) or MJPEG movie (without it) into
//!   one RFC 2435 carries;
//! - `mjpeg info FILE...` says what a movie is and whether it streams, or what a playlist plays.
//!
//! Errors are one line on stderr starting `mjpeg: `, with a non-zero exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use indicatif::{ProgressBar, ProgressStyle};
use rtsp_mjpeg::media::convert::{self, ConvertError, Observer, Options};
use rtsp_mjpeg::media::m3u::is_playlist_name;
use rtsp_mjpeg::media::report::movie_report;
use rtsp_mjpeg::media::{Movie, TestMovie};
use rtsp_mjpeg::server::source::report::playlist_report;

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
    /// replace OUT if it exists (without this an existing movie is left alone)
    #[argh(switch)]
    force: bool,
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
    if !args.force && std::fs::symlink_metadata(out).is_ok() {
        return Err(format!(
            "{} exists; pass --force to replace it with the test movie",
            out.display()
        )
        .into());
    }
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
                Ok(report) => {
                    print!("{}", report.text);
                    if !report.playable {
                        eprintln!(
                            "mjpeg: {}: no entry can be played (rtspd answers 404)",
                            path.display()
                        );
                        failed = true;
                    }
                }
                Err(e) => {
                    eprintln!("mjpeg: {}: {e}", path.display());
                    failed = true;
                }
            }
            continue;
        }
        match Movie::open(path) {
            Ok(movie) => print!("{}", movie_report(&movie)),
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
