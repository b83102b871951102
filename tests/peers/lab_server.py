#!/usr/bin/env python3
"""The classic lab server's behaviour (Server.py / ServerWorker.py / VideoStream.py), for testing
the player's fallback: it answers only SETUP, PLAY, PAUSE and TEARDOWN, ignores anything else
(DESCRIBE gets no answer at all), replies `RTSP/1.0 200 OK\\nCSeq: N\\nSession: ID` with no
blank line, reads the client's RTP port as the 4th space-separated word of the request's third
line, and sends one whole JPEG per RTP packet every 50 ms, sequence number = frame number.

usage: lab_server.py PORT MOVIE  (prints "listening PORT" once ready; PORT 0 picks one)
"""
import random
import socket
import sys
import threading


def frames(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        n = int(data[i:i + 5])
        yield data[i + 5:i + 5 + n]
        i += 5 + n


def rtp_packet(seq, payload):
    header = bytearray(12)
    header[0] = 2 << 6
    header[1] = 26
    header[2] = (seq >> 8) & 0xFF
    header[3] = seq & 0xFF
    return bytes(header) + payload


def serve(conn, addr, movie):
    session = random.randint(100000, 999999)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client_port = None
    playing = threading.Event()
    stop = threading.Event()
    all_frames = list(frames(movie))

    def send_frames():
        n = 0
        while not stop.is_set():
            if not playing.wait(0.05):
                continue
            if stop.wait(0.05):
                break
            if not playing.is_set():
                continue
            frame = all_frames[n % len(all_frames)]
            n += 1
            rtp.sendto(rtp_packet(n & 0xFFFF, frame), (addr[0], client_port))

    sender = None
    while True:
        data = conn.recv(256)
        if not data:
            break
        lines = data.decode().split("\n")
        words = lines[0].split(" ")
        kind = words[0]
        seq = lines[1].split(" ")[1]
        if kind == "SETUP":
            client_port = int(lines[2].split(" ")[3])
            sender = threading.Thread(target=send_frames, daemon=True)
            sender.start()
        elif kind == "PLAY":
            playing.set()
        elif kind == "PAUSE":
            playing.clear()
        elif kind == "TEARDOWN":
            playing.clear()
            stop.set()
        else:
            continue  # the lab server ignores what it does not know
        conn.send(f"RTSP/1.0 200 OK\nCSeq: {seq}\nSession: {session}".encode())
    stop.set()
    conn.close()


def main():
    port, movie = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(5)
    print("listening", srv.getsockname()[1], flush=True)
    while True:
        conn, addr = srv.accept()
        threading.Thread(target=serve, args=(conn, addr, movie), daemon=True).start()


if __name__ == "__main__":
    main()
