//! The RTSP/RTP client, apart from any window: the sans-IO protocol engine ([`engine`]), the
//! thread that drives it with real sockets for the player ([`driver`]), its RTP/RTCP sockets,
//! unicast or multicast ([`sockets`]), what to play ([`target`]), the UDP reorder buffer
//! ([`reorder`]), the recorder the driver writes received frames with ([`record`]) and the marks
//! on the way to the first frame ([`timeline`]). The player's UI is in [`crate::player`].

pub mod driver;
pub mod engine;
pub mod record;
pub mod reorder;
pub mod sockets;
pub mod target;
pub mod timeline;

pub use driver::{Client, Counters, Event, Frame, Options};
pub use engine::{Command, Dialect, PlayerState};
