//! MJPEG movies: reading them ([`movie`]) and making the built-in test movie ([`testmovie`]).
//!
//! Two file formats, told apart by content, never by name:
//! - **lab**: each frame is five ASCII digits giving its length in bytes, then the JPEG (the
//!   format of the classic Python lab's `movie.Mjpeg`);
//! - **raw**: JPEG files back to back, SOI to EOI (what `ffmpeg -f mjpeg` writes).
//!
//! The server reads movies from disk ([`disk::DiskMovie`]): indexed once, frames read by offset
//! when they are due, so memory does not grow with the media folder. The tools and tests use
//! [`movie::Movie`], which holds a whole file in one buffer. Both index with [`index`].
//!
//! Neither format records a frame rate. A sidecar file next to the movie, named like it plus
//! `.fps` (`movie.Mjpeg.fps`), may hold one as a decimal number (`29.97`); `mjpeg convert` writes
//! it and rtspd reads it through [`movie::sidecar_fps`].
//!
//! A playlist (`NAME.m3u`, `NAME.m3u8`) lists movies to play back to back; [`m3u`] reads one.

pub mod convert;
pub mod disk;
mod ffmpeg;
pub mod index;
pub mod m3u;
pub mod movie;
pub mod pixels;
pub mod report;
pub mod testmovie;

pub use disk::{DiskMovie, ReadError, Stamp};
pub use movie::{sidecar_fps, Format, MediaError, Movie, SharedFrame};
pub use testmovie::TestMovie;
