//! The rtspd server (placeholder).
