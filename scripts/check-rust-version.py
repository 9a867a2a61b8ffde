#!/usr/bin/env python3
"""Checks that every workspace crate's `rust-version` is true for its dependencies: at least
the largest `rust-version` any crate in its dependency closure declares (normal and build
dependencies, all features, the versions Cargo.lock resolves).

This only sees what dependencies declare (yrs 0.28 declares nothing and needs Rust 1.95), so
scripts/test.sh also builds the crates with the toolchains their rust-version names, and
clippy's `incompatible_msrv` lint flags standard-library APIs newer than it. Exits 1 and names
the dependency when a crate claims less than a dependency declares.
"""
import json
import subprocess
import sys


def version(text):
    """`1.85` and `1.85.0` alike, as (1, 85, 0)."""
    parts = [int(x) for x in text.split(".")] if text else []
    return tuple((parts + [0, 0, 0])[:3])


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
        check=True, capture_output=True, text=True).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    failed = False
    for member in meta["workspace_members"]:
        closure, stack = set(), [member]
        while stack:
            pkg = stack.pop()
            if pkg in closure:
                continue
            closure.add(pkg)
            for dep in nodes[pkg]["deps"]:
                kinds = {k["kind"] for k in dep["dep_kinds"]}
                if None in kinds or "build" in kinds:
                    stack.append(dep["pkg"])
        need, needed_by = (0, 0, 0), "nothing"
        for pkg in closure - {member}:
            v = version(packages[pkg].get("rust_version"))
            if v > need:
                need, needed_by = v, f"{packages[pkg]['name']} {packages[pkg]['version']}"
        p = packages[member]
        declared = p.get("rust_version")
        ok = declared is not None and version(declared) >= need
        failed |= not ok
        print(f"{'ok ' if ok else 'BAD'} {p['name']:14} rust-version {declared}, its dependencies "
              f"need {'.'.join(map(str, need))} ({needed_by})")
    if failed:
        print("rust-version: a crate claims less than its dependencies need", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
