#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need on a fresh Debian
# machine, then runs formatting, lints and every test, including the interop tests with ffmpeg
# and GStreamer and the browser test with Chromium. Fails loudly when a tool cannot be installed
# instead of skipping its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in pkg-config libsdl2-dev ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base \
         gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav xvfb xauth \
         python3-gi gir1.2-gst-rtsp-server-1.0 haproxy chromium chromium-driver python3-selenium \
         iproute2 util-linux; do
  have_pkg "$p" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing: ${need_pkgs[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
for tool in ffmpeg ffprobe gst-launch-1.0 Xvfb xvfb-run /usr/bin/python3 haproxy chromium chromedriver \
            ip unshare tc; do
  command -v "$tool" >/dev/null || { echo "ERROR: $tool is missing and could not be installed" >&2; exit 1; }
done
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" ||
  { echo "ERROR: GStreamer's RTSP server bindings (python3-gi, gir1.2-gst-rtsp-server-1.0) are missing" >&2; exit 1; }
/usr/bin/python3 -c "import selenium" ||
  { echo "ERROR: Selenium for Python (python3-selenium) is missing; the browser test needs it" >&2; exit 1; }

# The interop tests refuse to skip when this is set: a missing tool is a failure.
export RTSP_MJPEG_REQUIRE_TOOLS=1

echo "== no source file over 600 lines of code (comments, blank lines and tests aside)"
over=$(for f in $(find src -name '*.rs' ! -path '*/tests/*' ! -name tests.rs); do
  awk '/^[[:space:]]*#\[cfg\(test\)\]/ {exit} !/^[[:space:]]*(\/\/|$)/ {n++} END {if (n > 600) print n, FILENAME}' "$f"
done)
if [ -n "$over" ]; then echo "ERROR: split these by responsibility:"; echo "$over"; exit 1; fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
mkdir -p target
rm -f target/skipped-tests.txt
cargo test --all-targets 2>&1 | tee target/test.log
echo "== doc tests"
cargo test --doc
echo "== server-only build (no SDL2)"
cargo build --no-default-features --bins

if [ -s target/skipped-tests.txt ]; then
  echo "== SKIPPED TESTS (they did not run):"
  sed 's/^/   /' target/skipped-tests.txt
else
  echo "== every test ran (none skipped)"
fi
