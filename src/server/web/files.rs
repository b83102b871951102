//! Video files browsers play themselves (`.mp4`, `.webm`), as the original web library served
//! them next to its RTSP player: listed, and sent from `/file/NAME` with byte ranges (RFC 9110
//! §14: 206 and `Content-Range`, 416, `If-Range` with an ETag from the file's size and time), so
//! a `<video>` element can seek. RTSP names them as not carriable (415); nothing else in the
//! folder (movies, sidecars) is ever sent as a file.
//!
//! A body is read from disk as the connection drains ([`FileBody`]), so memory per download
//! stays at one chunk whatever the file's size.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crate::http::range::{self, Ranged};
use crate::http::request::Request;
use crate::http::response::{Length, Response};
use crate::server::catalog::Catalog;
use crate::server::core::Core;
use crate::server::web::{error, Action};

/// Extensions served as files, and their media types.
const TYPES: [(&str, &str); 2] = [(".mp4", "video/mp4"), (".webm", "video/webm")];

/// The media type of a browser video file's name, None for anything else.
pub fn content_type(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, t)| *t)
}

/// Browser video files in the folder and its sub-folders (4 deep, as the catalogue lists
/// movies): names and sizes, hidden files and links out of the folder skipped.
pub fn list(catalog: &Catalog) -> Vec<(String, u64)> {
    catalog
        .files_named(|lower| content_type(lower).is_some())
        .into_iter()
        .filter_map(|p| {
            let size = std::fs::metadata(&p).ok()?.len();
            Some((catalog.name_of(&p), size))
        })
        .collect()
}

/// `/file/NAME`: the whole file, one range of it, or why not.
pub fn serve(
    core: &mut Core,
    name: &str,
    req: &Request,
    head_only: bool,
) -> Result<Action, Response> {
    let mime = content_type(name).ok_or_else(|| error(404, "No such video file."))?;
    let path = core
        .library()
        .catalog()
        .resolve(name)
        .map_err(|_| error(404, "No such video file."))?;
    let meta = std::fs::metadata(&path).map_err(|_| error(404, "No such video file."))?;
    let len = meta.len();
    let etag = format!("\"{:x}-{:x}-{:x}\"", len, meta.mtime(), meta.mtime_nsec());
    // If-Range with another validator: the file changed, so the whole of it (§13.1.5).
    let if_range_ok = req.headers.get("If-Range").is_none_or(|v| v.trim() == etag);
    let ranged = if if_range_ok {
        range::parse(req.headers.get("Range"), len)
    } else {
        Ranged::Whole
    };
    let base = |status: u16| {
        Response::new(status)
            .header("Content-Type", mime)
            .header("Accept-Ranges", "bytes")
            .header("ETag", &etag)
            .header("Cache-Control", "no-cache")
    };
    let (mut response, start, count) = match ranged {
        Ranged::Whole => (base(200), 0, len),
        Ranged::Part { start, end } => {
            let r = base(206).header("Content-Range", &format!("bytes {start}-{end}/{len}"));
            (r, start, end - start + 1)
        }
        Ranged::Unsatisfiable => {
            let r = error(416, "That part of the file does not exist.")
                .header("Content-Range", &format!("bytes */{len}"));
            return Err(r);
        }
    };
    if head_only {
        // A HEAD's Content-Length is the body a GET would get (RFC 9110 §9.3.2).
        let mut response = response;
        response.length = Length::Known(count);
        return Ok(Action::Reply {
            response,
            head_only: true,
        });
    }
    response.length = Length::Known(count);
    Ok(Action::File {
        response,
        path,
        start,
        len: count,
    })
}

/// A file body being sent: the part of the file still to go.
pub struct FileBody {
    file: File,
    pos: u64,
    end: u64,
}

impl FileBody {
    pub fn open(path: &Path, start: u64, len: u64) -> io::Result<FileBody> {
        Ok(FileBody {
            file: File::open(path)?,
            pos: start,
            end: start.saturating_add(len),
        })
    }

    /// Appends up to `max` more bytes to `out`. Ok(true) once the whole body has been read; an
    /// error if the file shrank (the promised length can no longer be kept).
    pub fn read_chunk(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        let want = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(max);
        let start = out.len();
        out.resize(start + want, 0);
        let mut got = 0;
        while got < want {
            match self
                .file
                .read_at(&mut out[start + got..], self.pos + got as u64)
            {
                Ok(0) => {
                    out.truncate(start + got);
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was sent",
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    out.truncate(start + got);
                    return Err(e);
                }
            }
        }
        self.pos += want as u64;
        Ok(self.pos >= self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_come_in_chunks_and_stop_at_the_end() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        std::fs::write(dir.join("sub/a.MP4"), &data).unwrap();
        std::fs::write(dir.join("b.webm"), b"x").unwrap();
        std::fs::write(dir.join(".hidden.mp4"), b"x").unwrap();
        std::fs::write(dir.join("c.Mjpeg"), b"x").unwrap();
        let cat = Catalog::new(&dir).unwrap();
        let mut names = list(&cat);
        names.sort();
        assert_eq!(
            names,
            vec![("b.webm".to_string(), 1), ("sub/a.MP4".to_string(), 1000)]
        );
        assert_eq!(content_type("sub/a.MP4"), Some("video/mp4"));
        assert_eq!(content_type("c.Mjpeg"), None);
        let mut body = FileBody::open(&dir.join("sub/a.MP4"), 100, 500).unwrap();
        let mut out = Vec::new();
        assert!(!body.read_chunk(300, &mut out).unwrap());
        assert!(body.read_chunk(300, &mut out).unwrap());
        assert_eq!(out, &data[100..600]);
        let mut past = FileBody::open(&dir.join("sub/a.MP4"), 900, 500).unwrap();
        assert!(past.read_chunk(1000, &mut Vec::new()).is_err(), "shrank");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
