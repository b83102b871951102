//! MJPEG viewer load: N connections to one `/mjpeg/` URL from one mio thread, each part checked
//! whole (boundary, `Content-Length`, body, CRLF) and counted, the server's CPU time read from
//! `/proc/PID/task/*/schedstat` over the counted window. scripts/http_capacity.sh runs it.
//!
//! ```text
//! cargo run --release --example mjpeg_load -- --addr 127.0.0.1:8554 \
//!     --path /mjpeg/movie.Mjpeg --viewers 1000 --seconds 10 --pid $(pidof rtspd)
//! ```
//!
//! Prints one JSON object: viewers, frames per second per viewer (min, 1st percentile, median,
//! max), megabits per second, malformed parts, and the server's CPU per viewer-second.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

struct Args {
    addr: SocketAddr,
    path: String,
    viewers: usize,
    seconds: f64,
    warmup: f64,
    pid: Option<u32>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8554".parse().unwrap(),
        path: "/mjpeg/movie.Mjpeg".into(),
        viewers: 100,
        seconds: 10.0,
        warmup: 2.0,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--path" => a.path = value()?,
            "--viewers" => a.viewers = value()?.parse().map_err(|e| format!("--viewers: {e}"))?,
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--warmup" => a.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--pid" => a.pid = Some(value()?.parse().map_err(|e| format!("--pid: {e}"))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// The server's threads' run time in nanoseconds (schedstat's first field, summed).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

enum State {
    /// The response head.
    Head,
    /// A part's boundary line and headers.
    PartHead,
    /// This many body bytes still to come.
    Body(usize),
    /// The CRLF after a body: bytes of it seen.
    Tail(usize),
}

struct Viewer {
    stream: TcpStream,
    state: State,
    acc: Vec<u8>,
    boundary: Vec<u8>,
    frames: u64,
    bytes: u64,
    bad: u64,
    closed: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Viewer {
    /// Consumes received bytes; counts whole parts.
    fn eat(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        while !data.is_empty() {
            match self.state {
                State::Head | State::PartHead => {
                    let before = self.acc.len();
                    self.acc.extend_from_slice(data);
                    let Some(end) = find(&self.acc, b"\r\n\r\n") else {
                        if self.acc.len() > 64 * 1024 {
                            self.bad += 1;
                            self.acc.clear();
                        }
                        return;
                    };
                    let used = end + 4 - before;
                    let head = String::from_utf8_lossy(&self.acc[..end]).into_owned();
                    self.acc.clear();
                    data = &data[used..];
                    if matches!(self.state, State::Head) {
                        let b = head
                            .split("boundary=")
                            .nth(1)
                            .and_then(|b| b.split("\r\n").next())
                            .unwrap_or("");
                        self.boundary = format!("--{b}\r\n").into_bytes();
                        if !head.starts_with("HTTP/1.1 200") || b.is_empty() {
                            self.bad += 1;
                        }
                        // The first boundary line follows: it starts the first part's head.
                        self.state = State::PartHead;
                        continue;
                    }
                    let ok = head.as_bytes().starts_with(&self.boundary)
                        && head.contains("Content-Type: image/jpeg");
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    match (ok, len) {
                        (true, Some(n)) => self.state = State::Body(n),
                        _ => {
                            self.bad += 1;
                            self.closed = true;
                            return;
                        }
                    }
                }
                State::Body(n) => {
                    let take = n.min(data.len());
                    data = &data[take..];
                    self.state = if take == n {
                        State::Tail(0)
                    } else {
                        State::Body(n - take)
                    };
                }
                State::Tail(k) => {
                    let want = &b"\r\n"[k..];
                    let take = want.len().min(data.len());
                    if data[..take] != want[..take] {
                        self.bad += 1;
                    }
                    data = &data[take..];
                    if k + take == 2 {
                        self.frames += 1;
                        self.state = State::PartHead;
                    } else {
                        self.state = State::Tail(k + take);
                    }
                }
            }
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mjpeg_load: {e}");
            std::process::exit(2);
        }
    };
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(4096);
    let mut viewers: HashMap<usize, Viewer> = HashMap::new();
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", a.path, a.addr);
    let mut pending_write: Vec<usize> = Vec::new();
    // Connect in batches so the listen backlog is never overrun.
    let mut opened = 0;
    let start = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    let mut window: Option<(Instant, u64, Vec<u64>)> = None;
    let mut result: Option<(f64, u64, Vec<f64>, u64)> = None;
    let mut all_streaming_at: Option<Instant> = None;
    loop {
        if opened < a.viewers {
            for _ in 0..50.min(a.viewers - opened) {
                let mut stream = TcpStream::connect(a.addr).expect("connect");
                let id = opened;
                poll.registry()
                    .register(
                        &mut stream,
                        Token(id),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .expect("register");
                viewers.insert(
                    id,
                    Viewer {
                        stream,
                        state: State::Head,
                        acc: Vec::new(),
                        boundary: Vec::new(),
                        frames: 0,
                        bytes: 0,
                        bad: 0,
                        closed: false,
                    },
                );
                pending_write.push(id);
                opened += 1;
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .expect("poll");
        for ev in events.iter() {
            let id = ev.token().0;
            let Some(v) = viewers.get_mut(&id) else {
                continue;
            };
            if ev.is_writable() {
                if let Some(pos) = pending_write.iter().position(|&p| p == id) {
                    match v.stream.write(request.as_bytes()) {
                        Ok(n) if n == request.len() => {
                            pending_write.swap_remove(pos);
                        }
                        Ok(_) => panic!("a short write of a tiny request"),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                        Err(e) => panic!("write: {e}"),
                    }
                }
            }
            if ev.is_readable() || ev.is_read_closed() {
                loop {
                    match v.stream.read(&mut buf) {
                        Ok(0) => {
                            v.closed = true;
                            break;
                        }
                        Ok(n) => v.eat(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            v.closed = true;
                            break;
                        }
                    }
                }
            }
        }
        let now = Instant::now();
        if all_streaming_at.is_none()
            && opened == a.viewers
            && viewers.values().all(|v| v.frames > 0 || v.closed)
        {
            all_streaming_at = Some(now);
            eprintln!(
                "mjpeg_load: {} viewers streaming after {:.1} s",
                a.viewers,
                (now - start).as_secs_f64()
            );
        }
        if let Some(t) = all_streaming_at {
            let counted_from = t + Duration::from_secs_f64(a.warmup);
            if window.is_none() && now >= counted_from {
                let frames = (0..a.viewers).map(|i| viewers[&i].frames).collect();
                let cpu = a.pid.map_or(0, cpu_ns);
                window = Some((now, cpu, frames));
            }
            if let Some((w0, cpu0, frames0)) = &window {
                if now.duration_since(*w0).as_secs_f64() >= a.seconds {
                    let secs = now.duration_since(*w0).as_secs_f64();
                    let cpu = a.pid.map_or(0, cpu_ns).saturating_sub(*cpu0);
                    let mut fps: Vec<f64> = (0..a.viewers)
                        .map(|i| (viewers[&i].frames - frames0[i]) as f64 / secs)
                        .collect();
                    fps.sort_by(|x, y| x.partial_cmp(y).unwrap());
                    let bytes: u64 = viewers.values().map(|v| v.bytes).sum();
                    result = Some((secs, cpu, fps, bytes));
                }
            }
        }
        if result.is_some() || now - start > Duration::from_secs(300) {
            break;
        }
    }
    let Some((secs, cpu, fps, _)) = result else {
        eprintln!("mjpeg_load: the viewers never all streamed");
        std::process::exit(1);
    };
    let closed = viewers.values().filter(|v| v.closed).count();
    let bad: u64 = viewers.values().map(|v| v.bad).sum();
    let total_frames: f64 = fps.iter().sum::<f64>() * secs;
    let mean_part = viewers.values().map(|v| v.bytes).sum::<u64>() as f64
        / viewers.values().map(|v| v.frames).sum::<u64>().max(1) as f64;
    let viewer_seconds = a.viewers as f64 * secs;
    println!(
        "{{\"viewers\": {}, \"seconds\": {:.2}, \"fps_min\": {:.2}, \"fps_p1\": {:.2}, \
         \"fps_median\": {:.2}, \"fps_max\": {:.2}, \"frames\": {:.0}, \"mbit_per_s\": {:.1}, \
         \"closed\": {closed}, \"malformed\": {bad}, \"server_cpu_ms\": {:.1}, \
         \"server_cpu_ms_per_viewer_second\": {:.4}, \"server_cpu_percent\": {:.1}}}",
        a.viewers,
        secs,
        fps[0],
        pct(&fps, 0.01),
        pct(&fps, 0.5),
        fps[fps.len() - 1],
        total_frames,
        total_frames * mean_part * 8.0 / secs / 1e6,
        cpu as f64 / 1e6,
        cpu as f64 / 1e6 / viewer_seconds,
        cpu as f64 / 1e9 / secs * 100.0,
    );
}
