//! rtsp-sdl's client, apart from the window: the RTSP/RTP engine that runs on its own thread
//! ([`net`]) and the sans-IO pieces the window and the headless mode share: the key and command
//! state machine ([`control`]), the UDP reorder buffer ([`reorder`]), statistics ([`stats`]),
//! the overlay's text, font and layout ([`overlay`]) and the recorder ([`record`]).

pub mod control;
pub mod net;
pub mod overlay;
pub mod player;
pub mod record;
pub mod reorder;
pub mod snapshot;
pub mod stats;
pub mod target;
