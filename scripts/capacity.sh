#!/usr/bin/env bash
# Capacity test (issue 17): for each N, N RTSP sessions (DESCRIBE, SETUP, PLAY over UDP) of the
# seed movie against rtspd, then the GSO floor (a bare sender of the same packets to N streams,
# one sendmsg with UDP_SEGMENT per frame), then GStreamer's RTSP server (scripts/gst_rtsp_server.py,
# one shared pipeline) serving the same movie at the same rate; one Markdown table at the end.
#
# The load tool is benches/capacity (cargo bench --bench capacity -- --help): one receiver
# thread reads every session's RTP with recvmmsg and kernel receive timestamps (SO_TIMESTAMPNS),
# so its figures do not include its own reading delay. Per run it reports whole frames per
# second (the slowest session), lost packets, the lateness of each frame's first and last
# packet against its RTP schedule (p50/p99/max over every session's frames), the server's CPU
# per stream-second (schedstat of all its threads over the counted window) and peak RSS
# (VmHWM), and its own CPU and drops.
#
# Usage: scripts/capacity.sh N [N...]          (default: 1 100 500 2000)
# Environment: SECONDS_PER_RUN (10), WARMUP (2), FPS (24), GST_MAX (2000: larger N skip
# GStreamer), SKIP_GST=1, SKIP_FLOOR=1, FLOOR_PHASES (1: every floor stream due at once),
# CONCURRENCY (64: sessions being set up at once), TIMEOUT (30: seconds for an RTSP answer),
# NICE (-10 as root, else 0: servers, floor and tool run ahead of other work on a shared
# machine; NICE=0 measures without), TOOL_ARGS (more load tool options, e.g. --no-gro),
# KEEP=1 (keep the work folder).
#
# The tool receives with UDP_GRO: rtspd's and the floor's GSO sends reach it whole on loopback,
# so their kernel does not segment them or run the receive path per packet (it would over a
# NIC, in software GSO or the NIC's own). TOOL_ARGS=--no-gro measures with per-packet receive.
# Needs: cargo, python3, and for GStreamer /usr/bin/python3 with python3-gi and
# gir1.2-gst-rtsp-server-1.0.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ $# -gt 0 ]]; then SESSIONS=("$@"); else SESSIONS=(1 100 500 2000); fi
SECS=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-2}
FPS=${FPS:-24}
GST_MAX=${GST_MAX:-2000}
PHASES=${FLOOR_PHASES:-1}
CONCURRENCY=${CONCURRENCY:-64}
TIMEOUT=${TIMEOUT:-30}
if [[ $EUID == 0 ]]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi
read -r -a EXTRA <<<"${TOOL_ARGS:-}"
RUN=()
[[ $NICE != 0 ]] && RUN=(nice -n "$NICE")
PY=$(command -v python3)
GST_PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/capacity.XXXXXX")
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "capacity: work folder kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "capacity: $*" >&2; }
show() {
    printf '+' >&2
    printf ' %q' "$@" >&2
    printf '\n' >&2
}

for n in "${SESSIONS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/capacity.sh N [N...]" >&2; exit 2; }
done
max_n=0
for n in "${SESSIONS[@]}"; do ((n > max_n)) && max_n=$n; done

# Descriptors: the tool holds a TCP connection and, against GStreamer, two UDP sockets per
# session; each server one connection per session and more.
need=$((4 * max_n + 1024))
if (($(ulimit -n) < need)); then
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < need)); then
        log "ulimit -n: hard limit $hard is below the $need descriptors $max_n sessions need"
        ulimit -n "$hard"
    else
        ulimit -n "$need"
    fi
fi
log "ulimit -n $(ulimit -n)"

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

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

stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ---- build ----
log "building"
show cargo build --release --no-default-features --bin rtspd
cargo build --release --no-default-features --bin rtspd
show cargo bench --no-default-features --bench capacity --no-run
TOOL=$(cargo bench --no-default-features --bench capacity --no-run --message-format=json \
    | "$PY" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "capacity" and m.get("executable"):
        print(m["executable"])')
[[ -x $TOOL ]] || { log "no capacity executable"; exit 1; }
RTSPD=$(dirname "$(dirname "$TOOL")")/rtspd
[[ -x $RTSPD ]] || RTSPD=${CARGO_TARGET_DIR:-$ROOT/target}/release/rtspd
"$TOOL" # self-checks

MOVIE=${MOVIE:-../shared/seed/movie.Mjpeg}
[[ -f $MOVIE ]] || { log "no movie at $MOVIE (the seed's sample, relative to the repository)"; exit 1; }
mkdir -p "$WORK/media"
cp "$MOVIE" "$WORK/media/movie.Mjpeg"

HAVE_GST=1
if [[ ${SKIP_GST:-0} == 1 ]]; then
    HAVE_GST=0
elif ! "$GST_PY" -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null; then
    log "GStreamer's RTSP server bindings are missing (python3-gi, gir1.2-gst-rtsp-server-1.0)"
    HAVE_GST=0
fi

TARGS=(--seconds "$SECS" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --timeout "$TIMEOUT"
    "${EXTRA[@]}")
: >"$WORK/results.jsonl"

# load NAME N EXTRA...: runs the tool, keeps its JSON line.
load() {
    local name=$1 n=$2 out
    shift 2
    show "${RUN[@]}" "$TOOL" "$@" --sessions "$n" --label "$name" "${TARGS[@]}"
    if out=$("${RUN[@]}" "$TOOL" "$@" --sessions "$n" --label "$name" "${TARGS[@]}"); then
        echo "$out" | grep '^CAPACITY_JSON ' | sed 's/^CAPACITY_JSON //' >>"$WORK/results.jsonl"
        echo "$out" | grep -v '^CAPACITY_JSON ' >&2
    else
        log "$name, $n sessions: the load tool failed"
        echo "{\"label\":\"$name\",\"sessions\":$n,\"failed\":true}" >>"$WORK/results.jsonl"
    fi
}

for n in "${SESSIONS[@]}"; do
    port=$(free_port)
    log "rtspd, $n sessions"
    args=(--port "$port" --bind 127.0.0.1 --rtp-port 0 --media "$WORK/media" --fps "$FPS"
        --max-sessions $((n + 100)) --max-connections $((n + 100))
        --max-connections-per-peer $((n + 100)) --max-sessions-per-peer $((n + 100)))
    show "${RUN[@]}" "$RTSPD" "${args[@]}"
    "${RUN[@]}" "$RTSPD" "${args[@]}" >"$WORK/rtspd-$n.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$pid"
    load rtspd "$n" "rtsp://127.0.0.1:$port/movie.Mjpeg" --server-pid "$pid"
    stop "$pid"

    if [[ ${SKIP_FLOOR:-0} != 1 ]]; then
        log "GSO floor, $n streams"
        load "GSO floor" "$n" --floor --movie "$WORK/media/movie.Mjpeg" --fps "$FPS" \
            --phases "$PHASES"
    fi

    if [[ $HAVE_GST == 1 ]] && ((n <= GST_MAX)); then
        port=$(free_port)
        log "gst-rtsp-server, $n sessions"
        args=("$WORK/media/movie.Mjpeg" --port "$port" --fps "$FPS" --mount /movie.mjpeg)
        show "${RUN[@]}" "$GST_PY" scripts/gst_rtsp_server.py "${args[@]}"
        "${RUN[@]}" "$GST_PY" scripts/gst_rtsp_server.py "${args[@]}" >"$WORK/gst-$n.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_port "$port" "$pid"
        # Its shared pipeline sends every client the same packets (one SSRC) and sends once
        # to clients that share an address: each session needs its own port.
        load gst-rtsp-server "$n" "rtsp://127.0.0.1:$port/movie.mjpeg" --server-pid "$pid" \
            --port-per-session
        stop "$pid"
    fi
done

echo
echo "## Capacity, UDP on loopback, ${SECS} s counted per run (+${WARMUP} s warm-up), $FPS fps, $(nproc) cores, nice $NICE, $(date -u +%Y-%m-%d)"
echo
"$PY" - "$WORK/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
floor = {r["sessions"]: r.get("server_cpu_ms_per_stream_s") for r in rows if r["label"].startswith("GSO floor")}

def num(v, digits):
    return "-" if v is None else f"{v:.{digits}f}"

def late(d):
    return " / ".join("-" if d.get(k) is None else f"{d[k]:.2f}" for k in ("p50", "p99", "max"))

print("| server | sessions | whole fps/session min | lost packets | first packet late p50 / p99 / max ms "
      "| last packet late p50 / p99 / max ms | CPU ms per stream-second | x GSO floor | peak RSS MB "
      "| tool: receiver CPU %, drops | server waiting for a CPU, ms/s | rest of machine CPU % |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    n = r["sessions"]
    if r.get("failed"):
        print(f"| {r['label']} | {n} | failed | | | | | | | | | |")
        continue
    sessions = str(n) if r["playing"] == n else f"{r['playing']} of {n}"
    cpu = r.get("server_cpu_ms_per_stream_s")
    f = floor.get(n)
    ratio = f"{cpu / f:.2f}" if cpu and f else "-"
    rss = r.get("peak_rss_mb")
    rx = r["receiver"]
    print(f"| {r['label']} | {sessions} | {r['fps_min']:.1f} | {r['lost']} | {late(r['first_late_ms'])} "
          f"| {late(r['last_late_ms'])} | {'-' if cpu is None else f'{cpu:.3f}'} | {ratio} "
          f"| {'-' if rss is None else f'{rss:.1f}'} "
          f"| {rx['cpu_pct']:.1f} %, {rx['drops_window']} | {num(r.get('server_wait_ms_per_s'), 1)} "
          f"| {r['others_cpu_pct']:.0f} |")
print()
for r in rows:
    if r.get("failed"):
        continue
    rx = r["receiver"]
    print(f"- {r['label']}, {r['sessions']}: set-up {r['setup_s']:.2f} s; recvmmsg {rx['calls']} calls, "
          f"{rx['batch_mean']:.1f} messages a call (max {rx['batch_max']}, {rx['batch_full_pct']:.1f} % full), "
          f"read {rx['read_delay_us']['p50']} / {rx['read_delay_us']['p99']} µs after the kernel stamp (p50 / p99); "
          f"socket drops {rx['drops']} in the whole run; machine-wide UDP RcvbufErrors "
          f"{r['udp_rcvbuf_errors']['window']} in the window ({r['udp_rcvbuf_errors']['run']} in the run), "
          f"SndbufErrors {r['udp_sndbuf_errors_window']}; broken frames {r['broken_frames']}; "
          f"first-to-last packet p99 {r['frame_spread_ms']['p99']} ms; load average {r['loadavg']}")
EOF
echo
echo "Lateness: each session's schedule is anchored at its most punctual frame (lateness 0), so a"
echo "constant per-session delay is not counted. The floor and rtspd send from one thread; the"
echo "tool's receiver is pinned to the last CPU. CPU: schedstat of all the server's threads over"
echo "the window, over sessions x seconds (GStreamer's includes the Python interpreter hosting it)."
echo "Tool options: ${TARGS[*]} (UDP_GRO unless --no-gro); rest of machine: all CPUs' busy time"
echo "(/proc/stat) less the server's and the tool's, in % of one CPU."
