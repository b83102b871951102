//! rtsp-sdl: plays RTSP MJPEG streams in an SDL2 window (or headless), one after the other when
//! given several. Argument parsing and wiring only: the protocol is `client::engine`, the network
//! thread `client::driver`, the play queue, the window and the headless mode `player`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use argh::FromArgs;
use log::error;

use rtsp_mjpeg::client::target::Target;
use rtsp_mjpeg::client::timeline::Timeline;
use rtsp_mjpeg::client::Options;
use rtsp_mjpeg::player::playlist::{self, Entry};
use rtsp_mjpeg::player::queue::Queue;
use rtsp_mjpeg::player::run::{self, RunOptions};
use rtsp_mjpeg::player::{window, Player};

/// Play RTSP MJPEG streams: `rtsp-sdl rtsp://HOST:PORT/NAME...` (several URLs, or
/// `--playlist FILE.m3u`, make a play queue), or the classic lab client's arguments
/// `rtsp-sdl SERVER RTSP_PORT RTP_PORT FILE`.
///
/// Keys: S SETUP, P PLAY, Space PAUSE (PLAY when paused), Q or Esc TEARDOWN and quit,
/// Left/Right seek 5 s, click on the progress bar to seek, R record to a .Mjpeg file,
/// N / B next / previous entry of the queue, F fullscreen, H hide the overlay, ? help. The
/// buttons under the video do the same.
#[derive(FromArgs)]
struct Args {
    /// rtsp:// URLs (user:password@ allowed), played in turn; or SERVER RTSP_PORT RTP_PORT FILE
    #[argh(positional)]
    target: Vec<String>,
    /// play the rtsp:// URLs listed in this file (M3U: one a line, # lines are metadata), after
    /// any given on the command line
    #[argh(option)]
    playlist: Option<PathBuf>,
    /// receive RTP interleaved on the RTSP connection instead of UDP
    #[argh(switch)]
    tcp: bool,
    /// receive RTP by UDP multicast, joining the group and ports the server assigns
    #[argh(switch)]
    multicast: bool,
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
    /// at exit, print when each step to the first frame happened (ms from the start) and where
    /// each frame's time went (decode, queue, upload, present: p50/p99 ms)
    #[argh(switch)]
    timings: bool,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    let started = Instant::now();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Args = argh::from_env();
    let (mut opts, queue) = match options(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("rtsp-sdl: {msg}");
            return ExitCode::from(2);
        }
    };
    if !args.headless {
        if let Some(why) = window::display_missing() {
            eprintln!("rtsp-sdl: {why}");
            return ExitCode::from(2);
        }
        // Before any thread: it sets environment variables SDL's libraries read.
        window::prepare_process();
    }
    opts.timeline = Arc::new(Timeline::new(started));
    let mut player = match Player::with_queue(opts, queue, started) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rtsp-sdl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.timings {
        player.breakdown = Some(Default::default());
    }
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
            player.autoplay();
        }
        unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
        run::headless(&mut player, &run_opts, &INTERRUPTED)
    } else {
        window::run(&mut player, &run_opts, &INTERRUPTED)
    };
    player.shutdown();
    println!("{}", run::summary(&mut player));
    if args.timings {
        println!("{}", player.timeline().report());
        if let Some(b) = &player.breakdown {
            println!("{}", b.report());
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            error!("{msg}");
            eprintln!("rtsp-sdl: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The session options and the play queue.
fn options(args: &Args) -> Result<(Options, Queue), String> {
    let urls = args.target.iter().all(|a| a.contains("://"));
    let (mut entries, rtp_port) = match args.target.as_slice() {
        targets if urls => {
            let entries = targets
                .iter()
                .map(|u| Entry::from_url(u))
                .collect::<Result<Vec<_>, _>>()?;
            (entries, args.rtp_port.unwrap_or(0))
        }
        [server, port, rtp, file] if args.playlist.is_none() => {
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
            let entry = Entry {
                target,
                title: None,
                seconds: None,
            };
            (vec![entry], rtp)
        }
        _ => {
            return Err(
                "expected rtsp:// URLs or SERVER RTSP_PORT RTP_PORT FILE (see --help)".into(),
            )
        }
    };
    if let Some(path) = &args.playlist {
        entries.extend(playlist::read(path)?);
    }
    if entries.len() > playlist::MAX_ENTRIES {
        return Err(format!(
            "more than {} entries to play",
            playlist::MAX_ENTRIES
        ));
    }
    if entries.len() > 1 && rtp_port != 0 {
        // Sessions overlap while the old one tears down: one fixed port pair cannot serve both.
        return Err("--rtp-port plays one stream, not a queue".into());
    }
    let queue = Queue::new(entries)
        .ok_or("expected rtsp:// URLs, --playlist FILE or SERVER RTSP_PORT RTP_PORT FILE")?;
    if args.tcp && args.multicast {
        return Err("--tcp and --multicast exclude each other".into());
    }
    if args.multicast && rtp_port != 0 {
        return Err("with --multicast the server assigns the ports: no RTP port".into());
    }
    let mut o = Options::new(queue.current().target.clone());
    o.rtp_port = rtp_port;
    o.tcp = args.tcp;
    o.multicast = args.multicast;
    o.bandwidth = args.bandwidth;
    Ok((o, queue))
}
