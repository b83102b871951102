//! A movie on disk: indexed once, its frames read by offset when they are needed.
//!
//! Nothing is memory-mapped. A mapped file that another program truncates raises SIGBUS on the
//! next access to a vanished page, which would kill the server; a positioned read of a truncated
//! file only comes back short, which is an error for one frame. Every frame read is checked
//! (whole length, JPEG start and end markers), so a file replaced or rewritten underneath yields
//! errors, never a torn frame.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::media::index::{self, ReadAt, SizedFile, Span};
use crate::media::movie::{Format, MediaError, MediaErrorKind};

/// What a file looked like when it was indexed; a different stamp means it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: SystemTime,
    pub inode: u64,
    pub device: u64,
}

impl Stamp {
    pub fn of(path: &Path) -> io::Result<Stamp> {
        Ok(Stamp::from_metadata(&std::fs::metadata(path)?))
    }

    fn from_metadata(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: m.len(),
            modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            inode: m.ino(),
            device: m.dev(),
        }
    }
}

/// An indexed movie file, kept open.
#[derive(Debug)]
pub struct DiskMovie {
    path: PathBuf,
    file: File,
    format: Format,
    frames: Vec<Span>,
    stamp: Stamp,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum ReadError {
    NoSuchFrame(usize),
    Io(io::Error),
    /// Fewer bytes than indexed: the file was truncated.
    Short {
        want: usize,
        got: usize,
    },
    /// The bytes are no longer a JPEG: the file was rewritten.
    Changed,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NoSuchFrame(i) => write!(f, "no frame {}", i + 1),
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Short { want, got } => {
                write!(f, "read {got} of {want} bytes (file truncated?)")
            }
            ReadError::Changed => f.write_str("the frame is no longer a JPEG (file rewritten?)"),
        }
    }
}

impl std::error::Error for ReadError {}

impl DiskMovie {
    /// Opens and indexes `path`. Memory: the index (16 bytes a frame) and, for raw files, a
    /// scanning window of a few MB while indexing.
    pub fn open(path: &Path) -> Result<DiskMovie, MediaError> {
        let error = |frame, offset: Option<u64>, kind| MediaError {
            path: path.to_path_buf(),
            frame,
            offset: offset.map(|o| o as usize),
            kind,
        };
        let file = File::open(path).map_err(|e| error(None, None, MediaErrorKind::Io(e)))?;
        let meta = file
            .metadata()
            .map_err(|e| error(None, None, MediaErrorKind::Io(e)))?;
        let stamp = Stamp::from_metadata(&meta);
        let src = SizedFile {
            file: &file,
            len: meta.len(),
        };
        let mut head = [0u8; 8];
        let got = src
            .read_at_most(&mut head, 0)
            .map_err(|e| error(None, None, MediaErrorKind::Io(e)))?;
        if got == 0 {
            return Err(error(None, None, MediaErrorKind::Empty));
        }
        let format = index::detect(&head[..got]).ok_or_else(|| {
            error(
                None,
                None,
                MediaErrorKind::UnknownFormat([head[0], head[1], head[2], head[3]]),
            )
        })?;
        let frames = index::index(&src, format)
            .map_err(|(frame, offset, kind)| error(Some(frame), Some(offset), kind))?;
        if frames.is_empty() {
            return Err(error(None, None, MediaErrorKind::Empty));
        }
        Ok(DiskMovie {
            path: path.to_path_buf(),
            file,
            format,
            frames,
            stamp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Bytes of the file's frames (the file's size, but for lab length fields).
    pub fn total_bytes(&self) -> u64 {
        self.frames.iter().map(|s| u64::from(s.len)).sum()
    }

    pub fn frame_len(&self, i: usize) -> Option<usize> {
        self.frames.get(i).map(|s| s.len as usize)
    }

    /// Reads frame `i` (0-based) whole, or says why not.
    pub fn read_frame(&self, i: usize) -> Result<Vec<u8>, ReadError> {
        let span = *self.frames.get(i).ok_or(ReadError::NoSuchFrame(i))?;
        let want = span.len as usize;
        let mut buf = vec![0u8; want];
        let src = SizedFile {
            file: &self.file,
            len: self.stamp.len,
        };
        let got = src
            .read_at_most(&mut buf, span.offset)
            .map_err(ReadError::Io)?;
        if got < want {
            return Err(ReadError::Short { want, got });
        }
        if !buf.starts_with(&[0xFF, 0xD8]) || !buf.ends_with(&[0xFF, 0xD9]) {
            return Err(ReadError::Changed);
        }
        Ok(buf)
    }

    /// Tells the kernel that frames `i..` (about `bytes` of them) are wanted soon, so the reads
    /// that follow find them in the page cache instead of waiting for the disk.
    pub fn prefetch(&self, i: usize, bytes: u64) {
        let Some(span) = self.frames.get(i) else {
            return;
        };
        // SAFETY: posix_fadvise only reads its arguments; a bad range is an error code.
        unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                span.offset as libc::off_t,
                bytes as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;

    fn tmp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rtsp-mjpeg-disk-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn small() -> TestMovie {
        TestMovie {
            seconds: 0.25,
            width: 64,
            height: 64,
            ..TestMovie::default()
        }
    }

    #[test]
    fn reads_the_same_frames_as_the_in_memory_movie() {
        let dir = tmp("same");
        let t = small();
        for (name, bytes) in [
            ("a.Mjpeg", t.to_lab_bytes()),
            (
                "b.mjpeg",
                (0..t.frame_count())
                    .flat_map(|i| t.encode(i as u32))
                    .collect(),
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).unwrap();
            let m = crate::media::Movie::from_bytes(name, bytes).unwrap();
            let d = DiskMovie::open(&path).unwrap();
            assert_eq!(d.format(), m.format());
            assert_eq!(d.frame_count(), m.frame_count());
            for i in 0..m.frame_count() {
                assert_eq!(d.read_frame(i).unwrap(), m.frame(i).unwrap());
            }
            assert!(matches!(
                d.read_frame(m.frame_count()),
                Err(ReadError::NoSuchFrame(_))
            ));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncated_or_rewritten_files_give_errors_not_torn_frames() {
        let dir = tmp("trunc");
        let path = dir.join("m.Mjpeg");
        let bytes = small().to_lab_bytes();
        std::fs::write(&path, &bytes).unwrap();
        let d = DiskMovie::open(&path).unwrap();
        let last = d.frame_count() - 1;
        // Truncate in place (the same inode, as `> file` or a copy over it would).
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(bytes.len() as u64 / 2).unwrap();
        assert!(d.read_frame(0).is_ok(), "frames before the cut still read");
        assert!(matches!(d.read_frame(last), Err(ReadError::Short { .. })));
        f.set_len(0).unwrap();
        f.set_len(bytes.len() as u64).unwrap(); // zeros where the frames were
        assert!(matches!(d.read_frame(0), Err(ReadError::Changed)));
        assert_ne!(Stamp::of(&path).unwrap(), d.stamp(), "the change is seen");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_named_with_the_reason() {
        let dir = tmp("bad");
        let empty = dir.join("empty.Mjpeg");
        std::fs::write(&empty, b"").unwrap();
        let e = DiskMovie::open(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.Mjpeg") && e.contains("empty file"), "{e}");
        let gif = dir.join("x.Mjpeg");
        std::fs::write(&gif, b"GIF89a....").unwrap();
        let e = DiskMovie::open(&gif).unwrap_err().to_string();
        assert!(e.contains("not an MJPEG movie"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
