#!/usr/bin/env python3
"""Turns bench/sio-run.sh JSON lines into the Socket.IO table of docs/BENCHMARKS.md.

Usage: bench/sio_table.py RESULTS.jsonl [--write docs/BENCHMARKS.md] [--note TEXT]

Groups the runs by receivers, mode, transport and payload, and prints for each subject the
median over its runs with the range [min - max]: deliveries/s and server CPU per delivery
(throughput mode), time to the first and the last receiver (latency mode), idle memory per
client, peak RSS, lost and reordered. With --write, replaces what is between the sio-table
markers of that file.
"""
import json
import statistics
import subprocess
import sys
from collections import defaultdict

NAMES = {"wsx": "wsx", "sioxide": "socketioxide", "node": "Node socket.io"}
ORDER = ["wsx", "sioxide", "node"]


def fmt_rate(v):
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"


def cell(values, fmt):
    if not values:
        return ""
    med = statistics.median(values)
    if getattr(fmt, "by_median", False):
        fmt = fmt(med)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(values))} – {fmt(max(values))}]"


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    path, write, note = args[0], None, ""
    if "--write" in args:
        write = args[args.index("--write") + 1]
    if "--note" in args:
        note = args[args.index("--note") + 1]
    rows = [json.loads(line) for line in open(path) if line.strip()]
    # (receivers, transport, payload) -> mode -> subject -> runs
    groups = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        key = (r["receivers"], r["transport"], r["payload_bytes"])
        groups[key][r["mode"]][r["label"]].append(r)

    out = []
    loads = [r["script"]["loadavg1"] for r in rows]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out.append(f"Medians with [min – max] over the interleaved runs; wsx at {commit}; "
               f"1-min load average after the runs {min(loads):.2f}–{max(loads):.2f}. {note}".strip())
    for key in sorted(groups, key=lambda k: (k[1] != "websocket", k[2], k[0])):
        n, transport, size = key
        modes = groups[key]
        subjects = [s for s in ORDER if any(s in modes[m] for m in modes)]
        reps = max(len(v) for m in modes.values() for v in m.values())
        size_s = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
        out.append("")
        out.append(f"**{n:,} {transport} receivers, {size_s} payload** ({reps} runs per subject)")
        out.append("")
        out.append("| figure | " + " | ".join(NAMES[s] for s in subjects) + " |")
        out.append("|---|" + "---:|" * len(subjects))

        def row(title, mode, get, fmt):
            vals = [cell([get(r) for r in modes.get(mode, {}).get(s, [])], fmt) for s in subjects]
            if any(vals):
                out.append(f"| {title} | " + " | ".join(vals) + " |")

        def ms(med):
            # One precision per cell, chosen by the median: 0.24 [0.21 – 0.26], 83 [78 – 107].
            digits = 2 if med < 10_000 else 0
            return lambda v: f"{v / 1000:.{digits}f}"

        ms.by_median = True
        row("pipelined deliveries/s", "throughput", lambda r: r["deliveries_per_s"], fmt_rate)
        row("server CPU per delivery, pipelined (µs)", "throughput",
            lambda r: r["server_stats"]["cpu_us_per_delivery"], lambda v: f"{v:.2f}")
        row("driver busy, pipelined", "throughput", lambda r: r["driver_busy"] * 100,
            lambda v: f"{v:.0f} %")
        row("time to last receiver p50 (ms)", "latency", lambda r: r["last_us"]["p50"], ms)
        row("time to last receiver p99 (ms)", "latency", lambda r: r["last_us"]["p99"], ms)
        row("time to first receiver p50 (ms)", "latency", lambda r: r["first_us"]["p50"], ms)
        row("idle memory per client (KiB)", "latency",
            lambda r: r["server_stats"]["rss_per_connection_kb"], lambda v: f"{v:.1f}")
        if "latency" not in modes:
            row("idle memory per client (KiB)", "throughput",
                lambda r: r["server_stats"]["rss_per_connection_kb"], lambda v: f"{v:.1f}")
        row("peak RSS, pipelined (MiB)", "throughput",
            lambda r: r["script"]["server_rss_peak_kb"] / 1024, lambda v: f"{v:.0f}")
        lost = []
        for s in subjects:
            runs = [r for m in modes.values() for r in m.get(s, [])]
            lost.append(f"{sum(r['lost'] for r in runs)} / {sum(r['reordered'] for r in runs)}")
        out.append("| lost / reordered (all runs) | " + " | ".join(lost) + " |")

    text = "\n".join(out)
    if write:
        doc = open(write).read()
        begin, end = "<!-- sio-table:begin -->", "<!-- sio-table:end -->"
        i, j = doc.index(begin) + len(begin), doc.index(end)
        open(write, "w").write(doc[:i] + "\n" + text + "\n" + doc[j:])
    print(text)


if __name__ == "__main__":
    main()
