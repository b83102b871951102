//! One session's RTP sender: its SSRC, sequence numbers and timestamp base, where its packets
//! go, and what it has sent (RFC 3550 §5.1 header fields, §6.4.1 sender reports).
//!
//! A frame's payloads are made once and shared; a sender only writes 12-byte headers (plus the
//! 4-byte interleave prefix over TCP) into scratch space it keeps, so sending allocates nothing
//! per frame.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::rtp::packet::RtpHeader;
use crate::rtp::rtcp;
use crate::server::core::{ConnId, Outbox, SERVER};
use crate::server::source::{Carriage, Frame};

/// RTP payload type of JPEG (RFC 3551 §6).
pub const PT_JPEG: u8 = 26;

/// Whole JPEGs over this size do not fit one UDP datagram with headers; the lab mode skips them.
pub const MAX_WHOLE_FRAME: usize = 65_000;

/// Where a session's packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Udp {
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    },
    Tcp {
        conn: ConnId,
        rtp: u8,
        rtcp: u8,
    },
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Udp { rtp, .. } => write!(f, "UDP to {rtp}"),
            Delivery::Tcp { rtp, rtcp, .. } => write!(f, "TCP interleaved {rtp}-{rtcp}"),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SenderStats {
    pub frames: u64,
    pub packets: u64,
    pub octets: u64,
    /// Frames not sent whole: a full TCP queue or UDP socket buffer, or too large for lab mode.
    pub frames_dropped: u64,
}

/// How one frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Whole,
    /// Not sent whole; `error` when the socket refused (rather than a full queue or a frame the
    /// lab mode cannot carry).
    Dropped {
        error: bool,
    },
}

/// Header scratch space, shared by all senders (one frame is sent at a time).
#[derive(Default)]
pub struct Scratch {
    headers: Vec<[u8; RtpHeader::LEN]>,
    prefixes: Vec<[u8; 4]>,
}

pub struct RtpSender {
    pub ssrc: u32,
    pub next_seq: u16,
    pub ts_base: u32,
    pub delivery: Delivery,
    /// The classic lab client: one whole JPEG per packet, numbered from 1.
    pub lab: bool,
    pub stats: SenderStats,
}

impl RtpSender {
    /// Sends `frame` stamped `timestamp` (already offset by `ts_base`).
    pub fn send_frame(
        &mut self,
        frame: &Frame,
        timestamp: u32,
        scratch: &mut Scratch,
        out: &mut dyn Outbox,
    ) -> Sent {
        if self.lab {
            return self.send_whole(&frame.jpeg, timestamp, out);
        }
        let payloads = &frame.payloads;
        let n = payloads.len();
        if n == 0 {
            return Sent::Dropped { error: false };
        }
        scratch.headers.resize(n, [0; RtpHeader::LEN]);
        let (payload_type, markers) = match &frame.carriage {
            Carriage::Jpeg => (PT_JPEG, None),
            Carriage::Passthrough {
                payload_type,
                markers,
                ..
            } => (*payload_type, Some(markers)),
        };
        let mut octets = 0;
        for (i, (header, payload)) in scratch.headers.iter_mut().zip(payloads.iter()).enumerate() {
            RtpHeader {
                marker: markers.map_or(i + 1 == n, |m| m.get(i).copied().unwrap_or(false)),
                payload_type,
                sequence: self.next_seq.wrapping_add(i as u16),
                timestamp,
                ssrc: self.ssrc,
            }
            .write(header);
            octets += payload.len();
        }
        match self.delivery {
            Delivery::Udp { rtp, .. } => {
                let packets: Vec<(&[u8], &[u8])> = scratch
                    .headers
                    .iter()
                    .map(|h| &h[..])
                    .zip(payloads.iter())
                    .collect();
                let sent = out.rtp_udp(rtp, &packets);
                // Sequence numbers advance even for packets the socket refused, so the receiver
                // sees the loss (RFC 3550 §6.4.1 counts it).
                self.next_seq = self.next_seq.wrapping_add(n as u16);
                self.count(sent == n, sent, octets, sent < n)
            }
            Delivery::Tcp { conn, rtp, .. } => {
                scratch.prefixes.resize(n, [0; 4]);
                for (prefix, payload) in scratch.prefixes.iter_mut().zip(payloads.iter()) {
                    let len = (RtpHeader::LEN + payload.len()) as u16;
                    *prefix = [b'$', rtp, (len >> 8) as u8, len as u8];
                }
                let mut chunks: Vec<&[u8]> = Vec::with_capacity(3 * n);
                for ((prefix, header), payload) in scratch
                    .prefixes
                    .iter()
                    .zip(&scratch.headers)
                    .zip(payloads.iter())
                {
                    chunks.extend_from_slice(&[&prefix[..], &header[..], payload]);
                }
                let queued = out.interleaved(conn, &chunks);
                if queued {
                    // Over TCP a dropped frame is never on the wire, so its numbers are not used.
                    self.next_seq = self.next_seq.wrapping_add(n as u16);
                }
                self.count(queued, if queued { n } else { 0 }, octets, false)
            }
        }
    }

    /// The lab dialect: the whole JPEG in one packet.
    fn send_whole(&mut self, jpeg: &[u8], timestamp: u32, out: &mut dyn Outbox) -> Sent {
        if jpeg.len() > MAX_WHOLE_FRAME {
            return self.count(false, 0, 0, false);
        }
        let mut header = [0u8; RtpHeader::LEN];
        RtpHeader {
            marker: true,
            payload_type: PT_JPEG,
            sequence: self.next_seq,
            timestamp,
            ssrc: self.ssrc,
        }
        .write(&mut header);
        self.next_seq = self.next_seq.wrapping_add(1);
        match self.delivery {
            Delivery::Udp { rtp, .. } => {
                let sent = out.rtp_udp(rtp, &[(&header, jpeg)]);
                self.count(sent == 1, sent, jpeg.len(), sent == 0)
            }
            // The lab client has no TCP transport.
            Delivery::Tcp { .. } => self.count(false, 0, 0, false),
        }
    }

    fn count(&mut self, whole: bool, packets: usize, octets: usize, error: bool) -> Sent {
        if whole {
            self.stats.frames += 1;
            self.stats.packets += packets as u64;
            self.stats.octets += octets as u64;
            Sent::Whole
        } else {
            self.stats.frames_dropped += 1;
            Sent::Dropped { error }
        }
    }

    /// A sender report (RFC 3550 §6.4.1) whose NTP time `wall` and RTP timestamp `rtp_now` name
    /// the same instant, with SDES CNAME, and BYE when the session ends. The lab client has no
    /// RTCP. Returns the report's NTP time, middle 32 bits (what a receiver's LSR will echo).
    pub fn send_report(
        &self,
        rtp_now: u32,
        wall: SystemTime,
        bye: bool,
        out: &mut dyn Outbox,
    ) -> u32 {
        let since_epoch = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut packet = Vec::with_capacity(128);
        let ntp = rtcp::NtpTimestamp::from_unix(since_epoch);
        rtcp::SenderReport {
            ssrc: self.ssrc,
            ntp,
            rtp_timestamp: rtp_now,
            packet_count: self.stats.packets as u32,
            octet_count: self.stats.octets as u32,
            blocks: Vec::new(),
        }
        .write(&mut packet);
        rtcp::Sdes::cname(self.ssrc, SERVER).write(&mut packet);
        if bye {
            rtcp::Bye {
                ssrcs: vec![self.ssrc],
                reason: None,
            }
            .write(&mut packet);
        }
        match self.delivery {
            Delivery::Udp {
                rtcp: Some(dest), ..
            } => out.rtcp_udp(dest, &packet),
            Delivery::Udp { rtcp: None, .. } => {}
            Delivery::Tcp { conn, rtcp, .. } => {
                let len = packet.len() as u16;
                let prefix = [b'$', rtcp, (len >> 8) as u8, len as u8];
                // A report lost to a full queue is harmless: the next one follows in 5 s.
                let _ = out.interleaved(conn, &[&prefix, &packet]);
            }
        }
        ntp.middle()
    }
}
