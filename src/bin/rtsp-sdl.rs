//! rtsp-sdl: plays an RTSP MJPEG stream in an SDL2 window (or headless).
//!
//! The window is thin: the network side runs on its own thread (`client::net`), and everything
//! that is not drawing (keys, layout, overlay text, statistics) lives in the library, tested.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argh::FromArgs;
use log::{error, info};

use rtsp_mjpeg::client::control::{self, Action, Button, Command, Key, PlayerState};
use rtsp_mjpeg::client::net::{Dialect, Frame, Options};
use rtsp_mjpeg::client::overlay::{self, Layout};
use rtsp_mjpeg::client::player::Player;
use rtsp_mjpeg::client::snapshot::write_image;
use rtsp_mjpeg::client::target::Target;

/// Play an RTSP MJPEG stream: `rtsp-sdl rtsp://HOST:PORT/NAME`, or the classic lab client's
/// arguments `rtsp-sdl SERVER RTSP_PORT RTP_PORT FILE`.
///
/// Keys: S SETUP, P PLAY, Space PAUSE (PLAY when paused), Q or Esc TEARDOWN and quit,
/// Left/Right seek 5 s, click on the progress bar to seek, R record to a .Mjpeg file,
/// F fullscreen, H hide the overlay, ? help. The buttons under the video do the same.
#[derive(FromArgs)]
struct Args {
    /// an rtsp:// URL (user:password@ allowed), or SERVER RTSP_PORT RTP_PORT FILE
    #[argh(positional)]
    target: Vec<String>,
    /// receive RTP interleaved on the RTSP connection instead of UDP
    #[argh(switch)]
    tcp: bool,
    /// local RTP port for a URL (RTCP is the next one); default: any free pair
    #[argh(option)]
    rtp_port: Option<u16>,
    /// send SETUP and PLAY at start
    #[argh(switch)]
    autoplay: bool,
    /// no window: decode every frame, print statistics each second and a summary at the end
    #[argh(switch)]
    headless: bool,
    /// exit after this many frames have been shown
    #[argh(option)]
    frames: Option<u64>,
    /// exit after this many seconds
    #[argh(option)]
    seconds: Option<f64>,
    /// record received frames to this file from the start (.Mjpeg: lab format; else raw JPEG)
    #[argh(option)]
    record: Option<PathBuf>,
    /// at exit, write the last frame (headless) or the window (with overlay) to this PNG or BMP
    #[argh(option)]
    snapshot: Option<PathBuf>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    let started = Instant::now();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Args = argh::from_env();
    let opts = match options(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("rtsp-sdl: {msg}");
            return ExitCode::from(2);
        }
    };
    let title = format!("rtsp-sdl: {}", opts.target.url());
    let mut player = match Player::start(opts, started) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rtsp-sdl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.record {
        player.send(Command::Record(Some(path.clone())));
    }
    // Windowed, PLAY waits for the window (connecting and DESCRIBE go on meanwhile), so frames
    // do not queue up, stale, while SDL starts.
    if args.autoplay && args.headless {
        player.send(Command::Setup);
        player.send(Command::Play);
    }
    let result = if args.headless {
        unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
        headless(&mut player, &args)
    } else {
        windowed(&mut player, &args, &title)
    };
    player.shutdown();
    summary(&mut player);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            error!("{msg}");
            eprintln!("rtsp-sdl: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn options(args: &Args) -> Result<Options, String> {
    let (target, rtp_port) = match args.target.as_slice() {
        [url] => (
            Target::parse_url(url).map_err(|e| e.to_string())?,
            args.rtp_port.unwrap_or(0),
        ),
        [server, port, rtp, file] => {
            let port = port
                .parse()
                .map_err(|_| format!("RTSP port {port:?} is not a port number"))?;
            let rtp = rtp
                .parse()
                .map_err(|_| format!("RTP port {rtp:?} is not a port number"))?;
            let target = Target {
                host: server.clone(),
                port,
                path: file.clone(),
                user: None,
            };
            (target, rtp)
        }
        _ => {
            return Err(
                "expected an rtsp:// URL or SERVER RTSP_PORT RTP_PORT FILE (see --help)".into(),
            )
        }
    };
    let mut o = Options::new(target);
    o.rtp_port = rtp_port;
    o.tcp = args.tcp;
    Ok(o)
}

/// Stop conditions shared by both modes.
fn done(player: &Player, args: &Args, started: Instant) -> Option<Result<(), String>> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Some(Ok(()));
    }
    if let Some(n) = args.frames {
        if player.shown >= n {
            return Some(Ok(()));
        }
    }
    if let Some(s) = args.seconds {
        if started.elapsed().as_secs_f64() >= s {
            return Some(match args.frames {
                Some(n) => Err(format!("only {} of {n} frames in {s} s", player.shown)),
                None => Ok(()),
            });
        }
    }
    None
}

fn headless(player: &mut Player, args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let mut last: Option<Frame> = None;
    let mut next_print = started + Duration::from_secs(1);
    loop {
        player.poll_events();
        if let Some(reason) = player.closed.clone() {
            if let Some(n) = args.frames.filter(|&n| player.shown < n) {
                return Err(reason.unwrap_or_else(|| {
                    format!("stream ended after {} of {n} frames", player.shown)
                }));
            }
            return reason.map_or(Ok(()), Err);
        }
        if let Some(f) = player.next_frame_in_order(Duration::from_millis(20)) {
            player.presented(&f, Instant::now());
            last = Some(f);
        }
        let now = Instant::now();
        if now >= next_print {
            next_print += Duration::from_secs(1);
            let s = player.snapshot(now);
            println!(
                "{}",
                overlay::status_lines(
                    player.state,
                    player.error.as_deref(),
                    &s,
                    player.recording.is_some()
                )
                .join(" | ")
            );
        }
        if let Some(r) = done(player, args, started) {
            if let (Some(path), Some(f)) = (&args.snapshot, &last) {
                write_image(path, f.width, f.height, &f.rgb)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                info!("snapshot written to {}", path.display());
            }
            return r;
        }
    }
}

fn summary(player: &mut Player) {
    let s = player.snapshot(Instant::now());
    let ms = |t: Option<Instant>| {
        t.map(|t| {
            format!(
                "{:.0} ms",
                t.duration_since(player.started).as_secs_f64() * 1e3
            )
        })
        .unwrap_or_else(|| "-".into())
    };
    let pct = |p| {
        player
            .latency
            .percentile(p)
            .map(|d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "summary: {} frames shown, {} dropped, {} packets, {} lost ({:.2}%), first frame decoded after {}, shown after {}, latency p50 {} p99 {}",
        s.frames,
        s.frames_dropped,
        s.packets,
        s.lost_packets.max(0),
        s.loss_percent(),
        ms(player.first_frame),
        ms(player.first_shown),
        pct(50.0),
        pct(99.0),
    );
}

fn windowed(player: &mut Player, args: &Args, title: &str) -> Result<(), String> {
    window::run(player, args, title)
}

mod window {
    use super::*;
    use sdl2::event::{Event, WindowEvent};
    use sdl2::keyboard::Keycode;
    use sdl2::mouse::MouseButton;
    use sdl2::pixels::{Color, PixelFormatEnum};
    use sdl2::rect::Rect;
    use sdl2::render::{BlendMode, Canvas, Texture, TextureCreator};
    use sdl2::video::{FullscreenType, Window, WindowContext};

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

    fn draw_label(
        canvas: &mut Canvas<Window>,
        text: &str,
        area: overlay::Rect,
    ) -> Result<(), String> {
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

    pub fn run(player: &mut Player, args: &Args, title: &str) -> Result<(), String> {
        let sdl = sdl2::init().map_err(|e| format!("SDL: {e} (no display? try --headless)"))?;
        let video = sdl
            .video()
            .map_err(|e| format!("SDL video: {e} (no display? try --headless)"))?;
        let window = video
            .window(title, 640, 480 + overlay::CONTROLS_H)
            .position_centered()
            .resizable()
            .build()
            .map_err(|e| e.to_string())?;
        let mut canvas = window.into_canvas().build().map_err(|e| e.to_string())?;
        let tc = canvas.texture_creator();
        if args.autoplay {
            player.send(Command::Setup);
            player.send(Command::Play);
        }
        let mut events = sdl.event_pump()?;
        let mut video_tex: Option<(Texture, usize, usize)> = None;
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
        loop {
            for event in events.poll_iter() {
                let (ww, wh) = canvas.output_size()?;
                let (vw, vh) = video_tex
                    .as_ref()
                    .map_or((640, 480), |(_, w, h)| (*w as u32, *h as u32));
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
                dirty |= action != Action::Nothing;
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
            dirty |= player.poll_events();
            let frame = player.next_frame(Duration::from_millis(5));
            if let Some(f) = &frame {
                if video_tex
                    .as_ref()
                    .is_none_or(|(_, w, h)| (*w, *h) != (f.width, f.height))
                {
                    let t = tc
                        .create_texture_streaming(
                            PixelFormatEnum::RGB24,
                            f.width as u32,
                            f.height as u32,
                        )
                        .map_err(|e| e.to_string())?;
                    video_tex = Some((t, f.width, f.height));
                }
                if let Some((t, w, _)) = video_tex.as_mut() {
                    t.update(None, &f.rgb, *w * 3).map_err(|e| e.to_string())?;
                }
                dirty = true;
            }
            if !dirty {
                continue;
            }
            dirty = false;
            let (ww, wh) = canvas.output_size()?;
            let (vw, vh) = video_tex
                .as_ref()
                .map_or((640, 480), |(_, w, h)| (*w as u32, *h as u32));
            let layout = Layout::compute(ww, wh, vw, vh);
            canvas.set_draw_color(Color::RGB(0, 0, 0));
            canvas.clear();
            if let Some((t, _, _)) = &video_tex {
                canvas.copy(t, None, Some(r(layout.video)))?;
            }
            // Progress bar.
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
            // Buttons.
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
                draw_label(&mut canvas, Button::label(*b), *area)?;
            }
            let now = Instant::now();
            if show_help {
                help.update(&tc, overlay::help_lines())?;
                help.draw(&mut canvas, layout.video)?;
            } else if show_overlay {
                let s = player.snapshot(now);
                let mut lines = overlay::status_lines(
                    player.state,
                    player.error.as_deref(),
                    &s,
                    player.recording.is_some(),
                );
                if player.dialect == Dialect::Lab {
                    lines[0].push_str("  (lab server)");
                }
                panel.update(&tc, lines)?;
                panel.draw(&mut canvas, layout.video)?;
            }
            canvas.present();
            if let Some(f) = &frame {
                player.presented(f, Instant::now());
            }
            if let Some(r) = done(player, args, started) {
                if let Some(path) = &args.snapshot {
                    let (w, h) = canvas.output_size()?;
                    let pixels = canvas.read_pixels(None, PixelFormatEnum::RGB24)?;
                    write_image(path, w as usize, h as usize, &pixels)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    info!("window snapshot written to {}", path.display());
                }
                return r;
            }
            if player.state == PlayerState::Closed
                && player.closed.is_some()
                && args.frames.is_some()
            {
                return Err(player
                    .error
                    .clone()
                    .unwrap_or_else(|| "the stream ended".into()));
            }
        }
    }
}
