//! RTSP 1.0 messages (RFC 2326 §4, §6, §7, §10.12): an incremental parser and a serializer.
//!
//! [`parse`] takes the bytes received so far and returns one message and how many bytes it used,
//! or [`ParseError::Incomplete`] when more must come. It accepts CRLF and bare LF line ends,
//! pipelined messages, bodies by Content-Length, and `$`-framed interleaved data between
//! messages. Limits are enforced while the head is still arriving, so a 2 MB header line fails
//! as soon as it passes the limit, and each limit has its own error so a server can answer
//! 413, 431 or 505 rather than a bare 400.
//!
//! The classic lab client ends its requests after the last header line, with no blank line.
//! [`parse_unterminated`] accepts such a head once the caller has decided no more bytes are
//! coming (a server waits for the line to go quiet).

use std::fmt;

/// Size limits for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Start line and headers, in bytes.
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8192,
            max_headers: 64,
            max_body: 65_536,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// More bytes are needed; `needed` is how many more when known.
    Incomplete { needed: Option<usize> },
    /// Malformed at byte `pos` (answer 400).
    Invalid { pos: usize, reason: &'static str },
    /// The head passed `max_head` (answer 431).
    HeadTooLarge,
    /// More than `max_headers` headers (answer 431).
    TooManyHeaders,
    /// Content-Length over `max_body` (answer 413).
    BodyTooLarge,
    /// Not RTSP/1.0 (answer 505).
    UnsupportedVersion,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Incomplete { .. } => f.write_str("message incomplete"),
            ParseError::Invalid { pos, reason } => write!(f, "malformed at byte {pos}: {reason}"),
            ParseError::HeadTooLarge => f.write_str("request head over the size limit"),
            ParseError::TooManyHeaders => f.write_str("too many headers"),
            ParseError::BodyTooLarge => f.write_str("body over the size limit"),
            ParseError::UnsupportedVersion => f.write_str("not RTSP/1.0"),
        }
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Options,
    Describe,
    Setup,
    Play,
    Pause,
    Teardown,
    GetParameter,
    SetParameter,
    Announce,
    Record,
    Redirect,
    Other(String),
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "SETUP" => Method::Setup,
            "PLAY" => Method::Play,
            "PAUSE" => Method::Pause,
            "TEARDOWN" => Method::Teardown,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "ANNOUNCE" => Method::Announce,
            "RECORD" => Method::Record,
            "REDIRECT" => Method::Redirect,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(s) => s,
            known => known.known_name().unwrap_or_default(),
        }
    }

    /// The name of a method RFC 2326 defines; None for any other (whose name a client chose,
    /// so it must not become, say, a metrics label).
    pub fn known_name(&self) -> Option<&'static str> {
        Some(match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Pause => "PAUSE",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Announce => "ANNOUNCE",
            Method::Record => "RECORD",
            Method::Redirect => "REDIRECT",
            Method::Other(_) => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status code (RFC 2326 §7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    pub const OK: StatusCode = StatusCode(200);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const NOT_ACCEPTABLE: StatusCode = StatusCode(406);
    pub const REQUEST_ENTITY_TOO_LARGE: StatusCode = StatusCode(413);
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: StatusCode = StatusCode(431);
    pub const PARAMETER_NOT_UNDERSTOOD: StatusCode = StatusCode(451);
    pub const NOT_ENOUGH_BANDWIDTH: StatusCode = StatusCode(453);
    pub const SESSION_NOT_FOUND: StatusCode = StatusCode(454);
    pub const METHOD_NOT_VALID_IN_THIS_STATE: StatusCode = StatusCode(455);
    pub const INVALID_RANGE: StatusCode = StatusCode(457);
    pub const AGGREGATE_OPERATION_NOT_ALLOWED: StatusCode = StatusCode(459);
    pub const UNSUPPORTED_TRANSPORT: StatusCode = StatusCode(461);
    pub const INTERNAL_SERVER_ERROR: StatusCode = StatusCode(500);
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const RTSP_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);
    pub const OPTION_NOT_SUPPORTED: StatusCode = StatusCode(551);

    /// The reason phrase of RFC 2326 §7.1.1 (431 from RFC 6585).
    pub fn canonical_reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            200 => "OK",
            201 => "Created",
            250 => "Low on Storage Space",
            300 => "Multiple Choices",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            303 => "See Other",
            304 => "Not Modified",
            305 => "Use Proxy",
            400 => "Bad Request",
            401 => "Unauthorized",
            402 => "Payment Required",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Time-out",
            410 => "Gone",
            411 => "Length Required",
            412 => "Precondition Failed",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Large",
            415 => "Unsupported Media Type",
            431 => "Request Header Fields Too Large",
            451 => "Parameter Not Understood",
            452 => "Conference Not Found",
            453 => "Not Enough Bandwidth",
            454 => "Session Not Found",
            455 => "Method Not Valid in This State",
            456 => "Header Field Not Valid for Resource",
            457 => "Invalid Range",
            458 => "Parameter Is Read-Only",
            459 => "Aggregate operation not allowed",
            460 => "Only aggregate operation allowed",
            461 => "Unsupported transport",
            462 => "Destination unreachable",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Time-out",
            505 => "RTSP Version not supported",
            551 => "Option not supported",
            _ => "Unknown",
        }
    }
}

/// Headers in the order received or added; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a header after the others.
    pub fn append(&mut self, name: &str, value: &str) {
        self.0.push((name.to_string(), value.to_string()));
    }

    /// Sets a header, replacing any of the same name in place of the first.
    pub fn insert(&mut self, name: &str, value: &str) {
        match self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.0[i].1 = value.to_string();
                let mut j = i + 1;
                while j < self.0.len() {
                    if self.0[j].0.eq_ignore_ascii_case(name) {
                        self.0.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => self.append(name, value),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn write(&self, out: &mut Vec<u8>, body: &[u8]) {
        for (n, v) in &self.0 {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue; // written from the body below, so it can never disagree
            }
            out.extend_from_slice(clean(n).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(clean(v).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }
}

/// A header name or value with CR and LF replaced by spaces, so no value can start a new header
/// (response splitting).
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], " ").into()
    } else {
        s.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: Method, uri: &str) -> Request {
        Request {
            method,
            uri: uri.to_string(),
            headers: Headers::default(),
            body: Vec::new(),
        }
    }

    pub fn cseq(&self) -> Option<u32> {
        self.headers.get("CSeq")?.trim().parse().ok()
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "{} {} RTSP/1.0\r\n",
                clean(self.method.as_str()),
                clean(&self.uri)
            )
            .as_bytes(),
        );
        self.headers.write(out, &self.body);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: StatusCode,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            reason: status.canonical_reason().to_string(),
            headers: Headers::default(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.append(name, value);
        self
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!("RTSP/1.0 {} {}\r\n", self.status.0, clean(&self.reason)).as_bytes(),
        );
        self.headers.write(out, &self.body);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
    /// `$`, channel, 16-bit length, data (RFC 2326 §10.12).
    Interleaved {
        channel: u8,
        data: Vec<u8>,
    },
}

/// Parses the message at the start of `buf`; returns it and the bytes it took.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<(Message, usize), ParseError> {
    parse_inner(buf, limits, false)
}

/// Like [`parse`], but when no blank line ends the head, the end of `buf` is taken as the end of
/// the head (a request without body), whether or not its last line has a line ending: the lab
/// client sends neither. For a caller that has decided no more bytes are coming (a server waits
/// for the connection to go quiet).
pub fn parse_unterminated(buf: &[u8], limits: &Limits) -> Result<(Message, usize), ParseError> {
    parse_inner(buf, limits, true)
}

fn parse_inner(
    buf: &[u8],
    limits: &Limits,
    eof_ends_head: bool,
) -> Result<(Message, usize), ParseError> {
    // Blank lines between messages are tolerated (some clients send CRLF keepalives).
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf_all = buf;
    let buf = &buf[skip..];
    if buf.is_empty() {
        return Err(ParseError::Incomplete { needed: None });
    }
    if buf[0] == b'$' {
        if buf.len() < 4 {
            return Err(ParseError::Incomplete {
                needed: Some(4 - buf.len()),
            });
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if buf.len() < 4 + len {
            return Err(ParseError::Incomplete {
                needed: Some(4 + len - buf.len()),
            });
        }
        return Ok((
            Message::Interleaved {
                channel: buf[1],
                data: buf[4..4 + len].to_vec(),
            },
            skip + 4 + len,
        ));
    }

    // Find the blank line that ends the head, checking the limit as we go.
    let mut head_end = None; // (end of head text, start of body)
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if line_start == 0 {
                // A first line that cannot start a message fails now, not at the size limit.
                check_start_line(buf[..i].strip_suffix(b"\r").unwrap_or(&buf[..i]))?;
            }
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                head_end = Some((line_start, i + 1));
                break;
            }
            line_start = i + 1;
        }
        if i >= limits.max_head {
            return Err(ParseError::HeadTooLarge);
        }
    }
    let (head_len, body_start) = match head_end {
        Some(h) => h,
        None if eof_ends_head => (buf.len(), buf.len()),
        None => {
            // Fail early on a start line that cannot become a message.
            if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                check_start_line(&buf[..nl])?;
            }
            return Err(ParseError::Incomplete { needed: None });
        }
    };
    if head_len > limits.max_head {
        return Err(ParseError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|e| ParseError::Invalid {
        pos: skip + e.valid_up_to(),
        reason: "head is not UTF-8",
    })?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_line = lines.next().unwrap_or("");
    let kind = check_start_line(start_line.as_bytes())?;

    let mut headers = Headers::default();
    let mut pos = skip + start_line.len() + 1;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Folded continuation of the previous header (RFC 2326 §4.1, after RFC 2616 §2.2).
            match headers.0.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                None => {
                    return Err(ParseError::Invalid {
                        pos,
                        reason: "continuation line before any header",
                    })
                }
            }
        } else {
            let (name, value) = line.split_once(':').ok_or(ParseError::Invalid {
                pos,
                reason: "header line without ':'",
            })?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(is_token) {
                return Err(ParseError::Invalid {
                    pos,
                    reason: "bad header name",
                });
            }
            if headers.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders);
            }
            headers.append(name, value.trim());
        }
        pos += line.len() + 1;
    }

    let body_len = match headers.get("Content-Length") {
        None => 0,
        Some(v) => {
            let n: usize = v.trim().parse().map_err(|_| ParseError::Invalid {
                pos: skip,
                reason: "bad Content-Length",
            })?;
            if n > limits.max_body {
                return Err(ParseError::BodyTooLarge);
            }
            n
        }
    };
    if buf.len() < body_start + body_len {
        return Err(ParseError::Incomplete {
            needed: Some(body_start + body_len - buf.len()),
        });
    }
    let body = buf[body_start..body_start + body_len].to_vec();
    let used = skip + body_start + body_len;
    debug_assert!(used <= buf_all.len());
    let message = match kind {
        StartLine::Request => {
            let mut parts = start_line.split(' ').filter(|p| !p.is_empty());
            let method = Method::parse(parts.next().unwrap_or(""));
            let uri = parts.next().unwrap_or("").to_string();
            Message::Request(Request {
                method,
                uri,
                headers,
                body,
            })
        }
        StartLine::Response => {
            let mut parts = start_line.splitn(3, ' ');
            parts.next();
            let status: u16 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|s| (100..1000).contains(s))
                .ok_or(ParseError::Invalid {
                    pos: skip,
                    reason: "bad status code",
                })?;
            let reason = parts.next().unwrap_or("").to_string();
            Message::Response(Response {
                status: StatusCode(status),
                reason,
                headers,
                body,
            })
        }
    };
    Ok((message, used))
}

enum StartLine {
    Request,
    Response,
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Classifies a start line (without its line end) or says why it cannot start a message.
fn check_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let bad = |reason| Err(ParseError::Invalid { pos: 0, reason });
    let text = std::str::from_utf8(line).map_err(|_| ParseError::Invalid {
        pos: 0,
        reason: "start line is not UTF-8",
    })?;
    let parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    if let Some(v) = parts.first().filter(|p| p.starts_with("RTSP/")) {
        return if *v == "RTSP/1.0" {
            Ok(StartLine::Response)
        } else {
            Err(ParseError::UnsupportedVersion)
        };
    }
    if parts.len() != 3 {
        return bad("start line is not METHOD URI VERSION");
    }
    if !parts[0].bytes().all(is_token) {
        return bad("bad method");
    }
    let version = parts[2];
    if version == "RTSP/1.0" {
        return Ok(StartLine::Request);
    }
    let looks_like_version = version.split_once('/').is_some_and(|(p, v)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase()) && v.contains('.')
    });
    if looks_like_version {
        Err(ParseError::UnsupportedVersion)
    } else {
        bad("bad protocol version")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETUP: &[u8] = b"SETUP rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0 RTSP/1.0\r\n\
        Transport: RTP/AVP/UDP;unicast;client_port=5000-5001\r\n\
        CSeq: 3\r\n\
        User-Agent: Lavf60.16.100\r\n\r\n";

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn request_and_exact_reserialisation() {
        let (m, n) = parse(SETUP, &limits()).unwrap();
        assert_eq!(n, SETUP.len());
        let Message::Request(r) = m else { panic!() };
        assert_eq!(r.method, Method::Setup);
        assert_eq!(r.uri, "rtsp://127.0.0.1:8554/movie.Mjpeg/trackID=0");
        assert_eq!(r.cseq(), Some(3));
        assert_eq!(
            r.headers.get("transport"),
            Some("RTP/AVP/UDP;unicast;client_port=5000-5001")
        );
        let mut out = Vec::new();
        r.write_to(&mut out);
        assert_eq!(out, SETUP);
    }

    #[test]
    fn every_split_point_gives_incomplete_then_the_same_message() {
        let whole = parse(SETUP, &limits()).unwrap();
        for cut in 0..SETUP.len() {
            assert!(
                matches!(
                    parse(&SETUP[..cut], &limits()),
                    Err(ParseError::Incomplete { .. })
                ),
                "cut {cut}"
            );
        }
        assert_eq!(parse(SETUP, &limits()).unwrap(), whole);
        let with_body = b"SET_PARAMETER * RTSP/1.0\nCSeq: 1\nContent-Length: 5\n\nhello";
        for cut in 0..with_body.len() {
            assert!(
                matches!(
                    parse(&with_body[..cut], &limits()),
                    Err(ParseError::Incomplete { .. })
                ),
                "cut {cut}"
            );
        }
        let (Message::Request(r), _) = parse(with_body, &limits()).unwrap() else {
            panic!()
        };
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn pipelined_and_interleaved() {
        let mut buf = SETUP.to_vec();
        buf.extend_from_slice(&[b'$', 1, 0, 3, 7, 8, 9]);
        buf.extend_from_slice(b"OPTIONS * RTSP/1.0\nCSeq: 4\n\n");
        let (a, n1) = parse(&buf, &limits()).unwrap();
        assert!(matches!(a, Message::Request(_)));
        let (b, n2) = parse(&buf[n1..], &limits()).unwrap();
        assert_eq!(
            b,
            Message::Interleaved {
                channel: 1,
                data: vec![7, 8, 9]
            }
        );
        let (c, n3) = parse(&buf[n1 + n2..], &limits()).unwrap();
        assert!(matches!(
            c,
            Message::Request(Request {
                method: Method::Options,
                ..
            })
        ));
        assert_eq!(n1 + n2 + n3, buf.len());
        assert_eq!(
            parse(&[b'$', 0, 0], &limits()),
            Err(ParseError::Incomplete { needed: Some(1) })
        );
    }

    #[test]
    fn lab_dialect_needs_the_unterminated_parse() {
        // Exactly what Client.py sends: LF line ends and nothing after the last header.
        let lab = b"SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 25000";
        assert!(matches!(
            parse(lab, &limits()),
            Err(ParseError::Incomplete { .. })
        ));
        let (Message::Request(r), n) = parse_unterminated(lab, &limits()).unwrap() else {
            panic!()
        };
        assert_eq!(n, lab.len());
        assert_eq!(r.uri, "movie.Mjpeg");
        assert_eq!(r.cseq(), Some(1));
        assert_eq!(
            r.headers.get("Transport"),
            Some("RTP/UDP; client_port= 25000")
        );
        // With a final line ending too.
        let with_lf = [&lab[..], b"\n"].concat();
        let (Message::Request(r), n) = parse_unterminated(&with_lf, &limits()).unwrap() else {
            panic!()
        };
        assert_eq!((n, r.cseq()), (with_lf.len(), Some(1)));
    }

    #[test]
    fn responses() {
        let text = b"RTSP/1.0 454 Session Not Found\r\nCSeq: 9\r\n\r\n";
        let (Message::Response(r), _) = parse(text, &limits()).unwrap() else {
            panic!()
        };
        assert_eq!(r.status, StatusCode::SESSION_NOT_FOUND);
        assert_eq!(r.reason, "Session Not Found");
        let mut out = Vec::new();
        r.write_to(&mut out);
        assert_eq!(out, text);
        let mut built = Vec::new();
        Response::new(StatusCode::OK)
            .with_header("CSeq", "1")
            .with_header("Session", "42")
            .write_to(&mut built);
        assert_eq!(built, b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 42\r\n\r\n");
    }

    #[test]
    fn limits_and_errors() {
        let l = Limits {
            max_head: 100,
            max_headers: 3,
            max_body: 10,
        };
        let long = [b"OPTIONS * RTSP/1.0\r\nX: ".as_slice(), &[b'a'; 200]].concat();
        assert_eq!(
            parse(&long, &l),
            Err(ParseError::HeadTooLarge),
            "fails before the line ends"
        );
        let many = b"OPTIONS * RTSP/1.0\nA: 1\nB: 2\nC: 3\nD: 4\n\n";
        assert_eq!(parse(many, &l), Err(ParseError::TooManyHeaders));
        let big = b"SET_PARAMETER * RTSP/1.0\nContent-Length: 11\n\n";
        assert_eq!(parse(big, &l), Err(ParseError::BodyTooLarge));
        assert_eq!(
            parse(b"OPTIONS * RTSP/2.0\r\n\r\n", &l),
            Err(ParseError::UnsupportedVersion)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n\r\n", &l),
            Err(ParseError::UnsupportedVersion)
        );
        assert!(matches!(
            parse(b"\x00\x01 garbage\r\n", &l),
            Err(ParseError::Invalid { .. })
        ));
        assert!(matches!(
            parse(b"OPTIONS * RTSP/1.0\nno colon\n\n", &l),
            Err(ParseError::Invalid { .. })
        ));
        assert!(matches!(
            parse(b"OPTIONS * RTSP/1.0\nContent-Length: x\n\n", &l),
            Err(ParseError::Invalid { .. })
        ));
    }

    #[test]
    fn header_injection_is_neutralised() {
        let mut out = Vec::new();
        Response::new(StatusCode::OK)
            .with_header("X", "a\r\nEvil: 1")
            .write_to(&mut out);
        let (Message::Response(r), _) = parse(&out, &limits()).unwrap() else {
            panic!()
        };
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.headers.get("Evil"), None);
    }

    #[test]
    fn headers_keep_order_and_replace() {
        let mut h = Headers::default();
        h.append("CSeq", "1");
        h.append("Session", "2");
        h.append("cseq", "3");
        h.insert("CSEQ", "4");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![("CSeq", "4"), ("Session", "2")]
        );
    }

    fn token() -> impl proptest::strategy::Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9-]{0,12}"
    }

    proptest::proptest! {
        #[test]
        fn random_input_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&data, &limits());
            let _ = parse_unterminated(&data, &limits());
        }

        #[test]
        fn parse_of_serialised_request_round_trips(
            uri in "rtsp://[a-z0-9.]{1,20}/[A-Za-z0-9._/-]{0,30}",
            headers in proptest::collection::vec((token(), "[ -~]{0,40}"), 0..10),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..50),
        ) {
            let mut r = Request::new(Method::Describe, &uri);
            for (n, v) in &headers {
                if !n.eq_ignore_ascii_case("content-length") {
                    r.headers.append(n, v.trim());
                }
            }
            r.body = body;
            let mut out = Vec::new();
            r.write_to(&mut out);
            let (m, used) = parse(&out, &Limits { max_body: 1000, ..limits() }).unwrap();
            proptest::prop_assert_eq!(used, out.len());
            let Message::Request(mut back) = m else { panic!() };
            back.headers.remove("Content-Length");
            proptest::prop_assert_eq!(back, r);
        }
    }
}
