//! rtsp-sdl: plays an RTSP MJPEG stream in an SDL2 window (or headless). Argument parsing and
//! wiring only: the protocol is `client::engine`, the network thread `client::driver`, the
//! window and the headless mode `player`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use argh::FromArgs;
use log::error;

use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::client::{Command, Options};
use rtsp_mjpeg::player::run::{self, RunOptions};
use rtsp_mjpeg::player::{window, Player};

/// Play an RTSP MJPEG stream: `rtsp-sdl rtsp://HOST:PORT/NAME`, or the classic lab client's
/// arguments `rtsp-sdl SERVER RTSP_PORT RTP_PORT FILE`.
///
/// Keys: S SETUP, P PLAY, Space PAUSE (PLAY when paused), Q or Esc TEARDOWN and quit,
/// Left/Right seek 5 s, click on the progress bar to seek, R record to a .Mjpeg file,
/// F fullscreen, H hide the overlay, ? help. The buttons under the video do the same.
#[derive(FromArgs)]
struct Args {
    /// an rtsp:// URL (user:password@ allowed), or SERVER RTSP_PORT RTP_PORT FILE
    #[argh(positional)]
    target: Vec<String>,
    /// receive RTP interleaved on the RTSP connection instead of UDP
    #[argh(switch)]
    tcp: bool,
    /// local RTP port for a URL (RTCP is the next one); default: any free pair
    #[argh(option)]
    rtp_port: Option<u16>,
    /// ask the server for this many bits per second (the Bandwidth header on SETUP and PLAY)
    #[argh(option)]
    bandwidth: Option<u64>,
    /// send SETUP and PLAY at start
    #[argh(switch)]
    autoplay: bool,
    /// no window: decode every frame, print statistics each second and a summary at the end
    #[argh(switch)]
    headless: bool,
    /// exit after this many frames have been shown
    #[argh(option)]
    frames: Option<u64>,
    /// exit after this many seconds
    #[argh(option)]
    seconds: Option<f64>,
    /// record received frames to this file from the start (.Mjpeg: lab format; else raw JPEG)
    #[argh(option)]
    record: Option<PathBuf>,
    /// at exit, write the last frame (headless) or the window (with overlay) to this PNG or BMP
    #[argh(option)]
    snapshot: Option<PathBuf>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    let started = Instant::now();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Args = argh::from_env();
    let opts = match options(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("rtsp-sdl: {msg}");
            return ExitCode::from(2);
        }
    };
    let title = format!("rtsp-sdl: {}", opts.target.url());
    let mut player = match Player::start(opts, started) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rtsp-sdl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.record {
        player.record(Some(path.clone()));
    }
    let run_opts = RunOptions {
        autoplay: args.autoplay,
        frames: args.frames,
        seconds: args.seconds,
        snapshot: args.snapshot.clone(),
    };
    let result = if args.headless {
        // Windowed, PLAY waits for the window (connecting and DESCRIBE go on meanwhile), so
        // frames do not queue up, stale, while SDL starts.
        if args.autoplay {
            player.send(Command::Setup);
            player.send(Command::Play);
        }
        unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
        run::headless(&mut player, &run_opts, &INTERRUPTED)
    } else {
        window::run(&mut player, &run_opts, &title, &INTERRUPTED)
    };
    player.shutdown();
    println!("{}", run::summary(&mut player));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            error!("{msg}");
            eprintln!("rtsp-sdl: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn options(args: &Args) -> Result<Options, String> {
    let (target, rtp_port) = match args.target.as_slice() {
        [url] => (
            Target::parse_url(url).map_err(|e| e.to_string())?,
            args.rtp_port.unwrap_or(0),
        ),
        [server, port, rtp, file] => {
            let port = port
                .parse()
                .map_err(|_| format!("RTSP port {port:?} is not a port number"))?;
            let rtp = rtp
                .parse()
                .map_err(|_| format!("RTP port {rtp:?} is not a port number"))?;
            let target = Target {
                host: server.clone(),
                port,
                path: file.clone(),
                user: None,
            };
            (target, rtp)
        }
        _ => {
            return Err(
                "expected an rtsp:// URL or SERVER RTSP_PORT RTP_PORT FILE (see --help)".into(),
            )
        }
    };
    let mut o = Options::new(target);
    o.rtp_port = rtp_port;
    o.tcp = args.tcp;
    o.bandwidth = args.bandwidth;
    Ok(o)
}
