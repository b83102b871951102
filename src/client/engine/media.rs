//! RTP and RTCP for the engine: reception statistics (RFC 3550 A.1, A.3, A.8), the UDP reorder
//! buffer, RFC 2435 reassembly, the movie position from PLAY's Range and RTP-Info (RFC 2326
//! §12.29, §12.33), receiver reports with SDES CNAME (RFC 3550 §6.4.2, §6.5.1), sender reports
//! for LSR/DLSR and BYE (§6.4.1, §6.6).

use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, info};

use super::{request::Kind, Transmit};
use super::{Config, Dialect, Engine, EngineEvent, MediaTransport, PlayerState, ReceivedFrame};
use crate::client::reorder::Reorder;
use crate::rtp::jpeg::Depacketizer;
use crate::rtp::packet::RtpPacket;
use crate::rtp::rtcp;
use crate::rtp::seq::{ts_diff, ReceptionStats};

/// RFC 2435 payload type, and the 90 kHz clock of video RTP timestamps (RFC 3551 §5).
const PT_JPEG: u8 = 26;
const VIDEO_CLOCK: f64 = 90_000.0;

/// Receiving state, apart from the RTSP side.
pub(super) struct MediaState {
    depack: Depacketizer,
    pub reorder: Reorder,
    reception: ReceptionStats,
    /// The SSRC the statistics are about.
    sender_ssrc: Option<u32>,
    /// The last SR's middle NTP bits and when it came (for LSR/DLSR).
    last_sr: Option<(u32, Instant)>,
    /// npt start and the RTP time that matches it, from PLAY's reply.
    pub anchor: Option<(f64, Option<u32>)>,
    next_report: Instant,
    /// Arrival times for jitter count from here, in RTP timestamp units.
    epoch: Instant,
    /// Where receiver reports go over UDP: the server's RTCP port, from SETUP's reply.
    pub server_rtcp: Option<SocketAddr>,
    /// Interleaved RTP and RTCP channels (what we asked for, or what the server chose).
    pub channels: (u8, u8),
}

impl MediaState {
    pub(super) fn new(config: &Config, now: Instant) -> MediaState {
        MediaState {
            depack: Depacketizer::new(config.max_frame),
            reorder: Reorder::new(config.reorder_window, config.reorder_wait),
            reception: ReceptionStats::default(),
            sender_ssrc: None,
            last_sr: None,
            anchor: None,
            next_report: now + config.report_interval,
            epoch: now,
            server_rtcp: None,
            channels: (0, 1),
        }
    }

    /// After a seek: the old position's frames may still be in flight, so reassembly starts
    /// afresh (the statistics go on: it is the same stream).
    pub(super) fn restart(&mut self, config: &Config) {
        self.depack = Depacketizer::new(config.max_frame);
        self.reorder.reset();
    }
}

impl Engine {
    /// An RTP packet from the server (by UDP, or interleaved when `via_udp` is false).
    pub(super) fn on_rtp(&mut self, data: &[u8], now: Instant, via_udp: bool) {
        let Ok(p) = RtpPacket::new_checked(data) else {
            debug!("not an RTP packet ({} bytes)", data.len());
            return;
        };
        let m = &mut self.media;
        if m.sender_ssrc != Some(p.ssrc()) {
            m.sender_ssrc = Some(p.ssrc());
            m.reception = ReceptionStats::default();
        }
        let arrival = (now.duration_since(m.epoch).as_secs_f64() * VIDEO_CLOCK) as u64 as u32;
        m.reception.record(p.sequence(), p.timestamp(), arrival);
        self.counters.packets += 1;
        self.counters.bytes += data.len() as u64;
        self.counters.lost_packets = m.reception.lost();
        if p.payload_type() != PT_JPEG {
            self.counters.other_payloads += 1;
            self.emit(EngineEvent::Rtp {
                payload_type: p.payload_type(),
                packet: data.to_vec(),
            });
            return;
        }
        if via_udp {
            let late = m.reorder.late;
            m.reorder.push(p.sequence(), data.to_vec(), now);
            self.counters.late_packets += m.reorder.late - late;
            self.drain_reorder(now);
        } else {
            self.depacketize(&p, now);
        }
    }

    pub(super) fn on_interleaved(&mut self, channel: u8, data: &[u8], now: Instant) {
        if self.config.transport != MediaTransport::Tcp {
            return;
        }
        if channel == self.media.channels.0 {
            self.on_rtp(data, now, false);
        } else if channel == self.media.channels.1 {
            self.on_rtcp(data, now);
        }
    }

    /// Packets the reorder buffer lets go (in order, or after giving up on a gap).
    pub(super) fn drain_reorder(&mut self, now: Instant) {
        while let Some(data) = self.media.reorder.pop(now) {
            if let Ok(p) = RtpPacket::new_checked(&data) {
                self.depacketize(&p, now);
            }
        }
    }

    fn depacketize(&mut self, p: &RtpPacket<'_>, now: Instant) {
        // Media counts while playing, and while PLAY is in flight: a server may send the first
        // frame before its reply gets here (and the lab server's replies arrive only after a
        // grace time). Otherwise these are stragglers after PAUSE.
        let play_pending = self
            .pending
            .as_ref()
            .is_some_and(|p| matches!(p.kind, Kind::Play(_)));
        if self.state != PlayerState::Playing && !play_pending {
            return;
        }
        let depack = &mut self.media.depack;
        let before = depack.dropped.total();
        if let Err(e) = depack.push(p) {
            debug!("RTP JPEG: {e}");
        }
        self.counters.frames_dropped += depack.dropped.total() - before;
        while let Some(f) = self.media.depack.pull() {
            self.counters.frames += 1;
            let position = self.position(f.timestamp);
            self.emit(EngineEvent::Frame(ReceivedFrame {
                jpeg: f.data,
                timestamp: f.timestamp,
                position,
                completed: now,
                width: f.width,
                height: f.height,
                q: f.q,
            }));
        }
    }

    /// Seconds into the movie of RTP time `ts`. Without RTP-Info, the first frame after PLAY
    /// stands for the Range's start.
    fn position(&mut self, ts: u32) -> Option<f64> {
        let (start, rtptime) = self.media.anchor.as_mut()?;
        let base = *rtptime.get_or_insert(ts);
        Some(*start + f64::from(ts_diff(ts, base)) / VIDEO_CLOCK)
    }

    pub(super) fn on_rtcp(&mut self, data: &[u8], now: Instant) {
        self.counters.rtcp_received += 1;
        for packet in rtcp::Compound::new(data).flatten() {
            let m = &mut self.media;
            match packet {
                rtcp::Packet::SenderReport(sr) if m.sender_ssrc.is_none_or(|s| s == sr.ssrc) => {
                    m.last_sr = Some((sr.ntp.middle(), now));
                }
                rtcp::Packet::Bye(bye) if m.sender_ssrc.is_none_or(|s| bye.ssrcs.contains(&s)) => {
                    info!(
                        "the server said BYE{}",
                        bye.reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                    // The source has left (RFC 3550 §6.6): no more reports about it.
                    m.sender_ssrc = None;
                    m.last_sr = None;
                    if self.state == PlayerState::Playing {
                        self.set_state(PlayerState::Paused);
                    }
                    // A play queue moves on when its entry's source says it is done.
                    self.emit(EngineEvent::Bye(bye.reason));
                }
                _ => {}
            }
        }
    }

    /// When the next receiver report is due, if one can be sent: a standard server, a sender
    /// heard from, and somewhere to send it.
    pub(super) fn report_deadline(&self) -> Option<Instant> {
        let m = &self.media;
        let reachable = match self.config.transport {
            MediaTransport::Udp { .. } | MediaTransport::Multicast => m.server_rtcp.is_some(),
            MediaTransport::Tcp => true,
        };
        (self.dialect == Dialect::Standard && m.sender_ssrc.is_some() && reachable)
            .then_some(m.next_report)
    }

    pub(super) fn send_receiver_report(&mut self, now: Instant) {
        let m = &mut self.media;
        m.next_report = now + self.config.report_interval;
        let Some(sender) = m.sender_ssrc else {
            return;
        };
        let rep = m.reception.report();
        let (lsr, dlsr) = match m.last_sr {
            // DLSR in units of 1/65536 s (RFC 3550 §6.4.1).
            Some((mid, at)) => (
                mid,
                (now.duration_since(at).as_secs_f64() * 65_536.0) as u32,
            ),
            None => (0, 0),
        };
        let mut packet = Vec::with_capacity(96);
        rtcp::ReceiverReport {
            ssrc: self.config.ssrc,
            blocks: vec![rtcp::ReportBlock {
                ssrc: sender,
                fraction_lost: rep.fraction_lost,
                cumulative_lost: rep.cumulative_lost,
                highest_seq: rep.highest_seq,
                jitter: rep.jitter,
                lsr,
                dlsr,
            }],
        }
        .write(&mut packet);
        rtcp::Sdes::cname(self.config.ssrc, &self.config.cname).write(&mut packet);
        let transmit = match (self.config.transport, m.server_rtcp) {
            (MediaTransport::Udp { .. } | MediaTransport::Multicast, Some(to)) => {
                Transmit::Rtcp { to, data: packet }
            }
            (MediaTransport::Tcp, _) => {
                let len = (packet.len() as u16).to_be_bytes();
                let mut framed = vec![b'$', m.channels.1, len[0], len[1]];
                framed.extend_from_slice(&packet);
                Transmit::Rtsp(framed)
            }
            (MediaTransport::Udp { .. } | MediaTransport::Multicast, None) => return,
        };
        self.transmits.push_back(transmit);
        self.counters.reports_sent += 1;
    }
}
