//! capacity: the project's own RTSP/RTP load tool (issue 17). It opens N sessions (DESCRIBE,
//! SETUP, PLAY) whose RTP all goes to one receiver thread, and reports per run: sessions, whole
//! frames per second (min), sequence gaps, lateness of each frame's first and last packet
//! against its RTP schedule (p50/p99/max), the server's CPU per stream-second and peak RSS, and
//! the receiver's own cost.
//!
//! ```text
//! cargo bench --bench capacity -- rtsp://127.0.0.1:8554/movie.Mjpeg --sessions 500 \
//!     --server-pid PID --label rtspd
//! cargo bench --bench capacity -- --floor --movie ../shared/seed/movie.Mjpeg --sessions 500
//! ```
//! `scripts/capacity.sh N...` runs it against rtspd, the GSO floor and GStreamer's RTSP server.
//! Run with no arguments (as `cargo test --all-targets` and `cargo bench` do) it only runs its
//! self-checks.
//!
//! Lateness: a session's frame with RTP time `ts` is due at `t0 + (ts - ts0) / 90 kHz`. The
//! receiver's clock and the sender's are unrelated by an unknown constant, so the anchor
//! `(t0, ts0)` is placed at the session's most punctual first packet in the window: its lateness
//! is 0 and every other frame's is how much later than that it left, measured by the kernel's
//! receive timestamp (taken on loopback when the sender's `sendmsg` queued the packet). A delay
//! that is the same for every frame of a session (it started late and stays late) is therefore
//! not seen; one that varies (rounding, bursts, a busy loop) is. Whole frames per second counts
//! the frames due in the window by that schedule (not those that happened to arrive in it).
//!
//! Output: one Markdown table row and one line `CAPACITY_JSON {...}` on stdout; progress on
//! stderr. `--header` prints the table's header first.

mod control;
mod floor;
mod receiver;
mod stats;

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;

use crate::receiver::{FrameTimes, PortPair, Report, Window};
use crate::stats::{percentile, realtime_ns};

/// RTSP/RTP capacity test: N sessions to one kernel-timestamping receiver.
#[derive(FromArgs)]
struct Args {
    /// rtsp:// URL of the stream (not with --floor)
    #[argh(positional)]
    url: Option<String>,
    /// sessions to open (default 1)
    #[argh(option, default = "1")]
    sessions: usize,
    /// seconds counted (default 10)
    #[argh(option, default = "10.0")]
    seconds: f64,
    /// seconds received but not counted once every session plays (default 2)
    #[argh(option, default = "2.0")]
    warmup: f64,
    /// the server's process id: its CPU time over the window and its peak RSS are reported
    #[argh(option)]
    server_pid: Option<u32>,
    /// name of the server in the table (default: "server", or "GSO floor")
    #[argh(option)]
    label: Option<String>,
    /// one RTP port pair per session instead of one shared by all (needed when the server
    /// sends every session the same packets, as GStreamer's shared pipeline does)
    #[argh(switch)]
    port_per_session: bool,
    /// sessions being set up at once (default 64)
    #[argh(option, default = "64")]
    concurrency: usize,
    /// seconds to wait for an RTSP answer (default 10)
    #[argh(option, default = "10")]
    timeout: u64,
    /// CPU to pin the receiver thread to (default: the last one; -1: do not pin)
    #[argh(option)]
    cpu: Option<i64>,
    /// receive buffer of the shared RTP socket in MB (default 128; per-session sockets get
    /// this divided by the sessions, at least 1 MB)
    #[argh(option, default = "128")]
    rcvbuf_mb: usize,
    /// receive without UDP_GRO: every packet its own message. By default a GSO send arrives
    /// whole (one message, split by the tool), which costs the receiver a fifth as much and,
    /// on loopback, spares the sender's kernel the segmenting and the per-packet receive path
    #[argh(switch)]
    no_gro: bool,
    /// the receiver drains its sockets every this many microseconds instead of waking for each
    /// packet (default 1000; 0: wake for each). Lateness does not depend on it (kernel stamps)
    #[argh(option, default = "1000")]
    drain_every_us: u64,
    /// print the Markdown table header before the row
    #[argh(switch)]
    header: bool,
    /// measure the GSO floor instead of a server: a bare sender of the same packets to
    /// --sessions streams (a child process of this binary)
    #[argh(switch)]
    floor: bool,
    /// lab-format movie the floor sends (default ../shared/seed/movie.Mjpeg)
    #[argh(option)]
    movie: Option<PathBuf>,
    /// frames per second the floor sends (default 24)
    #[argh(option, default = "24.0")]
    fps: f64,
    /// largest RTP payload the floor sends (default 1400, as rtspd's --mtu)
    #[argh(option, default = "1400")]
    mtu: usize,
    /// the floor's streams are spread over this many instants per frame period (default 1:
    /// all at once)
    #[argh(option, default = "1")]
    phases: usize,
    /// internal: be the floor's sender, aiming at this address
    #[argh(option)]
    floor_sender: Option<std::net::SocketAddr>,
    /// ignored (cargo bench passes it)
    #[argh(switch)]
    bench: bool,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().skip(1).all(|a| a == "--bench") {
        // `cargo bench` / `cargo test --all-targets` run every bench target like this.
        stats::check();
        control::check();
        receiver::check();
        check_due_in_window();
        eprintln!("capacity: self-checks passed (see --help to run a load)");
        return ExitCode::SUCCESS;
    }
    let args: Args = argh::from_env();
    let _ = args.bench;
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capacity: {e}");
            ExitCode::FAILURE
        }
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("capacity: {}", msg.as_ref());
}

fn run(args: &Args) -> Result<(), String> {
    let movie = args
        .movie
        .clone()
        .unwrap_or_else(|| PathBuf::from("../shared/seed/movie.Mjpeg"));
    if let Some(dest) = args.floor_sender {
        return floor::run_sender(&floor::FloorArgs {
            dest,
            streams: args.sessions,
            movie: &movie,
            fps: args.fps,
            max_payload: args.mtu,
            phases: args.phases,
        })
        .map_err(|e| format!("floor sender: {e}"));
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.sessions == 0
        || !positive(args.seconds)
        || !(positive(args.warmup) || args.warmup == 0.0)
    {
        return Err("--sessions, --seconds must be above 0, --warmup at least 0".into());
    }
    if args.floor == args.url.is_some() {
        return Err("give either an rtsp:// URL or --floor".into());
    }

    // Receive sockets first, so the SETUPs can name their ports.
    let pairs = if args.port_per_session {
        let each = (args.rcvbuf_mb << 20) / args.sessions;
        (0..args.sessions)
            .map(|_| receiver::bind_pair(each.max(1 << 20), !args.no_gro))
            .collect::<Result<Vec<_>, _>>()
    } else {
        receiver::bind_pair(args.rcvbuf_mb << 20, !args.no_gro).map(|p| vec![p])
    }
    .map_err(|e| format!("receive sockets: {e} (raise ulimit -n?)"))?;
    let rcvbuf = receiver::rcvbuf_of(&pairs[0].rtp);
    let ports: Vec<u16> = pairs.iter().map(PortPair::rtp_port).collect();
    let pairs = Arc::new(pairs);
    let window = Window::new();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = match args.cpu {
        Some(c) if c < 0 => None,
        Some(c) => Some(c as usize),
        None => Some(ncpu - 1),
    };
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let opts = receiver::Options {
        pin_cpu: pin,
        gro: !args.no_gro,
        drain_every: Duration::from_micros(args.drain_every_us),
    };
    let receiver = {
        let pairs = Arc::clone(&pairs);
        let window = Arc::clone(&window);
        std::thread::Builder::new()
            .name("rtp-receiver".into())
            .spawn(move || {
                let _ = tid_tx.send(stats::gettid());
                receiver::run(&pairs, &window, &opts)
            })
            .map_err(|e| e.to_string())?
    };
    let receiver_tid = tid_rx.recv().map_err(|e| e.to_string())?;

    let t_setup = Instant::now();
    let mut child: Option<Child> = None;
    let mut control = None;
    let mut ssrcs = Vec::new();
    let (playing, failed, errors, server_pid) = if args.floor {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let c = Command::new(exe)
            .arg("--floor-sender")
            .arg(receiver::dest_of(&pairs[0]).to_string())
            .args(["--sessions", &args.sessions.to_string()])
            .arg("--movie")
            .arg(&movie)
            .args(["--fps", &args.fps.to_string()])
            .args(["--mtu", &args.mtu.to_string()])
            .args(["--phases", &args.phases.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("floor sender: {e}"))?;
        let pid = c.id();
        child = Some(c);
        (args.sessions, 0, Vec::new(), Some(pid))
    } else {
        let url = args.url.clone().unwrap_or_default();
        let c = control::Control::start(control::Plan {
            url,
            sessions: args.sessions,
            client_ports: ports.clone(),
            concurrency: args.concurrency,
            timeout: Duration::from_secs(args.timeout),
        });
        let o = c.wait_until_set_up();
        control = Some(c);
        ssrcs = o.ssrcs;
        (o.playing, o.failed, o.errors, args.server_pid)
    };
    let setup_s = t_setup.elapsed().as_secs_f64();
    log(format!(
        "{playing}/{} sessions playing after {setup_s:.2} s ({failed} failed)",
        args.sessions
    ));
    for e in &errors {
        log(e);
    }

    // The window, in kernel time; CPU and counters are read at its edges.
    let start = realtime_ns() + (args.warmup * 1e9) as i64;
    let end = start + (args.seconds * 1e9) as i64;
    window.set(start, end);
    let me = std::process::id();
    let udp0 = stats::udp_counters();
    stats::sleep_until_realtime(start);
    let srv0 = server_pid.and_then(stats::process_sched);
    let recv0 = stats::thread_sched(me, receiver_tid);
    let tool0 = stats::process_sched(me);
    let udp1 = stats::udp_counters();
    let busy0 = stats::machine_busy_ns();
    stats::sleep_until_realtime(end);
    let busy1 = stats::machine_busy_ns();
    let load = stats::loadavg();
    let srv1 = server_pid.and_then(stats::process_sched);
    let recv1 = stats::thread_sched(me, receiver_tid);
    let tool1 = stats::process_sched(me);
    let udp2 = stats::udp_counters();
    let rss = server_pid.and_then(stats::peak_rss);
    // Let the frames due last in the window arrive and be read.
    std::thread::sleep(Duration::from_nanos(
        receiver::MARGIN_NS as u64 + 100_000_000,
    ));
    window.stop();
    let report = receiver
        .join()
        .map_err(|_| "the receiver panicked".to_string())?
        .map_err(|e| format!("receiver: {e}"))?;
    let udp3 = stats::udp_counters();

    let torn_down = match control {
        Some(c) => c.teardown(),
        None => 0,
    };
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }

    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
    let since = |a: Option<stats::Sched>, b: Option<stats::Sched>| Some(b?.since(a?));
    let (srv, recv, tool) = (since(srv0, srv1), since(recv0, recv1), since(tool0, tool1));
    let m = Measured {
        window_ns: (start, end),
        silent: silent_sessions(&ssrcs, &report, args.port_per_session),
        label: args.label.clone().unwrap_or_else(|| {
            if args.floor {
                format!("GSO floor ({} phase)", args.phases)
            } else {
                "server".into()
            }
        }),
        asked: args.sessions,
        playing,
        torn_down,
        setup_s,
        window_s: args.seconds,
        server_cpu_ns: srv.map(|s| s.cpu),
        server_wait_ns: srv.map(|s| s.wait),
        machine_busy_ns: delta(busy0, busy1),
        loadavg: load,
        gro: !args.no_gro,
        receiver_cpu_ns: recv.map(|s| s.cpu),
        receiver_wait_ns: recv.map(|s| s.wait),
        tool_cpu_ns: tool.map(|s| s.cpu),
        peak_rss: rss,
        rcvbuf,
        sockets: pairs.len(),
        udp_rcvbuf_errors_window: stats::counter(&udp2, "RcvbufErrors")
            - stats::counter(&udp1, "RcvbufErrors"),
        udp_rcvbuf_errors_run: stats::counter(&udp3, "RcvbufErrors")
            - stats::counter(&udp0, "RcvbufErrors"),
        udp_sndbuf_errors_window: stats::counter(&udp2, "SndbufErrors")
            - stats::counter(&udp1, "SndbufErrors"),
    };
    let summary = summarize(&m, &report);
    if args.header {
        println!("{}", table_header());
    }
    println!("{}", summary.row());
    println!("CAPACITY_JSON {}", summary.json());
    Ok(())
}

/// Sessions whose SETUP answer named an SSRC that sent no whole frame in the window (shared
/// port only: with a port each, all of GStreamer's sessions have the same SSRC).
fn silent_sessions(ssrcs: &[u32], r: &Report, port_per_session: bool) -> usize {
    if port_per_session {
        return 0;
    }
    let seen: std::collections::HashSet<u32> = r
        .streams
        .iter()
        .filter(|s| !s.frames.is_empty())
        .map(|s| s.ssrc)
        .collect();
    ssrcs.iter().filter(|s| !seen.contains(s)).count()
}

struct Measured {
    silent: usize,
    window_ns: (i64, i64),
    label: String,
    asked: usize,
    playing: usize,
    torn_down: usize,
    setup_s: f64,
    window_s: f64,
    server_cpu_ns: Option<u64>,
    /// Time the server's threads were runnable but waited for a CPU, over the window.
    server_wait_ns: Option<u64>,
    receiver_wait_ns: Option<u64>,
    /// All CPUs' busy time over the window (ticks of 10 ms), whoever used it.
    machine_busy_ns: Option<u64>,
    loadavg: Option<f64>,
    gro: bool,
    receiver_cpu_ns: Option<u64>,
    tool_cpu_ns: Option<u64>,
    peak_rss: Option<u64>,
    rcvbuf: usize,
    sockets: usize,
    udp_rcvbuf_errors_window: i64,
    udp_rcvbuf_errors_run: i64,
    udp_sndbuf_errors_window: i64,
}

struct Summary<'a> {
    m: &'a Measured,
    streams_seen: usize,
    fps_min: f64,
    fps_median: f64,
    whole_frames: u64,
    broken_frames: u64,
    lost: u64,
    gap_events: u64,
    out_of_order: u64,
    packets: u64,
    /// Lateness of first and last packets, in ns: p50, p99, p99.9, max.
    first: [Option<i64>; 4],
    last: [Option<i64>; 4],
    /// Time from a frame's first packet to its last, ns: p50, p99, max.
    spread: [Option<i64>; 3],
    cpu_ms_per_stream_s: Option<f64>,
    receiver_cpu_pct: Option<f64>,
    tool_cpu_pct: Option<f64>,
    /// Busy CPU time of everything else on the machine (other builds, kernel threads), as a
    /// percentage of one CPU.
    others_cpu_pct: Option<f64>,
    read_delay_us: [Option<u64>; 3],
    batch_mean: f64,
    batch_full_pct: f64,
    batch_max: usize,
    calls: u64,
    report: &'a Report,
}

fn summarize<'a>(m: &'a Measured, r: &'a Report) -> Summary<'a> {
    let window = m.window_s;
    let mut fps = Vec::new();
    let mut first = Vec::new();
    let mut last = Vec::new();
    let mut spread = Vec::new();
    for s in &r.streams {
        let due = due_in_window(&s.frames, m.window_ns);
        if !due.is_empty() {
            fps.push(due.len() as f64 / window);
        }
        for (f, d) in due {
            first.push(f.first_ns - d);
            last.push(f.last_ns - d);
            spread.push(f.last_ns - f.first_ns);
        }
    }
    // Playing sessions that delivered no whole frame count as 0 frames per second.
    let missing = m.silent.max(m.playing.saturating_sub(fps.len()));
    fps.extend(std::iter::repeat_n(0.0, missing));
    fps.sort_by(f64::total_cmp);
    first.sort_unstable();
    last.sort_unstable();
    spread.sort_unstable();
    let q4 = |v: &[i64]| {
        [
            percentile(v, 50.0),
            percentile(v, 99.0),
            percentile(v, 99.9),
            v.last().copied(),
        ]
    };
    let calls: u64 = r.batch_sizes.iter().sum();
    let pkts: u64 = r
        .batch_sizes
        .iter()
        .enumerate()
        .map(|(k, c)| k as u64 * c)
        .sum();
    let streams = m.playing.max(r.streams.len());
    let pct = |ns: Option<u64>| ns.map(|n| n as f64 / (window * 1e9) * 100.0);
    Summary {
        m,
        streams_seen: fps.iter().filter(|&&f| f > 0.0).count(),
        fps_min: fps.first().copied().unwrap_or(0.0),
        fps_median: fps.get(fps.len() / 2).copied().unwrap_or(0.0),
        whole_frames: first.len() as u64,
        broken_frames: r.streams.iter().map(|s| s.broken).sum(),
        lost: r.streams.iter().map(|s| s.lost).sum(),
        gap_events: r.streams.iter().map(|s| s.gap_events).sum(),
        out_of_order: r.streams.iter().map(|s| s.out_of_order).sum(),
        packets: r.streams.iter().map(|s| s.packets).sum(),
        first: q4(&first),
        last: q4(&last),
        spread: [
            percentile(&spread, 50.0),
            percentile(&spread, 99.0),
            spread.last().copied(),
        ],
        cpu_ms_per_stream_s: m
            .server_cpu_ns
            .filter(|_| streams > 0)
            .map(|ns| ns as f64 / 1e6 / (streams as f64 * window)),
        receiver_cpu_pct: pct(m.receiver_cpu_ns),
        tool_cpu_pct: pct(m.tool_cpu_ns),
        others_cpu_pct: pct(m
            .machine_busy_ns
            .map(|b| b.saturating_sub(m.server_cpu_ns.unwrap_or(0) + m.tool_cpu_ns.unwrap_or(0)))),
        read_delay_us: [
            r.read_delay_us.percentile(50.0),
            r.read_delay_us.percentile(99.0),
            (r.read_delay_us.total() > 0).then(|| r.read_delay_us.max()),
        ],
        batch_mean: if calls > 0 {
            pkts as f64 / calls as f64
        } else {
            0.0
        },
        batch_full_pct: if calls > 0 {
            r.batch_sizes[receiver::BATCH] as f64 * 100.0 / calls as f64
        } else {
            0.0
        },
        batch_max: r.batch_sizes.iter().rposition(|&c| c > 0).unwrap_or(0),
        calls,
        report: r,
    }
}

/// A session's whole frames that were due in the window `(start, end)`, each with its due time:
/// frame `ts` is due at `base + (ts - ts0) / 90 kHz`, `base` placed so the most punctual first
/// packet among them is exactly on time. (Frames are kept from a margin around the window, so
/// that a frame due inside it but late past its end is still counted, and one due before it but
/// late into it is not.)
fn due_in_window(frames: &[FrameTimes], (start, end): (i64, i64)) -> Vec<(FrameTimes, i64)> {
    let sched = |ext: i64| ext * 1_000_000_000 / 90_000;
    let base_of =
        |fs: &mut dyn Iterator<Item = &FrameTimes>| fs.map(|f| f.first_ns - sched(f.ext_ts)).min();
    let Some(base0) = base_of(&mut frames.iter()) else {
        return Vec::new();
    };
    let inside = |f: &&FrameTimes| (start..end).contains(&(base0 + sched(f.ext_ts)));
    let Some(base) = base_of(&mut frames.iter().filter(inside)) else {
        return Vec::new();
    };
    frames
        .iter()
        .filter(inside)
        .map(|f| (*f, base + sched(f.ext_ts)))
        .collect()
}

fn check_due_in_window() {
    // 24 fps (3750 ticks), 41.67 ms apart; frame 2 leaves 3 ms late, frame 0 is before the
    // window, frame 5 is due after it although it arrives inside.
    let period = 1_000_000_000 / 24;
    let at = |k: i64| k * 3750 * 1_000_000_000 / 90_000;
    let frames: Vec<FrameTimes> = [0, 0, 3_000_000, 0, 0]
        .iter()
        .enumerate()
        .map(|(k, late)| FrameTimes {
            ext_ts: k as i64 * 3750,
            first_ns: 5_000 + at(k as i64) + late,
            last_ns: 5_100 + at(k as i64) + late,
        })
        .collect();
    let due = due_in_window(&frames, (period, 4 * period));
    let lateness: Vec<i64> = due.iter().map(|(f, d)| f.first_ns - d).collect();
    assert_eq!(lateness, [0, 3_000_000, 0], "{due:?}");
    assert_eq!(due[0].0.ext_ts, 3750);
}

fn ms(ns: Option<i64>) -> String {
    ns.map_or("-".into(), |n| format!("{:.2}", n as f64 / 1e6))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn table_header() -> String {
    "| server | sessions | whole fps/session min (median) | lost packets (gaps) \
     | first packet late p50 / p99 / max ms | last packet late p50 / p99 / max ms \
     | CPU ms per stream-second | peak RSS MB | receiver CPU % | receiver drops \
     | rest of machine CPU % |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        .to_string()
}

impl Summary<'_> {
    fn row(&self) -> String {
        let m = self.m;
        let sessions = if m.playing == m.asked {
            m.asked.to_string()
        } else {
            format!("{} of {}", m.playing, m.asked)
        };
        format!(
            "| {} | {} | {:.1} ({:.1}) | {} ({}) | {} / {} / {} | {} / {} / {} | {} | {} | {} | {} | {} |",
            m.label,
            sessions,
            self.fps_min,
            self.fps_median,
            self.lost,
            self.gap_events,
            ms(self.first[0]),
            ms(self.first[1]),
            ms(self.first[3]),
            ms(self.last[0]),
            ms(self.last[1]),
            ms(self.last[3]),
            opt(self.cpu_ms_per_stream_s, 3),
            opt(m.peak_rss.map(|b| b as f64 / (1 << 20) as f64), 1),
            opt(self.receiver_cpu_pct, 1),
            self.report.drops_window,
            opt(self.others_cpu_pct, 0),
        )
    }

    fn json(&self) -> String {
        let m = self.m;
        let r = self.report;
        let n = |v: Option<i64>| v.map_or("null".into(), |x| format!("{:.4}", x as f64 / 1e6));
        let f = |v: Option<f64>| v.map_or("null".into(), |x| format!("{x:.4}"));
        let u = |v: Option<u64>| v.map_or("null".into(), |x| x.to_string());
        format!(
            concat!(
                "{{\"label\":\"{}\",\"sessions\":{},\"playing\":{},\"streams_with_frames\":{},",
                "\"torn_down\":{},\"setup_s\":{:.3},\"window_s\":{},",
                "\"fps_min\":{:.2},\"fps_median\":{:.2},\"whole_frames\":{},\"broken_frames\":{},",
                "\"packets\":{},\"lost\":{},\"gap_events\":{},\"out_of_order\":{},",
                "\"first_late_ms\":{{\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}},",
                "\"last_late_ms\":{{\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}},",
                "\"frame_spread_ms\":{{\"p50\":{},\"p99\":{},\"max\":{}}},",
                "\"server_cpu_ms_per_stream_s\":{},\"server_cpu_s\":{},\"peak_rss_mb\":{},",
                "\"server_wait_ms_per_s\":{},",
                "\"receiver\":{{\"cpu_pct\":{},\"wait_ms_per_s\":{},\"tool_cpu_pct\":{},\"sockets\":{},\"rcvbuf\":{},",
                "\"drops\":{},\"drops_window\":{},\"calls\":{},\"batch_mean\":{:.2},\"batch_full_pct\":{:.2},",
                "\"batch_max\":{},\"wakeups\":{},\"read_delay_us\":{{\"p50\":{},\"p99\":{},\"max\":{}}},",
                "\"truncated\":{},\"not_rtp\":{},\"no_timestamp\":{},\"rtcp_packets\":{},",
                "\"rtcp_drops\":{},\"gro\":{},\"coalesced\":{}}},",
                "\"udp_rcvbuf_errors\":{{\"window\":{},\"run\":{}}},\"udp_sndbuf_errors_window\":{},",
                "\"others_cpu_pct\":{},\"loadavg\":{}}}"
            ),
            m.label,
            m.asked,
            m.playing,
            self.streams_seen,
            m.torn_down,
            m.setup_s,
            m.window_s,
            self.fps_min,
            self.fps_median,
            self.whole_frames,
            self.broken_frames,
            self.packets,
            self.lost,
            self.gap_events,
            self.out_of_order,
            n(self.first[0]),
            n(self.first[1]),
            n(self.first[2]),
            n(self.first[3]),
            n(self.last[0]),
            n(self.last[1]),
            n(self.last[2]),
            n(self.last[3]),
            n(self.spread[0]),
            n(self.spread[1]),
            n(self.spread[2]),
            f(self.cpu_ms_per_stream_s),
            f(m.server_cpu_ns.map(|x| x as f64 / 1e9)),
            f(m.peak_rss.map(|b| b as f64 / (1 << 20) as f64)),
            f(m.server_wait_ns.map(|w| w as f64 / 1e6 / m.window_s)),
            f(self.receiver_cpu_pct),
            f(m.receiver_wait_ns.map(|w| w as f64 / 1e6 / m.window_s)),
            f(self.tool_cpu_pct),
            m.sockets,
            m.rcvbuf,
            r.drops,
            r.drops_window,
            self.calls,
            self.batch_mean,
            self.batch_full_pct,
            self.batch_max,
            r.wakeups,
            u(self.read_delay_us[0]),
            u(self.read_delay_us[1]),
            u(self.read_delay_us[2]),
            r.truncated,
            r.not_rtp,
            r.no_timestamp,
            r.rtcp_packets,
            r.rtcp_drops,
            m.gro,
            r.coalesced,
            m.udp_rcvbuf_errors_window,
            m.udp_rcvbuf_errors_run,
            m.udp_sndbuf_errors_window,
            f(self.others_cpu_pct),
            f(m.loadavg),
        )
    }
}
