#!/usr/bin/env bash
# Bounded fuzzing smoke run over the cargo-fuzz targets in fuzz/ (CI and before pushing).
#
#   scripts/fuzz-smoke.sh                          # every target, its default time each
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh inflate frame_stream
#
# Works on the stable toolchain: cargo-fuzz only needs nightly for its sanitizer flags
# (-Zsanitizer=...), so targets are built with `--sanitizer none` (libFuzzer's coverage
# instrumentation, -Cpasses=sancov-module, is stable). Built in release with debug assertions
# and overflow checks, as cargo-fuzz does by default.
#
# Steps: install cargo-fuzz if missing, build every target, replay fuzz/regressions/<target>/*,
# then fuzz each target for a bounded time, starting from its committed seeds
# (fuzz/corpus/<target>/, copied into fuzz/target/smoke-corpus/<target>/ so that what the run
# finds does not land in the repository). Exits non-zero on any crash, timeout (a hang) or
# out-of-memory, and prints one summary line per target. For long runs with coverage, see
# scripts/fuzz-campaign.sh.
#
# Time: 20 s for each of the five wsx-proto targets, 15 s for each of the eight targets of
# the layers above (Engine.IO, Socket.IO, the engine's HTTP requests, the chat's JSON, the
# Redis adapters, Yjs): 3 min 20 s of fuzzing, plus the build (a few minutes from scratch).
#
# Environment:
#   FUZZ_SECONDS     seconds of fuzzing per target (default: the target's own, above)
#   FUZZ_SANITIZER   none (default) or address; on a stable rustc, address sets
#                    RUSTC_BOOTSTRAP=1 (the ASan runtime ships with the stable toolchain)
#   FUZZ_KNOWN_OPEN  1: also generate inputs that reach the bugs listed in
#                    fuzz/regressions/known-open.txt (off by default until they are fixed)
#   FUZZ_STRICT      1: a known-open regression that still crashes fails the run
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
fuzz_dir=$root/fuzz

sanitizer=${FUZZ_SANITIZER:-none}
known_open=${FUZZ_KNOWN_OPEN:-0}
strict=${FUZZ_STRICT:-0}

# Targets and the largest input each gets (libFuzzer -max_len); scripts/fuzz-campaign.sh reads
# these two lists too.
declare -A max_len=(
    [frame_stream]=8192
    [frame_header]=256
    [handshake]=4096
    [extensions]=512
    [inflate]=4096
    [engineio_packet]=1024
    [engineio_payload]=4096
    [socketio_packet]=2048
    [engine_http]=4096
    [chat_json]=1024
    [redis_codec]=2048
    [redis_streams]=2048
    [yjs_frame]=4096
)
all_targets=(frame_stream frame_header handshake extensions inflate engineio_packet engineio_payload socketio_packet engine_http chat_json redis_codec redis_streams yjs_frame)
# Seconds of fuzzing per target in the smoke run, unless FUZZ_SECONDS says otherwise.
declare -A default_seconds=(
    [frame_stream]=20
    [frame_header]=20
    [handshake]=20
    [extensions]=20
    [inflate]=20
)
for t in "${all_targets[@]}"; do
    : "${default_seconds[$t]:=15}"
done
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
    seconds=${FUZZ_SECONDS:-${default_seconds[$t]}}
    echo "== fuzzing $t for ${seconds}s (max_len ${max_len[$t]})"
    corpus=$fuzz_dir/target/smoke-corpus/$t
    mkdir -p "$corpus"
    if [[ -d $fuzz_dir/corpus/$t ]]; then
        find "$fuzz_dir/corpus/$t" -maxdepth 1 -type f -exec cp -n {} "$corpus/" \;
    fi
    log=$logs/$t.log
    t0=$(date +%s)
    if WSX_FUZZ_KNOWN_OPEN=$known_open cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$t" "$corpus" -- \
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
    units=$(find "$corpus" -type f | wc -l)
    line=$(printf '%-17s %-4s runs=%-10s exec/s=%-8s new_units=%-6s corpus=%-6s %ss' \
        "$t" "$status" "${runs:-?}" "${eps:-?}" "${new:-?}" "$units" "$((t1 - t0))")
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
