#!/usr/bin/env bash
# Socket.IO broadcast benchmark runner: starts each subject server pinned to core 0, drives it
# with bench/sio-load pinned to core 1, records the server's CPU time (/proc/PID/stat, before
# and after the driver; the driver also reads it at its phase boundaries) and RSS (idle after
# connecting, peak), kills the server, and prints a table. Several subjects are interleaved
# (node wsx node wsx ... for --repeat > 1), because the machines are shared and noisy.
#
# Subjects:
#   node  bench/peers/node-socketio/server.js (socket.io 4.8.x, default options; run
#         `npm install` in that directory once)
#   wsx   the wsx-socketio example `bench_server`, built with
#         `cargo build --release -p wsx-socketio --example bench_server` and run from its binary
#         (not through `cargo run`, so that the PID measured is the server's); set
#         WSX_ROOT=DIR to build it from another checkout (e.g. an exported commit, while the
#         working tree is being edited) instead of this repository
#   sioxide  bench/peers/socketioxide (socketioxide 0.18.x on axum, current_thread runtime),
#         built in the bench workspace (`cargo build --release -p sioxide-bench`) and run from
#         its binary bench/target/release/sioxide-bench
#
# Usage: bench/sio-run.sh [options] SUBJECT... [-- extra sio-load options]
#   -n N        receivers (default 1000)
#   -m MODE     latency | throughput (default latency)
#   -t TRANSP   the receivers' transport: websocket | polling (HTTP long-polling, never
#               upgraded; the publisher stays a websocket) (default websocket)
#   -s SIZE     payload bytes, e.g. 100 or 1k (default 100)
#   -r K        latency rounds (default 50)
#   -k REPEAT   runs per subject, interleaved (default 1)
#   -o FILE     also append the JSON lines to FILE
# Example: bench/sio-run.sh -n 10000 node sioxide wsx
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wsx_root="${WSX_ROOT:-$root}"
n=1000 mode=latency transport=websocket size=100 rounds=50 repeat=1 out=""
subjects=() extra=()
while (($#)); do
  case "$1" in
    -n) n="$2"; shift 2 ;;
    -m) mode="$2"; shift 2 ;;
    -t) transport="$2"; shift 2 ;;
    -s) size="$2"; shift 2 ;;
    -r) rounds="$2"; shift 2 ;;
    -k) repeat="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    node|wsx|sioxide) subjects+=("$1"); shift ;;
    *) echo "sio-run: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
((${#subjects[@]})) || { echo "sio-run: name at least one subject: node, wsx, sioxide" >&2; exit 2; }
for tool in taskset jq python3 cargo; do
  command -v "$tool" >/dev/null || { echo "sio-run: needs $tool" >&2; exit 2; }
done
[[ $(nproc) -ge 2 ]] || { echo "sio-run: needs 2 cores (server on 0, driver on 1)" >&2; exit 2; }

# Every connection is a file descriptor on both sides.
hard=$(ulimit -Hn)
if [[ $hard != unlimited && $hard -lt $((n + 100)) ]]; then
  echo "sio-run: $n receivers need about $((n + 100)) open files; the hard limit is $hard" >&2
  exit 2
fi
ulimit -n "$hard"

echo "building sio-load ..." >&2
# Only the packages needed (the bench workspace has other members, not all of them ours).
(cd "$root/bench" && cargo build --release --quiet -p sio-load)
driver="$root/bench/target/release/sio-load"
for s in "${subjects[@]}"; do
  case "$s" in
    node)
      [[ -d $root/bench/peers/node-socketio/node_modules/socket.io ]] || {
        echo "sio-run: run \`npm install\` in bench/peers/node-socketio first" >&2; exit 2; }
      ;;
    wsx)
      [[ -f $wsx_root/crates/wsx-socketio/examples/bench_server.rs ]] || {
        echo "sio-run: $wsx_root/crates/wsx-socketio/examples/bench_server.rs does not exist" >&2; exit 2; }
      echo "building bench_server in $wsx_root ..." >&2
      (cd "$wsx_root" && cargo build --release --quiet -p wsx-socketio --example bench_server)
      ;;
    sioxide)
      echo "building the socketioxide peer ..." >&2
      (cd "$root/bench" && cargo build --release --quiet -p sioxide-bench)
      ;;
  esac
done

server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime + stime of every thread, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

results="$(mktemp /tmp/sio-run.XXXXXX.jsonl)"
logdir="$(mktemp -d /tmp/sio-run.XXXXXX)"
tck=$(getconf CLK_TCK)

run_one() {
  local subject="$1" rep="$2" port log
  port="$(free_port)"
  log="$logdir/$subject-$rep.server.log"
  case "$subject" in
    node) (cd "$root/bench/peers/node-socketio" && exec taskset -c 0 node server.js "$port") >"$log" 2>&1 & ;;
    wsx) taskset -c 0 "$wsx_root/target/release/examples/bench_server" "127.0.0.1:$port" >"$log" 2>&1 & ;;
    sioxide) taskset -c 0 "$root/bench/target/release/sioxide-bench" "127.0.0.1:$port" >"$log" 2>&1 & ;;
  esac
  server_pid=$!
  local ok=""
  for _ in $(seq 300); do
    kill -0 "$server_pid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  if [[ -z $ok ]]; then
    echo "sio-run: $subject did not listen on 127.0.0.1:$port; its log:" >&2
    cat "$log" >&2
    cleanup
    return 1
  fi
  local cpu0 rss0
  cpu0=$(cpu_ticks "$server_pid")
  rss0=$(vm_kb "$server_pid" VmRSS)
  echo "== $subject (run $rep): pid $server_pid on 127.0.0.1:$port" >&2
  local line rc=0
  # The driver has its own hard deadline (--deadline, 600 s); this one is a backstop.
  taskset -c 1 timeout 700 "$driver" "127.0.0.1:$port" -n "$n" -m "$mode" -t "$transport" -s "$size" -r "$rounds" \
    --server-pid "$server_pid" --label "$subject" "${extra[@]}" | tee "$logdir/$subject-$rep.driver.log" >&2 || rc=$?
  if kill -0 "$server_pid" 2>/dev/null; then
    local cpu1 hwm
    cpu1=$(cpu_ticks "$server_pid")
    hwm=$(vm_kb "$server_pid" VmHWM)
    line=$(grep '^{' "$logdir/$subject-$rep.driver.log" | tail -1 || true)
    if [[ -n $line ]]; then
      # The 1-minute load average: above 2 on this 2-core machine, something else competed.
      load=$(cut -d' ' -f1 /proc/loadavg)
      echo "$line" | jq -c --arg rep "$rep" --argjson load "$load" --argjson cpu "$(((cpu1 - cpu0)))" --argjson tck "$tck" \
        --argjson rss0 "$rss0" --argjson hwm "$hwm" --argjson rc "$rc" \
        '. + {rep: ($rep | tonumber), driver_rc: $rc, script: {server_cpu_run_s: ($cpu / $tck), server_rss_listen_kb: $rss0, server_rss_peak_kb: $hwm, loadavg1: $load}}' \
        | tee -a "$results" ${out:+"$out"} >/dev/null
    else
      echo "sio-run: $subject run $rep: the driver printed no result (exit $rc)" >&2
    fi
  else
    echo "sio-run: $subject died during the run; its log:" >&2
    cat "$log" >&2
  fi
  cleanup
}

for rep in $(seq "$repeat"); do
  for s in "${subjects[@]}"; do
    run_one "$s" "$rep" || true
  done
done

echo
echo "sio-load $mode, $n $transport receivers, payload $size B ($(nproc) cores: server on core 0, driver on core 1; logs in $logdir)"
python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("no results"); sys.exit(1)
ms = lambda us: f"{us / 1000:.2f}"
cols = ["subject", "run", "recv", "first p50", "first p99", "last p50", "last p99", "last max",
        "ack p50", "deliv/s", "lost", "reord", "drv µs/dlv", "drv busy", "srv µs/dlv", "srv CPU run s",
        "RSS idle MiB", "KiB/conn", "RSS peak MiB", "load", "ok"]
table = []
for r in rows:
    s = r.get("server_stats") or {}
    table.append([
        r["label"], str(r["rep"]), str(r["receivers"]),
        ms(r["first_us"]["p50"]), ms(r["first_us"]["p99"]),
        ms(r["last_us"]["p50"]), ms(r["last_us"]["p99"]), ms(r["last_us"]["max"]),
        ms(r["ack_us"]["p50"]),
        f'{r["deliveries_per_s"]:.0f}' if r["mode"] == "throughput" else "-",
        str(r["lost"]), str(r["reordered"]),
        f'{r["driver_cpu_us_per_delivery"]:.2f}', f'{r.get("driver_busy", 0) * 100:.0f}%',
        f'{s.get("cpu_us_per_delivery", 0):.2f}',
        f'{r["script"]["server_cpu_run_s"]:.2f}',
        f'{s.get("rss_idle_kb", 0) / 1024:.1f}', f'{s.get("rss_per_connection_kb", 0):.1f}',
        f'{r["script"]["server_rss_peak_kb"] / 1024:.1f}', f'{r["script"]["loadavg1"]:.2f}',
        "yes" if r["ok"] else "NO",
    ])
w = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
print("  ".join(c.rjust(w[i]) for i, c in enumerate(cols)))
for t in table:
    print("  ".join(v.rjust(w[i]) for i, v in enumerate(t)))
print("(times in ms; first/last: send to the first/last receiver having the message; µs/dlv: CPU per delivery")
print(" in the measured phase; drv busy: the driver's CPU over the measured wall time, near 100% the driver")
print(" was the bottleneck; KiB/conn: (idle RSS - RSS before connecting) / receivers; load: 1-min load average")
print(" after the run, above 2 means something else competed for the 2 cores)")
EOF
