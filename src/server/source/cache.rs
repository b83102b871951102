//! A bounded cache of frames ready to send, shared by every on-demand source.
//!
//! Keyed by (source, frame index); bounded by the bytes the frames hold, so memory stays flat
//! whatever the media folder holds. Eviction is CLOCK (second chance): a frame used since the
//! hand last passed it stays another round. Sessions playing the same movie near the same spot
//! (the usual case: many viewers of one file) read and packetize each frame once.
//!
//! A frame handed out is an `Arc`: evicting it while a sender still holds it is safe, and the
//! memory goes when the last holder lets go.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::server::source::FrameRef;

/// (source uid, frame index, variant: 0 for the frame itself, others for adaptive renditions)
pub type Key = (u64, u32, u8);

/// Keys are small numbers (a source's serial, a frame index, a variant): a multiply-and-rotate
/// mix spreads them well, at a fraction of SipHash's cost on a lookup made for every frame sent.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

struct Entry {
    frame: FrameRef,
    bytes: usize,
    referenced: bool,
}

pub struct FrameCache {
    budget: usize,
    held: usize,
    map: HashMap<Key, Entry, BuildHasherDefault<KeyHasher>>,
    ring: VecDeque<Key>,
    pub hits: u64,
    pub misses: u64,
}

impl FrameCache {
    /// A cache that holds at most `budget` bytes of frames (at least one frame, whatever its
    /// size, so that a huge frame is still sent).
    pub fn new(budget: usize) -> FrameCache {
        FrameCache {
            budget,
            held: 0,
            map: HashMap::default(),
            ring: VecDeque::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub fn held_bytes(&self) -> usize {
        self.held
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The cached frame, if there is one.
    pub fn get(&mut self, key: Key) -> Option<FrameRef> {
        let e = self.map.get_mut(&key)?;
        e.referenced = true;
        self.hits += 1;
        Some(e.frame.clone())
    }

    pub fn contains(&self, key: Key) -> bool {
        self.map.contains_key(&key)
    }

    /// Keeps `frame` (replacing any frame under `key`).
    pub fn insert(&mut self, key: Key, frame: FrameRef) {
        if let Some(old) = self.map.remove(&key) {
            self.held -= old.bytes;
            self.ring.retain(|k| *k != key);
        }
        let bytes = frame.bytes();
        while self.held + bytes > self.budget && !self.ring.is_empty() {
            self.evict_one();
        }
        self.held += bytes;
        self.map.insert(
            key,
            Entry {
                frame,
                bytes,
                referenced: false,
            },
        );
        self.ring.push_back(key);
    }

    /// The cached frame, or `make`'s, which is then kept.
    pub fn get_or_try_insert(
        &mut self,
        key: Key,
        make: impl FnOnce() -> Result<FrameRef, String>,
    ) -> Result<FrameRef, String> {
        if let Some(e) = self.map.get_mut(&key) {
            e.referenced = true;
            self.hits += 1;
            return Ok(e.frame.clone());
        }
        self.misses += 1;
        let frame = make()?;
        self.insert(key, frame.clone());
        Ok(frame)
    }

    /// Forgets every frame of one source (a file that changed on disk).
    pub fn forget_source(&mut self, uid: u64) {
        let map = &mut self.map;
        let held = &mut self.held;
        self.ring.retain(|k| {
            if k.0 != uid {
                return true;
            }
            if let Some(e) = map.remove(k) {
                *held -= e.bytes;
            }
            false
        });
    }

    fn evict_one(&mut self) {
        while let Some(key) = self.ring.pop_front() {
            let Some(e) = self.map.get_mut(&key) else {
                continue;
            };
            if e.referenced {
                e.referenced = false;
                self.ring.push_back(key);
                continue;
            }
            if let Some(e) = self.map.remove(&key) {
                self.held -= e.bytes;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::jpeg::Payloads;
    use crate::server::source::Frame;
    use std::sync::Arc;

    fn frame(n: usize) -> FrameRef {
        Arc::new(Frame {
            jpeg: vec![0; n],
            payloads: Payloads::default(),
            width: 8,
            height: 8,
            carriage: Default::default(),
        })
    }

    #[test]
    fn stays_within_budget_and_keeps_what_is_used() {
        let unit = frame(1000).bytes();
        let mut c = FrameCache::new(unit * 4);
        for i in 0..4 {
            c.get_or_try_insert((1, i, 0), || Ok(frame(1000))).unwrap();
        }
        assert_eq!(c.len(), 4);
        // Frame 0 is used again, so the next insert evicts frame 1 instead.
        c.get_or_try_insert((1, 0, 0), || panic!("cached")).unwrap();
        c.get_or_try_insert((1, 9, 0), || Ok(frame(1000))).unwrap();
        assert!(c.held_bytes() <= unit * 4);
        assert_eq!(c.len(), 4);
        assert!(c.map.contains_key(&(1, 0, 0)));
        assert!(!c.map.contains_key(&(1, 1, 0)));
        assert_eq!((c.hits, c.misses), (1, 5));
        // Errors are passed on and nothing is kept.
        assert!(c
            .get_or_try_insert((1, 10, 0), || Err("bad".into()))
            .is_err());
        assert_eq!(c.len(), 4);
        c.forget_source(1);
        assert_eq!((c.len(), c.held_bytes()), (0, 0));
    }

    #[test]
    fn a_frame_larger_than_the_budget_is_still_handed_out() {
        let mut c = FrameCache::new(10);
        let f = c.get_or_try_insert((2, 0, 0), || Ok(frame(5000))).unwrap();
        assert_eq!(f.jpeg.len(), 5000);
        c.get_or_try_insert((2, 1, 0), || Ok(frame(5000))).unwrap();
        assert_eq!(c.len(), 1, "the older one made room");
    }
}
