//! What a play queue holds, from the command line (`rtsp-sdl URL1 URL2 ...`) or a URL list
//! (`--playlist FILE.m3u`). The list is the extended M3U of media players (RFC 8216 §4.1 gives
//! its basic form): one `rtsp://` URL a line; `#EXTM3U`, `#EXTINF:SECONDS,TITLE` (the title of
//! the next URL) and every other `#` line are metadata; blank lines are ignored; lines may end
//! with CRLF. The file comes from the user but may have come from anywhere, so lines, entries and
//! the file itself are bounded.
//!
//! rtspd's own playlists (a `NAME.m3u` served as one stream) are the server's business: this
//! parser knows only what the player needs, so neither side depends on the other.

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::client::target::Target;

/// The longest line taken, in bytes (URLs are far shorter; a longer line is not a playlist).
pub const MAX_LINE: usize = 4096;
/// The most entries a queue holds.
pub const MAX_ENTRIES: usize = 1000;
/// The largest playlist file read, in bytes.
pub const MAX_FILE: u64 = 1 << 20;

/// One stream of the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub target: Target,
    /// From `#EXTINF`, when it gave one.
    pub title: Option<String>,
    /// From `#EXTINF` (a negative length there means unknown and gives None).
    pub seconds: Option<f64>,
}

impl Entry {
    pub fn from_url(url: &str) -> Result<Entry, String> {
        Ok(Entry {
            target: Target::parse_url(url).map_err(|e| e.to_string())?,
            title: None,
            seconds: None,
        })
    }

    /// What the overlay calls it: its title, else the last part of its path, else its host.
    pub fn name(&self) -> String {
        if let Some(t) = self.title.as_deref().filter(|t| !t.is_empty()) {
            return t.to_string();
        }
        let path = self.target.path.trim_end_matches('/');
        let last = path.rsplit('/').next().unwrap_or("");
        if last.is_empty() {
            self.target.host.clone()
        } else {
            last.to_string()
        }
    }
}

/// Why a playlist was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistError {
    /// 1-based; 0 for the file as a whole.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for PlaylistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for PlaylistError {}

fn err(line: usize, reason: impl Into<String>) -> PlaylistError {
    PlaylistError {
        line,
        reason: reason.into(),
    }
}

/// The entries of a URL list, in order (at least one).
pub fn parse(text: &str) -> Result<Vec<Entry>, PlaylistError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    let mut info: Option<(Option<f64>, Option<String>)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > MAX_LINE {
            return Err(err(n, format!("longer than {MAX_LINE} bytes")));
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(meta) = line.strip_prefix('#') {
            if let Some(extinf) = meta.strip_prefix("EXTINF:") {
                info = Some(parse_extinf(extinf));
            }
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            return Err(err(n, format!("more than {MAX_ENTRIES} entries")));
        }
        let target = Target::parse_url(line).map_err(|e| err(n, e.to_string()))?;
        let (seconds, title) = info.take().unwrap_or((None, None));
        entries.push(Entry {
            target,
            title,
            seconds,
        });
    }
    if entries.is_empty() {
        return Err(err(0, "no rtsp:// URL in the playlist"));
    }
    Ok(entries)
}

/// `SECONDS,TITLE` (either may be missing or junk: it is only a label).
fn parse_extinf(s: &str) -> (Option<f64>, Option<String>) {
    let (secs, title) = s.split_once(',').unwrap_or((s, ""));
    // Attributes (`-1 tvg-id="x",Title`) may follow the length; the number is the first word.
    let seconds = secs
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0);
    let title: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = title.trim();
    (seconds, (!title.is_empty()).then(|| title.to_string()))
}

/// Reads and parses a playlist file (at most [`MAX_FILE`] bytes; text that is not UTF-8 is
/// taken as far as it goes, with replacement characters, since only URLs matter).
pub fn read(path: &Path) -> Result<Vec<Entry>, String> {
    let what = |e: &dyn fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| what(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| what(&e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(what(&format!("larger than {MAX_FILE} bytes")));
    }
    parse(&String::from_utf8_lossy(&bytes)).map_err(|e| what(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| e.target.url()).collect()
    }

    #[test]
    fn extended_m3u_with_crlf_titles_and_comments() {
        let text = "\u{feff}#EXTM3U\r\n\
                    #EXTINF:12.5,First movie\r\n\
                    rtsp://127.0.0.1:8554/a.Mjpeg\r\n\
                    \r\n\
                    # a comment\r\n\
                    #EXT-X-SOMETHING:1\r\n\
                    rtsp://user:pw@cam.local/live/1\r\n\
                    #EXTINF:-1 tvg-id=\"x\",  Third\r\n\
                    \t rtsp://[::1]:9000/c/  \n";
        let e = parse(text).unwrap();
        assert_eq!(
            urls(&e),
            [
                "rtsp://127.0.0.1:8554/a.Mjpeg",
                "rtsp://cam.local:554/live/1",
                "rtsp://[::1]:9000/c/"
            ]
        );
        assert_eq!(
            (e[0].seconds, e[0].title.as_deref()),
            (Some(12.5), Some("First movie"))
        );
        assert_eq!((e[1].seconds, e[1].title.as_deref()), (None, None));
        assert_eq!(
            e[1].target.user,
            Some(("user".into(), "pw".into())),
            "credentials kept for the session"
        );
        assert_eq!((e[2].seconds, e[2].title.as_deref()), (None, Some("Third")));
        assert_eq!(
            e.iter().map(Entry::name).collect::<Vec<_>>(),
            ["First movie", "1", "Third"]
        );
    }

    #[test]
    fn an_extinf_names_only_the_next_url() {
        let e = parse("#EXTINF:3,T\nrtsp://h/a\nrtsp://h/b\n#EXTINF:4,dangling\n").unwrap();
        assert_eq!(e[0].title.as_deref(), Some("T"));
        assert_eq!(e[1].title, None);
        assert_eq!(e.len(), 2);
        let e = parse("#EXTINF:x,\x07Bell\nrtsp://h/\n").unwrap();
        assert_eq!((e[0].seconds, e[0].title.as_deref()), (None, Some("Bell")));
        assert_eq!(e[0].name(), "Bell");
        let e = parse("rtsp://h/\n").unwrap();
        assert_eq!(e[0].name(), "h", "no path: the host");
    }

    #[test]
    fn refusals_say_where() {
        assert_eq!(
            parse("#EXTM3U\nrtsp://h/a\nhttp://h/b\n").unwrap_err(),
            err(3, "http://h/b: not an rtsp:// URL")
        );
        assert_eq!(parse("movie.Mjpeg").unwrap_err().line, 1);
        assert_eq!(
            parse("#EXTM3U\r\n\r\n# nothing\r\n").unwrap_err(),
            err(0, "no rtsp:// URL in the playlist")
        );
        assert_eq!(parse("").unwrap_err().line, 0);
        let long = format!("rtsp://h/{}\n", "x".repeat(MAX_LINE));
        assert_eq!(
            parse(&format!("rtsp://h/a\n{long}")).unwrap_err(),
            err(2, format!("longer than {MAX_LINE} bytes"))
        );
        let exactly = format!("rtsp://h/{}", "x".repeat(MAX_LINE - 9));
        assert_eq!(exactly.len(), MAX_LINE);
        assert!(parse(&exactly).is_ok(), "a line of the limit is fine");
        let many = "rtsp://h/a\n".repeat(MAX_ENTRIES);
        assert_eq!(parse(&many).unwrap().len(), MAX_ENTRIES);
        let too_many = format!("{many}rtsp://h/b\n");
        assert_eq!(
            parse(&too_many).unwrap_err(),
            err(MAX_ENTRIES + 1, format!("more than {MAX_ENTRIES} entries"))
        );
    }

    #[test]
    fn files_are_bounded() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-m3u-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.m3u");
        std::fs::write(&ok, b"#EXTM3U\nrtsp://h/\xff.Mjpeg\n").unwrap();
        let e = read(&ok).unwrap();
        assert_eq!(e[0].target.path, "\u{fffd}.Mjpeg", "not UTF-8: replaced");
        let big = dir.join("big.m3u");
        std::fs::write(&big, vec![b'\n'; MAX_FILE as usize + 1]).unwrap();
        let msg = read(&big).unwrap_err();
        assert!(
            msg.ends_with(&format!("larger than {MAX_FILE} bytes")),
            "{msg}"
        );
        let msg = read(&dir.join("missing.m3u")).unwrap_err();
        assert!(msg.contains("missing.m3u"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
