"""A python-socketio client (the official Python port of the Socket.IO client) running a fixed
scenario against a wsx Socket.IO server; driven by crates/wsx-socketio/tests/interop_python.rs.

usage: sio_client.py URL TRANSPORT   (TRANSPORT: polling or websocket)

Prints one JSON line per step; exits 0 when every step happened, 1 otherwise.
Scenario: connect to "/" (auth {"user": "py"}) and "/news"; receive "welcome" with the auth;
call "sum" and get its ack; send bytes in "bin" and get them echoed; answer the server's
"ask" through the ack; "subscribe" on /news and get the room broadcast; disconnect.
"""

from __future__ import annotations

import json
import sys
import threading

import socketio

TIMEOUT = 15


def out(**kw) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main() -> int:
    url, transport = sys.argv[1], sys.argv[2]
    sio = socketio.Client(reconnection=False)
    got: dict[str, threading.Event] = {k: threading.Event() for k in ("welcome", "bin", "ask", "news")}

    @sio.event
    def connect():
        out(ev="connect", sid=sio.get_sid(), transport=sio.transport())

    @sio.event
    def connect_error(data):
        out(ev="connect_error", data=data)

    @sio.on("welcome")
    def welcome(data):
        out(ev="welcome", data=data)
        got["welcome"].set()

    @sio.on("bin")
    def on_bin(data):
        out(ev="bin", hex=data.hex(), type=type(data).__name__)
        got["bin"].set()

    @sio.on("ask")
    def on_ask(question):
        out(ev="ask", question=question)
        got["ask"].set()
        return "answer to " + question

    @sio.on("news", namespace="/news")
    def on_news(*args):
        out(ev="news", args=list(args))
        got["news"].set()

    sio.connect(url, transports=[transport], auth={"user": "py"}, namespaces=["/", "/news"],
                wait_timeout=TIMEOUT)
    ok = got["welcome"].wait(TIMEOUT)
    out(ev="sum", result=sio.call("sum", (2, 3), timeout=TIMEOUT))
    sio.emit("bin", b"\x00\x01\x02\xff")
    ok = got["bin"].wait(TIMEOUT) and ok
    sio.emit("start")
    ok = got["ask"].wait(TIMEOUT) and ok
    sio.emit("subscribe", namespace="/news")
    ok = got["news"].wait(TIMEOUT) and ok
    out(ev="transport", transport=sio.transport())
    sio.disconnect()
    out(ev="done", ok=bool(ok))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
