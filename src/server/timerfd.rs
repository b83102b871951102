//! A timerfd (CLOCK_MONOTONIC, the clock `Instant` reads) registered with the reactor's poll, so
//! the loop wakes when the next frame is due to the microsecond. `epoll_wait` alone counts its
//! time-out in whole milliseconds, which made frames leave up to a millisecond late.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub struct TimerFd {
    fd: OwnedFd,
    /// The deadline it is armed for, so that an unchanged deadline costs no system call.
    armed: Option<Instant>,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create takes no pointers; a negative result is an error.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just created and is owned by nothing else.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: None,
        })
    }

    /// Fires once at `deadline` (`now` is the current time); nothing to do when it is already
    /// armed for that deadline.
    pub fn arm_for(&mut self, deadline: Instant, now: Instant) -> io::Result<()> {
        if self.armed == Some(deadline) {
            return Ok(());
        }
        self.arm(deadline.saturating_duration_since(now))?;
        self.armed = Some(deadline);
        Ok(())
    }

    /// Fires once, `after` from now (at least a nanosecond: zero would disarm it).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
            },
        };
        // SAFETY: both pointers are to valid itimerspec values for the call's duration.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads the expiry count, so the fd stops being readable (and must be armed again).
    pub fn clear(&mut self) {
        self.armed = None;
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer; errors (EAGAIN) are ignored.
        unsafe {
            libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
        }
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Asks the kernel to fire this thread's timers within `slack` of their time (the default is
/// 50 µs).
pub fn set_timer_slack(slack: Duration) {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument; failure leaves the default.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            slack.as_nanos() as libc::c_ulong,
            0,
            0,
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_within_a_fraction_of_a_millisecond() {
        set_timer_slack(Duration::from_micros(1));
        let mut t = TimerFd::new().unwrap();
        let mut late = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            t.arm(Duration::from_micros(300)).unwrap();
            let mut pfd = libc::pollfd {
                fd: t.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 100) };
            t.clear();
            late.push(start.elapsed().saturating_sub(Duration::from_micros(300)));
        }
        late.sort();
        // The median, not the worst: the machine may be busy.
        assert!(
            late[10] < Duration::from_micros(500),
            "timerfd woke {:?} late (median)",
            late[10]
        );
    }
}
