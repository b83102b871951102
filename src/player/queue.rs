//! The play queue (issue 14): which entry plays, moving on and back, what the overlay and the
//! headless output call it, and when an entry is over by its range. The model
//! ([`crate::player::model`]) owns one and starts a session per entry.

use crate::client::target::Target;
use crate::player::playlist::Entry;

/// Names longer than this are cut for the overlay.
const NAME_CHARS: usize = 40;
/// A frame this close to the range's end counts as past it (timestamps are rounded to 90 kHz).
const END_SLACK: f64 = 0.001;

/// Entries in order and the one playing.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    entries: Vec<Entry>,
    current: usize,
}

impl Queue {
    /// A queue of these entries, starting at the first; None when there are none.
    pub fn new(entries: Vec<Entry>) -> Option<Queue> {
        (!entries.is_empty()).then_some(Queue {
            entries,
            current: 0,
        })
    }

    /// A queue of one stream.
    pub fn single(target: Target) -> Queue {
        Queue {
            entries: vec![Entry {
                target,
                title: None,
                seconds: None,
            }],
            current: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never: a queue has an entry. (For clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry playing, from 0.
    pub fn index(&self) -> usize {
        self.current
    }

    pub fn current(&self) -> &Entry {
        &self.entries[self.current]
    }

    pub fn has_next(&self) -> bool {
        self.current + 1 < self.entries.len()
    }

    pub fn has_previous(&self) -> bool {
        self.current > 0
    }

    /// Moves to the next entry; false at the last.
    pub fn forward(&mut self) -> bool {
        let moved = self.has_next();
        self.current += usize::from(moved);
        moved
    }

    /// Moves to the previous entry; false at the first.
    pub fn back(&mut self) -> bool {
        let moved = self.has_previous();
        self.current -= usize::from(moved);
        moved
    }

    /// `2/5 NAME` for the overlay; None for a queue of one, where it would say nothing.
    pub fn label(&self) -> Option<String> {
        if self.entries.len() < 2 {
            return None;
        }
        let name = self.current().name();
        let name = if name.chars().count() > NAME_CHARS {
            let cut: String = name.chars().take(NAME_CHARS - 3).collect();
            format!("{cut}...")
        } else {
            name
        };
        Some(format!(
            "{}/{} {name}",
            self.current + 1,
            self.entries.len()
        ))
    }

    /// `entry 2/5 rtsp://host:port/path`, the headless mode's line as an entry starts (the URL
    /// as requests name it: never with credentials).
    pub fn entry_line(&self) -> String {
        format!(
            "entry {}/{} {}",
            self.current + 1,
            self.entries.len(),
            self.current().target.url()
        )
    }
}

/// Whether a frame at `position` seconds lies past the end of a range `duration` long: the
/// first frame of a looping server's next round. Unknown either way: no.
pub fn past_end(position: Option<f64>, duration: Option<f64>) -> bool {
    match (position, duration) {
        (Some(p), Some(d)) if d > 0.0 => p >= d - END_SLACK,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::playlist::parse;

    fn queue(text: &str) -> Queue {
        Queue::new(parse(text).unwrap()).unwrap()
    }

    #[test]
    fn moves_within_bounds() {
        let mut q = queue("rtsp://h/a.Mjpeg\n#EXTINF:2,Second\nrtsp://h/b\nrtsp://u:p@h:99/c\n");
        assert_eq!(q.len(), 3);
        assert_eq!(q.label().as_deref(), Some("1/3 a.Mjpeg"));
        assert_eq!(q.entry_line(), "entry 1/3 rtsp://h:554/a.Mjpeg");
        assert!(!q.back() && q.index() == 0, "nothing before the first");
        assert!(q.forward());
        assert_eq!(q.label().as_deref(), Some("2/3 Second"));
        assert!(q.forward());
        assert_eq!(
            q.entry_line(),
            "entry 3/3 rtsp://h:99/c",
            "no credentials printed"
        );
        assert!(
            !q.has_next() && !q.forward() && q.index() == 2,
            "nothing after the last"
        );
        assert!(q.back() && q.index() == 1);
        assert!(Queue::new(Vec::new()).is_none());
    }

    #[test]
    fn one_stream_has_no_label_and_long_names_are_cut() {
        let one = Queue::single(Target::parse_url("rtsp://h/movie.Mjpeg").unwrap());
        assert_eq!(one.label(), None);
        assert_eq!(one.entry_line(), "entry 1/1 rtsp://h:554/movie.Mjpeg");
        let long = "x".repeat(60);
        let q = queue(&format!("rtsp://h/{long}\nrtsp://h/b\n"));
        let label = q.label().unwrap();
        assert_eq!(label, format!("1/2 {}...", "x".repeat(37)));
    }

    #[test]
    fn the_end_of_a_range() {
        // 48 frames at 24 fps: the last at 1.958 s is inside, the next round's first is not.
        assert!(!past_end(Some(47.0 / 24.0), Some(2.0)));
        assert!(past_end(Some(2.0), Some(2.0)));
        assert!(past_end(Some(1.9995), Some(2.0)), "rounding to 90 kHz");
        assert!(past_end(Some(7.5), Some(2.0)));
        assert!(!past_end(None, Some(2.0)));
        assert!(!past_end(Some(3.0), None), "a live stream has no end");
        assert!(!past_end(Some(3.0), Some(0.0)));
    }
}
