//! JPEG header parsing (placeholder, filled by the core work).
