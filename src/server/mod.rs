//! rtspd: the server. [`core`] holds the protocol logic (sans-IO); [`reactor`] drives it from one
//! mio thread with the sockets; the rest are its parts.

pub mod auth;
pub mod catalog;
pub mod config;
pub mod conn;
pub mod core;
pub mod reactor;
pub mod signals;
pub mod stream;
pub mod timer;
pub mod udp;

pub use config::Config;
pub use reactor::{Server, ShutdownHandle, StartError};
