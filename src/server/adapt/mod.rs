//! Adaptive streaming: each session follows what its path can carry.
//!
//! - [`controller`] turns RTCP receiver reports (or, over TCP, the send queue) into a rate.
//! - [`shaper`] spends that rate frame by frame: the best rendition of each frame that the
//!   rate's token bucket can pay for, or none (the frame is skipped: thinning). A skipped frame
//!   keeps its time, so RTP timestamps stay on the movie's timeline.
//! - [`render`] makes the renditions (decode, scale, encode) on a worker thread, shared by every
//!   session of that movie; until one is ready, thinning alone serves.
//!
//! The ladder a session moves down as its rate falls: the original frames, then lower JPEG
//! qualities of the same frames, then fewer frames a second (the bucket skips), then half the
//! size. Every rendition is baseline 4:2:0 with the standard Huffman tables, so RFC 2435 carries
//! it, and the packetizer sends its quantization tables in band (Q = 255), so receivers decode a
//! mix of renditions exactly.

pub mod controller;
pub mod render;
pub mod shaper;

/// One way to send a frame. Index 0 is the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// JPEG quality of the re-encode (0: the original bytes).
    pub quality: u8,
    /// Half the width and height.
    pub half: bool,
}

/// The renditions, best first. A variant's index is its id in the frame cache's keys.
pub const VARIANTS: [Variant; 5] = [
    Variant {
        quality: 0,
        half: false,
    },
    Variant {
        quality: 50,
        half: false,
    },
    Variant {
        quality: 30,
        half: false,
    },
    Variant {
        quality: 15,
        half: false,
    },
    Variant {
        quality: 30,
        half: true,
    },
];

/// The index of the original frames.
pub const ORIGINAL: u8 = 0;
/// Variants from this index on are half size: used only once the full-size ones no longer
/// give this many frames a second.
pub const FIRST_HALF: u8 = 4;
pub const HALF_BELOW_FPS: f64 = 8.0;

/// Until a rendition has been made, its size is guessed as this share of the original's (what
/// the seed movie, itself of low quality, gives: 74 %, 66 %, 57 % and 25 %).
pub fn guessed_share(v: u8) -> f64 {
    match VARIANTS.get(usize::from(v)) {
        Some(Variant { quality: 0, .. }) | None => 1.0,
        Some(Variant { quality, half }) => {
            let q = f64::from(*quality) / 100.0;
            let full = 0.5 + 0.5 * q;
            if *half {
                full * 0.4
            } else {
                full
            }
        }
    }
}

/// Whether adaptation is on (`rtspd --adaptive on|off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    On,
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "on" => Ok(Mode::On),
            "off" => Ok(Mode::Off),
            other => Err(format!("{other:?}: must be on or off")),
        }
    }
}
