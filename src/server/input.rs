//! What the reactor does with the bytes a connection sends: read them (with backpressure), cut
//! them into messages, hand requests to the core and queue its replies. The classic lab client's
//! requests, which end with no blank line, are recognised here and given a grace time.

use std::time::{Instant, SystemTime};

use log::{debug, info};

use crate::rtsp::message::{self, Message, ParseError, Response, StatusCode};
use crate::server::conn::ReadOutcome;
use crate::server::core::ConnInfo;
use crate::server::reactor::Server;

impl Server {
    pub(super) fn read_conn(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        loop {
            let Some(c) = self.conns.get_mut(slot) else {
                return;
            };
            if c.closing {
                return;
            }
            if c.queued() > self.core.config().max_queue {
                c.read_paused = true;
                return;
            }
            c.read_paused = false;
            let outcome = c.read(now);
            let full = c.input_full();
            match outcome {
                Ok(ReadOutcome::Data(_)) => {
                    self.process_input(slot, now, wall, false);
                    self.ack_publisher_now(slot);
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    if !full || c.closing || c.input_full() {
                        return;
                    }
                    // The buffer was full and parsing made room: read what is still waiting.
                }
                Ok(ReadOutcome::Eof) => {
                    self.process_input(slot, now, wall, false);
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.closing = true;
                    }
                    self.dirty.push(slot);
                    return;
                }
                Err(e) => {
                    debug!("read error: {e}");
                    self.close(slot, now, wall);
                    return;
                }
            }
        }
    }

    /// A publisher's interleaved RTP comes in writes smaller than a segment, which its TCP holds
    /// back (Nagle, as ffmpeg leaves it) until the last is acknowledged: acknowledge at once, not
    /// after the delayed-ACK time (40 ms), or a frame's tail waits that long now and then.
    fn ack_publisher_now(&mut self, slot: usize) {
        if !self.core.is_publisher_connection(slot) {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(c) = self.conns.get_mut(slot) {
            let _ = socket2::SockRef::from(&c.stream).set_tcp_quickack(true);
        }
    }

    /// Parses and answers every complete message in a connection's input. `at_rest` is set when
    /// the grace time passed with no new bytes: a lab-dialect request may then end without its
    /// blank line.
    pub(super) fn process_input(
        &mut self,
        slot: usize,
        now: Instant,
        wall: SystemTime,
        at_rest: bool,
    ) {
        if self.http_input(slot, now, wall) {
            return; // an HTTP connection (crate::server::web)
        }
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let mut input = std::mem::take(&mut c.input);
        let info = ConnInfo {
            id: slot,
            peer: c.peer,
            local: c.local,
        };
        let serial = c.serial;
        let mut used = 0;
        let mut reply = Vec::new();
        loop {
            let rest = &input[used..];
            if rest.is_empty() || self.conns.get_mut(slot).is_none_or(|c| c.awaiting_reply) {
                break;
            }
            let parsed = match message::parse(rest, &self.limits) {
                Err(ParseError::Incomplete { .. }) if at_rest && looks_like_lab_request(rest) => {
                    message::parse_unterminated(rest, &self.limits)
                }
                other => other,
            };
            match parsed {
                Ok((msg, n)) => {
                    used += n;
                    match msg {
                        Message::Request(req) => {
                            let (core, mut io) = self.parts();
                            let Some(resp) =
                                core.handle_request_or_defer(&info, &req, now, wall, &mut io)
                            else {
                                // Waiting for a relay's origin; the reply comes later.
                                if let Some(c) = self.conns.get_mut(slot) {
                                    c.awaiting_reply = true;
                                }
                                debug!("{}: {} {} waits", info.peer, req.method, req.uri);
                                continue;
                            };
                            core.counters_mut()
                                .count_rtsp(Some(&req.method), resp.status);
                            debug!(
                                "{}: {} {} -> {}",
                                info.peer, req.method, req.uri, resp.status.0
                            );
                            reply.clear();
                            resp.write_to(&mut reply);
                        }
                        Message::Interleaved { channel, data } => {
                            // Readers' RTCP receiver reports, or a publisher's RTP and RTCP.
                            let (core, mut io) = self.parts();
                            let ip = info.peer.ip();
                            core.handle_interleaved(slot, ip, channel, &data, now, wall, &mut io);
                            continue;
                        }
                        Message::Response(_) => continue,
                    }
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    c.push_reply(&reply);
                    self.dirty.push(slot);
                    if c.queued() > self.core.config().max_queue {
                        break; // backpressure: the rest waits until the client reads
                    }
                }
                Err(ParseError::Incomplete { .. }) => {
                    if looks_like_lab_request(rest) {
                        let Some(c) = self.conns.get_mut(slot) else {
                            return;
                        };
                        if !c.grace_pending {
                            c.grace_pending = true;
                            self.grace
                                .insert(now + self.core.config().lab_grace, (slot, serial));
                        }
                    }
                    break;
                }
                Err(e) => {
                    let status = match e {
                        ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                        }
                        ParseError::BodyTooLarge => StatusCode::REQUEST_ENTITY_TOO_LARGE,
                        ParseError::UnsupportedVersion => StatusCode::RTSP_VERSION_NOT_SUPPORTED,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    info!(
                        "{}: bad request ({e}); answering {} and closing",
                        info.peer, status.0
                    );
                    self.core.counters_mut().count_rtsp(None, status);
                    let mut resp = Response::new(status);
                    if let Some(cseq) = sniff_cseq(rest) {
                        resp.headers.append("CSeq", &cseq);
                    }
                    reply.clear();
                    resp.write_to(&mut reply);
                    let Some(c) = self.conns.get_mut(slot) else {
                        return;
                    };
                    c.push_reply(&reply);
                    c.closing = true;
                    self.dirty.push(slot);
                    used = input.len();
                    break;
                }
            }
        }
        input.drain(..used);
        if let Some(c) = self.conns.get_mut(slot) {
            if input.is_empty() {
                c.partial_since = None;
            }
            if c.input.is_empty() {
                c.input = input;
            } else {
                // Cannot happen (nothing reads into it meanwhile), but never lose bytes.
                input.extend_from_slice(&c.input);
                c.input = input;
            }
        }
    }
}

/// A request the classic lab client would send: a method, a relative URL (never `rtsp://`, which
/// every standard client uses), `RTSP/1.0`, and a CSeq line. Client.py sends no line ending after
/// its last header, so none is required.
fn looks_like_lab_request(buf: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(buf) else {
        return false;
    };
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return false;
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(uri), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    method.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        && !uri.contains("://")
        && uri != "*"
        && version == "RTSP/1.0"
        && lines.any(|l| l.to_ascii_lowercase().starts_with("cseq:"))
}

/// The CSeq of a request too broken to parse, so its error reply can still carry it
/// (RFC 2326 §12.17); digits only, from the first `CSeq:` line in the first 8 KiB.
fn sniff_cseq(buf: &[u8]) -> Option<String> {
    let head = &buf[..buf.len().min(8192)];
    let text = String::from_utf8_lossy(head);
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("cseq") {
            return None;
        }
        let v = value.trim();
        (!v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.to_string())
    })
}
