//! RGB pixels to and from JPEG, and scaling: what re-encoding a frame needs (`mjpeg convert`,
//! and the server's lower-quality and half-size renditions).

/// Encodes RGB8 pixels as a baseline 4:2:0 JPEG with the standard Huffman tables.
pub fn encode_rgb(rgb: &[u8], width: u16, height: u16, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    enc.set_optimized_huffman_tables(false);
    enc.set_progressive(false);
    enc.encode(rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes any JPEG zune-jpeg reads (progressive, 4:4:4, optimized tables...) to RGB8,
/// returning (pixels, width, height).
pub fn decode_rgb(data: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    let img = crate::jpeg::decode_rgb(data)?;
    Ok((img.pixels, img.width, img.height))
}

/// Scales RGB8 pixels bilinearly from `sw`x`sh` to `dw`x`dh`.
pub fn resize_rgb(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if (sw, sh) == (dw, dh) {
        return src.to_vec();
    }
    // For each output coordinate: the two source samples around it and the second's weight.
    let taps = |d: usize, s: usize| -> Vec<(usize, usize, f32)> {
        (0..d)
            .map(|i| {
                let f = ((i as f32 + 0.5) * s as f32 / d as f32 - 0.5).clamp(0.0, (s - 1) as f32);
                let a = f as usize;
                (a, (a + 1).min(s - 1), f - a as f32)
            })
            .collect()
    };
    let (xs, ys) = (taps(dw, sw), taps(dh, sh));
    let mut out = vec![0u8; dw * dh * 3];
    for (y, &(y0, y1, wy)) in ys.iter().enumerate() {
        for (x, &(x0, x1, wx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let p = |yy: usize, xx: usize| f32::from(src[(yy * sw + xx) * 3 + c]);
                let top = p(y0, x0) * (1.0 - wx) + p(y0, x1) * wx;
                let bottom = p(y1, x0) * (1.0 - wx) + p(y1, x1) * wx;
                out[(y * dw + x) * 3 + c] = (top * (1.0 - wy) + bottom * wy).round() as u8;
            }
        }
    }
    out
}
