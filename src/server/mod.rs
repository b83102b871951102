//! rtspd: the server's building blocks.

pub mod catalog;
pub mod signals;
pub mod timer;
pub mod udp;
