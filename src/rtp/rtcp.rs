//! RTCP (RFC 3550 §6): sender and receiver reports (§6.4), SDES CNAME (§6.5), BYE (§6.6), and
//! compound packets (§6.1) parsed by a bounds-checked iterator and written into a caller's Vec.

use std::fmt;
use std::time::Duration;

/// Why bytes are not a well-formed RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    TooShort { at: usize },
    Version { at: usize, version: u8 },
    LengthBeyondEnd { at: usize },
    Malformed { at: usize, what: &'static str },
}

impl fmt::Display for RtcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcpError::TooShort { at } => {
                write!(f, "RTCP packet at byte {at} shorter than its header")
            }
            RtcpError::Version { at, version } => {
                write!(f, "RTCP packet at byte {at}: version {version}, expected 2")
            }
            RtcpError::LengthBeyondEnd { at } => {
                write!(f, "RTCP packet at byte {at}: length runs past the datagram")
            }
            RtcpError::Malformed { at, what } => write!(f, "RTCP packet at byte {at}: {what}"),
        }
    }
}

impl std::error::Error for RtcpError {}

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

/// Seconds from 1900 (NTP era 0) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp: seconds since 1900 and a binary fraction (RFC 3550 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    pub fn from_unix(since_epoch: Duration) -> NtpTimestamp {
        let secs = since_epoch.as_secs() + NTP_UNIX_OFFSET;
        let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    pub fn to_unix(self) -> Duration {
        let secs = (self.0 >> 32).saturating_sub(NTP_UNIX_OFFSET);
        let nanos = ((self.0 & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
        Duration::new(secs, nanos as u32)
    }

    /// The middle 32 bits, as LSR carries it (§6.4.1).
    pub fn middle(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// One reception report block (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed.
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

impl ReportBlock {
    const LEN: usize = 24;

    fn parse(b: &[u8]) -> ReportBlock {
        let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
        // Sign-extend the 24-bit count.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            lsr: be32(b, 16),
            dlsr: be32(b, 20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        let lost = (self.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1) as u32) & 0x00FF_FFFF;
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&self.highest_seq.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.lsr.to_be_bytes());
        out.extend_from_slice(&self.dlsr.to_be_bytes());
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    pub ntp: NtpTimestamp,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    pub blocks: Vec<ReportBlock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport {
    pub ssrc: u32,
    pub blocks: Vec<ReportBlock>,
}

/// SDES with one CNAME item per chunk (the only item RFC 3550 requires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdes {
    pub chunks: Vec<(u32, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bye {
    pub ssrcs: Vec<u32>,
    pub reason: Option<String>,
}

/// One packet of a compound datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    Sdes(Sdes),
    Bye(Bye),
    /// APP, XR, feedback and the rest: kept by type, not interpreted.
    Other {
        packet_type: u8,
    },
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes the common header and returns where the length goes.
fn begin(out: &mut Vec<u8>, count: u8, packet_type: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1F), packet_type, 0, 0]);
    at
}

/// Pads to a 32-bit boundary and fills in the length in words minus one.
fn finish(out: &mut Vec<u8>, at: usize) {
    while (out.len() - at) % 4 != 0 {
        out.push(0);
    }
    let words = ((out.len() - at) / 4 - 1) as u16;
    out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
}

impl SenderReport {
    pub fn write(&self, out: &mut Vec<u8>) {
        let at = begin(out, self.blocks.len().min(31) as u8, PT_SR);
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.ntp.0.to_be_bytes());
        out.extend_from_slice(&self.rtp_timestamp.to_be_bytes());
        out.extend_from_slice(&self.packet_count.to_be_bytes());
        out.extend_from_slice(&self.octet_count.to_be_bytes());
        self.blocks.iter().take(31).for_each(|b| b.write(out));
        finish(out, at);
    }
}

impl ReceiverReport {
    pub fn write(&self, out: &mut Vec<u8>) {
        let at = begin(out, self.blocks.len().min(31) as u8, PT_RR);
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        self.blocks.iter().take(31).for_each(|b| b.write(out));
        finish(out, at);
    }
}

impl Sdes {
    pub fn cname(ssrc: u32, cname: &str) -> Sdes {
        Sdes {
            chunks: vec![(ssrc, cname.to_string())],
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let at = begin(out, self.chunks.len().min(31) as u8, PT_SDES);
        for (ssrc, cname) in self.chunks.iter().take(31) {
            let start = out.len();
            out.extend_from_slice(&ssrc.to_be_bytes());
            let text = &cname.as_bytes()[..cname.len().min(255)];
            out.extend_from_slice(&[1, text.len() as u8]);
            out.extend_from_slice(text);
            // The item list ends with a null octet, then pads the chunk to 32 bits (§6.5).
            out.push(0);
            while (out.len() - start) % 4 != 0 {
                out.push(0);
            }
        }
        finish(out, at);
    }
}

impl Bye {
    pub fn write(&self, out: &mut Vec<u8>) {
        let at = begin(out, self.ssrcs.len().min(31) as u8, PT_BYE);
        self.ssrcs
            .iter()
            .take(31)
            .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
        if let Some(reason) = &self.reason {
            let text = &reason.as_bytes()[..reason.len().min(255)];
            out.push(text.len() as u8);
            out.extend_from_slice(text);
        }
        finish(out, at);
    }
}

/// Iterates the packets of a compound RTCP datagram; stops after the first error.
pub struct Compound<'a> {
    data: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Compound<'a> {
    pub fn new(data: &'a [u8]) -> Compound<'a> {
        Compound {
            data,
            at: 0,
            failed: false,
        }
    }
}

impl Iterator for Compound<'_> {
    type Item = Result<Packet, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.data.len() {
            return None;
        }
        let result = parse_one(&self.data[self.at..], self.at);
        match &result {
            Ok((_, len)) => self.at += len,
            Err(_) => self.failed = true,
        }
        Some(result.map(|(p, _)| p))
    }
}

/// Parses the packet at the start of `b` (which sits at `at` in the datagram); returns it and its
/// length in bytes.
fn parse_one(b: &[u8], at: usize) -> Result<(Packet, usize), RtcpError> {
    if b.len() < 4 {
        return Err(RtcpError::TooShort { at });
    }
    let version = b[0] >> 6;
    if version != 2 {
        return Err(RtcpError::Version { at, version });
    }
    let count = usize::from(b[0] & 0x1F);
    let packet_type = b[1];
    let len = (usize::from(u16::from_be_bytes([b[2], b[3]])) + 1) * 4;
    if len > b.len() {
        return Err(RtcpError::LengthBeyondEnd { at });
    }
    let mut body = &b[4..len];
    if b[0] & 0x20 != 0 {
        let pad = usize::from(*body.last().ok_or(RtcpError::Malformed {
            at,
            what: "padding in an empty packet",
        })?);
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::Malformed {
                at,
                what: "bad padding",
            });
        }
        body = &body[..body.len() - pad];
    }
    let blocks = |b: &[u8]| -> Result<Vec<ReportBlock>, RtcpError> {
        if b.len() < count * ReportBlock::LEN {
            return Err(RtcpError::Malformed {
                at,
                what: "fewer report blocks than counted",
            });
        }
        Ok(b.chunks_exact(ReportBlock::LEN)
            .take(count)
            .map(ReportBlock::parse)
            .collect())
    };
    let packet = match packet_type {
        PT_SR => {
            if body.len() < 24 {
                return Err(RtcpError::Malformed {
                    at,
                    what: "sender report shorter than its sender info",
                });
            }
            Packet::SenderReport(SenderReport {
                ssrc: be32(body, 0),
                ntp: NtpTimestamp((u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8))),
                rtp_timestamp: be32(body, 12),
                packet_count: be32(body, 16),
                octet_count: be32(body, 20),
                blocks: blocks(&body[24..])?,
            })
        }
        PT_RR => {
            if body.len() < 4 {
                return Err(RtcpError::Malformed {
                    at,
                    what: "receiver report without SSRC",
                });
            }
            Packet::ReceiverReport(ReceiverReport {
                ssrc: be32(body, 0),
                blocks: blocks(&body[4..])?,
            })
        }
        PT_SDES => {
            let mut chunks = Vec::new();
            let mut rest = body;
            for _ in 0..count {
                if rest.len() < 4 {
                    return Err(RtcpError::Malformed {
                        at,
                        what: "SDES chunk cut short",
                    });
                }
                let ssrc = be32(rest, 0);
                let mut i = 4;
                let mut cname = None;
                loop {
                    match rest.get(i) {
                        None => {
                            return Err(RtcpError::Malformed {
                                at,
                                what: "SDES items without end",
                            })
                        }
                        Some(0) => break,
                        Some(&item) => {
                            let n = usize::from(*rest.get(i + 1).ok_or(RtcpError::Malformed {
                                at,
                                what: "SDES item cut short",
                            })?);
                            let text = rest.get(i + 2..i + 2 + n).ok_or(RtcpError::Malformed {
                                at,
                                what: "SDES item cut short",
                            })?;
                            if item == 1 {
                                cname = Some(String::from_utf8_lossy(text).into_owned());
                            }
                            i += 2 + n;
                        }
                    }
                }
                let chunk_len = (i + 1).div_ceil(4) * 4;
                chunks.push((ssrc, cname.unwrap_or_default()));
                rest = rest.get(chunk_len..).unwrap_or(&[]);
            }
            Packet::Sdes(Sdes { chunks })
        }
        PT_BYE => {
            if body.len() < count * 4 {
                return Err(RtcpError::Malformed {
                    at,
                    what: "BYE with fewer SSRCs than counted",
                });
            }
            let ssrcs = (0..count).map(|i| be32(body, i * 4)).collect();
            let reason = body.get(count * 4).and_then(|&n| {
                body.get(count * 4 + 1..count * 4 + 1 + usize::from(n))
                    .map(|t| String::from_utf8_lossy(t).into_owned())
            });
            Packet::Bye(Bye { ssrcs, reason })
        }
        other => Packet::Other { packet_type: other },
    };
    Ok((packet, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_bytes() {
        let sr = SenderReport {
            ssrc: 0x0102_0304,
            ntp: NtpTimestamp(0x1122_3344_5566_7788),
            rtp_timestamp: 0xAABB_CCDD,
            packet_count: 7,
            octet_count: 1000,
            blocks: vec![],
        };
        let mut out = Vec::new();
        sr.write(&mut out);
        assert_eq!(
            out,
            [
                0x80, 200, 0, 6, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xAA,
                0xBB, 0xCC, 0xDD, 0, 0, 0, 7, 0, 0, 0x03, 0xE8
            ]
        );
        assert_eq!(
            Compound::new(&out).collect::<Vec<_>>(),
            vec![Ok(Packet::SenderReport(sr))]
        );
    }

    #[test]
    fn compound_round_trip() {
        let block = ReportBlock {
            ssrc: 9,
            fraction_lost: 64,
            cumulative_lost: -3,
            highest_seq: 70000,
            jitter: 12,
            lsr: 5,
            dlsr: 6,
        };
        let rr = ReceiverReport {
            ssrc: 1,
            blocks: vec![block],
        };
        let sdes = Sdes::cname(1, "player@127.0.0.1");
        let bye = Bye {
            ssrcs: vec![1, 2],
            reason: Some("done".into()),
        };
        let mut out = Vec::new();
        rr.write(&mut out);
        sdes.write(&mut out);
        bye.write(&mut out);
        assert_eq!(out.len() % 4, 0);
        let got: Vec<_> = Compound::new(&out).collect();
        assert_eq!(
            got,
            vec![
                Ok(Packet::ReceiverReport(rr)),
                Ok(Packet::Sdes(sdes)),
                Ok(Packet::Bye(bye))
            ]
        );
    }

    #[test]
    fn ntp_conversion() {
        let t = NtpTimestamp::from_unix(Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(t.0 >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert_eq!(t.0 & 0xFFFF_FFFF, 1 << 31);
        assert_eq!(t.to_unix(), Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(t.middle(), ((t.0 >> 16) & 0xFFFF_FFFF) as u32);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Compound::new(&[0x80, 201]).next(),
            Some(Err(RtcpError::TooShort { at: 0 }))
        );
        assert_eq!(
            Compound::new(&[0x40, 201, 0, 0]).next(),
            Some(Err(RtcpError::Version { at: 0, version: 1 }))
        );
        assert_eq!(
            Compound::new(&[0x80, 201, 0, 5, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::LengthBeyondEnd { at: 0 }))
        );
        // RR announcing a block it does not carry.
        assert!(matches!(
            Compound::new(&[0x81, 201, 0, 1, 0, 0, 0, 1]).next(),
            Some(Err(RtcpError::Malformed { .. }))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for p in Compound::new(&data) {
                let _ = p;
            }
        }

        #[test]
        fn report_block_round_trip(ssrc: u32, fl: u8, lost in -(1i32 << 23)..(1 << 23), hs: u32, j: u32, lsr: u32, dlsr: u32) {
            let rr = ReceiverReport { ssrc: 5, blocks: vec![ReportBlock { ssrc, fraction_lost: fl, cumulative_lost: lost, highest_seq: hs, jitter: j, lsr, dlsr }] };
            let mut out = Vec::new();
            rr.write(&mut out);
            proptest::prop_assert_eq!(Compound::new(&out).next(), Some(Ok(Packet::ReceiverReport(rr))));
        }
    }
}
