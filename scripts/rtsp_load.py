#!/usr/bin/env python3
"""RTSP/RTP load client, Python 3 standard library only.

    rtsp_load.py rtsp://HOST:PORT/PATH --sessions N --seconds T [--tcp]

Opens N RTSP sessions, each on its own TCP connection: DESCRIBE, SETUP (UDP: its own even/odd
socket pair, `RTP/AVP;unicast;client_port=a-b`; with --tcp: `RTP/AVP/TCP;unicast;interleaved=0-1`
on the RTSP connection), PLAY. Once every session plays, it receives RTP for T seconds in one
selector loop and counts, per session: packets, frames (marker bit), lost packets (sequence number
gaps) and the spread of inter-frame arrival times. Then TEARDOWN, and one JSON line on stdout:

    {"sessions": N, "ok_sessions": .., "frames_per_s_per_session": {"min","median","max"},
     "packets": .., "lost": .., "loss_ratio": .., "interframe_jitter_ms": {"median","max"}, ...}

With --server-pid PID (a server on this machine), it also reads the server's CPU time at the
start and end of the counting window and its peak RSS (VmHWM of /proc/PID/status) at the end, and
adds `server` to the summary: `cpu_s` in the window, `cpu_ms_per_stream_s` = CPU ms / (playing
sessions x window seconds), `peak_rss_mb`. CPU time is the sum over the server's threads of
/proc/PID/task/TID/schedstat (nanoseconds on CPU), since utime + stime (/proc/PID/stat, also
reported as `cpu_s_ticks`) moves in 10 ms clock ticks, too coarse for a server that needs a few
ms a second.

`lateness_ms` {p50, p99, max}: how late each frame ended (its marker packet arrived) against the
schedule its RTP timestamp gives, anchored at the session's most punctual frame; it includes the
client's own delay in reading, so it is an upper bound on the server's.

`interframe_jitter_ms` is the standard deviation of the intervals between frame ends (marker
packets) of a session: 0 for a perfectly paced stream.

Control URLs are resolved as RFC 2326 C.1.1 says: against Content-Base, else Content-Location,
else the request URL (rtspd answers `a=control:trackID=0`, GStreamer `a=control:stream=0`).
Session ids are taken up to any `;timeout=`. Progress and errors go to stderr.
"""

import argparse
import json
import os
import selectors
import socket
import statistics
import sys
import time
from urllib.parse import urlsplit

USER_AGENT = "rtsp_load.py"


def log(*a):
    print("rtsp_load:", *a, file=sys.stderr, flush=True)


class RtspError(Exception):
    pass


class Session:
    def __init__(self, idx, url, tcp, timeout):
        self.idx = idx
        self.url = url
        self.tcp = tcp
        self.timeout = timeout
        self.cseq = 0
        self.session_id = None
        self.buf = bytearray()
        self.rtp = None
        self.rtcp = None
        self.ok = False
        # Statistics (reset at the start of the measuring window).
        self.last_seq = None
        self.reset_counts()
        u = urlsplit(url)
        self.host = u.hostname
        self.port = u.port or 554
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reset_counts(self):
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.lost = 0
        self.frame_times = []
        self.frame_stamps = []

    # ---- RTSP ----

    def request(self, method, url, headers=()):
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        if self.session_id and method != "DESCRIBE":
            lines.append(f"Session: {self.session_id}")
        lines += list(headers)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            status, hdrs, body = self.read_response()
            if hdrs.get("cseq", str(self.cseq)).strip() == str(self.cseq):
                break
        if status != 200:
            raise RtspError(f"{method} {url}: status {status}")
        return hdrs, body

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise RtspError("connection closed by the server")
        self.buf += data

    def read_response(self):
        """Reads one response, skipping (and counting) interleaved `$` frames before it."""
        while True:
            while not self.buf:
                self._fill()
            if self.buf[0] == 0x24:  # '$': interleaved RTP/RTCP
                while len(self.buf) < 4:
                    self._fill()
                n = int.from_bytes(self.buf[2:4], "big")
                while len(self.buf) < 4 + n:
                    self._fill()
                ch = self.buf[1]
                pkt = bytes(self.buf[4:4 + n])
                del self.buf[:4 + n]
                if ch == 0:
                    self.on_rtp(pkt, time.monotonic(), False)
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                self._fill()
                continue
            head = self.buf[:end].decode("latin-1").split("\r\n")
            hdrs = {}
            for line in head[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
            clen = int(hdrs.get("content-length", "0"))
            while len(self.buf) < end + 4 + clen:
                self._fill()
            body = bytes(self.buf[end + 4:end + 4 + clen])
            del self.buf[:end + 4 + clen]
            parts = head[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("RTSP/"):
                raise RtspError(f"bad status line {head[0]!r}")
            return int(parts[1]), hdrs, body

    def start(self, rtcp_too=True):
        hdrs, body = self.request("DESCRIBE", self.url, ["Accept: application/sdp"])
        base = hdrs.get("content-base") or hdrs.get("content-location") or self.url
        session_ctl, media_ctl = parse_sdp_controls(body.decode("latin-1"))
        track = resolve(base, media_ctl)
        self.aggregate = resolve(base, session_ctl) if session_ctl else base
        if self.tcp:
            transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
        else:
            self.rtp, self.rtcp = udp_pair()
            a = self.rtp.getsockname()[1]
            transport = f"RTP/AVP;unicast;client_port={a}-{a + 1}"
        hdrs, _ = self.request("SETUP", track, [f"Transport: {transport}"])
        sid = hdrs.get("session")
        if not sid:
            raise RtspError("SETUP answer has no Session")
        self.session_id = sid.split(";", 1)[0].strip()
        self.request("PLAY", self.aggregate, ["Range: npt=0.000-"])
        self.ok = True

    def teardown(self):
        try:
            self.sock.settimeout(self.timeout)
            self.request("TEARDOWN", self.aggregate)
        except (OSError, RtspError, ValueError) as e:
            log(f"session {self.idx}: TEARDOWN: {e}")

    def close(self):
        for s in (self.sock, self.rtp, self.rtcp):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    # ---- RTP ----

    def on_rtp(self, pkt, now, counting):
        if len(pkt) < 12 or pkt[0] >> 6 != 2:
            return
        seq = (pkt[2] << 8) | pkt[3]
        if self.last_seq is not None:
            d = (seq - self.last_seq) & 0xFFFF
            if d == 0 or d >= 0x8000:
                return  # duplicate or late (reordered): neither new nor a gap
            if counting:
                self.lost += d - 1
        self.last_seq = seq
        if not counting:
            return
        self.packets += 1
        self.bytes += len(pkt)
        if pkt[1] & 0x80:
            self.frames += 1
            self.frame_times.append(now)
            self.frame_stamps.append((pkt[4] << 24) | (pkt[5] << 16) | (pkt[6] << 8) | pkt[7])

    def on_tcp_readable(self, now, counting):
        data = self.sock.recv(262144)
        if not data:
            raise RtspError("connection closed by the server")
        self.buf += data
        buf = self.buf
        i = 0
        while len(buf) - i >= 4:
            if buf[i] != 0x24:
                # An RTSP message in the middle of the stream (a server request or a late
                # answer): skip its head; the bench neither expects nor needs one.
                end = buf.find(b"\r\n\r\n", i)
                if end < 0:
                    break
                i = end + 4
                continue
            n = (buf[i + 2] << 8) | buf[i + 3]
            if len(buf) - i < 4 + n:
                break
            if buf[i + 1] == 0:
                self.on_rtp(bytes(buf[i + 4:i + 4 + n]), now, counting)
            i += 4 + n
        del buf[:i]


def parse_sdp_controls(sdp):
    """(session-level control, first video (else first) media's control)."""
    session_ctl, media_ctl, in_media, chosen = None, None, False, False
    for line in sdp.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            if chosen:
                break
            in_media = True
            chosen = line.startswith("m=video") or media_ctl is None
            if chosen:
                media_ctl = None
        elif line.startswith("a=control:"):
            v = line[len("a=control:"):].strip()
            if not in_media:
                session_ctl = v
            elif chosen:
                media_ctl = v
    return session_ctl, media_ctl


def resolve(base, control):
    if not control or control == "*":
        return base
    if "://" in control:
        return control
    if base.endswith("/"):
        return base + control
    return base + "/" + control


def udp_pair():
    """Two UDP sockets on ports p (even) and p+1, with large receive buffers."""
    for _ in range(200):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("0.0.0.0", 0))
        p = a.getsockname()[1]
        if p % 2 or p >= 65535:
            a.close()
            continue
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            b.bind(("0.0.0.0", p + 1))
        except OSError:
            a.close()
            b.close()
            continue
        for s in (a, b):
            s.setblocking(False)
        set_rcvbuf(a, 4 << 20)
        return a, b
    raise RtspError("no free even/odd UDP port pair")


def set_rcvbuf(s, size):
    # SO_RCVBUFFORCE (33 on Linux) passes net.core.rmem_max when root; fall back otherwise.
    try:
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), size)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def cpu_ticks_seconds(pid):
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ns_seconds(pid):
    """Time on CPU of a process's live threads, in seconds (/proc/PID/task/*/schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total / 1e9


def cpu_sample(pid):
    try:
        ns = cpu_ns_seconds(pid)
    except OSError:
        ns = None
    return ns, cpu_ticks_seconds(pid)


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def receive(sessions, seconds, warmup, server_pid=None):
    sel = selectors.DefaultSelector()
    for s in sessions:
        if s.tcp:
            s.sock.setblocking(False)
            sel.register(s.sock, selectors.EVENT_READ, (s, "tcp"))
        else:
            sel.register(s.rtp, selectors.EVENT_READ, (s, "rtp"))
            sel.register(s.rtcp, selectors.EVENT_READ, (s, "rtcp"))
    t0 = time.monotonic()
    start = t0 + warmup
    end = start + seconds
    counting = False
    cpu = {}
    buf = bytearray(65536)
    view = memoryview(buf)
    while True:
        now = time.monotonic()
        if not counting and now >= start:
            counting = True
            for s in sessions:
                s.reset_counts()
            cpu["client_start"] = time.process_time()
            if server_pid:
                cpu["start"] = cpu_sample(server_pid)
        if now >= end:
            cpu["client"] = time.process_time() - cpu.get("client_start", 0.0)
            if server_pid:
                cpu["end"] = cpu_sample(server_pid)
                cpu["peak_rss_mb"] = peak_rss_mb(server_pid)
            break
        for key, _ in sel.select(timeout=min(0.05, end - now)):
            s, kind = key.data
            now = time.monotonic()
            try:
                if kind == "tcp":
                    s.on_tcp_readable(now, counting)
                    continue
                sock = key.fileobj
                while True:
                    try:
                        n = sock.recv_into(buf)
                    except BlockingIOError:
                        break
                    if kind == "rtp":
                        s.on_rtp(view[:n], now, counting)
            except (OSError, RtspError) as e:
                log(f"session {s.idx}: {e}")
                sel.unregister(key.fileobj)
                s.ok = False
    sel.close()
    return end - start, cpu


def summarize(args, sessions, window, setup_s, failed, cpu):
    ok = [s for s in sessions if s.ok]
    fps = sorted(s.frames / window for s in ok) or [0.0]
    jitter = []
    for s in ok:
        ts = s.frame_times
        if len(ts) >= 3:
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            jitter.append(statistics.pstdev(gaps) * 1000)
    # Lateness against the schedule the RTP timestamps give (90 kHz): frame k of a session is
    # due at t0 + (ts_k - ts_0) / 90000, with t0 placed where its most punctual frame arrived,
    # so lateness is how much later than that each frame ended (arrival of its marker packet).
    late = []
    for s in ok:
        if not s.frame_stamps:
            continue
        ts0 = s.frame_stamps[0]
        offsets = [t - ((ts - ts0) & 0xFFFFFFFF) / 90000 for t, ts in zip(s.frame_times, s.frame_stamps)]
        base = min(offsets)
        late.extend((o - base) * 1000 for o in offsets)
    late.sort()

    def pct(p):
        return round(late[min(len(late) - 1, max(0, int(-(-p * len(late) // 100)) - 1))], 3) if late else None

    packets = sum(s.packets for s in ok)
    lost = sum(s.lost for s in ok)
    out = {
        "lateness_ms": {"p50": pct(50), "p99": pct(99), "max": round(late[-1], 3) if late else None},
        "url": args.url,
        "transport": "tcp" if args.tcp else "udp",
        "sessions": args.sessions,
        "ok_sessions": len(ok),
        "failed_sessions": failed,
        "seconds": round(window, 3),
        "setup_seconds": round(setup_s, 3),
        "frames_per_s_per_session": {
            "min": round(fps[0], 2),
            "median": round(statistics.median(fps), 2),
            "max": round(fps[-1], 2),
        },
        "frames": sum(s.frames for s in ok),
        "packets": packets,
        "bytes": sum(s.bytes for s in ok),
        "lost": lost,
        "loss_ratio": round(lost / (packets + lost), 6) if packets + lost else 0.0,
        "interframe_jitter_ms": {
            "median": round(statistics.median(jitter), 3) if jitter else None,
            "max": round(max(jitter), 3) if jitter else None,
        },
        # Near 100 the client itself was the bottleneck: its counts then undercount delivery.
        "client_cpu_pct": round(cpu.get("client", 0.0) * 100 / window, 1),
    }
    if "end" in cpu:
        (ns0, t0), (ns1, t1) = cpu["start"], cpu["end"]
        used = ns1 - ns0 if ns0 is not None and ns1 is not None else t1 - t0
        out["server"] = {
            "pid": args.server_pid,
            "cpu_s": round(used, 4),
            "cpu_s_ticks": round(t1 - t0, 3),
            "cpu_ms_per_stream_s": round(used * 1000 / (len(ok) * window), 3) if ok else None,
            "peak_rss_mb": round(cpu["peak_rss_mb"], 1) if cpu["peak_rss_mb"] else None,
        }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tcp", action="store_true", help="RTP interleaved on the RTSP connection")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="seconds received but not counted once all sessions play (default 1)")
    ap.add_argument("--timeout", type=float, default=10.0, help="RTSP answer timeout, seconds")
    ap.add_argument("--server-pid", type=int,
                    help="report this local process's CPU time in the window and peak RSS")
    args = ap.parse_args()

    sessions, failed = [], 0
    t0 = time.monotonic()
    for i in range(args.sessions):
        try:
            s = Session(i, args.url, args.tcp, args.timeout)
        except OSError as e:
            log(f"session {i}: connect: {e}")
            failed += 1
            continue
        try:
            s.start()
            sessions.append(s)
        except (OSError, RtspError, ValueError) as e:
            log(f"session {i}: {e}")
            failed += 1
            s.close()
    setup_s = time.monotonic() - t0
    log(f"{len(sessions)}/{args.sessions} sessions playing after {setup_s:.2f} s")
    window, cpu = args.seconds, {}
    try:
        if sessions:
            window, cpu = receive(sessions, args.seconds, args.warmup, args.server_pid)
    finally:
        for s in sessions:
            if s.ok:
                s.teardown()
            s.close()
    print(json.dumps(summarize(args, sessions, window, setup_s, failed, cpu)), flush=True)
    return 0 if sessions and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
