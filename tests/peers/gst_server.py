#!/usr/bin/env python3
"""GStreamer's RTSP server (gst-rtsp-server through python3-gi) serving a raw MJPEG file through
rtpjpegpay, as a second standard server for the player's interop tests.

usage: gst_server.py PORT FILE.avi   (prints "listening PORT" once ready)

The MJPEG goes in an AVI (`ffmpeg -f mjpeg -framerate 24 -i x.mjpeg -c copy x.avi`, the JPEGs
unchanged) because avidemux gives each frame its timestamp; a raw stream through jpegparse has
none, and the server would send it as fast as it could.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    port, path = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! avidemux ! rtpjpegpay name=pay0 pt=26 )'
    )
    server.get_mount_points().add_factory("/movie", factory)
    server.attach(None)
    print("listening", server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
