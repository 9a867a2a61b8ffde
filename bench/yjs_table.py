#!/usr/bin/env python3
"""Turns bench/yjs-run.sh JSON lines into the Yjs tables of docs/BENCHMARKS.md.

Usage: bench/yjs_table.py RESULTS.jsonl [--write docs/BENCHMARKS.md] [--note TEXT]

For each subject, the median over its runs with the range [min - max]:
- one room, N receivers and one writer: deliveries/s and server CPU per delivery (throughput),
  time from the writer's send to the first and the last receiver (latency), memory per client;
- R rooms with one client each: memory per open room and per open document;
- cold open of a document with H keystrokes of history: time to the whole document;
then the issue's targets, as ratios wsx / Node (LevelDB) of the medians. With --write,
replaces what is between the yjs-table markers of that file.
"""
import json
import statistics
import subprocess
import sys
from collections import defaultdict

NAMES = {"wsx": "wsx", "node": "Node y-websocket (LevelDB)", "node-mem": "Node y-websocket (memory only)",
         "floor": "floor: a bare C send loop"}
ORDER = ["wsx", "node", "node-mem", "floor"]


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


def ms(med):
    # One precision per cell, chosen by the median: 0.24 [0.21 – 0.26], 10.8 [9.6 – 11.1], 1673 [1590 – 1912].
    digits = 2 if med < 10_000 else 1 if med < 100_000 else 0
    return lambda v: f"{v / 1000:.{digits}f}"


ms.by_median = True


def med(runs, get):
    vals = [get(r) for r in runs]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ss(r):
    return r.get("server_stats") or {}


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
    by = defaultdict(lambda: defaultdict(list))  # (mode, size) -> subject -> runs
    for r in rows:
        size = {"rooms": r.get("rooms"), "prepare": r.get("history"),
                "coldopen": r.get("history")}.get(r["mode"], r.get("receivers"))
        by[(r["mode"], size)][r["label"]].append(r)

    out = []
    loads = [r["script"]["loadavg1"] for r in rows]
    revs = sorted({r["script"].get("wsx_rev") for r in rows if r["script"].get("wsx_rev")})
    if not revs:
        revs = [subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True).stdout.strip()]
    out.append(f"Medians with [min – max] over the interleaved runs; wsx at {', '.join(revs)}; "
               f"1-min load average after the runs {min(loads):.2f}–{max(loads):.2f}. {note}".strip())

    def table(title, groups, rowspecs):
        subjects = [s for s in ORDER if any(s in g for g in groups.values())]
        if not subjects:
            return
        reps = max(len(v) for g in groups.values() for v in g.values())
        out.append("")
        out.append(f"**{title}** ({reps} runs per subject)")
        out.append("")
        out.append("| figure | " + " | ".join(NAMES[s] for s in subjects) + " |")
        out.append("|---|" + "---:|" * len(subjects))
        for spec in rowspecs:
            name, mode, get, fmt = spec
            if mode is None:  # a row computed by `get(subject)` -> str
                vals = [get(s) for s in subjects]
            else:
                vals = [cell([v for v in (get(r) for r in groups.get(mode, {}).get(s, []))
                              if v is not None], fmt) for s in subjects]
            if any(vals):
                out.append(f"| {name} | " + " | ".join(vals) + " |")

    def lost_row(groups, subjects_modes):
        def get(s):
            runs = [r for m in subjects_modes for r in groups.get(m, {}).get(s, [])]
            if not runs:
                return ""
            return (f"{sum(r.get('lost', 0) for r in runs)} / {sum(r.get('reordered', 0) for r in runs)}"
                    f" / {sum(r.get('duplicates', 0) for r in runs)}")
        return get

    # One room: N receivers and a writer.
    sizes = sorted({k[1] for k in by if k[0] in ("latency", "throughput")})
    per_client = {}  # subject -> median KiB per connection, at the largest N
    fan_med = {}  # (n, subject) -> dict of medians
    for n in sizes:
        groups = {m: by[(m, n)] for m in ("latency", "throughput") if (m, n) in by}
        for s in ORDER:
            lat = groups.get("latency", {}).get(s, [])
            thr = groups.get("throughput", {}).get(s, [])
            if lat or thr:
                fan_med[(n, s)] = {
                    "rate": med(thr, lambda r: r["deliveries_per_s"]),
                    "cpu": med(thr, lambda r: ss(r).get("cpu_us_per_delivery")),
                    "last50": med(lat, lambda r: r["last_us"]["p50"]),
                    "last99": med(lat, lambda r: r["last_us"]["p99"]),
                    "first50": med(lat, lambda r: r["first_us"]["p50"]),
                    "kib": med(lat or thr, lambda r: ss(r).get("rss_per_connection_kb")),
                    "driver": med(thr, lambda r: r.get("driver_busy")),
                }
                per_client[s] = fan_med[(n, s)]["kib"]
        table(f"One room: {n:,} receivers and one writer typing", groups, [
            ("pipelined deliveries/s", "throughput", lambda r: r["deliveries_per_s"], fmt_rate),
            ("server CPU per delivery, pipelined (µs)", "throughput",
             lambda r: ss(r).get("cpu_us_per_delivery"), lambda v: f"{v:.2f}"),
            ("server CPU per keystroke, pipelined (µs)", "throughput",
             lambda r: ss(r).get("cpu_us_per_keystroke"), lambda v: f"{v:.0f}"),
            ("driver busy, pipelined", "throughput", lambda r: r["driver_busy"] * 100,
             lambda v: f"{v:.0f} %"),
            ("time to last receiver p50 (ms)", "latency", lambda r: r["last_us"]["p50"], ms),
            ("time to last receiver p99 (ms)", "latency", lambda r: r["last_us"]["p99"], ms),
            ("time to first receiver p50 (ms)", "latency", lambda r: r["first_us"]["p50"], ms),
            ("writer's own echo p50 (ms)", "latency", lambda r: (r.get("echo_us") or {}).get("p50"), ms),
            ("memory per client, all in the room, synced (KiB)", "latency",
             lambda r: ss(r).get("rss_per_connection_kb"), lambda v: f"{v:.1f}"),
            ("peak RSS, pipelined (MiB)", "throughput",
             lambda r: r["script"]["server_rss_peak_kb"] / 1024, lambda v: f"{v:.0f}"),
            ("lost / reordered / duplicated (all runs)", None,
             lost_row(groups, ["latency", "throughput"]), None),
        ])

    # Many rooms, one client each.
    rooms_med = {}
    for key in sorted(k for k in by if k[0] == "rooms"):
        r_n = key[1]
        # rooms: one client per room; shared: as many clients in one room, syncing only.
        sep = {s: [r for r in v if not r.get("shared")] for s, v in by[key].items()}
        shr = {s: [r for r in v if r.get("shared")] for s, v in by[key].items()}
        groups = {"rooms": sep, "shared": shr}
        for s in ORDER:
            runs = sep.get(s, [])
            if runs:
                client = med(shr.get(s, []), lambda r: ss(r).get("rss_per_room_kb"))
                rooms_med[s] = {
                    "room": med(runs, lambda r: ss(r).get("rss_per_room_kb")),
                    "client": client if client is not None else per_client.get(s),
                    "open50": med(runs, lambda r: r["open_us"]["p50"]),
                }

        def per_doc(s):
            room, client = rooms_med.get(s, {}).get("room"), rooms_med.get(s, {}).get("client")
            if room is None or client is None:
                return ""
            rooms_med[s]["doc"] = room - client
            return f"{room - client:.1f}"

        table(f"{r_n:,} rooms, one client each (each synced and typed one edit)", groups, [
            ("memory per open room with its client (KiB)", "rooms",
             lambda r: ss(r).get("rss_per_room_kb"), lambda v: f"{v:.1f}"),
            (f"memory per client, {r_n:,} in one room syncing only (KiB)", "shared",
             lambda r: ss(r).get("rss_per_room_kb"), lambda v: f"{v:.1f}"),
            ("memory per open document: the two medians' difference (KiB)", None, per_doc, None),
            ("connect → own edit back p50 (ms)", "rooms", lambda r: r["open_us"]["p50"], ms),
            ("connect → own edit back p99 (ms)", "rooms", lambda r: r["open_us"]["p99"], ms),
            ("server CPU per room opened (µs)", "rooms", lambda r: ss(r).get("cpu_us_per_room"),
             lambda v: f"{v:.0f}"),
            ("peak RSS (MiB)", "rooms", lambda r: r["script"]["server_rss_peak_kb"] / 1024,
             lambda v: f"{v:.0f}"),
            ("lost edits / clients not synced (all runs)", None,
             lambda s: (f'{sum(r["lost"] for r in sep.get(s, []))} / {sum(r["lost"] for r in shr.get(s, []))}'
                        if by[key].get(s) else ""),
             None),
        ])

    # Cold open.
    cold_med = {}
    for h in sorted({k[1] for k in by if k[0] in ("coldopen", "prepare")}):
        groups = {m: by[(m, h)] for m in ("coldopen", "prepare") if (m, h) in by}
        for s in ORDER:
            runs = groups.get("coldopen", {}).get(s, [])
            if runs:
                cold_med[s] = med(runs, lambda r: r["complete_ms"])
        table(f"Cold open of a document with {h:,} keystrokes of history", groups, [
            ("connect → whole document (ms)", "coldopen",
             lambda r: r["complete_ms"] and r["complete_ms"] * 1000, ms),
            ("connect → SyncStep2 (ms)", "coldopen", lambda r: r["step2_ms"] and r["step2_ms"] * 1000, ms),
            ("SyncStep2 size (bytes)", "coldopen", lambda r: r["step2_bytes"], lambda v: f"{v:.0f}"),
            ("server CPU during the open (ms)", "coldopen", lambda r: ss(r).get("cpu_s", 0) * 1000,
             lambda v: f"{v:.0f}"),
            ("server RSS after the open (MiB)", "coldopen", lambda r: ss(r).get("rss_end_kb", 0) / 1024,
             lambda v: f"{v:.0f}"),
            ("writing the history: keystrokes/s (one writer, 32 in flight)", "prepare",
             lambda r: r["updates_per_s"], lambda v: f"{v / 1e3:.1f} k"),
            ("writing the history: server CPU per keystroke (µs)", "prepare",
             lambda r: ss(r).get("cpu_us_per_update"), lambda v: f"{v:.0f}"),
            ("lost / reordered / duplicated (all runs)", None,
             lost_row(groups, ["prepare", "coldopen"]), None),
        ])

    # The targets: wsx / Node (LevelDB), medians of the same run.
    def ratio(a, b, unit, lim, better_low, scale=1.0, digits=2):
        if a is None or b is None or b == 0:
            return "–"
        x = a / b
        okay = x <= lim if better_low else x >= lim
        f = f"{{:.{digits}f}}"
        xs = f"{x:.2f}" if abs(x) >= 0.01 else f"{x:.4f}"
        return (f"{f.format(a * scale)} / {f.format(b * scale)} {unit} = **{xs}×**"
                f" ({'met' if okay else 'missed'})")

    targets = []
    if sizes:
        n = sizes[-1]
        w, d = fan_med.get((n, "wsx"), {}), fan_med.get((n, "node"), {})

        rate = ratio(w.get("rate"), d.get("rate"), "", 5, False)
        if w.get("rate") and d.get("rate"):
            rate = f"{fmt_rate(w['rate'])} / {fmt_rate(d['rate'])}" + rate[rate.index(" ="):]
        targets.append(("deliveries/s ≥ 5× Node's", rate))
        targets.append(("CPU per delivery ≤ 0.2× Node's",
                        ratio(w.get("cpu"), d.get("cpu"), "µs", 0.2, True)))
        targets.append(("time to last ≤ 0.5× Node's (p50)",
                        ratio(w.get("last50"), d.get("last50"), "ms", 0.5, True, 1e-3)))
        targets.append(("time to last ≤ 0.5× Node's (p99)",
                        ratio(w.get("last99"), d.get("last99"), "ms", 0.5, True, 1e-3)))
        f = fan_med.get((n, "floor"), {})
        if f.get("last50"):
            # No server pinned to one core gets below the bare send loop on the same core.
            floor = ratio(f.get("last50"), d.get("last50"), "ms", 0.5, True, 1e-3)
            targets.append(("(the floor itself against the same target: a bare C send loop "
                            "/ Node's, p50)", floor.replace("met", "below").replace("missed", "above")))
            over = w.get("last50") / f["last50"] if w.get("last50") else None
            targets.append(("(wsx's time to last over the floor, p50)",
                            f"{w['last50'] / 1000:.2f} / {f['last50'] / 1000:.2f} ms = **{over:.2f}×**"
                            if over else "–"))
    if rooms_med:
        w, d = rooms_med.get("wsx", {}), rooms_med.get("node", {})
        targets.append(("memory per open small document ≤ 0.25× Node's (room with its client)",
                        ratio(w.get("room"), d.get("room"), "KiB", 0.25, True, 1, 1)))
        targets.append(("memory per open small document ≤ 0.25× Node's (less a client's)",
                        ratio(w.get("doc"), d.get("doc"), "KiB", 0.25, True, 1, 1)))
    if cold_med.get("wsx") and cold_med.get("node"):
        a, b = cold_med["wsx"], cold_med["node"]
        targets.append(("cold open, connect → whole document (no target)",
                        f"{a:.1f} / {b:.0f} ms: **{b / a:,.0f}× faster**"))
    lost = {s: sum(r.get("lost", 0) + r.get("reordered", 0) + r.get("duplicates", 0)
                   for r in rows if r["label"] == s) for s in ORDER}
    targets.append(("zero lost updates (lost + reordered + duplicated, every mode and run)",
                    " · ".join(f"{NAMES[s]} {v}" for s, v in lost.items()
                               if any(r["label"] == s for r in rows))))
    if targets:
        out.append("")
        out.append("**Against the targets** (wsx / Node y-websocket with LevelDB, medians of this run)")
        out.append("")
        out.append("| target | result |")
        out.append("|---|---|")
        for t, v in targets:
            out.append(f"| {t} | {v} |")

    text = "\n".join(out)
    if write:
        doc = open(write).read()
        begin, end = "<!-- yjs-table:begin -->", "<!-- yjs-table:end -->"
        i, j = doc.index(begin) + len(begin), doc.index(end)
        open(write, "w").write(doc[:i] + "\n" + text + "\n" + doc[j:])
    print(text)


if __name__ == "__main__":
    main()
