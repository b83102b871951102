//! The GSO floor: the least CPU a sender of these streams can spend. A bare loop that sends the
//! same RFC 2435 packets rtspd would (the movie's frames through the crate's packetizer, same
//! payload size) for N streams at the movie's rate, each frame one `sendmsg` with `UDP_SEGMENT`
//! from a header array and the payloads in place (no copy), from one non-blocking socket with a
//! 4 MB send buffer (as rtspd's). No RTSP, no timers but one absolute sleep per phase slot, no
//! RTCP. It runs as its own process (this binary with `--floor-sender`), so its CPU time and RSS
//! are read from /proc exactly as a server's are.
//!
//! With `--phases 1` (the default) every stream's frame is due at the same instant, one wake-up
//! per frame period: the cheapest schedule, and the latest frames (the burst's length). More
//! phases spread the streams over the period, as sessions that started at different times are.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use rtsp_mjpeg::rtp::jpeg::{packetize, Payloads};
use rtsp_mjpeg::rtp::packet::RtpHeader;

/// The kernel's UDP_MAX_SEGMENTS.
const MAX_SEGMENTS: usize = 64;
/// Bytes one GSO call may carry.
const MAX_GSO_BYTES: usize = 65_000;

/// The JPEG frames of a lab-format movie (5 ASCII digits of length, then the JPEG).
pub fn read_lab_movie(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path)?;
    let mut frames = Vec::new();
    let mut i = 0;
    while i + 5 <= data.len() {
        let len: usize = std::str::from_utf8(&data[i..i + 5])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a lab-format movie"))?;
        let end = (i + 5 + len).min(data.len());
        frames.push(data[i + 5..end].to_vec());
        i = end;
    }
    if frames.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no frames"));
    }
    Ok(frames)
}

pub struct FloorArgs<'a> {
    pub dest: SocketAddr,
    pub streams: usize,
    pub movie: &'a Path,
    pub fps: f64,
    pub max_payload: usize,
    pub phases: usize,
}

struct StreamState {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

/// Sends until killed.
pub fn run_sender(a: &FloorArgs<'_>) -> io::Result<()> {
    let frames: Vec<Payloads> = read_lab_movie(a.movie)?
        .iter()
        .filter_map(|f| packetize(f, a.max_payload).ok())
        .collect();
    if frames.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no RFC 2435 carriable frame",
        ));
    }
    let sock = UdpSocket::bind(("127.0.0.1", 0))?;
    sock.set_nonblocking(true)?;
    let _ = socket2::SockRef::from(&sock).set_send_buffer_size(4 << 20);
    let fd = sock.as_raw_fd();
    let dest = socket2::SockAddr::from(a.dest);
    let mut streams: Vec<StreamState> = (0..a.streams)
        .map(|i| {
            let x = (i as u32 + 1).wrapping_mul(0x9E37_79B9);
            StreamState {
                ssrc: x,
                seq: (x >> 16) as u16,
                ts: x.rotate_left(7),
            }
        })
        .collect();
    let ticks_per_frame = (90_000.0 / a.fps).round() as u32;
    let period = Duration::from_secs_f64(1.0 / a.fps);
    let phases = a.phases.clamp(1, a.streams.max(1));
    let max_packets = frames.iter().map(Payloads::len).max().unwrap_or(1);
    let mut headers = vec![[0u8; RtpHeader::LEN]; max_packets];
    let mut would_block = 0u64;
    let start = monotonic();
    let mut k: u64 = 0;
    loop {
        let frame = &frames[(k % frames.len() as u64) as usize];
        for phase in 0..phases {
            let due = start + period * k as u32 + period * phase as u32 / phases as u32;
            sleep_until(due);
            for s in streams.iter_mut().skip(phase).step_by(phases) {
                for (i, h) in headers.iter_mut().enumerate().take(frame.len()) {
                    RtpHeader {
                        marker: i + 1 == frame.len(),
                        payload_type: 26,
                        sequence: s.seq.wrapping_add(i as u16),
                        timestamp: s.ts,
                        ssrc: s.ssrc,
                    }
                    .write(h);
                }
                s.seq = s.seq.wrapping_add(frame.len() as u16);
                s.ts = s.ts.wrapping_add(ticks_per_frame);
                if !send_frame(fd, &dest, &headers[..frame.len()], frame)? {
                    would_block += 1;
                    if would_block.is_power_of_two() {
                        eprintln!(
                            "capacity floor: {would_block} frames not sent: send buffer full"
                        );
                    }
                }
            }
        }
        k += 1;
    }
}

/// One frame in as few GSO calls as the kernel allows (one for these frames). Ok(false) when
/// the send buffer was full and the rest of the frame was dropped, as rtspd does.
fn send_frame(
    fd: i32,
    dest: &socket2::SockAddr,
    headers: &[[u8; RtpHeader::LEN]],
    payloads: &Payloads,
) -> io::Result<bool> {
    let size = |i: usize| RtpHeader::LEN + payloads.get(i).map_or(0, <[u8]>::len);
    let mut i = 0;
    while i < headers.len() {
        // Same-sized segments, a shorter one only last, within the kernel's limits.
        let seg = size(i);
        let mut n = 1;
        let mut total = seg;
        while i + n < headers.len() && n < MAX_SEGMENTS {
            let s = size(i + n);
            if s > seg || total + s > MAX_GSO_BYTES {
                break;
            }
            total += s;
            n += 1;
            if s < seg {
                break;
            }
        }
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 2 * MAX_SEGMENTS];
        for j in 0..n {
            let p = payloads.get(i + j).unwrap_or_default();
            iov[2 * j] = libc::iovec {
                iov_base: headers[i + j].as_ptr() as *mut _,
                iov_len: RtpHeader::LEN,
            };
            iov[2 * j + 1] = libc::iovec {
                iov_base: p.as_ptr() as *mut _,
                iov_len: p.len(),
            };
        }
        let mut control = [0u64; 8];
        // SAFETY: every pointer in `msg` refers to a live buffer (address, iovecs borrowing the
        // headers and payloads, `control`) for the duration of the call.
        let r = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = dest.as_ptr() as *mut _;
            msg.msg_namelen = dest.len();
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = 2 * n;
            if n > 1 {
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg as u16);
            }
            libc::sendmsg(fd, &msg, 0)
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(false),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        i += n;
    }
    Ok(true)
}

fn monotonic() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is live for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// An absolute sleep on CLOCK_MONOTONIC (no drift from computing relative waits).
fn sleep_until(due: Duration) {
    let t = libc::timespec {
        tv_sec: due.as_secs() as libc::time_t,
        tv_nsec: due.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `t` is live for the call; EINTR just retries.
    while unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &t,
            std::ptr::null_mut(),
        )
    } == libc::EINTR
    {}
}
