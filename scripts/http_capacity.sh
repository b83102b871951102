#!/usr/bin/env bash
# MJPEG-to-browser capacity: N concurrent /mjpeg/ viewers of one movie against a release rtspd
# on loopback, from one load process (examples/mjpeg_load.rs: one mio thread, every part checked
# whole). Per run: frames per second per viewer (min, 1st percentile, median), throughput, and
# the server's CPU time per viewer-second over the counted window (the sum of its threads'
# /proc/PID/task/*/schedstat, as scripts/bench.sh measures RTP's CPU per stream-second).
# Fails when any viewer falls under MIN_FPS or a part arrives torn.
#
# Usage: scripts/http_capacity.sh
# Environment: VIEWERS (default "100 1000"), SECONDS_PER_RUN (default 10), WARMUP (default 2),
# MIN_FPS (default 23), MOVIE (default ../shared/seed/movie.Mjpeg, else the built-in test movie).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VIEWERS=${VIEWERS:-"100 1000"}
SECS=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-2}
MIN_FPS=${MIN_FPS:-23}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/http-capacity.XXXXXX")
SERVER_PID=""

cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
log() { echo "http_capacity: $*" >&2; }

# Each viewer is a socket at both ends.
max=$(( $(echo "$VIEWERS" | tr ' ' '\n' | sort -n | tail -1) * 2 + 256 ))
if [[ $(ulimit -n) -lt $max ]]; then
    ulimit -n "$max" 2>/dev/null || { log "ulimit -n is $(ulimit -n); $max needed"; exit 1; }
fi

log "building (release)"
cargo build --release --quiet --no-default-features --bin rtspd --example mjpeg_load
mkdir -p "$WORK/media"
MOVIE=${MOVIE:-}
if [[ -z $MOVIE && -f ../shared/seed/movie.Mjpeg ]]; then MOVIE=../shared/seed/movie.Mjpeg; fi
if [[ -n $MOVIE ]]; then
    cp "$MOVIE" "$WORK/media/movie.Mjpeg"
    log "movie: $MOVIE"
else
    log "movie: the built-in test movie (rtspd writes it)"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
top=$(echo "$VIEWERS" | tr ' ' '\n' | sort -n | tail -1)
# One address opens every viewer, so the per-address limit is raised to let it.
"$TARGET/release/rtspd" --port "$port" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media" \
    --max-connections-per-peer $((top + 16)) --max-connections $((top + 64)) \
    >"$WORK/rtspd.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$port" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# The server's own count of frames it could not send because a viewer's socket was full.
skipped() {
    python3 -c 'import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode()
print(next(l.split()[1] for l in text.splitlines() if l.startswith("rtspd_http_frames_skipped_total ")))' "$port"
}

echo "| viewers | fps/viewer min / p1 / median | throughput | torn parts | frames the server skipped | server CPU ms per viewer-second | server CPU (one core) |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
status=0
for n in $VIEWERS; do
    before=$(skipped)
    json=$("$TARGET/release/examples/mjpeg_load" --addr "127.0.0.1:$port" --path /mjpeg/movie.Mjpeg \
        --viewers "$n" --seconds "$SECS" --warmup "$WARMUP" --pid "$SERVER_PID")
    after=$(skipped)
    python3 - "$json" "$MIN_FPS" "$before" "$after" <<'PY' || status=1
import json, sys
r = json.loads(sys.argv[1]); floor = float(sys.argv[2])
skipped = float(sys.argv[4]) - float(sys.argv[3])
print(f"| {r['viewers']} | {r['fps_min']:.2f} / {r['fps_p1']:.2f} / {r['fps_median']:.2f} "
      f"| {r['mbit_per_s']:.0f} Mbit/s | {r['malformed']} | {skipped:.0f} "
      f"| {r['server_cpu_ms_per_viewer_second']:.3f} | {r['server_cpu_percent']:.1f} % |")
if r["fps_min"] < floor or r["malformed"] or r["closed"]:
    print(f"http_capacity: FAILED at {r['viewers']} viewers: {r}", file=sys.stderr)
    sys.exit(1)
PY
    sleep 1  # the previous viewers' connections close
done
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
