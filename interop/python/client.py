"""A scripted `websockets` client for the wsx interop tests.

    interop/.venv/bin/python interop/python/client.py '<plan json>'   (or --plan-file PATH)

The plan and the output are those of interop/node/client.js: one connection or a list of
connections {url, protocols, deflate, ca, timeout_ms, steps}, steps text / binary / fragments /
big / recv / ping / close / wait_close, one JSON object per line with "conn", then
{"op":"done"} (or {"op":"error"} and exit status 1). `websockets` does not report received
pings, so there are no "ping_received" lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys

from websockets.asyncio.client import connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerutil import client_deflate, describe, emit, generate  # noqa: E402


def read_plan(argv):
    if len(argv) == 2 and argv[0] == "--plan-file":
        with open(argv[1], encoding="utf-8") as f:
            return json.load(f)
    if len(argv) != 1:
        raise SystemExit("usage: client.py '<plan json>' | --plan-file PATH")
    return json.loads(argv[0])


def as_bytes(msg) -> bytes:
    return msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)


class Conn:
    def __init__(self, index: int, spec: dict):
        self.index = index
        self.spec = spec
        self.last_sent = None
        self.ws = None

    def out(self, obj: dict) -> None:
        emit({"conn": self.index, **obj})

    async def open(self) -> None:
        s = self.spec
        ctx = None
        if s.get("ca"):
            ctx = ssl.create_default_context(cafile=s["ca"])
        self.ws = await connect(
            s["url"],
            subprotocols=s.get("protocols") or None,
            extensions=client_deflate(s.get("deflate", True)),
            compression=None,
            ssl=ctx,
            max_size=64 * 1024 * 1024,
            ping_interval=None,
            open_timeout=10,
            close_timeout=5,
        )
        self.out(
            {
                "op": "open",
                "protocol": self.ws.subprotocol,
                "extensions": self.ws.response.headers.get("Sec-WebSocket-Extensions"),
            }
        )

    def closed_line(self) -> dict:
        return {"op": "closed", "code": self.ws.close_code, "reason": self.ws.close_reason or ""}

    async def step(self, st: dict) -> None:
        ws = self.ws
        op = st["op"]
        if op == "text":
            self.last_sent = st["data"]
            await ws.send(st["data"])
        elif op == "binary":
            self.last_sent = bytes.fromhex(st["hex"])
            await ws.send(self.last_sent)
        elif op == "fragments":
            if st["type"] == "binary":
                parts = [bytes.fromhex(p) for p in st["parts"]]
                whole = b"".join(parts)
            else:
                parts = list(st["parts"])
                whole = "".join(parts)
            await ws.send(parts)
            self.last_sent = whole
            self.out({"op": "sent", **describe(whole)})
        elif op == "big":
            data = generate(st["type"], int(st["size"]))
            self.last_sent = data
            self.out({"op": "sent", **describe(data)})
            await ws.send(data)
        elif op == "recv":
            msg = await ws.recv()
            echo = (
                self.last_sent is not None
                and isinstance(msg, str) == isinstance(self.last_sent, str)
                and as_bytes(msg) == as_bytes(self.last_sent)
            )
            self.out({"op": "message", **describe(msg), "echo": echo})
        elif op == "ping":
            data = str(st.get("data", ""))
            waiter = await ws.ping(data)
            await waiter
            self.out({"op": "pong", "data": data})
        elif op == "close":
            await ws.close(int(st["code"]), st.get("reason", ""))
            await ws.wait_closed()
            self.out(self.closed_line())
        elif op == "wait_close":
            await ws.wait_closed()
            self.out(self.closed_line())
        else:
            raise ValueError(f"unknown step {st!r}")


async def main(argv) -> None:
    plan = read_plan(argv)
    conns = plan if isinstance(plan, list) else [plan]
    for i, spec in enumerate(conns):
        timeout = spec.get("timeout_ms", 20000) / 1000
        c = Conn(i, spec)
        await asyncio.wait_for(c.open(), timeout)
        for st in spec.get("steps", []):
            try:
                await asyncio.wait_for(c.step(st), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"timed out after {timeout} s: step {json.dumps(st)[:200]}") from None
        if c.ws.close_code is None:
            await asyncio.wait_for(c.ws.close(1000), timeout)
    emit({"op": "done"})


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1:]))
    except BaseException as e:  # noqa: BLE001 - report every failure as a JSON line
        if isinstance(e, SystemExit) and e.code in (0, None):
            raise
        emit({"op": "error", "message": f"{type(e).__name__}: {e}"})
        sys.exit(1)
    sys.exit(0)
