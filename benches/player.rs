//! The player's per-frame cost, one core, at 640x480 and 1920x1088 (the test movie needs
//! multiples of 16, so 1088 stands in for 1080):
//!
//! - `player/zune_decode/SIZE`: zune-jpeg alone (`jpeg::decode_rgb_into`, buffer reused);
//! - `player/depack_decode/SIZE`: what the network thread does per frame: every RTP packet
//!   copied into the UDP reorder buffer, popped, checked, depacketized (RFC 2435), then the frame
//!   decoded with `jpeg::decode_rgb_into` into a buffer used again and again (as the player's
//!   network thread does with the buffers its UI hands back);
//! - `player/sdl_present/SIZE/{player_window,native}`: the window's per-frame work in SDL's
//!   software renderer, with the player's hints: the upload (`window::VideoTexture`: RGB into
//!   an XRGB8888 streaming texture), `canvas.copy`, `present`;
//!   into a window as the player opens it (640x524, the video scaled to fit) and into a window of
//!   the frame's own size (1:1). Needs a display: run under `xvfb-run -a -s "-screen 0
//!   1920x1200x24"`. Without one, that group is skipped with a note.
//!
//! Throughput is one element per iteration, so criterion prints frames per second.
//! `scripts/bench_player.sh` reads the medians from target/criterion/player_*/.../estimates.json.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use rtsp_mjpeg::client::reorder::Reorder;
use rtsp_mjpeg::jpeg::{decode_rgb, decode_rgb_into};
use rtsp_mjpeg::media::movie::Movie;
use rtsp_mjpeg::media::testmovie::TestMovie;
use rtsp_mjpeg::player::overlay::{Layout, CONTROLS_H};
use rtsp_mjpeg::player::window;
use rtsp_mjpeg::rtp::jpeg::{packetize, Depacketizer, DEFAULT_MAX_PAYLOAD};
use rtsp_mjpeg::rtp::packet::{RtpHeader, RtpPacket};

/// Frames per size: one second of the test movie, cycled through (content varies frame to frame).
const FRAMES: u32 = 24;
const SIZES: [(u16, u16); 2] = [(640, 480), (1920, 1088)];

struct Clip {
    name: String,
    width: usize,
    height: usize,
    jpegs: Vec<Vec<u8>>,
    /// Each frame's RTP packets (header + RFC 2435 payload), sequence numbers running on.
    packets: Vec<Vec<Vec<u8>>>,
}

fn clip(width: u16, height: u16) -> Clip {
    let tm = TestMovie {
        seconds: f64::from(FRAMES) / 24.0,
        width,
        height,
        fps: 24,
        quality: 75,
    };
    tm.validate().expect("test movie settings");
    let movie = Movie::from_bytes("x", tm.to_lab_bytes()).expect("test movie parses");
    let jpegs: Vec<Vec<u8>> = (0..movie.frame_count())
        .map(|i| movie.frame(i).expect("frame").to_vec())
        .collect();
    let mut seq = 0u16;
    let packets: Vec<Vec<Vec<u8>>> = jpegs
        .iter()
        .enumerate()
        .map(|(i, jpeg)| {
            let payloads = packetize(jpeg, DEFAULT_MAX_PAYLOAD).expect("RFC 2435 carriable");
            let n = payloads.len();
            payloads
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    let h = RtpHeader {
                        marker: k + 1 == n,
                        payload_type: 26,
                        sequence: seq,
                        timestamp: i as u32 * 3750,
                        ssrc: 0x1234_5678,
                    };
                    seq = seq.wrapping_add(1);
                    let mut v = h.to_bytes().to_vec();
                    v.extend_from_slice(p);
                    v
                })
                .collect()
        })
        .collect();
    let sizes: Vec<usize> = jpegs.iter().map(Vec::len).collect();
    eprintln!(
        "player bench: {width}x{height}: {} frames, JPEG {}..{} bytes, {} RTP packets per frame",
        jpegs.len(),
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        packets.iter().map(Vec::len).max().unwrap()
    );
    Clip {
        name: format!("{width}x{height}"),
        width: usize::from(width),
        height: usize::from(height),
        jpegs,
        packets,
    }
}

fn clips() -> Vec<Clip> {
    SIZES.iter().map(|&(w, h)| clip(w, h)).collect()
}

fn bench_decode(c: &mut Criterion, clips: &[Clip]) {
    let mut g = c.benchmark_group("player_zune_decode");
    g.throughput(Throughput::Elements(1));
    for clip in clips {
        let mut buf = Vec::new();
        let mut i = 0;
        g.bench_function(&clip.name, |b| {
            b.iter(|| {
                let jpeg = &clip.jpegs[i % clip.jpegs.len()];
                i += 1;
                let dims = decode_rgb_into(black_box(jpeg), &mut buf).expect("decodes");
                debug_assert_eq!(dims, (clip.width, clip.height));
                black_box(&buf);
            })
        });
    }
    g.finish();
}

fn bench_depack_decode(c: &mut Criterion, clips: &[Clip]) {
    let mut g = c.benchmark_group("player_depack_decode");
    g.throughput(Throughput::Elements(1));
    for clip in clips {
        // Sanity: the path gives back the pictures it was fed.
        let mut d = Depacketizer::new(8 << 20);
        for p in &clip.packets[0] {
            d.push(&RtpPacket::new_checked(p).unwrap()).unwrap();
        }
        let rebuilt = decode_rgb(&d.pull().expect("a frame").data).expect("decodes");
        let original = decode_rgb(&clip.jpegs[0]).expect("decodes");
        // The headers are rebuilt (RFC 2435), so compare pictures, not bytes.
        assert!(
            rebuilt == original,
            "depacketized frame decodes to the same picture"
        );

        // As the client engine does: reorder buffer (64 packets, 40 ms), check, depacketize, decode.
        let mut reorder = Reorder::new(64, Duration::from_millis(40));
        let mut depack = Depacketizer::new(8 << 20);
        let mut pixels = Vec::new();
        let mut i = 0;
        // Sequence numbers must run on across iterations (the reorder buffer drops "late" ones),
        // so the frames are played in order, wrapping only at the clip's end with a reset.
        g.bench_function(&clip.name, |b| {
            b.iter(|| {
                let k = i % clip.packets.len();
                if k == 0 {
                    reorder.reset();
                }
                i += 1;
                let now = Instant::now();
                let mut shown = 0;
                for p in &clip.packets[k] {
                    let Ok(pk) = RtpPacket::new_checked(p) else {
                        continue;
                    };
                    reorder.push(pk.sequence(), p.to_vec(), now);
                    while let Some(p) = reorder.pop(now) {
                        let Ok(pk) = RtpPacket::new_checked(&p) else {
                            continue;
                        };
                        let _ = depack.push(&pk);
                        while let Some(f) = depack.pull() {
                            decode_rgb_into(&f.data, &mut pixels).expect("decodes");
                            shown += 1;
                            black_box(&pixels);
                        }
                    }
                }
                assert_eq!(shown, 1, "one frame per iteration");
            })
        });
        assert_eq!(depack.dropped.total(), 0, "no frame dropped");
    }
    g.finish();
}

fn bench_sdl(c: &mut Criterion, clips: &[Clip]) {
    use sdl2::rect::Rect;

    let skip = |why: String| {
        eprintln!();
        eprintln!("################################################################");
        eprintln!("## player bench: SDL group SKIPPED: {why}");
        eprintln!(
            "## (run under: xvfb-run -a -s \"-screen 0 1920x1200x24\" cargo bench --bench player)"
        );
        eprintln!("################################################################");
        eprintln!();
    };
    if std::env::var_os("SDL_RENDER_DRIVER").is_none() {
        sdl2::hint::set("SDL_RENDER_DRIVER", "software");
    }
    // What the player's window sets (no OpenGL under the software renderer's window surface).
    window::set_hints();
    let sdl = match sdl2::init() {
        Ok(s) => s,
        Err(e) => return skip(format!("SDL init: {e}")),
    };
    let video = match sdl.video() {
        Ok(v) => v,
        Err(e) => return skip(format!("SDL video: {e}")),
    };
    let mut pump = sdl.event_pump().ok();

    let mut g = c.benchmark_group("player_sdl_present");
    g.throughput(Throughput::Elements(1));
    for clip in clips {
        // Decoded frames, ready to upload.
        let rgbs: Vec<Vec<u8>> = clip
            .jpegs
            .iter()
            .map(|j| decode_rgb(j).expect("decodes").pixels)
            .collect();
        for (kind, ww, wh) in [
            ("player_window", 640, 480 + CONTROLS_H),
            ("native", clip.width as u32, clip.height as u32),
        ] {
            let window = match video
                .window("player bench", ww, wh)
                .position_centered()
                .build()
            {
                Ok(w) => w,
                Err(e) => {
                    skip(format!("window {ww}x{wh}: {e}"));
                    continue;
                }
            };
            let mut canvas = match window.into_canvas().build() {
                Ok(c) => c,
                Err(e) => {
                    skip(format!("renderer: {e}"));
                    continue;
                }
            };
            let info = canvas.info();
            let tc = canvas.texture_creator();
            let mut tex =
                window::VideoTexture::new(&tc, clip.width, clip.height).expect("streaming texture");
            let (ow, oh) = canvas.output_size().expect("output size");
            let l = if kind == "native" {
                // The whole window, 1:1 (no control strip).
                rtsp_mjpeg::player::overlay::Rect {
                    x: 0,
                    y: 0,
                    w: ow,
                    h: oh,
                }
            } else {
                Layout::compute(ow, oh, clip.width as u32, clip.height as u32).video
            };
            let dst = Rect::new(l.x, l.y, l.w.max(1), l.h.max(1));
            eprintln!(
                "player bench: SDL renderer {:?}, window {ow}x{oh}, {} frame drawn at {}x{}",
                info.name, clip.name, l.w, l.h
            );
            let mut i = 0;
            g.bench_function(format!("{}/{kind}", clip.name), |b| {
                b.iter(|| {
                    let rgb = &rgbs[i % rgbs.len()];
                    i += 1;
                    tex.upload(rgb).expect("texture upload");
                    canvas.copy(tex.texture(), None, Some(dst)).expect("copy");
                    canvas.present();
                })
            });
            if let Some(p) = pump.as_mut() {
                p.pump_events();
            }
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let clips = clips();
    bench_decode(c, &clips);
    bench_depack_decode(c, &clips);
    bench_sdl(c, &clips);
}

criterion_group! {
    name = player;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(player);
