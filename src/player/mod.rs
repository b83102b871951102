//! rtsp-sdl's user side, on top of [`crate::client`]: the player's model ([`model`]), what keys
//! and buttons do ([`control`]), the play queue ([`queue`]) and the URL lists that fill it
//! ([`playlist`]), the overlay's text, font and layout ([`overlay`]), statistics
//! ([`stats`]), still images ([`snapshot`]), the headless loop and the stop conditions both modes
//! share ([`run`]), and the SDL window ([`window`], with the `player` feature). Everything but
//! the window is free of SDL and tested.

pub mod control;
pub mod model;
pub mod overlay;
pub mod playlist;
pub mod queue;
pub mod run;
pub mod snapshot;
pub mod stats;
#[cfg(feature = "player")]
pub mod window;

pub use model::Player;
