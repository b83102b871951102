//! Finding the frames of an MJPEG movie without holding it: one indexer for bytes in memory and
//! for files read by offset ([`ReadAt`]).
//!
//! The lab format costs one 7-byte read per frame (the 5 length digits and the JPEG's SOI); the
//! raw format is scanned through a window of at most [`MAX_FRAME`] bytes, so indexing a file of
//! any size needs a few megabytes at most.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::media::movie::{Format, MediaErrorKind};

/// A raw frame larger than this is taken for a broken file rather than buffered whole.
pub const MAX_FRAME: usize = 16 << 20;
/// The lab format's 5 digits cannot say more than this.
const LAB_MAX: u64 = 99_999;
/// Raw scanning reads this much at a time.
const CHUNK: usize = 1 << 20;

/// Positioned reads: a file, or bytes in memory.
pub trait ReadAt {
    fn size(&self) -> u64;
    /// Fills as much of `buf` as the source holds from `offset` on; returns how much.
    fn read_at_most(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at_most(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A file and the length it had when it was opened.
pub struct SizedFile<'a> {
    pub file: &'a File,
    pub len: u64,
}

impl ReadAt for SizedFile<'_> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at_most(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// Which format a movie is, from its first bytes.
pub fn detect(head: &[u8]) -> Option<Format> {
    if head.starts_with(&[0xFF, 0xD8]) {
        Some(Format::Raw)
    } else if head.len() >= 5 && head[..5].iter().all(u8::is_ascii_digit) {
        Some(Format::Lab)
    } else {
        None
    }
}

/// Where indexing stopped: 1-based frame, byte offset, and why.
pub type IndexError = (usize, u64, MediaErrorKind);

/// A frame's bytes in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u32,
}

impl Span {
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// Indexes every frame of `src` in `format`.
pub fn index<R: ReadAt + ?Sized>(src: &R, format: Format) -> Result<Vec<Span>, IndexError> {
    match format {
        Format::Lab => index_lab(src),
        Format::Raw => index_raw(src),
    }
}

fn io_error(frame: usize, at: u64, e: io::Error) -> IndexError {
    (frame, at, MediaErrorKind::Io(e))
}

fn index_lab<R: ReadAt + ?Sized>(src: &R) -> Result<Vec<Span>, IndexError> {
    let size = src.size();
    let mut frames = Vec::new();
    let mut at = 0u64;
    let mut head = [0u8; 7];
    while at < size {
        let n = frames.len() + 1;
        let got = src
            .read_at_most(&mut head, at)
            .map_err(|e| io_error(n, at, e))?;
        let field = &head[..got.min(5)];
        if field.len() < 5 || !field.iter().all(u8::is_ascii_digit) {
            return Err((
                n,
                at,
                MediaErrorKind::BadLength(String::from_utf8_lossy(field).into_owned()),
            ));
        }
        let len = field
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        debug_assert!(len <= LAB_MAX);
        let start = at + 5;
        let have = size - start;
        if len > have {
            return Err((
                n,
                at,
                MediaErrorKind::Truncated {
                    need: len as usize,
                    have: have as usize,
                },
            ));
        }
        let soi = &head[5..got.max(5)];
        if len < 2 || soi != [0xFF, 0xD8] {
            let mut b = [0u8; 2];
            for (d, s) in b.iter_mut().zip(soi.iter().take(len as usize)) {
                *d = *s;
            }
            return Err((n, start, MediaErrorKind::NotJpeg(b)));
        }
        frames.push(Span {
            offset: start,
            len: len as u32,
        });
        at = start + len;
    }
    Ok(frames)
}

/// A window of the source: `buf` holds the bytes from `base` on.
struct Window<'a, R: ?Sized> {
    src: &'a R,
    base: u64,
    buf: Vec<u8>,
}

impl<R: ReadAt + ?Sized> Window<'_, R> {
    fn at_eof(&self) -> bool {
        self.base + self.buf.len() as u64 >= self.src.size()
    }

    /// Drops the bytes before `keep_from` and reads another chunk after what is held.
    fn advance(&mut self, keep_from: u64) -> io::Result<()> {
        let drop = (keep_from - self.base) as usize;
        self.buf.drain(..drop);
        self.base = keep_from;
        let have = self.buf.len();
        let want = CHUNK.min((self.src.size() - self.base) as usize - have);
        self.buf.resize(have + want, 0);
        let got = self
            .src
            .read_at_most(&mut self.buf[have..], self.base + have as u64)?;
        self.buf.truncate(have + got);
        Ok(())
    }
}

fn index_raw<R: ReadAt + ?Sized>(src: &R) -> Result<Vec<Span>, IndexError> {
    let size = src.size();
    let mut frames = Vec::new();
    let mut w = Window {
        src,
        base: 0,
        buf: Vec::new(),
    };
    let mut at = 0u64;
    while at < size {
        let n = frames.len() + 1;
        loop {
            let rel = (at - w.base) as usize;
            let result = if rel + 2 <= w.buf.len() {
                if !w.buf[rel..].starts_with(&[0xFF, 0xD8]) {
                    return Err((n, at, MediaErrorKind::Junk));
                }
                raw_frame_end(&w.buf, rel)
            } else {
                Err(FrameEnd::Incomplete("file ends inside a marker"))
            };
            match result {
                Ok(end) => {
                    let len = (end - rel) as u32;
                    frames.push(Span { offset: at, len });
                    at += u64::from(len);
                    break;
                }
                Err(FrameEnd::Invalid(why)) => {
                    return Err((n, at, MediaErrorKind::NoEndOfImage(why)))
                }
                Err(FrameEnd::Incomplete(why)) => {
                    if w.at_eof() && rel + 2 <= w.buf.len() {
                        return Err((n, at, MediaErrorKind::NoEndOfImage(why)));
                    }
                    if w.at_eof() {
                        return Err((n, at, MediaErrorKind::Junk));
                    }
                    if w.buf.len() - rel >= MAX_FRAME {
                        return Err((n, at, MediaErrorKind::NoEndOfImage("no end within 16 MiB")));
                    }
                    w.advance(at).map_err(|e| io_error(n, at, e))?;
                }
            }
        }
    }
    Ok(frames)
}

/// Why the end of a JPEG was not found.
enum FrameEnd {
    /// The bytes end first: more might complete it.
    Incomplete(&'static str),
    Invalid(&'static str),
}

/// The end (just past EOI) of the JPEG starting at `start`. Segments are skipped by their
/// lengths, so an FF D9 inside an EXIF thumbnail is not taken for the end; scan data is searched
/// for the first marker other than stuffing and restarts. Progressive files have several scans.
fn raw_frame_end(data: &[u8], start: usize) -> Result<usize, FrameEnd> {
    use FrameEnd::{Incomplete, Invalid};
    let mut at = start + 2;
    loop {
        match data.get(at) {
            None => return Err(Incomplete("file ends inside a marker")),
            Some(0xFF) => {}
            Some(_) => return Err(Invalid("expected a marker")),
        }
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *data
            .get(at)
            .ok_or(Incomplete("file ends inside a marker"))?;
        at += 1;
        match marker {
            0xD9 => return Ok(at),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = data
            .get(at..at + 2)
            .ok_or(Incomplete("segment length cut off"))?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(Invalid("segment length under 2"));
        }
        if at + len > data.len() {
            return Err(Incomplete("segment runs past the end of the file"));
        }
        at += len;
        if marker == 0xDA {
            // Entropy-coded data: stop at the first real marker.
            loop {
                let i = data
                    .get(at..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                    .ok_or(Incomplete("scan cut short"))?;
                at += i;
                match data.get(at + 1) {
                    None => return Err(Incomplete("scan cut short")),
                    Some(0x00) | Some(0xD0..=0xD7) => at += 2,
                    Some(0xFF) => at += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;

    /// A reader that hands out at most 3 bytes per call, to exercise short reads.
    struct Dribble<'a>(&'a [u8]);
    impl ReadAt for Dribble<'_> {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at_most(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read_at_most(&mut buf[..n], offset)
        }
    }

    #[test]
    fn raw_frames_across_window_edges() {
        let t = TestMovie {
            seconds: 0.25,
            width: 64,
            height: 48,
            ..TestMovie::default()
        };
        let frames: Vec<Vec<u8>> = (0..t.frame_count()).map(|i| t.encode(i as u32)).collect();
        let bytes = frames.concat();
        let spans = index(&bytes[..], Format::Raw).unwrap();
        assert_eq!(spans.len(), frames.len());
        let mut at = 0;
        for (s, f) in spans.iter().zip(&frames) {
            assert_eq!((s.offset, s.len as usize), (at, f.len()));
            at += f.len() as u64;
        }
        // A reader that returns less than asked is still read whole where it matters.
        let sized: Vec<Span> = index(&Dribble(&bytes), Format::Raw)
            .map_err(|e| format!("{:?}", e.2))
            .unwrap();
        // Dribble returns 3 bytes per window refill, so scanning grows the window 3 bytes at a
        // time; it must still find every frame.
        assert_eq!(sized, spans);
    }

    #[test]
    fn detect_formats() {
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF]), Some(Format::Raw));
        assert_eq!(detect(b"01234\xFF\xD8"), Some(Format::Lab));
        assert_eq!(detect(b"GIF89a"), None);
    }
}
