//! SIGINT and SIGTERM as a readable file descriptor (Linux signalfd), so the reactor notices them
//! in its own poll loop: no handler code running at arbitrary points, no second thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A signalfd for SIGINT and SIGTERM. Creating it blocks both signals for the calling thread
/// (call it before spawning threads, so they inherit the mask).
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    pub fn new() -> io::Result<SignalFd> {
        // SAFETY: sigset_t is plain data initialised by sigemptyset before any other use; every
        // pointer passed is to a live local.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Reads pending signals; returns the last one's number, if any arrived.
    pub fn take(&self) -> Option<i32> {
        let mut last = None;
        loop {
            let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
            // SAFETY: reads at most info.len() bytes into a live buffer of that size.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) };
            if n != info.len() as isize {
                return last;
            }
            // ssi_signo is the first u32 of signalfd_siginfo.
            last = Some(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32);
        }
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
