//! The SDL2 window: the video scaled to fit, the overlay panel, the progress bar and buttons,
//! keys and clicks. Only drawing and SDL's events are here; what a key does, where things go
//! and what the overlay says come from [`control`] and [`overlay`], which are tested without a
//! display. The network and decoding run on the driver's thread, so this loop never waits on
//! them for more than a few milliseconds.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use log::info;
use sdl2::event::{Event, WindowEvent};
use sdl2::keyboard::Keycode;
use sdl2::mouse::MouseButton;
use sdl2::pixels::{Color, PixelFormatEnum};
use sdl2::rect::Rect;
use sdl2::render::{BlendMode, Canvas, Texture, TextureCreator};
use sdl2::video::{FullscreenType, Window, WindowContext};

use crate::client::timeline::Mark;
use crate::client::{Command, Dialect};
use crate::player::control::{self, Action, Button, Key};
use crate::player::overlay::{self, Layout};
use crate::player::run::{done, finished, RunOptions};
use crate::player::snapshot::write_image;
use crate::player::Player;

fn r(o: overlay::Rect) -> Rect {
    Rect::new(o.x, o.y, o.w.max(1), o.h.max(1))
}

fn key(k: Keycode) -> Option<Key> {
    Some(match k {
        Keycode::Space => Key::Space,
        Keycode::Left => Key::Left,
        Keycode::Right => Key::Right,
        Keycode::Escape => Key::Escape,
        Keycode::Slash => Key::Char('?'),
        k => {
            let name = k.name();
            let mut chars = name.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Key::Char(c.to_ascii_lowercase()),
                _ => return None,
            }
        }
    })
}

/// The overlay panel as a texture, rebuilt only when its text changes.
struct Panel<'a> {
    lines: Vec<String>,
    texture: Option<(Texture<'a>, u32, u32)>,
}

impl<'a> Panel<'a> {
    fn update(
        &mut self,
        tc: &'a TextureCreator<WindowContext>,
        lines: Vec<String>,
    ) -> Result<(), String> {
        if lines == self.lines && self.texture.is_some() {
            return Ok(());
        }
        let (w, h, rgba) = overlay::text_panel(&lines, 2);
        let (w32, h32) = (w as u32, h as u32);
        // The text changes with every frame (its count) but rarely its size: reuse the
        // texture then, rather than create one per frame.
        if self
            .texture
            .as_ref()
            .is_none_or(|(_, tw, th)| (*tw, *th) != (w32, h32))
        {
            let mut t = tc
                .create_texture_static(PixelFormatEnum::ABGR8888, w32, h32)
                .map_err(|e| e.to_string())?;
            t.set_blend_mode(BlendMode::Blend);
            self.texture = Some((t, w32, h32));
        }
        if let Some((t, _, _)) = self.texture.as_mut() {
            t.update(None, &rgba, w * 4).map_err(|e| e.to_string())?;
        }
        self.lines = lines;
        Ok(())
    }

    /// Draws the panel low on the left of `area`, clear of the test movie's own captions.
    fn draw(&self, canvas: &mut Canvas<Window>, area: overlay::Rect) -> Result<(), String> {
        if let Some((t, w, h)) = &self.texture {
            let y = (area.y + area.h as i32 * 7 / 8 - *h as i32).max(0);
            canvas.copy(t, None, Some(Rect::new(area.x + 8, y, *w, *h)))?;
        }
        Ok(())
    }
}

fn draw_label(canvas: &mut Canvas<Window>, text: &str, area: overlay::Rect) -> Result<(), String> {
    let w = text.len() as i32 * 8;
    let x0 = area.x + (area.w as i32 - w) / 2;
    let y0 = area.y + (area.h as i32 - 8) / 2;
    let mut rects = Vec::new();
    for (i, ch) in text.chars().enumerate() {
        for (row, bits) in overlay::glyph(ch).iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    rects.push(Rect::new(x0 + i as i32 * 8 + col, y0 + row as i32, 1, 1));
                }
            }
        }
    }
    canvas.fill_rects(&rects)
}

/// The window's title: the queue's entry, or the one stream's URL.
fn title(player: &Player) -> String {
    let q = player.queue();
    let what = q.label().unwrap_or_else(|| q.current().target.url());
    format!("rtsp-sdl: {what}")
}

/// Settings that must come before any thread starts (they change the environment) and before
/// SDL does. The player reads keys, never text, so libX11's input method need not parse the
/// locale's whole Compose table (about 11 ms of CPU before the window can open); without a
/// session bus (Xvfb, a console), libdbus would fork to look for `dbus-launch`. A user's own
/// settings of either stay.
pub fn prepare_process() {
    for (name, value) in [
        ("XCOMPOSEFILE", "/dev/null"),
        ("DBUS_SESSION_BUS_ADDRESS", "disabled:"),
    ] {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// Why a window cannot open here, if it cannot: no X or Wayland display to open it on (and no
/// SDL video driver chosen by hand). Checked before SDL starts, whose own message for this is
/// obscure and which may otherwise pick an invisible driver.
pub fn display_missing() -> Option<String> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") || set("SDL_VIDEODRIVER") {
        return None;
    }
    Some(
        "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); \
         use --headless, or run under X (xvfb-run rtsp-sdl ...)"
            .into(),
    )
}

/// SDL hints for the window (and its benchmark). No vsync wait on present. With the software
/// renderer, the window's pixels go to X directly (XShm) rather than through an OpenGL
/// texture, which under Xvfb means Mesa's llvmpipe: 90-210 ms to start, 3-27 ms a present.
/// The environment still overrides either.
pub fn set_hints() {
    sdl2::hint::set("SDL_FRAMEBUFFER_ACCELERATION", "0");
    sdl2::hint::set("SDL_RENDER_VSYNC", "0");
}

/// The video as a streaming texture in the window surface's own format (XRGB8888), so that
/// drawing it is a copy, not a conversion per pixel as from RGB24.
pub struct VideoTexture<'a> {
    texture: Texture<'a>,
    pub width: usize,
    pub height: usize,
}

impl<'a> VideoTexture<'a> {
    pub fn new(
        tc: &'a TextureCreator<WindowContext>,
        width: usize,
        height: usize,
    ) -> Result<VideoTexture<'a>, String> {
        let mut texture = tc
            .create_texture_streaming(PixelFormatEnum::RGB888, width as u32, height as u32)
            .map_err(|e| e.to_string())?;
        // Black, and its memory touched now rather than by the first frame's upload.
        texture.with_lock(None, |buf, _| buf.fill(0))?;
        Ok(VideoTexture {
            texture,
            width,
            height,
        })
    }

    /// Writes RGB pixels (`width * height * 3` bytes) into the texture, row by row at its
    /// pitch, as B, G, R, X (XRGB8888 in memory).
    pub fn upload(&mut self, rgb: &[u8]) -> Result<(), String> {
        let w = self.width;
        self.texture.with_lock(None, |buf, pitch| {
            for (src, dst) in rgb.chunks_exact(w * 3).zip(buf.chunks_mut(pitch)) {
                for (s, d) in src.chunks_exact(3).zip(dst[..w * 4].chunks_exact_mut(4)) {
                    d.copy_from_slice(&[s[2], s[1], s[0], 0xff]);
                }
            }
        })
    }

    pub fn texture(&self) -> &Texture<'a> {
        &self.texture
    }
}

/// How often the overlay's statistics are redrawn while only frames change (state changes and
/// keys redraw it at once): its text, turned into a texture, is not worth doing 24 times a
/// second.
const OVERLAY_EVERY: Duration = Duration::from_millis(250);

/// Plays in a window until a stop condition, Q/Esc or the window closing. With autoplay, SETUP
/// goes out while SDL starts and PLAY once the window can show frames.
pub fn run(player: &mut Player, opts: &RunOptions, interrupted: &AtomicBool) -> Result<(), String> {
    if opts.autoplay {
        player.set_up();
    }
    set_hints();
    let sdl = sdl2::init().map_err(|e| format!("SDL: {e} (no display? try --headless)"))?;
    let video = sdl
        .video()
        .map_err(|e| format!("SDL video: {e} (no display? try --headless)"))?;
    player.timeline().mark(Mark::SdlInit);
    let window = video
        .window(&title(player), 640, 480 + overlay::CONTROLS_H)
        .position_centered()
        .resizable()
        .build()
        .map_err(|e| e.to_string())?;
    player.timeline().mark(Mark::Window);
    let mut canvas = window.into_canvas().build().map_err(|e| e.to_string())?;
    player.timeline().mark(Mark::Renderer);
    let tc = canvas.texture_creator();
    // Made now, at the size the SDP gave (or the window's), rather than when a frame waits.
    player.poll_events();
    let (w, h) = player.described_size.unwrap_or((640, 480));
    let mut video_tex = Some(VideoTexture::new(&tc, w, h)?);
    if opts.autoplay {
        player.autoplay();
    }
    let mut events = sdl.event_pump()?;
    let mut panel = Panel {
        lines: Vec::new(),
        texture: None,
    };
    let mut help = Panel {
        lines: Vec::new(),
        texture: None,
    };
    let (mut show_overlay, mut show_help) = (true, false);
    let started = Instant::now();
    let mut dirty = true;
    let mut overlay_due = started;
    let mut shown_any = false;
    loop {
        for event in events.poll_iter() {
            let (ww, wh) = canvas.output_size()?;
            let (vw, vh) = video_size(&video_tex, shown_any);
            let layout = Layout::compute(ww, wh, vw, vh);
            let action = match event {
                Event::Quit { .. } => Action::Quit,
                Event::KeyDown {
                    keycode: Some(k),
                    repeat: false,
                    ..
                } => key(k).map_or(Action::Nothing, |k| control::on_key(k, &player.playback())),
                Event::MouseButtonDown {
                    mouse_btn: MouseButton::Left,
                    x,
                    y,
                    ..
                } => {
                    if let Some(b) = layout.button_at(x, y) {
                        b.action(&player.playback())
                    } else if layout.bar.contains(x, y) && player.playback().can_seek() {
                        let t = control::bar_time(
                            x,
                            layout.bar.x,
                            layout.bar.w,
                            player.duration.unwrap_or(0.0),
                        );
                        Action::Send(Command::Seek(t))
                    } else {
                        Action::Nothing
                    }
                }
                Event::Window {
                    win_event: WindowEvent::Resized(..) | WindowEvent::Exposed,
                    ..
                } => {
                    dirty = true;
                    Action::Nothing
                }
                _ => Action::Nothing,
            };
            if action != Action::Nothing {
                dirty = true;
                overlay_due = Instant::now();
            }
            match action {
                Action::ToggleFullscreen => {
                    let w = canvas.window_mut();
                    let next = if w.fullscreen_state() == FullscreenType::Off {
                        FullscreenType::Desktop
                    } else {
                        FullscreenType::Off
                    };
                    w.set_fullscreen(next)?;
                }
                Action::ToggleOverlay => show_overlay = !show_overlay,
                Action::ToggleHelp => show_help = !show_help,
                ref a => {
                    if player.act(a) {
                        return Ok(());
                    }
                }
            }
        }
        if player.poll_events() {
            dirty = true;
            overlay_due = Instant::now();
        }
        if player.entry_over() && player.next_entry()? {
            canvas
                .window_mut()
                .set_title(&title(player))
                .map_err(|e| e.to_string())?;
            dirty = true;
        }
        // Sleeps until a frame comes (or 5 ms pass, for SDL's events): a frame is drawn the
        // moment it is decoded, not at the next tick of a timer. With something to draw
        // already (the empty window at first, which warms up the way to the screen while PLAY
        // is answered), no sleep.
        let wait = if dirty {
            Duration::ZERO
        } else {
            Duration::from_millis(5)
        };
        let frame = player.next_frame(wait);
        let taken = Instant::now();
        let mut uploaded = taken;
        if let Some(f) = &frame {
            if video_tex
                .as_ref()
                .is_none_or(|v| (v.width, v.height) != (f.width, f.height))
            {
                video_tex = Some(VideoTexture::new(&tc, f.width, f.height)?);
            }
            if let Some(v) = video_tex.as_mut() {
                v.upload(&f.rgb)?;
            }
            shown_any = true;
            uploaded = Instant::now();
            player.timeline().mark_at(Mark::FirstUpload, uploaded);
            dirty = true;
        }
        if !dirty {
            continue;
        }
        dirty = false;
        let (ww, wh) = canvas.output_size()?;
        let (vw, vh) = video_size(&video_tex, shown_any);
        let layout = Layout::compute(ww, wh, vw, vh);
        canvas.set_draw_color(Color::RGB(0, 0, 0));
        canvas.clear();
        if let Some(v) = video_tex.as_ref().filter(|_| shown_any) {
            canvas.copy(v.texture(), None, Some(r(layout.video)))?;
        }
        draw_controls(&mut canvas, player, &layout)?;
        let now = Instant::now();
        if show_help {
            help.update(&tc, overlay::help_lines())?;
            help.draw(&mut canvas, layout.video)?;
        } else if show_overlay {
            if now >= overlay_due {
                overlay_due = now + OVERLAY_EVERY;
                panel.update(&tc, status_lines(player, now))?;
            }
            panel.draw(&mut canvas, layout.video)?;
        }
        canvas.present();
        if let Some(f) = frame {
            player.presented_after(&f, taken, uploaded, Instant::now());
            player.recycle(f);
        }
        if let Some(r) = done(player, opts, started, interrupted) {
            if let Some(path) = &opts.snapshot {
                // What is on screen, overlay and all.
                let (w, h) = canvas.output_size()?;
                let pixels = canvas.read_pixels(None, PixelFormatEnum::RGB24)?;
                write_image(path, w as usize, h as usize, &pixels)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                info!("window snapshot written to {}", path.display());
            }
            return r;
        }
        // Asked for frames, and the queue's last entry is over: they will not come.
        if opts.frames.is_some() && player.entry_over() && !player.queue().has_next() {
            return finished(player, opts);
        }
    }
}

/// The picture's size for the layout (the window's own before the first frame).
fn video_size(v: &Option<VideoTexture>, shown: bool) -> (u32, u32) {
    v.as_ref()
        .filter(|_| shown)
        .map_or((640, 480), |v| (v.width as u32, v.height as u32))
}

/// The overlay's lines as of `now`.
fn status_lines(player: &mut Player, now: Instant) -> Vec<String> {
    let s = player.snapshot(now);
    let label = player.queue().label();
    let mut lines = overlay::status_lines(
        label.as_deref(),
        player.state,
        player.error.as_deref(),
        &s,
        player.recording.is_some(),
    );
    if player.dialect == Dialect::Lab {
        let state_line = usize::from(label.is_some());
        lines[state_line].push_str("  (lab server)");
    }
    lines
}

/// The progress bar and the buttons under the video.
fn draw_controls(
    canvas: &mut Canvas<Window>,
    player: &Player,
    layout: &Layout,
) -> Result<(), String> {
    canvas.set_draw_color(Color::RGB(60, 60, 60));
    canvas.fill_rect(r(layout.bar))?;
    if let (Some(p), Some(d)) = (player.position, player.duration.filter(|d| *d > 0.0)) {
        let filled = (f64::from(layout.bar.w) * (p / d).clamp(0.0, 1.0)) as u32;
        canvas.set_draw_color(Color::RGB(220, 40, 40));
        canvas.fill_rect(r(overlay::Rect {
            w: filled,
            ..layout.bar
        }))?;
    }
    let pb = player.playback();
    for (b, area) in &layout.buttons {
        let on = b.enabled(&pb);
        canvas.set_draw_color(if on {
            Color::RGB(70, 70, 90)
        } else {
            Color::RGB(35, 35, 40)
        });
        canvas.fill_rect(r(*area))?;
        canvas.set_draw_color(if on {
            Color::RGB(255, 255, 255)
        } else {
            Color::RGB(110, 110, 110)
        });
        draw_label(canvas, Button::label(*b), *area)?;
    }
    Ok(())
}
