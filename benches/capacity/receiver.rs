//! The RTP receiver: one thread, pinned to a CPU, reading every session's packets with
//! `recvmmsg` in batches, each packet stamped by the kernel (`SO_TIMESTAMPNS`) when it entered
//! the receive path. On loopback that stamp is taken when the sender's `sendmsg` queues the
//! packet, so the lateness figures do not include this thread's own delay in reading them: a
//! slow reader costs nothing unless its socket buffer overflows, which `SO_RXQ_OVFL` counts.
//!
//! Streams are told apart by (socket, SSRC): rtspd sends every session from one port to the one
//! shared client port, each session with its own SSRC; GStreamer's shared pipeline sends the same
//! packets (one SSRC) to each client, so it needs a socket per session.
//!
//! With UDP_GRO (the default) a GSO send arrives as one message with its segment size, split
//! here, all its packets carrying the one stamp. The thread drains its sockets every
//! millisecond rather than waking for each packet: with kernel stamps, reading later costs
//! nothing but buffer space.
//!
//! Per stream: sequence gaps (16-bit wrap-around), duplicates and reordering, and whole frames:
//! a frame is whole when its first packet has RFC 2435 fragment offset 0 (or is a whole JPEG),
//! no sequence number is missing up to its marker packet, and the marker arrived. Packets, gaps
//! and broken frames are counted when their kernel time falls in the counting window; whole
//! frames are kept from a margin around it, and the report keeps those that were due in it.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use rtsp_mjpeg::rtp::jpeg::is_whole_jpeg;
use rtsp_mjpeg::rtp::packet::RtpPacket;

use crate::stats::{realtime_ns, Histogram};

/// Messages per `recvmmsg` call.
pub const BATCH: usize = 64;
/// Bytes per message buffer: RTP packets here are at most ~1.5 KB; longer ones are counted as
/// truncated.
const BUF: usize = 2048;
/// With UDP_GRO a message is a whole GSO send (up to 64 segments, 64 KB).
const GRO_BUF: usize = 65_536;
/// Control buffer per message: a timestamp (16 + 16 bytes), a drop counter and a GRO segment
/// size (16 + 4 each, padded).
const CMSG_WORDS: usize = 16;
/// `UDP_GRO` (linux/udp.h), missing from the libc crate for glibc targets.
const UDP_GRO: i32 = 104;

/// Whole frames are kept from this long before the window to this long after it.
pub const MARGIN_NS: i64 = 1_000_000_000;

/// The counting window in kernel (CLOCK_REALTIME) nanoseconds, set once every session plays.
pub struct Window {
    start: AtomicI64,
    end: AtomicI64,
    stop: AtomicBool,
}

impl Window {
    pub fn new() -> Arc<Window> {
        Arc::new(Window {
            start: AtomicI64::new(i64::MAX),
            end: AtomicI64::new(i64::MAX),
            stop: AtomicBool::new(false),
        })
    }

    pub fn set(&self, start_ns: i64, end_ns: i64) {
        self.end.store(end_ns, Ordering::Release);
        self.start.store(start_ns, Ordering::Release);
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    fn get(&self) -> (i64, i64) {
        (
            self.start.load(Ordering::Acquire),
            self.end.load(Ordering::Acquire),
        )
    }
}

/// One even/odd port pair: RTP on `rtp`, RTCP (read and counted only) on the next port.
pub struct PortPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl PortPair {
    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

/// Binds an RTP socket on an even port of 127.0.0.1 and RTCP on the next one, with a receive
/// buffer of `rcvbuf` bytes (forced past `net.core.rmem_max` when running as root).
pub fn bind_pair(rcvbuf: usize, gro: bool) -> io::Result<PortPair> {
    for _ in 0..1000 {
        let rtp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = rtp.local_addr()?.port();
        if port % 2 == 1 || port == u16::MAX {
            continue;
        }
        let Ok(rtcp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port + 1)) else {
            continue;
        };
        for s in [&rtp, &rtcp] {
            s.set_nonblocking(true)?;
            set_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
            set_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
        }
        set_rcvbuf(rtp.as_raw_fd(), rcvbuf)?;
        // Senders report every few seconds per session: 2,000 sessions' reports can come at once.
        set_rcvbuf(rtcp.as_raw_fd(), 4 << 20)?;
        if gro {
            set_int(rtp.as_raw_fd(), libc::SOL_UDP, UDP_GRO, 1)?;
        }
        return Ok(PortPair { rtp, rtcp });
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free even/odd UDP port pair",
    ))
}

fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SO_RCVBUFFORCE (root) else SO_RCVBUF; the kernel doubles the value for its bookkeeping.
fn set_rcvbuf(fd: RawFd, bytes: usize) -> io::Result<()> {
    let v = i32::try_from(bytes / 2).unwrap_or(i32::MAX);
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
        .or_else(|_| set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v))
}

/// The receive buffer the kernel actually gave a socket, in bytes.
pub fn rcvbuf_of(s: &UdpSocket) -> usize {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live and sized for SO_RCVBUF's int.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut v as *mut i32).cast(),
            &mut len,
        )
    };
    if r < 0 {
        0
    } else {
        v.max(0) as usize
    }
}

/// The kernel times of one whole frame's first and last packet, and its RTP time.
#[derive(Debug, Clone, Copy)]
pub struct FrameTimes {
    /// RTP timestamp extended to 64 bits, relative to the stream's first packet.
    pub ext_ts: i64,
    pub first_ns: i64,
    pub last_ns: i64,
}

#[derive(Debug, Clone, Copy)]
struct OpenFrame {
    ext_ts: i64,
    first_ns: i64,
    last_ns: i64,
    ok: bool,
}

/// What one stream (socket, SSRC) delivered; counts are for the window only.
#[derive(Debug)]
pub struct Stream {
    pub ssrc: u32,
    pub packets: u64,
    pub bytes: u64,
    /// Sequence numbers skipped (packets lost, or still to come out of order).
    pub lost: u64,
    /// Places where sequence numbers jumped.
    pub gap_events: u64,
    /// Packets at or behind the highest sequence number seen (duplicates, late reordering).
    pub out_of_order: u64,
    /// Frames that started in the window and were not whole.
    pub broken: u64,
    /// Whole frames that started in the window, or up to [`MARGIN_NS`] before or after it: which
    /// of them were due in the window is known only once the schedule is anchored.
    pub frames: Vec<FrameTimes>,
    last_seq: Option<u16>,
    last_ts: Option<u32>,
    ext_ts: i64,
    open: Option<OpenFrame>,
}

impl Stream {
    fn new(ssrc: u32) -> Stream {
        Stream {
            ssrc,
            packets: 0,
            bytes: 0,
            lost: 0,
            gap_events: 0,
            out_of_order: 0,
            broken: 0,
            frames: Vec::with_capacity(512),
            last_seq: None,
            last_ts: None,
            ext_ts: 0,
            open: None,
        }
    }

    fn on_packet(&mut self, pkt: &RtpPacket<'_>, len: usize, t: i64, win: (i64, i64)) {
        let in_window = |t: i64| t >= win.0 && t < win.1;
        let seq = pkt.sequence();
        let mut gap = false;
        if let Some(last) = self.last_seq {
            let d = seq.wrapping_sub(last);
            if d == 0 || d >= 0x8000 {
                if in_window(t) {
                    self.out_of_order += 1;
                }
                return;
            }
            if d > 1 {
                gap = true;
                if in_window(t) {
                    self.lost += u64::from(d - 1);
                    self.gap_events += 1;
                }
            }
        }
        self.last_seq = Some(seq);
        if in_window(t) {
            self.packets += 1;
            self.bytes += len as u64;
        }
        let ts = pkt.timestamp();
        if let Some(l) = self.last_ts {
            self.ext_ts += i64::from(ts.wrapping_sub(l) as i32);
        }
        self.last_ts = Some(ts);
        match &mut self.open {
            Some(f) if f.ext_ts == self.ext_ts => {
                f.last_ns = t;
                f.ok &= !gap;
            }
            open => {
                // A new timestamp before the last frame's marker: that frame lost its end.
                if let Some(f) = open.take() {
                    if in_window(f.first_ns) {
                        self.broken += 1;
                    }
                }
                let p = pkt.payload();
                let starts = (p.len() >= 4 && p[1..4] == [0, 0, 0]) || is_whole_jpeg(p);
                *open = Some(OpenFrame {
                    ext_ts: self.ext_ts,
                    first_ns: t,
                    last_ns: t,
                    ok: starts,
                });
            }
        }
        if pkt.marker() {
            if let Some(f) = self.open.take() {
                if f.ok && f.first_ns >= win.0 - MARGIN_NS && f.first_ns < win.1 + MARGIN_NS {
                    self.frames.push(FrameTimes {
                        ext_ts: f.ext_ts,
                        first_ns: f.first_ns,
                        last_ns: f.last_ns,
                    });
                } else if !f.ok && in_window(f.first_ns) {
                    self.broken += 1;
                }
            }
        }
    }
}

/// What the receiver saw, and what it cost.
pub struct Report {
    pub streams: Vec<Stream>,
    /// `batch_sizes[k]`: `recvmmsg` calls that returned k packets (window only).
    pub batch_sizes: Vec<u64>,
    /// Kernel stamp to user space, per packet in the window, in microseconds.
    pub read_delay_us: Histogram,
    /// RTP packets dropped because a socket buffer was full (`SO_RXQ_OVFL`), whole run.
    pub drops: u64,
    /// The same, counted between the last packet before the window and the last in it.
    pub drops_window: u64,
    /// The same for the RTCP sockets.
    pub rtcp_drops: u64,
    /// Messages that held several packets (UDP GRO).
    pub coalesced: u64,
    pub truncated: u64,
    pub not_rtp: u64,
    pub no_timestamp: u64,
    pub rtcp_packets: u64,
    pub wakeups: u64,
}

/// How the receiver runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub pin_cpu: Option<usize>,
    /// Sockets were bound with UDP_GRO.
    pub gro: bool,
    /// Sleep this long after draining the sockets, rather than waking for every packet: the
    /// kernel's stamps make reading late harmless (the buffer is large), and fewer wake-ups
    /// cost the receiver less and the sender (whose `sendmsg` wakes the reader on loopback)
    /// too. Zero: wait in epoll for every packet.
    pub drain_every: std::time::Duration,
}

struct Sock {
    fd: RawFd,
    rtcp: bool,
    /// The kernel's drop counter as of the last packet; before the window; in it.
    drops: u32,
    drops_before: u32,
    drops_in: u32,
}

/// Receives until the window has ended (by kernel time) and `window.stop()` was called.
/// `sockets` must stay open (owned by the caller) until this returns.
pub fn run(pairs: &[PortPair], window: &Window, opts: &Options) -> io::Result<Report> {
    let Options {
        pin_cpu,
        gro,
        drain_every,
    } = *opts;
    if let Some(cpu) = pin_cpu {
        pin_to(cpu);
    }
    let mut socks = Vec::with_capacity(pairs.len() * 2);
    for p in pairs {
        socks.push(Sock {
            fd: p.rtp.as_raw_fd(),
            rtcp: false,
            drops: 0,
            drops_before: 0,
            drops_in: 0,
        });
        socks.push(Sock {
            fd: p.rtcp.as_raw_fd(),
            rtcp: true,
            drops: 0,
            drops_before: 0,
            drops_in: 0,
        });
    }
    // SAFETY: plain syscall; the descriptor is closed below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    let _close = CloseOnDrop(ep);
    for (i, s) in socks.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is live for the call; the fds are open sockets.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }

    let mut rx = Batch::new(if gro { GRO_BUF } else { BUF });
    let mut report = Report {
        streams: Vec::new(),
        batch_sizes: vec![0; BATCH + 1],
        read_delay_us: Histogram::new(200_000),
        drops: 0,
        drops_window: 0,
        rtcp_drops: 0,
        coalesced: 0,
        truncated: 0,
        not_rtp: 0,
        no_timestamp: 0,
        rtcp_packets: 0,
        wakeups: 0,
    };
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut last_key = u64::MAX;
    let mut last_idx = 0;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 4096];
    loop {
        let win = window.get();
        if window.stop.load(Ordering::Acquire) && realtime_ns() >= win.1.saturating_add(MARGIN_NS) {
            break;
        }
        // SAFETY: `events` has room for the count passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 20) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        report.wakeups += 1;
        for ev in &events[..n as usize] {
            let si = ev.u64 as usize;
            loop {
                let got = rx.recv(socks[si].fd)?;
                if got == 0 {
                    break;
                }
                let now = realtime_ns();
                let counting = now >= win.0 && now < win.1.saturating_add(MARGIN_NS);
                if counting && !socks[si].rtcp {
                    report.batch_sizes[got] += 1;
                }
                for m in 0..got {
                    let (data, flags, ts, ovfl, seg) = rx.message(m);
                    if let Some(d) = ovfl {
                        socks[si].drops = d;
                    }
                    if socks[si].rtcp {
                        report.rtcp_packets += 1;
                        continue;
                    }
                    if flags & libc::MSG_TRUNC != 0 {
                        report.truncated += 1;
                        continue;
                    }
                    let t = match ts {
                        Some(t) => t,
                        None => {
                            report.no_timestamp += 1;
                            now
                        }
                    };
                    let sock = &mut socks[si];
                    if t < win.0 {
                        sock.drops_before = sock.drops;
                    }
                    if t < win.1 {
                        sock.drops_in = sock.drops;
                    }
                    if t >= win.0 && t < win.1 {
                        report
                            .read_delay_us
                            .record(((now - t).max(0) / 1000) as u64);
                    }
                    // A GRO message is the sender's segments back to back, all but the last
                    // `seg` bytes long, all with the one kernel time.
                    let seg = seg.filter(|&s| s > 0 && s < data.len());
                    if seg.is_some() {
                        report.coalesced += 1;
                    }
                    for chunk in data.chunks(seg.unwrap_or(data.len()).max(1)) {
                        let Ok(pkt) = RtpPacket::new_checked(chunk) else {
                            report.not_rtp += 1;
                            continue;
                        };
                        let key = (si as u64) << 32 | u64::from(pkt.ssrc());
                        if key != last_key {
                            last_idx = *index.entry(key).or_insert_with(|| {
                                report.streams.push(Stream::new(pkt.ssrc()));
                                report.streams.len() - 1
                            });
                            last_key = key;
                        }
                        report.streams[last_idx].on_packet(&pkt, chunk.len(), t, win);
                    }
                }
                if got < BATCH {
                    break; // the socket is empty: back to epoll rather than one more call
                }
            }
        }
        if !drain_every.is_zero() {
            std::thread::sleep(drain_every);
        }
    }
    for s in &socks {
        if s.rtcp {
            report.rtcp_drops += u64::from(s.drops);
        } else {
            report.drops += u64::from(s.drops);
            report.drops_window += u64::from(s.drops_in.wrapping_sub(s.drops_before));
        }
    }
    Ok(report)
}

struct CloseOnDrop(RawFd);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "capacity: cannot pin the receiver to CPU {cpu}: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// Buffers for one `recvmmsg` call, allocated once.
struct Batch {
    size: usize,
    bufs: Vec<u8>,
    ctrl: Vec<u64>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers inside point into the Batch's own heap buffers, which move with it.
unsafe impl Send for Batch {}

impl Batch {
    fn new(size: usize) -> Batch {
        let mut b = Batch {
            size,
            bufs: vec![0; BATCH * size],
            ctrl: vec![0; BATCH * CMSG_WORDS],
            iov: Vec::with_capacity(BATCH),
            hdrs: Vec::with_capacity(BATCH),
        };
        for i in 0..BATCH {
            b.iov.push(libc::iovec {
                iov_base: b.bufs[i * size..].as_mut_ptr().cast(),
                iov_len: size,
            });
        }
        for i in 0..BATCH {
            // SAFETY: msghdr is plain data; zero is a valid empty header.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut b.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.ctrl[i * CMSG_WORDS..].as_mut_ptr().cast();
            b.hdrs.push(h);
        }
        b
    }

    /// Reads up to BATCH datagrams without blocking; 0 when the socket is empty.
    fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for h in &mut self.hdrs {
            h.msg_hdr.msg_controllen = CMSG_WORDS * 8;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        loop {
            // SAFETY: every header points at live buffers of the sizes given.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(0),
                io::ErrorKind::Interrupted => continue,
                // An ICMP error queued on the socket: not ours to care about.
                io::ErrorKind::ConnectionRefused => continue,
                _ => return Err(e),
            }
        }
    }

    /// Message `m` of the last call: its bytes, flags, kernel time, drop counter and GRO
    /// segment size.
    #[allow(clippy::type_complexity)]
    fn message(&self, m: usize) -> (&[u8], i32, Option<i64>, Option<u32>, Option<usize>) {
        let h = &self.hdrs[m];
        let len = (h.msg_len as usize).min(self.size);
        let data = &self.bufs[m * self.size..m * self.size + len];
        let mut ts = None;
        let mut ovfl = None;
        let mut seg = None;
        // SAFETY: the kernel filled msg_control up to msg_controllen with well-formed cmsgs;
        // CMSG_* walk only within it, and data is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET {
                    if (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                        let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        ts = Some(t.tv_sec * 1_000_000_000 + t.tv_nsec);
                    } else if (*c).cmsg_type == libc::SO_RXQ_OVFL {
                        ovfl = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
                    }
                } else if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                    let s = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
                    seg = usize::try_from(s).ok();
                }
                c = libc::CMSG_NXTHDR(&h.msg_hdr, c);
            }
        }
        (data, h.msg_hdr.msg_flags, ts, ovfl, seg)
    }
}

/// The address a sender should aim at to reach `pair`.
pub fn dest_of(pair: &PortPair) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, pair.rtp_port()))
}

/// Self-checks of the per-stream accounting on hand-made packets.
pub fn check() {
    use rtsp_mjpeg::rtp::packet::RtpHeader;
    let packet = |seq: u16, ts: u32, marker: bool, offset: u32| {
        let mut p = RtpHeader {
            marker,
            payload_type: 26,
            sequence: seq,
            timestamp: ts,
            ssrc: 7,
        }
        .to_bytes()
        .to_vec();
        let o = offset.to_be_bytes();
        p.extend_from_slice(&[0, o[1], o[2], o[3], 1, 255, 80, 60, 0xAB]);
        p
    };
    let win = (1_000, 1_000_000);
    let mut s = Stream::new(7);
    let feed = |s: &mut Stream, seq: u16, ts: u32, m: bool, off: u32, t: i64| {
        let p = packet(seq, ts, m, off);
        s.on_packet(&RtpPacket::new_checked(&p).expect("valid"), p.len(), t, win);
    };
    // Frame 1: whole, across the sequence wrap-around and the timestamp wrap-around.
    feed(&mut s, 0xFFFE, u32::MAX - 100, false, 0, 2_000);
    feed(&mut s, 0xFFFF, u32::MAX - 100, false, 1000, 2_100);
    feed(&mut s, 0, u32::MAX - 100, true, 2000, 2_200);
    // Frame 2: its middle packet lost.
    feed(&mut s, 1, 3650, false, 0, 3_000);
    feed(&mut s, 3, 3650, true, 2000, 3_100);
    // Frame 3: its first packet lost (first seen has offset 1000): not whole.
    feed(&mut s, 5, 7400, true, 1000, 4_000);
    // Frame 4: the marker lost, so frame 5 starts before frame 4 ended.
    feed(&mut s, 6, 11150, false, 0, 5_000);
    feed(&mut s, 8, 14900, true, 0, 6_000);
    // A duplicate.
    feed(&mut s, 8, 14900, true, 0, 6_100);
    assert_eq!(s.frames.len(), 2, "{s:?}");
    assert_eq!(s.frames[0].ext_ts, 0);
    assert_eq!((s.frames[0].first_ns, s.frames[0].last_ns), (2_000, 2_200));
    assert_eq!(s.frames[1].ext_ts, 15001);
    assert_eq!(s.broken, 3);
    assert_eq!(s.lost, 3);
    assert_eq!(s.gap_events, 3);
    assert_eq!(s.out_of_order, 1);
    assert_eq!(s.packets, 8);
}
