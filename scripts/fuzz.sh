#!/usr/bin/env bash
# Fuzzes the parsers with AFL++ (through afl.rs, on stable Rust): builds the targets in fuzz/,
# runs each for SECONDS_PER_TARGET (default 600) from its seed corpus, copies what crashes into
# fuzz/artifacts/<target>/ and prints a summary. See fuzz/README.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   scripts/fuzz.sh --summary [TARGET...]     (report on the last run in fuzz/out again)
#
# Environment:
#   FUZZ_JOBS=N      targets run side by side (default 1; each takes one core)
#   FUZZ_TIMEOUT=MS  AFL++ per-input time limit (default 2000); slower inputs are saved as hangs
#   FUZZ_RESUME=1    continue from fuzz/out/<target> instead of starting again from the seeds
#   FUZZ_NICE=N      run afl-fuzz at this niceness (default 0), to share a busy machine
#
# Exits 1 when any target saved a crash, 0 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

ALL_TARGETS=(rtsp_message rtsp_headers sdp rtp_packet rtcp adapt_reports rtp_jpeg_depacketize jpeg_header movie_index m3u
             http_request tunnel_base64 announce live_ingest)
summary_only=0
if [ "${1:-}" = --summary ]; then
  summary_only=1
  secs=0
else
  secs="${1:-600}"
fi
if [ $# -gt 0 ]; then shift; fi
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${ALL_TARGETS[@]}"); fi
jobs="${FUZZ_JOBS:-1}"
timeout_ms="${FUZZ_TIMEOUT:-2000}"
case "$secs" in ''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;; esac
for t in "${targets[@]}"; do
  case " ${ALL_TARGETS[*]} " in *" $t "*) ;; *) echo "unknown target $t (have: ${ALL_TARGETS[*]})" >&2; exit 2 ;; esac
done

dict_for() {
  case "$1" in
    rtsp_message|rtsp_headers) echo dict/rtsp.dict ;;
    sdp|announce) echo dict/sdp.dict ;;
    http_request) echo dict/http.dict ;;
    rtp_jpeg_depacketize|jpeg_header|movie_index|live_ingest) echo dict/jpeg.dict ;;
    m3u) echo dict/m3u.dict ;;
    *) echo "" ;;
  esac
}

if [ "$summary_only" = 0 ]; then
# --- tools: cargo-afl at the version fuzz/Cargo.lock pins, and AFL++ built for this toolchain.
afl_version="$(awk '/^name = "afl"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $afl_version "; then
  echo "== installing cargo-afl $afl_version"
  cargo install --locked --force cargo-afl --version "$afl_version"
fi
# Builds AFL++ (from the source cargo-afl ships) once per Rust toolchain; quick when done.
if ! cfg_out="$(cargo afl config --build 2>&1)"; then
  if ! grep -q "already built" <<<"$cfg_out"; then
    echo "$cfg_out" >&2
    echo "ERROR: could not build AFL++ (cargo afl config --build)" >&2
    exit 1
  fi
fi

echo "== building the targets (cargo afl build --release)"
cargo afl build --release --quiet
# Deterministic and quick: written every time, so a target added since the last run has seeds.
echo "== writing the seed corpora"
./target/release/gen_corpus corpus

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_SKIP_CRASHES=1   # a seed that already crashes is reported, not fatal
mkdir -p out

run_one() {
  local t="$1" dict in
  dict="$(dict_for "$t")"
  in="corpus/$t"
  if [ "${FUZZ_RESUME:-0}" = 1 ] && [ -d "out/$t/default" ]; then
    in="-"
  else
    rm -rf "out/$t"
  fi
  echo "== $t: fuzzing for ${secs}s (log: fuzz/out/$t.log)"
  nice -n "${FUZZ_NICE:-0}" cargo afl fuzz -V "$secs" -t "$timeout_ms" -i "$in" -o "out/$t" ${dict:+-x "$dict"} \
    -- "./target/release/$t" >"out/$t.log" 2>&1 || echo "== $t: afl-fuzz exited $? (see fuzz/out/$t.log)"
}

running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
  sleep 1
done
wait || true
fi

stat() { awk -F' *: *' -v k="$2" '$1 == k { print $2 }' "out/$1/default/fuzzer_stats" 2>/dev/null; }

echo
mkdir -p out
summary="out/summary.txt"
{
  echo "fuzz run ended $(date -u -r "$(ls -t out/*/default/fuzzer_stats | head -1)" +%Y-%m-%dT%H:%MZ), AFL++ $(cargo afl --version | sed 's/.*AFL++ version //; s/)//')"
  printf '%-22s %8s %12s %8s %8s %14s %8s %6s\n' target seconds execs exec/s corpus edges stabil crashes
  for t in "${targets[@]}"; do
    if [ ! -f "out/$t/default/fuzzer_stats" ]; then
      printf '%-22s %s\n' "$t" "no stats (did afl-fuzz start? see out/$t.log)"
      continue
    fi
    execs="$(stat "$t" execs_done)"
    runtime="$(stat "$t" run_time)"
    per_sec=$(( execs / (runtime > 0 ? runtime : 1) ))
    printf '%-22s %8s %12s %8s %8s %14s %8s %6s\n' "$t" "$runtime" "$execs" "$per_sec" \
      "$(stat "$t" corpus_count)" "$(stat "$t" edges_found)/$(stat "$t" total_edges)" \
      "$(stat "$t" stability)" "$(stat "$t" saved_crashes)"
    hangs="$(stat "$t" saved_hangs)"
    if [ "${hangs:-0}" != 0 ]; then
      printf '%-22s %s hang(s) over %sms in out/%s/default/hangs\n' "" "$hangs" "$timeout_ms" "$t"
    fi
  done
} | tee "$summary"

# Keep each crash under a name from its content, and say what it does.
found=0
for t in "${targets[@]}"; do
  dir="out/$t/default/crashes"
  [ -d "$dir" ] || continue
  shopt -s nullglob
  crashes=("$dir"/id:*)
  shopt -u nullglob
  [ ${#crashes[@]} -gt 0 ] || continue
  found=1
  mkdir -p "artifacts/$t"
  for c in "${crashes[@]}"; do
    cp "$c" "artifacts/$t/crash-$(sha1sum "$c" | cut -c1-16)"
  done
  echo
  echo "== $t: ${#crashes[@]} crash(es), kept in fuzz/artifacts/$t/"
  ./target/release/replay "$t" "${crashes[@]}" | tee -a "$summary" || true
done
if [ "$found" = 0 ]; then echo "no crashes"; fi
exit "$found"
