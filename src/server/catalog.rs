//! The media folder, and turning request URLs into files inside it and nowhere else.
//!
//! A URL's path is percent-decoded exactly once; the result must be a relative path of plain
//! components (no `..`, `.`, empty parts, backslashes, NUL, or a `%` left over, which would mean
//! double encoding). The file is then canonicalised, which resolves symlinks, and must still lie
//! inside the canonical media folder and be a regular file. Anything else is "not found".

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A movie named by a request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovieRef {
    /// Path relative to the media folder, `/`-separated, decoded.
    pub name: String,
    /// The URL ended in a track control suffix (`/trackID=0`).
    pub track: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub &'static str);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL: {}", self.0)
    }
}

impl std::error::Error for UriError {}

/// The movie a request URL names: `rtsp://host[:port]/NAME[/trackID=N]` or the lab client's
/// relative `NAME`.
pub fn movie_name_from_uri(uri: &str) -> Result<MovieRef, UriError> {
    let path = if let Some(rest) = uri
        .strip_prefix("rtsp://")
        .or_else(|| uri.strip_prefix("rtspu://"))
    {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => return Err(UriError("no path after the host")),
        }
    } else if uri.contains("://") {
        return Err(UriError("not an rtsp:// URL"));
    } else {
        uri
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut path = path.trim_matches('/');
    let mut track = false;
    if let Some((head, last)) = path.rsplit_once('/') {
        if is_track_suffix(last) {
            path = head;
            track = true;
        }
    }
    let name = percent_decode(path)?;
    if name.is_empty() {
        return Err(UriError("no movie name"));
    }
    Ok(MovieRef { name, track })
}

/// The control suffixes our SDP and other servers' produce: `trackID=0`, `track1`, `stream=0`,
/// `streamid=0`.
fn is_track_suffix(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["trackid=", "track", "streamid=", "stream="]
        .iter()
        .any(|p| {
            lower
                .strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn percent_decode(s: &str) -> Result<String, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or(UriError("cut-off percent escape"))?;
            let v = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(v.ok_or(UriError("bad percent escape"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriError("path is not UTF-8"))
}

/// No such movie (or one we will not serve: the reason goes to the log, never to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound(pub &'static str);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for NotFound {}

pub struct Catalog {
    root: PathBuf,
}

impl Catalog {
    pub fn new(dir: &Path) -> io::Result<Catalog> {
        let root = dir.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Catalog { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file for a decoded movie name, only if it lies inside the media folder.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, NotFound> {
        if name.is_empty() || name.contains(['\0', '\\', '%']) || name.starts_with('/') {
            return Err(NotFound("unsafe name"));
        }
        if name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(NotFound("unsafe path component"));
        }
        let path = self
            .root
            .join(name)
            .canonicalize()
            .map_err(|_| NotFound("no such file"))?;
        if !path.starts_with(&self.root) {
            return Err(NotFound("outside the media folder"));
        }
        if !path.is_file() {
            return Err(NotFound("not a file"));
        }
        Ok(path)
    }

    /// The name a client uses for a file in the folder.
    pub fn name_of(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Movie and playlist files in the folder and its sub-folders (4 deep), hidden ones skipped,
    /// sorted. Candidates by extension (`.mjpeg`, `.mjpg`, `.m3u`, `.m3u8`, any case); the
    /// loader checks their content.
    pub fn list(&self) -> Vec<PathBuf> {
        self.files_named(|lower| {
            lower.ends_with(".mjpeg")
                || lower.ends_with(".mjpg")
                || crate::media::m3u::is_playlist_name(lower)
        })
    }

    /// Files in the folder and its sub-folders (4 deep) whose lower-cased name `keep` takes,
    /// sorted; hidden ones skipped. A symbolic link is listed only when it leads to a file
    /// inside the folder.
    pub fn files_named(&self, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, 0, &keep, &mut out);
        out.sort();
        out
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() && depth < 4 {
            walk(root, &path, depth + 1, keep, out);
        } else if (kind.is_file()
            || (kind.is_symlink()
                && path
                    .canonicalize()
                    .is_ok_and(|p| p.starts_with(root) && p.is_file())))
            && keep(&name.to_ascii_lowercase())
        {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::TempDir as Tmp;

    fn setup() -> (Tmp, Catalog) {
        let base = std::env::temp_dir().join(format!(
            "rtsp-mjpeg-cat-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let media = base.join("media");
        std::fs::create_dir_all(media.join("clips")).unwrap();
        std::fs::write(media.join("movie.Mjpeg"), b"x").unwrap();
        std::fs::write(media.join("clips/a b.mjpeg"), b"x").unwrap();
        std::fs::write(media.join("clips/list.M3U8"), b"x").unwrap();
        std::fs::write(media.join("notes.txt"), b"x").unwrap();
        std::fs::write(media.join(".hidden.mjpeg"), b"x").unwrap();
        std::fs::write(base.join("secret.Mjpeg"), b"x").unwrap();
        std::os::unix::fs::symlink(base.join("secret.Mjpeg"), media.join("escape.Mjpeg")).unwrap();
        std::os::unix::fs::symlink(media.join("movie.Mjpeg"), media.join("alias.Mjpeg")).unwrap();
        let cat = Catalog::new(&media).unwrap();
        (Tmp(base), cat)
    }

    fn resolve(cat: &Catalog, uri: &str) -> Result<PathBuf, String> {
        let r = movie_name_from_uri(uri).map_err(|e| e.to_string())?;
        cat.resolve(&r.name).map_err(|e| e.to_string())
    }

    #[test]
    fn names_from_urls() {
        let m = |u| movie_name_from_uri(u).unwrap();
        assert_eq!(
            m("rtsp://h:8554/movie.Mjpeg"),
            MovieRef {
                name: "movie.Mjpeg".into(),
                track: false
            }
        );
        assert_eq!(
            m("rtsp://h/movie.Mjpeg/trackID=0"),
            MovieRef {
                name: "movie.Mjpeg".into(),
                track: true
            }
        );
        assert_eq!(m("rtsp://h/movie.Mjpeg/").name, "movie.Mjpeg");
        assert_eq!(
            m("rtsp://[::1]:8554/clips/a%20b.mjpeg/stream=0?x=1").name,
            "clips/a b.mjpeg"
        );
        assert_eq!(m("movie.Mjpeg").name, "movie.Mjpeg");
        assert!(movie_name_from_uri("rtsp://h").is_err());
        assert!(movie_name_from_uri("http://h/x").is_err());
        assert!(movie_name_from_uri("rtsp://h/%zz").is_err());
    }

    #[test]
    fn good_names_resolve_and_list() {
        let (_t, cat) = setup();
        assert!(resolve(&cat, "rtsp://h/movie.Mjpeg").is_ok());
        assert!(resolve(&cat, "rtsp://h/clips/a%20b.mjpeg/trackID=0").is_ok());
        assert!(resolve(&cat, "movie.Mjpeg").is_ok());
        let names: Vec<String> = cat.list().iter().map(|p| cat.name_of(p)).collect();
        assert_eq!(
            names,
            vec![
                "alias.Mjpeg",
                "clips/a b.mjpeg",
                "clips/list.M3U8",
                "movie.Mjpeg"
            ],
            "playlists too; hidden files, other files and links out of the folder are not"
        );
    }

    #[test]
    fn nothing_outside_the_folder() {
        let (_t, cat) = setup();
        for uri in [
            "../secret.Mjpeg",
            "rtsp://h/../secret.Mjpeg",
            "rtsp://h/%2e%2e/secret.Mjpeg",
            "rtsp://h/%2E%2E%2Fsecret.Mjpeg",
            "rtsp://h/..%2fsecret.Mjpeg",
            "rtsp://h/%252e%252e/secret.Mjpeg",
            "rtsp://h/clips/../../secret.Mjpeg",
            "rtsp://h//etc/passwd",
            "/etc/passwd",
            "rtsp://h/%2Fetc%2Fpasswd",
            "rtsp://h/..\\secret.Mjpeg",
            "rtsp://h/movie.Mjpeg%00",
            "rtsp://h/escape.Mjpeg",
            "rtsp://h/clips",
            "rtsp://h/./movie.Mjpeg",
        ] {
            assert!(resolve(&cat, uri).is_err(), "{uri} must not resolve");
        }
    }
}
