//! Indexing MJPEG files (lab and raw formats) once, and sharing their bytes.

use std::fmt;
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::media::index;

/// The two container formats (see the module docs of [`crate::media`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Lab,
    Raw,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Lab => "lab (5-digit length + JPEG)",
            Format::Raw => "raw JPEG stream",
        })
    }
}

#[derive(Debug)]
pub enum MediaErrorKind {
    Io(std::io::Error),
    Empty,
    UnknownFormat([u8; 4]),
    BadLength(String),
    Truncated { need: usize, have: usize },
    NotJpeg([u8; 2]),
    NoEndOfImage(&'static str),
    Junk,
}

/// A file that cannot be used as a movie: the path, and where in it the problem is.
#[derive(Debug)]
pub struct MediaError {
    pub path: PathBuf,
    /// 1-based frame number.
    pub frame: Option<usize>,
    pub offset: Option<usize>,
    pub kind: MediaErrorKind,
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(n) = self.frame {
            write!(f, ": frame {n}")?;
        }
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        match &self.kind {
            MediaErrorKind::Io(e) => write!(f, ": {e}"),
            MediaErrorKind::Empty => write!(f, ": empty file, no frames"),
            MediaErrorKind::UnknownFormat(b) => write!(
                f,
                ": not an MJPEG movie (starts with {:02X} {:02X} {:02X} {:02X}; expected 5 length digits or a JPEG SOI)",
                b[0], b[1], b[2], b[3]
            ),
            MediaErrorKind::BadLength(s) => write!(f, ": length field {s:?} is not 5 digits"),
            MediaErrorKind::Truncated { need, have } => {
                write!(f, ": header says {need} bytes but only {have} remain (truncated file?)")
            }
            MediaErrorKind::NotJpeg(b) => write!(f, ": not a JPEG (starts with {:02X} {:02X})", b[0], b[1]),
            MediaErrorKind::NoEndOfImage(why) => write!(f, ": no end of image: {why}"),
            MediaErrorKind::Junk => write!(f, ": bytes between frames that are not a JPEG"),
        }
    }
}

impl std::error::Error for MediaError {}

/// An indexed movie. `Send + Sync`: share it as `Arc<Movie>`.
#[derive(Debug)]
pub struct Movie {
    path: PathBuf,
    format: Format,
    data: Arc<Vec<u8>>,
    frames: Vec<Range<usize>>,
}

/// One frame's bytes, borrowed from the shared buffer without copying; cheap to clone and to
/// send to another thread.
#[derive(Debug, Clone)]
pub struct SharedFrame {
    data: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Deref for SharedFrame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[self.range.clone()]
    }
}

impl Movie {
    /// Reads `path` once and indexes it.
    pub fn open(path: impl AsRef<Path>) -> Result<Movie, MediaError> {
        let path = path.as_ref();
        // fs::read sizes its buffer from the file's length: one allocation, one pass.
        let data = std::fs::read(path).map_err(|e| MediaError {
            path: path.to_path_buf(),
            frame: None,
            offset: None,
            kind: MediaErrorKind::Io(e),
        })?;
        Movie::from_bytes(path, data)
    }

    /// Indexes bytes already in memory; `name` is used in errors.
    pub fn from_bytes(name: impl Into<PathBuf>, data: Vec<u8>) -> Result<Movie, MediaError> {
        let path = name.into();
        let error = |frame, offset, kind| MediaError {
            path: path.clone(),
            frame,
            offset,
            kind,
        };
        if data.is_empty() {
            return Err(error(None, None, MediaErrorKind::Empty));
        }
        let format = index::detect(&data).ok_or_else(|| {
            let mut b = [0u8; 4];
            for (d, s) in b.iter_mut().zip(&data) {
                *d = *s;
            }
            error(None, None, MediaErrorKind::UnknownFormat(b))
        })?;
        let frames: Vec<Range<usize>> = index::index(&data[..], format)
            .map_err(|(frame, offset, kind)| error(Some(frame), Some(offset as usize), kind))?
            .into_iter()
            .map(|s| s.offset as usize..s.end() as usize)
            .collect();
        if frames.is_empty() {
            return Err(error(None, None, MediaErrorKind::Empty));
        }
        Ok(Movie {
            path,
            format,
            data: Arc::new(data),
            frames,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Frame `i` (0-based).
    pub fn frame(&self, i: usize) -> Option<&[u8]> {
        self.frames.get(i).map(|r| &self.data[r.clone()])
    }

    pub fn frame_shared(&self, i: usize) -> Option<SharedFrame> {
        self.frames.get(i).map(|r| SharedFrame {
            data: self.data.clone(),
            range: r.clone(),
        })
    }

    pub fn frames(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.frames.iter().map(|r| &self.data[r.clone()])
    }

    pub fn total_bytes(&self) -> usize {
        self.data.len()
    }

    /// (smallest, median, largest) frame size in bytes.
    pub fn frame_len_stats(&self) -> (usize, usize, usize) {
        let mut lens: Vec<usize> = self.frames.iter().map(|r| r.len()).collect();
        lens.sort_unstable();
        (lens[0], lens[lens.len() / 2], lens[lens.len() - 1])
    }
}

/// The frame rate in `<movie>.fps` beside the movie, if there is a valid one.
///
/// The sidecar must be a regular file itself, not a symlink: the server checks that a movie
/// lies inside the media folder, but not its sidecar, which a symlink could take anywhere (and
/// a FIFO would block the server's one thread). Only its first 64 bytes are read.
pub fn sidecar_fps(movie: &Path) -> Option<f64> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = movie.file_name()?.to_os_string();
    name.push(".fps");
    let path = movie.with_file_name(name);
    let file = match std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let why = if e.raw_os_error() == Some(libc::ELOOP) {
                "a symbolic link, which is not followed".to_string()
            } else {
                e.to_string()
            };
            log::warn!("{}: {why}; ignored", path.display());
            return None;
        }
    };
    let mut text = String::new();
    let read = match file.metadata() {
        Ok(m) if m.is_file() => file.take(64).read_to_string(&mut text),
        _ => Err(std::io::ErrorKind::InvalidInput.into()),
    };
    match read.ok().and_then(|_| text.trim().parse::<f64>().ok()) {
        Some(fps) if fps > 0.0 && fps <= 1000.0 => Some(fps),
        _ => {
            log::warn!(
                "{}: {:?} is not a frame rate from 0 to 1000 in a plain file; ignored",
                path.display(),
                text.trim()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;

    fn small() -> TestMovie {
        TestMovie {
            seconds: 0.25,
            width: 64,
            height: 48,
            fps: 24,
            ..TestMovie::default()
        }
    }

    fn lab(frames: &[Vec<u8>]) -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| {
                format!("{:05}", f.len())
                    .into_bytes()
                    .into_iter()
                    .chain(f.iter().copied())
            })
            .collect()
    }

    #[test]
    fn lab_and_raw_index_the_same_frames() {
        let t = small();
        let frames: Vec<Vec<u8>> = (0..t.frame_count()).map(|i| t.encode(i as u32)).collect();
        let a = Movie::from_bytes("a.Mjpeg", lab(&frames)).unwrap();
        let b = Movie::from_bytes("b.mjpeg", frames.concat()).unwrap();
        assert_eq!(a.format(), Format::Lab);
        assert_eq!(b.format(), Format::Raw);
        assert_eq!(a.frame_count(), frames.len());
        assert!(a.frames().eq(b.frames()));
        assert_eq!(&*a.frame_shared(2).unwrap(), a.frame(2).unwrap());
    }

    #[test]
    fn raw_frames_with_an_exif_thumbnail_ending_in_eoi() {
        let f = small().encode(0);
        // APP1 holding FF D9 right after SOI.
        let mut with_app = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9];
        with_app.extend_from_slice(&f[2..]);
        let m = Movie::from_bytes("x", [with_app.clone(), f.clone()].concat()).unwrap();
        assert_eq!(m.frame_count(), 2);
        assert_eq!(m.frame(0).unwrap(), &with_app[..]);
    }

    #[test]
    fn errors_name_file_frame_and_offset() {
        let f = small().encode(0);
        let good = lab(&[f.clone(), f.clone()]);
        let msg = |bytes: Vec<u8>| Movie::from_bytes("m.Mjpeg", bytes).unwrap_err().to_string();

        let cut = msg(good[..good.len() - 10].to_vec());
        assert!(cut.starts_with("m.Mjpeg: frame 2 at byte"), "{cut}");
        assert!(cut.contains("truncated"), "{cut}");

        let mut bad_len = good.clone();
        bad_len[f.len() + 5 + 2] = b'x';
        assert!(msg(bad_len).contains("frame 2"), "bad length");

        let mut not_jpeg = good.clone();
        not_jpeg[5] = 0;
        assert!(msg(not_jpeg).contains("frame 1 at byte 5: not a JPEG (starts with 00 D8)"));

        assert!(msg(vec![]).contains("empty"));
        assert!(msg(b"GIF89a....".to_vec()).contains("not an MJPEG movie"));
        assert!(msg(f[..f.len() - 2].to_vec()).contains("no end of image"));
        assert!(msg([f.clone(), vec![0, 0, 0]].concat()).contains("frame 2"));
        let missing = Movie::open("/nonexistent/movie.Mjpeg")
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("/nonexistent/movie.Mjpeg: "),
            "{missing}"
        );
    }

    #[test]
    fn sidecar_frame_rate() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-fps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let movie = dir.join("m.Mjpeg");
        assert_eq!(sidecar_fps(&movie), None);
        std::fs::write(dir.join("m.Mjpeg.fps"), " 29.97\n").unwrap();
        assert_eq!(sidecar_fps(&movie), Some(29.97));
        std::fs::write(dir.join("m.Mjpeg.fps"), "fast").unwrap();
        assert_eq!(sidecar_fps(&movie), None);
        // A symlink could lead out of the media folder: not followed.
        std::fs::write(dir.join("elsewhere"), "30").unwrap();
        std::fs::remove_file(dir.join("m.Mjpeg.fps")).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("m.Mjpeg.fps")).unwrap();
        assert_eq!(sidecar_fps(&movie), None);
        // Nor is a FIFO read (it would block), nor more than a few bytes.
        std::fs::remove_file(dir.join("m.Mjpeg.fps")).unwrap();
        let fifo = std::ffi::CString::new(dir.join("m.Mjpeg.fps").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(sidecar_fps(&movie), None);
        std::fs::remove_file(dir.join("m.Mjpeg.fps")).unwrap();
        let mut long = "25".to_string();
        long.push_str(&" ".repeat(100));
        long.push('1');
        std::fs::write(dir.join("m.Mjpeg.fps"), long).unwrap();
        assert_eq!(sidecar_fps(&movie), Some(25.0), "the first 64 bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Movie::from_bytes("x", data);
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..4000, raw: bool) {
            let t = small();
            let frames: Vec<Vec<u8>> = (0..3).map(|i| t.encode(i)).collect();
            let bytes = if raw { frames.concat() } else { lab(&frames) };
            let _ = Movie::from_bytes("x", bytes[..cut.min(bytes.len())].to_vec());
        }
    }
}
