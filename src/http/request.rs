//! HTTP/1.x request heads (RFC 9112 §2-§6), parsed incrementally with the RTSP limits, and the
//! per-connection choice between RTSP and HTTP.
//!
//! [`classify`] looks at a connection's first request line: one whose version is `HTTP/...`
//! makes the whole connection HTTP (DESIGN.md: live555 and MediaMTX decide the same way), so a
//! malformed HTTP request still gets an HTTP answer. [`parse_head`] returns the request head and
//! how many bytes it took, or [`ParseError::Incomplete`]; the body, if any, is the caller's (the
//! tunnel's POST body never ends). The parser is strict where leniency lets requests be read two
//! ways (request smuggling): no obsolete line folding, no whitespace before a header's colon, no
//! control characters in values, one `Host`, one `Content-Length` value, no `Transfer-Encoding`.
//! It accepts bare LF line ends and blank lines before the request line (RFC 9112 §2.2).

use std::fmt;

use crate::rtsp::message::{Headers, Limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method token, case as sent (methods are case-sensitive, RFC 9110 §9.1).
    pub method: String,
    /// The request-target as sent.
    pub target: String,
    pub version: Version,
    pub headers: Headers,
    /// The body's length from `Content-Length` (0 without one).
    pub body_len: u64,
}

impl Request {
    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers
                .get_all("Connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match self.version {
            Version::Http11 => !has("close"),
            Version::Http10 => has("keep-alive") && !has("close"),
        }
    }

    /// The head in wire form (for tests and the fuzzer's round trip).
    pub fn write_head(&self, out: &mut Vec<u8>) {
        let line = format!(
            "{} {} {}\r\n",
            self.method,
            self.target,
            self.version.as_str()
        );
        out.extend_from_slice(line.as_bytes());
        for (n, v) in self.headers.iter() {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// More bytes are needed.
    Incomplete,
    /// Malformed (400), with the reason for the log.
    Invalid(&'static str),
    /// The head passed `max_head` (431).
    HeadTooLarge,
    /// More than `max_headers` header lines (431).
    TooManyHeaders,
    /// `HTTP/2.0` and the like on an HTTP/1 connection (505).
    UnsupportedVersion,
    /// A body framed by `Transfer-Encoding`, which rtspd does not read (501).
    UnsupportedTransferCoding,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Incomplete => f.write_str("request incomplete"),
            ParseError::Invalid(why) => write!(f, "malformed: {why}"),
            ParseError::HeadTooLarge => f.write_str("request head over the size limit"),
            ParseError::TooManyHeaders => f.write_str("too many headers"),
            ParseError::UnsupportedVersion => f.write_str("HTTP version not supported"),
            ParseError::UnsupportedTransferCoding => f.write_str("Transfer-Encoding not supported"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtsp,
    Http,
}

/// Methods HTTP has and RTSP does not: a first line that passes the head limit before its end
/// is taken as HTTP when it starts with one of these (it gets an HTTP 431 or 414, not RTSP's).
const HTTP_ONLY_METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "CONNECT", "TRACE",
];

/// The protocol of a connection whose first bytes are `buf`, or None until its first line is
/// complete. A line whose last word starts with `HTTP/` is HTTP; anything else is RTSP (whose
/// parser then answers it, `$` interleaved data included).
pub fn classify(buf: &[u8], max_head: usize) -> Option<Protocol> {
    let start = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf = &buf[start..];
    if buf.first() == Some(&b'$') {
        return Some(Protocol::Rtsp);
    }
    match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
            let last = line.rsplit(|&b| b == b' ').next().unwrap_or(&[]);
            Some(if last.starts_with(b"HTTP/") {
                Protocol::Http
            } else {
                Protocol::Rtsp
            })
        }
        None if buf.len() > max_head || start > max_head => {
            let first = buf.split(|&b| b == b' ').next().unwrap_or(&[]);
            let http = HTTP_ONLY_METHODS.iter().any(|m| m.as_bytes() == first);
            Some(if http { Protocol::Http } else { Protocol::Rtsp })
        }
        None => None,
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Field values may hold visible characters, spaces, tabs and obs-text; no other controls.
fn valid_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Checks a request line (without its line end).
fn request_line(line: &str) -> Result<(&str, &str, Version), ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Invalid(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err(ParseError::Invalid("bad method"));
    }
    if target.is_empty() || !target.bytes().all(|b| b > 0x20 && b != 0x7f) {
        return Err(ParseError::Invalid("bad request target"));
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        v if v.len() == 8
            && v.starts_with("HTTP/")
            && v.as_bytes()[5].is_ascii_digit()
            && v.as_bytes()[6] == b'.'
            && v.as_bytes()[7].is_ascii_digit() =>
        {
            return Err(ParseError::UnsupportedVersion)
        }
        "HTTP/2" | "HTTP/3" => return Err(ParseError::UnsupportedVersion),
        _ => return Err(ParseError::Invalid("bad HTTP version")),
    };
    Ok((method, target, version))
}

/// Parses the request head at the start of `buf`: the head and the bytes it took (blank lines
/// before it included). Limits apply while the head is still arriving.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<(Request, usize), ParseError> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if skip > limits.max_head {
        return Err(ParseError::HeadTooLarge);
    }
    let rest = &buf[skip..];
    // The end of the head: an empty line (CRLF or bare LF).
    let mut end = None;
    let mut line_start = 0;
    for (i, &b) in rest.iter().enumerate() {
        if i >= limits.max_head {
            return Err(ParseError::HeadTooLarge);
        }
        if b != b'\n' {
            continue;
        }
        if line_start == 0 {
            // A first line that cannot start a request fails now, not at the size limit.
            let first = rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]);
            let text = std::str::from_utf8(first)
                .map_err(|_| ParseError::Invalid("request line is not UTF-8"))?;
            request_line(text)?;
        }
        let line = &rest[line_start..i];
        if line_start > 0 && (line.is_empty() || line == b"\r") {
            end = Some((line_start, i + 1));
            break;
        }
        line_start = i + 1;
    }
    let Some((head_len, used)) = end else {
        return Err(ParseError::Incomplete);
    };
    let head = std::str::from_utf8(&rest[..head_len])
        .map_err(|_| ParseError::Invalid("head is not UTF-8"))?;
    let mut lines = head
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty());
    let (method, target, version) = request_line(lines.next().unwrap_or(""))?;
    let mut headers = Headers::default();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(ParseError::Invalid("obsolete line folding"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(ParseError::Invalid("header line without ':'"))?;
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(ParseError::Invalid("bad header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if !valid_value(value) {
            return Err(ParseError::Invalid("control character in a header value"));
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        headers.append(name, value);
    }
    if headers.get("Transfer-Encoding").is_some() {
        return Err(ParseError::UnsupportedTransferCoding);
    }
    let mut body_len = None;
    for v in headers.get_all("Content-Length") {
        let v = v.trim();
        if v.is_empty() || v.len() > 18 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::Invalid("bad Content-Length"));
        }
        let n: u64 = v
            .parse()
            .map_err(|_| ParseError::Invalid("bad Content-Length"))?;
        if body_len.is_some_and(|b| b != n) {
            return Err(ParseError::Invalid("Content-Length values differ"));
        }
        body_len = Some(n);
    }
    let hosts = headers.get_all("Host").count();
    if hosts > 1 || (version == Version::Http11 && hosts == 0) {
        return Err(ParseError::Invalid(
            "HTTP/1.1 needs exactly one Host header",
        ));
    }
    Ok((
        Request {
            method: method.to_string(),
            target: target.to_string(),
            version,
            headers,
            body_len: body_len.unwrap_or(0),
        },
        skip + used,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &[u8] = b"GET /watch/movie.Mjpeg HTTP/1.1\r\n\
        Host: 127.0.0.1:8554\r\n\
        Connection: keep-alive\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36\r\n\
        Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\r\n";

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn a_browser_request_at_every_split() {
        let (req, n) = parse_head(CHROME, &limits()).unwrap();
        assert_eq!(n, CHROME.len());
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/watch/movie.Mjpeg");
        assert_eq!(req.version, Version::Http11);
        assert_eq!(req.headers.get("host"), Some("127.0.0.1:8554"));
        assert!(req.keep_alive());
        let mut again = Vec::new();
        req.write_head(&mut again);
        assert_eq!(parse_head(&again, &limits()).unwrap().0, req);
        for cut in 0..CHROME.len() {
            assert_eq!(
                parse_head(&CHROME[..cut], &limits()),
                Err(ParseError::Incomplete),
                "cut at {cut}"
            );
        }
        // Pipelined: the second request follows the first's bytes.
        let two = [CHROME, b"HEAD /healthz HTTP/1.0\n\n"].concat();
        let (_, n) = parse_head(&two, &limits()).unwrap();
        let (second, m) = parse_head(&two[n..], &limits()).unwrap();
        assert_eq!((second.method.as_str(), m), ("HEAD", 24));
        assert!(!second.keep_alive(), "HTTP/1.0 closes by default");
    }

    #[test]
    fn protocol_from_the_first_line() {
        let c = |b: &[u8]| classify(b, 8192);
        assert_eq!(c(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http));
        assert_eq!(c(b"\r\nGET / HTTP/1.0\n"), Some(Protocol::Http));
        assert_eq!(c(b"GET /x HTTP/9.9\r\n"), Some(Protocol::Http));
        assert_eq!(c(b"OPTIONS * RTSP/1.0\r\n"), Some(Protocol::Rtsp));
        assert_eq!(c(b"SETUP movie.Mjpeg RTSP/1.0\n"), Some(Protocol::Rtsp));
        assert_eq!(c(b"$\x01\x00\x04abcd"), Some(Protocol::Rtsp));
        assert_eq!(c(b"garbage\r\n"), Some(Protocol::Rtsp));
        assert_eq!(c(b"GET / HTTP/1.1"), None, "until the line ends");
        assert_eq!(c(b""), None);
        let long = [b"GET /".as_slice(), &[b'a'; 9000]].concat();
        assert_eq!(c(&long), Some(Protocol::Http));
        let long = [b"DESCRIBE rtsp://h/".as_slice(), &[b'a'; 9000]].concat();
        assert_eq!(c(&long), Some(Protocol::Rtsp));
    }

    #[test]
    fn errors_and_limits() {
        let p = |b: &[u8]| parse_head(b, &limits()).map(|(r, _)| r);
        let invalid = |b: &[u8]| matches!(p(b), Err(ParseError::Invalid(_)));
        assert!(invalid(b"GET /\r\n\r\n"), "no version");
        assert!(invalid(b"GET  / HTTP/1.1\r\n\r\n"), "two spaces");
        assert!(invalid(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(invalid(b"GET / HTTP/1.1\r\n\r\n"), "no Host");
        assert!(invalid(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
        assert!(invalid(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"));
        assert!(invalid(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"));
        assert!(invalid(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"));
        assert!(invalid(b"GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n"));
        assert!(invalid(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        ));
        assert!(invalid(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"
        ));
        assert!(invalid(b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n"));
        assert!(invalid(b"GET / HTTP\r\n"), "fails at the first line");
        assert_eq!(
            p(b"GET / HTTP/2.0\r\n"),
            Err(ParseError::UnsupportedVersion)
        );
        assert_eq!(
            p(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(ParseError::UnsupportedTransferCoding)
        );
        let r = p(b"POST /x HTTP/1.0\r\nContent-Length: 32767\r\n\r\n").unwrap();
        assert_eq!(r.body_len, 32767);
        let tight = Limits {
            max_head: 64,
            max_headers: 2,
            max_body: 10,
        };
        let big = [b"GET /".as_slice(), &[b'a'; 100]].concat();
        assert_eq!(parse_head(&big, &tight), Err(ParseError::HeadTooLarge));
        assert_eq!(
            parse_head(b"GET / HTTP/1.0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", &tight),
            Err(ParseError::TooManyHeaders)
        );
        let blank = [&[b'\n'; 100][..], b"GET / HTTP/1.0\r\n\r\n"].concat();
        assert_eq!(parse_head(&blank, &tight), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |b: &[u8]| parse_head(b, &limits()).unwrap().0.keep_alive();
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"
        ));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    }
}
