//! Clocks, percentiles, and what /proc says about a process: CPU time from the scheduler's own
//! per-thread nanosecond counters (`/proc/PID/task/*/schedstat`; utime+stime move in 10 ms
//! ticks, too coarse for a few ms a second), peak RSS (`VmHWM`), and the kernel's UDP counters.

use std::fs;

/// CLOCK_REALTIME in nanoseconds: the clock `SO_TIMESTAMPNS` stamps packets with.
pub fn realtime_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME)
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is live for the call.
    unsafe { libc::clock_gettime(clock, &mut t) };
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// Sleeps until CLOCK_REALTIME reaches `ns`.
pub fn sleep_until_realtime(ns: i64) {
    loop {
        let left = ns - realtime_ns();
        if left <= 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_nanos(left as u64));
    }
}

/// The calling thread's kernel id.
pub fn gettid() -> i32 {
    // SAFETY: plain syscall without arguments.
    unsafe { libc::gettid() }
}

/// The scheduler's account of a process or thread (`/proc/.../schedstat`), in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sched {
    /// Time on a CPU.
    pub cpu: u64,
    /// Time runnable but waiting for a CPU: what other work on the machine costs it.
    pub wait: u64,
}

impl Sched {
    pub fn since(self, earlier: Sched) -> Sched {
        Sched {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            wait: self.wait.saturating_sub(earlier.wait),
        }
    }
}

/// Summed over every live thread of `pid` (threads that ended are lost; servers here keep
/// theirs).
pub fn process_sched(pid: u32) -> Option<Sched> {
    let mut total = Sched::default();
    for e in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(e) = e else { continue };
        if let Some(s) = schedstat(&e.path().join("schedstat")) {
            total.cpu += s.cpu;
            total.wait += s.wait;
        }
    }
    Some(total)
}

/// One thread's.
pub fn thread_sched(pid: u32, tid: i32) -> Option<Sched> {
    schedstat(std::path::Path::new(&format!(
        "/proc/{pid}/task/{tid}/schedstat"
    )))
}

fn schedstat(path: &std::path::Path) -> Option<Sched> {
    let text = fs::read_to_string(path).ok()?;
    let mut f = text.split_whitespace().map(|x| x.parse().ok());
    Some(Sched {
        cpu: f.next()??,
        wait: f.next()??,
    })
}

/// Peak resident set size of `pid`, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Nanoseconds all CPUs together spent busy (user, nice, system, irq, softirq, steal) since
/// boot, from the first line of /proc/stat (in USER_HZ ticks, 10 ms).
pub fn machine_busy_ns() -> Option<u64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?;
    // SAFETY: plain query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(busy * 1_000_000_000 / hz)
}

/// The 1-minute load average.
pub fn loadavg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The `Udp:` counters of /proc/net/snmp, by name (InErrors, RcvbufErrors, SndbufErrors, ...).
/// They count every UDP socket of this network namespace, not only ours.
pub fn udp_counters() -> Vec<(String, i64)> {
    let Ok(text) = fs::read_to_string("/proc/net/snmp") else {
        return Vec::new();
    };
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
        .collect()
}

pub fn counter(c: &[(String, i64)], name: &str) -> i64 {
    c.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Counts of small integers (microseconds, batch sizes) with an overflow bucket and exact max.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    max: u64,
    total: u64,
}

impl Histogram {
    pub fn new(buckets: usize) -> Histogram {
        Histogram {
            counts: vec![0; buckets + 1],
            max: 0,
            total: 0,
        }
    }

    pub fn record(&mut self, v: u64) {
        let last = self.counts.len() - 1;
        self.counts[(v as usize).min(last)] += 1;
        self.max = self.max.max(v);
        self.total += 1;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Nearest-rank percentile (values past the last bucket report as the max).
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (v, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(if v == self.counts.len() - 1 {
                    self.max
                } else {
                    v as u64
                });
            }
        }
        Some(self.max)
    }
}

/// Self-checks (this bench has no test harness: run with no arguments, as `cargo test
/// --all-targets` does, it runs these).
pub fn check() {
    {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[], 50.0), None);
        let mut h = Histogram::new(10);
        for x in [1, 2, 3, 50] {
            h.record(x);
        }
        assert_eq!(h.percentile(50.0), Some(2));
        assert_eq!(h.percentile(100.0), Some(50));
    }
}
