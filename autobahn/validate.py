#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite report directory and fail on bad cases.

Usage: validate.py REPORTS_DIR_OR_INDEX_JSON

Reads index.json, prints per agent the counts of each `behavior` and
`behaviorClose` value, lists every case whose behavior or behaviorClose is not
OK/INFORMATIONAL, and prints the total case count.

Exit status: 0 all cases OK/INFORMATIONAL, 1 at least one other case,
2 index.json missing/unreadable/empty.
"""
import json
import os
import sys
from collections import Counter

ACCEPTED = {"OK", "INFORMATIONAL"}


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = argv[1]
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print(f"ERROR: cannot read {path}: {e}", file=sys.stderr)
        return 2
    if not index:
        print(f"ERROR: {path} contains no agents", file=sys.stderr)
        return 2

    print(f"Report: {path}")
    total = 0
    bad_total = 0
    for agent in sorted(index):
        cases = index[agent]
        total += len(cases)
        beh = Counter(c.get("behavior") for c in cases.values())
        beh_close = Counter(c.get("behaviorClose") for c in cases.values())
        bad = [
            (cid, c.get("behavior"), c.get("behaviorClose"))
            for cid, c in cases.items()
            if c.get("behavior") not in ACCEPTED or c.get("behaviorClose") not in ACCEPTED
        ]
        bad.sort(key=lambda t: case_key(t[0]))
        bad_total += len(bad)

        print(f"\nAgent: {agent}  ({len(cases)} cases)")
        print("  behavior:      " + ", ".join(f"{k}={v}" for k, v in sorted(beh.items(), key=lambda kv: str(kv[0]))))
        print("  behaviorClose: " + ", ".join(f"{k}={v}" for k, v in sorted(beh_close.items(), key=lambda kv: str(kv[0]))))
        if bad:
            print(f"  Cases not OK/INFORMATIONAL: {len(bad)}")
            print(f"    {'case':<10} {'behavior':<15} behaviorClose")
            for cid, b, bc in bad:
                print(f"    {cid:<10} {str(b):<15} {bc}")
        else:
            print("  All cases OK/INFORMATIONAL")

    print(f"\nTotal cases: {total} across {len(index)} agent(s); not OK/INFORMATIONAL: {bad_total}")
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
