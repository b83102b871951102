//! The built-in test movie: moving colours, a bouncing box, the frame number and time drawn
//! large, and the frame number again as a strip of black and white blocks that a test can read
//! back from a decoded frame ([`read_frame_number`]).
//!
//! Frames are baseline JPEG, 4:2:0, with the standard Huffman tables (jpeg-encoder's defaults,
//! optimisation off), so RFC 2435 carries them. Generation is deterministic: integer arithmetic
//! only, the same bytes every run.

use std::io::{self, Write};
use std::path::Path;

use font8x8::legacy::BASIC_LEGACY;

/// Blocks in the frame-number strip: start (white), guard (black), 20 bits, parity, guard.
const STRIP_BLOCKS: usize = 24;
const STRIP_BITS: usize = 20;

/// Settings of the test movie. `Default` is the built-in one: 10 s, 640x480, 24 fps.
#[derive(Debug, Clone, PartialEq)]
pub struct TestMovie {
    pub seconds: f64,
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    /// JPEG quality 1-100.
    pub quality: u8,
}

impl Default for TestMovie {
    fn default() -> Self {
        // Quality 75 keeps 640x480 frames under the lab client's 20 480-byte receive buffer.
        TestMovie {
            seconds: 10.0,
            width: 640,
            height: 480,
            fps: 24,
            quality: 75,
        }
    }
}

impl TestMovie {
    /// Checks the settings; the error names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.seconds > 0.0 && self.seconds <= 3600.0) {
            return Err(format!(
                "length {} s: must be above 0 and at most 3600",
                self.seconds
            ));
        }
        if !(1..=240).contains(&self.fps) {
            return Err(format!("frame rate {}: must be 1 to 240", self.fps));
        }
        for (what, v) in [("width", self.width), ("height", self.height)] {
            if !(64..=2040).contains(&v) || v % 16 != 0 {
                return Err(format!(
                    "{what} {v}: must be a multiple of 16 from 64 to 2040 (RFC 2435 limits)"
                ));
            }
        }
        if !(1..=100).contains(&self.quality) {
            return Err(format!("quality {}: must be 1 to 100", self.quality));
        }
        Ok(())
    }

    pub fn frame_count(&self) -> usize {
        ((self.seconds * f64::from(self.fps)).round() as usize).max(1)
    }

    /// Frame `n` as RGB8 pixels, row by row.
    pub fn render(&self, n: u32) -> Vec<u8> {
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let mut px = vec![0u8; w * h * 3];
        let shift = n as usize * 4;
        // Smooth colours that drift: triangle waves compress well, unlike wrapping ramps.
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                px[i] = tri(x + shift);
                px[i + 1] = tri(y + shift / 2);
                px[i + 2] = tri((x + y) / 2 + 128);
            }
        }
        // A box bouncing across the picture.
        let size = w / 8;
        let bx = bounce(n as usize * 7, w - size);
        let by = bounce(n as usize * 5, h * 2 / 3 - size);
        fill(&mut px, w, bx, by, size, size, [250, 250, 60]);
        // The frame number and time, large, on a dark panel.
        let scale = (w / 80).max(1);
        let ms = u64::from(n) * 1000 / u64::from(self.fps);
        let line1 = format!("#{n:05}");
        let line2 = format!("{:02}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000);
        let panel_w = (line1.len() * 8 * scale).max(line2.len() * 4 * scale) + 4 * scale;
        let panel_h = 8 * scale + 4 * scale + 4 * scale + 2 * scale;
        fill(
            &mut px,
            w,
            2 * scale,
            2 * scale,
            panel_w.min(w - 2 * scale),
            panel_h,
            [20, 20, 40],
        );
        draw_text(
            &mut px,
            w,
            4 * scale,
            3 * scale,
            scale,
            &line1,
            [255, 255, 255],
        );
        draw_text(
            &mut px,
            w,
            4 * scale,
            12 * scale,
            (scale / 2).max(1),
            &line2,
            [180, 220, 255],
        );
        self.draw_strip(&mut px, n);
        px
    }

    /// The strip of blocks along the bottom that encodes `n`.
    fn draw_strip(&self, px: &mut [u8], n: u32) {
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let (bw, bh, y0) = strip_geometry(w, h);
        let n = n & ((1 << STRIP_BITS) - 1);
        for b in 0..STRIP_BLOCKS {
            let white = match b {
                0 => true,
                1 | 23 => false,
                22 => n.count_ones() % 2 == 1,
                _ => n >> (b - 2) & 1 == 1,
            };
            let v = if white { 255 } else { 0 };
            fill(px, w, b * bw, y0, bw, bh, [v, v, v]);
        }
    }

    /// Frame `n` as a JPEG.
    pub fn encode(&self, n: u32) -> Vec<u8> {
        let px = self.render(n);
        let mut out = Vec::with_capacity(32 * 1024);
        let mut enc = jpeg_encoder::Encoder::new(&mut out, self.quality);
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        enc.set_optimized_huffman_tables(false);
        // Writing into a Vec cannot fail, and validate() bounds the dimensions.
        enc.encode(&px, self.width, self.height, jpeg_encoder::ColorType::Rgb)
            .expect("encoding the test movie into memory");
        out
    }

    /// Writes the movie in the lab format, calling `progress(done, total)` after each frame.
    pub fn write_lab_with_progress(
        &self,
        out: &mut impl Write,
        mut progress: impl FnMut(usize, usize),
    ) -> io::Result<()> {
        self.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let total = self.frame_count();
        for n in 0..total {
            let jpeg = self.encode(n as u32);
            if jpeg.len() > 99_999 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "frame {} is {} bytes, over the lab format's 99 999; lower the quality",
                        n + 1,
                        jpeg.len()
                    ),
                ));
            }
            write!(out, "{:05}", jpeg.len())?;
            out.write_all(&jpeg)?;
            progress(n + 1, total);
        }
        Ok(())
    }

    pub fn to_lab_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec fails only on invalid settings, which callers of this take as a bug.
        self.write_lab_with_progress(&mut out, |_, _| {})
            .expect("valid test movie settings");
        out
    }

    /// Writes the movie to `path` through a temporary file, so no half movie is ever left.
    pub fn write_file(&self, path: &Path, progress: impl FnMut(usize, usize)) -> io::Result<()> {
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".partial");
        let tmp = path.with_file_name(tmp_name);
        let result = (|| {
            let mut f = io::BufWriter::new(std::fs::File::create(&tmp)?);
            self.write_lab_with_progress(&mut f, progress)?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Writes the built-in test movie (the default settings) to `path`.
pub fn write_default(path: &Path) -> io::Result<()> {
    TestMovie::default().write_file(path, |_, _| {})
}

fn strip_geometry(w: usize, h: usize) -> (usize, usize, usize) {
    let bw = w / STRIP_BLOCKS;
    let bh = (h / 16).max(8);
    (bw, bh, h - bh - h / 60)
}

/// Reads the frame number from a decoded frame's strip; `None` when the strip is not there or
/// does not check out (guards, parity, clear black and white).
pub fn read_frame_number(rgb: &[u8], width: usize, height: usize) -> Option<u32> {
    if width < STRIP_BLOCKS * 2 || height < 64 || rgb.len() < width * height * 3 {
        return None;
    }
    let (bw, bh, y0) = strip_geometry(width, height);
    let mut bits = [false; STRIP_BLOCKS];
    for (b, bit) in bits.iter_mut().enumerate() {
        // Average a small square in the middle of the block (away from JPEG ringing at edges).
        let (cx, cy) = (b * bw + bw / 2, y0 + bh / 2);
        let r = (bw.min(bh) / 4).max(1);
        let (mut sum, mut count) = (0u32, 0u32);
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                let i = (y * width + x) * 3;
                sum += (u32::from(rgb[i]) * 3 + u32::from(rgb[i + 1]) * 6 + u32::from(rgb[i + 2]))
                    / 10;
                count += 1;
            }
        }
        let v = sum / count;
        *bit = match v {
            0..=70 => false,
            185..=255 => true,
            _ => return None,
        };
    }
    if !bits[0] || bits[1] || bits[23] {
        return None;
    }
    let n = (0..STRIP_BITS)
        .filter(|&i| bits[i + 2])
        .fold(0u32, |acc, i| acc | 1 << i);
    (bits[22] == (n.count_ones() % 2 == 1)).then_some(n)
}

fn tri(v: usize) -> u8 {
    let v = v % 512;
    (if v < 256 { v } else { 511 - v }) as u8
}

fn bounce(v: usize, span: usize) -> usize {
    if span == 0 {
        return 0;
    }
    let v = v % (2 * span);
    if v < span {
        v
    } else {
        2 * span - v
    }
}

fn fill(px: &mut [u8], w: usize, x0: usize, y0: usize, bw: usize, bh: usize, rgb: [u8; 3]) {
    let h = px.len() / 3 / w;
    for y in y0..(y0 + bh).min(h) {
        for x in x0..(x0 + bw).min(w) {
            let i = (y * w + x) * 3;
            px[i..i + 3].copy_from_slice(&rgb);
        }
    }
}

fn draw_text(
    px: &mut [u8],
    w: usize,
    x0: usize,
    y0: usize,
    scale: usize,
    text: &str,
    rgb: [u8; 3],
) {
    for (ci, ch) in text.bytes().enumerate() {
        let glyph = BASIC_LEGACY[usize::from(ch & 0x7F)];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    fill(
                        px,
                        w,
                        x0 + (ci * 8 + col) * scale,
                        y0 + row * scale,
                        scale,
                        scale,
                        rgb,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg;

    fn decode(j: &[u8]) -> (Vec<u8>, usize, usize) {
        let mut d = zune_jpeg::JpegDecoder::new(zune_jpeg::zune_core::bytestream::ZCursor::new(j));
        let px = d.decode().unwrap();
        let info = d.info().unwrap();
        (px, usize::from(info.width), usize::from(info.height))
    }

    #[test]
    fn frame_numbers_survive_jpeg() {
        for movie in [
            TestMovie::default(),
            TestMovie {
                width: 320,
                height: 240,
                ..TestMovie::default()
            },
        ] {
            for n in [0, 1, 2, 47, 239, 1000, 65_535, 1_000_000] {
                let (px, w, h) = decode(&movie.encode(n));
                assert_eq!(
                    read_frame_number(&px, w, h),
                    Some(n),
                    "{}x{} frame {n}",
                    movie.width,
                    movie.height
                );
            }
        }
    }

    #[test]
    fn no_number_in_blank_or_noisy_pictures() {
        let (w, h) = (320, 240);
        assert_eq!(read_frame_number(&vec![0; w * h * 3], w, h), None);
        assert_eq!(read_frame_number(&vec![255; w * h * 3], w, h), None);
        let noise: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(read_frame_number(&noise, w, h), None);
        assert_eq!(read_frame_number(&[], w, h), None);
    }

    #[test]
    fn carriable_small_and_deterministic() {
        let m = TestMovie::default();
        let mut max = 0;
        for n in (0..m.frame_count() as u32).step_by(9) {
            let j = m.encode(n);
            let info = jpeg::parse(&j).unwrap();
            assert!(info.carriable().is_ok());
            assert_eq!((info.width, info.height), (640, 480));
            max = max.max(j.len());
        }
        assert!(
            max < 20_480,
            "largest sampled frame {max} bytes: over the lab client's buffer"
        );
        assert_eq!(m.encode(17), m.encode(17));
        let short = TestMovie {
            seconds: 0.5,
            ..TestMovie::default()
        };
        assert_eq!(short.to_lab_bytes(), short.to_lab_bytes());
        assert_eq!(short.frame_count(), 12);
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let bad = |t: TestMovie| t.validate().unwrap_err();
        assert!(bad(TestMovie {
            width: 100,
            ..TestMovie::default()
        })
        .starts_with("width 100"));
        assert!(bad(TestMovie {
            height: 4096,
            ..TestMovie::default()
        })
        .starts_with("height 4096"));
        assert!(bad(TestMovie {
            fps: 0,
            ..TestMovie::default()
        })
        .starts_with("frame rate 0"));
        assert!(bad(TestMovie {
            seconds: -1.0,
            ..TestMovie::default()
        })
        .starts_with("length"));
        assert!(bad(TestMovie {
            quality: 0,
            ..TestMovie::default()
        })
        .starts_with("quality 0"));
        let mut sink = Vec::new();
        assert!(TestMovie {
            fps: 0,
            ..TestMovie::default()
        }
        .write_lab_with_progress(&mut sink, |_, _| {})
        .is_err());
    }

    #[test]
    fn write_file_leaves_no_partial_file() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-tm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.Mjpeg");
        let t = TestMovie {
            seconds: 0.25,
            width: 64,
            height: 64,
            ..TestMovie::default()
        };
        let mut calls = 0;
        t.write_file(&path, |_, _| calls += 1).unwrap();
        assert_eq!(calls, t.frame_count());
        assert_eq!(std::fs::read(&path).unwrap(), t.to_lab_bytes());
        let bad = TestMovie { fps: 0, ..t };
        assert!(bad.write_file(&dir.join("u.Mjpeg"), |_, _| {}).is_err());
        assert!(!dir.join("u.Mjpeg.partial").exists() && !dir.join("u.Mjpeg").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
