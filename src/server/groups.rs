//! The reactor's side of multicast: a socket on each group's RTCP port, so that viewers'
//! receiver reports sent to the group (as RFC 3550 §6 has receivers do) reach the core.
//!
//! Each socket is bound to the group address with SO_REUSEADDR and SO_REUSEPORT and joins the
//! group, so it shares the port with any viewer on the same host; RTP to the group leaves from the
//! server's own RTP socket, so the group's RTP port is never bound here at all.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use log::{debug, warn};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

/// Tokens of group sockets start here (connections count up from 16, far below).
pub const GROUP_BASE: usize = 1 << 40;

#[derive(Default)]
pub struct GroupSockets {
    by_token: HashMap<usize, (SocketAddr, UdpSocket)>,
    next: usize,
}

impl GroupSockets {
    /// Listens on `rtcp` (a group address and port).
    pub fn join(&mut self, registry: &Registry, rtcp: SocketAddr) {
        match open(rtcp) {
            Ok(mut sock) => {
                let token = GROUP_BASE + self.next;
                self.next += 1;
                if let Err(e) = registry.register(&mut sock, Token(token), Interest::READABLE) {
                    warn!("multicast RTCP {rtcp}: {e}");
                    return;
                }
                self.by_token.insert(token, (rtcp, sock));
            }
            Err(e) => {
                warn!("multicast RTCP {rtcp}: {e}; members' reports to the group are not heard")
            }
        }
    }

    pub fn leave(&mut self, registry: &Registry, rtcp: SocketAddr) {
        let tokens: Vec<usize> = self
            .by_token
            .iter()
            .filter(|(_, (a, _))| *a == rtcp)
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            if let Some((_, mut s)) = self.by_token.remove(&t) {
                let _ = registry.deregister(&mut s);
            }
        }
    }

    /// Reads every datagram waiting on the socket of `token`, handing each to `f`.
    pub fn drain(&mut self, token: usize, mut f: impl FnMut(SocketAddr, &[u8])) {
        let Some((_, sock)) = self.by_token.get(&token) else {
            return;
        };
        let mut buf = [0u8; 2048];
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => f(from, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("multicast RTCP: {e}");
                    return;
                }
            }
        }
    }
}

fn open(rtcp: SocketAddr) -> io::Result<UdpSocket> {
    let IpAddr::V4(group) = rtcp.ip() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "IPv4 groups only",
        ));
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&rtcp.into())?;
    s.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)?;
    Ok(UdpSocket::from_std(s.into()))
}

/// Sets the TTL of multicast packets leaving `sock` (the server's RTP and RTCP sockets).
pub fn set_ttl(sock: &UdpSocket, ttl: u8) -> io::Result<()> {
    socket2::SockRef::from(sock).set_multicast_ttl_v4(u32::from(ttl))
}
