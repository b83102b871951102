#!/usr/bin/env bash
# rtspd's CPU with 1 and with 20 multicast viewers of one movie, against 20 unicast viewers, in a
# network namespace of its own (unshare -n, root; loopback up, 224.0.0.0/4 routed to it), so
# nothing leaves the machine.
#
# On loopback the kernel bills the copy of each multicast datagram to every joined socket to the
# sender, so the viewers here are N RTSP sessions of which ONE socket joins the group (on a LAN
# the switch does the copying). The unicast row has N sessions each receiving its own stream.
# CPU is the server's threads' schedstat time over the counted window, per second of the window.
#
# Usage: scripts/multicast_cpu.sh            (SECONDS_PER_RUN=10, VIEWERS="1 20")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ ${MCAST_IN_NETNS:-} != 1 ]]; then
    cargo build --release --no-default-features --bin rtspd >&2
    exec unshare -n env MCAST_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ip route add 224.0.0.0/4 dev lo
SECS=${SECONDS_PER_RUN:-10}
VIEWERS=${VIEWERS:-"1 20"}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcast.XXXXXX")
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/media"
MOVIE=${MOVIE:-../shared/seed/movie.Mjpeg}
[[ -f $MOVIE ]] || { echo "multicast_cpu: no movie at $MOVIE (set MOVIE=)" >&2; exit 1; }
cp "$MOVIE" "$WORK/media/movie.Mjpeg"
target/release/rtspd --port 8554 --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media" \
    --multicast 239.255.42.0/24 --max-connections-per-peer 4096 >"$WORK/rtspd.log" 2>&1 &
PID=$!
sleep 0.5

echo "| viewers | transport | sockets receiving | packets received/s | rtspd CPU ms per second | per viewer-second |"
echo "|---:|---|---:|---:|---:|---:|"
for n in $VIEWERS; do
    for transport in multicast unicast; do
        [[ $transport == unicast && $n == 1 ]] && continue
        python3 - "$PID" "$n" "$transport" "$SECS" <<'EOF'
import re, socket, struct, sys, time
pid, n, transport, secs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def cpu_ns():
    total = 0
    import os
    for t in os.listdir(f"/proc/{pid}/task"):
        total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
    return total

conns, socks = [], []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", 8554))
    url = "rtsp://127.0.0.1:8554/movie.Mjpeg"
    if transport == "multicast":
        t = "RTP/AVP;multicast"
    else:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        u.bind(("127.0.0.1", 0))
        p = u.getsockname()[1]
        socks.append(u)
        t = f"RTP/AVP;unicast;client_port={p}-{p+1}"
    c.sendall(f"SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: {t}\r\n\r\n".encode())
    reply = c.recv(4096).decode()
    sid = re.search(r"Session: (\d+)", reply).group(1)
    if transport == "multicast" and i == 0:
        m = re.search(r"destination=([\d.]+);port=(\d+)", reply)
        group, port = m.group(1), int(m.group(2))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        u.bind((group, port))
        u.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0")))
        socks.append(u)
    c.sendall(f"PLAY {url} RTSP/1.0\r\nCSeq: 2\r\nSession: {sid}\r\n\r\n".encode())
    c.recv(4096)
    conns.append((c, sid))
for s in socks:
    s.setblocking(False)

def drain():
    got = 0
    for s in socks:
        while True:
            try:
                s.recv(65536)
                got += 1
            except BlockingIOError:
                break
    return got

end = time.time() + 1.0
while time.time() < end:
    drain(); time.sleep(0.005)
c0, t0, got = cpu_ns(), time.time(), 0
while time.time() - t0 < secs:
    got += drain(); time.sleep(0.005)
c1, t1 = cpu_ns(), time.time()
ms = (c1 - c0) / 1e6 / (t1 - t0)
print(f"| {n} | {transport} | {len(socks)} | {got / (t1 - t0):.0f} | {ms:.2f} | {ms / n:.3f} |")
for c, sid in conns:
    c.sendall(f"TEARDOWN rtsp://127.0.0.1:8554/movie.Mjpeg RTSP/1.0\r\nCSeq: 3\r\nSession: {sid}\r\n\r\n".encode())
    c.close()
EOF
        sleep 0.5
    done
done
