//! The reactor's bookkeeping of RTSP connections (a slab indexed by mio token, with counts per
//! peer for the connection limits) and the sockets side of the core's [`Outbox`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use log::debug;
use mio::net::UdpSocket;

use crate::server::conn::Conn;
use crate::server::core::{Backlog, Outbox};
use crate::server::udp::UdpSender;

/// Connections in slots indexed by token, with a free list.
#[derive(Default)]
pub(super) struct Conns {
    pub(super) slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    pub(super) count: usize,
    /// Open connections per peer address, for `max_connections_per_peer`.
    pub(super) per_peer: HashMap<IpAddr, usize>,
}

impl Conns {
    pub(super) fn insert(&mut self, conn: Conn) -> usize {
        self.count += 1;
        *self.per_peer.entry(conn.peer.ip()).or_insert(0) += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(conn);
                i
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len() - 1
            }
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Conn> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    pub(super) fn remove(&mut self, i: usize) -> Option<Conn> {
        let c = self.slots.get_mut(i)?.take()?;
        self.count -= 1;
        if let Some(n) = self.per_peer.get_mut(&c.peer.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&c.peer.ip());
            }
        }
        self.free.push(i);
        Some(c)
    }
}

/// The sockets side of [`Outbox`].
pub(super) struct Io<'a> {
    pub(super) rtp: &'a UdpSocket,
    pub(super) rtcp: &'a UdpSocket,
    pub(super) udp: &'a mut UdpSender,
    pub(super) conns: &'a mut Conns,
    pub(super) dirty: &'a mut Vec<usize>,
    pub(super) max_queue: usize,
}

impl Outbox for Io<'_> {
    fn rtp_udp(&mut self, dest: SocketAddr, packets: &[(&[u8], &[u8])]) -> usize {
        let outcome = self.udp.send_packets(self.rtp, dest, packets);
        if let Some(e) = &outcome.error {
            // On a shared unconnected socket an ICMP error may come from any earlier peer, so it
            // is counted, not pinned on this session.
            debug!("RTP send to {dest}: {e}");
        }
        outcome.sent_packets
    }

    fn rtcp_udp(&mut self, dest: SocketAddr, packet: &[u8]) {
        if let Err(e) = self.rtcp.send_to(packet, dest) {
            debug!("RTCP send to {dest}: {e}");
        }
    }

    fn backlog(&mut self, conn: usize) -> Option<Backlog> {
        let c = self.conns.get_mut(conn)?;
        Some(Backlog {
            queued: c.queued(),
            unsent: c.kernel_unsent(),
            written: c.written_total(),
        })
    }

    fn stream(&mut self, conn: usize, chunks: &[&[u8]]) -> bool {
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        c.push_media(chunks, usize::MAX);
        self.dirty.push(conn);
        true
    }

    fn interleaved(&mut self, conn: usize, chunks: &[&[u8]]) -> bool {
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        let ok = c.push_media(chunks, self.max_queue);
        if ok {
            self.dirty.push(conn);
        }
        ok
    }
}
