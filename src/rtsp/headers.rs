//! Typed RTSP headers: Transport (RFC 2326 §12.39), Range in NPT (§12.29, §3.6), RTP-Info
//! (§12.33) and Session (§12.37). Each parses from the header value and formats back.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    pub header: &'static str,
    pub reason: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad {} header: {}", self.header, self.reason)
    }
}

impl std::error::Error for HeaderError {}

fn herr(header: &'static str, reason: impl Into<String>) -> HeaderError {
    HeaderError {
        header,
        reason: reason.into(),
    }
}

/// A port or channel pair `a-b`, where `b` may be absent.
pub type Pair<T> = (T, Option<T>);

/// One transport specification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transport {
    /// `RTP`
    pub protocol: String,
    /// `AVP`, or `UDP` in the lab client's `RTP/UDP`.
    pub profile: String,
    /// `UDP` or `TCP`; absent means UDP.
    pub lower: Option<String>,
    pub multicast: bool,
    pub destination: Option<String>,
    /// A multicast group's ports (RFC 2326 §12.39 `port=`).
    pub port: Option<Pair<u16>>,
    pub client_port: Option<Pair<u16>>,
    pub server_port: Option<Pair<u16>>,
    pub interleaved: Option<Pair<u8>>,
    pub ssrc: Option<u32>,
    pub mode: Option<String>,
    pub ttl: Option<u8>,
    /// Parameters we do not interpret, kept as written.
    pub other: Vec<String>,
}

impl Transport {
    pub fn is_tcp(&self) -> bool {
        self.lower
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("TCP"))
    }

    /// The classic lab client's `RTP/UDP`.
    pub fn is_lab(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP")
            && self.profile.eq_ignore_ascii_case("UDP")
            && self.lower.is_none()
    }

    /// RTP/AVP over UDP or TCP, or the lab's RTP/UDP: what rtspd can deliver.
    pub fn is_rtp_avp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP")
            && ((self.profile.eq_ignore_ascii_case("AVP")
                && self.lower.as_deref().is_none_or(|l| {
                    l.eq_ignore_ascii_case("UDP") || l.eq_ignore_ascii_case("TCP")
                }))
                || self.is_lab())
    }

    pub fn parse(spec: &str) -> Result<Transport, HeaderError> {
        let mut parts = spec.split(';').map(str::trim);
        let proto = parts.next().unwrap_or("");
        let mut p = proto.split('/');
        let mut t = Transport {
            protocol: p.next().unwrap_or("").to_string(),
            profile: p
                .next()
                .ok_or_else(|| herr("Transport", format!("{proto:?} has no profile")))?
                .to_string(),
            lower: p.next().map(str::to_string),
            ..Transport::default()
        };
        if t.protocol.is_empty() || p.next().is_some() {
            return Err(herr(
                "Transport",
                format!("bad transport protocol {proto:?}"),
            ));
        }
        for param in parts.filter(|p| !p.is_empty()) {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (param, None),
            };
            match name.to_ascii_lowercase().as_str() {
                "unicast" => t.multicast = false,
                "multicast" => t.multicast = true,
                "destination" => t.destination = value.map(str::to_string),
                "port" => t.port = Some(pair(need(value, name)?, "port")?),
                "client_port" => t.client_port = Some(pair(need(value, name)?, "client_port")?),
                "server_port" => t.server_port = Some(pair(need(value, name)?, "server_port")?),
                "interleaved" => t.interleaved = Some(pair(need(value, name)?, "interleaved")?),
                "ssrc" => {
                    let v = need(value, name)?;
                    t.ssrc = Some(
                        u32::from_str_radix(v, 16)
                            .map_err(|_| herr("Transport", format!("ssrc {v:?}")))?,
                    )
                }
                "mode" => t.mode = Some(need(value, name)?.to_string()),
                "ttl" => {
                    t.ttl = Some(
                        need(value, name)?
                            .parse()
                            .map_err(|_| herr("Transport", "bad ttl"))?,
                    )
                }
                _ => t.other.push(param.to_string()),
            }
        }
        Ok(t)
    }
}

fn need<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, HeaderError> {
    value.ok_or_else(|| herr("Transport", format!("{name} needs a value")))
}

fn pair<T: std::str::FromStr>(v: &str, what: &str) -> Result<Pair<T>, HeaderError> {
    let bad = || herr("Transport", format!("{what}={v:?}"));
    match v.split_once('-') {
        Some((a, b)) => Ok((
            a.trim().parse().map_err(|_| bad())?,
            Some(b.trim().parse().map_err(|_| bad())?),
        )),
        None => Ok((v.trim().parse().map_err(|_| bad())?, None)),
    }
}

fn fmt_pair<T: fmt::Display>(f: &mut fmt::Formatter<'_>, name: &str, p: &Pair<T>) -> fmt::Result {
    match &p.1 {
        Some(b) => write!(f, ";{name}={}-{b}", p.0),
        None => write!(f, ";{name}={}", p.0),
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.profile)?;
        if let Some(l) = &self.lower {
            write!(f, "/{l}")?;
        }
        f.write_str(if self.multicast {
            ";multicast"
        } else {
            ";unicast"
        })?;
        if let Some(d) = &self.destination {
            write!(f, ";destination={d}")?;
        }
        if let Some(p) = &self.port {
            fmt_pair(f, "port", p)?;
        }
        if let Some(p) = &self.client_port {
            fmt_pair(f, "client_port", p)?;
        }
        if let Some(p) = &self.server_port {
            fmt_pair(f, "server_port", p)?;
        }
        if let Some(p) = &self.interleaved {
            fmt_pair(f, "interleaved", p)?;
        }
        if let Some(t) = self.ttl {
            write!(f, ";ttl={t}")?;
        }
        if let Some(s) = self.ssrc {
            write!(f, ";ssrc={s:08X}")?;
        }
        if let Some(m) = &self.mode {
            write!(f, ";mode=\"{m}\"")?;
        }
        for o in &self.other {
            write!(f, ";{o}")?;
        }
        Ok(())
    }
}

/// The comma-separated alternatives of a Transport header, in the client's order of preference.
pub fn parse_transports(value: &str) -> Result<Vec<Transport>, HeaderError> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Transport::parse)
        .collect()
}

/// `Range: npt=START-END`; `start: None` is `now`, `end: None` is open.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NptRange {
    pub start: Option<f64>,
    pub end: Option<f64>,
}

impl NptRange {
    pub fn parse(value: &str) -> Result<NptRange, HeaderError> {
        // `;time=` may follow (§12.29); it asks for a start at a wall-clock time, which we ignore.
        let spec = value.split(';').next().unwrap_or("").trim();
        let npt = spec
            .strip_prefix("npt=")
            .or_else(|| spec.strip_prefix("npt ="))
            .ok_or_else(|| herr("Range", format!("{spec:?}: only npt ranges are supported")))?;
        let (a, b) = npt
            .split_once('-')
            .ok_or_else(|| herr("Range", format!("{npt:?} has no '-'")))?;
        let time = |s: &str| -> Result<Option<f64>, HeaderError> {
            let s = s.trim();
            if s.is_empty() || s == "now" {
                return Ok(None);
            }
            npt_time(s)
                .map(Some)
                .ok_or_else(|| herr("Range", format!("bad npt time {s:?}")))
        };
        let r = NptRange {
            start: time(a)?,
            end: time(b)?,
        };
        if let (Some(s), Some(e)) = (r.start, r.end) {
            if e < s {
                return Err(herr("Range", "end before start"));
            }
        }
        Ok(r)
    }
}

/// `123.45` or `h:mm:ss.fff` to seconds.
fn npt_time(s: &str) -> Option<f64> {
    let ok = |v: f64| (v.is_finite() && v >= 0.0).then_some(v);
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [secs] => ok(secs.parse().ok()?),
        [h, m, sec] => {
            let (h, m, sec): (u64, u64, f64) =
                (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?);
            (m < 60 && sec < 60.0).then(|| ok(h as f64 * 3600.0 + m as f64 * 60.0 + sec))?
        }
        _ => None,
    }
}

impl fmt::Display for NptRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("npt=")?;
        match self.start {
            Some(s) => write!(f, "{s:.3}-")?,
            None => f.write_str("now-")?,
        }
        if let Some(e) = self.end {
            write!(f, "{e:.3}")?;
        }
        Ok(())
    }
}

/// One stream's entry in RTP-Info.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpInfo {
    pub url: String,
    pub seq: Option<u16>,
    pub rtptime: Option<u32>,
}

impl RtpInfo {
    pub fn format_list(items: &[RtpInfo]) -> String {
        items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn parse_list(value: &str) -> Result<Vec<RtpInfo>, HeaderError> {
        let mut out = Vec::new();
        // URLs may contain commas only percent-encoded, so splitting on ",url=" is safe.
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let mut info = RtpInfo::default();
            for param in item.split(';').map(str::trim) {
                let (n, v) = param
                    .split_once('=')
                    .ok_or_else(|| herr("RTP-Info", format!("{param:?}")))?;
                match n.trim() {
                    "url" => info.url = v.trim().to_string(),
                    "seq" => {
                        info.seq = Some(v.trim().parse().map_err(|_| herr("RTP-Info", "bad seq"))?)
                    }
                    "rtptime" => {
                        info.rtptime = Some(
                            v.trim()
                                .parse()
                                .map_err(|_| herr("RTP-Info", "bad rtptime"))?,
                        )
                    }
                    _ => {}
                }
            }
            out.push(info);
        }
        Ok(out)
    }
}

impl fmt::Display for RtpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url={}", self.url)?;
        if let Some(s) = self.seq {
            write!(f, ";seq={s}")?;
        }
        if let Some(t) = self.rtptime {
            write!(f, ";rtptime={t}")?;
        }
        Ok(())
    }
}

/// `Session: ID[;timeout=SECONDS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHeader {
    pub id: String,
    pub timeout: Option<u64>,
}

impl SessionHeader {
    pub fn parse(value: &str) -> Result<SessionHeader, HeaderError> {
        let mut parts = value.split(';');
        let id = parts.next().unwrap_or("").trim();
        if id.is_empty() {
            return Err(herr("Session", "empty id"));
        }
        let mut timeout = None;
        for p in parts {
            if let Some(("timeout", v)) = p.split_once('=').map(|(n, v)| (n.trim(), v.trim())) {
                timeout = Some(
                    v.parse()
                        .map_err(|_| herr("Session", format!("timeout {v:?}")))?,
                );
            }
        }
        Ok(SessionHeader {
            id: id.to_string(),
            timeout,
        })
    }
}

impl fmt::Display for SessionHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if let Some(t) = self.timeout {
            write!(f, ";timeout={t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_from_real_clients() {
        let t = parse_transports("RTP/AVP/UDP;unicast;client_port=5000-5001").unwrap();
        assert_eq!(t[0].client_port, Some((5000, Some(5001))));
        assert!(!t[0].is_tcp() && t[0].is_rtp_avp());
        let t = parse_transports("RTP/AVP/TCP;unicast;interleaved=0-1").unwrap();
        assert!(t[0].is_tcp());
        assert_eq!(t[0].interleaved, Some((0, Some(1))));
        let t = parse_transports("RTP/UDP; client_port= 25000").unwrap();
        assert!(t[0].is_lab() && t[0].is_rtp_avp());
        assert_eq!(t[0].client_port, Some((25000, None)));
        // RFC 2326 §12.39's example list.
        let t = parse_transports("RTP/AVP;multicast;ttl=127;mode=\"PLAY\", RTP/AVP;unicast;client_port=3456-3457;mode=\"PLAY\"").unwrap();
        assert_eq!(t.len(), 2);
        assert!(t[0].multicast && !t[1].multicast);
        assert_eq!((t[0].ttl, t[0].mode.as_deref()), (Some(127), Some("PLAY")));
        assert!(!parse_transports("RAW/RAW/UDP;unicast").unwrap()[0].is_rtp_avp());
        assert!(parse_transports("RTP/AVP;client_port=x").is_err());
        assert!(parse_transports("RTP").is_err());
    }

    #[test]
    fn transport_formats_back() {
        let t = Transport::parse(
            "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=0000BEEF",
        )
        .unwrap();
        assert_eq!(t.ssrc, Some(0xBEEF));
        assert_eq!(
            t.to_string(),
            "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=0000BEEF"
        );
        assert_eq!(Transport::parse(&t.to_string()).unwrap(), t);
        let m = "RTP/AVP;multicast;destination=239.255.42.1;port=5004-5005;ttl=1;ssrc=0000BEEF";
        let t = Transport::parse(m).unwrap();
        assert_eq!(t.port, Some((5004, Some(5005))));
        assert_eq!(t.to_string(), m);
    }

    #[test]
    fn ranges() {
        assert_eq!(
            NptRange::parse("npt=10-").unwrap(),
            NptRange {
                start: Some(10.0),
                end: None
            }
        );
        assert_eq!(
            NptRange::parse("npt=10.5-20").unwrap(),
            NptRange {
                start: Some(10.5),
                end: Some(20.0)
            }
        );
        assert_eq!(
            NptRange::parse("npt=now-").unwrap(),
            NptRange {
                start: None,
                end: None
            }
        );
        assert_eq!(
            NptRange::parse("npt=-20").unwrap(),
            NptRange {
                start: None,
                end: Some(20.0)
            }
        );
        assert_eq!(NptRange::parse("npt=0:01:02.5-").unwrap().start, Some(62.5));
        assert_eq!(
            NptRange::parse("npt=5-;time=19970123T153600Z")
                .unwrap()
                .start,
            Some(5.0)
        );
        for bad in [
            "smpte=10:07:00-",
            "npt=abc-",
            "npt=5",
            "npt=20-10",
            "npt=-1-",
            "npt=0:61:00-",
            "npt=inf-",
        ] {
            assert!(NptRange::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            NptRange {
                start: Some(1.5),
                end: Some(2.0)
            }
            .to_string(),
            "npt=1.500-2.000"
        );
    }

    #[test]
    fn rtp_info_and_session() {
        let items =
            RtpInfo::parse_list("url=rtsp://h/m.Mjpeg/trackID=0;seq=45102;rtptime=12345678")
                .unwrap();
        assert_eq!(
            items,
            vec![RtpInfo {
                url: "rtsp://h/m.Mjpeg/trackID=0".into(),
                seq: Some(45102),
                rtptime: Some(12345678)
            }]
        );
        assert_eq!(
            RtpInfo::format_list(&items),
            "url=rtsp://h/m.Mjpeg/trackID=0;seq=45102;rtptime=12345678"
        );
        let s = SessionHeader::parse("47112344;timeout=60").unwrap();
        assert_eq!((s.id.as_str(), s.timeout), ("47112344", Some(60)));
        assert_eq!(s.to_string(), "47112344;timeout=60");
        assert!(SessionHeader::parse("").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panic(s in "[ -~]{0,80}") {
            let _ = parse_transports(&s);
            let _ = NptRange::parse(&s);
            let _ = RtpInfo::parse_list(&s);
            let _ = SessionHeader::parse(&s);
        }

        #[test]
        fn transport_round_trip(tcp: bool, a: u16, b: u16, ssrc: u32, ch in 0u8..254) {
            let t = Transport {
                protocol: "RTP".into(),
                profile: "AVP".into(),
                lower: Some(if tcp { "TCP" } else { "UDP" }.into()),
                client_port: (!tcp).then_some((a, Some(b))),
                interleaved: tcp.then_some((ch, Some(ch + 1))),
                ssrc: Some(ssrc),
                ..Transport::default()
            };
            proptest::prop_assert_eq!(Transport::parse(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn range_round_trip(a in 0u32..100_000, len in 0u32..100_000) {
            let r = NptRange { start: Some(f64::from(a) / 1000.0), end: Some(f64::from(a + len) / 1000.0) };
            proptest::prop_assert_eq!(NptRange::parse(&r.to_string()).unwrap(), r);
        }
    }
}
