//! The web side without sockets: requests as bytes, a core over a temporary media folder.

use super::*;
use crate::http::request::parse_head;
use crate::media::testmovie::TestMovie;
use crate::rtsp::auth::basic_authorization;
use crate::server::auth::AuthConfig;
use crate::server::catalog::Catalog;
use crate::server::config::Config;
use std::time::Instant;

struct Fixture {
    dir: PathBuf,
    core: Core,
    web: Web,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(auth: Option<&str>) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "rtsp-mjpeg-web-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(dir.join("clips")).unwrap();
    let movie = TestMovie {
        seconds: 1.0,
        width: 64,
        height: 64,
        fps: 24,
        ..TestMovie::default()
    };
    std::fs::write(dir.join("movie.Mjpeg"), movie.to_lab_bytes()).unwrap();
    std::fs::write(dir.join("clips/a <b>.Mjpeg"), movie.to_lab_bytes()).unwrap();
    std::fs::write(dir.join("broken.mjpeg"), b"not a movie").unwrap();
    std::fs::write(dir.join("clip.mp4"), vec![7u8; 1000]).unwrap();
    std::fs::write(dir.join("twice.m3u"), "movie.Mjpeg\nmovie.Mjpeg\n").unwrap();
    let mut config = Config {
        media: dir.clone(),
        ..Config::default()
    };
    if let Some(methods) = auth {
        let mut a = AuthConfig::new("rtspd");
        a.add_plain("alice:secret").unwrap();
        a.set_schemes(methods).unwrap();
        config.auth = Some(a);
    }
    let core = Core::new(config, Catalog::new(&dir).unwrap(), 6970, Instant::now()).unwrap();
    Fixture {
        dir,
        core,
        web: Web::new(SystemTime::now()),
    }
}

impl Fixture {
    fn get(&mut self, head: &str) -> Action {
        let text = format!("{head}\r\n\r\n");
        let (req, _) = parse_head(text.as_bytes(), &Default::default()).unwrap();
        let conn = ConnInfo {
            id: 1,
            peer: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:8554".parse().unwrap(),
        };
        self.web.respond(
            &mut self.core,
            &req,
            &conn,
            &Gauges::default(),
            SystemTime::now(),
        )
    }

    fn reply(&mut self, head: &str) -> (Response, bool) {
        match self.get(head) {
            Action::Reply {
                response,
                head_only,
            } => (response, head_only),
            _ => panic!("{head}: not a plain reply"),
        }
    }
}

fn body(r: &Response) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

#[test]
fn the_library_lists_everything_with_thumbnails() {
    let mut f = fixture(None);
    let (r, _) = f.reply("GET / HTTP/1.1\r\nHost: example:8554");
    assert_eq!(r.status, 200);
    assert_eq!(r.get("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(r
        .get("Content-Security-Policy")
        .unwrap()
        .contains("default-src 'none'"));
    let html = body(&r);
    for (link, thumb) in [
        ("/watch/movie.Mjpeg", "/thumb/movie.Mjpeg"),
        (
            "/watch/clips/a%20%3Cb%3E.Mjpeg",
            "/thumb/clips/a%20%3Cb%3E.Mjpeg",
        ),
        ("/watch/clip.mp4", "/thumb/clip.mp4"),
        ("/watch/broken.mjpeg", "/thumb/broken.mjpeg"),
    ] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
        assert!(html.contains(&format!("<img src=\"{thumb}\"")), "{thumb}");
    }
    assert!(html.contains("a &lt;b&gt;.Mjpeg"), "names are escaped");
    assert!(
        html.contains("href=\"/watch/twice.m3u\"") && html.contains(">Playlist</span>"),
        "playlists are listed as such"
    );
    assert!(html.contains("0:01"), "durations");
    assert!(html.contains("rtsp://example:8554/"));
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url("] {
        assert!(!html.contains(attr), "nothing external: {attr}");
    }
}

#[test]
fn the_player_page_and_its_stream() {
    let mut f = fixture(None);
    let (r, _) = f.reply("GET /watch/movie.Mjpeg HTTP/1.1\r\nHost: h:1");
    let html = body(&r);
    assert!(html.contains("<img id=\"video\" src=\"/mjpeg/movie.Mjpeg\""));
    assert!(html.contains("value=\"rtsp://h:1/movie.Mjpeg\""));
    match f.get("GET /mjpeg/movie.Mjpeg?t=0.5 HTTP/1.1\r\nHost: h") {
        Action::Mjpeg {
            response, start, ..
        } => {
            assert_eq!(start, 12);
            let head = String::from_utf8(response.to_bytes(true)).unwrap();
            assert!(head.contains(
                "Content-Type: multipart/x-mixed-replace;boundary=rtspd-mjpeg-frame\r\n"
            ));
            assert!(head.contains("Cache-Control: no-store\r\n"));
            assert!(!head.contains("Content-Length"));
            assert!(head.contains("Connection: close\r\n"));
        }
        _ => panic!("not a stream"),
    }
    let (r, head_only) = f.reply("HEAD /mjpeg/movie.Mjpeg HTTP/1.1\r\nHost: h");
    assert!(head_only && r.status == 200);
    let (r, _) = f.reply("GET /watch/clip.mp4 HTTP/1.1\r\nHost: h");
    assert!(body(&r).contains("<video id=\"video\" src=\"/file/clip.mp4\""));
    let (r, _) = f.reply("GET /thumb/movie.Mjpeg?t=0.5 HTTP/1.1\r\nHost: h");
    assert_eq!(r.get("Content-Type"), Some("image/jpeg"));
    assert!(r.body.starts_with(&[0xff, 0xd8]));
}

#[test]
fn errors_as_a_user_expects() {
    let mut f = fixture(None);
    let status = |f: &mut Fixture, h: &str| f.reply(h).0.status;
    assert_eq!(status(&mut f, "GET /nope HTTP/1.1\r\nHost: h"), 404);
    assert_eq!(
        status(&mut f, "GET /watch/missing.Mjpeg HTTP/1.1\r\nHost: h"),
        404
    );
    assert_eq!(
        status(&mut f, "GET /mjpeg/missing.Mjpeg HTTP/1.1\r\nHost: h"),
        404
    );
    assert_eq!(
        status(&mut f, "GET /mjpeg/broken.mjpeg HTTP/1.1\r\nHost: h"),
        415
    );
    assert_eq!(
        status(&mut f, "GET /mjpeg/movie.Mjpeg?t=x HTTP/1.1\r\nHost: h"),
        400
    );
    assert_eq!(
        status(&mut f, "GET /mjpeg/movie.Mjpeg?t=-1 HTTP/1.1\r\nHost: h"),
        400
    );
    assert_eq!(
        status(&mut f, "GET /thumb/../movie.Mjpeg HTTP/1.1\r\nHost: h"),
        404
    );
    assert_eq!(
        status(&mut f, "GET /file/movie.Mjpeg HTTP/1.1\r\nHost: h"),
        404
    );
    assert_eq!(
        status(&mut f, "GET /file/%2e%2e/etc/passwd HTTP/1.1\r\nHost: h"),
        404
    );
    let (r, _) = f.reply("DELETE / HTTP/1.1\r\nHost: h");
    assert_eq!((r.status, r.get("Allow")), (405, Some("GET, HEAD")));
    assert_eq!(status(&mut f, "PUT /nope HTTP/1.1\r\nHost: h"), 404);
    let (r, _) = f.reply("OPTIONS * HTTP/1.1\r\nHost: h");
    assert_eq!((r.status, r.get("Allow")), (204, Some("GET, HEAD")));
    let (r, _) = f.reply("GET /healthz HTTP/1.0");
    assert!(r.close, "HTTP/1.0 without keep-alive closes");
    let (r, _) = f.reply("GET /healthz HTTP/1.1\r\nHost: h");
    assert!(!r.close);
}

#[test]
fn credentials_everywhere_but_healthz() {
    let mut f = fixture(Some("digest,basic"));
    assert_eq!(f.reply("GET /healthz HTTP/1.1\r\nHost: h").0.status, 200);
    let (r, _) = f.reply("GET / HTTP/1.1\r\nHost: h");
    assert_eq!(r.status, 401);
    let challenges: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "WWW-Authenticate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(challenges[0].starts_with("Digest realm=\"rtspd\""));
    assert_eq!(challenges[1], "Basic realm=\"rtspd\"");
    let good = basic_authorization("alice", "secret");
    let r = f.reply(&format!(
        "GET /metrics HTTP/1.1\r\nHost: h\r\nAuthorization: {good}"
    ));
    assert_eq!(r.0.status, 200);
    assert_eq!(
        r.0.get("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let bad = basic_authorization("alice", "guess");
    let r = f.reply(&format!(
        "GET /api/movies HTTP/1.1\r\nHost: h\r\nAuthorization: {bad}"
    ));
    assert_eq!(r.0.status, 401);
    assert_eq!(f.core.snapshot().auth_failures, 1);
}

#[test]
fn api_and_tunnels() {
    let mut f = fixture(None);
    let (r, _) = f.reply("GET /api/movies HTTP/1.1\r\nHost: h:8554");
    let json = body(&r);
    assert!(json.starts_with('[') && json.trim_end().ends_with(']'));
    assert!(json.contains(
        "{\"name\": \"movie.Mjpeg\", \"url\": \"rtsp://h:8554/movie.Mjpeg\", \"width\": 64, \
         \"height\": 64, \"fps\": 24, \"frames\": 24, \"duration\": 1,"
    ));
    assert!(!json.contains("clip.mp4") && !json.contains("broken"));
    assert!(
        json.contains("{\"name\": \"twice.m3u\", \"url\": \"rtsp://h:8554/twice.m3u\"")
            && json.contains("\"frames\": 48, \"duration\": 2,"),
        "a playlist is one source of both entries: {json}"
    );
    assert!(matches!(
        f.get("GET /mjpeg/twice.m3u?t=1.5 HTTP/1.1\r\nHost: h"),
        Action::Mjpeg { start: 36, .. }
    ));
    match f.get(
        "GET /movie.Mjpeg HTTP/1.0\r\nx-sessioncookie: abc\r\nAccept: application/x-rtsp-tunnelled",
    ) {
        Action::TunnelGet { response, cookie } => {
            assert_eq!(cookie, "abc");
            assert_eq!(
                response.get("Content-Type"),
                Some("application/x-rtsp-tunnelled")
            );
        }
        _ => panic!("not a tunnel"),
    }
    assert!(matches!(
        f.get("POST /movie.Mjpeg HTTP/1.0\r\nx-sessioncookie: abc\r\nContent-Length: 32767"),
        Action::TunnelPost { cookie } if cookie == "abc"
    ));
}

#[test]
fn files_with_ranges() {
    let mut f = fixture(None);
    match f.get("GET /file/clip.mp4 HTTP/1.1\r\nHost: h\r\nRange: bytes=-100") {
        Action::File {
            response,
            start,
            len,
            ..
        } => {
            assert_eq!((response.status, start, len), (206, 900, 100));
            assert_eq!(response.get("Content-Range"), Some("bytes 900-999/1000"));
            assert_eq!(response.get("Content-Type"), Some("video/mp4"));
        }
        _ => panic!("not a file"),
    }
    let (r, _) = f.reply("GET /file/clip.mp4 HTTP/1.1\r\nHost: h\r\nRange: bytes=1000-");
    assert_eq!(
        (r.status, r.get("Content-Range")),
        (416, Some("bytes */1000"))
    );
    let (r, head_only) = f.reply("HEAD /file/clip.mp4 HTTP/1.1\r\nHost: h");
    assert!(head_only);
    assert!(String::from_utf8(r.to_bytes(true))
        .unwrap()
        .contains("Content-Length: 1000\r\n"));
}
