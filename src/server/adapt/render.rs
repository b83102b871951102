//! Making renditions of a frame: decode once, then for each variant scale (half size) and encode
//! at its quality. Pure functions; the server runs them on its worker thread.

use std::sync::Arc;

use crate::media::pixels::{encode_rgb, resize_rgb};
use crate::server::adapt::VARIANTS;
use crate::server::source::{Frame, FrameRef};

/// Frames to make: variants of one frame of one source.
#[derive(Debug, Clone)]
pub struct Job {
    pub uid: u64,
    pub frame: u32,
    pub original: FrameRef,
    pub variants: Vec<u8>,
    pub mtu: usize,
}

/// One rendition made (or why not).
#[derive(Debug)]
pub struct Done {
    pub uid: u64,
    pub frame: u32,
    pub variant: u8,
    pub result: Result<FrameRef, String>,
}

/// Makes every variant `job` asks for.
pub fn render(job: &Job) -> Vec<Done> {
    let done = |variant, result| Done {
        uid: job.uid,
        frame: job.frame,
        variant,
        result,
    };
    let decoded = crate::jpeg::decode_rgb(&job.original.jpeg);
    job.variants
        .iter()
        .map(|&v| {
            let result = match (&decoded, VARIANTS.get(usize::from(v))) {
                (Err(e), _) => Err(e.clone()),
                (_, None) => Err(format!("no variant {v}")),
                (Ok(img), Some(variant)) => {
                    let (w, h) = (img.width, img.height);
                    let (dw, dh) = if variant.half {
                        (half(w), half(h))
                    } else {
                        (w, h)
                    };
                    let scaled;
                    let pixels = if (dw, dh) == (w, h) {
                        &img.pixels
                    } else {
                        scaled = resize_rgb(&img.pixels, w, h, dw, dh);
                        &scaled
                    };
                    encode_rgb(pixels, dw as u16, dh as u16, variant.quality.max(1))
                        .and_then(|jpeg| Frame::from_jpeg(jpeg, job.mtu))
                        .map(Arc::new)
                }
            };
            done(v, result)
        })
        .collect()
}

/// Half a dimension, kept a multiple of 16 (whole 4:2:0 blocks) and at least 16.
fn half(n: usize) -> usize {
    ((n / 2) / 16 * 16).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;

    #[test]
    fn renditions_are_smaller_carriable_and_the_right_size() {
        let t = TestMovie::default();
        let original = Arc::new(Frame::from_jpeg(t.encode(5), 1400).unwrap());
        let job = Job {
            uid: 1,
            frame: 5,
            original: original.clone(),
            variants: (1..VARIANTS.len() as u8).collect(),
            mtu: 1400,
        };
        let out = render(&job);
        assert_eq!(out.len(), VARIANTS.len() - 1);
        let mut last = original.jpeg.len();
        for d in &out {
            let f = d.result.as_ref().unwrap();
            assert!(!f.payloads.is_empty(), "RFC 2435 carries it");
            let v = VARIANTS[usize::from(d.variant)];
            if v.half {
                assert_eq!((f.width, f.height), (320, 240));
            } else {
                assert_eq!((f.width, f.height), (640, 480));
                assert!(f.jpeg.len() < last, "variant {} is smaller", d.variant);
                last = f.jpeg.len();
            }
        }
        let bad = Job {
            original: Arc::new(Frame {
                jpeg: b"junk".to_vec(),
                payloads: Default::default(),
                width: 8,
                height: 8,
                carriage: Default::default(),
            }),
            ..job
        };
        assert!(render(&bad).iter().all(|d| d.result.is_err()));
    }
}
