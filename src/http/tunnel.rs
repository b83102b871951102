//! RTSP tunnelled over HTTP, the QuickTime scheme (Apple's "Tunneling QuickTime RTSP and RTP
//! over HTTP"; live555, VLC, ffmpeg and GStreamer speak it): the wire pieces.
//!
//! A client opens two connections that carry the same `x-sessioncookie`. The GET is answered
//! `200 OK` with `Content-Type: application/x-rtsp-tunnelled` and then carries the server's RTSP
//! replies and interleaved RTP. The POST carries the client's RTSP requests, base64-encoded, for
//! as long as it stays open; its `Content-Length` is a large dummy and it gets no reply.
//!
//! [`Base64Reader`] decodes that body as it arrives, in pieces of any size: 4-character groups,
//! the incomplete last group kept for the next piece. Clients encode each request on its own
//! (ffmpeg does), so padding may end any group, not only the last; whitespace is skipped.

use std::fmt;

use crate::http::request::Request;

/// The media type of both tunnel connections.
pub const CONTENT_TYPE: &str = "application/x-rtsp-tunnelled";

/// Longest cookie accepted; clients send 22 to 32 characters.
const MAX_COOKIE: usize = 128;

/// The tunnel cookie of a request, if it has a usable one (visible ASCII, at most 128 bytes).
pub fn cookie(req: &Request) -> Option<&str> {
    let c = req.headers.get("x-sessioncookie")?.trim();
    let ok = !c.is_empty() && c.len() <= MAX_COOKIE && c.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(c)
}

/// Which end of a tunnel a request opens, if any: a GET or a POST with a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelEnd {
    /// The server-to-client half.
    Get(String),
    /// The client-to-server half.
    Post(String),
}

pub fn tunnel_end(req: &Request) -> Option<TunnelEnd> {
    let c = cookie(req)?.to_string();
    match req.method.as_str() {
        "GET" => Some(TunnelEnd::Get(c)),
        "POST" => Some(TunnelEnd::Post(c)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// A byte outside the base64 alphabet and whitespace, at this offset of the body.
    BadCharacter { byte: u8, at: u64 },
    /// `=` where no padding can be.
    BadPadding { at: u64 },
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::BadCharacter { byte, at } => {
                write!(f, "byte {byte:#04x} at offset {at} is not base64")
            }
            Base64Error::BadPadding { at } => write!(f, "misplaced '=' at offset {at}"),
        }
    }
}

impl std::error::Error for Base64Error {}

const PAD: u8 = 64;

fn value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(PAD),
        _ => None,
    }
}

/// An incremental base64 decoder (RFC 4648 §4 alphabet) for a body that arrives in pieces.
#[derive(Debug, Clone, Default)]
pub struct Base64Reader {
    group: [u8; 4],
    len: usize,
    /// Bytes of input consumed so far, for error offsets.
    offset: u64,
}

impl Base64Reader {
    pub fn new() -> Base64Reader {
        Base64Reader::default()
    }

    /// Characters held back because their group is not complete yet.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Decodes `input` and appends the bytes to `out`. After an error the reader must not be
    /// used again (the connection is closed).
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Base64Error> {
        out.reserve(input.len() / 4 * 3 + 3);
        for &b in input {
            let at = self.offset;
            self.offset += 1;
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                continue;
            }
            let v = value(b).ok_or(Base64Error::BadCharacter { byte: b, at })?;
            let padded_before = self.len == 3 && self.group[2] == PAD;
            if (v == PAD && self.len < 2) || (padded_before && v != PAD) {
                return Err(Base64Error::BadPadding { at });
            }
            self.group[self.len] = v;
            self.len += 1;
            if self.len == 4 {
                self.len = 0;
                let g = self.group;
                let bits = (u32::from(g[0]) << 18)
                    | (u32::from(g[1]) << 12)
                    | (u32::from(g[2] & 63) << 6)
                    | u32::from(g[3] & 63);
                let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
                let n = if g[2] == PAD {
                    1
                } else if g[3] == PAD {
                    2
                } else {
                    3
                };
                out.extend_from_slice(&bytes[..n]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn requests_encoded_one_by_one_at_every_split() {
        let a = b"OPTIONS rtsp://h/movie.Mjpeg RTSP/1.0\r\nCSeq: 1\r\n\r\n".to_vec();
        let b = b"DESCRIBE rtsp://h/movie.Mjpeg RTSP/1.0\r\nCSeq: 2\r\n\r\n".to_vec();
        let c = b"$\x01\x00\x02\xff\x00".to_vec();
        let body = format!("{}{}\r\n{}", b64(&a), b64(&b), b64(&c));
        assert!(body.contains("=R"), "padding inside the stream: {body}");
        let want = [a, b, c].concat();
        for cut in 0..=body.len() {
            for cut2 in cut..=body.len().min(cut + 7) {
                let mut r = Base64Reader::new();
                let mut out = Vec::new();
                r.push(&body.as_bytes()[..cut], &mut out).unwrap();
                r.push(&body.as_bytes()[cut..cut2], &mut out).unwrap();
                r.push(&body.as_bytes()[cut2..], &mut out).unwrap();
                assert_eq!(out, want, "cut at {cut}, {cut2}");
                assert_eq!(r.pending(), 0);
            }
        }
    }

    #[test]
    fn every_length_and_bad_input() {
        for n in 0..20u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let mut out = Vec::new();
            let mut r = Base64Reader::new();
            r.push(b64(&data).as_bytes(), &mut out).unwrap();
            assert_eq!(out, data);
        }
        let err = |s: &[u8]| Base64Reader::new().push(s, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err(b"QUJD$"),
            Base64Error::BadCharacter { byte: b'$', at: 4 }
        );
        assert_eq!(err(b"="), Base64Error::BadPadding { at: 0 });
        assert_eq!(err(b"Q="), Base64Error::BadPadding { at: 1 });
        assert_eq!(err(b"QQ=A"), Base64Error::BadPadding { at: 3 });
        let mut r = Base64Reader::new();
        let mut out = Vec::new();
        r.push(b"QUJ", &mut out).unwrap();
        assert_eq!((out.len(), r.pending()), (0, 3), "a part group waits");
        r.push(b"D", &mut out).unwrap();
        assert_eq!(out, b"ABC");
    }

    #[test]
    fn tunnel_requests() {
        let parse = |t: &[u8]| {
            crate::http::request::parse_head(t, &Default::default())
                .unwrap()
                .0
        };
        let get = parse(
            b"GET /movie.Mjpeg HTTP/1.1\r\nHost: h\r\nx-sessioncookie: 3a9c5e\r\n\
              Accept: application/x-rtsp-tunnelled\r\n\r\n",
        );
        assert_eq!(tunnel_end(&get), Some(TunnelEnd::Get("3a9c5e".into())));
        let post = parse(
            b"POST /movie.Mjpeg HTTP/1.0\r\nx-sessioncookie: 3a9c5e\r\n\
              Content-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n",
        );
        assert_eq!(tunnel_end(&post), Some(TunnelEnd::Post("3a9c5e".into())));
        let page = parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(tunnel_end(&page), None);
        let bad = parse(b"GET / HTTP/1.1\r\nHost: h\r\nx-sessioncookie: a b\r\n\r\n");
        assert_eq!(tunnel_end(&bad), None);
    }
}
