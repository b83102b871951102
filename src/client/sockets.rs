//! The player's UDP sockets for RTP and RTCP: an even/odd unicast pair on every interface, or a
//! multicast group's ports joined on the interface facing the server and shared with other
//! receivers on the host. Used by [`crate::client::driver`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mio::net::UdpSocket;

/// A socket receiving `group` on `port`, joined (IP_ADD_MEMBERSHIP) on the interface of our
/// RTSP connection's address (where the server is). SO_REUSEADDR and SO_REUSEPORT let several
/// viewers on one host join the same group and ports; every one of them gets each datagram.
/// It sends our receiver reports too, with the group's TTL when they go to the group.
pub fn multicast_socket(
    group: IpAddr,
    port: u16,
    local: IpAddr,
    ttl: Option<u8>,
) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = match group {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    match group {
        IpAddr::V4(g) => {
            s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
            let iface = match local {
                IpAddr::V4(l) if !l.is_unspecified() => l,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            s.join_multicast_v4(&g, &iface)?;
            if !iface.is_unspecified() {
                // Reports to the group leave by the same interface.
                s.set_multicast_if_v4(&iface)?;
            }
            // Linux otherwise hands a socket bound to the port every group joined on the host.
            s.set_multicast_all_v4(false)?;
            if let Some(ttl) = ttl {
                s.set_multicast_ttl_v4(u32::from(ttl))?;
            }
        }
        IpAddr::V6(g) => {
            s.set_only_v6(true)?;
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
            s.join_multicast_v6(&g, 0)?;
            s.set_multicast_all_v6(false)?;
            if let Some(hops) = ttl {
                s.set_multicast_hops_v6(u32::from(hops))?;
            }
        }
    }
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s.into()))
}

/// RTP on `port` (0: any even port) and RTCP on the next one, both on every interface (the
/// server may be remote). RTCP is optional for an explicit port: the lab server sends none.
pub fn bind_pair(port: u16) -> io::Result<(UdpSocket, Option<UdpSocket>)> {
    let any = |p: u16| SocketAddr::from(([0, 0, 0, 0], p));
    if port != 0 {
        let rtp = UdpSocket::bind(any(port))
            .map_err(|e| io::Error::new(e.kind(), format!("RTP port {port}: {e}")))?;
        let rtcp = port
            .checked_add(1)
            .and_then(|p| UdpSocket::bind(any(p)).ok());
        return Ok((rtp, rtcp));
    }
    for _ in 0..64 {
        let rtp = UdpSocket::bind(any(0))?;
        let p = rtp.local_addr()?.port();
        if p % 2 == 1 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(any(p + 1)) {
            return Ok((rtp, Some(rtcp)));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free UDP port pair for RTP/RTCP",
    ))
}
