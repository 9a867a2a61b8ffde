#!/usr/bin/env bash
# Soak test of `wsx serve` (not run in CI): for DURATION, two `wsx serve --redis` processes
# sharing one private redis-server, which is restarted every 5 minutes, under four steady
# loads at once, driven by bench/soak (see bench/soak/README.md):
#
#   echo       numbered messages on /echo, 500/s over 10 connections (both processes).
#              Accepted: written by the client on an open connection.
#   broadcast  1,000 subscribers of one chat room (/chat), half on each process, and one
#              publisher on the first saying 20 numbered lines a second; the other process's
#              subscribers get them through Redis. Accepted: echoed to the publisher by its own
#              process (it delivered the line to its members). Expected: every accepted line at
#              every subscriber.
#   socketio   20 socket.io-client members (Node) of a chat room over Socket.IO, a third each
#              on polling only, WebSocket only and polling upgraded to WebSocket, each saying a
#              line a second and reconnecting (to the other process) every 15-45 s. Accepted:
#              echoed to its sender. Expected at a member: every accepted line of the others
#              sent after it joined and accepted at least 1 s before it left.
#   yjs        4 y-websocket editors of one document, 2 on each process, 5 edits a second each,
#              in rounds of a minute (a new document each round): at the end of a round every
#              replica must hold the same text, with every accepted edit. Accepted: the editor's
#              own server sent its update back (it stores an update before sending it on).
#
# Lost = expected but not received when the load stopped and the grace period (15 s) passed.
# Any loss, a Yjs divergence, RSS growth (the last reading above the first after the warm-up
# x 1.2 + 8 MiB) or fd growth fails the run (exit 1). Every 10 s it prints each server's RSS
# and open fds with every kind's counters, every minute the p99 latency of each kind; at the end
# a summary table, the losses lined up with the Redis restarts, and a verdict.
#
# Usage: scripts/soak.sh [-o FILE] DURATION        (e.g. 30m, 6m, 90s)
#   -o FILE   also write the summary as JSON lines to FILE
# Environment (defaults in brackets):
#   SOAK_REDIS_RESTART [5m]   Redis restart period (0 for none)
#   SOAK_REDIS_DOWN [1s]      how long Redis stays down at each restart
#   SOAK_WARMUP [1m]          RSS and fds are judged from then (at most a third of DURATION)
#   SOAK_GRACE [15s]          how long deliveries may still come after the load stops
#   SOAK_ADAPTER [classic]    wsx serve --redis-adapter (classic or streams)
#   SOAK_ONLY                 comma-separated subset of echo,broadcast,socketio,yjs
#   SOAK_ARGS                 more options for the driver (bench/soak: `soak --help`)
#   SOAK_SERVE_ARGS           more options for both wsx serve (e.g. --no-deflate)
#   SOAK_KEEP=1               keep the temporary directory (logs, data) and say where
# Redis runs without persistence, so each restart also loses what Redis held (as the
# wsx-redis tests do it). Needs redis-server, node (with interop/node_modules), cargo.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out=""
while (($#)); do
  case "$1" in
    -o) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "soak: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
(($# == 1)) || { echo "usage: scripts/soak.sh [-o FILE] DURATION (try --help)" >&2; exit 2; }
duration="$1"

# Seconds of a duration: 90, 90s, 6m, 1h, 1.5m.
secs() {
  local v="$1" n unit
  n="${v%%[a-z]*}" unit="${v#"$n"}"
  [[ $n =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "soak: not a duration: $v" >&2; exit 2; }
  case "$unit" in
    ""|s) awk -v n="$n" 'BEGIN { printf "%d", n }' ;;
    m) awk -v n="$n" 'BEGIN { printf "%d", n * 60 }' ;;
    h) awk -v n="$n" 'BEGIN { printf "%d", n * 3600 }' ;;
    *) echo "soak: not a duration: $v (s, m or h)" >&2; exit 2 ;;
  esac
}
duration_s=$(secs "$duration")
restart_s=$(secs "${SOAK_REDIS_RESTART:-5m}")
down_s=$(secs "${SOAK_REDIS_DOWN:-1s}")
warmup="${SOAK_WARMUP:-1m}"
grace="${SOAK_GRACE:-15s}"
adapter="${SOAK_ADAPTER:-classic}"
((duration_s > 0)) || { echo "soak: the duration must be positive" >&2; exit 2; }
for tool in redis-server redis-cli node cargo; do
  command -v "$tool" >/dev/null || { echo "soak: needs $tool" >&2; exit 2; }
done
[[ -d $root/interop/node_modules/socket.io-client ]] ||
  { echo "soak: needs socket.io-client in interop/node_modules (interop/setup.sh)" >&2; exit 2; }

export CARGO_INCREMENTAL=0
echo "soak: building wsx-cli and the driver (release)"
nice -n 10 cargo build --release --quiet -p wsx-cli --manifest-path "$root/Cargo.toml"
nice -n 10 cargo build --release --quiet -p soak --manifest-path "$root/bench/Cargo.toml"
wsx="$root/target/release/wsx"
driver="$root/bench/target/release/soak"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/wsx-soak.XXXXXX")"
pids=()
restarter=""
# shellcheck disable=SC2317 # run by the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -n $restarter ]]; then
    kill "$restarter" 2>/dev/null
    wait "$restarter" 2>/dev/null
  fi
  # The servers close their clients with 1001 and leave the Redis cluster.
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [[ -f $tmp/redis.pid ]] && kill -KILL "$(cat "$tmp/redis.pid")" 2>/dev/null
  wait 2>/dev/null
  if [[ ${SOAK_KEEP:-} == 1 ]]; then
    echo "soak: logs and data kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s%3N)
stamp() { local d=$(( ($(date +%s%3N) - t0) / 1000 )); printf '[+%02d:%02d]' $((d / 60)) $((d % 60)); }

# Servers run in sessions of their own (setsid), away from the terminal's Ctrl-C: the driver
# stops the load on the first one and still needs them for the grace period and the summary.

# redis-server on $port, pid in $tmp/redis.pid; waits until it answers (5 s at most).
start_redis() {
  setsid redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$tmp" --logfile "$tmp/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
  echo $! >"$tmp/redis.pid"
  for _ in $(seq 50); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    kill -0 "$(cat "$tmp/redis.pid")" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  start_redis && break
  port=""
done
[[ -n $port ]] || { echo "soak: redis-server did not start" >&2; exit 1; }
redis_url="redis://127.0.0.1:$port/"

# wsx serve NAME on a free port; sets $addr and $pid.
serve() {
  local name="$1" log="$tmp/$1.log" extra=()
  # shellcheck disable=SC2206 # SOAK_SERVE_ARGS is a list of words on purpose
  [[ -n ${SOAK_SERVE_ARGS:-} ]] && extra=($SOAK_SERVE_ARGS)
  NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" setsid "$wsx" serve --listen 127.0.0.1:0 --redis "$redis_url" \
    --redis-adapter "$adapter" --data-dir "$tmp/data-$name" "${extra[@]}" </dev/null 2>"$log" &
  pid=$!
  pids+=("$pid")
  addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's|^listening on http://\([0-9.:]*\)/$|\1|p' "$log" | head -1)
    [[ -n $addr ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak: wsx serve $name did not start:" >&2
  tail -20 "$log" >&2
  exit 1
}
serve A; a_addr=$addr a_pid=$pid
serve B; b_addr=$addr b_pid=$pid
echo "$(stamp) soak: redis $redis_url; A on $a_addr (pid $a_pid), B on $b_addr (pid $b_pid); files in $tmp"

# Restarts Redis every $restart_s seconds, logging `down MS` / `up MS` for the driver.
restart_loop() {
  local n=0 sleeper=""
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  while sleep "$restart_s" & sleeper=$!; wait "$sleeper"; do
    n=$((n + 1))
    echo "down $(date +%s%3N)" >>"$tmp/restarts.log"
    kill -TERM "$(cat "$tmp/redis.pid")" 2>/dev/null || true
    while kill -0 "$(cat "$tmp/redis.pid")" 2>/dev/null; do sleep 0.05; done
    sleep "$down_s" & sleeper=$!
    wait "$sleeper"
    if start_redis; then
      echo "up $(date +%s%3N)" >>"$tmp/restarts.log"
      echo "$(stamp) soak: Redis restart $n done (down ${down_s}s)"
    else
      echo "$(stamp) soak: Redis did not come back on port $port" >&2
    fi
  done
}
touch "$tmp/restarts.log"
if ((restart_s > 0)); then
  restart_loop &
  restarter=$!
fi

args=(--server "A=$a_addr,$a_pid" --server "B=$b_addr,$b_pid"
  --duration "${duration_s}s" --warmup "$warmup" --grace "$grace" --t0 "$t0"
  --restarts "$tmp/restarts.log" --node-script "$root/bench/soak/sio-soak.cjs")
[[ -n ${SOAK_ONLY:-} ]] && args+=(--only "$SOAK_ONLY")
[[ -n $out ]] && args+=(-o "$out")
# shellcheck disable=SC2206 # SOAK_ARGS is a list of words on purpose
[[ -n ${SOAK_ARGS:-} ]] && args+=($SOAK_ARGS)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
set +e
NODE_PATH="$root/interop/node_modules" "$driver" "${args[@]}"
rc=$?
set -e
for p in "$a_pid" "$b_pid"; do
  kill -0 "$p" 2>/dev/null || { echo "soak: a wsx serve process died during the run (see its log)" >&2; rc=1; }
done
if grep -qE 'panicked|ERROR' "$tmp/A.log" "$tmp/B.log"; then
  echo "soak: errors in the server logs:" >&2
  grep -hE 'panicked|ERROR' "$tmp/A.log" "$tmp/B.log" | head -20 >&2
fi
exit "$rc"
