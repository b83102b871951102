//! Still images of a frame or the window: PNG (by extension `.png`) or BMP (anything else).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes `rgb` (`width * height` pixels, 3 bytes each, top row first).
pub fn write_image(path: &Path, width: usize, height: usize, rgb: &[u8]) -> io::Result<()> {
    if rgb.len() != width * height * 3 || width == 0 || height == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "image size does not match its pixels",
        ));
    }
    let out = BufWriter::new(File::create(path)?);
    let png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if png {
        write_png(out, width, height, rgb)
    } else {
        write_bmp(out, width, height, rgb)
    }
}

fn write_png(out: impl Write, width: usize, height: usize, rgb: &[u8]) -> io::Result<()> {
    let mut enc = png::Encoder::new(out, width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(io::Error::other)?;
    w.write_image_data(rgb).map_err(io::Error::other)?;
    w.finish().map_err(io::Error::other)
}

/// A 24-bit BMP: rows bottom-up, BGR, each padded to 4 bytes.
fn write_bmp(mut out: impl Write, width: usize, height: usize, rgb: &[u8]) -> io::Result<()> {
    let row = (width * 3).div_ceil(4) * 4;
    let data = row * height;
    let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "image too large for BMP");
    let file_size = u32::try_from(54 + data).map_err(|_| too_big())?;
    let mut h = Vec::with_capacity(54);
    h.extend_from_slice(b"BM");
    h.extend_from_slice(&file_size.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&54u32.to_le_bytes());
    h.extend_from_slice(&40u32.to_le_bytes());
    h.extend_from_slice(&(width as i32).to_le_bytes());
    h.extend_from_slice(&(height as i32).to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&24u16.to_le_bytes());
    h.extend_from_slice(&[0; 4]); // BI_RGB
    h.extend_from_slice(&(data as u32).to_le_bytes());
    h.extend_from_slice(&2835u32.to_le_bytes()); // 72 dpi
    h.extend_from_slice(&2835u32.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    out.write_all(&h)?;
    let mut line = vec![0u8; row];
    for y in (0..height).rev() {
        for (x, px) in rgb[y * width * 3..(y + 1) * width * 3]
            .chunks(3)
            .enumerate()
        {
            line[x * 3..x * 3 + 3].copy_from_slice(&[px[2], px[1], px[0]]);
        }
        out.write_all(&line)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_bmp() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = (3, 2);
        let rgb: Vec<u8> = (0..(w * h * 3) as u8).collect();
        let p = dir.join("a.png");
        write_image(&p, w, h, &rgb).unwrap();
        let mut reader = png::Decoder::new(File::open(&p).unwrap())
            .read_info()
            .unwrap();
        let mut back = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut back).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&back[..info.buffer_size()], &rgb[..]);

        let b = dir.join("a.bmp");
        write_image(&b, w, h, &rgb).unwrap();
        let bytes = std::fs::read(&b).unwrap();
        assert_eq!(&bytes[..2], b"BM");
        assert_eq!(bytes.len(), 54 + 12 * 2, "rows padded to 12 bytes");
        // Bottom row first, BGR: pixel (0,1) is rgb[9..12] = 9,10,11.
        assert_eq!(&bytes[54..57], &[11, 10, 9]);
        assert!(write_image(&b, 4, 4, &rgb).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
