//! The player's model, shared by the window and the headless mode: it owns the network side,
//! folds its events into what the overlay shows, picks the newest frame to show, and keeps the
//! statistics.

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use log::warn;

use crate::client::record;
use crate::client::{Client, Command, Dialect, Event, Frame, Options, PlayerState};
use crate::player::control::{Action, Playback};
use crate::player::stats::{Meter, Samples, Snapshot};

pub struct Player {
    client: Client,
    pub state: PlayerState,
    pub dialect: Dialect,
    pub duration: Option<f64>,
    pub fps_hint: Option<f64>,
    /// The last error, for the overlay.
    pub error: Option<String>,
    /// Set once the network side has stopped, with its reason if any.
    pub closed: Option<Option<String>>,
    pub recording: Option<PathBuf>,
    /// Frames put on screen (or, headless, taken for display).
    pub shown: u64,
    /// Frames decoded but replaced by a newer one before they could be shown.
    pub skipped: u64,
    pub position: Option<f64>,
    /// The last frame shown: width and height, its RFC 2435 Q when it had one, and the quality
    /// its tables were scaled for.
    pub frame_size: Option<(usize, usize)>,
    pub q: Option<u8>,
    pub quality: Option<u8>,
    meter: Meter,
    /// Last packet of a frame received to the frame presented.
    pub latency: Samples,
    pub started: Instant,
    /// When the first frame was decoded (on the network thread).
    pub first_frame: Option<Instant>,
    pub first_shown: Option<Instant>,
}

impl Player {
    /// Starts the network side. `started` is when the process began (for time to first frame).
    pub fn start(opts: Options, started: Instant) -> io::Result<Player> {
        Ok(Player {
            client: Client::start(opts)?,
            state: PlayerState::Init,
            dialect: Dialect::Unknown,
            duration: None,
            fps_hint: None,
            error: None,
            closed: None,
            recording: None,
            shown: 0,
            skipped: 0,
            position: None,
            frame_size: None,
            q: None,
            quality: None,
            meter: Meter::new(Duration::from_secs(1)),
            latency: Samples::default(),
            started,
            first_frame: None,
            first_shown: None,
        })
    }

    pub fn send(&self, cmd: Command) {
        self.client.send(cmd);
    }

    /// Starts recording received frames to `path`, or stops (None).
    pub fn record(&self, path: Option<PathBuf>) {
        self.client.record(path);
    }

    /// Folds in what the network side reported; true if anything changed.
    pub fn poll_events(&mut self) -> bool {
        let mut changed = false;
        loop {
            match self.client.events.try_recv() {
                Ok(e) => {
                    changed = true;
                    self.apply(e);
                }
                Err(TryRecvError::Empty) => return changed,
                Err(TryRecvError::Disconnected) => {
                    if self.closed.is_none() {
                        self.closed = Some(None);
                        self.state = PlayerState::Closed;
                        changed = true;
                    }
                    return changed;
                }
            }
        }
    }

    fn apply(&mut self, e: Event) {
        match e {
            Event::Described {
                dialect,
                duration,
                fps,
            } => {
                self.dialect = dialect;
                self.duration = duration;
                self.fps_hint = fps;
            }
            Event::State(s) => {
                self.state = s;
                if s == PlayerState::Playing {
                    self.error = None;
                }
            }
            Event::Error(msg) => {
                warn!("{msg}");
                self.error = Some(msg);
            }
            Event::Recording(p) => self.recording = p,
            // BYE: the state that came with it (Paused) says enough for one stream.
            Event::Ended(_) => {}
            Event::Closed(reason) => {
                if let Some(r) = &reason {
                    warn!("{r}");
                    self.error = Some(r.clone());
                }
                self.state = PlayerState::Closed;
                self.closed = Some(reason);
            }
        }
    }

    /// The newest decoded frame, waiting up to `wait` for one; older ones are skipped.
    pub fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        let mut latest = match self.client.frames.recv_timeout(wait) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        self.first_frame.get_or_insert(latest.decoded);
        while let Ok(f) = self.client.frames.try_recv() {
            self.skipped += 1;
            latest = f;
        }
        Some(latest)
    }

    /// The oldest decoded frame not yet taken, waiting up to `wait`: every frame, none skipped
    /// (headless mode, and tests that check each one).
    pub fn next_frame_in_order(&mut self, wait: Duration) -> Option<Frame> {
        let f = self.client.frames.recv_timeout(wait).ok()?;
        self.first_frame.get_or_insert(f.decoded);
        Some(f)
    }

    /// Records that `f` went on screen at `at`.
    pub fn presented(&mut self, f: &Frame, at: Instant) {
        self.shown += 1;
        self.meter.record(at, f.jpeg.len() as u64);
        self.latency.push(at.saturating_duration_since(f.received));
        self.first_shown.get_or_insert(at);
        self.frame_size = Some((f.width, f.height));
        self.q = f.q;
        self.quality = f.quality;
        if f.position.is_some() {
            self.position = f.position;
        }
    }

    pub fn snapshot(&mut self, now: Instant) -> Snapshot {
        let c = self.client.counters();
        Snapshot {
            frames: self.shown,
            fps: self.meter.rate(now),
            kbps: self.meter.kbps(now),
            bytes_per_frame: self.meter.mean_bytes(now),
            frame_size: self.frame_size,
            q: self.q,
            quality: self.quality,
            packets: c.packets,
            lost_packets: c.lost_packets,
            frames_dropped: c.frames_dropped + self.skipped,
            position: self.position,
            duration: self.duration,
        }
    }

    pub fn playback(&self) -> Playback {
        Playback {
            state: self.state,
            position: self.position,
            duration: self.duration,
        }
    }

    /// Carries out the network part of an action; returns true if the player should exit.
    pub fn act(&mut self, action: &Action) -> bool {
        match action {
            Action::Send(cmd) => {
                if let Command::Seek(t) = cmd {
                    self.position = Some(*t);
                }
                self.send(*cmd);
            }
            Action::ToggleRecord => {
                let next = match self.recording {
                    Some(_) => None,
                    None => Some(record::default_name(SystemTime::now())),
                };
                self.record(next);
            }
            Action::Quit => return true,
            _ => {}
        }
        false
    }

    /// Tears down (waiting briefly for the reply) and stops the network side.
    pub fn shutdown(&mut self) {
        self.client.shutdown();
        self.poll_events();
    }
}
