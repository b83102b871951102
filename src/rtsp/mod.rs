//! RTSP 1.0 (placeholder).
