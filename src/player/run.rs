//! How a run of the player ends, and the headless mode: no window, every frame taken in order,
//! the play queue's entries one after the other, a status line each second and a summary at the
//! end (for scripts, CI and benchmarks).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::info;

use crate::client::Frame;
use crate::player::overlay;
use crate::player::snapshot::write_image;
use crate::player::Player;

/// When to stop, and what to leave behind.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// SETUP and PLAY at start (windowed: once the window is up).
    pub autoplay: bool,
    /// Stop after this many frames have been shown.
    pub frames: Option<u64>,
    /// Stop after this many seconds (an error if `frames` were asked for and not all came).
    pub seconds: Option<f64>,
    /// At exit, the last frame (headless) or the window (with overlay) as PNG or BMP.
    pub snapshot: Option<PathBuf>,
}

/// The stop conditions both modes share: an interrupt, enough frames, or time up.
pub fn done(
    player: &Player,
    opts: &RunOptions,
    started: Instant,
    interrupted: &AtomicBool,
) -> Option<Result<(), String>> {
    if interrupted.load(Ordering::SeqCst) {
        return Some(Ok(()));
    }
    if opts.frames.is_some_and(|n| player.shown >= n) {
        return Some(Ok(()));
    }
    if let Some(s) = opts.seconds {
        if started.elapsed().as_secs_f64() >= s {
            return Some(match opts.frames {
                Some(n) => Err(format!("only {} of {n} frames in {s} s", player.shown)),
                None => Ok(()),
            });
        }
    }
    None
}

/// Plays without a window until a stop condition or the end of the queue's last entry,
/// printing `entry I/N URL` as each entry starts and the overlay's lines each second.
pub fn headless(
    player: &mut Player,
    opts: &RunOptions,
    interrupted: &AtomicBool,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last: Option<Frame> = None;
    let mut next_print = started + Duration::from_secs(1);
    println!("{}", player.queue().entry_line());
    let result = loop {
        player.poll_events();
        if player.entry_over() {
            // Its last frames count: they left the network thread before the news of its end.
            while let Some(f) = player.next_frame_in_order(Duration::ZERO) {
                keep_last(player, &mut last, f);
            }
            if player.next_entry()? {
                println!("{}", player.queue().entry_line());
                continue;
            }
            break finished(player, opts);
        }
        if let Some(f) = player.next_frame_in_order(Duration::from_millis(20)) {
            keep_last(player, &mut last, f);
        }
        let now = Instant::now();
        if now >= next_print {
            next_print += Duration::from_secs(1);
            let s = player.snapshot(now);
            let recording = player.recording.is_some();
            let label = player.queue().label();
            let lines = overlay::status_lines(
                label.as_deref(),
                player.state,
                player.error.as_deref(),
                &s,
                recording,
            );
            println!("{}", lines.join(" | "));
        }
        if let Some(r) = done(player, opts, started, interrupted) {
            break r;
        }
    };
    if let (Some(path), Some(f)) = (&opts.snapshot, &last) {
        write_image(path, f.width, f.height, &f.rgb)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        info!("snapshot written to {}", path.display());
    }
    result
}

/// Counts `f` as shown and keeps it (for the snapshot), the one before going back for reuse.
fn keep_last(player: &mut Player, last: &mut Option<Frame>, f: Frame) {
    player.presented(&f, Instant::now());
    if let Some(old) = last.replace(f) {
        player.recycle(old);
    }
}

/// How a run ends with the queue's last entry: an error if entries failed (a single stream's
/// own reason, else how many) or fewer frames came than asked for.
pub fn finished(player: &Player, opts: &RunOptions) -> Result<(), String> {
    let why = match player.failures.as_slice() {
        [] => None,
        [one] if player.queue().len() == 1 => Some(one.clone()),
        all @ [.., last] => Some(format!(
            "{} of {} entries failed, the last: {last}",
            all.len(),
            player.queue().len()
        )),
    };
    match (why, opts.frames.filter(|&n| player.shown < n)) {
        (Some(why), Some(n)) => Err(format!("{why} ({} of {n} frames shown)", player.shown)),
        (None, Some(n)) => Err(format!(
            "the stream ended after {} of {n} frames",
            player.shown
        )),
        (Some(why), None) => Err(why),
        (None, None) => Ok(()),
    }
}

/// The one-line summary printed at exit: frames, loss, time to first frame, latency.
pub fn summary(player: &mut Player) -> String {
    let s = player.snapshot(Instant::now());
    let started = player.started;
    let ms = |t: Option<Instant>| {
        t.map(|t| format!("{:.0} ms", t.duration_since(started).as_secs_f64() * 1e3))
            .unwrap_or_else(|| "-".into())
    };
    let pct = |p| {
        player
            .latency
            .percentile(p)
            .map(|d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "summary: {} frames shown, {} dropped, {} packets, {} lost ({:.2}%), first frame decoded after {}, shown after {}, latency p50 {} p99 {}",
        s.frames,
        s.frames_dropped,
        s.packets,
        s.lost_packets.max(0),
        s.loss_percent(),
        ms(player.first_frame),
        ms(player.first_shown),
        pct(50.0),
        pct(99.0),
    )
}
