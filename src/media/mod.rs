//! MJPEG movie files (placeholder).
