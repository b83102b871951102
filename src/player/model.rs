//! The player's model, shared by the window and the headless mode: it owns the network side (a
//! session per entry of the play queue), folds its events into what the overlay shows, picks
//! the newest frame to show, says when an entry is over, and keeps the statistics of the run.

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use log::{info, warn};

use crate::client::record;
use crate::client::timeline::{Mark, Timeline};
use crate::client::{Client, Command, Counters, Dialect, Event, Frame, Options, PlayerState};
use crate::player::control::{Action, Playback};
use crate::player::queue::{past_end, Queue};
use crate::player::stats::{Breakdown, Meter, Samples, Snapshot};

pub struct Player {
    client: Client,
    /// Sessions of entries left behind, tearing down on their own threads.
    retiring: Vec<Client>,
    /// The network counters of sessions that are over, summed.
    past: Counters,
    /// What every entry's session is started with (its target replaced).
    opts: Options,
    queue: Queue,
    /// SETUP and PLAY each entry as it starts.
    autoplay: bool,
    /// This entry was asked to play (not by the user's keys); a refusal before it plays fails
    /// it, and the queue moves on.
    want_play: bool,
    /// This entry has played.
    played: bool,
    /// This entry is over: its server said BYE, or a frame came from past its range's end.
    pub ended: bool,
    /// Why this entry failed (it closed with a reason, or was refused before playing).
    pub failed: Option<String>,
    /// Every entry that failed, with why.
    pub failures: Vec<String>,
    pub state: PlayerState,
    pub dialect: Dialect,
    pub duration: Option<f64>,
    pub fps_hint: Option<f64>,
    /// The picture's size, when the SDP said.
    pub described_size: Option<(usize, usize)>,
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
    /// Where that time went, when asked for (`--timings`: four more samples a frame).
    pub breakdown: Option<Breakdown>,
    pub started: Instant,
    /// When the first frame was decoded (on the network thread).
    pub first_frame: Option<Instant>,
    pub first_shown: Option<Instant>,
}

impl Player {
    /// Starts the network side for one stream. `started` is when the process began (for time
    /// to first frame).
    pub fn start(opts: Options, started: Instant) -> io::Result<Player> {
        let queue = Queue::single(opts.target.clone());
        Player::with_queue(opts, queue, started)
    }

    /// Starts the network side for the queue's first entry; `opts` serves every entry, with the
    /// entry's target.
    pub fn with_queue(opts: Options, queue: Queue, started: Instant) -> io::Result<Player> {
        let mut first = opts.clone();
        first.target = queue.current().target.clone();
        Ok(Player {
            client: Client::start(first)?,
            retiring: Vec::new(),
            past: Counters::default(),
            opts,
            queue,
            autoplay: false,
            want_play: false,
            played: false,
            ended: false,
            failed: None,
            failures: Vec::new(),
            state: PlayerState::Init,
            dialect: Dialect::Unknown,
            duration: None,
            fps_hint: None,
            described_size: None,
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
            breakdown: None,
            started,
            first_frame: None,
            first_shown: None,
        })
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Where the first steps of the run are marked (shared with every entry's network side).
    pub fn timeline(&self) -> &Timeline {
        &self.opts.timeline
    }

    /// SETUP and PLAY every entry as it starts (this one at once).
    pub fn autoplay(&mut self) {
        self.autoplay = true;
        self.play();
    }

    /// SETUP this entry now, to PLAY it later with [`Player::autoplay`]: the window sets up
    /// while SDL starts, and plays once it can show frames (so none waits for the window).
    pub fn set_up(&mut self) {
        self.want_play = true;
        self.send(Command::Setup);
    }

    /// Gives a frame's pixels back to the network side once they are on screen.
    pub fn recycle(&self, f: Frame) {
        self.client.recycle(f.rgb);
    }

    /// SETUP and PLAY this entry.
    pub fn play(&mut self) {
        self.want_play = true;
        self.send(Command::Setup);
        self.send(Command::Play);
    }

    pub fn send(&self, cmd: Command) {
        self.client.send(cmd);
    }

    /// Starts recording received frames to `path`, or stops (None).
    pub fn record(&self, path: Option<PathBuf>) {
        self.client.record(path);
    }

    /// The entry is over (ended, failed or closed): time for the next.
    pub fn entry_over(&self) -> bool {
        self.ended || self.failed.is_some() || self.closed.is_some()
    }

    /// Moves to the next entry; false at the last (nothing changes then).
    pub fn next_entry(&mut self) -> Result<bool, String> {
        self.switch(true)
    }

    /// Moves to the previous entry; false at the first.
    pub fn previous_entry(&mut self) -> Result<bool, String> {
        self.switch(false)
    }

    /// The old entry's session is torn down in the background; the new one plays at once if
    /// the old one had been set up, or with autoplay.
    fn switch(&mut self, forward: bool) -> Result<bool, String> {
        let moved = if forward {
            self.queue.forward()
        } else {
            self.queue.back()
        };
        if !moved {
            return Ok(false);
        }
        let play = self.autoplay
            || self.want_play
            || matches!(
                self.state,
                PlayerState::Ready | PlayerState::Playing | PlayerState::Paused
            );
        let mut opts = self.opts.clone();
        opts.target = self.queue.current().target.clone();
        let client = Client::start(opts).map_err(|e| format!("starting the next entry: {e}"))?;
        let old = std::mem::replace(&mut self.client, client);
        old.close();
        self.retiring.push(old);
        if self.recording.take().is_some() {
            info!("the recording ends with its entry");
        }
        self.want_play = false;
        self.played = false;
        self.ended = false;
        self.failed = None;
        self.state = PlayerState::Init;
        self.dialect = Dialect::Unknown;
        self.duration = None;
        self.fps_hint = None;
        self.described_size = None;
        self.closed = None;
        self.position = None;
        info!("{}", self.queue.entry_line());
        if play {
            self.play();
        }
        Ok(true)
    }

    fn fail(&mut self, why: String) {
        if self.failed.is_some() {
            return;
        }
        let record = if self.queue.len() > 1 {
            format!("{}: {why}", self.queue.entry_line())
        } else {
            why.clone()
        };
        self.failures.push(record);
        self.failed = Some(why);
    }

    /// Folds in what the network side reported; true if anything changed.
    pub fn poll_events(&mut self) -> bool {
        self.reap();
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
                size,
            } => {
                self.dialect = dialect;
                self.duration = duration;
                self.fps_hint = fps;
                self.described_size = size.map(|(w, h)| (usize::from(w), usize::from(h)));
            }
            Event::State(s) => {
                self.state = s;
                if s == PlayerState::Playing {
                    self.error = None;
                    self.played = true;
                }
            }
            Event::Ended(reason) => {
                info!(
                    "the stream ended{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                );
                self.ended = true;
            }
            Event::Error(msg) => {
                warn!("{msg}");
                let before_playing = matches!(self.state, PlayerState::Init | PlayerState::Ready);
                if self.want_play && !self.played && before_playing {
                    self.fail(msg.clone());
                }
                self.error = Some(msg);
            }
            Event::Recording(p) => self.recording = p,
            Event::Closed(reason) => {
                if let Some(r) = &reason {
                    warn!("{r}");
                    self.error = Some(r.clone());
                    self.fail(r.clone());
                }
                self.state = PlayerState::Closed;
                self.closed = Some(reason);
            }
        }
    }

    /// Forgets the sessions of past entries whose threads have stopped, keeping their counts.
    fn reap(&mut self) {
        let (done, going): (Vec<Client>, Vec<Client>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(Client::is_finished);
        self.retiring = going;
        for c in done {
            add(&mut self.past, &c.counters());
        }
    }

    /// A frame from past the range's end is the next round of a looping server: in a queue it
    /// ends the entry instead of being shown.
    fn keep(&mut self, f: Frame) -> Option<Frame> {
        if self.queue.len() > 1 && past_end(f.position, self.duration) {
            if !self.ended {
                info!("the end of the range ({:?} s)", self.duration);
            }
            self.ended = true;
            return None;
        }
        Some(f)
    }

    /// The newest decoded frame, waiting up to `wait` for one; older ones are skipped.
    pub fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        let mut latest = match self.client.frames.recv_timeout(wait) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        self.first_frame.get_or_insert(latest.decoded);
        self.opts.timeline.mark(Mark::FirstTaken);
        while let Ok(f) = self.client.frames.try_recv() {
            self.skipped += 1;
            latest = f;
        }
        self.keep(latest)
    }

    /// The oldest decoded frame not yet taken, waiting up to `wait`: every frame, none skipped
    /// (headless mode, and tests that check each one).
    pub fn next_frame_in_order(&mut self, wait: Duration) -> Option<Frame> {
        let f = self.client.frames.recv_timeout(wait).ok()?;
        self.first_frame.get_or_insert(f.decoded);
        self.opts.timeline.mark(Mark::FirstTaken);
        self.keep(f)
    }

    /// Records that `f` went on screen at `at` (headless: was taken for display).
    pub fn presented(&mut self, f: &Frame, at: Instant) {
        self.presented_after(f, at, at, at);
    }

    /// Records that `f`, taken from the network side at `taken` and uploaded at `uploaded`,
    /// went on screen at `at`.
    pub fn presented_after(&mut self, f: &Frame, taken: Instant, uploaded: Instant, at: Instant) {
        self.opts.timeline.mark_at(Mark::FirstPresent, at);
        if let Some(b) = self.breakdown.as_mut() {
            b.record([f.received, f.decoded, taken, uploaded, at]);
        }
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

    /// The network side's counters, over every entry so far.
    pub fn counters(&self) -> Counters {
        let mut c = self.past.clone();
        add(&mut c, &self.client.counters());
        for r in &self.retiring {
            add(&mut c, &r.counters());
        }
        c
    }

    pub fn snapshot(&mut self, now: Instant) -> Snapshot {
        let c = self.counters();
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
            entry: self.queue.index(),
            entries: self.queue.len(),
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
            Action::Next | Action::Previous => {
                if let Err(e) = self.switch(*action == Action::Next) {
                    warn!("{e}");
                    self.error = Some(e);
                }
            }
            Action::Quit => return true,
            _ => {}
        }
        false
    }

    /// Tears down (waiting briefly for the replies) and stops the network side.
    pub fn shutdown(&mut self) {
        self.client.shutdown();
        for r in &mut self.retiring {
            r.shutdown();
        }
        self.poll_events();
    }
}

/// Sums the counters of several sessions.
fn add(sum: &mut Counters, c: &Counters) {
    sum.packets += c.packets;
    sum.bytes += c.bytes;
    sum.lost_packets += c.lost_packets;
    sum.frames_dropped += c.frames_dropped;
    sum.frames_decoded += c.frames_decoded;
    sum.foreign_packets += c.foreign_packets;
    sum.late_packets += c.late_packets;
    sum.reports_sent += c.reports_sent;
}
