//! HTTP/1.1 responses (RFC 9112 §4, RFC 9110 §15) and the parts of an MJPEG stream.
//!
//! A [`Response`] is a status, headers and a body; [`Response::write`] puts it on the wire with
//! `Content-Length` from the body (or the length given, for HEAD and for bodies sent later), so
//! the two can never disagree. Header values lose any CR or LF, so nothing a request echoes can
//! start a header of its own.

use std::time::{SystemTime, UNIX_EPOCH};

/// The reason phrase for the statuses rtspd sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// What `Content-Length` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// The body's length.
    Body,
    /// This many bytes, sent apart from the response (a file) or not at all (HEAD).
    Known(u64),
    /// No length: the body ends when the connection does (a stream).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub length: Length,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            length: Length::Body,
            close: false,
        }
    }

    /// A response with a body of `content_type`.
    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status)
            .header("Content-Type", content_type)
            .body(body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Writes the status line and headers with `Content-Length: content_length` (None: no
    /// length, the body ends when the connection does), then the body unless `head_only`.
    pub fn write(&self, out: &mut Vec<u8>, content_length: Option<u64>, head_only: bool) {
        out.extend_from_slice(
            format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).as_bytes(),
        );
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") || n.eq_ignore_ascii_case("Connection") {
                continue;
            }
            out.extend_from_slice(clean(n).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(clean(v).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(n) = content_length {
            out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }

    /// The response with the `Content-Length` its [`Length`] says; the body unless `head_only`.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        let length = match self.length {
            Length::Body => Some(self.body.len() as u64),
            Length::Known(n) => Some(n),
            Length::Unknown => None,
        };
        self.write(&mut out, length, head_only);
        out
    }
}

fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], " ").into()
    } else {
        s.into()
    }
}

/// An IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The multipart boundary of MJPEG streams (RFC 2046 §5.1.1: up to 70 characters, none of
/// which can occur in the part headers).
pub const BOUNDARY: &str = "rtspd-mjpeg-frame";

/// What goes after a part's body: the end of the part and the start of the next one, so that a
/// reader knows at once that the part is whole (RFC 2046 §5.1.1).
pub const PART_END: &[u8] = b"\r\n--rtspd-mjpeg-frame\r\n";

/// The headers of one part carrying a JPEG of `len` bytes.
pub fn part_head(len: usize) -> Vec<u8> {
    format!("Content-Type: image/jpeg\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn wire_form() {
        let r = Response::with_body(404, "text/plain", "gone\n").header("X-A", "b\r\nEvil: 1");
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A: b  Evil: 1\r\n\
             Content-Length: 5\r\n\r\ngone\n"
        );
        let mut r = r;
        r.close = true;
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("Content-Length: 5\r\nConnection: close\r\n\r\n"));
        assert!(PART_END.ends_with(format!("--{BOUNDARY}\r\n").as_bytes()));
        assert_eq!(
            part_head(12),
            b"Content-Type: image/jpeg\r\nContent-Length: 12\r\n\r\n"
        );
    }
}
