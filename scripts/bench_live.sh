#!/usr/bin/env bash
# Figures for live streams and relays (README, "Live streams and relays"), on this machine:
#
# 1. Publisher-to-reader latency added by rtspd: benches/live_latency.rs, in release, prints a
#    Markdown table (a Rust publisher at 24 fps of 640x480 -> rtspd -> a reader; and the same
#    publisher straight to the reader, the floor).
# 2. Readers per relay at full rate: an origin rtspd serving the movie, an edge rtspd relaying
#    it (--relay cam=...), and scripts/rtsp_load.py opening N UDP sessions on the edge's `cam`
#    for SECONDS_PER_RUN each: frames per second per session, loss, the edge's CPU per
#    stream-second and peak RSS, and the sessions the origin saw (always 1).
#
# Usage: scripts/bench_live.sh
# Environment: SESSIONS (default "100 500 1000"), SECONDS_PER_RUN (default 10), MOVIE (default
# the seed's sample, else the built-in test movie), BENCH_SKIP_LATENCY=1, BENCH_SKIP_RELAY=1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SESSIONS=${SESSIONS:-"100 500 1000"}
SECS=${SECONDS_PER_RUN:-10}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RTSPD=$TARGET/release/rtspd
PY=$(command -v python3)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-live.XXXXXX")
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "bench_live: $*" >&2; }
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 300); do
        if "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
            "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listening on port $1"
    return 1
}

if [[ ${BENCH_SKIP_LATENCY:-0} != 1 ]]; then
    log "latency (cargo bench --bench live_latency)"
    cargo bench --quiet --bench live_latency 2>/dev/null | grep '^|'
fi

[[ ${BENCH_SKIP_RELAY:-0} == 1 ]] && exit 0
cargo build --release --quiet --no-default-features --bin rtspd
mkdir -p "$WORK/media" "$WORK/edge"
MOVIE=${MOVIE:-}
if [[ -z $MOVIE && -f ../shared/seed/movie.Mjpeg ]]; then MOVIE=../shared/seed/movie.Mjpeg; fi
if [[ -n $MOVIE ]]; then cp "$MOVIE" "$WORK/media/movie.Mjpeg"; fi

echo
echo "| readers | fps per reader (median / min) | loss | edge CPU ms per stream-second | edge peak RSS | origin sessions |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in $SESSIONS; do
    origin=$(free_port)
    edge=$(free_port)
    "$RTSPD" --port "$origin" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media" \
        >"$WORK/origin.log" 2>&1 &
    PIDS+=($!)
    wait_port "$origin"
    "$RTSPD" --port "$edge" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/edge" \
        --relay "cam=rtsp://127.0.0.1:$origin/movie.Mjpeg" \
        --max-sessions $((n + 100)) --max-connections $((n + 100)) \
        --max-connections-per-peer $((n + 100)) --max-sessions-per-peer $((n + 100)) >"$WORK/edge.log" 2>&1 &
    edge_pid=$!
    PIDS+=("$edge_pid")
    wait_port "$edge"
    json=$("$PY" scripts/rtsp_load.py "rtsp://127.0.0.1:$edge/cam" --sessions "$n" \
        --seconds "$SECS" --warmup 1 --server-pid "$edge_pid") || true
    sessions=$(grep -c ': setup by ' "$WORK/origin.log" || true)
    "$PY" - "$n" "$sessions" "$json" <<'EOF'
import json, sys
n, origin, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
f, s = j["frames_per_s_per_session"], j.get("server", {})
print(f"| {n} | {f['median']} / {f['min']} | {j['loss_ratio'] * 100:.3f} % | "
      f"{s.get('cpu_ms_per_stream_s', '-')} | {s.get('peak_rss_mb', '-')} MB | {origin} |")
EOF
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
done
