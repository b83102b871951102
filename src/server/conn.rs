//! One RTSP connection's buffers: bytes read and not yet parsed, and the output queue that
//! carries replies and interleaved RTP (RFC 2326 §10.12) in order.
//!
//! Both are bounded. Input is capped at what one request may be plus one interleaved frame; the
//! parser answers anything larger with 413/431. Output holds replies always (a client that stops
//! reading is stopped being read from, so replies cannot pile up) and RTP only while the queue is
//! under its limit: a frame that does not fit whole is dropped whole, never cut.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::net::TcpStream;

/// Largest interleaved frame: `$`, channel, 16-bit length, data.
const MAX_INTERLEAVED: usize = 4 + 65_535;
const READ_CHUNK: usize = 16 * 1024;

pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Distinguishes this connection from a later one in the same slot, for stale timers.
    pub serial: u64,
    pub input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// Bytes written to the socket over the connection's life.
    written_total: u64,
    /// WRITABLE interest is registered (only while output is pending).
    pub want_write: bool,
    /// Close once the output is flushed (after an error reply, or the peer's EOF).
    pub closing: bool,
    /// Input was left unread because of backpressure; read again once output drains.
    pub read_paused: bool,
    pub last_rx: Instant,
    /// A lab-dialect request is waiting for its grace time to pass.
    pub grace_pending: bool,
    /// Since when unparsed input has been waiting: a request dribbled in a byte at a time
    /// (slowloris) is cut off after the idle time-out even though bytes keep coming.
    pub partial_since: Option<Instant>,
    /// RTSP or HTTP (decided by the first request line), and what HTTP made of it.
    pub web: crate::server::web::Link,
    /// A request waits for a relay's origin: the next ones are not read until it is answered.
    pub awaiting_reply: bool,
    input_cap: usize,
}

pub enum ReadOutcome {
    /// Read everything the socket had (or filled the buffer); `true` if any bytes came.
    Data(bool),
    /// The peer closed its side.
    Eof,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        serial: u64,
        now: Instant,
        max_request: usize,
    ) -> Conn {
        Conn {
            stream,
            peer,
            local,
            serial,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            written_total: 0,
            want_write: false,
            closing: false,
            read_paused: false,
            last_rx: now,
            grace_pending: false,
            partial_since: None,
            web: Default::default(),
            awaiting_reply: false,
            input_cap: max_request.max(MAX_INTERLEAVED),
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.output.len() - self.written
    }

    pub fn written_total(&self) -> u64 {
        self.written_total
    }

    /// Bytes the kernel holds for this connection, not yet sent or not yet acknowledged
    /// (SIOCOUTQ): the part of the path's queue that is ours.
    pub fn kernel_unsent(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int through the pointer, which points at `n`.
        let rc = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
        if rc == 0 {
            usize::try_from(n).unwrap_or(0)
        } else {
            0
        }
    }

    /// Reads until the socket would block or the input buffer is full.
    pub fn read(&mut self, now: Instant) -> io::Result<ReadOutcome> {
        let mut got = false;
        loop {
            if self.input.len() >= self.input_cap {
                return Ok(ReadOutcome::Data(got));
            }
            let start = self.input.len();
            let want = READ_CHUNK.min(self.input_cap - start);
            self.input.resize(start + want, 0);
            match self.stream.read(&mut self.input[start..]) {
                Ok(0) => {
                    self.input.truncate(start);
                    return Ok(ReadOutcome::Eof);
                }
                Ok(n) => {
                    self.input.truncate(start + n);
                    self.last_rx = now;
                    if start == 0 {
                        self.partial_since = Some(now);
                    }
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.input.truncate(start);
                    return Ok(ReadOutcome::Data(got));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.input.truncate(start),
                Err(e) => {
                    self.input.truncate(start);
                    return Err(e);
                }
            }
        }
    }

    /// Is the input buffer full, so that reading stopped before the socket was drained?
    pub fn input_full(&self) -> bool {
        self.input.len() >= self.input_cap
    }

    /// Queues a reply; replies are never dropped.
    pub fn push_reply(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Queues the concatenation of `chunks` if the queue stays within `limit` bytes.
    pub fn push_media(&mut self, chunks: &[&[u8]], limit: usize) -> bool {
        let len: usize = chunks.iter().map(|c| c.len()).sum();
        if self.queued() + len > limit {
            return false;
        }
        self.compact();
        for c in chunks {
            self.output.extend_from_slice(c);
        }
        true
    }

    /// Writes as much queued output as the socket takes. Ok(true) when all of it left.
    pub fn flush(&mut self) -> io::Result<bool> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    self.written_total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.compact();
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.written = 0;
        Ok(true)
    }

    /// Drops written bytes from the front once they are the larger part of the buffer, so the
    /// queue's memory follows what is pending rather than what was ever sent.
    fn compact(&mut self) {
        if self.written > 0 && self.written * 2 >= self.output.len() {
            self.output.drain(..self.written);
            self.written = 0;
        }
    }
}
