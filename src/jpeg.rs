//! JPEG headers as far as RTP needs them (ITU T.81 §B.2), and whether RFC 2435 can carry a frame.
//!
//! RFC 2435 sends only the scan and a few numbers (type, width/8, height/8, quantization tables,
//! restart interval); the receiver rebuilds every other header from them and assumes the standard
//! Huffman tables of T.81 Annex K.3. So a frame is carriable only when rebuilding loses nothing:
//! baseline, 8-bit, three components Y/Cb/Cr with 4:2:2 or 4:2:0 luma sampling and unsampled
//! chroma sharing one quantization table, the standard Huffman tables (or none: implied),
//! and dimensions that are multiples of 8 up to 2040.

use std::fmt;
use std::ops::Range;

/// Why bytes are not a JPEG we can read; `at` is the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegError {
    pub at: usize,
    pub what: &'static str,
}

impl fmt::Display for JpegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad JPEG at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for JpegError {}

fn err(at: usize, what: &'static str) -> JpegError {
    JpegError { at, what }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub id: u8,
    pub h: u8,
    pub v: u8,
    /// Quantization table id.
    pub tq: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantTable {
    pub id: u8,
    /// 16-bit entries (DQT Pq = 1).
    pub wide: bool,
    /// In zigzag order, as stored.
    pub values: [u16; 64],
}

/// The Huffman tables a frame uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Huffman {
    /// No DHT: the standard tables are implied (common in motion JPEG).
    Implied,
    Standard,
    /// At least one table differs from Annex K (e.g. ffmpeg's optimized tables).
    Custom,
}

/// Luma sampling relative to chroma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sampling {
    /// Luma 2x2: RFC 2435 type 1.
    Yuv420,
    /// Luma 2x1: RFC 2435 type 0.
    Yuv422,
    Other(String),
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampling::Yuv420 => f.write_str("4:2:0"),
            Sampling::Yuv422 => f.write_str("4:2:2"),
            Sampling::Other(s) => f.write_str(s),
        }
    }
}

/// What [`parse`] found in a frame's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegInfo {
    /// The SOFn marker's low nibble: 0 baseline, 1 extended, 2 progressive, 3 lossless, ...
    pub sof: u8,
    pub precision: u8,
    pub width: u16,
    pub height: u16,
    pub components: Vec<Component>,
    /// Every table defined, the last definition of each id winning.
    pub qtables: Vec<QuantTable>,
    pub huffman: Huffman,
    pub restart_interval: u16,
    /// The entropy-coded data, up to and excluding EOI.
    pub scan: Range<usize>,
    pub has_eoi: bool,
    /// The SOS segment's contents (after its length): components, their Huffman tables and the
    /// spectral selection, which RFC 2435 does not send but fixes.
    pub sos: Vec<u8>,
    /// The colour transform of an Adobe APP14 segment, if there is one: 0 means the components
    /// are RGB (or CMYK), not YCbCr.
    pub adobe_transform: Option<u8>,
}

/// What RFC 2435's headers carry for a frame that [`JpegInfo::carriable`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc2435Params {
    /// 0 (4:2:2) or 1 (4:2:0), plus 64 when restart markers are present.
    pub jpeg_type: u8,
    pub width8: u8,
    pub height8: u8,
    pub restart_interval: u16,
    /// Bit 0: luma table is 16-bit; bit 1: chroma table is 16-bit (RFC 2435 §3.1.8).
    pub precision: u8,
    /// Luma then chroma table, zigzag order, 64 or 128 bytes each.
    pub tables: Vec<u8>,
}

/// Why RFC 2435 cannot carry a frame, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCarriable(pub String);

impl fmt::Display for NotCarriable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotCarriable {}

/// Reads a frame's headers up to its scan and finds where the scan ends. Never panics.
pub fn parse(data: &[u8]) -> Result<JpegInfo, JpegError> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(err(0, "no SOI marker (FF D8)"));
    }
    let mut info = JpegInfo {
        sof: 0xFF,
        precision: 0,
        width: 0,
        height: 0,
        components: Vec::new(),
        qtables: Vec::new(),
        huffman: Huffman::Implied,
        restart_interval: 0,
        scan: 0..0,
        sos: Vec::new(),
        has_eoi: false,
        adobe_transform: None,
    };
    let mut dht_standard = true;
    let mut seen_dht = false;
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of fill bytes (T.81 §B.1.1.2).
        if data.get(at) != Some(&0xFF) {
            return Err(err(at, "expected a marker"));
        }
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *data.get(at).ok_or(err(at, "file ends inside a marker"))?;
        at += 1;
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue; // standalone markers carry no length
        }
        if marker == 0xD9 {
            return Err(err(at - 2, "EOI before any scan"));
        }
        if marker == 0x00 || (0x02..=0xBF).contains(&marker) {
            // FF 00 is stuffing inside a scan and 02-BF are reserved: neither starts a segment
            // here. Decoders skip such bytes to the next marker, so reading them as a segment
            // length could hide from this parser a table the decoder then uses.
            return Err(err(at - 2, "not a marker between header segments"));
        }
        let len = data
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        let len = len.ok_or(err(at, "segment length cut off"))?;
        if len < 2 {
            return Err(err(at, "segment length under 2"));
        }
        let seg = data
            .get(at + 2..at + len)
            .ok_or(err(at, "segment runs past the end of the data"))?;
        let seg_at = at + 2;
        match marker {
            0xC0..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
                if seg.len() < 6 {
                    return Err(err(seg_at, "SOF segment too short"));
                }
                info.sof = marker & 0x0F;
                info.precision = seg[0];
                info.height = u16::from_be_bytes([seg[1], seg[2]]);
                info.width = u16::from_be_bytes([seg[3], seg[4]]);
                let n = usize::from(seg[5]);
                let comps = seg
                    .get(6..6 + 3 * n)
                    .ok_or(err(seg_at, "SOF lists more components than it holds"))?;
                info.components = comps
                    .chunks_exact(3)
                    .map(|c| Component {
                        id: c[0],
                        h: c[1] >> 4,
                        v: c[1] & 0x0F,
                        tq: c[2],
                    })
                    .collect();
            }
            0xDB => {
                let mut rest = seg;
                let mut off = seg_at;
                while !rest.is_empty() {
                    let wide = rest[0] >> 4 != 0;
                    let id = rest[0] & 0x0F;
                    let size = if wide { 128 } else { 64 };
                    let body = rest
                        .get(1..1 + size)
                        .ok_or(err(off, "DQT table cut short"))?;
                    let mut values = [0u16; 64];
                    for (i, v) in values.iter_mut().enumerate() {
                        *v = if wide {
                            u16::from_be_bytes([body[2 * i], body[2 * i + 1]])
                        } else {
                            u16::from(body[i])
                        };
                    }
                    info.qtables.retain(|t| t.id != id);
                    info.qtables.push(QuantTable { id, wide, values });
                    rest = &rest[1 + size..];
                    off += 1 + size;
                }
            }
            0xC4 => {
                seen_dht = true;
                let mut rest = seg;
                let mut off = seg_at;
                while !rest.is_empty() {
                    let class = rest[0] >> 4;
                    let id = rest[0] & 0x0F;
                    let counts = rest.get(1..17).ok_or(err(off, "DHT counts cut short"))?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = rest
                        .get(17..17 + total)
                        .ok_or(err(off, "DHT symbols cut short"))?;
                    if !is_standard_table(class, id, counts, symbols) {
                        dht_standard = false;
                    }
                    rest = &rest[17 + total..];
                    off += 17 + total;
                }
            }
            0xEE if seg.len() >= 12 && seg.starts_with(b"Adobe") => {
                info.adobe_transform = Some(seg[11]);
            }
            0xDD => {
                if seg.len() < 2 {
                    return Err(err(seg_at, "DRI segment too short"));
                }
                info.restart_interval = u16::from_be_bytes([seg[0], seg[1]]);
            }
            0xDA => {
                if info.components.is_empty() {
                    return Err(err(at - 2, "SOS before SOF"));
                }
                info.sos = seg.to_vec();
                let start = at + len;
                let (end, eoi) = scan_end(data, start);
                info.scan = start..end;
                info.has_eoi = eoi;
                info.huffman = match (seen_dht, dht_standard) {
                    (false, _) => Huffman::Implied,
                    (true, true) => Huffman::Standard,
                    (true, false) => Huffman::Custom,
                };
                return Ok(info);
            }
            _ => {} // APPn, COM, DNL...: not needed
        }
        at += len;
    }
}

/// Where the entropy-coded data starting at `start` ends: at EOI (`true`) or at the end of the
/// data. In scan data 0xFF is followed only by 0x00 (stuffing) or RSTn, so the first other marker
/// ends it.
fn scan_end(data: &[u8], start: usize) -> (usize, bool) {
    let mut i = start;
    while i + 1 < data.len() {
        if data[i] == 0xFF {
            let next = data[i + 1];
            if next == 0x00 || (0xD0..=0xD7).contains(&next) || next == 0xFF {
                i += if next == 0xFF { 1 } else { 2 };
                continue;
            }
            return (i, next == 0xD9);
        }
        i += 1;
    }
    (data.len(), false)
}

impl JpegInfo {
    /// Luma sampling, when the chroma components are 1x1.
    pub fn sampling(&self) -> Sampling {
        let c = &self.components;
        if c.len() == 3 && c[1].h == 1 && c[1].v == 1 && c[2].h == 1 && c[2].v == 1 {
            match (c[0].h, c[0].v) {
                (2, 2) => return Sampling::Yuv420,
                (2, 1) => return Sampling::Yuv422,
                (1, 1) => return Sampling::Other("4:4:4".into()),
                _ => {}
            }
        }
        let desc: Vec<String> = c.iter().map(|c| format!("{}x{}", c.h, c.v)).collect();
        Sampling::Other(format!("{} components sampled {}", c.len(), desc.join(",")))
    }

    fn table(&self, id: u8) -> Option<&QuantTable> {
        self.qtables.iter().find(|t| t.id == id)
    }

    /// The RFC 2435 header values for this frame, or exactly why it cannot be sent.
    pub fn carriable(&self) -> Result<Rfc2435Params, NotCarriable> {
        let no = |s: String| Err(NotCarriable(s));
        match self.sof {
            0 => {}
            1 => {
                return no("extended sequential JPEG (SOF1); RFC 2435 carries baseline only".into())
            }
            2 => return no("progressive JPEG (SOF2); RFC 2435 carries baseline only".into()),
            n => {
                return no(format!(
                    "JPEG process SOF{n}; RFC 2435 carries baseline only"
                ))
            }
        }
        if self.precision != 8 {
            return no(format!(
                "{}-bit samples; RFC 2435 carries 8-bit",
                self.precision
            ));
        }
        let jpeg_type = match self.sampling() {
            Sampling::Yuv422 => 0,
            Sampling::Yuv420 => 1,
            Sampling::Other(s) => {
                return no(format!(
                    "{s} sampling; RFC 2435 carries 4:2:0 and 4:2:2 YCbCr"
                ))
            }
        };
        if self.huffman == Huffman::Custom {
            return no(
                "optimized (non-standard) Huffman tables; re-encode with the standard tables \
                       (ffmpeg: -huffman default, or `mjpeg convert`)"
                    .into(),
            );
        }
        if self.width == 0 || self.height == 0 || self.width > 2040 || self.height > 2040 {
            return no(format!(
                "{}x{} is outside RFC 2435's 8 to 2040 pixels",
                self.width, self.height
            ));
        }
        if self.width % 8 != 0 || self.height % 8 != 0 {
            return no(format!(
                "{}x{} is not a multiple of 8, which RFC 2435 sizes need",
                self.width, self.height
            ));
        }
        let c = &self.components;
        let ids: Vec<u8> = c.iter().map(|c| c.id).collect();
        if self.adobe_transform == Some(0) || ids == b"RGB" {
            return no(
                "the components are coded as RGB, not YCbCr, and RFC 2435 receivers decode YCbCr"
                    .into(),
            );
        }
        if c[1].tq != c[2].tq {
            return no(
                "Cb and Cr use different quantization tables; RFC 2435 sends one chroma table"
                    .into(),
            );
        }
        let (Some(luma), Some(chroma)) = (self.table(c[0].tq), self.table(c[1].tq)) else {
            return no("a component's quantization table is not defined".into());
        };
        // A receiver rebuilds a fixed scan header (RFC 2435 Appendix A): the three components in
        // frame order, luma on Huffman tables 0/0, chroma on 1/1, one full-spectrum pass.
        let expected = [3, c[0].id, 0x00, c[1].id, 0x11, c[2].id, 0x11, 0, 63, 0];
        if self.sos != expected {
            return no(format!(
                "its scan header ({}) is not the one RFC 2435 receivers rebuild (components in \
                 order, Huffman tables 0 for luma and 1 for chroma, one full pass)",
                self.sos
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if !self.has_eoi && self.scan.is_empty() {
            return no("empty scan".into());
        }
        let mut tables = Vec::with_capacity(256);
        for t in [luma, chroma] {
            for &v in &t.values {
                if t.wide {
                    tables.extend_from_slice(&v.to_be_bytes());
                } else {
                    tables.push(v as u8);
                }
            }
        }
        Ok(Rfc2435Params {
            jpeg_type: jpeg_type + if self.restart_interval > 0 { 64 } else { 0 },
            width8: (self.width / 8) as u8,
            height8: (self.height / 8) as u8,
            restart_interval: self.restart_interval,
            precision: u8::from(luma.wide) | (u8::from(chroma.wide) << 1),
            tables,
        })
    }
}

/// The standard Huffman tables of T.81 Annex K.3 (also RFC 2435 Appendix B): (counts, symbols).
/// A decoded frame: `width * height` RGB pixels, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Largest picture [`decode_rgb`] accepts: RFC 2435 stops at 2040, the raw format at what a file
/// holds; 4096 (48 MiB of RGB) keeps a hostile header from asking for gigabytes.
pub const MAX_DECODE_DIMENSION: usize = 4096;

/// Decodes a JPEG to RGB with zune-jpeg, refusing pictures over [`MAX_DECODE_DIMENSION`].
pub fn decode_rgb(data: &[u8]) -> Result<Rgb, String> {
    let mut pixels = Vec::new();
    let (width, height) = decode_rgb_into(data, &mut pixels)?;
    Ok(Rgb {
        width,
        height,
        pixels,
    })
}

/// As [`decode_rgb`], into a buffer the caller reuses from frame to frame.
pub fn decode_rgb_into(data: &[u8], out: &mut Vec<u8>) -> Result<(usize, usize), String> {
    use zune_jpeg::zune_core::{
        bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions,
    };
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(MAX_DECODE_DIMENSION)
        .set_max_height(MAX_DECODE_DIMENSION);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions().ok_or("no dimensions")?;
    let size = decoder.output_buffer_size().ok_or("no output size")?;
    if size != width * height * 3 {
        return Err(format!(
            "unexpected output size {size} for {width}x{height} RGB"
        ));
    }
    out.resize(size, 0);
    decoder.decode_into(out).map_err(|e| e.to_string())?;
    Ok((width, height))
}

pub mod std_tables {
    pub const DC_LUMA_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    pub const DC_CHROMA_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
    pub const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    pub const AC_LUMA_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
    pub const AC_LUMA_SYMBOLS: [u8; 162] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
        0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
        0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
        0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
        0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ];
    pub const AC_CHROMA_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
    pub const AC_CHROMA_SYMBOLS: [u8; 162] = [
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
        0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18,
        0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4,
        0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
        0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7,
        0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ];
}

/// Is DHT table (class 0 = DC, 1 = AC; id 0 = luma, 1 = chroma) the Annex K one?
fn is_standard_table(class: u8, id: u8, counts: &[u8], symbols: &[u8]) -> bool {
    use std_tables::*;
    let (c, s): (&[u8], &[u8]) = match (class, id) {
        (0, 0) => (&DC_LUMA_COUNTS, &DC_SYMBOLS),
        (0, 1) => (&DC_CHROMA_COUNTS, &DC_SYMBOLS),
        (1, 0) => (&AC_LUMA_COUNTS, &AC_LUMA_SYMBOLS),
        (1, 1) => (&AC_CHROMA_COUNTS, &AC_CHROMA_SYMBOLS),
        _ => return false,
    };
    counts == c && symbols == s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A baseline JPEG made by jpeg-encoder (standard Huffman tables).
    pub(crate) fn encode(
        width: u16,
        height: u16,
        sampling: jpeg_encoder::SamplingFactor,
        restart: Option<u16>,
    ) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
        for y in 0..height {
            for x in 0..width {
                let v = (u32::from(x) * 7 + u32::from(y) * 13) ^ (u32::from(x) * u32::from(y));
                rgb.extend_from_slice(&[(v & 0xFF) as u8, (x % 256) as u8, (y % 256) as u8]);
            }
        }
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
        enc.set_sampling_factor(sampling);
        if let Some(r) = restart {
            enc.set_restart_interval(r);
        }
        enc.encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn baseline_420_is_carriable() {
        let jpeg = encode(64, 48, jpeg_encoder::SamplingFactor::F_2_2, None);
        let info = parse(&jpeg).unwrap();
        assert_eq!((info.width, info.height), (64, 48));
        assert_eq!(info.sampling(), Sampling::Yuv420);
        assert_eq!(info.huffman, Huffman::Standard);
        assert!(info.has_eoi);
        assert_eq!(info.scan.end, jpeg.len() - 2);
        let p = info.carriable().unwrap();
        assert_eq!((p.jpeg_type, p.width8, p.height8), (1, 8, 6));
        assert_eq!(p.tables.len(), 128);
    }

    #[test]
    fn restart_422() {
        let jpeg = encode(32, 16, jpeg_encoder::SamplingFactor::F_2_1, Some(2));
        let info = parse(&jpeg).unwrap();
        assert_eq!(info.restart_interval, 2);
        let p = info.carriable().unwrap();
        assert_eq!(p.jpeg_type, 64);
    }

    #[test]
    fn not_carriable_reasons() {
        let jpeg = encode(16, 16, jpeg_encoder::SamplingFactor::F_1_1, None);
        let why = parse(&jpeg).unwrap().carriable().unwrap_err().0;
        assert!(why.contains("4:4:4"), "{why}");

        let mut jpeg = encode(16, 16, jpeg_encoder::SamplingFactor::F_2_2, None);
        // Change one AC symbol in the first DHT: no longer the standard table.
        let dht = jpeg.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        let last_symbol = dht + 4 + 17 + 11; // DC table 0 has 12 symbols
        jpeg[last_symbol] = 10;
        let why = parse(&jpeg).unwrap().carriable().unwrap_err().0;
        assert!(why.contains("Huffman"), "{why}");

        // Luma coded with AC table 1: valid JPEG, but not the scan header receivers rebuild.
        let mut jpeg = encode(16, 16, jpeg_encoder::SamplingFactor::F_2_2, None);
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert_eq!(jpeg[sos + 6], 0x00, "luma's table selectors");
        jpeg[sos + 6] = 0x01;
        let why = parse(&jpeg).unwrap().carriable().unwrap_err().0;
        assert!(why.contains("scan header"), "{why}");

        let mut jpeg = encode(16, 16, jpeg_encoder::SamplingFactor::F_2_2, None);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 1] = 0xC2;
        assert!(parse(&jpeg)
            .unwrap()
            .carriable()
            .unwrap_err()
            .0
            .contains("progressive"));
        jpeg[sof + 1] = 0xC0;
        jpeg[sof + 7..sof + 9].copy_from_slice(&2048u16.to_be_bytes()); // width
        assert!(parse(&jpeg)
            .unwrap()
            .carriable()
            .unwrap_err()
            .0
            .contains("2040"));
    }

    #[test]
    fn malformed_input() {
        assert_eq!(parse(b"").unwrap_err().at, 0);
        assert_eq!(
            parse(&[0xFF, 0xD8, 0x00, 0x00]).unwrap_err().what,
            "expected a marker"
        );
        let jpeg = encode(16, 16, jpeg_encoder::SamplingFactor::F_2_2, None);
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        for cut in 3..sos {
            assert!(parse(&jpeg[..cut]).is_err(), "cut at {cut}");
        }
        // A scan cut short has no EOI but still parses.
        let info = parse(&jpeg[..jpeg.len() - 10]).unwrap();
        assert!(!info.has_eoi);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut d = vec![0xFF, 0xD8];
            d.extend_from_slice(&data);
            if let Ok(info) = parse(&d) {
                let _ = info.carriable();
            }
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..2000) {
            let jpeg = encode(32, 32, jpeg_encoder::SamplingFactor::F_2_2, None);
            let _ = parse(&jpeg[..cut.min(jpeg.len())]);
        }
    }
}
