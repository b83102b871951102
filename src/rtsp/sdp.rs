//! SDP (RFC 4566) for RTSP (RFC 2326 Appendix C): the description rtspd gives of a movie, and a
//! parser good enough for a player to find the video's control URL, payload type and range.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::rtsp::headers::NptRange;

/// What rtspd says about one movie.
#[derive(Debug, Clone)]
pub struct MovieDescription<'a> {
    pub name: &'a str,
    pub server_addr: IpAddr,
    /// Seconds; None for a live stream (no range is given).
    pub duration: Option<f64>,
    pub fps: f64,
    pub width: u16,
    pub height: u16,
}

/// The SDP for a movie: one JPEG video stream (static payload type 26), controlled as
/// `trackID=0` under the Content-Base.
pub fn movie_sdp(m: &MovieDescription<'_>) -> String {
    let ip_kind = if m.server_addr.is_ipv6() {
        "IP6"
    } else {
        "IP4"
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "v=0\r\no=- 0 0 IN {ip_kind} {}\r\ns={}\r\n",
        m.server_addr,
        m.name.replace(['\r', '\n'], " ")
    );
    let _ = write!(
        s,
        "c=IN {ip_kind} 0.0.0.0\r\nt=0 0\r\na=tool:rtspd\r\na=control:*\r\n"
    );
    if let Some(d) = m.duration {
        let _ = write!(s, "a=range:npt=0-{d:.3}\r\n");
    }
    let _ = write!(
        s,
        "m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=control:trackID=0\r\n"
    );
    let _ = write!(s, "a=framerate:{}\r\n", trim_float(m.fps));
    if m.width > 2040 || m.height > 2040 {
        // RFC 2435 headers cannot say sizes over 2040; this attribute can.
        let _ = write!(s, "a=x-dimensions:{},{}\r\n", m.width, m.height);
    }
    s
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpError(pub String);

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad SDP: {}", self.0)
    }
}

impl std::error::Error for SdpError {}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    pub attributes: Vec<(String, Option<String>)>,
}

impl Media {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn payload_type(&self) -> Option<u8> {
        self.formats.first()?.parse().ok()
    }

    /// The encoding name of the payload type from a=rtpmap (`JPEG` for 26 when absent).
    pub fn encoding(&self) -> Option<String> {
        let pt = self.payload_type()?;
        let from_map = self
            .attributes
            .iter()
            .filter(|(n, _)| n == "rtpmap")
            .find_map(|(_, v)| {
                let (p, rest) = v.as_deref()?.split_once(' ')?;
                (p.trim().parse::<u8>().ok()? == pt)
                    .then(|| rest.split('/').next().unwrap_or("").to_string())
            });
        from_map.or_else(|| (pt == 26).then(|| "JPEG".to_string()))
    }

    pub fn framerate(&self) -> Option<f64> {
        self.attr("framerate")?
            .trim()
            .parse()
            .ok()
            .filter(|f: &f64| *f > 0.0 && f.is_finite())
    }

    pub fn dimensions(&self) -> Option<(u16, u16)> {
        let (w, h) = self.attr("x-dimensions")?.split_once(',')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdp {
    pub session_name: String,
    pub attributes: Vec<(String, Option<String>)>,
    pub media: Vec<Media>,
}

impl Sdp {
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        let mut sdp = Sdp::default();
        let mut saw_version = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (kind, value) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or_else(|| SdpError(format!("line {}: {line:?} is not TYPE=VALUE", i + 1)))?;
            match kind {
                "v" => saw_version = true,
                "s" => sdp.session_name = value.to_string(),
                "m" => {
                    let mut parts = value.split_whitespace();
                    let kind = parts.next().unwrap_or("").to_string();
                    let port = parts.next().and_then(|p| p.split('/').next()?.parse().ok());
                    let port =
                        port.ok_or_else(|| SdpError(format!("line {}: bad m= port", i + 1)))?;
                    let proto = parts.next().unwrap_or("").to_string();
                    sdp.media.push(Media {
                        kind,
                        port,
                        proto,
                        formats: parts.map(str::to_string).collect(),
                        attributes: vec![],
                    });
                }
                "a" => {
                    let attr = match value.split_once(':') {
                        Some((n, v)) => (n.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    match sdp.media.last_mut() {
                        Some(m) => m.attributes.push(attr),
                        None => sdp.attributes.push(attr),
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(SdpError("no v= line".into()));
        }
        Ok(sdp)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn video(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.kind == "video")
    }

    /// The presentation's range, from the session or the video's a=range.
    pub fn range(&self) -> Option<NptRange> {
        let v = self.attr("range").or_else(|| self.video()?.attr("range"))?;
        NptRange::parse(v).ok()
    }
}

/// Resolves a control attribute against the base URL (RFC 2326 Appendix C.1.1): absolute URLs
/// stay, `*` is the base, anything else is appended with exactly one `/`.
pub fn resolve_control(base: &str, control: Option<&str>) -> String {
    match control.map(str::trim) {
        None | Some("*") | Some("") => base.to_string(),
        Some(c) if c.contains("://") => c.to_string(),
        Some(c) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            c.trim_start_matches('/')
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_sdp_parses_back() {
        let text = movie_sdp(&MovieDescription {
            name: "movie.Mjpeg",
            server_addr: "127.0.0.1".parse().unwrap(),
            duration: Some(10.0),
            fps: 24.0,
            width: 640,
            height: 480,
        });
        assert!(text.contains("m=video 0 RTP/AVP 26\r\n"));
        assert!(text.contains("a=range:npt=0-10.000\r\n"));
        assert!(!text.contains("x-dimensions"));
        let sdp = Sdp::parse(&text).unwrap();
        let v = sdp.video().unwrap();
        assert_eq!(
            (v.payload_type(), v.encoding().as_deref(), v.framerate()),
            (Some(26), Some("JPEG"), Some(24.0))
        );
        assert_eq!(v.attr("control"), Some("trackID=0"));
        assert_eq!(sdp.range().unwrap().end, Some(10.0));
        let big = movie_sdp(&MovieDescription {
            width: 4096,
            height: 2160,
            fps: 29.97,
            ..MovieDescription {
                name: "x",
                server_addr: "::1".parse().unwrap(),
                duration: Some(1.0),
                fps: 1.0,
                width: 0,
                height: 0,
            }
        });
        assert!(
            big.contains("a=x-dimensions:4096,2160")
                && big.contains("IN IP6")
                && big.contains("a=framerate:29.97")
        );
    }

    #[test]
    fn gstreamer_and_live555_style() {
        let gst = "v=0\r\no=- 1188340656180883 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\n\
            i=rtsp-server\r\nt=0 0\r\na=tool:GStreamer\r\na=type:broadcast\r\na=range:npt=0-9.600000\r\na=control:*\r\n\
            m=video 0 RTP/AVP 26\r\nc=IN IP4 0.0.0.0\r\nb=AS:5000\r\na=rtpmap:26 JPEG/90000\r\n\
            a=framerate:25\r\na=control:stream=0\r\n";
        let sdp = Sdp::parse(gst).unwrap();
        let v = sdp.video().unwrap();
        assert_eq!(
            resolve_control("rtsp://h:8554/test", v.attr("control")),
            "rtsp://h:8554/test/stream=0"
        );
        assert_eq!(sdp.range().unwrap().end, Some(9.6));
        let dyn_pt = "v=0\ns=x\nm=video 0 RTP/AVP 96\na=rtpmap:96 JPEG/90000\na=control:rtsp://other/track1\n";
        let sdp = Sdp::parse(dyn_pt).unwrap();
        let v = sdp.video().unwrap();
        assert_eq!(v.encoding().as_deref(), Some("JPEG"));
        assert_eq!(
            resolve_control("rtsp://h/x/", v.attr("control")),
            "rtsp://other/track1"
        );
        assert_eq!(resolve_control("rtsp://h/x/", Some("*")), "rtsp://h/x/");
        assert_eq!(
            resolve_control("rtsp://h/x/", Some("trackID=0")),
            "rtsp://h/x/trackID=0"
        );
    }

    #[test]
    fn bad_sdp() {
        assert!(Sdp::parse("").is_err());
        assert!(Sdp::parse("v=0\nthis is not sdp\n").is_err());
        assert!(Sdp::parse("v=0\nm=video x RTP/AVP 26\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[ -~\r\n]{0,200}") {
            if let Ok(sdp) = Sdp::parse(&s) {
                let _ = sdp.range();
                if let Some(v) = sdp.video() {
                    let _ = (v.encoding(), v.framerate(), v.dimensions());
                }
            }
        }
    }
}
