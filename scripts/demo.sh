#!/usr/bin/env bash
# The README's first command: builds, starts rtspd on the built-in test movie and opens the
# player on it. Without a display the player runs headless for a few seconds instead.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8554}"
if ! pkg-config --exists sdl2 2>/dev/null; then
    echo "demo: SDL2 development files are missing; install them with:" >&2
    echo "  sudo apt-get install -y libsdl2-dev pkg-config" >&2
    exit 1
fi
cargo build --release --bins

server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# rtspd writes media/movie.Mjpeg (the built-in test movie) if the folder has no movie.
RUST_LOG="${RUST_LOG:-info}" target/release/rtspd --port "$PORT" --bind 127.0.0.1 &
server_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then echo "demo: rtspd did not start" >&2; exit 1; fi
    sleep 0.1
done

URL="rtsp://127.0.0.1:$PORT/movie.Mjpeg"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    echo "demo: playing $URL (keys: S/P/Space/Q, ? for help)"
    target/release/rtsp-sdl "$URL" --autoplay
else
    echo "demo: no display (DISPLAY is unset): running the player headless for 5 seconds"
    target/release/rtsp-sdl "$URL" --autoplay --headless --seconds 5
fi
