//! A playlist as one on-demand source: its entries' movies back to back on one timeline.
//!
//! Frame `j` of entry `k` is frame `first_k + j` of the playlist and starts at
//! `start_k + pts_k(j)`, where `start_k` is the sum of the earlier entries' pass lengths. Each
//! entry keeps its own frame rate (the pacing follows each frame's own duration) and its own
//! frame size and quantization tables (every RTP frame carries its tables in band, Q=255, RFC
//! 2435 §3.1.8, so no receiver reuses an earlier entry's). Frames come from the entries'
//! [`MovieSource`]s, so the frame cache holds them under the movie's key, shared with sessions
//! that play the movie itself.
//!
//! [`build`] makes one from a playlist file's bytes: each entry is turned into a media-folder
//! name ([`m3u::entry_name`]) and opened by the caller, which resolves it under the same rules
//! as a URL. What cannot be played is skipped and reported with the reason.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use crate::media::m3u::{self, Limits};
use crate::server::source::movie::MovieSource;
use crate::server::source::{FrameCache, FrameRef, Seekable, SourceInfo, CLOCK_RATE};

/// One playable entry.
pub struct Entry {
    /// Its name in the media folder.
    pub name: String,
    /// 1-based line in the playlist file.
    pub line: usize,
    pub title: Option<String>,
    pub movie: Arc<MovieSource>,
    /// The playlist's index of the entry's first frame.
    first: usize,
    /// When the entry starts, in ticks from the start of the playlist.
    start: u64,
}

impl Entry {
    /// When the entry starts, in seconds from the start of the playlist.
    pub fn start_seconds(&self) -> f64 {
        self.start as f64 / f64::from(CLOCK_RATE)
    }
}

pub struct PlaylistSource {
    /// Keys the playlist's own frames in the cache (its renditions); 0 until
    /// [`PlaylistSource::with_uid`] gives one.
    uid: u64,
    info: SourceInfo,
    /// Never empty.
    entries: Vec<Entry>,
    frames: usize,
    /// Ticks in one pass.
    length: u64,
}

impl PlaylistSource {
    pub fn with_uid(mut self, uid: u64) -> PlaylistSource {
        self.uid = uid;
        self
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry frame `i` belongs to, and the frame's index in it. `i == frame_count()` gives
    /// the last entry and its frame count.
    fn locate(&self, i: usize) -> (&Entry, usize) {
        let k = self.entries.partition_point(|e| e.first <= i).max(1) - 1;
        let e = &self.entries[k];
        (e, i - e.first)
    }
}

impl Seekable for PlaylistSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn uid(&self) -> u64 {
        self.uid
    }

    fn frame_count(&self) -> usize {
        self.frames
    }

    fn pts(&self, i: usize) -> u64 {
        if i >= self.frames {
            return self.length;
        }
        let (e, j) = self.locate(i);
        e.start + e.movie.pts(j)
    }

    fn frame(&self, i: usize, cache: &mut FrameCache) -> Result<FrameRef, String> {
        if i >= self.frames {
            return Err(format!("{}: no frame {}", self.info.name, i + 1));
        }
        let (e, j) = self.locate(i);
        e.movie.frame(j, cache)
    }
}

/// An entry that is not played, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    /// The entry as the file wrote it.
    pub entry: String,
    pub why: String,
}

/// What a playlist file gives.
pub struct Built {
    /// None when no entry can be played.
    pub source: Option<PlaylistSource>,
    pub skipped: Vec<Skipped>,
    /// The file's own problems (lines that cannot be entries, limits reached), for the log.
    pub problems: Vec<String>,
    /// Every media-folder name the entries gave, played or not (to notice when one changes).
    pub names: Vec<String>,
}

/// Builds the playlist called `name` from its file's bytes. `root` is the media folder's
/// absolute path (for absolute entries); `open` gives the movie for a media-folder name, or
/// why there is none.
pub fn build(
    name: &str,
    bytes: &[u8],
    root: &str,
    mut open: impl FnMut(&str) -> Result<Arc<MovieSource>, String>,
) -> Built {
    let limits = Limits::default();
    let parsed = m3u::parse(bytes, &limits);
    let mut problems: Vec<String> = parsed.problems.iter().map(|p| p.to_string()).collect();
    if parsed.problems_dropped > 0 {
        problems.push(format!(
            "{} more lines skipped for the same reasons",
            parsed.problems_dropped
        ));
    }
    if let Some(at) = parsed.cut_at {
        problems.push(format!(
            "longer than {} bytes: only the first {at} are read",
            limits.max_bytes
        ));
    }
    if parsed.entries_ignored > 0 {
        problems.push(format!(
            "more than {} entries: the last {} are ignored",
            limits.max_entries, parsed.entries_ignored
        ));
    }
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let mut names = Vec::new();
    let (mut first, mut start) = (0usize, 0u64);
    for e in parsed.entries {
        let movie = m3u::entry_name(name, &e.path, root)
            .map_err(|r| r.to_string())
            .and_then(|n| {
                names.push(n.clone());
                open(&n).map(|m| (n, m))
            });
        match movie {
            Ok((n, movie)) => {
                let (frames, length) = (movie.frame_count(), movie.pts(movie.frame_count()));
                entries.push(Entry {
                    name: n,
                    line: e.line,
                    title: e.title,
                    movie,
                    first,
                    start,
                });
                first += frames;
                start += length;
            }
            Err(why) => skipped.push(Skipped {
                line: e.line,
                entry: e.path,
                why,
            }),
        }
    }
    let first_info = entries.first().map(|e| e.movie.info().clone());
    let source = first_info.map(|i0| PlaylistSource {
        uid: 0,
        info: SourceInfo {
            name: name.to_string(),
            width: i0.width,
            height: i0.height,
            fps: i0.fps,
            duration: Some(start as f64 / f64::from(CLOCK_RATE)),
            frames: first,
            bytes: entries.iter().map(|e| e.movie.info().bytes).sum(),
        },
        frames: first,
        length: start,
        entries,
    });
    Built {
        source,
        skipped,
        problems,
        names,
    }
}

/// Reads a playlist file, at most what the parser looks at (plus a byte, to know there is
/// more). Only a regular file: the check is made on the opened file, so a FIFO or device put in
/// its place after the path was checked is not read (and, opened non-blocking, cannot hang).
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let limit = Limits::default().max_bytes as u64 + 1;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;

    use crate::testutil::TempDir as Tmp;

    fn movie(dir: &Path, name: &str, t: &TestMovie, uid: u64) -> Arc<MovieSource> {
        let path = dir.join(name);
        std::fs::write(&path, t.to_lab_bytes()).unwrap();
        std::fs::write(dir.join(format!("{name}.fps")), t.fps.to_string()).unwrap();
        Arc::new(MovieSource::open(uid, name, &path, 24.0, 1400).unwrap())
    }

    #[test]
    fn entries_follow_each_other_on_one_timeline() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-plsrc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _t = Tmp(dir.clone());
        // 6 frames at 24 fps (0.25 s), then 3 at 12 fps (0.25 s) of another size.
        let a = TestMovie {
            seconds: 0.25,
            width: 64,
            height: 64,
            fps: 24,
            ..TestMovie::default()
        };
        let b = TestMovie {
            width: 96,
            height: 80,
            fps: 12,
            quality: 30,
            ..a.clone()
        };
        let movies = [movie(&dir, "a.Mjpeg", &a, 1), movie(&dir, "b.Mjpeg", &b, 2)];
        let text =
            "#EXTM3U\n#EXTINF:0.25,A\na.Mjpeg\nmissing.Mjpeg\nb.Mjpeg\n../x.Mjpeg\nself.m3u\n";
        let built = build("self.m3u", text.as_bytes(), "/m", |n| {
            movies
                .iter()
                .find(|m| m.info().name == n)
                .cloned()
                .ok_or_else(|| "no such file".to_string())
        });
        let p = built.source.unwrap();
        assert_eq!(p.frame_count(), 9);
        assert_eq!(p.info().duration, Some(0.5));
        assert_eq!(
            (p.info().width, p.info().height, p.info().fps),
            (64, 64, 24.0)
        );
        let pts: Vec<u64> = (0..=9).map(|i| p.pts(i)).collect();
        assert_eq!(
            pts,
            [0, 3750, 7500, 11250, 15000, 18750, 22500, 30000, 37500, 45000],
            "entry 2 starts where entry 1 ends, at its own rate"
        );
        assert_eq!(p.index_at(0.249), 5);
        assert_eq!(p.index_at(0.25), 6);
        assert_eq!(p.index_at(0.4), 7);
        assert_eq!(p.entries()[1].start_seconds(), 0.25);
        assert_eq!(p.entries()[0].title.as_deref(), Some("A"));
        let mut cache = FrameCache::new(1 << 20);
        let f = p.frame(7, &mut cache).unwrap();
        assert_eq!(f.jpeg, b.encode(1));
        assert_eq!((f.width, f.height), (96, 80));
        let direct = movies[1].frame(1, &mut cache).unwrap();
        assert!(Arc::ptr_eq(&f, &direct), "one cached frame for both");
        assert!(p.frame(9, &mut cache).is_err());
        let skipped: Vec<(usize, &str, &str)> = built
            .skipped
            .iter()
            .map(|s| (s.line, s.entry.as_str(), s.why.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (4, "missing.Mjpeg", "no such file"),
                (6, "../x.Mjpeg", "leaves the media folder (..)"),
                (7, "self.m3u", "a playlist (playlists do not nest)"),
            ]
        );
        assert_eq!(built.names, ["a.Mjpeg", "missing.Mjpeg", "b.Mjpeg"]);
        let none = build("x.m3u", b"nothing.Mjpeg\n", "/m", |_| Err("gone".into()));
        assert!(none.source.is_none());
        assert_eq!(none.skipped.len(), 1);
    }

    #[test]
    fn only_regular_files_are_read_and_only_the_start() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-plread-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _t = Tmp(dir.clone());
        let big = dir.join("big.m3u");
        let f = File::create(&big).unwrap();
        f.set_len(10 << 30).unwrap(); // sparse: 10 GB of zeros costs no disk
        assert_eq!(read_file(&big).unwrap().len(), (1 << 20) + 1);
        let fifo = dir.join("fifo.m3u");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_file(&fifo).is_err(), "no FIFO read (nor a hang)");
        std::os::unix::fs::symlink(&big, dir.join("link.m3u")).unwrap();
        assert!(
            read_file(&dir.join("link.m3u")).is_err(),
            "resolved paths only"
        );
    }
}
