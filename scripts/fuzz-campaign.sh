#!/usr/bin/env bash
# A fuzzing campaign over every cargo-fuzz target in fuzz/: each target fuzzed for DURATION,
# then its coverage measured, then one line per target with its executions, coverage and
# crashes. Exits non-zero if any target crashed (or hung, or ran out of memory).
#
#   scripts/fuzz-campaign.sh 20m                       # every target, 20 minutes each
#   scripts/fuzz-campaign.sh 90s socketio_packet       # one target
#
# DURATION is seconds (`90`, `90s`), minutes (`20m`) or hours (`1h`). The targets are those of
# scripts/fuzz-smoke.sh (its list is read, so there is one list). Each target starts from its
# committed seeds (fuzz/corpus/<target>/) and its regressions (fuzz/regressions/<target>/),
# copied into fuzz/target/campaign/corpus/<target>/, where what the campaign finds stays (not
# committed; `cargo fuzz cmin` it into fuzz/corpus/ when worth keeping). Crashes are written to
# fuzz/artifacts/<target>/.
#
# Coverage: `cargo fuzz coverage` replays the campaign's corpus on a build instrumented with
# -Cinstrument-coverage, and `llvm-cov report` summarises it over the sources the target is
# meant to exercise (see `sources` below: the parser's files, not the whole dependency tree).
# Both tools come with rustup's llvm-tools-preview component, installed here if missing.
#
# Environment:
#   FUZZ_JOBS      parallel fuzzing jobs per target (default 1; the machines have 2 cores)
#   FUZZ_NO_COVERAGE=1  skip the coverage step
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
fuzz_dir=$root/fuzz

usage() { echo "usage: $0 DURATION [TARGET...]   (DURATION: 90, 90s, 20m, 1h)" >&2; exit 2; }
(($# >= 1)) || usage
case $1 in
    *h) seconds=$((${1%h} * 3600)) ;;
    *m) seconds=$((${1%m} * 60)) ;;
    *s) seconds=${1%s} ;;
    *) seconds=$1 ;;
esac
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds > 0)) || usage
shift
jobs=${FUZZ_JOBS:-1}

# The targets and their input sizes: the smoke script's lists.
eval "$(sed -n '/^declare -A max_len=(/,/^)/p' scripts/fuzz-smoke.sh)"
eval "$(grep -m1 '^all_targets=(' scripts/fuzz-smoke.sh)"
if (($# > 0)); then targets=("$@"); else targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
    [[ -n ${max_len[$t]:-} ]] || { echo "unknown target: $t (known: ${all_targets[*]})" >&2; exit 2; }
done

# What each target's coverage is reported over (paths under crates/).
declare -A sources=(
    [frame_stream]="wsx-proto/src/protocol.rs wsx-proto/src/frame.rs wsx-proto/src/compression.rs wsx-proto/src/utf8.rs wsx-proto/src/close.rs wsx-proto/src/output.rs"
    [frame_header]="wsx-proto/src/frame.rs wsx-proto/src/mask.rs"
    [handshake]="wsx-proto/src/handshake.rs wsx-proto/src/extension.rs"
    [extensions]="wsx-proto/src/extension.rs wsx-proto/src/deflate.rs"
    [inflate]="wsx-proto/src/compression.rs"
    [engineio_packet]="wsx-socketio/src/engineio/packet.rs"
    [engineio_payload]="wsx-socketio/src/engineio/packet.rs"
    [socketio_packet]="wsx-socketio/src/socketio/packet.rs wsx-socketio/src/json.rs"
    [engine_http]="wsx-socketio/src/engine/mod.rs wsx-socketio/src/engine/polling.rs wsx-socketio/src/engine/session.rs wsx-socketio/src/engine/config.rs wsx-socketio/src/engine/websocket.rs"
    [chat_json]="wsx-cli/src/serve/messages.rs"
    [redis_codec]="wsx-redis/src/codec.rs wsx-redis/src/wire.rs wsx-redis/src/streams/entry.rs"
    [redis_streams]="wsx-redis/src/stream_reply.rs wsx-redis/src/streams/entry.rs"
    [yjs_frame]="wsx-yjs/src/message.rs wsx-yjs/src/update_decoder.rs wsx-yjs/src/presence.rs wsx-yjs/src/document.rs"
)

start=$(date +%s)
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
coverage=1
if [[ ${FUZZ_NO_COVERAGE:-0} == 1 ]]; then
    coverage=0
fi
host=$(rustc -vV | sed -n 's/^host: //p')
llvm_bin=$(rustc --print sysroot)/lib/rustlib/$host/bin
if ((coverage)) && [[ ! -x $llvm_bin/llvm-cov ]]; then
    echo "== installing llvm-tools-preview (llvm-cov, llvm-profdata)"
    if ! rustup component add llvm-tools-preview; then
        echo "llvm-tools-preview could not be installed: no coverage" >&2
        coverage=0
    fi
fi
echo "== $(rustc --version), $(cargo fuzz --version), ${seconds}s per target, ${#targets[@]} targets"

work=$fuzz_dir/target/campaign
logs=$work/logs
mkdir -p "$logs"
echo "== building fuzz targets"
if ! cargo fuzz build --sanitizer none >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log"
    echo "fuzz campaign: FAILED (build)"
    exit 1
fi

failed=0
declare -A runs cov crashes status
for t in "${targets[@]}"; do
    corpus=$work/corpus/$t
    mkdir -p "$corpus" "$fuzz_dir/artifacts/$t"
    for seeds in "$fuzz_dir/corpus/$t" "$fuzz_dir/regressions/$t"; do
        [[ -d $seeds ]] && find "$seeds" -maxdepth 1 -type f -exec cp -n {} "$corpus/" \;
    done
    before=$(find "$fuzz_dir/artifacts/$t" -type f | wc -l)
    echo "== fuzzing $t for ${seconds}s (max_len ${max_len[$t]})"
    log=$logs/$t.log
    parallel=()
    if ((jobs > 1)); then parallel=(-jobs="$jobs" -workers="$jobs"); fi
    if cargo fuzz run --sanitizer none "$t" "$corpus" -- \
        -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${parallel[@]}" >"$log" 2>&1; then
        status[$t]=ok
    else
        status[$t]=CRASH
        failed=1
        echo "--- $t failed; last lines of $log:"
        grep -vE '^#[0-9]+' "$log" | tail -n 30
    fi
    # With -jobs the stats are in fuzz-<n>.log files of the working directory.
    n=$({ cat "$log"; cat "$root"/fuzz-*.log 2>/dev/null || true; } |
        sed -n 's/^stat::number_of_executed_units: *//p' | awk '{ s += $1 } END { print s + 0 }')
    rm -f "$root"/fuzz-*.log
    runs[$t]=$n
    after=$(find "$fuzz_dir/artifacts/$t" -type f | wc -l)
    crashes[$t]=$((after - before))
    if ((crashes[$t] > 0)); then
        status[$t]=CRASH
        failed=1
    fi

    cov[$t]="-"
    if ((coverage)); then
        echo "== coverage of $t"
        if cargo fuzz coverage --sanitizer none "$t" "$corpus" >"$logs/$t.coverage.log" 2>&1; then
            # cargo-fuzz builds it under the project's target directory, not fuzz/target.
            bin=$root/target/$host/coverage/$host/release/$t
            [[ -x $bin ]] || bin=$fuzz_dir/target/$host/coverage/$host/release/$t
            profile=$fuzz_dir/coverage/$t/coverage.profdata
            # The whole report, then the rows of the target's own sources summed (llvm-cov's
            # SOURCES filter misses files a target compiles by #[path]).
            if "$llvm_bin/llvm-cov" report "$bin" -instr-profile="$profile" \
                >"$logs/$t.report.txt" 2>>"$logs/$t.coverage.log"; then
                # Columns: file, regions, missed, cover, functions, missed, executed, lines,
                # missed, cover.
                cov[$t]=$(awk -v srcs="${sources[$t]:-}" '
                    BEGIN { n = split(srcs, want, " ") }
                    {
                        for (i = 1; i <= n; i++) {
                            w = "crates/" want[i]
                            if (substr($1, length($1) - length(w) + 1) == w) {
                                r += $2; rm += $3; f += $5; fm += $6; l += $8; lm += $9
                                break
                            }
                        }
                    }
                    END {
                        if (l == 0) { print "no line of its sources reached the report"; exit }
                        printf "lines %.1f%% (%d of %d), regions %.1f%%, functions %.1f%%",
                            100 * (l - lm) / l, l - lm, l, 100 * (r - rm) / r, 100 * (f - fm) / f
                    }' "$logs/$t.report.txt")
            else
                cov[$t]="llvm-cov failed (see $logs/$t.coverage.log)"
            fi
        else
            cov[$t]="cargo fuzz coverage failed (see $logs/$t.coverage.log)"
        fi
    fi
done

echo "== campaign summary ($(($(date +%s) - start))s total, ${seconds}s per target; per-file reports in fuzz/target/campaign/logs/)"
printf '%-17s %-6s %14s %8s   %s\n' target status executions crashes "coverage of the target's own sources"
for t in "${targets[@]}"; do
    printf '%-17s %-6s %14s %8s   %s\n' "$t" "${status[$t]}" "${runs[$t]}" "${crashes[$t]}" "${cov[$t]}"
done
if ((failed)); then
    echo "fuzz campaign: CRASHES (inputs in fuzz/artifacts/<target>/, logs in fuzz/target/campaign/logs/)"
    exit 1
fi
echo "fuzz campaign: no crash"
