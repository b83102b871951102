//! M3U playlists, sans-IO: bytes in, entries out, within fixed limits.
//!
//! The format is the de-facto one (RFC 8216 §4 writes down its extended form for HLS): one entry
//! a line, a path relative to the playlist's own folder; lines starting with `#` are comments or
//! metadata (`#EXTM3U`, `#EXTINF:SECONDS,TITLE`, whose title goes with the next entry); blank
//! lines are ignored; LF and CRLF line ends both work; a UTF-8 byte order mark is skipped.
//!
//! A playlist is a file anyone who can write to the media folder may have made, so every cost is
//! bounded by [`Limits`]: the bytes looked at, the length of a line, the entries and the problems
//! kept. [`entry_name`] then turns an entry into a name inside the media folder, lexically, so a
//! `..` cannot climb out before the file system is even asked; the caller resolves that name with
//! the same rules as a URL's (`Catalog::resolve`: symlinks followed, and refused if they leave).

use std::fmt;

/// What a playlist may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the file looked at; the caller needs to read no more than this plus one.
    pub max_bytes: usize,
    /// A longer line is skipped whole (cutting it could name another file).
    pub max_line: usize,
    /// Entries kept; later ones are counted and ignored.
    pub max_entries: usize,
    /// Problems kept; later ones are counted.
    pub max_problems: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 20,
            // PATH_MAX on Linux.
            max_line: 4096,
            // Each distinct entry is an open file in the server.
            max_entries: 1000,
            // A binary file has a problem on every line: a few tell the story.
            max_problems: 10,
        }
    }
}

/// One entry as the file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number, for messages.
    pub line: usize,
    /// The line, trimmed: a path (or something that is not one; [`entry_name`] decides).
    pub path: String,
    /// The title of the `#EXTINF` line just before it, if any.
    pub title: Option<String>,
}

/// A line that could not be an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    LineTooLong { line: usize, len: usize },
    NotUtf8 { line: usize },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::LineTooLong { line, len } => {
                write!(f, "line {line}: {len} bytes long; skipped")
            }
            Problem::NotUtf8 { line } => write!(f, "line {line}: not UTF-8; skipped"),
        }
    }
}

/// What a playlist's bytes say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// At most `max_entries`, in file order.
    pub entries: Vec<Entry>,
    /// Entries after the first `max_entries`, ignored.
    pub entries_ignored: usize,
    /// At most `max_problems`, in file order.
    pub problems: Vec<Problem>,
    /// Problems not kept.
    pub problems_dropped: usize,
    /// Set when the input was longer than `max_bytes`: how many bytes were read (up to the end of
    /// the last whole line within the limit).
    pub cut_at: Option<usize>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads a playlist. Never fails: what cannot be an entry is a [`Problem`] and the rest goes on.
pub fn parse(data: &[u8], limits: &Limits) -> Parsed {
    let mut out = Parsed::default();
    let mut data = data;
    if data.len() > limits.max_bytes {
        // Only whole lines: the last line cut in two could name another file.
        let head = &data[..limits.max_bytes];
        let end = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        data = &data[..end];
        out.cut_at = Some(end);
    }
    let data = data.strip_prefix(BOM).unwrap_or(data);
    let mut title = None;
    let problem = |out: &mut Parsed, p: Problem| {
        if out.problems.len() < limits.max_problems {
            out.problems.push(p);
        } else {
            out.problems_dropped += 1;
        }
    };
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > limits.max_line {
            problem(
                &mut out,
                Problem::LineTooLong {
                    line,
                    len: raw.len(),
                },
            );
            title = None;
            continue;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            problem(&mut out, Problem::NotUtf8 { line });
            title = None;
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if let Some(meta) = text.strip_prefix('#') {
            if let Some(info) = meta.strip_prefix("EXTINF:") {
                // `#EXTINF:<seconds>[ attributes],<title>`: only the title is of use; the real
                // duration comes from the movie itself.
                title = info
                    .split_once(',')
                    .map(|(_, t)| t.trim().to_string())
                    .filter(|t| !t.is_empty());
            }
            continue;
        }
        if out.entries.len() >= limits.max_entries {
            out.entries_ignored += 1;
            continue;
        }
        out.entries.push(Entry {
            line,
            path: text.to_string(),
            title: title.take(),
        });
    }
    out
}

/// Is `name` a playlist's (by its extension, as the media folder's listing decides)?
pub fn is_playlist_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".m3u") || lower.ends_with(".m3u8")
}

/// Why an entry names nothing in the media folder (decided without the file system).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `http://...` and the like: only files in the folder are played.
    Url,
    /// An absolute path that does not lie under the media folder.
    Absolute,
    /// `..` climbs above the media folder.
    Escapes,
    /// Another playlist, or this one: playlists do not nest.
    Playlist,
    /// A folder (`.`, `sub/`, `sub/..`), or nothing left after normalising.
    NoFile,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Url => "a URL, not a file in the media folder",
            Refused::Absolute => "an absolute path outside the media folder",
            Refused::Escapes => "leaves the media folder (..)",
            Refused::Playlist => "a playlist (playlists do not nest)",
            Refused::NoFile => "names a folder, not a file",
        })
    }
}

/// The name in the media folder (`/`-separated, relative, no `.` or `..` parts) of `entry` in
/// the playlist named `playlist` (its own name in the folder). A relative entry is joined to the
/// playlist's folder; `.` and empty parts are dropped and `..` takes one part back, never above
/// the folder. An absolute entry counts only if it lies under `root`, the media folder's
/// absolute path (as `Catalog::root` gives it).
pub fn entry_name(playlist: &str, entry: &str, root: &str) -> Result<String, Refused> {
    if entry.contains("://") {
        return Err(Refused::Url);
    }
    if matches!(entry.rsplit('/').next(), Some("" | "." | "..")) {
        // `sub/`, `.`, `sub/..`: a folder, whatever comes before.
        return Err(Refused::NoFile);
    }
    let mut parts: Vec<&str> = Vec::new();
    let rest = if let Some(absolute) = entry.strip_prefix('/') {
        let path = normalise(Vec::new(), absolute).map_err(|_| Refused::Absolute)?;
        let root =
            normalise(Vec::new(), root.trim_start_matches('/')).map_err(|_| Refused::Absolute)?;
        if !path.starts_with(&root) {
            return Err(Refused::Absolute);
        }
        path[root.len()..].to_vec()
    } else {
        parts.extend(playlist.split('/'));
        parts.pop(); // the playlist's own file name
        normalise(parts, entry)?
    };
    let Some(last) = rest.last() else {
        return Err(Refused::NoFile);
    };
    if is_playlist_name(last) {
        return Err(Refused::Playlist);
    }
    Ok(rest.join("/"))
}

/// `base` (already normal) followed by the parts of `path`, with `.`, empty parts and `..`
/// resolved.
fn normalise<'a>(mut base: Vec<&'a str>, path: &'a str) -> Result<Vec<&'a str>, Refused> {
    base.retain(|p| !p.is_empty() && *p != ".");
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                base.pop().ok_or(Refused::Escapes)?;
            }
            p => base.push(p),
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(p: &Parsed) -> Vec<&str> {
        p.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn entries_metadata_and_line_ends() {
        let text = "\u{feff}#EXTM3U\r\n#EXTINF:10.5,First clip\r\na.Mjpeg\r\n\r\n  \r\n\
                    # a comment\nclips/b b.mjpeg  \n#EXTINF:-1,\n#EXT-X-WHATEVER\nc.Mjpeg";
        let p = parse(text.as_bytes(), &Limits::default());
        assert_eq!(paths(&p), ["a.Mjpeg", "clips/b b.mjpeg", "c.Mjpeg"]);
        assert_eq!(p.entries[0].line, 3);
        assert_eq!(p.entries[0].title.as_deref(), Some("First clip"));
        assert_eq!(p.entries[1].title, None);
        assert_eq!(p.entries[2].title, None, "an empty title is none");
        assert_eq!(p.entries[2].line, 10);
        assert!(p.problems.is_empty() && p.cut_at.is_none());
        assert_eq!(parse(b"", &Limits::default()), Parsed::default());
    }

    #[test]
    fn limits_bound_what_is_kept() {
        let limits = Limits {
            max_bytes: 64,
            max_line: 16,
            max_entries: 2,
            max_problems: 1,
        };
        let mut text = b"a\n".to_vec();
        text.extend_from_slice(&[b'x'; 20]); // too long
        text.extend_from_slice(b"\n\xff\xfe\nb\nc\nd\n");
        let p = parse(&text, &limits);
        assert_eq!(paths(&p), ["a", "b"]);
        assert_eq!(p.entries_ignored, 2);
        assert_eq!(p.problems, [Problem::LineTooLong { line: 2, len: 20 }]);
        assert_eq!(p.problems_dropped, 1, "the line that is not UTF-8");
        // Past max_bytes only whole lines count: the cut "long-name" line is not an entry.
        let mut text = b"a\n".repeat(30);
        text.extend_from_slice(b"long-name\n");
        let p = parse(&text, &limits);
        assert_eq!(p.cut_at, Some(60));
        assert_eq!(p.entries.len() + p.entries_ignored, 30);
        assert!(!paths(&p).contains(&"lo"));
        // One huge line with no end at all: nothing.
        let p = parse(&[b'y'; 100], &limits);
        assert_eq!((p.entries.len(), p.cut_at), (0, Some(0)));
    }

    #[test]
    fn names_in_the_folder() {
        let root = "/srv/media";
        let ok = |pl: &str, e: &str| entry_name(pl, e, root);
        assert_eq!(ok("list.m3u", "a.Mjpeg"), Ok("a.Mjpeg".into()));
        assert_eq!(ok("sub/list.m3u", "a.Mjpeg"), Ok("sub/a.Mjpeg".into()));
        assert_eq!(
            ok("sub/list.m3u", "./x//y/../a.Mjpeg"),
            Ok("sub/x/a.Mjpeg".into())
        );
        assert_eq!(
            ok("sub/list.m3u", "../a.Mjpeg"),
            Ok("a.Mjpeg".into()),
            "stays inside"
        );
        assert_eq!(ok("list.m3u", "../a.Mjpeg"), Err(Refused::Escapes));
        assert_eq!(
            ok("sub/list.m3u", "../../etc/passwd"),
            Err(Refused::Escapes)
        );
        assert_eq!(ok("list.m3u", "a/../../a.Mjpeg"), Err(Refused::Escapes));
        assert_eq!(ok("list.m3u", "/etc/passwd"), Err(Refused::Absolute));
        assert_eq!(
            ok("list.m3u", "/srv/media2/a.Mjpeg"),
            Err(Refused::Absolute)
        );
        assert_eq!(ok("list.m3u", "/srv/media/../x"), Err(Refused::Absolute));
        assert_eq!(
            ok("x.m3u", "/srv/media/sub/a.Mjpeg"),
            Ok("sub/a.Mjpeg".into())
        );
        assert_eq!(ok("x.m3u", "/srv/./media/a.Mjpeg"), Ok("a.Mjpeg".into()));
        assert_eq!(ok("x.m3u", "/srv/media"), Err(Refused::NoFile));
        assert_eq!(ok("x.m3u", "sub/.."), Err(Refused::NoFile));
        assert_eq!(
            ok("a/b/x.m3u", "."),
            Err(Refused::NoFile),
            "not the folder a/b"
        );
        assert_eq!(ok("a/x.m3u", "sub/"), Err(Refused::NoFile));
        assert_eq!(ok("x.m3u", "/srv/media/"), Err(Refused::NoFile));
        assert_eq!(ok("x.m3u", "x.m3u"), Err(Refused::Playlist));
        assert_eq!(ok("x.m3u", "sub/other.M3U8"), Err(Refused::Playlist));
        assert_eq!(ok("x.m3u", "http://h/a.Mjpeg"), Err(Refused::Url));
        assert_eq!(ok("x.m3u", "file:///srv/media/a.Mjpeg"), Err(Refused::Url));
        // What the file system decides is left to Catalog::resolve.
        assert_eq!(ok("x.m3u", "a\\..\\b"), Ok("a\\..\\b".into()));
    }
}
