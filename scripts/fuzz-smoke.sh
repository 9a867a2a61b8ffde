#!/usr/bin/env bash
# Bounded fuzzing smoke run over the cargo-fuzz targets in fuzz/ (CI and before pushing).
#
#   scripts/fuzz-smoke.sh                          # every target, 20 s each
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh inflate frame_stream
#
# Works on the stable toolchain: cargo-fuzz only needs nightly for its sanitizer flags
# (-Zsanitizer=...), so targets are built with `--sanitizer none` (libFuzzer's coverage
# instrumentation, -Cpasses=sancov-module, is stable). Built in release with debug assertions
# and overflow checks, as cargo-fuzz does by default.
#
# Steps: install cargo-fuzz if missing, build every target, seed the corpora (fuzz/corpus,
# not committed), replay fuzz/regressions/<target>/*, then fuzz each target for a bounded
# time. Exits non-zero on any crash, timeout (a hang) or out-of-memory, and prints one
# summary line per target.
#
# Environment:
#   FUZZ_SECONDS     seconds of fuzzing per target (default 20)
#   FUZZ_SANITIZER   none (default) or address; on a stable rustc, address sets
#                    RUSTC_BOOTSTRAP=1 (the ASan runtime ships with the stable toolchain)
#   FUZZ_KNOWN_OPEN  1: also generate inputs that reach the bugs listed in
#                    fuzz/regressions/known-open.txt (off by default until they are fixed)
#   FUZZ_STRICT      1: a known-open regression that still crashes fails the run
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
fuzz_dir=$root/fuzz

seconds=${FUZZ_SECONDS:-20}
sanitizer=${FUZZ_SANITIZER:-none}
known_open=${FUZZ_KNOWN_OPEN:-0}
strict=${FUZZ_STRICT:-0}

# Targets and the largest input each gets (libFuzzer -max_len).
declare -A max_len=(
    [frame_stream]=8192
    [frame_header]=256
    [handshake]=4096
    [extensions]=512
    [inflate]=4096
)
all_targets=(frame_stream frame_header handshake extensions inflate)
if (($# > 0)); then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    [[ -n ${max_len[$t]:-} ]] || { echo "unknown target: $t (known: ${all_targets[*]})" >&2; exit 2; }
done

start=$(date +%s)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
if [[ $sanitizer != none ]] && ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
echo "== $(rustc --version), $(cargo fuzz --version), sanitizer: $sanitizer"

# A sanitizer build gets its own target directory, so switching does not rebuild the other.
target_dir=$fuzz_dir/target
if [[ $sanitizer != none ]]; then
    target_dir=$fuzz_dir/target/sanitizer-$sanitizer
fi
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$target_dir/$host/release
logs=$fuzz_dir/target/smoke-logs
mkdir -p "$logs"

echo "== building fuzz targets"
if ! cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log"
    echo "fuzz smoke: FAILED (build)"
    exit 1
fi

# Seeds for the targets that read raw bytes (the others take structured input and start from
# an empty corpus). Written only when missing; fuzz/corpus is not committed.
seed() { # target name bytes(printf format)
    mkdir -p "$fuzz_dir/corpus/$1"
    [[ -e $fuzz_dir/corpus/$1/seed-$2 ]] || printf "$3" >"$fuzz_dir/corpus/$1/seed-$2"
}
seed handshake request 'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n'
seed handshake response 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\r\n'
seed handshake redirect 'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n'
seed extensions offer 'permessage-deflate; client_max_window_bits, permessage-deflate'
seed extensions full 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9'
seed extensions quoted 'x-foo; a="1", permessage-deflate; server_max_window_bits="12"\npermessage-deflate; client_max_window_bits=15'
seed extensions response 'permessage-deflate; server_no_context_takeover; client_max_window_bits=12'
seed frame_header text '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
seed frame_header len16 '\x82\x7e\x01\x00'
seed frame_header len64 '\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04'

failed=0

# Regressions: every committed input must pass. Replayed with the known-open inputs enabled,
# so an input reaching a known-open bug really exercises it.
echo "== replaying fuzz/regressions"
for t in "${targets[@]}"; do
    dir=$fuzz_dir/regressions/$t
    [[ -d $dir ]] || continue
    for f in "$dir"/*; do
        [[ -f $f ]] || continue
        name=$t/$(basename "$f")
        if WSX_FUZZ_KNOWN_OPEN=1 timeout 120 "$bin_dir/$t" -timeout=10 -rss_limit_mb=2048 "$f" \
            >"$logs/regression.log" 2>&1; then
            if grep -qE "^$name( |$)" "$fuzz_dir/regressions/known-open.txt" 2>/dev/null; then
                echo "regression $name: passes now; remove it from fuzz/regressions/known-open.txt"
            else
                echo "regression $name: ok"
            fi
        elif grep -qE "^$name( |$)" "$fuzz_dir/regressions/known-open.txt" 2>/dev/null; then
            why=$(grep -m1 -E "panicked at|ERROR: libFuzzer" -A1 "$logs/regression.log" | tr '\n' ' ')
            echo "regression $name: KNOWN OPEN, still fails: $why"
            if [[ $strict == 1 ]]; then failed=1; fi
        else
            echo "regression $name: FAIL"
            tail -n 30 "$logs/regression.log"
            failed=1
        fi
    done
done

summary=()
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${seconds}s (max_len ${max_len[$t]})"
    mkdir -p "$fuzz_dir/corpus/$t"
    log=$logs/$t.log
    t0=$(date +%s)
    if WSX_FUZZ_KNOWN_OPEN=$known_open cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" "$fuzz_dir/corpus/$t" -- \
        -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAIL
        failed=1
        echo "--- $t failed; last lines of $log:"
        grep -vE '^#[0-9]+' "$log" | tail -n 40
        grep -E 'Test unit written to|Test unit written' "$log" || true
    fi
    t1=$(date +%s)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n1)
    corpus=$(find "$fuzz_dir/corpus/$t" -type f | wc -l)
    line=$(printf '%-13s %-4s runs=%-10s exec/s=%-8s new_units=%-6s corpus=%-6s %ss' \
        "$t" "$status" "${runs:-?}" "${eps:-?}" "${new:-?}" "$corpus" "$((t1 - t0))")
    echo "$line"
    summary+=("$line")
done

echo "== summary ($(($(date +%s) - start))s total, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
if ((failed)); then
    echo "fuzz smoke: FAILED (artifacts in fuzz/artifacts/, logs in fuzz/target/smoke-logs/)"
    exit 1
fi
echo "fuzz smoke: ok"
