#!/usr/bin/env python3
"""Tables of bench/run.sh results (one JSON line per run): printed, and with --docs FILE also
written into FILE between <!-- core-table:begin --> and <!-- core-table:end --> with the
machine they ran on. Python 3 standard library only."""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys

ORDER = ["wsx", "wsx-ev", "wsx-mt", "wsx-budget", "wsx-metrics", "wsx-h1", "wsx-h2", "wsx-loop", "uws", "fastwebsockets", "tokio-websockets", "tokio-tungstenite",
         "raw", "node"]
NAMES = {"wsx": "wsx", "wsx-ev": "wsx (events)", "wsx-mt": "wsx (multi-thread)", "wsx-budget": "wsx (memory budget)", "wsx-metrics": "wsx (metrics, Prometheus recorder)", "wsx-h1": "wsx (http2 build, HTTP/1.1)", "wsx-h2": "wsx over HTTP/2", "wsx-loop": "wsx (loop of sends)", "uws": "µWS", "fastwebsockets":
         "fastwebsockets", "tokio-websockets": "tokio-websockets", "tokio-tungstenite":
         "tokio-tungstenite", "raw": "raw echo (floor)", "node": "Node ws"}
# What wsx is compared with: the real peers, not itself and not the floor.
PEERS = ["uws", "fastwebsockets", "tokio-websockets", "tokio-tungstenite", "node"]
BEGIN, END = "<!-- core-table:begin -->", "<!-- core-table:end -->"


def cfg_key(c):
    if c.startswith("idle"):
        return (2, int(c[4:].replace("k", "000")), 0, "")
    if c.startswith("fanout"):
        return (3, int(c[6:].replace("k", "000")), 0, "")
    z = c.endswith("+z")
    conns, size = c.removesuffix("+z").split("x")
    size = int(size.lower().replace("k", "")) * (1024 if "k" in size.lower() else 1)
    return (1 if z else 0, int(conns), size, c)


def cfg_name(c):
    if c.startswith("idle"):
        return f"idle {c[4:]}"
    if c.startswith("fanout"):
        return f"1 publisher → {c[6:]} receivers, 20 B"
    conns, size = c.removesuffix("+z").split("x")
    size = size.replace("k", " KiB") if "k" in size else f"{size} B"
    return f"{conns} × {size}" + (", deflate" if c.endswith("+z") else "")


def k(n):
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1000:.0f}k" if n >= 10000 else f"{n / 1000:.1f}k"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def groups(rows):
    g = {}
    for r in rows:
        g.setdefault((r["config"], r["subject"]), []).append(r)
    configs = sorted({c for c, _ in g}, key=cfg_key)
    subjects = [s for s in ORDER if any(s == t for _, t in g)]
    return g, configs, subjects


def machine(rows):
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    commits = sorted({r.get("commit", "?") for r in rows})
    dates = sorted({r.get("date", "?") for r in rows})
    return (f"{model}, {os.cpu_count()} cores, Linux {platform.release()}; "
            f"{dates[0]} – {dates[-1]}; wsx at commit {', '.join(commits)}")


def versions(root):
    out = []
    lock = os.path.join(root, "bench", "Cargo.lock")
    try:
        text = open(lock).read()
        for name in ["tokio", "fastwebsockets", "tokio-websockets", "tokio-tungstenite", "hyper"]:
            m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
            if m:
                out.append(f"{name} {m.group(1)}")
    except OSError:
        pass
    try:
        ws = json.load(open(os.path.join(root, "bench/peers/node-ws/node_modules/ws/package.json")))
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        out.append(f"ws {ws['version']} on Node {node}")
    except (OSError, ValueError):
        pass
    if os.environ.get("UWS_DESC"):
        out.append(f"µWebSockets {os.environ['UWS_DESC']}")
    return ", ".join(out)


def render(rows, root):
    g, configs, subjects = groups(rows)
    echo = [c for c in configs if not c.startswith(("idle", "fanout"))]
    idle = [c for c in configs if c.startswith("idle")]
    fan = [c for c in configs if c.startswith("fanout")]
    L = []
    reps = max(len(v) for v in g.values())
    L.append(f"Machine: {machine(rows)}. Peers: {versions(root)}.")
    L.append("")
    L.append(f"Medians of {reps} interleaved runs per cell (server on core 0, `wsx bench` on core 1). "
             "`*`: in at least one run the load generator used ≥ 90% of its core (client-bound), "
             "so msgs/s there is a lower bound for the server; compare server CPU µs/msg instead.")
    # A subject's columns appear only in the tables of the configs it ran.
    es = [s for s in subjects if any(g.get((c, s)) for c in echo + idle)]
    if echo:
        L.append("")
        L.append("**Echoes per second, and server CPU time per message (µs)**")
        L.append("")
        ours = [s for s in ("wsx", "wsx-ev") if s in es]
        L.append("| config | " + " | ".join(NAMES[s] for s in es) + "".join(
            f" | {NAMES[o]} ÷ best peer (msgs/s · CPU)" for o in ours) + " |")
        L.append("|---|" + "---:|" * len(es) + "---|" * len(ours))
        for c in echo:
            cells, best_rate, best_cpu = [], None, None
            for s in es:
                rs = g.get((c, s))
                if not rs:
                    cells.append("")
                    continue
                rate = med([r["msgs_per_sec"] for r in rs])
                cpu = med([r.get("server_cpu_us_per_msg") for r in rs])
                star = "*" if any(r["client_bound"] for r in rs) else ""
                err = " ⚠" if any(r["errors"] for r in rs) else ""
                cells.append(f"{k(rate)}{star} ({cpu:.1f}){err}" if cpu else f"{k(rate)}{star}{err}")
                if s in PEERS:
                    best_rate = max(best_rate or 0, rate)
                    if cpu:
                        best_cpu = min(best_cpu or 1e18, cpu)
            ratios = []
            for o in ours:
                ratio = ""
                if g.get((c, o)) and best_rate:
                    wr = med([r["msgs_per_sec"] for r in g[(c, o)]])
                    wc = med([r.get("server_cpu_us_per_msg") for r in g[(c, o)]])
                    ratio = f"{wr / best_rate:.2f} · {wc / best_cpu:.2f}" if wc and best_cpu else f"{wr / best_rate:.2f}"
                ratios.append(ratio)
            L.append(f"| {cfg_name(c)} | " + " | ".join(cells) + "".join(f" | {r}" for r in ratios) + " |")
        L.append("")
        L.append("**Server peak RSS (VmHWM, MiB)**")
        L.append("")
        L.append("| config | " + " | ".join(NAMES[s] for s in es) + " |")
        L.append("|---|" + "---:|" * len(es))
        for c in echo:
            cells = []
            for s in es:
                rs = g.get((c, s))
                cells.append(f"{med([r['server_rss_peak_kb'] for r in rs]) / 1024:.1f}" if rs else "")
            L.append(f"| {cfg_name(c)} | " + " | ".join(cells) + " |")
    if idle:
        L.append("")
        L.append("**Idle connections: server RSS per connection (bytes), + the kernel memory (slab and TCP "
                 "buffers) per connection where measured (half of what the machine's kernel gained: both "
                 "ends are on this machine), connections held**")
        L.append("")
        L.append("| config | " + " | ".join(NAMES[s] for s in es) + " |")
        L.append("|---|" + "---:|" * len(es))
        for c in idle:
            cells = []
            for s in es:
                rs = g.get((c, s))
                if not rs:
                    cells.append("")
                    continue
                b = med([r.get("idle_bytes_per_conn") for r in rs])
                kern = med([r.get("idle_kernel_bytes_per_conn") for r in rs])
                n = min(r.get("idle_open", 0) for r in rs)
                cells.append((f"{b:,.0f} B" if b is not None else "-")
                             + (f" + {kern:,.0f} B kernel" if kern is not None else "") + f" ({n:,})")
            asked = max(r.get("idle_asked", 0) for s in es for r in g.get((c, s), []))
            held = max(r.get("idle_n", 0) for s in es for r in g.get((c, s), []))
            name = cfg_name(c) + (f" (capped at {held:,} by the fd limit)" if held < asked else "")
            L.append(f"| {name} | " + " | ".join(cells) + " |")
    if fan:
        L.append("")
        L.append("**Broadcast (`wsx bench --fanout`, 32 broadcasts in flight): deliveries per second, "
                 "server CPU per delivery (µs), peak RSS, delivery latency p50 / p99 (ms), errors**")
        L.append("")
        L.append("| config | " + " | ".join(NAMES[s] for s in subjects if any(g.get((c, s)) for c in fan)) + " |")
        fs = [s for s in subjects if any(g.get((c, s)) for c in fan)]
        L.append("|---|" + "---:|" * len(fs))
        for c in fan:
            cells = []
            for s in fs:
                rs = g.get((c, s))
                if not rs:
                    cells.append("")
                    continue
                rate = med([r["msgs_per_sec"] for r in rs])
                cpu = med([r.get("server_cpu_us_per_msg") for r in rs])
                rss = med([r["server_rss_peak_kb"] for r in rs]) / 1024
                p50 = med([(r.get("latency_us") or {}).get("p50") for r in rs])
                p99 = med([(r.get("latency_us") or {}).get("p99") for r in rs])
                star = "*" if any(r["client_bound"] for r in rs) else ""
                errs = sum(r["errors"] for r in rs)
                lat = f"{p50 / 1000:.1f} / {p99 / 1000:.1f} ms" if p50 and p99 else "-"
                cells.append(f"{k(rate)}{star} ({cpu:.2f} µs), {rss:.0f} MiB, {lat}, {errs} errors"
                             if cpu else f"{k(rate)}{star}, {rss:.0f} MiB, {lat}, {errs} errors")
            L.append(f"| {cfg_name(c)} | " + " | ".join(cells) + " |")
    if echo:
        L.append("")
        L.append("<details><summary>Every cell: median [min – max] of msgs/s, server CPU µs/msg, "
                 "server CPU %, client CPU %, runs client-bound, errors, and the most CPU anything else on the "
                 "machine used during a run of the cell (% of one core)</summary>")
        L.append("")
        L.append("| config | subject | msgs/s | server µs/msg | server CPU % | peak RSS MiB | client CPU % | client-bound | errors | others' CPU % (max) |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in echo:
            for s in es:
                rs = g.get((c, s))
                if not rs:
                    continue
                rates = [r["msgs_per_sec"] for r in rs]
                cpus = [r.get("server_cpu_us_per_msg") or 0 for r in rs]
                L.append(
                    f"| {cfg_name(c)} | {NAMES[s]} | {med(rates):,.0f} [{min(rates):,.0f} – {max(rates):,.0f}] | "
                    f"{med(cpus):.2f} [{min(cpus):.2f} – {max(cpus):.2f}] | "
                    f"{med([r.get('server_cpu_percent') for r in rs]) or 0:.0f} | "
                    f"{med([r['server_rss_peak_kb'] for r in rs]) / 1024:.1f} | "
                    f"{med([r.get('client_cpu_percent') for r in rs]) or 0:.0f} | "
                    f"{sum(1 for r in rs if r['client_bound'])}/{len(rs)} | {sum(r['errors'] for r in rs)} | "
                    f"{max((r.get('other_cpu_percent') or 0) for r in rs):.0f} |")
        L.append("")
        L.append("</details>")
    return "\n".join(L)


def line(r):
    """One run, as run.sh prints it while going."""
    head = f"   {r['subject']:<18} {r['config']:<10} run {r['rep']}: "
    if r["mode"] == "idle":
        b = r.get("idle_bytes_per_conn")
        return (head + f"{r.get('idle_open', 0)} open, "
                + (f"{b:.0f} B/conn" if b is not None else "no RSS reading")
                + f", peak RSS {r['server_rss_peak_kb'] / 1024:.1f} MiB")
    c = r.get("server_cpu_us_per_msg")
    return (head + f"{r['msgs_per_sec']:>9.0f} msgs/s, server "
            + (f"{c:.2f}" if c else "-") + f" µs/msg, peak RSS {r['server_rss_peak_kb'] / 1024:.1f} MiB, "
            + f"client CPU {r.get('client_cpu_percent') or 0:.0f}%"
            + (" CLIENT-BOUND" if r["client_bound"] else "")
            + (f", others {r['other_cpu_percent']:.0f}%" if r.get("other_cpu_percent") is not None else "")
            + (f" errors {r['errors']}" if r["errors"] else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="?")
    ap.add_argument("--docs")
    ap.add_argument("--line", action="store_true", help="print one run read from stdin")
    a = ap.parse_args()
    if a.line:
        print(line(json.loads(sys.stdin.read())))
        return 0
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    # Runs redone because something else competed for the cores.
    rows = [r for r in rows if not r.get("superseded")]
    if not rows:
        print("no results", file=sys.stderr)
        return 1
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = render(rows, root)
    print(text)
    if a.docs:
        block = f"{BEGIN}\n_Generated by `bench/run.sh` from `{os.path.relpath(a.results, root)}`._\n\n{text}\n{END}"
        doc = open(a.docs).read() if os.path.exists(a.docs) else ""
        if BEGIN in doc and END in doc:
            doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
        else:
            doc = doc.rstrip("\n") + "\n\n## Latest core run\n\n" + block + "\n"
        open(a.docs, "w").write(doc)
        print(f"(updated {a.docs})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
