#!/usr/bin/env bash
# Server benchmark, one run, one Markdown table: N RTSP sessions (UDP unicast; default N = 1, 10,
# 100) against rtspd, then against GStreamer's RTSP server (scripts/gst_rtsp_server.py:
# gst-rtsp-server through python3-gi, appsrc ! jpegparse ! rtpjpegpay, one shared pipeline)
# serving the same frames at the same rate, on loopback. Per run: frames per second each session
# received (median), RTP loss, the server's CPU time per stream-second and its peak RSS; then
# the CPU ratio GStreamer / rtspd. Then the criterion benches of the core (benches/core.rs).
#
# The load client is scripts/rtsp_load.py (Python stdlib: DESCRIBE, SETUP, PLAY per session, one
# selector loop, TEARDOWN). It counts over SECONDS_PER_RUN after a 1 s warm-up once every
# session plays, and reads the server's CPU time at the start and end of that window ("steady"
# CPU: the sum of the server's threads' /proc/PID/task/*/schedstat, in ns, as utime+stime moves
# in 10 ms ticks). The "whole run" CPU column is utime+stime (/proc/PID/stat, getconf CLK_TCK)
# taken by this script around the whole client run (connect, set-up, warm-up, window, TEARDOWN),
# divided by N x (warm-up + window): it includes session set-up and teardown.
#
# Usage: scripts/bench.sh
# Environment: SESSIONS (default "1 10 100"), SECONDS_PER_RUN (default 10), FPS (default 24),
# TRANSPORT=tcp (RTP interleaved on the RTSP connection instead of UDP), BENCH_SKIP_CRITERION=1,
# BENCH_SKIP_GST=1, KEEP=1 (keep the work folder).
# Needs: cargo, python3 (any; the client is stdlib only), /usr/bin/python3 with python3-gi and
# gir1.2-gst-rtsp-server-1.0 (scripts/test.sh installs them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SESSIONS=${SESSIONS:-"1 10 100"}
SECS=${SECONDS_PER_RUN:-10}
FPS=${FPS:-24}
WARMUP=1
TRANSPORT=${TRANSPORT:-udp}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RTSPD=$TARGET/release/rtspd
PY=$(command -v python3)
GST_PY=/usr/bin/python3
TICKS=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            # A server that ignores SIGTERM for 3 s gets SIGKILL.
            for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "bench: work folder kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "bench: $*" >&2; }
# Prints a command as it could be pasted; `run` then runs it (not for `&`: the PID must be the
# server's own, so background commands are started directly after `show`).
show() {
    printf '+' >&2
    printf ' %q' "$@" >&2
    printf '\n' >&2
}
run() {
    show "$@"
    "$@"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID: until something accepts on 127.0.0.1:PORT (fails if PID dies first).
wait_port() {
    local port=$1 pid=$2
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { log "server $pid exited before listening on $port"; return 1; }
        if "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
            "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listening on port $port after 30 s"
    return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ---- build, movie ----
log "building"
run cargo build --release --no-default-features --bin rtspd

mkdir -p "$WORK/media"
# The movie: $MOVIE, else the seed's sample (what the issue's targets are set on), else
# media/movie.Mjpeg, else the built-in test movie.
MOVIE=${MOVIE:-}
if [[ -z $MOVIE && -f ../shared/seed/movie.Mjpeg ]]; then MOVIE=../shared/seed/movie.Mjpeg; fi
if [[ -z $MOVIE && -f media/movie.Mjpeg ]]; then MOVIE=media/movie.Mjpeg; fi
if [[ -n $MOVIE ]]; then
    run cp "$MOVIE" "$WORK/media/movie.Mjpeg"
else
    # rtspd writes the built-in test movie into a folder without one, then listens.
    port=$(free_port)
    show "$RTSPD" --port "$port" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media"
    "$RTSPD" --port "$port" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media" \
        >"$WORK/rtspd-init.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$pid"
    stop "$pid"
fi
[[ -f $WORK/media/movie.Mjpeg ]] || { log "no movie in $WORK/media"; exit 1; }
# The same frames as a raw MJPEG stream (JPEGs back to back) for GStreamer.
"$PY" - "$WORK/media/movie.Mjpeg" "$WORK/movie.mjpeg" <<'EOF'
import sys
data, out, i, n = open(sys.argv[1], "rb").read(), bytearray(), 0, 0
while i + 5 <= len(data):  # lab format: 5 ASCII digits of length, then the JPEG
    size = int(data[i:i + 5])
    out += data[i + 5:i + 5 + size]
    i, n = i + 5 + size, n + 1
open(sys.argv[2], "wb").write(out)
print(f"bench: movie: {n} frames, {len(out) / n / 1024:.1f} KiB a frame on average", file=sys.stderr)
EOF

HAVE_GST=1
if [[ ${BENCH_SKIP_GST:-0} == 1 ]]; then
    HAVE_GST=0
elif ! "$GST_PY" -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null; then
    log "GStreamer's RTSP server bindings are missing (python3-gi, gir1.2-gst-rtsp-server-1.0): rtspd only"
    HAVE_GST=0
fi

LOAD_ARGS=(--seconds "$SECS" --warmup "$WARMUP")
[[ $TRANSPORT == tcp ]] && LOAD_ARGS+=(--tcp)

# load NAME PID URL N: runs the client, appends "NAME N fps loss% steady whole rss" to rows.
load() {
    local name=$1 pid=$2 url=$3 n=$4 before after json
    before=$(cpu_ticks "$pid")
    # Exit status 1 when some session failed: the summary still counts the others.
    json=$(run "$PY" scripts/rtsp_load.py "$url" --sessions "$n" --server-pid "$pid" \
        "${LOAD_ARGS[@]}") || true
    if [[ $json != "{"* ]]; then
        log "$name, $n sessions: the load client gave no summary"
        echo "$name $n - - - - -" >>"$WORK/rows"
        return 0
    fi
    after=$(cpu_ticks "$pid")
    echo "$json" >>"$WORK/load.jsonl"
    log "$json"
    "$PY" - "$name" "$n" "$((after - before))" "$TICKS" "$((SECS + WARMUP))" "$json" >>"$WORK/rows" <<'EOF'
import json, sys
name, n, ticks, hz, secs, j = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), json.loads(sys.argv[6])
srv = j.get("server", {})
ok = j["ok_sessions"]
whole = ticks * 1000 / hz / (ok * secs) if ok else float("nan")
print(name, n, j["frames_per_s_per_session"]["median"], f"{j['loss_ratio'] * 100:.3f}",
      srv.get("cpu_ms_per_stream_s", "-"), f"{whole:.2f}", srv.get("peak_rss_mb", "-"),
      j["frames_per_s_per_session"]["min"], ok, j.get("client_cpu_pct", "-"),
      *(j.get("lateness_ms", {}).get(k, "-") for k in ("p50", "p99", "max")))
EOF
}

: >"$WORK/rows"
for n in $SESSIONS; do
    port=$(free_port)
    log "rtspd, $n sessions"
    args=(--port "$port" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media" --fps "$FPS"
        --max-sessions $((n + 100)) --max-connections $((n + 100))
        --max-connections-per-peer $((n + 100)) --max-sessions-per-peer $((n + 100)))
    show "$RTSPD" "${args[@]}"
    "$RTSPD" "${args[@]}" >"$WORK/rtspd-$n.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$pid"
    load rtspd "$pid" "rtsp://127.0.0.1:$port/movie.Mjpeg" "$n"
    stop "$pid"

    if [[ $HAVE_GST == 1 ]]; then
        port=$(free_port)
        log "gst-rtsp-server, $n sessions"
        args=("$WORK/movie.mjpeg" --port "$port" --fps "$FPS" --mount /movie.mjpeg)
        show "$GST_PY" scripts/gst_rtsp_server.py "${args[@]}"
        "$GST_PY" scripts/gst_rtsp_server.py "${args[@]}" >"$WORK/gst-$n.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_port "$port" "$pid"
        head -1 "$WORK/gst-$n.log" >&2
        load gst-rtsp-server "$pid" "rtsp://127.0.0.1:$port/movie.mjpeg" "$n"
        stop "$pid"
    fi
done

echo
echo "## RTSP load, $TRANSPORT, ${SECS} s counted per run (+${WARMUP} s warm-up), $FPS fps, $(nproc) cores"
echo
"$PY" - "$WORK/rows" "$FPS" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
fps_target = float(sys.argv[2])
notes = []
steady = {(r[0], r[1]): r[4] for r in rows}
print("| server | sessions | fps/session (median) | fps/session (min) | loss % "
      "| CPU ms per stream-second (steady) | CPU ms per stream-second (whole run) "
      "| peak RSS MB | CPU gst/rtspd | load client CPU % | lateness p50 / p99 / max ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    name, n, fps, loss, cpu, whole, rss = r[:7]
    fps_min = r[7] if len(r) > 7 else "-"
    client = r[9] if len(r) > 9 else "-"
    late = " / ".join(r[10:13]) if len(r) > 12 else "-"
    ratio = ""
    if name != "rtspd":
        try:
            ratio = f"{float(cpu) / float(steady[('rtspd', n)]):.1f}x"
        except (KeyError, ValueError, ZeroDivisionError):
            ratio = "-"
    print(f"| {name} | {n} | {fps} | {fps_min} | {loss} | {cpu} | {whole} | {rss} | {ratio} | {client} | {late} |")
    try:
        if float(fps) < 0.95 * fps_target and float(client) < 80:
            notes.append(f"{name} at {n} sessions delivered {fps} fps a session (of {fps_target:g}) "
                         f"while the load client was at {client} % CPU: the server fell short, "
                         "and its CPU per stream-second is that of the frames it did send.")
    except ValueError:
        pass
for note in notes:
    print(f"\nNote: {note}")
EOF
echo
echo "rtspd: target/release/rtspd (--no-default-features). gst-rtsp-server: scripts/gst_rtsp_server.py,"
echo "shared factory (one pipeline for every client), in /usr/bin/python3 (its CPU and RSS include"
echo "the interpreter). Steady CPU: the server's threads' schedstat over the counted window; whole"
echo "run: utime+stime (/proc/PID/stat, $TICKS ticks/s) over the client's run incl. set-up/teardown."
echo "fps counts frames by arrival in the window: with the load client near 100 % CPU it undercounts."

if [[ ${BENCH_SKIP_CRITERION:-0} != 1 ]]; then
    echo
    echo "## cargo bench --bench core"
    echo
    # Criterion's own lines (its "change" lines against an earlier run left out), then a table
    # of the medians from target/criterion/GROUP/BENCH/new/{estimates,benchmark}.json.
    run cargo bench --bench core 2>&1 | tee "$WORK/criterion.log" | awk '
        /^Benchmarking|^Found|^  [0-9]+ \(/ { next }
        /^core bench/ { print; next }
        /^[a-z_0-9]+\/[^ ]+/ { print; t = ($0 ~ /time:/); h = 0; next }
        /time:/ && !t { print; t = 1; next }
        /thrpt:/ && !h { print; h = 1; next }
        /panicked|^error/ { print }'
    echo
    "$PY" - "$TARGET/criterion" <<'EOF'
import json, os, sys
root = sys.argv[1]
groups = ["rtsp_parse", "rtsp_write", "rtp_packetize", "rtp_depacketize", "timer_wheel",
          "jpeg_decode", "movie_open"]

def t(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"

print("| benchmark | median time | median throughput |")
print("|---|---:|---:|")
for g in groups:
    gdir = os.path.join(root, g)
    if not os.path.isdir(gdir):
        continue
    for b in sorted(os.listdir(gdir)):
        new = os.path.join(gdir, b, "new")
        try:
            with open(os.path.join(new, "estimates.json")) as f:
                med = json.load(f)["median"]["point_estimate"]
            with open(os.path.join(new, "benchmark.json")) as f:
                thr = json.load(f).get("throughput") or {}
        except (OSError, ValueError, KeyError):
            continue
        if "Bytes" in thr:
            rate = thr["Bytes"] / (med / 1e9)
            tp = f"{rate / 2**30:.2f} GiB/s" if rate >= 2**30 else f"{rate / 2**20:.1f} MiB/s"
        elif "Elements" in thr:
            tp = f"{thr['Elements'] / (med / 1e9) / 1e6:.2f} M elements/s"
        else:
            tp = "-"
        print(f"| {g}/{b} | {t(med)} | {tp} |")
EOF
fi
