//! HTTP/1.1 on rtspd's port, sans-IO: what the server needs to answer browsers, scrapers and
//! RTSP-over-HTTP tunnels on the same connections RTSP arrives on.
//!
//! - [`request`]: which protocol a connection speaks (from its first request line), and an
//!   incremental request-head parser (RFC 9112 §2-§5) with the RTSP limits;
//! - [`response`]: status lines, headers, `Date` (RFC 9110 §5.6.7), the multipart parts of an
//!   MJPEG stream;
//! - [`range`]: `Range: bytes=` (RFC 9110 §14), one range or the whole file;
//! - [`tunnel`]: the QuickTime RTSP-over-HTTP tunnel's base64 body, decoded in 4-character
//!   groups across any split;
//! - [`url`]: request targets split into a percent-decoded path and a query.
//!
//! Nothing here reads a socket or the clock; the server's `web` module decides what to answer.

pub mod range;
pub mod request;
pub mod response;
pub mod tunnel;
pub mod url;
