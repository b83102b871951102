#!/usr/bin/env bash
# A scale-out set-up on one machine, from parts people already run: one origin rtspd, two relay
# edges (rtspd --relay), and HAProxy in TCP mode in front of the edges. Readers connect to
# HAProxy and use RTSP over TCP interleaved (a TCP balancer passes the RTSP connection, not the
# UDP that would follow it). See README.md, "Live streams and relays", for several machines.
#
#   scripts/cluster.sh            builds rtspd (release), starts everything, Ctrl-C stops it
#
# Then, for instance:
#   ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/movie       (a file on the origin)
#   ffmpeg -re -stream_loop -1 -f mjpeg -i X.mjpeg -c:v copy -f rtsp rtsp://127.0.0.1:8560/live/cam
#   ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/cam         (that live stream)
#
# Environment (all optional):
#   RTSPD=PATH              the rtspd binary (default: cargo build --release, target/release/rtspd)
#   CLUSTER_PORT=8554       where HAProxy listens (readers connect here)
#   CLUSTER_ORIGIN_PORT=8560
#   CLUSTER_EDGE_PORTS="8561 8562"
#   CLUSTER_MEDIA=DIR       the origin's media folder (default: media, the test movie if empty)
#   CLUSTER_DIR=DIR         logs and haproxy.cfg (default: a new folder under /tmp)
#   CLUSTER_BIND=127.0.0.1  the address every part listens on
#
# Prints "cluster: ready" once every part accepts connections; logs go to CLUSTER_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

front="${CLUSTER_PORT:-8554}"
origin_port="${CLUSTER_ORIGIN_PORT:-8560}"
read -r -a edge_ports <<<"${CLUSTER_EDGE_PORTS:-8561 8562}"
bind="${CLUSTER_BIND:-127.0.0.1}"
media="${CLUSTER_MEDIA:-media}"
dir="${CLUSTER_DIR:-$(mktemp -d /tmp/rtspd-cluster.XXXXXX)}"
mkdir -p "$dir" "$media"

command -v haproxy >/dev/null || {
  echo "cluster: haproxy is not installed (apt-get install haproxy; scripts/test.sh does)" >&2
  exit 1
}
if [ -z "${RTSPD:-}" ]; then
  cargo build --release --quiet --bin rtspd
  RTSPD=target/release/rtspd
fi

pids=()
stop() {
  trap - INT TERM EXIT
  # Only what this script started, by process id.
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 0' INT TERM

wait_port() {
  local port="$1" what="$2"
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/$bind/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "cluster: $what did not start on port $port (see $dir)" >&2
  exit 1
}

# The origin: the files in the media folder, and live paths publishers push to.
RUST_LOG="${RUST_LOG:-info}" "$RTSPD" --bind "$bind" --port "$origin_port" --rtp-port 0 \
  --media "$media" --publish >"$dir/origin.log" 2>&1 &
pids+=($!)
wait_port "$origin_port" origin

# The edges: each relays the origin's movie and its live camera, opening the origin on demand.
edge_media="$dir/edge-media"
mkdir -p "$edge_media"
i=0
for port in "${edge_ports[@]}"; do
  i=$((i + 1))
  RUST_LOG="${RUST_LOG:-info}" "$RTSPD" --bind "$bind" --port "$port" --rtp-port 0 \
    --media "$edge_media" \
    --relay "movie=rtsp://$bind:$origin_port/movie.Mjpeg" \
    --relay "cam=rtsp://$bind:$origin_port/live/cam" >"$dir/edge$i.log" 2>&1 &
  pids+=($!)
  wait_port "$port" "edge $i"
done

# HAProxy, TCP mode: an RTSP connection (and the interleaved RTP on it) goes to one edge for its
# whole life; leastconn spreads long-lived connections evenly.
{
  echo "global"
  # Two descriptors per connection: 4000 stays within a 10 000 descriptor limit.
  echo "    maxconn 4000"
  echo "defaults"
  echo "    mode tcp"
  echo "    timeout connect 5s"
  echo "    timeout client 1h"
  echo "    timeout server 1h"
  echo "frontend rtsp"
  echo "    bind $bind:$front"
  echo "    default_backend edges"
  echo "backend edges"
  echo "    balance leastconn"
  i=0
  for port in "${edge_ports[@]}"; do
    i=$((i + 1))
    echo "    server edge$i $bind:$port check inter 2s"
  done
} >"$dir/haproxy.cfg"
haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=($!)
wait_port "$front" haproxy

echo "cluster: ready: readers rtsp://$bind:$front/movie and rtsp://$bind:$front/cam" \
  "(RTSP over TCP); publish to rtsp://$bind:$origin_port/live/cam; logs in $dir"
wait
