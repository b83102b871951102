//! Multicast (RFC 2326 §12.39 `multicast`, RFC 3550 §6 for the group's RTCP): one sender per
//! source, shared by every viewer that asked for multicast.
//!
//! The group's sender is an internal session: it reads the source like any on-demand session (or
//! follows a shared timeline) and sends to `GROUP:PORT` from the server's own RTP socket, so the
//! group's ports are never held by rtspd and viewers on the same host can bind them. Viewers are
//! *member* sessions that send nothing: their SETUP gets the group, port and TTL the server
//! assigned (whatever `destination=` asked: the server picks, so no request aims a stream at a
//! third party), their PLAY joins the stream where it is (Range is ignored), their PAUSE pauses
//! no one else. The sender starts with the first member's PLAY and stops, with RTCP BYE, when the
//! last member leaves or times out; members' receiver reports, sent to the group's RTCP port or
//! to the server's, keep them alive.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Instant, SystemTime};

use log::info;

use crate::rtsp::headers::Transport;
use crate::server::core::sender::{Delivery, RtpSender, SenderStats};
use crate::server::core::session::{random_u16, random_u32, Feed, Session, State};
use crate::server::core::{Core, Outbox};
use crate::server::source::Cursor;

/// Addresses and ports to hand out: `--multicast NET/PREFIX`, from `port` up in pairs.
#[derive(Debug, Clone)]
pub struct Pool {
    first: u32,
    count: u32,
    port: u16,
    used: HashSet<u32>,
}

impl Pool {
    /// The usable addresses of `net/prefix` (not its first or last), ports from `port`.
    pub fn new(net: Ipv4Addr, prefix: u8, port: u16) -> Result<Pool, String> {
        if !net.is_multicast() {
            return Err(format!("{net} is not a multicast address (224.0.0.0/4)"));
        }
        if !(4..=30).contains(&prefix) {
            return Err(format!("/{prefix}: the prefix must be from 4 to 30"));
        }
        let mask = u32::MAX << (32 - prefix);
        let base = u32::from(net) & mask;
        let count = (!mask).saturating_sub(1);
        Ok(Pool {
            first: base + 1,
            count,
            port: port & !1,
            used: HashSet::new(),
        })
    }

    /// A free group and its RTP port (RTCP is the next), or None when all are taken.
    fn take(&mut self) -> Option<(Ipv4Addr, u16)> {
        let i = (0..self.count).find(|i| !self.used.contains(i))?;
        let port = u32::from(self.port) + 2 * (i % 1000);
        self.used.insert(i);
        Some((Ipv4Addr::from(self.first + i), u16::try_from(port).ok()?))
    }

    fn give_back(&mut self, addr: Ipv4Addr) {
        self.used.remove(&u32::from(addr).wrapping_sub(self.first));
    }
}

/// What the reactor must do for a group's RTCP port: listen on it (joined, shared with other
/// sockets) while the group exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    Join(SocketAddr),
    Leave(SocketAddr),
}

/// A group: the sender session's id is its key in `Core::groups`.
pub struct Group {
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub members: HashSet<u64>,
}

/// The multicast side of the core's state.
pub struct Multicast {
    pub pool: Pool,
    pub ttl: u8,
    /// Sender session id → group.
    pub groups: HashMap<u64, Group>,
    pub changes: VecDeque<GroupChange>,
}

impl Core {
    /// The group sender for `cursor`'s source (or `feed`), made if there is none: its session id,
    /// or None when the pool is empty.
    pub(super) fn group_for(&mut self, name: &str, feed: Feed, now: Instant) -> Option<u64> {
        let m = self.multicast.as_mut()?;
        if let Some((&id, _)) = m.groups.iter().find(|(_, g)| g.name == name) {
            return Some(id);
        }
        let (addr, port) = m.pool.take()?;
        let id = self.new_session_id();
        let ssrc = self.new_ssrc();
        let group = SocketAddr::new(IpAddr::V4(addr), port);
        let rtcp = SocketAddr::new(IpAddr::V4(addr), port + 1);
        let clock = match feed {
            Feed::Timeline(_) => super::pacing::TIMELINE_LEAD,
            _ => 0,
        };
        let sender = Session {
            id,
            name: name.to_string(),
            control_url: String::new(),
            feed,
            state: State::Ready,
            rtp: RtpSender {
                ssrc,
                next_seq: random_u16(),
                ts_base: random_u32(),
                delivery: Delivery::Udp {
                    rtp: group,
                    rtcp: Some(rtcp),
                },
                lab: false,
                stats: SenderStats::default(),
            },
            adapt: None,
            clock,
            anchor: (now, clock),
            timeline_origin: None,
            timer: None,
            phase: None,
            unreadable_run: 0,
            finished: false,
            conn: None,
            peer: group,
            last_seen: now,
            next_report: now,
        };
        let m = self.multicast.as_mut()?;
        m.groups.insert(
            id,
            Group {
                name: name.to_string(),
                addr,
                port,
                members: HashSet::new(),
            },
        );
        m.changes.push_back(GroupChange::Join(rtcp));
        self.sessions.insert(id, sender);
        self.by_ssrc.insert(ssrc, id);
        info!("multicast {name}: group {addr} port {port}-{}", port + 1);
        Some(id)
    }

    /// The Transport a member's SETUP reply carries.
    pub(super) fn group_transport(&self, group: u64) -> Option<Transport> {
        let m = self.multicast.as_ref()?;
        let g = m.groups.get(&group)?;
        let s = self.sessions.get(&group)?;
        Some(Transport {
            protocol: "RTP".into(),
            profile: "AVP".into(),
            multicast: true,
            destination: Some(g.addr.to_string()),
            port: Some((g.port, Some(g.port + 1))),
            server_port: Some((self.rtp_port, Some(self.rtp_port.wrapping_add(1)))),
            ttl: Some(m.ttl),
            ssrc: Some(s.rtp.ssrc),
            ..Transport::default()
        })
    }

    /// A member's PLAY: the group's sender starts if it is not running.
    pub(super) fn start_group(&mut self, group: u64, now: Instant) {
        let Some(s) = self.sessions.get_mut(&group) else {
            return;
        };
        if s.state == State::Playing {
            return;
        }
        s.state = State::Playing;
        info!("multicast {}: sending", s.name);
        self.start_pacing(group, now);
    }

    pub(super) fn join_group(&mut self, group: u64, member: u64) {
        if let Some(g) = self
            .multicast
            .as_mut()
            .and_then(|m| m.groups.get_mut(&group))
        {
            g.members.insert(member);
        }
    }

    /// A member left: the last one takes the group's sender with it.
    pub(super) fn leave_group(
        &mut self,
        group: u64,
        member: u64,
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Outbox,
    ) {
        let Some(m) = self.multicast.as_mut() else {
            return;
        };
        let Some(g) = m.groups.get_mut(&group) else {
            return;
        };
        g.members.remove(&member);
        if !g.members.is_empty() {
            return;
        }
        if let Some(g) = m.groups.remove(&group) {
            m.pool.give_back(g.addr);
            let rtcp = SocketAddr::new(IpAddr::V4(g.addr), g.port + 1);
            m.changes.push_back(GroupChange::Leave(rtcp));
            info!("multicast {}: last viewer gone", g.name);
        }
        self.end_session(group, "no viewers left", now, wall, out);
    }

    /// A receiver report about a group's sender from `ip` keeps that address's members alive.
    pub(super) fn refresh_members(&mut self, group: u64, ip: IpAddr, now: Instant) -> bool {
        let Some(g) = self.multicast.as_ref().and_then(|m| m.groups.get(&group)) else {
            return false;
        };
        let members: Vec<u64> = g.members.iter().copied().collect();
        for id in members {
            if let Some(s) = self.sessions.get_mut(&id) {
                if s.peer.ip() == ip {
                    s.last_seen = now;
                }
            }
        }
        true
    }

    /// Ports the reactor must open or close for groups' RTCP.
    pub fn poll_group_change(&mut self) -> Option<GroupChange> {
        self.multicast.as_mut()?.changes.pop_front()
    }

    /// Sessions that viewers hold (the groups' internal senders are not counted).
    pub(super) fn is_group_sender(&self, id: u64) -> bool {
        self.multicast
            .as_ref()
            .is_some_and(|m| m.groups.contains_key(&id))
    }
}

/// A feed for a group's sender over the same source as a member's.
pub(super) fn sender_feed(feed: &Feed) -> Feed {
    match feed {
        Feed::Cursor(c) => Feed::Cursor(Cursor::new(c.source.clone())),
        Feed::Timeline(t) => Feed::Timeline(*t),
        Feed::Group(g) => Feed::Group(*g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_out_each_address_once() {
        let mut p = Pool::new("239.255.42.0".parse().unwrap(), 30, 5004).unwrap();
        let a = p.take().unwrap();
        let b = p.take().unwrap();
        assert_eq!(a, ("239.255.42.1".parse().unwrap(), 5004));
        assert_eq!(b, ("239.255.42.2".parse().unwrap(), 5006));
        assert!(p.take().is_none(), "a /30 has two usable addresses");
        p.give_back(a.0);
        assert_eq!(p.take(), Some(a));
        assert!(Pool::new("10.0.0.0".parse().unwrap(), 24, 5004).is_err());
        assert!(Pool::new("239.0.0.0".parse().unwrap(), 31, 5004).is_err());
    }
}
