//! The overlay: its text, an 8x8 bitmap font drawn into pixel buffers, and where everything goes
//! in the window. Pure functions, so the window code stays thin and this stays tested.

use crate::player::control::{Button, PlayerState, KEYS};
use crate::player::stats::Snapshot;

/// `m:ss` (or `h:mm:ss`) for a time in seconds.
pub fn format_time(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// What arrives, per frame: its size, its quality and its mean size in bytes, e.g.
/// `640x480  Q 255 ~75  12.6 KB/frame`. Q is RFC 2435's; with Q 128-255 the tables travel in
/// band, so `~75` is the quality they were scaled for (what a sender adapting its quality moves).
pub fn frame_line(s: &Snapshot) -> String {
    let mut parts = Vec::new();
    if let Some((w, h)) = s.frame_size {
        parts.push(format!("{w}x{h}"));
    }
    match (s.q, s.quality) {
        (Some(q @ 1..=127), _) => parts.push(format!("Q {q}")),
        (Some(q), Some(est)) => parts.push(format!("Q {q} ~{est}")),
        (Some(q), None) => parts.push(format!("Q {q}")),
        (None, Some(est)) => parts.push(format!("Q ~{est}")),
        (None, None) => {}
    }
    if let Some(b) = s.bytes_per_frame {
        parts.push(format!("{:.1} KB/frame", b / 1000.0));
    }
    if parts.is_empty() {
        "no frames yet".to_string()
    } else {
        parts.join("  ")
    }
}

/// The overlay's lines: the queue's entry (`2/5 NAME`, when there is a queue), state, frames
/// and rates, what the frames are, loss, position.
pub fn status_lines(
    entry: Option<&str>,
    state: PlayerState,
    error: Option<&str>,
    s: &Snapshot,
    recording: bool,
) -> Vec<String> {
    let mut lines: Vec<String> = entry.map(str::to_string).into_iter().collect();
    lines.extend([
        format!("{state}{}", if recording { "  REC" } else { "" }),
        format!("frame {}  {:.1} fps  {:.0} kbps", s.frames, s.fps, s.kbps),
        frame_line(s),
        format!(
            "loss {:.1}% ({} pkts)  dropped {}",
            s.loss_percent(),
            s.lost_packets.max(0),
            s.frames_dropped
        ),
        match (s.position, s.duration) {
            (Some(p), Some(d)) => format!("{} / {}", format_time(p), format_time(d)),
            (Some(p), None) => format_time(p),
            _ => "--:--".to_string(),
        },
    ]);
    if let Some(e) = error {
        lines.push(format!("error: {e}"));
    }
    lines
}

/// The `?` screen.
pub fn help_lines() -> Vec<String> {
    let mut v = vec!["keys".to_string()];
    v.extend(KEYS.iter().map(|(k, what)| format!("{k:<11}{what}")));
    v
}

/// Draws `text` in an RGBA buffer `width` pixels wide at (x, y), each font pixel `scale`
/// pixels square. Characters outside ASCII show as `?`; pixels outside the buffer are skipped.
pub fn draw_text(
    buf: &mut [u8],
    width: usize,
    x: usize,
    y: usize,
    text: &str,
    scale: usize,
    rgba: [u8; 4],
) {
    let height = buf.len() / 4 / width.max(1);
    for (i, ch) in text.chars().enumerate() {
        let glyph = glyph(ch);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    let py = y + row * scale + dy;
                    if py >= height {
                        continue;
                    }
                    for dx in 0..scale {
                        let px = x + (i * 8 + col) * scale + dx;
                        if px < width {
                            let at = (py * width + px) * 4;
                            buf[at..at + 4].copy_from_slice(&rgba);
                        }
                    }
                }
            }
        }
    }
}

/// The 8x8 bitmap of a character: bit `c` of row `r` is pixel (c, r).
pub fn glyph(ch: char) -> [u8; 8] {
    let i = if ch.is_ascii() && !ch.is_ascii_control() {
        ch as usize
    } else {
        '?' as usize
    };
    font8x8::legacy::BASIC_LEGACY[i]
}

/// An RGBA image of some lines of text on a translucent dark background.
pub fn text_panel(lines: &[String], scale: usize) -> (usize, usize, Vec<u8>) {
    let pad = 4 * scale;
    let cols = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let line_h = 10 * scale;
    let w = (cols * 8 * scale + 2 * pad).max(1);
    let h = (lines.len() * line_h + 2 * pad).max(1);
    let mut buf = [0u8, 0, 0, 160].repeat(w * h);
    for (i, line) in lines.iter().enumerate() {
        draw_text(
            &mut buf,
            w,
            pad,
            pad + i * line_h,
            line,
            scale,
            [255, 255, 255, 255],
        );
    }
    (w, h, buf)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w as i32 && y < self.y + self.h as i32
    }
}

/// Where things go in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The video, scaled to fit with its aspect ratio kept, centred.
    pub video: Rect,
    /// The progress bar under the video.
    pub bar: Rect,
    pub buttons: Vec<(Button, Rect)>,
}

/// Height of the control strip (progress bar and buttons) at the window's bottom.
pub const CONTROLS_H: u32 = 44;
const BAR_H: u32 = 8;

impl Layout {
    pub fn compute(win_w: u32, win_h: u32, video_w: u32, video_h: u32) -> Layout {
        let area_h = win_h.saturating_sub(CONTROLS_H);
        let video = fit(
            video_w,
            video_h,
            Rect {
                x: 0,
                y: 0,
                w: win_w,
                h: area_h,
            },
        );
        let bar = Rect {
            x: 8,
            y: area_h as i32 + 4,
            w: win_w.saturating_sub(16),
            h: BAR_H,
        };
        let n = Button::ALL.len() as u32;
        let gap = 8u32;
        // 88 pixels fit "Teardown" with room; a narrow window narrows them all alike.
        let bw = (win_w.saturating_sub(16 + (n - 1) * gap) / n).clamp(1, 88);
        let total = n * bw + (n - 1) * gap;
        let x0 = (win_w.saturating_sub(total) / 2) as i32;
        let by = area_h as i32 + 4 + BAR_H as i32 + 4;
        let buttons = Button::ALL
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    *b,
                    Rect {
                        x: x0 + (i as u32 * (bw + gap)) as i32,
                        y: by,
                        w: bw,
                        h: 24,
                    },
                )
            })
            .collect();
        Layout {
            video,
            bar,
            buttons,
        }
    }

    pub fn button_at(&self, x: i32, y: i32) -> Option<Button> {
        self.buttons
            .iter()
            .find(|(_, r)| r.contains(x, y))
            .map(|(b, _)| *b)
    }
}

/// The largest rectangle of the video's aspect ratio inside `area`, centred.
pub fn fit(video_w: u32, video_h: u32, area: Rect) -> Rect {
    if video_w == 0 || video_h == 0 || area.w == 0 || area.h == 0 {
        return Rect { w: 0, h: 0, ..area };
    }
    let (vw, vh, aw, ah) = (
        u64::from(video_w),
        u64::from(video_h),
        u64::from(area.w),
        u64::from(area.h),
    );
    let (w, h) = if aw * vh <= ah * vw {
        (aw, aw * vh / vw)
    } else {
        (ah * vw / vh, ah)
    };
    Rect {
        x: area.x + ((aw - w) / 2) as i32,
        y: area.y + ((ah - h) / 2) as i32,
        w: w as u32,
        h: h as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0.0), "0:00");
        assert_eq!(format_time(65.9), "1:05");
        assert_eq!(format_time(3725.0), "1:02:05");
        assert_eq!(format_time(-3.0), "0:00");
    }

    #[test]
    fn status_text() {
        let s = Snapshot {
            frames: 120,
            fps: 24.0,
            kbps: 3100.4,
            packets: 990,
            lost_packets: 10,
            frames_dropped: 2,
            position: Some(5.2),
            duration: Some(10.0),
            bytes_per_frame: Some(16_147.0),
            frame_size: Some((640, 480)),
            q: Some(255),
            quality: Some(75),
        };
        let lines = status_lines(None, PlayerState::Playing, None, &s, true);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "PLAYING  REC");
        assert_eq!(lines[1], "frame 120  24.0 fps  3100 kbps");
        assert_eq!(lines[2], "640x480  Q 255 ~75  16.1 KB/frame");
        assert_eq!(lines[3], "loss 1.0% (10 pkts)  dropped 2");
        assert_eq!(lines[4], "0:05 / 0:10");
        let scaled = Snapshot {
            q: Some(50),
            quality: Some(50),
            ..s.clone()
        };
        assert_eq!(frame_line(&scaled), "640x480  Q 50  16.1 KB/frame");
        let lab = Snapshot {
            q: None,
            ..s.clone()
        };
        assert_eq!(
            frame_line(&lab),
            "640x480  Q ~75  16.1 KB/frame",
            "no Q in whole JPEGs"
        );
        assert_eq!(frame_line(&Snapshot::default()), "no frames yet");
        let queued = status_lines(Some("2/5 b.Mjpeg"), PlayerState::Playing, None, &s, false);
        assert_eq!(queued[0], "2/5 b.Mjpeg", "the queue's entry first");
        let plain = status_lines(None, PlayerState::Playing, None, &s, false);
        assert_eq!(queued[1..], plain[..], "then the same lines");
        let lines = status_lines(
            None,
            PlayerState::Init,
            Some("connection refused"),
            &Snapshot::default(),
            false,
        );
        assert_eq!(lines.last().unwrap(), "error: connection refused");
        assert!(help_lines().len() > 8);
    }

    #[test]
    fn text_is_drawn_where_asked() {
        let (w, h, buf) = text_panel(&["1".to_string()], 1);
        assert_eq!((w, h), (16, 18));
        let lit = |x: usize, y: usize| buf[(y * w + x) * 4] == 255;
        // '1' in font8x8 has its stem in column 2-3 on rows 0-5.
        assert!(
            (0..8).any(|c| lit(4 + c, 4)),
            "first row of the glyph has ink"
        );
        assert!(!lit(0, 0), "the padding stays background");
        let ink = buf.chunks(4).filter(|p| p[0] == 255).count();
        let expected: u32 = glyph('1').iter().map(|r| r.count_ones()).sum();
        assert_eq!(ink as u32, expected, "exactly the glyph's pixels, once");
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn layout_keeps_aspect_and_places_controls() {
        let l = Layout::compute(800, 600 + CONTROLS_H, 640, 480);
        assert_eq!(
            l.video,
            Rect {
                x: 0,
                y: 0,
                w: 800,
                h: 600
            }
        );
        let l = Layout::compute(1000, 600 + CONTROLS_H, 640, 480);
        assert_eq!(
            l.video,
            Rect {
                x: 100,
                y: 0,
                w: 800,
                h: 600
            },
            "pillarboxed"
        );
        let l = Layout::compute(800, 300 + CONTROLS_H, 1920, 1080);
        assert_eq!((l.video.w, l.video.h), (533, 300));
        assert!(l.bar.y >= 300 && l.bar.w == 784);
        let kinds: Vec<Button> = l.buttons.iter().map(|(b, _)| *b).collect();
        assert_eq!(
            kinds,
            Button::ALL,
            "previous and next around the session's buttons"
        );
        let (b, r) = l.buttons[3];
        assert_eq!(b, Button::Pause);
        assert_eq!(l.button_at(r.x + 1, r.y + 1), Some(Button::Pause));
        assert_eq!(l.button_at(0, 0), None);
        for w in l.buttons.windows(2) {
            let (a, b) = (w[0].1, w[1].1);
            assert_eq!(b.x - (a.x + a.w as i32), 8, "evenly spaced, no overlap");
            assert_eq!((a.y, a.w, a.h), (b.y, 88, 24));
        }
        let first = l.buttons[0].1.x;
        let last = l.buttons[5].1;
        assert_eq!(first, 800 - (last.x + last.w as i32), "centred");
        // The player's default window (640 wide) fits all six at full width.
        let l = Layout::compute(640, 480 + CONTROLS_H, 640, 480);
        assert!(l
            .buttons
            .iter()
            .all(|(_, r)| r.w == 88 && r.x >= 0 && r.x + 88 <= 640));
        assert_eq!(l.buttons[0].1.x, (640 - (6 * 88 + 5 * 8)) / 2);
        // A narrow one narrows them rather than overlap or spill.
        let l = Layout::compute(300, 200 + CONTROLS_H, 640, 480);
        let last = l.buttons[5].1;
        assert!(
            last.x + last.w as i32 <= 300 && l.buttons[0].1.x >= 0,
            "{l:?}"
        );
        assert!(l
            .buttons
            .windows(2)
            .all(|w| w[0].1.x + w[0].1.w as i32 <= w[1].1.x));
        assert_eq!(
            fit(
                0,
                0,
                Rect {
                    x: 0,
                    y: 0,
                    w: 10,
                    h: 10
                }
            )
            .w,
            0
        );
    }
}
