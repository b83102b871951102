//! The HTTP side of rtspd's port (issue 13): what each request gets, decided without sockets.
//!
//! [`Web::respond`] takes a parsed request head and the core, and returns an [`Action`]: a whole
//! response, or the start of something longer that the reactor then drives (an MJPEG viewer,
//! a file body, either end of an RTSP tunnel). The reactor's side of it, per-connection state
//! and byte moving, is [`io`].
//!
//! | path | what |
//! |---|---|
//! | `/` | the library page: every movie, playlist and browser video with its thumbnail |
//! | `/watch/NAME` | the player page (MJPEG in an `<img>`, or a `<video>` for `.mp4`/`.webm`) |
//! | `/mjpeg/NAME[?t=S]` | `multipart/x-mixed-replace` JPEGs at the movie's frame rate, from `S` s |
//! | `/thumb/NAME[?t=S]` | one frame as `image/jpeg` (a placeholder for browser videos) |
//! | `/file/NAME` | a browser video file, with `Range` |
//! | `/api/movies` | JSON: name, rtsp:// URL, size, rate, frames, duration of each source |
//! | `/metrics` | Prometheus text format 0.0.4 |
//! | `/healthz` | 200, never behind authentication |
//!
//! A GET or POST carrying `x-sessioncookie` is one end of an RTSP tunnel, whatever its path.
//! With `--auth`, everything else needs the RTSP credentials (Digest, or Basic where allowed):
//! the tunnel's own RTSP requests are authenticated by the core as on any RTSP connection.

mod api;
mod files;
pub mod io;
mod metrics;
mod pages;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::http::request::Request;
use crate::http::response::{http_date, Length, Response, BOUNDARY};
use crate::http::tunnel::{self, TunnelEnd};
use crate::http::url::{self, parse_target};
use crate::server::core::http::HttpAuth;
use crate::server::core::{ConnInfo, Core, SERVER};
use crate::server::source::library::LookupError;
use crate::server::source::{Seekable, TimelineId};

pub use io::Link;

/// What the reactor knows that `/metrics` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub connections: usize,
    pub http_connections: usize,
    pub tunnels: usize,
    /// Connections refused at accept (limits) over the server's life.
    pub refused: u64,
}

/// What to do with a request.
pub enum Action {
    /// Send this response (its head only for HEAD).
    Reply { response: Response, head_only: bool },
    /// Send this head, then stream `source` from frame `start` to the connection.
    Mjpeg {
        response: Response,
        source: Arc<dyn Seekable>,
        start: usize,
    },
    /// Send this head, then the frames of relayed `name` once its origin is pulled.
    MjpegRelay { response: Response, name: String },
    /// Send this head, then each frame live `timeline` pushes from now on.
    MjpegLive {
        response: Response,
        timeline: TimelineId,
    },
    /// Send this head, then bytes `start..start + len` of the file.
    File {
        response: Response,
        path: PathBuf,
        start: u64,
        len: u64,
    },
    /// Send this head; the connection then carries the RTSP replies of tunnel `cookie`.
    TunnelGet { response: Response, cookie: String },
    /// The rest of the connection is tunnel `cookie`'s base64 RTSP requests.
    TunnelPost { cookie: String },
}

impl Action {
    /// The status a response starts with (for the counters), None for a tunnel's POST.
    pub fn status(&self) -> Option<u16> {
        match self {
            Action::Reply { response, .. }
            | Action::Mjpeg { response, .. }
            | Action::MjpegLive { response, .. }
            | Action::MjpegRelay { response, .. }
            | Action::File { response, .. }
            | Action::TunnelGet { response, .. } => Some(response.status),
            Action::TunnelPost { .. } => None,
        }
    }
}

/// The HTTP side's state: open tunnels, when the server started, connections refused.
pub struct Web {
    started: SystemTime,
    pub refused: u64,
    tunnels: io::Tunnels,
}

impl Web {
    pub fn new(started: SystemTime) -> Web {
        Web {
            started,
            refused: 0,
            tunnels: io::Tunnels::default(),
        }
    }

    /// Answers one request that came on `conn`.
    pub fn respond(
        &mut self,
        core: &mut Core,
        req: &Request,
        conn: &ConnInfo,
        gauges: &Gauges,
        wall: SystemTime,
    ) -> Action {
        let mut action = self.route(core, req, conn, gauges, wall);
        match &mut action {
            Action::Reply { response, .. } | Action::File { response, .. } => {
                response.close |= !req.keep_alive();
            }
            // The stream's body ends when the connection does.
            Action::Mjpeg { response, .. }
            | Action::MjpegLive { response, .. }
            | Action::MjpegRelay { response, .. } => response.close = true,
            Action::TunnelGet { .. } | Action::TunnelPost { .. } => {}
        }
        if let Action::Reply { response, .. }
        | Action::Mjpeg { response, .. }
        | Action::MjpegLive { response, .. }
        | Action::MjpegRelay { response, .. }
        | Action::File { response, .. }
        | Action::TunnelGet { response, .. } = &mut action
        {
            response.headers.push(("Date".into(), http_date(wall)));
            response.headers.push(("Server".into(), SERVER.into()));
        }
        action
    }

    fn route(
        &mut self,
        core: &mut Core,
        req: &Request,
        conn: &ConnInfo,
        gauges: &Gauges,
        wall: SystemTime,
    ) -> Action {
        let head_only = req.method == "HEAD";
        let reply = |response: Response| Action::Reply {
            response,
            head_only,
        };
        match tunnel::tunnel_end(req) {
            Some(TunnelEnd::Get(cookie)) => {
                let mut response = Response::new(200)
                    .header("Content-Type", tunnel::CONTENT_TYPE)
                    .header("Cache-Control", "no-store")
                    .header("Pragma", "no-cache");
                response.length = Length::Unknown;
                return Action::TunnelGet { response, cookie };
            }
            Some(TunnelEnd::Post(cookie)) => return Action::TunnelPost { cookie },
            None => {}
        }
        let Ok(target) = parse_target(&req.target) else {
            return reply(error(400, "That address cannot be read."));
        };
        let path = target.path.as_str();
        let known = path == "/"
            || ["/watch/", "/mjpeg/", "/thumb/", "/file/"]
                .iter()
                .any(|p| path.starts_with(p))
            || ["/api/movies", "/healthz", "/metrics", "/index.html"].contains(&path);
        if req.method == "OPTIONS" && (known || path == "*") {
            let mut r = Response::new(204).header("Allow", "GET, HEAD");
            r.length = Length::Unknown; // a 204 has no Content-Length (RFC 9110 §8.6)
            return reply(r);
        }
        if !known {
            return reply(error(404, "Nothing here."));
        }
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            let r = error(405, "Only GET and HEAD are served here.").header("Allow", "GET, HEAD");
            return reply(r);
        }
        if path == "/healthz" {
            return reply(Response::with_body(
                200,
                "text/plain; charset=utf-8",
                "ok\n",
            ));
        }
        match core.authorize_http(
            &req.method,
            &req.target,
            req.headers.get("Authorization"),
            conn.peer.ip(),
            wall,
        ) {
            HttpAuth::Allowed => {}
            HttpAuth::Challenge(challenges) => {
                let mut r = error(401, "This server needs a user name and password.");
                for c in challenges {
                    r = r.header("WWW-Authenticate", &c);
                }
                return reply(r);
            }
            HttpAuth::Locked => {
                return reply(error(
                    403,
                    "Too many failed attempts; try again in a minute.",
                ))
            }
        }
        let host = req
            .headers
            .get("Host")
            .map(str::to_string)
            .unwrap_or_else(|| conn.local.to_string());
        let t = match url::query_param(&target.query, "t") {
            None => None,
            Some(v) => match v.parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => Some(t),
                _ => return reply(error(400, "t must be a number of seconds, 0 or more.")),
            },
        };
        let name = |prefix: &str| path[prefix.len()..].to_string();
        match path {
            "/" | "/index.html" => reply(pages::library(core, &host)),
            "/api/movies" => reply(api::movies(core, &host)),
            "/metrics" => reply(metrics::response(
                &core.snapshot(),
                gauges,
                self.started,
                wall,
            )),
            p if p.starts_with("/watch/") => reply(pages::watch(core, &name("/watch/"), &host)),
            p if p.starts_with("/thumb/") => reply(pages::thumb(core, &name("/thumb/"), t)),
            p if p.starts_with("/file/") => {
                files::serve(core, &name("/file/"), req, head_only).unwrap_or_else(reply)
            }
            p if p.starts_with("/mjpeg/") => {
                let mut response = Response::new(200)
                    .header(
                        "Content-Type",
                        &format!("multipart/x-mixed-replace;boundary={BOUNDARY}"),
                    )
                    .header("Cache-Control", "no-store")
                    .header("Pragma", "no-cache")
                    .header("X-Content-Type-Options", "nosniff");
                response.length = Length::Unknown;
                // A live stream, a relayed name (woken by the viewer), or an on-demand source.
                let name = name("/mjpeg/");
                let live = core.live_stream(&name).map(|(timeline, _)| timeline);
                let on_demand = if live.is_none() && !core.is_relay(&name) {
                    match source(core, &name) {
                        Ok(s) => Some(s),
                        Err(r) => return reply(r),
                    }
                } else {
                    None
                };
                if head_only {
                    return reply(response);
                }
                match (live, on_demand) {
                    (Some(timeline), _) => Action::MjpegLive { response, timeline },
                    (None, Some(source)) => {
                        let start = source.index_at(t.unwrap_or(0.0));
                        Action::Mjpeg {
                            response,
                            source,
                            start,
                        }
                    }
                    (None, None) => Action::MjpegRelay { response, name },
                }
            }
            _ => reply(error(404, "Nothing here.")),
        }
    }
}

/// The source called `name`, or the error page for why not.
fn source(core: &mut Core, name: &str) -> Result<Arc<dyn Seekable>, Response> {
    core.source(name).map_err(|e| match e {
        LookupError::NotFound(_) => error(404, "There is no movie by that name."),
        LookupError::Unusable(_) => error(
            415,
            "That file cannot be streamed (the server's log says why).",
        ),
    })
}

/// A small HTML error page.
fn error(status: u16, message: &str) -> Response {
    let reason = crate::http::response::reason(status);
    let body = format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport \
         content=\"width=device-width,initial-scale=1\"><title>{status} {reason}</title>\
         <style>body{{font:16px system-ui,sans-serif;background:#101217;color:#e8eaf0;\
         display:grid;place-items:center;min-height:90vh;margin:0}}a{{color:#7cb7ff}}</style>\
         <main><h1>{status} {reason}</h1><p>{}</p><p><a href=\"/\">Back to the library</a></p>\
         </main></html>\n",
        pages::escape(message)
    );
    Response::with_body(status, "text/html; charset=utf-8", body)
        .header("Cache-Control", "no-store")
}

#[cfg(test)]
mod tests;
