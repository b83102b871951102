#!/usr/bin/env python3
"""GStreamer's RTSP server (gst-rtsp-server through python3-gi) serving a raw MJPEG file through
rtpjpegpay, as a second standard server for the player's interop tests.

usage: gst_server.py PORT FILE.avi [multicast] [address=A]   (prints "listening PORT" once ready)

It listens on 127.0.0.1, or on A. With `multicast`, it offers only UDP multicast
(RTP/AVP;multicast) from an address pool of 239.255.42.1-10, ports 5000-5010, TTL 1, with one
shared pipeline for every viewer. (It binds the group's ports itself without SO_REUSEADDR, so its
viewers must be on another host, or in another network namespace.)

The MJPEG goes in an AVI (`ffmpeg -f mjpeg -framerate 24 -i x.mjpeg -c copy x.avi`, the JPEGs
unchanged) because avidemux gives each frame its timestamp; a raw stream through jpegparse has
none, and the server would send it as fast as it could.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main():
    port, path, options = sys.argv[1], sys.argv[2], sys.argv[3:]
    multicast = "multicast" in options
    address = "127.0.0.1"
    for o in options:
        if o.startswith("address="):
            address = o.split("=", 1)[1]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(address)
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! avidemux ! rtpjpegpay name=pay0 pt=26 )'
    )
    if multicast:
        pool = GstRtspServer.RTSPAddressPool()
        pool.add_range("239.255.42.1", "239.255.42.10", 5000, 5010, 1)
        factory.set_address_pool(pool)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP_MCAST)
        factory.set_shared(True)
    server.get_mount_points().add_factory("/movie", factory)
    server.attach(None)
    print("listening", server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
