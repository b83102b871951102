//! The HTML pages (the library and the player) and thumbnails.
//!
//! Each page is one self-contained document: the stylesheet and script are inlined from
//! `assets/`, icons are inline SVG, and a Content-Security-Policy forbids loading anything from
//! elsewhere, so the pages work on a network with no way out and never call home.

use std::sync::OnceLock;

use crate::http::response::Response;
use crate::http::url::encode_path;
use crate::media::pixels::encode_rgb;
use crate::server::core::Core;
use crate::server::web::api::{entries, json_num, json_str, rtsp_url, Kind};
use crate::server::web::{error, files, source};

const STYLE: &str = include_str!("assets/style.css");
const WATCH_JS: &str = include_str!("assets/watch.js");
const FILE_JS: &str = include_str!("assets/file.js");
const LIBRARY_JS: &str = include_str!("assets/library.js");
const LIVE_JS: &str = include_str!("assets/live.js");

const LOGO: &str =
    "<svg viewBox=\"0 0 32 32\" aria-hidden=\"true\"><rect width=\"32\" height=\"32\" \
    rx=\"8\" fill=\"#4f9dff\"/><path d=\"M12 9v14l11-7z\" fill=\"#fff\"/></svg>";
const ICON_PLAY: &str =
    "<svg viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M8 5v14l11-7z\"/></svg>";
const ICON_PAUSE: &str =
    "<svg viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M6 5h4v14H6zm8 0h4v14h-4z\"/></svg>";
const ICON_FULLSCREEN: &str =
    "<svg viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M4 4h6v2H6v4H4z\
    m10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z\"/></svg>";
const FAVICON: &str =
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'\
    %3E%3Crect width='32' height='32' rx='8' fill='%234f9dff'/%3E%3Cpath d='M12 9v14l11-7z' \
    fill='%23fff'/%3E%3C/svg%3E";

/// Nothing but this server: no CDN, no fonts, no analytics, ever.
const CSP: &str = "default-src 'none'; img-src 'self' data:; media-src 'self'; \
    style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Text for HTML content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `12.5` seconds as `0:12`, an hour and more as `1:02:03`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A byte count as people read it: `980 B`, `12.6 KB`, `2.9 MB`, `1.2 GB`.
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=999 => format!("{bytes}\u{a0}B"),
        1_000..=999_999 => format!("{:.1}\u{a0}KB", b / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}\u{a0}MB", b / 1e6),
        _ => format!("{:.1}\u{a0}GB", b / 1e9),
    }
}

fn fps(v: f64) -> String {
    if (v - v.round()).abs() < 0.005 {
        format!("{:.0}", v)
    } else {
        format!("{v:.2}")
    }
}

fn page(title: &str, body: &str, script: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"dark\">\n<title>{}</title>\n\
         <link rel=\"icon\" href=\"{FAVICON}\">\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}\n\
         <script>\n{script}</script>\n</body>\n</html>\n",
        escape(title)
    );
    Response::with_body(200, "text/html; charset=utf-8", html)
        .header("Cache-Control", "no-cache")
        .header("Content-Security-Policy", CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
}

/// `/`: every movie, playlist and browser video, each a card linking to its player.
pub fn library(core: &mut Core, host: &str) -> Response {
    let items = entries(core);
    let mut cards = String::new();
    for e in &items {
        let path = encode_path(&e.name);
        let lower = e.name.to_lowercase();
        let playlist = lower.ends_with(".m3u") || lower.ends_with(".m3u8");
        let (badge, sub, class, tag) = match &e.kind {
            Kind::Stream(i) => (
                format!(
                    "<span class=\"badge\">{}</span>",
                    clock(i.duration.unwrap_or(0.0))
                ),
                format!(
                    "{}×{} · {}\u{a0}fps · {}",
                    i.width,
                    i.height,
                    fps(i.fps),
                    size(i.bytes)
                ),
                "card",
                if playlist { "Playlist" } else { "" },
            ),
            Kind::File { bytes } => (
                format!("<span class=\"badge\" data-file=\"/file/{path}\">video</span>"),
                format!("browser video · {}", size(*bytes)),
                "card",
                if lower.ends_with(".webm") {
                    "WebM"
                } else {
                    "MP4"
                },
            ),
            Kind::Live(_) => (
                "<span class=\"badge\">live</span>".to_string(),
                "live stream".to_string(),
                "card",
                "LIVE",
            ),
            Kind::Unusable => (
                String::new(),
                "cannot be streamed".to_string(),
                "card off",
                "",
            ),
        };
        let tag = if tag.is_empty() {
            String::new()
        } else {
            format!("<span class=\"tag\">{tag}</span>")
        };
        cards.push_str(&format!(
            "<a class=\"{class}\" href=\"/watch/{path}\" data-name=\"{}\">\
             <div class=\"thumb\"><img src=\"/thumb/{path}\" alt=\"\" loading=\"lazy\" \
             width=\"320\" height=\"180\">{tag}{badge}</div>\
             <div class=\"meta\"><div class=\"name\" title=\"{name}\">{name}</div>\
             <div class=\"sub\">{sub}</div></div></a>\n",
            escape(&lower),
            name = escape(&e.name),
        ));
    }
    let count = match items.len() {
        1 => "1 video".to_string(),
        n => format!("{n} videos"),
    };
    let empty = if items.is_empty() {
        "<p class=\"empty\">The media folder has no movies yet. <code>mjpeg convert IN OUT.Mjpeg</code> \
         makes one from any video.</p>"
    } else {
        "<p class=\"empty\" id=\"empty-match\" hidden></p>"
    };
    let body = format!(
        "<header class=\"top\"><a class=\"brand\" href=\"/\">{LOGO}rtspd</a>\
         <input id=\"filter\" type=\"search\" placeholder=\"Filter by name\" aria-label=\"Filter by name\"></header>\n\
         <main>\n<h1>Library<span class=\"count\">{count}</span></h1>\n<div class=\"grid\">\n{cards}</div>\n{empty}\n\
         <p class=\"empty\" id=\"empty\" hidden>Nothing matches.</p>\n</main>\n\
         <footer>Every movie plays over RTSP on this same port: <code>{}</code><br>\
         <a href=\"/api/movies\">JSON</a> · <a href=\"/metrics\">metrics</a></footer>",
        escape(&rtsp_url(host, "NAME")).replace("NAME", "<i>NAME</i>"),
    );
    page("rtspd · Library", &body, LIBRARY_JS)
}

/// `/watch/NAME`: the player page.
pub fn watch(core: &mut Core, name: &str, host: &str) -> Response {
    let path = encode_path(name);
    let title = escape(name);
    let header = format!(
        "<header class=\"top\"><a class=\"back\" href=\"/\">← Library</a>\
         <h1 class=\"title\">{title}</h1></header>"
    );
    if files::content_type(name).is_some() {
        if core.library().catalog().resolve(name).is_err() {
            return error(404, "There is no video by that name.");
        }
        let body = format!(
            "{header}\n<main class=\"watch\">\n<div id=\"stage\" class=\"stage\">\
             <video id=\"video\" src=\"/file/{path}\" controls autoplay playsinline preload=\"metadata\"></video>\
             </div>\n<section class=\"panel\"><h2>About this file</h2>\
             <p class=\"note\">Your browser plays this file itself; RTSP carries MJPEG movies only. \
             <a class=\"link\" href=\"/file/{path}\" download>Download it</a></p>\
             <p class=\"keys\"><kbd>Space</kbd> play/pause · <kbd>←</kbd> <kbd>→</kbd> 5 s · \
             <kbd>F</kbd> fullscreen</p></section>\n</main>"
        );
        return page(&format!("{name} · rtspd"), &body, FILE_JS);
    }
    if core.live_stream(name).is_some() || core.is_relay(name) {
        return live(name, &header, host);
    }
    let source = match source(core, name) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let info = source.info();
    let duration = info.duration.unwrap_or(0.0);
    let url = rtsp_url(host, name);
    let cfg = format!(
        "{{\"mjpeg\": {}, \"thumb\": {}, \"duration\": {}, \"icons\": {{\"play\": {}, \"pause\": {}}}}}",
        json_str(&format!("/mjpeg/{path}")),
        json_str(&format!("/thumb/{path}")),
        json_num(duration),
        json_str(ICON_PLAY),
        json_str(ICON_PAUSE),
    );
    let body = format!(
        "{header}\n<main class=\"watch\">\n\
         <div id=\"stage\" class=\"stage\"><img id=\"video\" src=\"/mjpeg/{path}\" alt=\"{title}\" \
         width=\"{w}\" height=\"{h}\"><div class=\"pausemark\"><span>{ICON_PLAY}</span></div></div>\n\
         <div class=\"bar\"><button id=\"play\" class=\"btn\" aria-label=\"Pause\" title=\"Play/pause (Space)\">{ICON_PAUSE}</button>\
         <span id=\"pos\" class=\"time\">0:00</span>\
         <input id=\"seek\" type=\"range\" min=\"0\" max=\"{dur}\" step=\"0.01\" value=\"0\" aria-label=\"Position\">\
         <span id=\"dur\" class=\"time\">{dur_text}</span>\
         <button id=\"fs\" class=\"btn\" aria-label=\"Fullscreen\" title=\"Fullscreen (F)\">{ICON_FULLSCREEN}</button></div>\n\
         <section class=\"panel\"><h2>Watch it in another player</h2>\
         <div class=\"copy\"><input id=\"url\" readonly value=\"{url}\" aria-label=\"RTSP URL\">\
         <button id=\"copy\" class=\"btn\">Copy</button></div>\
         <p class=\"cmds\"><code>ffplay {url}</code><code>vlc {url}</code></p>\
         <dl class=\"facts\"><div><dt>Picture</dt><dd>{w}×{h}</dd></div>\
         <div><dt>Rate</dt><dd>{rate} fps</dd></div><div><dt>Frames</dt><dd>{frames}</dd></div>\
         <div><dt>Length</dt><dd>{dur_text}</dd></div><div><dt>File</dt><dd>{bytes}</dd></div></dl>\
         <p class=\"keys\"><kbd>Space</kbd> play/pause · <kbd>←</kbd> <kbd>→</kbd> 5 s · \
         <kbd>F</kbd> fullscreen</p></section>\n</main>\n\
         <script type=\"application/json\" id=\"cfg\">{cfg}</script>",
        w = info.width,
        h = info.height,
        dur = json_num(duration),
        dur_text = clock(duration),
        url = escape(&url),
        rate = fps(info.fps),
        frames = info.frames,
        bytes = size(info.bytes),
    );
    page(&format!("{name} · rtspd"), &body, WATCH_JS)
}

/// The page of a live stream (a publisher's or a relay's): the picture as it comes, fullscreen,
/// and the RTSP URL; nothing to pause or seek.
fn live(name: &str, header: &str, host: &str) -> Response {
    let path = encode_path(name);
    let url = escape(&rtsp_url(host, name));
    let body = format!(
        "{header}\n<main class=\"watch\">\n\
         <div id=\"stage\" class=\"stage\"><img id=\"video\" src=\"/mjpeg/{path}\" alt=\"{title}\"></div>\n\
         <div class=\"bar\"><span class=\"live\">● LIVE</span><span class=\"time grow\"></span>\
         <button id=\"fs\" class=\"btn\" aria-label=\"Fullscreen\" title=\"Fullscreen (F)\">{ICON_FULLSCREEN}</button></div>\n\
         <section class=\"panel\"><h2>Watch it in another player</h2>\
         <div class=\"copy\"><input id=\"url\" readonly value=\"{url}\" aria-label=\"RTSP URL\">\
         <button id=\"copy\" class=\"btn\">Copy</button></div>\
         <p class=\"cmds\"><code>ffplay {url}</code><code>vlc {url}</code></p>\
         <p class=\"keys\"><kbd>F</kbd> fullscreen</p></section>\n</main>",
        title = escape(name),
    );
    page(&format!("{name} · live · rtspd"), &body, LIVE_JS)
}

/// `/thumb/NAME[?t=S]`: the frame at `S` s (a tenth into the movie without `t`), as it is in
/// the movie; a drawn placeholder for browser videos and files that cannot be streamed.
pub fn thumb(core: &mut Core, name: &str, t: Option<f64>) -> Response {
    let jpeg = |bytes: Vec<u8>, cache: &str| {
        Response::with_body(200, "image/jpeg", bytes).header("Cache-Control", cache)
    };
    if files::content_type(name).is_some() {
        return match core.library().catalog().resolve(name) {
            Ok(_) => jpeg(placeholder().to_vec(), "max-age=3600"),
            Err(_) => error(404, "No such video."),
        };
    }
    if core.live_stream(name).is_some() || core.is_relay(name) {
        // A live stream's thumbnail is its latest picture (none while a relay sleeps).
        return match core.live_frame(name) {
            Some(f) => jpeg(f.jpeg.clone(), "no-cache"),
            None => jpeg(placeholder().to_vec(), "no-cache"),
        };
    }
    let source = match core.source(name) {
        Ok(s) => s,
        Err(crate::server::source::library::LookupError::Unusable(_)) => {
            return jpeg(placeholder().to_vec(), "max-age=60")
        }
        Err(_) => return error(404, "There is no movie by that name."),
    };
    let at = t.unwrap_or(source.info().duration.unwrap_or(0.0) / 10.0);
    match core.frame_of(source.as_ref(), source.index_at(at)) {
        Ok(frame) => jpeg(frame.jpeg.clone(), "max-age=60"),
        Err(_) => jpeg(placeholder().to_vec(), "no-cache"),
    }
}

/// A 320x180 JPEG: a dark gradient with a play symbol, drawn once.
fn placeholder() -> &'static [u8] {
    static JPEG: OnceLock<Vec<u8>> = OnceLock::new();
    JPEG.get_or_init(|| {
        let (w, h) = (320usize, 180usize);
        let mut rgb = vec![0u8; w * h * 3];
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        for y in 0..h {
            for x in 0..w {
                let g = y as f32 / h as f32;
                let mut px = [
                    (30.0 + 14.0 * g) as u8,
                    (35.0 + 16.0 * g) as u8,
                    (48.0 + 22.0 * g) as u8,
                ];
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let r = (dx * dx + dy * dy).sqrt();
                let in_triangle = dx > -10.0 && dx < 16.0 && dy.abs() < (16.0 - dx) * 0.58;
                if (32.0..35.0).contains(&r) || in_triangle {
                    px = [214, 221, 234];
                }
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&px);
            }
        }
        encode_rgb(&rgb, w as u16, h as u16, 85).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_helpers() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(clock(10.0), "0:10");
        assert_eq!(clock(3723.4), "1:02:03");
        assert_eq!(size(999), "999\u{a0}B");
        assert_eq!(size(2_880_000), "2.9\u{a0}MB");
        assert_eq!(fps(24.0), "24");
        assert_eq!(fps(29.97), "29.97");
        let p = placeholder();
        assert!(p.starts_with(&[0xFF, 0xD8]) && p.len() > 500);
    }
}
