//! MJPEG over RTSP/RTP: a sans-IO streaming core, a one-thread server and a player.
//!
//! Data flow, top to bottom:
//! 1. [`media`] indexes an MJPEG file (lab 5-digit format or raw JPEG stream) once; the
//!    server reads its frames from disk by offset when they are due, through a bounded cache
//!    shared by every session.
//! 2. [`jpeg`] reads each frame's headers and decides whether RFC 2435 can carry it.
//! 3. [`rtp`] cuts a frame into RTP packets (RFC 3550, RFC 2435) and puts them back together;
//!    RTCP reports ride beside them.
//! 4. [`rtsp`] parses and writes RTSP 1.0 messages (RFC 2326), typed headers and SDP; [`http`]
//!    parses HTTP/1.1 requests on the same port (pages, MJPEG to browsers, the RTSP tunnel).
//! 5. [`server`] drives all of the above from one mio reactor: sessions stream from sources
//!    (movies, playlists, live publishers, relays) over any transport (UDP, TCP interleaved,
//!    multicast, HTTP). [`client`] is the other end: a sans-IO client engine, driven by a thread
//!    for [`player`] (the UI) and by the server's reactor for relays.
//!
//! Everything above `server`, and `client::engine`, is sans-IO: no sockets, no clock reads,
//! tested on byte vectors and virtual time.

pub mod client;
pub mod error;
pub mod http;
pub mod jpeg;
pub mod media;
pub mod player;
pub mod rtp;
pub mod rtsp;
pub mod server;
#[cfg(test)]
mod testutil;

pub use error::Error;
