#!/usr/bin/env python3
"""The classic lab client's network code (Client.py / RtpPacket.py), without its Tk window.

It speaks the same loose RTSP dialect byte for byte: relative URL, LF line ends, no blank line
at the end of a request, `Transport: RTP/UDP; client_port= PORT`; it reads the CSeq from the
reply's second line and the session id from the third with int(); it takes each RTP datagram
(read with recv(20480)) as a whole JPEG after a 12-byte header.

usage: lab_client.py SERVER PORT RTP_PORT FILE FRAMES OUTDIR
Writes frame-N.jpg for the first FRAMES frames and prints one line per reply and a summary.
"""
import os
import socket
import sys


def request(sock, text):
    sock.send(text.encode())
    data = sock.recv(256).decode()
    lines = data.split("\n")
    seq = int(lines[1].split(" ")[1])
    session = int(lines[2].split(" ")[1])
    status = int(lines[0].split(" ")[1])
    print("reply", status, "cseq", seq, "session", session, flush=True)
    return status, seq, session


def main():
    server, port, rtp_port, name, frames, outdir = sys.argv[1:7]
    port, rtp_port, frames = int(port), int(rtp_port), int(frames)
    rtsp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    rtsp.connect((server, port))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.settimeout(3)
    rtp.bind(("", rtp_port))

    status, seq, session = request(
        rtsp, f"SETUP {name} RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= {rtp_port}")
    assert status == 200 and seq == 1, (status, seq)
    status, seq, s2 = request(rtsp, f"PLAY {name} RTSP/1.0\nCSeq: 2\nSession: {session}")
    assert status == 200 and seq == 2 and s2 == session

    got = 0
    last = 0
    while got < frames:
        data = rtp.recv(20480)
        header = bytearray(data[:12])
        version = header[0] >> 6
        seqnum = header[2] << 8 | header[3]
        payload_type = header[1] & 127
        assert version == 2 and payload_type == 26, (version, payload_type)
        if seqnum > last:  # Client.py discards late and repeated frames this way
            last = seqnum
            with open(os.path.join(outdir, f"frame-{got}.jpg"), "wb") as f:
                f.write(data[12:])
            got += 1

    status, seq, _ = request(rtsp, f"PAUSE {name} RTSP/1.0\nCSeq: 3\nSession: {session}")
    assert status == 200 and seq == 3
    status, seq, _ = request(rtsp, f"TEARDOWN {name} RTSP/1.0\nCSeq: 4\nSession: {session}")
    assert status == 200 and seq == 4
    print("frames", got, "last sequence", last, flush=True)


if __name__ == "__main__":
    main()
