//! Where the time to the first frame goes: the first time each step on the way happened (SDL
//! started, the window made, the RTSP replies, the first packet, decode, upload, present), from
//! any thread, measured from the process's start. `rtsp-sdl --timings` prints them; the
//! benchmark script reads them.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A step on the way to the first frame on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `SDL_Init` and its video subsystem.
    SdlInit,
    /// The window exists (and is shown).
    Window,
    /// Its renderer exists.
    Renderer,
    /// The RTSP connection is open.
    Connected,
    /// The replies to DESCRIBE, SETUP and PLAY.
    Described,
    SetUp,
    Playing,
    /// The first RTP packet from the server.
    FirstPacket,
    /// The first frame whole (its last packet in), decoded, and taken by the UI thread.
    FirstFrame,
    FirstDecoded,
    FirstTaken,
    /// The first frame in the texture, and on screen.
    FirstUpload,
    FirstPresent,
}

impl Mark {
    pub const ALL: [Mark; 13] = [
        Mark::SdlInit,
        Mark::Window,
        Mark::Renderer,
        Mark::Connected,
        Mark::Described,
        Mark::SetUp,
        Mark::Playing,
        Mark::FirstPacket,
        Mark::FirstFrame,
        Mark::FirstDecoded,
        Mark::FirstTaken,
        Mark::FirstUpload,
        Mark::FirstPresent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mark::SdlInit => "sdl-init",
            Mark::Window => "window",
            Mark::Renderer => "renderer",
            Mark::Connected => "connected",
            Mark::Described => "described",
            Mark::SetUp => "set-up",
            Mark::Playing => "playing",
            Mark::FirstPacket => "first-packet",
            Mark::FirstFrame => "first-frame",
            Mark::FirstDecoded => "first-decoded",
            Mark::FirstTaken => "first-taken",
            Mark::FirstUpload => "first-upload",
            Mark::FirstPresent => "first-present",
        }
    }
}

/// The first time of each [`Mark`], set once from whichever thread gets there.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    /// The wall clock at `start`, so an outside observer can add the time before it.
    wall: SystemTime,
    marks: [OnceLock<Instant>; Mark::ALL.len()],
}

impl Timeline {
    /// A timeline starting now, at the wall clock's now.
    pub fn new(start: Instant) -> Timeline {
        Timeline {
            start,
            wall: SystemTime::now(),
            marks: Default::default(),
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records `m` at `at`, unless it happened before.
    pub fn mark_at(&self, m: Mark, at: Instant) {
        let _ = self.marks[m as usize].set(at);
    }

    pub fn mark(&self, m: Mark) {
        self.mark_at(m, Instant::now());
    }

    pub fn get(&self, m: Mark) -> Option<Instant> {
        self.marks[m as usize].get().copied()
    }

    /// `timings: main-wall=SECONDS sdl-init=MS ... first-present=MS`: the marks reached, in
    /// milliseconds from the start and in the order they happened, after the wall-clock time of
    /// the start (UNIX seconds).
    pub fn report(&self) -> String {
        let wall = self
            .wall
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut marks: Vec<(Instant, Mark)> = Mark::ALL
            .iter()
            .filter_map(|&m| self.get(m).map(|t| (t, m)))
            .collect();
        marks.sort_by_key(|&(t, _)| t);
        let mut out = format!("timings: main-wall={wall:.6}");
        for (t, m) in marks {
            let ms = t.saturating_duration_since(self.start).as_secs_f64() * 1e3;
            let _ = write!(out, " {}={ms:.1}", m.name());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_marks_win_and_report_in_order() {
        let t0 = Instant::now();
        let t = Timeline::new(t0);
        t.mark_at(Mark::Playing, t0 + Duration::from_millis(30));
        t.mark_at(Mark::Connected, t0 + Duration::from_micros(1500));
        t.mark_at(Mark::Connected, t0 + Duration::from_millis(99));
        assert_eq!(
            t.get(Mark::Connected),
            Some(t0 + Duration::from_micros(1500))
        );
        assert_eq!(t.get(Mark::FirstPresent), None);
        let r = t.report();
        let (head, marks) = r.split_once(" connected").unwrap();
        assert!(head.starts_with("timings: main-wall="), "{r}");
        assert_eq!(marks, "=1.5 playing=30.0");
        for (i, m) in Mark::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i, "ALL in declaration order");
        }
    }
}
