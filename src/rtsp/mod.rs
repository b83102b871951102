//! RTSP 1.0 (RFC 2326): messages, typed headers, SDP and the session state machine.

pub mod auth;
pub mod headers;
pub mod message;
pub mod sdp;
pub mod session;

pub use message::{
    parse, Headers, Limits, Message, Method, ParseError, Request, Response, StatusCode,
};
