//! The library as data: what the library page lists and what `/api/movies` returns.
//!
//! Every name the [`Library`](crate::server::source::Library) lists (movies, and playlists once
//! it reads them) is looked up, which indexes a movie the first time; browser video files come
//! from [`files`]; live streams (publishers' and relays' timelines) while they are on, and
//! every relayed name (an idle one with its size unknown: 0).
//! `/api/movies` lists what RTSP and `/mjpeg/` can stream (a live one with `duration` null).

use crate::http::response::Response;
use crate::http::url::encode_path;
use crate::server::core::Core;
use crate::server::source::library::LookupError;
use crate::server::source::SourceInfo;
use crate::server::web::files;

/// One item of the library.
pub enum Kind {
    /// A source RTSP and `/mjpeg/` stream.
    Stream(SourceInfo),
    /// A video file browsers play themselves (`.mp4`, `.webm`), of this many bytes.
    File { bytes: u64 },
    /// A file the library lists that cannot be streamed (the log says why).
    Unusable,
    /// A live stream on now: a publisher's (`live/...`) or a relay's.
    Live(SourceInfo),
}

pub struct Entry {
    pub name: String,
    pub kind: Kind,
}

/// Everything in the media folder worth listing, sorted by name.
pub fn entries(core: &mut Core) -> Vec<Entry> {
    let mut out = Vec::new();
    for name in core.library().names() {
        match core.source(&name) {
            Ok(s) => out.push(Entry {
                kind: Kind::Stream(s.info().clone()),
                name,
            }),
            Err(LookupError::Unusable(_)) => out.push(Entry {
                name,
                kind: Kind::Unusable,
            }),
            Err(LookupError::NotFound(_)) => {} // gone since it was listed
        }
    }
    let live = core.live_streams();
    // A relay not pulled now is listed too: watching it wakes it.
    let idle_relays: Vec<SourceInfo> = core
        .relay_names()
        .filter(|name| !live.iter().any(|l| l.name == *name))
        .map(|name| SourceInfo {
            name: name.to_string(),
            width: 0,
            height: 0,
            fps: core.config().fps,
            duration: None,
            frames: 0,
            bytes: 0,
        })
        .collect();
    for info in live.into_iter().chain(idle_relays) {
        out.push(Entry {
            name: info.name.clone(),
            kind: Kind::Live(info),
        });
    }
    for (name, bytes) in files::list(core.library().catalog()) {
        out.push(Entry {
            name,
            kind: Kind::File { bytes },
        });
    }
    out.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.name.cmp(&b.name))
    });
    out
}

/// The RTSP URL of `name` on the server the browser reached as `host` (same port).
pub fn rtsp_url(host: &str, name: &str) -> String {
    format!("rtsp://{host}/{}", encode_path(name))
}

/// `/api/movies`: a JSON array, one object per streamable source.
pub fn movies(core: &mut Core, host: &str) -> Response {
    let mut out = String::from("[");
    for e in entries(core) {
        let (Kind::Stream(info) | Kind::Live(info)) = &e.kind else {
            continue;
        };
        if out.len() > 1 {
            out.push(',');
        }
        let path = encode_path(&e.name);
        out.push_str(&format!(
            "\n  {{\"name\": {}, \"url\": {}, \"width\": {}, \"height\": {}, \"fps\": {}, \
             \"frames\": {}, \"duration\": {}, \"bytes\": {}, \"watch\": {}, \"mjpeg\": {}, \
             \"thumb\": {}}}",
            json_str(&e.name),
            json_str(&rtsp_url(host, &e.name)),
            info.width,
            info.height,
            json_num(info.fps),
            info.frames,
            info.duration.map_or("null".into(), json_num),
            info.bytes,
            json_str(&format!("/watch/{path}")),
            json_str(&format!("/mjpeg/{path}")),
            json_str(&format!("/thumb/{path}")),
        ));
    }
    out.push_str(if out.len() > 1 { "\n]\n" } else { "]\n" });
    Response::with_body(200, "application/json", out).header("Cache-Control", "no-cache")
}

/// A JSON number with at most 3 decimals (never NaN or infinite: those are null).
pub fn json_num(v: f64) -> String {
    if !v.is_finite() {
        return "null".into();
    }
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A JSON string literal (RFC 8259 §7), safe inside HTML `<script>` too: `<`, `>` and `&` are
/// escaped, so no value can close the script element.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pieces() {
        assert_eq!(
            json_str("a\"b\\c\n</script>"),
            r#""a\"b\\c\n\u003c/script\u003e""#
        );
        assert_eq!(json_str("é\u{1}"), "\"é\\u0001\"");
        assert_eq!(json_num(24.0), "24");
        assert_eq!(json_num(29.97002997), "29.97");
        assert_eq!(json_num(10.0 / 3.0), "3.333");
        assert_eq!(json_num(f64::NAN), "null");
        assert_eq!(json_num(-0.0001), "0");
        assert_eq!(
            rtsp_url("h:8554", "clips/a b.Mjpeg"),
            "rtsp://h:8554/clips/a%20b.Mjpeg"
        );
    }
}
