#!/usr/bin/env bash
# Socket.IO cluster benchmark over Redis: two nodes of one cluster on one redis-server, N
# receivers in room `bench` split between them (every second one on node B, sio-load's
# --receivers-at), one publisher on node A. Each broadcast is emitted to the room on node A and
# crosses to node B through Redis. Subjects, interleaved (wsx node wsx node … for -k > 1):
#   wsx   two wsx-redis `bench_cluster_server` examples (wsx-socketio + the classic adapter),
#         built with `cargo build --release -p wsx-redis --example bench_cluster_server`
#   node  two bench/peers/node-socketio-redis/server.js (socket.io 4.8.4 +
#         @socket.io/redis-adapter 8.3.0 + redis 4.7.1; run `npm install` there once)
# For every subject and mode: a fresh redis-server (a free port, no persistence) and fresh
# nodes; redis-server and both nodes pinned to core 0, the driver (bench/sio-load) to core 1.
# Measured: deliveries/s and those that crossed to node B (throughput mode), send to last
# receiver p50/p99 (latency mode), Redis commands per broadcast (INFO commandstats delta over
# the driver's run, the INFO calls excluded, divided by the broadcasts sent), memory per client
# on each node ((RSS idle after connecting - RSS before) / its receivers, read by sio-load).
#
# Usage: bench/cluster-run.sh [options] [SUBJECT...]   (default: wsx node)
#   -n N        receivers in all, half on each node (default 10000)
#   -r K        latency rounds (default 30)
#   -M M        throughput: broadcasts (default 100)
#   -s SIZE     payload bytes (default 100)
#   -k REPEAT   runs per subject, interleaved (default 1)
#   -o FILE     also append the JSON lines to FILE
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n=10000 rounds=30 messages=100 size=100 repeat=1 out=""
subjects=()
while (($#)); do
  case "$1" in
    -n) n="$2"; shift 2 ;;
    -r) rounds="$2"; shift 2 ;;
    -M) messages="$2"; shift 2 ;;
    -s) size="$2"; shift 2 ;;
    -k) repeat="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    wsx|node) subjects+=("$1"); shift ;;
    *) echo "cluster-run: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
((${#subjects[@]})) || subjects=(wsx node)
for tool in taskset jq python3 cargo redis-server redis-cli node; do
  command -v "$tool" >/dev/null || { echo "cluster-run: needs $tool" >&2; exit 2; }
done
cores=$(nproc)
[[ $cores -ge 2 ]] || { echo "cluster-run: needs 2 cores (servers on 0, driver on 1)" >&2; exit 2; }
[[ -d $root/bench/peers/node-socketio-redis/node_modules/@socket.io/redis-adapter ]] || {
  echo "cluster-run: run \`npm install\` in bench/peers/node-socketio-redis first" >&2; exit 2; }
hard=$(ulimit -Hn)
if [[ $hard != unlimited && $hard -lt $((n + 100)) ]]; then
  echo "cluster-run: $n receivers need about $((n + 100)) open files; the hard limit is $hard" >&2
  exit 2
fi
ulimit -n "$hard"

echo "building sio-load and bench_cluster_server ..." >&2
(cd "$root/bench" && cargo build --release --quiet -p sio-load)
(cd "$root" && cargo build --release --quiet -p wsx-redis --example bench_cluster_server)
driver="$root/bench/target/release/sio-load"
wsx_bin="$root/target/release/examples/bench_cluster_server"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_listen() { # PORT PID WHAT LOG
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || break
    if listening "$1"; then return 0; fi
    sleep 0.1
  done
  echo "cluster-run: $3 did not listen on 127.0.0.1:$1; its log:" >&2
  cat "$4" >&2
  return 1
}
# Calls of every command since redis-server started, INFO itself excluded.
redis_calls() {
  redis-cli -p "$1" INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { s += $3 } END { print s + 0 }'
}

results="$(mktemp /tmp/cluster-run.XXXXXX.jsonl)"
logdir="$(mktemp -d /tmp/cluster-run.XXXXXX)"

run_one() {
  local subject="$1" mode="$2" rep="$3" rport pa pb tag="$1-$2-$3"
  rport="$(free_port)"
  taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
    >"$logdir/$tag.redis.log" 2>&1 &
  pids+=($!)
  wait_listen "$rport" "$!" redis-server "$logdir/$tag.redis.log" || { cleanup; return 1; }
  local url="redis://127.0.0.1:$rport/" node_pids=()
  pa="$(free_port)" pb="$(free_port)"
  for port in "$pa" "$pb"; do
    case "$subject" in
      wsx) taskset -c 0 "$wsx_bin" "127.0.0.1:$port" "$url" >"$logdir/$tag.$port.log" 2>&1 & ;;
      node) (cd "$root/bench/peers/node-socketio-redis" && exec taskset -c 0 node server.js "$port" "$url") \
              >"$logdir/$tag.$port.log" 2>&1 & ;;
    esac
    pids+=($!) node_pids+=($!)
    wait_listen "$port" "$!" "$subject node" "$logdir/$tag.$port.log" || { cleanup; return 1; }
  done
  # Both nodes subscribed to the namespace's request channel.
  for _ in $(seq 100); do
    [[ $(redis-cli -p "$rport" PUBSUB NUMSUB 'socket.io-request#/#' | tail -1) == 2 ]] && break
    sleep 0.1
  done
  echo "== $subject $mode (run $rep): nodes ${node_pids[*]} on :$pa and :$pb, redis :$rport" >&2
  local calls0 calls1 rc=0 line
  calls0=$(redis_calls "$rport")
  taskset -c 1 timeout 700 "$driver" "127.0.0.1:$pa" --receivers-at "127.0.0.1:$pb" \
    -n "$n" -m "$mode" -s "$size" -r "$rounds" --messages "$messages" --duration 60 \
    --server-pid "${node_pids[0]}" --server-pid2 "${node_pids[1]}" --label "$subject" \
    | tee "$logdir/$tag.driver.log" >&2 || rc=$?
  calls1=$(redis_calls "$rport")
  line=$(grep '^{' "$logdir/$tag.driver.log" | tail -1 || true)
  if [[ -n $line ]]; then
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$line" | jq -c --arg rep "$rep" --argjson load "$load" --argjson calls "$((calls1 - calls0))" \
      --argjson rc "$rc" --argjson cores "$cores" \
      '. + {rep: ($rep | tonumber), driver_rc: $rc, script: {redis_calls: $calls,
            redis_calls_per_broadcast: ($calls / ((.rounds + .warmup) | if . == 0 then 1 else . end)),
            loadavg1: $load, cores: $cores}}' \
      | tee -a "$results" ${out:+"$out"} >/dev/null
  else
    echo "cluster-run: $subject $mode run $rep: the driver printed no result (exit $rc)" >&2
  fi
  cleanup
}

echo "uptime before: $(uptime)" >&2
for rep in $(seq "$repeat"); do
  for s in "${subjects[@]}"; do
    for mode in latency throughput; do
      run_one "$s" "$mode" "$rep" || true
    done
  done
done

echo
echo "cluster-run: 2 nodes x $((n / 2)) receivers in room bench, 1 publisher on node A, payload $size B;"
if [[ $cores -eq 2 ]]; then
  echo "only 2 cores: redis-server and both nodes share core 0, the driver has core 1 (logs in $logdir)"
else
  echo "$cores cores: redis-server and both nodes on core 0, the driver on core 1 (logs in $logdir)"
fi
echo "uptime after: $(uptime)"
python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("no results"); sys.exit(1)
ms = lambda us: f"{us / 1000:.2f}"
cols = ["subject", "run", "mode", "recv", "deliv/s", "cross-node deliv/s", "last p50", "last p99",
        "redis cmds/bcast", "KiB/client A", "KiB/client B", "srv A µs/dlv", "srv B µs/dlv",
        "drv busy", "load", "ok"]
table = []
for r in rows:
    a = r.get("server_stats") or {}
    b = r.get("server2_stats") or {}
    thr = r["mode"] == "throughput"
    table.append([
        r["label"], str(r["rep"]), r["mode"], str(r["receivers"]),
        f'{r["deliveries_per_s"]:.0f}' if thr else "-",
        f'{r["cross_node_deliveries_per_s"]:.0f}' if thr else "-",
        ms(r["last_us"]["p50"]), ms(r["last_us"]["p99"]),
        f'{r["script"]["redis_calls_per_broadcast"]:.2f}',
        f'{a.get("rss_per_connection_kb", 0):.1f}', f'{b.get("rss_per_connection_kb", 0):.1f}',
        f'{a.get("cpu_us_per_delivery", 0):.2f}', f'{b.get("cpu_us_per_delivery", 0):.2f}',
        f'{r.get("driver_busy", 0) * 100:.0f}%', f'{r["script"]["loadavg1"]:.2f}',
        "yes" if r["ok"] else "NO",
    ])
w = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
print("  ".join(c.rjust(w[i]) for i, c in enumerate(cols)))
for t in table:
    print("  ".join(v.rjust(w[i]) for i, v in enumerate(t)))
print("(times in ms; last: send to the last receiver having the message, on either node; deliv/s: all")
print(" deliveries, cross-node: those to node B's receivers; redis cmds/bcast: every Redis command during")
print(" the driver's run (connects included) over the broadcasts sent (warm-up included); KiB/client: (RSS")
print(" idle after connecting - RSS before) / that node's receivers; µs/dlv: the node's CPU per delivery")
print(" (all deliveries) in the measured phase; load: 1-min load average after the run)")
EOF
