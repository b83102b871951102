//! What each key or button asks of the player in its current state (RFC 2326 Appendix A's
//! client states, from [`crate::client::engine`]), with no window or socket.

pub use crate::client::engine::{Command, PlayerState};

/// A key, as the UI layer reports it (kept free of SDL so it can be tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Space,
    Left,
    Right,
    Escape,
}

/// What a key press does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(Command),
    /// TEARDOWN, then exit.
    Quit,
    ToggleFullscreen,
    ToggleOverlay,
    ToggleHelp,
    ToggleRecord,
    /// The next or previous entry of the play queue.
    Next,
    Previous,
    /// The key means nothing in this state.
    Nothing,
}

/// Seconds a Left/Right press moves.
pub const SEEK_STEP: f64 = 5.0;

/// Every key, for `--help` and the `?` overlay.
pub const KEYS: &[(&str, &str)] = &[
    ("S", "SETUP"),
    ("P", "PLAY"),
    ("Space", "PAUSE (PLAY when paused)"),
    ("Q", "TEARDOWN and quit (also Esc, closing the window)"),
    ("Left/Right", "seek 5 s back/forward"),
    ("click bar", "seek there"),
    ("R", "start/stop recording to a .Mjpeg file"),
    ("N / B", "next / previous entry of the queue"),
    ("F", "fullscreen"),
    ("H", "hide/show the overlay"),
    ("?", "this help"),
];

/// The view of playback a key decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Playback {
    pub state: PlayerState,
    /// Seconds into the movie of the frame on screen.
    pub position: Option<f64>,
    /// The movie's length, when the server said (seeking needs it).
    pub duration: Option<f64>,
    /// The play queue: the entry playing (from 0) and how many there are.
    pub entry: usize,
    pub entries: usize,
}

impl Playback {
    pub fn has_next(&self) -> bool {
        self.entry + 1 < self.entries
    }

    pub fn has_previous(&self) -> bool {
        self.entry > 0 && self.entries > 0
    }

    pub fn can_seek(&self) -> bool {
        matches!(
            self.state,
            PlayerState::Playing | PlayerState::Paused | PlayerState::Ready
        ) && self.duration.is_some_and(|d| d > 0.0)
    }
}

/// The action for a key in the current state.
pub fn on_key(key: Key, p: &Playback) -> Action {
    use PlayerState::*;
    match key {
        Key::Char(c) => match c.to_ascii_lowercase() {
            's' if p.state == Init => Action::Send(Command::Setup),
            'p' if matches!(p.state, Ready | Paused) => Action::Send(Command::Play),
            'q' => Action::Quit,
            'f' => Action::ToggleFullscreen,
            'h' => Action::ToggleOverlay,
            '?' => Action::ToggleHelp,
            'r' if p.state != Closed => Action::ToggleRecord,
            'n' if p.has_next() => Action::Next,
            'b' if p.has_previous() => Action::Previous,
            _ => Action::Nothing,
        },
        Key::Space => match p.state {
            Playing => Action::Send(Command::Pause),
            Paused | Ready => Action::Send(Command::Play),
            _ => Action::Nothing,
        },
        Key::Escape => Action::Quit,
        Key::Left | Key::Right if p.can_seek() => {
            let delta = if key == Key::Left {
                -SEEK_STEP
            } else {
                SEEK_STEP
            };
            let target = seek_target(p.position.unwrap_or(0.0), delta, p.duration.unwrap_or(0.0));
            Action::Send(Command::Seek(target))
        }
        Key::Left | Key::Right => Action::Nothing,
    }
}

/// `position + delta`, kept inside the movie. A seek past the end lands on the last second so
/// that something still plays.
pub fn seek_target(position: f64, delta: f64, duration: f64) -> f64 {
    let last = (duration - 1.0).max(0.0);
    (position + delta).clamp(0.0, last)
}

/// The time a click at `x` on a progress bar spanning `[bar_x, bar_x + bar_w)` points at.
pub fn bar_time(x: i32, bar_x: i32, bar_w: u32, duration: f64) -> f64 {
    if bar_w == 0 {
        return 0.0;
    }
    let frac = (f64::from(x - bar_x) / f64::from(bar_w)).clamp(0.0, 1.0);
    seek_target(frac * duration, 0.0, duration)
}

/// What an on-screen button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Previous,
    Setup,
    Play,
    Pause,
    Teardown,
    Next,
}

impl Button {
    /// Left to right under the video: the queue's ends around the session's commands.
    pub const ALL: [Button; 6] = [
        Button::Previous,
        Button::Setup,
        Button::Play,
        Button::Pause,
        Button::Teardown,
        Button::Next,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Button::Previous => "Prev",
            Button::Setup => "Setup",
            Button::Play => "Play",
            Button::Pause => "Pause",
            Button::Teardown => "Teardown",
            Button::Next => "Next",
        }
    }

    /// The same decision as the button's key.
    pub fn action(self, p: &Playback) -> Action {
        match self {
            Button::Setup => on_key(Key::Char('s'), p),
            Button::Play => on_key(Key::Char('p'), p),
            Button::Pause if p.state == PlayerState::Playing => Action::Send(Command::Pause),
            Button::Pause => Action::Nothing,
            Button::Teardown => Action::Quit,
            Button::Previous => on_key(Key::Char('b'), p),
            Button::Next => on_key(Key::Char('n'), p),
        }
    }

    /// Whether pressing it would do anything now (disabled buttons are drawn dimmed).
    pub fn enabled(self, p: &Playback) -> bool {
        self.action(p) != Action::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(state: PlayerState) -> Playback {
        Playback {
            state,
            position: Some(12.0),
            duration: Some(60.0),
            entry: 0,
            entries: 1,
        }
    }

    #[test]
    fn keys_follow_the_state_machine() {
        use PlayerState::*;
        assert_eq!(
            on_key(Key::Char('s'), &pb(Init)),
            Action::Send(Command::Setup)
        );
        assert_eq!(
            on_key(Key::Char('S'), &pb(Ready)),
            Action::Nothing,
            "SETUP only once"
        );
        assert_eq!(
            on_key(Key::Char('p'), &pb(Init)),
            Action::Nothing,
            "PLAY needs SETUP"
        );
        assert_eq!(
            on_key(Key::Char('p'), &pb(Ready)),
            Action::Send(Command::Play)
        );
        assert_eq!(
            on_key(Key::Char('p'), &pb(Paused)),
            Action::Send(Command::Play)
        );
        assert_eq!(on_key(Key::Char('p'), &pb(Playing)), Action::Nothing);
        assert_eq!(
            on_key(Key::Space, &pb(Playing)),
            Action::Send(Command::Pause)
        );
        assert_eq!(on_key(Key::Space, &pb(Paused)), Action::Send(Command::Play));
        assert_eq!(on_key(Key::Space, &pb(Init)), Action::Nothing);
        for s in [Init, Ready, Playing, Paused, Closed] {
            assert_eq!(on_key(Key::Char('q'), &pb(s)), Action::Quit);
            assert_eq!(on_key(Key::Escape, &pb(s)), Action::Quit);
        }
        assert_eq!(on_key(Key::Char('r'), &pb(Closed)), Action::Nothing);
        assert_eq!(on_key(Key::Char('x'), &pb(Playing)), Action::Nothing);
    }

    #[test]
    fn seeking() {
        use PlayerState::*;
        assert_eq!(
            on_key(Key::Right, &pb(Playing)),
            Action::Send(Command::Seek(17.0))
        );
        assert_eq!(
            on_key(Key::Left, &pb(Paused)),
            Action::Send(Command::Seek(7.0))
        );
        assert_eq!(
            on_key(Key::Left, &pb(Init)),
            Action::Nothing,
            "no session yet"
        );
        let unknown = Playback {
            duration: None,
            ..pb(Playing)
        };
        assert_eq!(
            on_key(Key::Right, &unknown),
            Action::Nothing,
            "lab servers give no duration"
        );
        assert_eq!(seek_target(2.0, -5.0, 60.0), 0.0);
        assert_eq!(seek_target(58.0, 5.0, 60.0), 59.0);
        assert_eq!(seek_target(0.5, 0.0, 0.5), 0.0);
        assert_eq!(bar_time(100, 100, 400, 60.0), 0.0);
        assert_eq!(bar_time(300, 100, 400, 60.0), 30.0);
        assert_eq!(bar_time(900, 100, 400, 60.0), 59.0);
        assert_eq!(bar_time(-5, 100, 400, 60.0), 0.0);
        assert_eq!(bar_time(5, 0, 0, 60.0), 0.0);
    }

    #[test]
    fn buttons_match_keys() {
        use PlayerState::*;
        assert!(Button::Setup.enabled(&pb(Init)));
        assert!(!Button::Play.enabled(&pb(Init)));
        assert!(Button::Pause.enabled(&pb(Playing)));
        assert!(
            !Button::Pause.enabled(&pb(Paused)),
            "unlike Space, the button only pauses"
        );
        assert_eq!(Button::Teardown.action(&pb(Ready)), Action::Quit);
    }

    #[test]
    fn n_and_b_move_through_the_queue() {
        use PlayerState::*;
        let at = |entry, entries, state| Playback {
            entry,
            entries,
            ..pb(state)
        };
        for s in [Init, Ready, Playing, Paused, Closed] {
            assert_eq!(on_key(Key::Char('n'), &at(0, 3, s)), Action::Next, "{s}");
            assert_eq!(on_key(Key::Char('N'), &at(1, 3, s)), Action::Next);
            assert_eq!(on_key(Key::Char('b'), &at(1, 3, s)), Action::Previous);
        }
        assert_eq!(
            on_key(Key::Char('n'), &at(2, 3, Playing)),
            Action::Nothing,
            "nothing after the last"
        );
        assert_eq!(
            on_key(Key::Char('b'), &at(0, 3, Playing)),
            Action::Nothing,
            "nothing before the first"
        );
        assert_eq!(
            on_key(Key::Char('n'), &pb(Playing)),
            Action::Nothing,
            "one stream"
        );
        assert_eq!(Button::Next.action(&at(0, 2, Ready)), Action::Next);
        assert_eq!(Button::Previous.action(&at(1, 2, Ready)), Action::Previous);
        assert!(!Button::Previous.enabled(&at(0, 2, Ready)));
        assert!(!Button::Next.enabled(&at(1, 2, Ready)));
        assert_eq!(Button::ALL.first(), Some(&Button::Previous));
        assert_eq!(Button::ALL.last(), Some(&Button::Next));
    }
}
