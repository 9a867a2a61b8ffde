#!/usr/bin/env bash
# Yjs benchmark runner: starts each subject server pinned to core 0 on a fresh data directory,
# drives it with bench/yjs-load pinned to core 1, records the server's CPU time
# (/proc/PID/stat, before and after the driver; the driver also reads it at its phase
# boundaries) and peak RSS, kills the server, and prints a table. Subjects are interleaved
# (wsx node wsx node ... for -k > 1), because the machines are shared and noisy.
#
# Subjects:
#   wsx   `wsx serve` (release build of crates/wsx-cli: `cargo build --release -p wsx-cli`, run
#         from its binary so that the PID measured is the server's) with
#         `--data-dir DIR --heartbeat 0s`: rooms at /yjs/<room>, stored in SQLite under DIR;
#         set WSX_ROOT=DIR to build it from another checkout (e.g. an exported commit, while
#         the working tree is being edited) instead of this repository
#   node  y-websocket 2.1.0's server (bench/peers/node-yjs/server.cjs: bin/utils.cjs's
#         setupWSConnection with ws 8, yjs 13.6.33) with YPERSISTENCE=DIR (y-leveldb), rooms
#         at /<room>; run `npm install` in bench/peers/node-yjs once
#   node-mem  the same Node server without YPERSISTENCE: documents in memory only (not in
#         coldopen, which needs a store)
#   floor a bare C loop (bench/peers/fanout-floor/floor.c, built with cc) sending a keystroke's
#         frame (32 B) to N loopback sockets one after another on core 0 while a process on
#         core 1 drains them: the least time to the last receiver a server on one core can
#         have on this machine (latency mode only)
# wsx and node both store every update (wsx before sending it on, y-leveldb after it).
#
# Modes (-m, comma-separated; each is a fresh server per subject and run):
#   latency     N receivers + 1 writer in one room, one keystroke at a time
#   throughput  the same, keystrokes pipelined (window 32) for -d seconds
#   rooms       R rooms with one client each, then (a fresh server) R clients in one room that
#               only sync: memory per open room with its client, and per client alone
#   coldopen    prepare (the writer types H keystrokes into a room and waits for every echo),
#               restart the server on the same data directory, then one client opens the room
#               and waits for the whole text; both the prepare and the coldopen lines are kept
#
# Usage: bench/yjs-run.sh [options] SUBJECT... [-- extra yjs-load options]
#   -m MODES    latency,throughput,rooms,coldopen or all (default latency)
#   -n N        receivers (default 1000)
#   -R R        rooms (default 10000)
#   -H H        keystrokes of history for coldopen (default 100000)
#   -r K        latency rounds (default 200)
#   -d SECS     throughput duration (default 10)
#   -k REPEAT   runs per subject and mode, interleaved (default 1)
#   -o FILE     also append the JSON lines to FILE
# Example: bench/yjs-run.sh -m all -k 3 -o bench/results/yjs-DATE.jsonl wsx node
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wsx_root="${WSX_ROOT:-$root}"
n=1000 rooms=10000 history=100000 rounds=200 duration=10 repeat=1 out="" modes=latency
subjects=() extra=()
while (($#)); do
  case "$1" in
    -m) modes="$2"; shift 2 ;;
    -n) n="$2"; shift 2 ;;
    -R) rooms="$2"; shift 2 ;;
    -H) history="$2"; shift 2 ;;
    -r) rounds="$2"; shift 2 ;;
    -d) duration="$2"; shift 2 ;;
    -k) repeat="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    wsx|node|node-mem|floor) subjects+=("$1"); shift ;;
    *) echo "yjs-run: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
((${#subjects[@]})) || { echo "yjs-run: name at least one subject: wsx, node, node-mem, floor" >&2; exit 2; }
[[ $modes == all ]] && modes=latency,throughput,rooms,coldopen
IFS=, read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do
  case "$m" in latency|throughput|rooms|coldopen) ;; *) echo "yjs-run: unknown mode $m" >&2; exit 2 ;; esac
done
for tool in taskset jq python3 cargo; do
  command -v "$tool" >/dev/null || { echo "yjs-run: needs $tool" >&2; exit 2; }
done
[[ $(nproc) -ge 2 ]] || { echo "yjs-run: needs 2 cores (server on 0, driver on 1)" >&2; exit 2; }

# Every connection is a file descriptor on both sides.
need=$((n > rooms ? n : rooms))
hard=$(ulimit -Hn)
if [[ $hard != unlimited && $hard -lt $((need + 100)) ]]; then
  echo "yjs-run: $need connections need about $((need + 100)) open files; the hard limit is $hard" >&2
  exit 2
fi
ulimit -n "$hard"

echo "building yjs-load ..." >&2
(cd "$root/bench" && cargo build --release --quiet -p yjs-load)
driver="$root/bench/target/release/yjs-load"
wsx_rev=""
for s in "${subjects[@]}"; do
  case "$s" in
    node|node-mem)
      [[ -d $root/bench/peers/node-yjs/node_modules/y-websocket ]] || {
        echo "yjs-run: run \`npm install\` in bench/peers/node-yjs first" >&2; exit 2; }
      ;;
    floor)
      command -v cc >/dev/null || { echo "yjs-run: the floor subject needs cc" >&2; exit 2; }
      ;;
    wsx)
      [[ -d $wsx_root/crates/wsx-yjs ]] || {
        echo "yjs-run: $wsx_root/crates/wsx-yjs does not exist" >&2; exit 2; }
      echo "building wsx in $wsx_root ..." >&2
      (cd "$wsx_root" && cargo build --release --quiet -p wsx-cli)
      # The commit measured: a checkout's HEAD, or WSX_REV for an exported tree.
      wsx_rev="${WSX_REV:-$(git -C "$wsx_root" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
      ;;
  esac
done

server_pid=""
stop_s=""
# stop_server [SECONDS]: SIGTERM, then SIGKILL if the server has not exited within SECONDS
# (default 10); sets stop_s to the seconds it took to exit ("killed" if it had to be killed).
stop_server() {
  local limit="${1:-10}" t0
  stop_s=""
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    # SIGTERM: both servers then store what is pending and exit.
    t0=$(date +%s.%N)
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq $((limit * 10))); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "yjs-run: pid $server_pid still running ${limit} s after SIGTERM: killed" >&2
      kill -9 "$server_pid" 2>/dev/null || true
      stop_s=killed
    else
      stop_s=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)")
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
datadirs=()
cleanup() {
  stop_server
  for d in "${datadirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime + stime of every thread, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

prepare_stop_s=""
results="$(mktemp /tmp/yjs-run.XXXXXX.jsonl)"
logdir="$(mktemp -d /tmp/yjs-run.XXXXXX)"
tck=$(getconf CLK_TCK)

# start_server SUBJECT DATADIR LOG: sets server_pid and port.
start_server() {
  local subject="$1" dir="$2" log="$3"
  port="$(free_port)"
  case "$subject" in
    wsx)
      taskset -c 0 "$wsx_root/target/release/wsx" --log warn serve --listen "127.0.0.1:$port" \
        --data-dir "$dir" --heartbeat 0s --max-connections 1000000 >>"$log" 2>&1 &
      ;;
    node)
      (cd "$root/bench/peers/node-yjs" && YPERSISTENCE="$dir" exec taskset -c 0 node server.cjs "$port") >>"$log" 2>&1 &
      ;;
    node-mem)
      (cd "$root/bench/peers/node-yjs" && exec taskset -c 0 node server.cjs "$port") >>"$log" 2>&1 &
      ;;
  esac
  server_pid=$!
  for _ in $(seq 300); do
    kill -0 "$server_pid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "yjs-run: $subject did not listen on 127.0.0.1:$port; its log:" >&2
  cat "$log" >&2
  stop_server
  return 1
}

# drive SUBJECT REP MODE TAG [yjs-load options...]: runs the driver against the running server
# and appends its JSON line, with the runner's fields, to the results.
drive() {
  local subject="$1" rep="$2" mode="$3" tag="$4"; shift 4
  local prefix=/yjs/
  [[ $subject == node* ]] && prefix=/
  local cpu0 rc=0 dlog="$logdir/$subject-$rep-$tag.driver.log"
  cpu0=$(cpu_ticks "$server_pid")
  echo "== $subject $tag (run $rep): pid $server_pid on 127.0.0.1:$port" >&2
  # The driver has its own hard deadline (--deadline, 600 s); this one is a backstop.
  taskset -c 1 timeout 700 "$driver" "127.0.0.1:$port" --prefix "$prefix" -m "$mode" \
    --server-pid "$server_pid" --label "$subject" "$@" "${extra[@]}" | tee "$dlog" >&2 || rc=$?
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "yjs-run: $subject died during $tag run $rep" >&2
    return 1
  fi
  local cpu1 hwm line load
  cpu1=$(cpu_ticks "$server_pid")
  hwm=$(vm_kb "$server_pid" VmHWM)
  line=$(grep '^{' "$dlog" | tail -1 || true)
  if [[ -z $line ]]; then
    echo "yjs-run: $subject $tag run $rep: the driver printed no result (exit $rc)" >&2
    return 1
  fi
  # The 1-minute load average: above 2 on this 2-core machine, something else competed.
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "$line" | jq -c --arg rep "$rep" --argjson load "$load" --argjson cpu "$((cpu1 - cpu0))" \
    --argjson tck "$tck" --argjson hwm "$hwm" --argjson rc "$rc" --arg rev "$wsx_rev" \
    --arg store "$store" --arg stop "$prepare_stop_s" \
    '. + {rep: ($rep | tonumber), driver_rc: $rc, script: {server_cpu_run_s: ($cpu / $tck), server_rss_peak_kb: $hwm, loadavg1: $load, store: $store, wsx_rev: (if .label == "wsx" then $rev else null end)}}
     | if .mode == "coldopen" then .script.prepare_stop_s = ($stop | tonumber? // $stop) else . end' \
    | tee -a "$results" ${out:+"$out"} >/dev/null
}

# floor_run REP: the bare send loop's JSON line, with the runner's fields, into the results.
floor_run() {
  local rep="$1" line load
  [[ -x $logdir/floor ]] || cc -O2 -o "$logdir/floor" "$root/bench/peers/fanout-floor/floor.c"
  echo "== floor latency (run $rep): a bare send loop to $n loopback sockets" >&2
  line=$(taskset -c 0 "$logdir/floor" "$n" "$rounds" 32)
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "$line" | jq -c --arg rep "$rep" --argjson load "$load" \
    '. + {rep: ($rep | tonumber), script: {loadavg1: $load, store: "none"}}' \
    | tee -a "$results" ${out:+"$out"} >/dev/null
}

run_one() {
  local subject="$1" rep="$2" mode="$3" dir log
  if [[ $subject == floor ]]; then
    [[ $mode == latency ]] && floor_run "$rep"
    return 0
  fi
  dir="$(mktemp -d /tmp/yjs-run-data.XXXXXX)"
  datadirs+=("$dir")
  log="$logdir/$subject-$rep-$mode.server.log"
  case "$subject" in wsx) store=sqlite ;; node) store=leveldb ;; node-mem) store=none ;; esac
  [[ $subject == node-mem && $mode == coldopen ]] && return 0
  case "$mode" in
    latency|throughput)
      start_server "$subject" "$dir" "$log" || return 1
      drive "$subject" "$rep" "$mode" "$mode" -n "$n" -r "$rounds" --duration "$duration" || true
      ;;
    rooms)
      start_server "$subject" "$dir" "$log" || return 1
      drive "$subject" "$rep" rooms rooms -R "$rooms" --sources 8 || true
      stop_server
      # As many clients in one room, syncing only, on a fresh server: a client's memory alone.
      rm -rf "$dir" && mkdir -p "$dir"
      start_server "$subject" "$dir" "$log" || return 1
      drive "$subject" "$rep" rooms rooms-shared -R "$rooms" --sources 8 --shared || true
      ;;
    coldopen)
      start_server "$subject" "$dir" "$log" || return 1
      drive "$subject" "$rep" prepare prepare -H "$history" --room cold --window 32 || { stop_server; return 1; }
      # Until the server has stored everything and exited: y-websocket's LevelDB writes run
      # behind its echoes, so it may have many left. The time it took goes into the coldopen
      # line (script.prepare_stop_s).
      stop_server 600
      prepare_stop_s="$stop_s"
      start_server "$subject" "$dir" "$log" || return 1
      # The server idle after its start, as a client would find it.
      sleep 1
      drive "$subject" "$rep" coldopen coldopen -H "$history" --room cold || true
      ;;
  esac
  stop_server
  rm -rf "$dir"
}

for rep in $(seq "$repeat"); do
  for mode in "${mode_list[@]}"; do
    for s in "${subjects[@]}"; do
      run_one "$s" "$rep" "$mode" || true
    done
  done
done

echo
echo "yjs-load: $n receivers, $rooms rooms, $history keystrokes of history ($(nproc) cores: server on core 0, driver on core 1; logs in $logdir)"
python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("no results"); sys.exit(1)
ms = lambda us: f"{us / 1000:.2f}"
def show(title, cols, get, mode):
    sel = [r for r in rows if r["mode"] == mode]
    if not sel:
        return
    table = [get(r) for r in sel]
    w = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print(title)
    print("  ".join(c.rjust(w[i]) for i, c in enumerate(cols)))
    for t in table:
        print("  ".join(v.rjust(w[i]) for i, v in enumerate(t)))
    print()
ss = lambda r: r.get("server_stats") or {}
tail = lambda r: [f'{r["script"]["server_rss_peak_kb"] / 1024:.1f}' if "server_rss_peak_kb" in r["script"] else "-", f'{r["script"]["loadavg1"]:.2f}', "yes" if r["ok"] else "NO"]
fan = lambda r: [r["label"], str(r["rep"]), str(r["receivers"]),
    ms(r["first_us"]["p50"]), ms(r["last_us"]["p50"]), ms(r["last_us"]["p99"]), ms(r["echo_us"]["p50"]) if "echo_us" in r else "-",
    f'{r["deliveries_per_s"]:.0f}' if r["mode"] == "throughput" else "-",
    f'{ss(r).get("cpu_us_per_delivery", 0):.2f}', f'{r.get("driver_busy", 0) * 100:.0f}%',
    f'{ss(r).get("rss_per_connection_kb", 0):.1f}', str(r["lost"]), str(r["reordered"]), str(r["duplicates"])] + tail(r)
fcols = ["subject", "run", "recv", "first p50", "last p50", "last p99", "echo p50", "deliv/s",
         "srv µs/dlv", "drv busy", "KiB/conn", "lost", "reord", "dup", "RSS peak MiB", "load", "ok"]
show("latency (ms)", fcols, fan, "latency")
show("throughput (ms)", fcols, fan, "throughput")
show("rooms (shared: every client in one room, syncing only; KiB/room is then per client)",
     ["subject", "run", "shared", "clients", "open p50 ms", "open p99 ms", "srv µs/client", "KiB/room", "lost", "RSS peak MiB", "load", "ok"],
     lambda r: [r["label"], str(r["rep"]), "yes" if r.get("shared") else "no", str(r["receivers"]), ms(r["open_us"]["p50"]), ms(r["open_us"]["p99"]),
                f'{ss(r).get("cpu_us_per_room", 0):.0f}', f'{ss(r).get("rss_per_room_kb", 0):.1f}', str(r["lost"])] + tail(r), "rooms")
show("prepare", ["subject", "run", "keystrokes", "s", "per s", "srv µs/update", "lost", "reord", "RSS peak MiB", "load", "ok"],
     lambda r: [r["label"], str(r["rep"]), str(r["echoed"]), f'{r["prepare_s"]:.2f}', f'{r["updates_per_s"]:.0f}',
                f'{ss(r).get("cpu_us_per_update", 0):.1f}', str(r["lost"]), str(r["reordered"])] + tail(r), "prepare")
f = lambda v: "-" if v is None else f"{v:.1f}"
show("coldopen (stop s: how long the server took to exit after prepare, storing what was pending)",
     ["subject", "run", "history", "stop s", "SyncStep2 ms", "SyncStep2 bytes", "whole ms", "srv CPU s", "chars", "lost", "RSS peak MiB", "load", "ok"],
     lambda r: [r["label"], str(r["rep"]), str(r["history"]), str(r["script"].get("prepare_stop_s", "-")), f(r["step2_ms"]), str(r["step2_bytes"]), f(r["complete_ms"]),
                f'{ss(r).get("cpu_s", 0):.3f}', str(r["content_len"]), str(r["lost"])] + tail(r), "coldopen")
print("(first/last: the writer's send to the first/last receiver having the keystroke, by kernel receive timestamps;")
print(" echo: to the writer having its own keystroke back; µs/dlv: server CPU per delivery in the measured phase;")
print(" drv busy: the driver's CPU over the measured wall time, near 100% the driver was the bottleneck;")
print(" KiB/conn: (RSS synced - RSS before connecting) / connections; KiB/room: the same per room with its one client;")
print(" load: 1-min load average after the run, above 2 means something else competed for the 2 cores)")
EOF
