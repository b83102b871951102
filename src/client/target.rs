//! What to play: an `rtsp://` URL, or the seed Client.py's arguments (server, RTSP port, RTP
//! port, file).

use std::fmt;

/// A parsed play target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// The path after the host, without the leading `/` (the lab server's file name).
    pub path: String,
    /// Credentials from `rtsp://user:pass@host/...`.
    pub user: Option<(String, String)>,
}

impl Target {
    /// The URL requests name: `rtsp://host:port/path`, without credentials.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("rtsp://{host}:{}/{}", self.port, self.path)
    }

    /// `rtsp://[user:pass@]host[:port]/path`; the port defaults to 554 (RFC 2326 §3.2).
    pub fn parse_url(url: &str) -> Result<Target, TargetError> {
        let rest = url
            .strip_prefix("rtsp://")
            .ok_or_else(|| TargetError(format!("{url}: not an rtsp:// URL")))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((cred, hp)) => {
                let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
                (Some((percent_decode(u), percent_decode(p))), hp)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| TargetError(format!("{url}: unclosed [ in host")))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(TargetError(format!("{url}: no host")));
        }
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| TargetError(format!("{url}: bad port {p:?}")))?,
            None => 554,
        };
        Ok(Target {
            host,
            port,
            path: path.to_string(),
            user,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse_url("rtsp://127.0.0.1:8554/movie.Mjpeg").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8554, "movie.Mjpeg")
        );
        assert_eq!(t.url(), "rtsp://127.0.0.1:8554/movie.Mjpeg");
        let t = Target::parse_url("rtsp://me:p%40ss@cam.local/live/1").unwrap();
        assert_eq!(t.user, Some(("me".into(), "p@ss".into())));
        assert_eq!((t.port, t.path.as_str()), (554, "live/1"));
        assert_eq!(
            t.url(),
            "rtsp://cam.local:554/live/1",
            "no credentials in request URLs"
        );
        let t = Target::parse_url("rtsp://[::1]:9000/a").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
        assert_eq!(t.url(), "rtsp://[::1]:9000/a");
        assert!(Target::parse_url("http://x/y").is_err());
        assert!(Target::parse_url("rtsp://:80/y").is_err());
        assert!(Target::parse_url("rtsp://h:99999/y").is_err());
    }
}
