#!/usr/bin/env bash
# Core WebSocket echo benchmark: wsx against its peers, the same way for each. Every run starts
# one echo server pinned to core 0 (taskset), drives it with `wsx bench` pinned to core 1,
# reads the server's CPU time and memory from /proc, kills it. Subjects are interleaved per
# config (A B C A B C ... for -k 2) so that noise from the shared machine hits them alike; the
# table shows the median with min and max over the repeats.
#
# Subjects (-s; default all that are available):
#   wsx                bench/servers/wsx-echo, tokio current_thread runtime
#   wsx-ev             the same binary with --events: connections driven by callbacks
#                      (Server::serve_events) instead of a task each
#   wsx-mt             the same on a multi-thread runtime (--threads 2), still pinned to core 0
#   wsx-budget         the same as wsx with a server-wide memory budget of 1 GiB (never
#                      reached here): what the budget's accounting costs
#   wsx-metrics        the same as wsx built with wsx's `metrics` feature and a Prometheus
#                      recorder installed (bench/target/release/wsx-echo-metrics): what the
#                      server metrics cost
#   wsx-h2             wsx-echo built with wsx's `http2` feature (wsx-echo-h2), driven over
#                      HTTP/2: `wsx bench --http2 N`, N WebSockets per HTTP/2 connection
#                      (H2_STREAMS, default 100; h2c with prior knowledge). Against `wsx`: what
#                      a WebSocket costs as a stream of a shared connection instead of a TCP
#                      connection of its own
#   wsx-h1             the same wsx-echo-h2 binary driven over HTTP/1.1: `wsx` with the HTTP/2
#                      preface check on each accepted connection
#   wsx-loop           fanout configs only: the same binary with --fanout-loop, a loop of
#                      per-client Sender::send (an encode and a write per receiver), the
#                      baseline a broadcast must beat
#   uws                µWebSockets (C++): set UWS_ECHO=/path/to/binary built from our
#                      bench/peers/uws/echo.cpp (see docs/BENCHMARKS.md); skipped when unset
#   fastwebsockets     bench/peers/fastwebsockets-echo (hyper 1 upgrade, FragmentCollector)
#   tokio-websockets   bench/peers/tokio-websockets-echo
#   tokio-tungstenite  bench/peers/tokio-tungstenite-echo
#   raw                bench/peers/raw-tcp-echo, the syscall floor. `wsx bench` speaks WebSocket
#                      and checks every echo, and a pure TCP echo would return masked client
#                      frames, which a client must reject. So the floor is a minimal WebSocket
#                      echo: a bare handshake, then one read, in-place unmask and header
#                      rewrite, and one write per batch of frames; no UTF-8 check, no limits,
#                      no per-message allocation, a 4 KiB buffer per connection.
#   node               bench/peers/node-ws/server.js, Node `ws` 8.x (run `npm install` there once)
# All Rust servers are on tokio `current_thread` runtimes (except wsx-mt).
#
# Configs (-c; comma-separated):
#   CxS       C connections, payload S (20, 1k, 16k, 64k), closed loop (ping-pong), text
#   CxS+z     the same with permessage-deflate offered (every message compressed); only the
#             subjects that compress run it (wsx, node)
#   idleN     N connections opened and held idle (10k, 50k): RSS delta / N after a settle.
#             Both processes need N file descriptors: N is capped at the hard fd limit less
#             200 (the cap is printed and recorded); connections come from 127.0.0.2-.9.
#   fanoutN   broadcast: one publisher and N receivers (1k, 10k), 20 B text, at most 32
#             broadcasts in flight (`wsx bench --fanout`); the server sends each message to
#             every client but its sender. Only the subjects with a broadcast run it: wsx and
#             wsx-ev (Clients::broadcast_except, encoded once), uws (publish), node (a loop
#             over wss.clients, as ws's README does). msgs/s there is deliveries per second.
#   all       the whole matrix: {1,100,1000} x {20,1k,16k,64k} x {off,+z}, idle10k, idle50k,
#             fanout10k
#   quick     100x20,1000x1k,1000x16k,100x1k+z,idle10k (the default)
#
# Measurements, per run:
#   msgs/s             echoes verified by `wsx bench` over the measured window (-d), after
#                      the warm-up (-w)
#   server CPU µs/msg  the server's utime+stime (/proc/PID/stat, all threads) read by
#                      `wsx bench --server-pid` at the start and end of the measured window,
#                      divided by the echoes counted in it (warm-up, handshakes and close are
#                      excluded)
#   peak RSS           VmHWM of the server after the run (handshakes and warm-up included)
#   idle bytes/conn    (VmRSS while the N connections are held - VmRSS after listening) / N,
#                      read 2 s after the last handshake; kernel socket buffers are not in RSS
#   client CPU         `wsx bench`'s own CPU over the window; runs where it used >= 90% of its
#                      core are flagged "client-bound": there the load generator, not the
#                      server, was probably the limit, and msgs/s understates the server
#   other CPU          what the rest of the machine used during the run (/proc/stat busy time
#                      of both cores less the server's and wsx bench's CPU), in % of one core:
#                      other people's builds show up here. Before each run the runner waits
#                      (up to -W seconds) until the machine is below -q % busy, and a run
#                      where others used more than -O % is done again (at most -R times; the
#                      noisy line stays in the results file, marked "superseded"). Idle runs
#                      measure memory, not time: they neither wait nor are redone.
#
# Usage: bench/run.sh [options]
#   -c CONFIGS   configs (default quick)
#   -s SUBJECTS  comma-separated subjects (default all available)
#   -k REPEAT    runs per subject and config, interleaved (default 2)
#   -d SECONDS   measured seconds per run (default 3)
#   -w SECONDS   warm-up seconds per run (default 1)
#   -o FILE      append the JSON lines to FILE (default bench/results/core-DATE.jsonl)
#   -n           no build (use the binaries already built)
#   -q PERCENT   quiet threshold: busy % of the whole machine over 1 s (default 15)
#   -W SECONDS   longest wait for quiet before a run, then run anyway (default 60)
#   -O PERCENT   others' CPU (% of one core) during a run above which it is redone (default 25)
#   -R RETRIES   most times a noisy run is redone (default 2)
#   -T           do not update docs/BENCHMARKS.md
#   -t FILE      only print the table from FILE (and update docs/BENCHMARKS.md unless -T)
# Environment: UWS_ECHO (above); UWS_DESC, how that binary was built (e.g. its commits), for the
# docs; WSX_ROOT=DIR builds and runs wsx-echo and wsx (the load generator) from another tree,
# e.g. a `git archive` export of a commit while the working tree is being edited (WSX_COMMIT
# then names it); the peers always come from this tree.
# Example: UWS_ECHO=/work/peers/uws/uws-echo bench/run.sh -c all -k 2
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
configs=quick subjects_arg="" repeat=2 dur=3 warm=1 out="" build=1 docs=1 table_only=""
quiet=15 quiet_wait=60 noisy=25 retries=2
while (($#)); do
  case "$1" in
    -c) configs="$2"; shift 2 ;;
    -s) subjects_arg="$2"; shift 2 ;;
    -k) repeat="$2"; shift 2 ;;
    -d) dur="$2"; shift 2 ;;
    -w) warm="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    -n) build=""; shift ;;
    -q) quiet="$2"; shift 2 ;;
    -W) quiet_wait="$2"; shift 2 ;;
    -O) noisy="$2"; shift 2 ;;
    -R) retries="$2"; shift 2 ;;
    -T) docs=""; shift ;;
    -t) table_only="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

table() { # results-file
  python3 "$root/bench/core_table.py" "$1" ${docs:+--docs "$root/docs/BENCHMARKS.md"}
}
if [[ -n $table_only ]]; then
  table "$table_only"
  exit 0
fi

for tool in taskset ss python3 cargo; do
  command -v "$tool" >/dev/null || { echo "run: needs $tool" >&2; exit 2; }
done
[[ $(nproc) -ge 2 ]] || { echo "run: needs 2 cores (server on 0, load generator on 1)" >&2; exit 2; }

all_subjects=(wsx wsx-ev wsx-mt wsx-budget wsx-metrics wsx-h2 wsx-h1 wsx-loop uws fastwebsockets tokio-websockets tokio-tungstenite raw node)
case "$configs" in
  quick) configs="100x20,1000x1k,1000x16k,100x1k+z,idle10k" ;;
  all)
    configs=""
    for z in "" "+z"; do
      for c in 1 100 1000; do
        for s in 20 1k 16k 64k; do configs+="${c}x$s$z,"; done
      done
    done
    configs+="idle10k,idle50k,fanout10k"
    ;;
esac
IFS=, read -r -a config_list <<<"$configs"
if [[ -n $subjects_arg ]]; then IFS=, read -r -a subjects <<<"$subjects_arg"; else subjects=("${all_subjects[@]}"); fi

bt="$root/bench/target/release"
wsx_root="${WSX_ROOT:-$root}"
wsx="$wsx_root/target/release/wsx"
wsx_echo="$wsx_root/bench/target/release/wsx-echo"
avail=()
for s in "${subjects[@]}"; do
  case "$s" in
    uws)
      if [[ -z ${UWS_ECHO:-} ]]; then
        echo "run: skipping uws: set UWS_ECHO=/path/to/uws-echo (see docs/BENCHMARKS.md)" >&2; continue
      fi
      [[ -x $UWS_ECHO ]] || { echo "run: UWS_ECHO=$UWS_ECHO is not executable" >&2; exit 2; } ;;
    node)
      if ! command -v node >/dev/null || [[ ! -d $root/bench/peers/node-ws/node_modules/ws ]]; then
        echo "run: skipping node: run \`npm install\` in bench/peers/node-ws first" >&2; continue
      fi ;;
    wsx|wsx-ev|wsx-mt|wsx-budget|wsx-metrics|wsx-h2|wsx-h1|wsx-loop|fastwebsockets|tokio-websockets|tokio-tungstenite|raw) ;;
    *) echo "run: unknown subject $s (one of: ${all_subjects[*]})" >&2; exit 2 ;;
  esac
  avail+=("$s")
done
((${#avail[@]})) || { echo "run: no subject to run" >&2; exit 2; }

if [[ -n $build ]]; then
  echo "building wsx-cli and the echo servers (release) ..." >&2
  (cd "$wsx_root" && cargo build --release --quiet -j2 -p wsx-cli)
  # The metrics build first, kept under its own name; then the plain one.
  (cd "$wsx_root/bench" && cargo build --release --quiet -j2 -p wsx-echo --features metrics \
    && cp target/release/wsx-echo target/release/wsx-echo-metrics)
  (cd "$wsx_root/bench" && cargo build --release --quiet -j2 -p wsx-echo --features http2 \
    && cp target/release/wsx-echo target/release/wsx-echo-h2)
  (cd "$wsx_root/bench" && cargo build --release --quiet -j2 -p wsx-echo)
  (cd "$root/bench" && cargo build --release --quiet -j2 -p fastwebsockets-echo \
    -p tokio-websockets-echo -p tokio-tungstenite-echo -p raw-tcp-echo)
fi

# Every connection is a file descriptor on both sides.
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -n "$hard"
max_idle=$((hard - 200))

mkdir -p "$root/bench/results"
out="${out:-$root/bench/results/core-$(date -u +%Y%m%d-%H%M%S).jsonl}"
logdir="$(mktemp -d /tmp/core-run.XXXXXX)"
if git -C "$wsx_root" rev-parse --git-dir >/dev/null 2>&1; then
  commit="$(git -C "$wsx_root" rev-parse --short HEAD)"
  git -C "$wsx_root" diff --quiet HEAD -- crates bench/servers || commit+="+dirty"
else
  commit="${WSX_COMMIT:-exported tree $wsx_root}"
fi
echo "results: $out  logs: $logdir" >&2

server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  [[ -n $server_pid ]] && wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Busy and total jiffies of the whole machine.
busy_total() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
# Waits until the machine is below $quiet % busy over 1 s, at most $quiet_wait s; prints the
# last busy %.
wait_quiet() {
  local t0 b0 t0j b1 t1 pct
  t0=$(date +%s)
  while :; do
    read -r b0 t0j < <(busy_total); sleep 1; read -r b1 t1 < <(busy_total)
    pct=$(( (b1 - b0) * 100 / (t1 - t0j > 0 ? t1 - t0j : 1) ))
    if ((pct < quiet)) || (( $(date +%s) - t0 >= quiet_wait )); then echo "$pct"; return; fi
    sleep 4
  done
}
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# The kernel memory sockets hold (KiB): the slab (socket, file, inode and TCP structures) and
# TCP buffer pages. Machine-wide: read on a quiet machine, and halve for one end of a loopback
# connection.
kernel_kb() {
  local slab pages
  slab=$(awk '$1 == "Slab:" { print $2 }' /proc/meminfo)
  pages=$(awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat)
  echo $((slab + ${pages:-0} * 4))
}

start_server() { # subject deflate port log
  local s="$1" z="$2" addr="127.0.0.1:$3" log="$4"
  local cmd=()
  case "$s" in
    wsx) cmd=("$wsx_echo" "$addr" ${z:+--deflate} ${fan:+--fanout}) ;;
    wsx-ev) cmd=("$wsx_echo" "$addr" --events ${z:+--deflate} ${fan:+--fanout}) ;;
    wsx-mt) cmd=("$wsx_echo" "$addr" --threads 2) ;;
    wsx-budget) cmd=("$wsx_echo" "$addr" --memory-budget $((1 << 30)) ${z:+--deflate} ${fan:+--fanout}) ;;
    wsx-metrics) cmd=("$wsx_echo-metrics" "$addr" ${z:+--deflate} ${fan:+--fanout}) ;;
    wsx-h2|wsx-h1) cmd=("$wsx_echo-h2" "$addr" ${z:+--deflate} ${fan:+--fanout}) ;;
    wsx-loop) cmd=("$wsx_echo" "$addr" --fanout-loop) ;;
    uws) cmd=("$UWS_ECHO" "$addr" ${fan:+--fanout}) ;;
    fastwebsockets|tokio-websockets|tokio-tungstenite) cmd=("$bt/$s-echo" "$addr") ;;
    raw) cmd=("$bt/raw-tcp-echo" "$addr") ;;
    node) cmd=(node "$root/bench/peers/node-ws/server.js" "$addr" ${z:+--deflate} ${fan:+--fanout}) ;;
  esac
  # taskset execs the server, so $! is the server's PID.
  taskset -c 0 "${cmd[@]}" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    ss -ltnH "sport = :$3" | grep -q . && { sleep 0.2; return 0; }
    sleep 0.1
  done
  echo "run: $s did not listen on $addr; its log:" >&2
  cat "$log" >&2
  cleanup
  return 1
}

# One run: config, subject, rep. Appends one JSON line to $out.
run_one() {
  local cfg="$1" s="$2" rep="$3" z="" fan="" conns size port log blog busy_before
  # How the load generator connects: over HTTP/2 for wsx-h2, else a TCP connection each (from
  # several source addresses where there are many).
  local h2=() sources=(--source 127.0.0.2-127.0.0.9)
  [[ $s == wsx-h2 ]] && h2=(--http2 "${H2_STREAMS:-100}") && sources=("${h2[@]}")
  [[ $cfg == *+z ]] && z=1
  [[ $cfg == fanout* ]] && fan=1
  busy_before=0
  [[ $cfg == idle* ]] || busy_before=$(wait_quiet)
  port="$(free_port)"
  log="$logdir/$cfg-$s-$rep.server.log"
  blog="$logdir/$cfg-$s-$rep.bench"
  start_server "$s" "$z" "$port" "$log" || return 1
  local rss0 cpu0 url="ws://127.0.0.1:$port/"
  rss0=$(vm_kb "$server_pid" VmRSS)
  cpu0=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$server_pid/stat")
  local extra='{}' rc=0 m0 m1 wall0 wall1
  read -r m0 _ < <(busy_total)
  wall0=$(date +%s.%N)
  if [[ $cfg == idle* ]]; then
    local n="${cfg#idle}" asked
    n="${n/k/000}"
    asked=$n
    ((n > max_idle)) && n=$max_idle
    ( TIMEFORMAT='%U %S'; { time taskset -c 1 timeout 300 "$wsx" bench "$url" -c "$n" --idle 8s \
      "${sources[@]}" --json >"$blog.json" 2>"$blog.err"; } 2>"$blog.time" ) &
    local bpid=$! held="" rss1="" k0 k1=""
    k0=$(kernel_kb)
    for _ in $(seq 1200); do
      grep -q "connections open" "$blog.err" 2>/dev/null && { held=1; break; }
      kill -0 "$bpid" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -n $held ]]; then
      sleep 2
      rss1=$(vm_kb "$server_pid" VmRSS)
      k1=$(kernel_kb)
    fi
    wait "$bpid" || rc=$?
    local open
    open=$(grep -o '[0-9]* connections open' "$blog.err" | cut -d' ' -f1 || true)
    extra=$(python3 -c 'import json,sys
a,n,o,r0,r1,k0,k1=sys.argv[1:8]
o=int(o or 0)
print(json.dumps({"idle_asked": int(a), "idle_n": int(n), "idle_open": o, "server_rss_idle_kb": int(r1) if r1 else None,
  "idle_bytes_per_conn": (int(r1)-int(r0))*1024/o if r1 and o else None,
  "idle_kernel_bytes_per_conn": (int(k1)-int(k0))*1024/o/2 if k1 and o else None}))' "$asked" "$n" "${open:-0}" "$rss0" "$rss1" "$k0" "$k1")
  elif [[ -n $fan ]]; then
    local n="${cfg#fanout}"
    n="${n/k/000}"
    TIMEFORMAT='%U %S'
    { time taskset -c 1 timeout 120 "$wsx" bench "$url" -c "$((n + 1))" --fanout --pipeline 32 \
      -s 20 -d "${dur}s" --warmup "${warm}s" "${sources[@]}" \
      --server-pid "$server_pid" --json >"$blog.json" 2>"$blog.err"; } 2>"$blog.time" || rc=$?
  else
    conns="${cfg%%x*}" size="${cfg#*x}"
    size="${size%+z}"
    TIMEFORMAT='%U %S'
    { time taskset -c 1 timeout 120 "$wsx" bench "$url" -c "$conns" -s "$size" -d "${dur}s" \
      --warmup "${warm}s" ${z:+--deflate} "${h2[@]}" --server-pid "$server_pid" --json >"$blog.json" \
      2>"$blog.err"; } 2>"$blog.time" || rc=$?
  fi
  read -r m1 _ < <(busy_total)
  wall1=$(date +%s.%N)
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run: $s died during $cfg; its log:" >&2
    cat "$log" >&2
    server_pid=""
    return 1
  fi
  local hwm cpu1 line load
  hwm=$(vm_kb "$server_pid" VmHWM)
  cpu1=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$server_pid/stat")
  cleanup
  line=$(grep '^{' "$blog.json" | tail -1 || true)
  if [[ -z $line ]]; then
    echo "run: $s $cfg run $rep: wsx bench printed no result (exit $rc): $(tail -3 "$blog.err")" >&2
    return 1
  fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  python3 - "$line" "$extra" "$s" "$cfg" "$rep" "$rc" "$rss0" "$hwm" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$load" "$commit" \
    "$((m1 - m0))" "$(cat "$blog.time" 2>/dev/null | tail -1)" "$wall0" "$wall1" "$busy_before" >>"$out" <<'EOF'
import datetime, json, sys
line, extra, s, cfg, rep, rc, rss0, hwm, ticks, tck, load, commit, busy, ctime, w0, w1, quiet = sys.argv[1:]
r = json.loads(line)
r.update(json.loads(extra))
wall = float(w1) - float(w0)
try:
    client_s = sum(float(x) for x in ctime.split())
    other = (int(busy) - int(ticks)) / int(tck) - client_s
    r["client_cpu_whole_run_s"] = client_s
    r["other_cpu_percent"] = round(max(other, 0.0) / wall * 100, 1)
except ValueError:
    r["other_cpu_percent"] = None
r["machine_busy_before_percent"] = int(quiet)
r.update({"subject": s, "config": cfg, "rep": int(rep), "bench_rc": int(rc), "commit": commit,
          "server_rss_listen_kb": int(rss0), "server_rss_peak_kb": int(hwm),
          "server_cpu_whole_run_s": int(ticks) / int(tck), "loadavg1": float(load),
          "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
print(json.dumps(r))
EOF
  tail -1 "$out" | python3 "$root/bench/core_table.py" --line >&2
}

t0=$(date +%s)
echo "subjects: ${avail[*]}; configs: ${config_list[*]}; $repeat runs each, ${warm}s warm-up + ${dur}s measured; fd limit $hard (idle connections at most $max_idle)" >&2
for cfg in "${config_list[@]}"; do
  [[ -n $cfg ]] || continue
  [[ $cfg =~ ^(idle[0-9]+k?|fanout[0-9]+k?|[0-9]+x[0-9]+[kK]?(\+z)?)$ ]] || { echo "run: bad config $cfg" >&2; exit 2; }
  echo "== $cfg" >&2
  for rep in $(seq "$repeat"); do
    for s in "${avail[@]}"; do
      if [[ $cfg == *+z && $s != wsx && $s != wsx-ev && $s != wsx-budget && $s != wsx-metrics && $s != node ]]; then continue; fi
      if [[ $cfg == fanout* && $s != wsx && $s != wsx-ev && $s != wsx-metrics && $s != wsx-loop && $s != uws && $s != node ]]; then continue; fi
      if [[ $cfg != fanout* && $s == wsx-loop ]]; then continue; fi
      for try in $(seq 0 "$retries"); do
        run_one "$cfg" "$s" "$rep" || break
        ((try < retries)) && [[ $cfg != idle* ]] || break
        # Redo it if something else competed for the cores.
        python3 - "$out" "$noisy" <<'EOF' || break
import json, sys
path, limit = sys.argv[1], float(sys.argv[2])
lines = open(path).read().splitlines()
r = json.loads(lines[-1])
if (r.get("other_cpu_percent") or 0) <= limit:
    sys.exit(1)
r["superseded"] = True
lines[-1] = json.dumps(r)
open(path, "w").write("\n".join(lines) + "\n")
print(f"   (others used {r['other_cpu_percent']:.0f}% of a core: again)", file=sys.stderr)
EOF
      done
    done
  done
done
echo "done in $(( $(date +%s) - t0 )) s" >&2
table "$out"
