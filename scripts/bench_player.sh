#!/usr/bin/env bash
# Player benchmark, one run, one Markdown table:
#   - decode throughput on one core at 640x480 and 1920x1088 (the test movie needs multiples of
#     16, so 1088 stands in for 1080): ffmpeg -threads 1 on the same frames, zune-jpeg alone, the
#     player's depacketize+decode, SDL upload+present (criterion, benches/player.rs);
#   - network-to-screen latency (last packet of a frame received to presented) p50/p99 and time
#     to first frame (main() to first decoded frame and to first frame on screen, and process
#     spawn to first frame on screen) of rtsp-sdl headless and windowed (Xvfb, SDL software
#     renderer), against rtspd on loopback; with a player that has --timings, the median time of
#     each step to the first frame and each frame's latency split into decode, queue, upload and
#     present (p50/p99);
#   - time to first frame of ffmpeg and gst-launch-1.0 rtspsrc on the same stream.
#
# Usage: scripts/bench_player.sh
# Environment: RUNS (repetitions, median reported; default 5), SIZES (default
# "640x480 1920x1088"), FRAMES (frames per player run, default 48), SKIP_CRITERION=1 (reuse the
# last `cargo bench --bench player` results), SKIP_PEERS=1 (no ffmpeg/GStreamer rows),
# PLAYER_BIN (another rtsp-sdl to measure, say an older build, against the same rtspd),
# KEEP=1 (keep the work folder).
# Needs: cargo, python3, ffmpeg, gst-launch-1.0 (good plugins: rtspsrc, rtpjpegdepay, jpegdec),
# Xvfb. A missing peer tool only blanks its rows.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-5}
SIZES=${SIZES:-"640x480 1920x1088"}
FRAMES=${FRAMES:-48}
SECS=10
FPS=24
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
PLAYER=${PLAYER_BIN:-$BIN/rtsp-sdl}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_player.XXXXXX")
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "work folder kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench_player: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---- helpers (timing, parsing, medians) ----
cat >"$WORK/h.py" <<'EOF'
import json, os, re, statistics, subprocess, sys, threading, time

def num(v):
    try:
        return float(v)
    except ValueError:
        return None

def median(vals):
    xs = [x for x in (num(v) for v in vals) if x is not None]
    return statistics.median(xs) if xs else None

def fmt(x, digits=0):
    return "-" if x is None else f"{x:.{digits}f}"

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "lab2raw":
    # Lab format: a 5-digit decimal length, then that many bytes of JPEG; repeated.
    data = open(args[0], "rb").read()
    out, i, n = bytearray(), 0, 0
    while i + 5 <= len(data):
        ln = int(data[i:i + 5])
        out += data[i + 5:i + 5 + ln]
        i += 5 + ln
        n += 1
    open(args[1], "wb").write(out)
    print(n)
elif cmd == "median":
    # median DIGITS V...
    print(fmt(median(args[1:]), int(args[0])))
elif cmd == "ffbench":
    # ffbench STDERR_FILE FRAMES -> frames per user-CPU second
    text = open(args[0], errors="replace").read()
    m = re.search(r"bench: utime=([\d.]+)s", text)
    decoded = re.findall(r"frame=\s*(\d+)", text)
    if not m or float(m.group(1)) <= 0:
        print("-")
    else:
        if decoded and int(decoded[-1]) != int(args[1]):
            print(f"warning: ffmpeg decoded {decoded[-1]} frames, expected {args[1]}", file=sys.stderr)
        print(f"{int(args[1]) / float(m.group(1)):.1f}")
elif cmd == "summary":
    # summary FILE -> first_decoded_ms first_shown_ms p50_ms p99_ms frames_shown
    lines = [l for l in open(args[0], errors="replace") if l.startswith("summary:")]
    vals = ["-"] * 5
    if lines:
        l = lines[-1]
        m = re.search(r"first frame decoded after (\S+?)(?: ms)?, shown after (\S+?)(?: ms)?, "
                      r"latency p50 (\S+?)(?: ms)? p99 (\S+?)(?: ms)?$", l.strip())
        if m:
            vals[:4] = m.groups()
        f = re.match(r"summary: (\d+) frames shown", l)
        if f:
            vals[4] = f.group(1)
    print(" ".join(vals))
elif cmd == "prun":
    # prun OUT CMD... -> runs a player, its stdout to OUT; prints first_decoded first_shown
    # p50 p99 frames (from its summary) and first_shown from spawn (from --timings' main-wall).
    t0 = time.time()
    with open(args[0], "w") as out:
        subprocess.run(args[1:], stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    text = open(args[0], errors="replace").read()
    vals = ["-"] * 6
    s = [l for l in text.splitlines() if l.startswith("summary:")]
    if s:
        m = re.search(r"first frame decoded after (\S+?)(?: ms)?, shown after (\S+?)(?: ms)?, "
                      r"latency p50 (\S+?)(?: ms)? p99 (\S+?)(?: ms)?$", s[-1].strip())
        if m:
            vals[:4] = m.groups()
        f = re.match(r"summary: (\d+) frames shown", s[-1])
        if f:
            vals[4] = f.group(1)
    w = re.search(r"main-wall=([\d.]+)", text)
    if w and num(vals[1]) is not None:
        vals[5] = f"{(float(w.group(1)) - t0) * 1e3 + num(vals[1]):.1f}"
    print(" ".join(vals))
elif cmd == "spans":
    # spans FILE... -> the median of each --timings mark and frame span over the runs
    marks, spans = {}, {}
    for path in args:
        for line in open(path, errors="replace"):
            if line.startswith("timings:"):
                for k, v in re.findall(r"([\w-]+)=([\d.]+)", line):
                    if k != "main-wall":
                        marks.setdefault(k, []).append(float(v))
            if line.startswith("frame-spans:"):
                for k, a, b in re.findall(r"(\w+)=([\d.]+)/([\d.]+)", line):
                    spans.setdefault(k, []).append((float(a), float(b)))
    if marks:
        order = sorted(marks, key=lambda k: statistics.median(marks[k]))
        print(", ".join(f"{k} {statistics.median(marks[k]):.1f}" for k in order))
        print(", ".join(f"{k} {statistics.median(a for a, _ in v):.2f}/{statistics.median(b for _, b in v):.2f}"
                        for k, v in spans.items()))
    else:
        print("(no --timings in this player)")
elif cmd == "crit":
    # crit DIR NAME -> frames/s from criterion's median time per frame
    p = os.path.join(args[0], args[1], "new", "estimates.json")
    try:
        ns = json.load(open(p))["median"]["point_estimate"]
        print(f"{1e9 / ns:.1f}")
    except (OSError, KeyError, ValueError):
        print("-")
elif cmd == "ttff":
    # ttff TIMEOUT_S CMD... -> ms to the first byte on the command's stdout, ms to its exit
    timeout = float(args[0])
    t0 = time.monotonic()
    p = subprocess.Popen(args[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    first = None
    while True:
        chunk = os.read(p.stdout.fileno(), 1 << 16)
        if not chunk:
            break
        if first is None:
            first = time.monotonic()
    p.wait()
    end = time.monotonic()
    timer.cancel()
    ok = first is not None and p.returncode == 0
    print(f"{(first - t0) * 1e3:.1f}" if ok else "-", f"{(end - t0) * 1e3:.1f}" if ok else "-")
elif cmd == "wall":
    # wall CMD... -> ms from spawn to exit
    t0 = time.monotonic()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{(time.monotonic() - t0) * 1e3:.1f}")
elif cmd == "ratio":
    a, b = num(args[0]), num(args[1])
    print("-" if a is None or b is None or b == 0 else f"{a / b:.2f}")
elif cmd == "serial":
    # serial A B -> frames/s of A and B done one after the other on one core
    a, b = num(args[0]), num(args[1])
    print("-" if not a or not b else f"{1 / (1 / a + 1 / b):.1f}")
EOF
h() { python3 "$WORK/h.py" "$@"; }

# Runs "$@" RUNS times, each printing one line of space-separated fields; prints the medians.
# Usage: repeat "DIGITS..." NFIELDS cmd...  (decimals per field; the last one repeats)
repeat() {
    local -a dl
    read -r -a dl <<<"$1"
    local nf=$2 i f digits
    shift 2
    local out=()
    for ((i = 0; i < RUNS; i++)); do
        out+=("$("$@")")
    done
    local meds=()
    for ((f = 1; f <= nf; f++)); do
        local col=()
        for line in "${out[@]}"; do
            col+=("$(awk -v f="$f" '{print $f}' <<<"$line")")
        done
        digits=${dl[f - 1]:-${dl[${#dl[@]} - 1]}}
        meds+=("$(h median "$digits" "${col[@]}")")
    done
    echo "${meds[*]}"
}

load=$(cut -d' ' -f1 /proc/loadavg)
log "load average at start: $load ($(nproc) cores)"
if python3 -c "import sys; sys.exit(0 if float('$load') > 0.5 else 1)"; then
    log "WARNING: the machine is busy (load $load); numbers will be noisy"
fi

# ---- build, movies ----
log "building release binaries"
cargo build --release --bins >&2
for s in $SIZES; do
    mkdir -p "$WORK/media"
    "$BIN/mjpeg" test "$WORK/media/$s.Mjpeg" --size "$s" --seconds "$SECS" --fps "$FPS" >&2
    n=$(h lab2raw "$WORK/media/$s.Mjpeg" "$WORK/$s.mjpeg")
    echo "$n" >"$WORK/$s.frames"
    log "$s: $n frames, raw $(stat -c %s "$WORK/$s.mjpeg") bytes"
done

# ---- a virtual display for the SDL bench group and the windowed player ----
DISPLAY_NUM=""
if have Xvfb; then
    Xvfb -displayfd 3 -screen 0 1920x1200x24 -nolisten tcp 3>"$WORK/display" 2>"$WORK/xvfb.log" &
    PIDS+=($!)
    for _ in $(seq 100); do
        [[ -s $WORK/display ]] && break
        sleep 0.05
    done
    DISPLAY_NUM=$(tr -d '[:space:]' <"$WORK/display" 2>/dev/null || true)
    [[ -n $DISPLAY_NUM ]] && log "Xvfb on :$DISPLAY_NUM" || log "Xvfb did not start (see $WORK/xvfb.log)"
else
    log "no Xvfb: the SDL bench group and the windowed rows are skipped"
fi
with_display() {
    if [[ -n $DISPLAY_NUM ]]; then
        DISPLAY=":$DISPLAY_NUM" SDL_RENDER_DRIVER=software SDL_VIDEODRIVER=x11 "$@"
    else
        env -u DISPLAY "$@"
    fi
}

# ---- 1. ffmpeg single-thread decode of the same frames ----
declare -A FF_FPS
for s in $SIZES; do
    FF_FPS[$s]="-"
    if have ffmpeg; then
        ffrun() {
            ffmpeg -nostdin -hide_banner -benchmark -threads 1 -filter_threads 1 -f mjpeg \
                -i "$WORK/$1.mjpeg" -f rawvideo -pix_fmt rgb24 -y /dev/null 2>"$WORK/ff.err" || true
            h ffbench "$WORK/ff.err" "$(cat "$WORK/$1.frames")"
        }
        FF_FPS[$s]=$(repeat 1 1 ffrun "$s")
        log "ffmpeg -threads 1 $s: ${FF_FPS[$s]} fps"
    fi
done

# ---- 2. criterion: zune-jpeg, depacketize+decode, SDL upload+present ----
CRIT=$TARGET/criterion
if [[ ${SKIP_CRITERION:-0} != 1 ]]; then
    rm -rf "$CRIT"/player_zune_decode "$CRIT"/player_depack_decode "$CRIT"/player_sdl_present
    log "cargo bench --bench player (about a minute)"
    with_display cargo bench --bench player 2>&1 | tee "$WORK/criterion.log" |
        grep -E '^player|time:|thrpt:|SKIPPED' >&2 || true
fi
declare -A ZUNE DEPACK SDL_WIN SDL_NATIVE
for s in $SIZES; do
    ZUNE[$s]=$(h crit "$CRIT" "player_zune_decode/$s")
    DEPACK[$s]=$(h crit "$CRIT" "player_depack_decode/$s")
    SDL_WIN[$s]=$(h crit "$CRIT" "player_sdl_present/${s}_player_window")
    SDL_NATIVE[$s]=$(h crit "$CRIT" "player_sdl_present/${s}_native")
done

# ---- 3. rtspd on loopback ----
"$BIN/rtspd" --port 0 --rtp-port 0 --bind 127.0.0.1 --media "$WORK/media" >"$WORK/rtspd.log" 2>&1 &
PIDS+=($!)
PORT=""
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on rtsp:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/rtspd.log" | head -1)
    [[ -n $PORT ]] && break
    sleep 0.05
done
[[ -n $PORT ]] || { log "rtspd did not start:"; cat "$WORK/rtspd.log" >&2; exit 1; }
log "rtspd on port $PORT"
url() { echo "rtsp://127.0.0.1:$PORT/$1.Mjpeg"; }

# ---- 4. the player: headless and windowed ----
TIMINGS=()
if "$PLAYER" --help 2>/dev/null | grep -- --timings >/dev/null; then TIMINGS=(--timings); fi
RUN_NO=0
player_run() { # player_run MODE SIZE -> first_decoded first_shown p50 p99 frames shown_from_spawn
    local extra=(--headless)
    [[ $1 == windowed ]] && extra=()
    RUN_NO=$((RUN_NO + 1))
    with_display python3 "$WORK/h.py" prun "$WORK/player-$1-$2-$RUN_NO.out" timeout 60 "$PLAYER" "$(url "$2")" \
        --autoplay --frames "$FRAMES" "${extra[@]}" "${TIMINGS[@]}"
}
declare -A PL
for s in $SIZES; do
    for mode in headless windowed; do
        if [[ $mode == windowed && -z $DISPLAY_NUM ]]; then
            PL[$mode,$s]="- - - - - -"
            continue
        fi
        PL[$mode,$s]=$(repeat "0 0 2 2 0 0" 6 player_run "$mode" "$s")
        log "rtsp-sdl $mode $s: first decoded / shown / p50 / p99 / frames / shown from spawn: ${PL[$mode,$s]}"
        if [[ $(awk '{print $5}' <<<"${PL[$mode,$s]}") == "-" ]]; then
            log "rtsp-sdl $mode $s printed no summary"
        fi
    done
done
EXEC_MS=$(repeat 1 1 h wall "$PLAYER" --help)

# ---- 5. peers: time to first decoded frame (first byte of raw video on stdout) ----
declare -A PEER
for s in $SIZES; do
    u=$(url "$s")
    PEER[ffmpeg,$s]="- -"
    PEER[ffmpeg_ld,$s]="- -"
    PEER[gst,$s]="- -"
    if have ffmpeg && [[ ${SKIP_PEERS:-0} != 1 ]]; then
        PEER[ffmpeg,$s]=$(repeat 1 2 h ttff 30 ffmpeg -nostdin -loglevel error -i "$u" \
            -frames:v 1 -f rawvideo pipe:1)
        PEER[ffmpeg_ld,$s]=$(repeat 1 2 h ttff 30 ffmpeg -nostdin -loglevel error \
            -fflags nobuffer -probesize 32 -analyzeduration 0 -i "$u" -frames:v 1 -f rawvideo pipe:1)
    fi
    if have gst-launch-1.0 && [[ ${SKIP_PEERS:-0} != 1 ]]; then
        PEER[gst,$s]=$(repeat 1 2 h ttff 30 gst-launch-1.0 -q rtspsrc location="$u" latency=0 \
            ! rtpjpegdepay ! jpegdec ! identity eos-after=2 ! fdsink fd=1)
    fi
    log "peers $s: ffmpeg ${PEER[ffmpeg,$s]}, ffmpeg low-delay ${PEER[ffmpeg_ld,$s]}, gst ${PEER[gst,$s]}"
done

# ---- the table ----
f() { awk -v f="$2" '{print $f}' <<<"$1"; }
lat() { local a b; a=$(f "$1" 3); b=$(f "$1" 4); [[ $a == - ]] && echo "-" || echo "$a / $b"; }
echo
echo "## Player benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load at start $load, median of $RUNS runs)"
echo
echo "Player: $PLAYER"
echo
echo "| path | size | decode fps (1 core) | latency p50 / p99 ms | first decoded ms | first on screen ms (from spawn) | notes |"
echo "|---|---|---:|---:|---:|---:|---|"
for s in $SIZES; do
    win_fps=$(h serial "${DEPACK[$s]}" "${SDL_WIN[$s]}")
    ph=${PL[headless,$s]}
    pw=${PL[windowed,$s]}
    echo "| ffmpeg -threads 1, file -> rgb24 | $s | ${FF_FPS[$s]} | | | | frames / user CPU s |"
    echo "| zune-jpeg decode_rgb_into | $s | ${ZUNE[$s]} | | | | criterion median |"
    echo "| player depacketize + decode | $s | ${DEPACK[$s]} | | | | criterion; reorder buffer, RFC 2435, decode_rgb |"
    echo "| player SDL upload + present (software) | $s | ${SDL_WIN[$s]} | | | | criterion; 640x524 window as the player opens it |"
    echo "| player SDL upload + present (software), 1:1 | $s | ${SDL_NATIVE[$s]} | | | | criterion; window the frame's size |"
    echo "| rtsp-sdl --headless | $s | ${DEPACK[$s]} | $(lat "$ph") | $(f "$ph" 1) | $(f "$ph" 2) ($(f "$ph" 6)) | "on screen": taken for display; $(f "$ph" 5) frames shown (paced at $FPS fps) |"
    echo "| rtsp-sdl windowed (Xvfb, software) | $s | $win_fps | $(lat "$pw") | $(f "$pw" 1) | $(f "$pw" 2) ($(f "$pw" 6)) | fps: depack+decode then present, serial on one core; $(f "$pw" 5) frames shown |"
    echo "| ffmpeg -i rtsp:// (defaults) | $s | | | $(f "${PEER[ffmpeg,$s]}" 1) | | first raw frame on stdout; exit after $(f "${PEER[ffmpeg,$s]}" 2) ms |"
    echo "| ffmpeg -fflags nobuffer -probesize 32 -analyzeduration 0 | $s | | | $(f "${PEER[ffmpeg_ld,$s]}" 1) | | exit after $(f "${PEER[ffmpeg_ld,$s]}" 2) ms |"
    echo "| gst-launch-1.0 rtspsrc latency=0 ! rtpjpegdepay ! jpegdec | $s | | | $(f "${PEER[gst,$s]}" 1) | | first I420 frame on stdout; exit after $(f "${PEER[gst,$s]}" 2) ms |"
done
echo
echo "Ratios (decode fps, one core):"
echo
for s in $SIZES; do
    echo "- $s: player depack+decode / ffmpeg = $(h ratio "${DEPACK[$s]}" "${FF_FPS[$s]}"), player / zune-jpeg = $(h ratio "${DEPACK[$s]}" "${ZUNE[$s]}"), zune-jpeg / ffmpeg = $(h ratio "${ZUNE[$s]}" "${FF_FPS[$s]}")"
done
echo
echo "Player times to first frame are the player's own (from main(), in its summary line), and in"
echo "brackets from spawn (with --timings); the peers' are from spawn, so they include exec and"
echo "library loading. rtsp-sdl spawn to exit of \`--help\`: $EXEC_MS ms. Latency is last packet of"
echo "a frame received to the frame presented."
echo
echo "Where the time went (medians over the runs; marks in ms from main(), frame spans p50/p99 ms):"
echo
for s in $SIZES; do
    for mode in headless windowed; do
        compgen -G "$WORK/player-$mode-$s-*.out" >/dev/null || continue
        echo "- $mode $s:"
        h spans "$WORK"/player-$mode-$s-*.out | sed 's/^/  /'
    done
done
