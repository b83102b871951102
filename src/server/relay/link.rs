//! The reactor's side of relays: one non-blocking TCP connection per relay to its origin,
//! carrying what the core's relay asks ([`RelayIo`]) and handing back what arrives; and the
//! replies to requests that waited for an origin.
//!
//! Tokens from [`RELAY_BASE`] + relay id. Output is queued (requests and receiver reports, a
//! few hundred bytes a second) and bounded: an origin that stops reading is dropped.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::time::{Instant, SystemTime};

use log::{debug, warn};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};

use crate::server::reactor::Server;
use crate::server::relay::{RelayId, RelayIo};

/// Relay connections' tokens start here, far above the connection slots.
pub const RELAY_BASE: usize = 1 << 30;
/// Queued output an origin may leave unread before its connection is dropped.
const MAX_OUTPUT: usize = 1 << 20;

struct Link {
    stream: TcpStream,
    out: Vec<u8>,
    connected: bool,
}

/// The relays' origin connections.
#[derive(Default)]
pub struct Links {
    links: HashMap<RelayId, Link>,
}

impl Server {
    /// Carries out what the core's relays ask, until they ask nothing more.
    pub(in crate::server) fn relay_io(&mut self, now: Instant, wall: SystemTime) {
        while let Some(io) = self.core.poll_relay_io() {
            match io {
                RelayIo::Connect { relay, addr } => {
                    self.relay_drop(relay);
                    let registered = TcpStream::connect(addr).and_then(|mut stream| {
                        self.poll.registry().register(
                            &mut stream,
                            Token(RELAY_BASE + relay),
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                        Ok(stream)
                    });
                    match registered {
                        Ok(stream) => {
                            let link = Link {
                                stream,
                                out: Vec::new(),
                                connected: false,
                            };
                            self.relay_links.links.insert(relay, link);
                        }
                        Err(e) => {
                            warn!("relay to {addr}: {e}");
                            let (core, mut out) = self.parts();
                            core.relay_closed(relay, now, wall, &mut out);
                        }
                    }
                }
                RelayIo::Send { relay, data } => {
                    let Some(link) = self.relay_links.links.get_mut(&relay) else {
                        continue;
                    };
                    link.out.extend_from_slice(&data);
                    if link.out.len() > MAX_OUTPUT {
                        warn!("relay {relay}: the origin does not read; dropping the connection");
                        self.relay_lost(relay, now, wall);
                    } else if link.connected {
                        self.relay_flush(relay, now, wall);
                    }
                }
                RelayIo::Close { relay } => self.relay_drop(relay),
            }
        }
    }

    /// A readiness event on a relay's connection.
    pub(in crate::server) fn relay_event(
        &mut self,
        relay: RelayId,
        event: &Event,
        now: Instant,
        wall: SystemTime,
    ) {
        let Some(link) = self.relay_links.links.get_mut(&relay) else {
            return;
        };
        if !link.connected {
            if event.is_error() || event.is_read_closed() || event.is_write_closed() {
                self.relay_lost(relay, now, wall);
                return;
            }
            if !event.is_writable() {
                return;
            }
            // Writable after a non-blocking connect: up, unless it failed (mio's recipe: an
            // error says it failed; no peer address yet says the event came early).
            match (link.stream.take_error(), link.stream.peer_addr()) {
                (Ok(None), Ok(_)) => {
                    link.connected = true;
                    let _ = link.stream.set_nodelay(true);
                    let (core, mut out) = self.parts();
                    core.relay_connected(relay, now, wall, &mut out);
                    self.relay_io(now, wall);
                }
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return,
                _ => {
                    self.relay_lost(relay, now, wall);
                    return;
                }
            }
        }
        if event.is_writable() {
            self.relay_flush(relay, now, wall);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.relay_read(relay, now, wall);
        }
    }

    fn relay_read(&mut self, relay: RelayId, now: Instant, wall: SystemTime) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(link) = self.relay_links.links.get_mut(&relay) else {
                return;
            };
            match link.stream.read(&mut buf) {
                Ok(0) => {
                    self.relay_lost(relay, now, wall);
                    return;
                }
                Ok(n) => {
                    let (core, mut out) = self.parts();
                    core.relay_input(relay, &buf[..n], now, wall, &mut out);
                    self.relay_io(now, wall);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("relay {relay}: read: {e}");
                    self.relay_lost(relay, now, wall);
                    return;
                }
            }
        }
    }

    fn relay_flush(&mut self, relay: RelayId, now: Instant, wall: SystemTime) {
        let Some(link) = self.relay_links.links.get_mut(&relay) else {
            return;
        };
        while !link.out.is_empty() {
            match link.stream.write(&link.out) {
                Ok(0) => break,
                Ok(n) => {
                    link.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("relay {relay}: write: {e}");
                    self.relay_lost(relay, now, wall);
                    return;
                }
            }
        }
    }

    /// The connection failed or closed under us: the core hears of it.
    fn relay_lost(&mut self, relay: RelayId, now: Instant, wall: SystemTime) {
        self.relay_drop(relay);
        let (core, mut out) = self.parts();
        core.relay_closed(relay, now, wall, &mut out);
    }

    fn relay_drop(&mut self, relay: RelayId) {
        if let Some(mut link) = self.relay_links.links.remove(&relay) {
            // What is still queued (a TEARDOWN) gets one last try.
            if link.connected && !link.out.is_empty() {
                let _ = link.stream.write(&link.out);
            }
            let _ = self.poll.registry().deregister(&mut link.stream);
        }
    }

    /// Replies to requests that waited for an origin; each connection then reads on.
    pub(in crate::server) fn deliver_replies(&mut self, now: Instant, wall: SystemTime) {
        while let Some((slot, resp)) = self.core.poll_reply() {
            let Some(c) = self.conns.get_mut(slot) else {
                continue;
            };
            let mut bytes = Vec::new();
            resp.write_to(&mut bytes);
            c.push_reply(&bytes);
            c.awaiting_reply = false;
            self.dirty.push(slot);
            self.process_input(slot, now, wall, false);
        }
    }
}
