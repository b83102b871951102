//! `/metrics`: Prometheus text exposition format 0.0.4.
//!
//! Every family has `# HELP` and `# TYPE` lines before its samples; names start with `rtspd_`,
//! counters end in `_total`, units are base units (bytes, seconds); label values are escaped
//! (`\\`, `\"`, `\n`) and come only from fixed sets (methods outside the protocols' own are
//! `other`), so a client cannot grow the number of series. The names follow MediaMTX's where
//! there is one to follow.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::response::Response;
use crate::server::core::http::Snapshot;
use crate::server::web::Gauges;

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Writer(String);

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The text of `/metrics`.
pub fn render(s: &Snapshot, g: &Gauges, started: SystemTime) -> String {
    let mut w = Writer(String::with_capacity(4096));
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    };
    let c = &s.counters;
    let t = &s.totals;
    w.family(
        "rtspd_build_info",
        "gauge",
        "The server's version (the value is 1).",
    );
    w.sample(
        "rtspd_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    w.one(
        "rtspd_start_time_seconds",
        "gauge",
        "When the server started, in seconds since the Unix epoch.",
        secs(started),
    );
    w.one(
        "rtspd_connections",
        "gauge",
        "Open TCP connections on the port (RTSP and HTTP).",
        g.connections as f64,
    );
    w.one(
        "rtspd_http_connections",
        "gauge",
        "Open connections speaking HTTP (tunnels included).",
        g.http_connections as f64,
    );
    w.one(
        "rtspd_connections_refused_total",
        "counter",
        "Connections closed on accept because a connection limit was reached.",
        g.refused as f64,
    );
    w.one(
        "rtspd_sessions",
        "gauge",
        "RTSP sessions.",
        s.sessions as f64,
    );
    w.one(
        "rtspd_sessions_playing",
        "gauge",
        "RTSP sessions that are playing.",
        s.playing as f64,
    );
    w.one(
        "rtspd_sessions_opened_total",
        "counter",
        "RTSP sessions set up.",
        t.sessions_opened as f64,
    );
    w.one(
        "rtspd_sessions_timed_out_total",
        "counter",
        "RTSP sessions ended by their time-out.",
        t.sessions_timed_out as f64,
    );
    w.one(
        "rtspd_http_viewers",
        "gauge",
        "Browsers (or other clients) watching an MJPEG stream.",
        s.viewers as f64,
    );
    w.one(
        "rtspd_http_tunnels",
        "gauge",
        "RTSP sessions' tunnels over HTTP (GET halves open).",
        g.tunnels as f64,
    );
    w.one(
        "rtspd_rtp_packets_sent_total",
        "counter",
        "RTP packets sent, over UDP and interleaved.",
        s.rtp_packets as f64,
    );
    w.one(
        "rtspd_rtp_bytes_sent_total",
        "counter",
        "RTP bytes sent (12-byte headers and payloads).",
        s.rtp_bytes as f64,
    );
    w.one(
        "rtspd_frames_sent_total",
        "counter",
        "Frames sent whole to RTSP sessions.",
        t.frames_sent as f64,
    );
    w.one(
        "rtspd_frames_dropped_total",
        "counter",
        "Frames not sent to an RTSP session: its TCP queue was full or the UDP socket refused.",
        t.frames_dropped as f64,
    );
    w.one(
        "rtspd_frames_thinned_total",
        "counter",
        "Frames adaptive sessions skipped to stay within their path's rate.",
        t.frames_thinned as f64,
    );
    w.one(
        "rtspd_frames_unreadable_total",
        "counter",
        "Frames a source could not give (file changed, frame not carriable).",
        t.frames_unreadable as f64,
    );
    w.one(
        "rtspd_rtp_send_errors_total",
        "counter",
        "Frames the UDP socket refused with an error.",
        t.send_errors as f64,
    );
    w.one(
        "rtspd_rtcp_receiver_reports_total",
        "counter",
        "RTCP receiver report blocks about our sessions.",
        c.receiver_reports as f64,
    );
    w.one(
        "rtspd_rtcp_reported_lost_packets_total",
        "counter",
        "RTP packets receivers reported lost (rises of each session's cumulative count).",
        c.reported_lost as f64,
    );
    w.family(
        "rtspd_requests_total",
        "counter",
        "RTSP requests answered, by method and status (invalid: could not be parsed).",
    );
    for ((m, st), n) in &c.rtsp_requests {
        w.sample(
            "rtspd_requests_total",
            &[("method", m), ("status", &st.to_string())],
            *n as f64,
        );
    }
    w.family(
        "rtspd_http_requests_total",
        "counter",
        "HTTP requests answered, by method and status.",
    );
    for ((m, st), n) in &c.http_requests {
        w.sample(
            "rtspd_http_requests_total",
            &[("method", m), ("status", &st.to_string())],
            *n as f64,
        );
    }
    w.one(
        "rtspd_auth_failures_total",
        "counter",
        "Requests with wrong credentials (RTSP and HTTP).",
        s.auth_failures as f64,
    );
    w.one(
        "rtspd_http_viewers_started_total",
        "counter",
        "MJPEG streams started.",
        c.viewers_started as f64,
    );
    w.one(
        "rtspd_http_frames_sent_total",
        "counter",
        "Frames sent to MJPEG viewers.",
        c.viewer_frames_sent as f64,
    );
    w.one(
        "rtspd_http_frames_skipped_total",
        "counter",
        "Frames whose time passed while the viewer's connection could not take them (slow or stalled viewers).",
        c.viewer_frames_skipped as f64,
    );
    w.one(
        "rtspd_http_stream_bytes_sent_total",
        "counter",
        "Bytes of MJPEG parts queued for viewers.",
        c.viewer_bytes as f64,
    );
    w.one(
        "rtspd_frame_cache_hits_total",
        "counter",
        "Frames found in the shared frame cache.",
        s.cache_hits as f64,
    );
    w.one(
        "rtspd_frame_cache_misses_total",
        "counter",
        "Frames read from disk into the shared frame cache.",
        s.cache_misses as f64,
    );
    w.one(
        "rtspd_frame_cache_bytes",
        "gauge",
        "Bytes the shared frame cache holds.",
        s.cache_bytes as f64,
    );
    w.one(
        "rtspd_sources_loaded",
        "gauge",
        "Movies (and playlists) indexed and kept.",
        s.sources_loaded as f64,
    );
    w.0
}

pub fn response(s: &Snapshot, g: &Gauges, started: SystemTime, _now: SystemTime) -> Response {
    Response::with_body(200, CONTENT_TYPE, render(s, g, started))
        .header("Cache-Control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtsp::message::{Method, StatusCode};
    use crate::server::core::http::Counters;
    use crate::server::core::Totals;
    use std::collections::HashMap;

    /// Parses exposition text the way Prometheus does, checking the format's rules on the way:
    /// HELP and TYPE once per family and before its samples, valid names, escaped label values,
    /// counters named `_total`, numbers for values. Returns sample -> value.
    fn parse(text: &str) -> HashMap<String, f64> {
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
                })
        };
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps = std::collections::HashSet::new();
        let mut samples = HashMap::new();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _) = rest.split_once(' ').unwrap();
                assert!(helps.insert(name.to_string()), "HELP twice for {name}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(helps.contains(name), "TYPE before HELP for {name}");
                assert!(["counter", "gauge"].contains(&kind));
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counter {name}");
                }
                assert!(types.insert(name.to_string(), kind.to_string()).is_none());
            } else {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let name = series.split('{').next().unwrap();
                assert!(valid_name(name) && name.starts_with("rtspd_"), "{name}");
                assert!(types.contains_key(name), "sample {name} before its TYPE");
                if let Some(labels) = series.strip_prefix(name) {
                    if !labels.is_empty() {
                        let inner = labels.strip_prefix('{').unwrap().strip_suffix('}').unwrap();
                        // label="value" pairs; values with escapes only.
                        let mut rest = inner;
                        while !rest.is_empty() {
                            let (k, v) = rest.split_once("=\"").unwrap();
                            assert!(valid_name(k));
                            let mut end = None;
                            let mut esc = false;
                            for (i, ch) in v.char_indices() {
                                match (esc, ch) {
                                    (true, '\\' | '"' | 'n') => esc = false,
                                    (true, _) => panic!("bad escape in {line}"),
                                    (false, '\\') => esc = true,
                                    (false, '"') => {
                                        end = Some(i);
                                        break;
                                    }
                                    (false, '\n') => panic!("raw newline"),
                                    _ => {}
                                }
                            }
                            let end = end.unwrap();
                            rest = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
                        }
                    }
                }
                let v: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
                assert!(
                    samples.insert(series.to_string(), v).is_none(),
                    "{series} twice"
                );
            }
        }
        samples
    }

    #[test]
    fn the_text_format_parses_and_says_what_happened() {
        let mut counters = Counters::default();
        counters.count_rtsp(Some(&Method::Play), StatusCode::OK);
        counters.count_rtsp(Some(&Method::Play), StatusCode::OK);
        counters.count_rtsp(None, StatusCode::BAD_REQUEST);
        counters.count_http(Some("GET"), 404);
        let s = Snapshot {
            sessions: 3,
            playing: 2,
            viewers: 5,
            totals: Totals {
                frames_dropped: 7,
                ..Totals::default()
            },
            rtp_packets: 900,
            rtp_bytes: 1_234_567,
            counters,
            auth_failures: 4,
            cache_hits: 1,
            cache_misses: 2,
            cache_bytes: 3,
            sources_loaded: 1,
        };
        let g = Gauges {
            connections: 9,
            http_connections: 6,
            tunnels: 1,
            refused: 2,
        };
        let text = render(&s, &g, UNIX_EPOCH);
        let m = parse(&text);
        assert_eq!(m["rtspd_sessions"], 3.0);
        assert_eq!(m["rtspd_connections"], 9.0);
        assert_eq!(m["rtspd_http_viewers"], 5.0);
        assert_eq!(m["rtspd_rtp_packets_sent_total"], 900.0);
        assert_eq!(m["rtspd_rtp_bytes_sent_total"], 1_234_567.0);
        assert_eq!(
            m["rtspd_requests_total{method=\"PLAY\",status=\"200\"}"],
            2.0
        );
        assert_eq!(
            m["rtspd_requests_total{method=\"invalid\",status=\"400\"}"],
            1.0
        );
        assert_eq!(
            m["rtspd_http_requests_total{method=\"GET\",status=\"404\"}"],
            1.0
        );
        assert_eq!(m["rtspd_auth_failures_total"], 4.0);
        assert_eq!(m["rtspd_frames_dropped_total"], 7.0);
        let info = format!(
            "rtspd_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(m[&info], 1.0);
        // Escaping, checked by the parser above.
        let mut w = Writer(String::new());
        w.family("rtspd_x", "gauge", "a \\ b\nc");
        w.sample("rtspd_x", &[("l", "q\"\\\n")], 1.5);
        assert_eq!(
            w.0,
            "# HELP rtspd_x a \\\\ b\\nc\n# TYPE rtspd_x gauge\nrtspd_x{l=\"q\\\"\\\\\\n\"} 1.5\n"
        );
        parse(&w.0);
    }
}
