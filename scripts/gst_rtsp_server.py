#!/usr/bin/python3
"""GStreamer's RTSP server (gst-rtsp-server) serving an MJPEG file in a loop, for comparison.

    gst_rtsp_server.py FILE [--port 8554] [--fps 24] [--mount /movie.mjpeg] [--not-shared]

FILE is a raw MJPEG stream (JPEG files back to back, SOI to EOI, as `ffmpeg -f mjpeg` writes) or
the lab format (a 5-digit length before each JPEG). Its frames are read into memory and fed,
looping, to

    ( appsrc name=src is-live=false format=time caps=image/jpeg,framerate=FPS/1
      ! jpegparse ! rtpjpegpay name=pay0 pt=26 )

each frame a buffer with PTS = n/FPS, so the server's sinks (which sync to the clock) send FPS
frames a second. Why not multifilesrc: neither multifilesrc nor jpegparse (GStreamer 1.22)
timestamps buffers, whether given the concatenated file (jpegparse splits it, every piece but the
first without PTS) or one file per frame, so the server sends the whole movie as fast as it can:
`ffmpeg -i rtsp://... -frames:v 48 -f null -` finishes in 0.17 s with losses. The per-frame cost
in Python is one `need-data` callback and one buffer wrap (no copy) per frame, per pipeline.

By default the media factory is shared (one pipeline, every client added to its
multiudpsink), as a broadcast server would run; --not-shared gives each client its own pipeline.

Needs /usr/bin/python3 with python3-gi and gir1.2-gst-rtsp-server-1.0. Prints one line
`gst_rtsp_server: serving rtsp://HOST:PORT/MOUNT (...)` on stdout once listening.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def split_frames(data):
    """JPEG frames of a lab-format or raw MJPEG file."""
    frames = []
    if data[:5].isdigit():
        i = 0
        while i + 5 <= len(data):
            n = int(data[i:i + 5])
            frames.append(data[i + 5:i + 5 + n])
            i += 5 + n
        return frames
    # Raw: split at each SOI that follows an EOI. Scan data cannot hold FF D9 (byte stuffing),
    # so EOI followed by SOI is a frame boundary.
    start = data.find(b"\xff\xd8")
    while start >= 0:
        end = data.find(b"\xff\xd9\xff\xd8", start + 2)
        if end < 0:
            frames.append(data[start:])
            break
        frames.append(data[start:end + 2])
        start = end + 2
    return frames


class Feeder:
    """Feeds one pipeline's appsrc: frame n with PTS n/fps, round and round the movie."""

    def __init__(self, frames, fps):
        self.frames = frames
        self.duration = Gst.SECOND // fps
        self.fps = fps
        self.n = 0

    def need_data(self, src, _length):
        data = self.frames[self.n % len(self.frames)]
        buf = Gst.Buffer.new_wrapped_bytes(data)
        buf.pts = buf.dts = self.n * Gst.SECOND // self.fps
        buf.duration = self.duration
        self.n += 1
        src.emit("push-buffer", buf)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--mount", default="/movie.mjpeg")
    ap.add_argument("--not-shared", action="store_true", help="one pipeline per client")
    args = ap.parse_args()

    Gst.init(None)
    with open(args.file, "rb") as f:
        frames = [GLib.Bytes.new(fr) for fr in split_frames(f.read())]
    if not frames:
        sys.exit(f"gst_rtsp_server: no JPEG frames in {args.file}")

    launch = (
        "( appsrc name=src is-live=false format=time "
        f"caps=image/jpeg,framerate={args.fps}/1 "
        "! jpegparse ! rtpjpegpay name=pay0 pt=26 )"
    )
    server = GstRtspServer.RTSPServer()
    server.set_address(args.bind)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(not args.not_shared)
    feeders = []

    def configure(_factory, media):
        src = media.get_element().get_by_name("src")
        feeder = Feeder(frames, args.fps)
        feeders.append(feeder)  # keep it alive as long as the server
        src.connect("need-data", feeder.need_data)

    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        sys.exit(f"gst_rtsp_server: cannot listen on {args.bind}:{args.port}")

    loop = GLib.MainLoop()

    def stop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, stop)
    # Clean out sessions whose clients vanished (the pool does it only when asked).
    GLib.timeout_add_seconds(2, lambda: server.get_session_pool().cleanup() >= 0)

    sharing = "not shared: one pipeline per client" if args.not_shared else "shared: one pipeline"
    print(
        f"gst_rtsp_server: serving rtsp://{args.bind}:{server.get_bound_port()}{args.mount} "
        f"({len(frames)} frames at {args.fps} fps, looping; factory {sharing}; "
        f"{Gst.version_string()}): {launch}",
        flush=True,
    )
    loop.run()


if __name__ == "__main__":
    main()
