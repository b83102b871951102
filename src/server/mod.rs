//! rtspd: the server. [`core`] holds the protocol logic (sans-IO); [`source`] what sessions
//! stream from; [`reactor`] drives it all from one mio thread with the sockets; the rest are its
//! parts.

pub mod adapt;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod conn;
mod conns;
pub mod core;
mod groups;
mod input;
pub mod live;
pub mod reactor;
pub mod relay;
pub mod signals;
pub mod source;
pub mod timer;
mod timerfd;
pub mod udp;
pub mod web;
mod worker;

pub use config::Config;
pub use reactor::{Server, ShutdownHandle, StartError};
