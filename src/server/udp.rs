//! RTP over UDP from one shared socket, with UDP segmentation offload (Linux `UDP_SEGMENT`).
//!
//! A frame's RFC 2435 packets all have the same size but the last, so one `sendmsg` carrying the
//! packets as an iovec list (header, payload, header, payload, ...) and a `UDP_SEGMENT` control
//! message hands the kernel the whole frame; it cuts it into datagrams of `gso_size`. That costs
//! about a third of one `sendto` per packet. The kernel allows at most 64 segments and 64 KiB per
//! call, and only the last segment may be shorter; packets are grouped accordingly. Where the
//! kernel refuses GSO the sender falls back, for good, to one `sendmsg` per packet, still without
//! copying payloads.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, SockAddr, Socket, Type};

/// The kernel's UDP_MAX_SEGMENTS.
const MAX_SEGMENTS: usize = 64;
/// Bytes one GSO call may carry (an IPv4 datagram's payload limit, with margin).
const MAX_GSO_BYTES: usize = 65_000;

/// How a frame's send went.
#[derive(Debug, Default)]
pub struct SendOutcome {
    /// Packets handed to the kernel, from the first, in order.
    pub sent_packets: usize,
    /// The socket buffer was full; the rest of the frame was not sent.
    pub would_block: bool,
    /// Another error stopped the frame.
    pub error: Option<io::Error>,
}

pub struct UdpSender {
    gso: bool,
}

impl Default for UdpSender {
    fn default() -> Self {
        Self::new()
    }
}

impl UdpSender {
    /// Uses GSO until the kernel refuses it.
    pub fn new() -> UdpSender {
        UdpSender {
            gso: cfg!(target_os = "linux"),
        }
    }

    /// One packet per `sendmsg` (for comparison in benchmarks and tests).
    pub fn without_gso() -> UdpSender {
        UdpSender { gso: false }
    }

    pub fn gso_enabled(&self) -> bool {
        self.gso
    }

    /// Sends `packets` (header, payload) to `dest` in order.
    pub fn send_packets(
        &mut self,
        sock: &impl AsRawFd,
        dest: SocketAddr,
        packets: &[(&[u8], &[u8])],
    ) -> SendOutcome {
        let addr = SockAddr::from(dest);
        let mut out = SendOutcome::default();
        let mut i = 0;
        while i < packets.len() {
            let n = if self.gso {
                batch_len(&packets[i..])
            } else {
                1
            };
            match self.send_batch(sock.as_raw_fd(), &addr, &packets[i..i + n], n > 1) {
                Ok(()) => {
                    out.sent_packets += n;
                    i += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    out.would_block = true;
                    return out;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if n > 1 && gso_refused(&e) => {
                    log::info!("UDP GSO unavailable ({e}); sending one packet per call");
                    self.gso = false;
                }
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
        out
    }

    fn send_batch(
        &self,
        fd: i32,
        addr: &SockAddr,
        packets: &[(&[u8], &[u8])],
        segment: bool,
    ) -> io::Result<()> {
        // On the stack: a batch is at most MAX_SEGMENTS packets of two pieces each.
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 2 * MAX_SEGMENTS];
        for (i, (h, p)) in packets.iter().take(MAX_SEGMENTS).enumerate() {
            iov[2 * i] = libc::iovec {
                iov_base: h.as_ptr() as *mut _,
                iov_len: h.len(),
            };
            iov[2 * i + 1] = libc::iovec {
                iov_base: p.as_ptr() as *mut _,
                iov_len: p.len(),
            };
        }
        let iov_len = 2 * packets.len().min(MAX_SEGMENTS);
        // Room for one cmsg with a u16, aligned for cmsghdr.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; every pointer set below refers to a live buffer (the
        // address, the iovecs borrowing `packets`, `control`) that outlives the sendmsg call.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = addr.as_ptr() as *mut _;
            msg.msg_namelen = addr.len();
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = iov_len as _;
            if segment {
                let seg = (packets[0].0.len() + packets[0].1.len()) as u16;
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as _;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_UDP;
                (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), seg);
            }
            if libc::sendmsg(fd, &msg, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// How many packets from the front can go in one GSO call: same size, except a shorter last one.
fn batch_len(packets: &[(&[u8], &[u8])]) -> usize {
    let size = |p: &(&[u8], &[u8])| p.0.len() + p.1.len();
    let seg = size(&packets[0]);
    let mut n = 1;
    let mut total = seg;
    while n < packets.len() && n < MAX_SEGMENTS {
        let s = size(&packets[n]);
        if s > seg || total + s > MAX_GSO_BYTES {
            break;
        }
        total += s;
        n += 1;
        if s < seg {
            break; // only the last segment may be shorter
        }
    }
    n
}

fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// Binds the server's RTP socket on an even port and RTCP on the next, non-blocking, with large
/// send buffers. Port 0 picks a free pair.
pub fn bind_udp_pair(
    ip: IpAddr,
    rtp_port: u16,
) -> io::Result<(mio::net::UdpSocket, mio::net::UdpSocket)> {
    let bind = |port: u16| -> io::Result<mio::net::UdpSocket> {
        let s = Socket::new(
            Domain::for_address(SocketAddr::new(ip, port)),
            Type::DGRAM,
            None,
        )?;
        // Best effort: a frame burst from many sessions must not overflow the send buffer.
        let _ = s.set_send_buffer_size(4 << 20);
        s.set_nonblocking(true)?;
        s.bind(&SocketAddr::new(ip, port).into())?;
        Ok(mio::net::UdpSocket::from_std(s.into()))
    };
    if rtp_port != 0 {
        return Ok((
            bind(rtp_port)?,
            bind(rtp_port.checked_add(1).ok_or(io::ErrorKind::InvalidInput)?)?,
        ));
    }
    for _ in 0..100 {
        let rtp = bind(0)?;
        let port = rtp.local_addr()?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = bind(port + 1) {
            return Ok((rtp, rtcp));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free even/odd UDP port pair",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(n: usize, payload: usize, last: usize) -> (Vec<[u8; 12]>, Vec<Vec<u8>>) {
        let headers = (0..n)
            .map(|i| [0x80, 26, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 7])
            .collect();
        let payloads = (0..n)
            .map(|i| vec![i as u8; if i + 1 == n { last } else { payload }])
            .collect();
        (headers, payloads)
    }

    fn check(mut sender: UdpSender, n: usize, payload: usize, last: usize) {
        let (tx, _) = bind_udp_pair("127.0.0.1".parse().unwrap(), 0).unwrap();
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sock: Socket = Socket::from(rx.try_clone().unwrap());
        sock.set_recv_buffer_size(4 << 20).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (headers, payloads) = frame(n, payload, last);
        let packets: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|h| &h[..])
            .zip(payloads.iter().map(|p| &p[..]))
            .collect();
        let out = sender.send_packets(&tx, rx.local_addr().unwrap(), &packets);
        assert_eq!(out.sent_packets, n, "{:?}", out.error);
        let mut buf = [0u8; 70_000];
        for i in 0..n {
            let len = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..12], &headers[i]);
            assert_eq!(&buf[12..len], &payloads[i][..], "datagram {i} of {n}");
        }
    }

    #[test]
    fn gso_and_plain_deliver_every_datagram_in_order() {
        for (n, payload, last) in [
            (1, 1400, 700),
            (9, 1400, 311),
            (60, 1400, 1400),
            (100, 1400, 5),
        ] {
            check(UdpSender::new(), n, payload, last);
            check(UdpSender::without_gso(), n, payload, last);
        }
    }

    #[test]
    fn batches_respect_kernel_limits() {
        let h = [0u8; 12];
        let (big, small) = (vec![0u8; 1388], vec![0u8; 100]);
        let mut v: Vec<(&[u8], &[u8])> = vec![(&h, &big); 100];
        assert_eq!(batch_len(&v), 46, "65 000 bytes / 1400");
        v.truncate(3);
        v.push((&h, &small));
        v.push((&h, &big));
        assert_eq!(batch_len(&v), 4, "a shorter packet ends the batch");
        v[0] = (&h, &small);
        assert_eq!(
            batch_len(&v),
            1,
            "a larger packet after a shorter first starts a new batch"
        );
    }

    #[test]
    fn pair_is_even_then_odd() {
        let (rtp, rtcp) = bind_udp_pair("127.0.0.1".parse().unwrap(), 0).unwrap();
        let p = rtp.local_addr().unwrap().port();
        assert_eq!(p % 2, 0);
        assert_eq!(rtcp.local_addr().unwrap().port(), p + 1);
    }
}
