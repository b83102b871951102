#!/usr/bin/env python3
"""Records what a real RTSP server sends a client, byte for byte, as test fixtures for the
client engine (src/client/engine/testdata/). The requests are the ones the engine sends, in its
order and with its CSeq numbers, so its unit tests can replay the replies on virtual time.

    record_replies.py URL OUT --mode udp|tcp|lab [--frames 2] [--only-describe]

udp: DESCRIBE 1, SETUP 2 (client_port), PLAY 3, GET_PARAMETER 4, PAUSE 5, TEARDOWN 6, with RTP
     and RTCP datagrams received between PLAY and GET_PARAMETER (the first FRAMES whole frames,
     and up to one sender report within 6 s).
tcp: the same with interleaved=0-1; the connection's bytes after PLAY include the RTP.
lab: what the seed's Client.py sends (LF line ends, no blank line): SETUP 1, PLAY 2, PAUSE 3,
     TEARDOWN 4, to a lab server; whole JPEGs by UDP.
--only-describe: DESCRIBE 1 alone (say, to record a 401 challenge).

OUT is a sequence of records: a tag byte, a 32-bit big-endian length, the bytes. Tags:
Q a request we sent, R bytes read from the RTSP connection (as recv returned them), P an RTP
datagram, C an RTCP datagram. The file starts with the line b"rtsp-mjpeg capture 1\\n".
"""
import argparse
import re
import selectors
import socket
import struct
import time

MAGIC = b"rtsp-mjpeg capture 1\n"


class Capture:
    def __init__(self, path):
        self.out = open(path, "wb")
        self.out.write(MAGIC)

    def record(self, tag, data):
        self.out.write(tag + struct.pack(">I", len(data)) + data)


def parse_url(url):
    m = re.match(r"rtsp://([^/:]+)(?::(\d+))?/(.*)", url)
    return m.group(1), int(m.group(2) or 554), m.group(3)


def message_end(buf):
    """Length of the first whole message in buf ($-framed data or an RTSP reply), or None."""
    if buf[:1] == b"$":
        if len(buf) < 4:
            return None
        n = 4 + struct.unpack(">H", buf[2:4])[0]
        return n if len(buf) >= n else None
    head = buf.find(b"\r\n\r\n")
    if head < 0:
        return None
    m = re.search(rb"(?i)content-length:\s*(\d+)", buf[:head])
    n = head + 4 + (int(m.group(1)) if m else 0)
    return n if len(buf) >= n else None


class Session:
    def __init__(self, url, mode, cap):
        self.url, self.mode, self.cap = url, mode, cap
        host, port, self.path = parse_url(url)
        self.rtsp = socket.create_connection((host, port), timeout=5)
        self.rtsp.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.rtsp, selectors.EVENT_READ, "R")
        self.pending = b""
        self.rtp = self.rtcp = None
        if mode in ("udp", "lab"):
            for _ in range(50):
                rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                rtp.bind(("0.0.0.0", 0))
                p = rtp.getsockname()[1]
                if p % 2 == 0:
                    try:
                        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        rtcp.bind(("0.0.0.0", p + 1))
                        break
                    except OSError:
                        pass
                rtp.close()
            self.rtp, self.rtcp, self.port = rtp, rtcp, p
            self.sel.register(rtp, selectors.EVENT_READ, "P")
            self.sel.register(rtcp, selectors.EVENT_READ, "C")
        self.frames = 0
        self.sr = False
        self.replies = []

    def pump(self, timeout):
        for key, _ in self.sel.select(timeout):
            tag = key.data
            if tag == "R":
                data = self.rtsp.recv(65536)
                if not data:
                    raise EOFError("server closed the connection")
                self.cap.record(b"R", data)
                self.pending += data
                while True:
                    n = message_end(self.pending)
                    if n is None:
                        break
                    msg, self.pending = self.pending[:n], self.pending[n:]
                    if msg[:1] == b"$":
                        if msg[1] == 0 and msg[5] & 0x80:
                            self.frames += 1
                        elif msg[1] == 1 and len(msg) > 5 and msg[5] == 200:
                            self.sr = True
                    else:
                        self.replies.append(msg)
            else:
                data, _ = key.fileobj.recvfrom(65536)
                self.cap.record(tag.encode(), data)
                if tag == "P" and (self.mode == "lab" or data[1] & 0x80):
                    self.frames += 1
                if tag == "C" and len(data) > 1 and data[1] == 200:
                    self.sr = True

    def request(self, text):
        data = text.encode()
        self.cap.record(b"Q", data)
        self.rtsp.sendall(data)
        if self.mode == "lab":
            # Lab replies have no blank line: take what came once the line is quiet.
            deadline = time.time() + 2
            got = b""
            while time.time() < deadline:
                before = len(self.pending)
                self.pump(0.1)
                if len(self.pending) > before:
                    got = self.pending
                elif got:
                    break
            self.pending = b""
            return got.decode(errors="replace")
        deadline = time.time() + 5
        while not self.replies and time.time() < deadline:
            self.pump(0.1)
        if not self.replies:
            raise TimeoutError("no reply to " + text.split(" ")[0])
        return self.replies.pop(0).decode(errors="replace")


def header(reply, name):
    m = re.search(r"(?im)^" + name + r":\s*(.*?)\r?$", reply)
    return m.group(1).strip() if m else None


def standard(s, frames, only_describe):
    ua = "User-Agent: rtsp-sdl/0.1.0\r\n"
    r = s.request(f"DESCRIBE {s.url} RTSP/1.0\r\nCSeq: 1\r\n{ua}Accept: application/sdp\r\n\r\n")
    if only_describe:
        return
    base = header(r, "Content-Base") or s.url
    control = None
    in_video = False
    for line in r.split("\r\n\r\n", 1)[-1].splitlines():
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("a=control:"):
            control = line[len("a=control:"):].strip()
    if control is None or control == "*":
        setup_url = base
    elif control.startswith("rtsp://"):
        setup_url = control
    else:
        setup_url = base.rstrip("/") + "/" + control
    if s.mode == "udp":
        transport = f"RTP/AVP;unicast;client_port={s.port}-{s.port + 1}"
    else:
        transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
    r = s.request(f"SETUP {setup_url} RTSP/1.0\r\nCSeq: 2\r\n{ua}Transport: {transport}\r\n\r\n")
    session = header(r, "Session").split(";")[0]
    sess = f"Session: {session}\r\n"
    s.request(f"PLAY {s.url} RTSP/1.0\r\nCSeq: 3\r\n{ua}{sess}\r\n")
    deadline = time.time() + 6
    while (s.frames < frames) and time.time() < deadline:
        s.pump(0.05)
    if s.mode == "udp":
        # Sender reports come every few seconds; wait a little for one, then stop keeping RTP.
        s.sel.unregister(s.rtp)
        while not s.sr and time.time() < deadline:
            s.pump(0.05)
    s.request(f"GET_PARAMETER {s.url} RTSP/1.0\r\nCSeq: 4\r\n{ua}{sess}\r\n")
    s.request(f"PAUSE {s.url} RTSP/1.0\r\nCSeq: 5\r\n{ua}{sess}\r\n")
    s.request(f"TEARDOWN {s.url} RTSP/1.0\r\nCSeq: 6\r\n{ua}{sess}\r\n")


def lab(s, frames):
    r = s.request(f"SETUP {s.path} RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= {s.port}")
    session = header(r, "Session")
    s.request(f"PLAY {s.path} RTSP/1.0\nCSeq: 2\nSession: {session}")
    deadline = time.time() + 6
    while s.frames < frames and time.time() < deadline:
        s.pump(0.05)
    s.sel.unregister(s.rtp)
    s.request(f"PAUSE {s.path} RTSP/1.0\nCSeq: 3\nSession: {session}")
    s.request(f"TEARDOWN {s.path} RTSP/1.0\nCSeq: 4\nSession: {session}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--mode", choices=["udp", "tcp", "lab"], default="udp")
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--only-describe", action="store_true")
    a = ap.parse_args()
    s = Session(a.url, a.mode, Capture(a.out))
    if a.mode == "lab":
        lab(s, a.frames)
    else:
        standard(s, a.frames, a.only_describe)
    s.cap.out.close()


if __name__ == "__main__":
    main()
