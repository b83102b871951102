//! RTP and RTCP (placeholder).
