//! RTP and RTCP (RFC 3550) and the JPEG payload format (RFC 2435).
//!
//! - [`packet`]: a checked view over a received RTP packet and a header writer.
//! - [`seq`]: sequence and timestamp arithmetic across wrap-around; loss and jitter statistics.
//! - [`rtcp`]: sender and receiver reports, SDES, BYE, compound packets.
//! - [`jpeg`]: frames to RFC 2435 payloads and back, and the lab client's whole-frame payloads.

pub mod jpeg;
pub mod packet;
pub mod rtcp;
pub mod seq;

pub use packet::{RtpError, RtpHeader, RtpPacket};
