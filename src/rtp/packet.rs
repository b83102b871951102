//! RTP fixed header (RFC 3550 §5.1): a view that validates once, then cannot panic, and a writer
//! into a caller's buffer so the send path allocates nothing.

use std::fmt;

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    TooShort { len: usize, need: usize },
    Version(u8),
    BadPadding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::TooShort { len, need } => {
                write!(f, "RTP packet of {len} bytes, header needs {need}")
            }
            RtpError::Version(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::BadPadding => f.write_str("RTP padding longer than the payload"),
        }
    }
}

impl std::error::Error for RtpError {}

/// A received RTP packet whose lengths were checked by [`RtpPacket::new_checked`].
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    data: &'a [u8],
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Validates version, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).
    pub fn new_checked(data: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if data.len() < RtpHeader::LEN {
            return Err(RtpError::TooShort {
                len: data.len(),
                need: RtpHeader::LEN,
            });
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let csrc = usize::from(data[0] & 0x0F);
        let mut start = RtpHeader::LEN + 4 * csrc;
        if data.len() < start {
            return Err(RtpError::TooShort {
                len: data.len(),
                need: start,
            });
        }
        if data[0] & 0x10 != 0 {
            if data.len() < start + 4 {
                return Err(RtpError::TooShort {
                    len: data.len(),
                    need: start + 4,
                });
            }
            let words = usize::from(u16::from_be_bytes([data[start + 2], data[start + 3]]));
            start += 4 + 4 * words;
            if data.len() < start {
                return Err(RtpError::TooShort {
                    len: data.len(),
                    need: start,
                });
            }
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            let pad = usize::from(data[end - 1]);
            if pad == 0 || pad > end - start {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            data,
            payload_start: start,
            payload_end: end,
        })
    }

    pub fn marker(&self) -> bool {
        self.data[1] & 0x80 != 0
    }

    pub fn payload_type(&self) -> u8 {
        self.data[1] & 0x7F
    }

    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.data[2], self.data[3]])
    }

    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.data[4], self.data[5], self.data[6], self.data[7]])
    }

    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.data[8], self.data[9], self.data[10], self.data[11]])
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.payload_start..self.payload_end]
    }

    /// The header fields, for re-serialising.
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence: self.sequence(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
        }
    }
}

/// The fields rtspd sets in every packet it sends (no CSRCs, extension or padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    pub const LEN: usize = 12;

    pub fn write(&self, buf: &mut [u8; Self::LEN]) {
        buf[0] = 0x80;
        buf[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        buf[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        buf[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0; Self::LEN];
        self.write(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // V=2, M=1, PT=26, seq 0x1234, ts 0xDEADBEEF, SSRC 0x01020304, then 3 payload bytes.
    const PACKET: [u8; 15] = [
        0x80, 0x9A, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 9, 8, 7,
    ];

    #[test]
    fn deconstruct() {
        let p = RtpPacket::new_checked(&PACKET).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 26);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 0xDEAD_BEEF);
        assert_eq!(p.ssrc(), 0x0102_0304);
        assert_eq!(p.payload(), &[9, 8, 7]);
    }

    #[test]
    fn construct() {
        let h = RtpHeader {
            marker: true,
            payload_type: 26,
            sequence: 0x1234,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0102_0304,
        };
        assert_eq!(h.to_bytes(), PACKET[..12]);
        assert_eq!(RtpPacket::new_checked(&PACKET).unwrap().header(), h);
    }

    #[test]
    fn csrc_extension_and_padding() {
        // CC=1, X=1, P=1: CSRC word, extension header with 1 word, payload [5], 3 bytes padding.
        let mut p = vec![0xB1, 26, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
        p.extend_from_slice(&[0, 0, 0, 9]); // CSRC
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension
        p.extend_from_slice(&[5, 0, 0, 3]);
        let v = RtpPacket::new_checked(&p).unwrap();
        assert_eq!(v.payload(), &[5]);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            RtpPacket::new_checked(&PACKET[..11]).unwrap_err(),
            RtpError::TooShort { len: 11, need: 12 }
        );
        let mut v1 = PACKET;
        v1[0] = 0x40;
        assert_eq!(
            RtpPacket::new_checked(&v1).unwrap_err(),
            RtpError::Version(1)
        );
        let mut cc = PACKET;
        cc[0] = 0x8F; // 15 CSRCs announced, none present
        assert!(matches!(
            RtpPacket::new_checked(&cc),
            Err(RtpError::TooShort { .. })
        ));
        let mut pad = PACKET;
        pad[0] = 0xA0;
        pad[14] = 200;
        assert_eq!(
            RtpPacket::new_checked(&pad).unwrap_err(),
            RtpError::BadPadding
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(p) = RtpPacket::new_checked(&data) {
                let _ = (p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc(), p.payload());
            }
        }

        #[test]
        fn header_round_trip(m: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32) {
            let h = RtpHeader { marker: m, payload_type: pt, sequence: seq, timestamp: ts, ssrc };
            let bytes = h.to_bytes();
            proptest::prop_assert_eq!(RtpPacket::new_checked(&bytes).unwrap().header(), h);
        }
    }
}
