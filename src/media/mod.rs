//! MJPEG movies: reading them ([`movie`]) and making the built-in test movie ([`testmovie`]).
//!
//! Two file formats, told apart by content, never by name:
//! - **lab**: each frame is five ASCII digits giving its length in bytes, then the JPEG (the
//!   format of the classic Python lab's `movie.Mjpeg`);
//! - **raw**: JPEG files back to back, SOI to EOI (what `ffmpeg -f mjpeg` writes).
//!
//! A file is read once into one buffer and indexed; every reader shares that buffer through
//! `Arc<Movie>` or [`movie::SharedFrame`], so no session copies frame data.
//!
//! Neither format records a frame rate. A sidecar file next to the movie, named like it plus
//! `.fps` (`movie.Mjpeg.fps`), may hold one as a decimal number (`29.97`); `mjpeg convert` writes
//! it and rtspd reads it through [`movie::sidecar_fps`].

pub mod convert;
pub mod movie;
pub mod testmovie;

pub use movie::{sidecar_fps, Format, MediaError, Movie, SharedFrame};
pub use testmovie::TestMovie;
