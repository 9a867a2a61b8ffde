"""A configurable `websockets` echo server for the wsx interop tests.

    interop/.venv/bin/python interop/python/server.py [options]

Same options, commands and output as interop/node/server.js: the chosen port on stdout as the
first line, then one JSON object per line.

Options (each also readable from the environment variable in brackets):
  --port N                         port, 0 = ephemeral (default 0)                [WSX_PORT]
  --deflate on|off                 permessage-deflate (default on)                [WSX_DEFLATE]
  --server-no-context-takeover                                     [WSX_SERVER_NO_CONTEXT_TAKEOVER=1]
  --client-no-context-takeover                                     [WSX_CLIENT_NO_CONTEXT_TAKEOVER=1]
  --server-max-window-bits N       8..15                           [WSX_SERVER_MAX_WINDOW_BITS]
  --client-max-window-bits N       8..15                           [WSX_CLIENT_MAX_WINDOW_BITS]
  --protocols a,b                  subprotocols spoken; the first one the client offers that
                                   is in this list is selected     [WSX_PROTOCOLS]
  --tls-cert PATH --tls-key PATH   serve wss:// with these PEM files [WSX_TLS_CERT, WSX_TLS_KEY]
  --redirect URL                   answer every request with a redirect to URL    [WSX_REDIRECT]
  --redirect-status N              301, 302, 303, 307 or 308 (default 302) [WSX_REDIRECT_STATUS]
  --close-code N [--close-reason S]   close every connection at once with this code/reason
                                                                   [WSX_CLOSE_CODE, WSX_CLOSE_REASON]
  --exit-on-stdin-eof              exit when stdin closes (the test harness keeps it open)

Text and binary messages are echoed back unchanged, except the text commands
  cmd:close:<code>:<reason> · cmd:ping:<data> (then "got-pong:<data>" once the pong is in) ·
  cmd:fragments ("frag"+"ment"+"ed ✓", then binary 000102+0304+ff) ·
  cmd:big:<text|binary>:<size>.
Events: connection {path, protocol, extensions (the response header we sent), offer},
message/sent {type, len, crc32, data?}, pong {data}, close {code, reason} (what the client
sent), redirect {path}, error {message}. (`websockets` does not report received pings.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerutil import describe, emit, exit_on_stdin_eof, generate, server_deflate  # noqa: E402


def parse_args(argv):
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=int(env.get("WSX_PORT", "0")))
    p.add_argument("--deflate", choices=["on", "off"], default=env.get("WSX_DEFLATE", "on"))
    p.add_argument(
        "--server-no-context-takeover",
        action="store_true",
        default=env.get("WSX_SERVER_NO_CONTEXT_TAKEOVER") == "1",
    )
    p.add_argument(
        "--client-no-context-takeover",
        action="store_true",
        default=env.get("WSX_CLIENT_NO_CONTEXT_TAKEOVER") == "1",
    )
    p.add_argument("--server-max-window-bits", type=int, default=env.get("WSX_SERVER_MAX_WINDOW_BITS"))
    p.add_argument("--client-max-window-bits", type=int, default=env.get("WSX_CLIENT_MAX_WINDOW_BITS"))
    p.add_argument("--protocols", default=env.get("WSX_PROTOCOLS", ""))
    p.add_argument("--tls-cert", default=env.get("WSX_TLS_CERT"))
    p.add_argument("--tls-key", default=env.get("WSX_TLS_KEY"))
    p.add_argument("--redirect", default=env.get("WSX_REDIRECT"))
    p.add_argument("--redirect-status", type=int, default=int(env.get("WSX_REDIRECT_STATUS", "302")))
    p.add_argument("--close-code", type=int, default=env.get("WSX_CLOSE_CODE"))
    p.add_argument("--close-reason", default=env.get("WSX_CLOSE_REASON", ""))
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    o = p.parse_args(argv)
    o.protocols = [x for x in o.protocols.split(",") if x]
    if o.close_code is not None:
        o.close_code = int(o.close_code)
    return o


async def command(ws, text: str, pending: set) -> None:
    parts = text.split(":")
    if parts[1] == "close":
        await ws.close(int(parts[2]), ":".join(parts[3:]))
    elif parts[1] == "ping":
        data = ":".join(parts[2:])
        waiter = await ws.ping(data)

        async def on_pong():
            try:
                await waiter
                emit({"event": "pong", "data": data})
                await ws.send(f"got-pong:{data}")
            except ConnectionClosed:
                pass

        task = asyncio.ensure_future(on_pong())
        pending.add(task)
        task.add_done_callback(pending.discard)
    elif parts[1] == "fragments":
        await ws.send(["frag", "ment", "ed ✓"])
        await ws.send([b"\x00\x01\x02", b"\x03\x04", b"\xff"])
    elif parts[1] == "big":
        kind = "text" if parts[2] == "text" else "binary"
        data = generate(kind, int(parts[3]))
        emit({"event": "sent", **describe(data)})
        await ws.send(data)
    else:
        emit({"event": "error", "message": f"unknown command {text}"})


def make_handler(o):
    async def handler(ws):
        emit(
            {
                "event": "connection",
                "path": ws.request.path,
                "protocol": ws.subprotocol,
                "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
                "offer": ws.request.headers.get("Sec-WebSocket-Extensions"),
            }
        )
        pending: set = set()
        try:
            if o.close_code is not None:
                await ws.close(o.close_code, o.close_reason)
            async for msg in ws:
                emit({"event": "message", **describe(msg)})
                if isinstance(msg, str) and msg.startswith("cmd:"):
                    await command(ws, msg, pending)
                else:
                    await ws.send(msg)
        except ConnectionClosed:
            pass
        except Exception as e:  # report, never hang
            emit({"event": "error", "message": repr(e)})
        await ws.wait_closed()
        emit({"event": "close", "code": ws.close_code, "reason": ws.close_reason or ""})

    return handler


def make_redirect(o):
    def process_request(connection, request):
        emit({"event": "redirect", "path": request.path})
        response = connection.respond(HTTPStatus(o.redirect_status), "")
        response.headers["Location"] = o.redirect
        return response

    return process_request


async def main(argv) -> None:
    o = parse_args(argv)
    if o.exit_on_stdin_eof:
        exit_on_stdin_eof()
    ctx = None
    if o.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(o.tls_cert, o.tls_key)
    deflate = (
        False
        if o.deflate == "off"
        else {
            "server_no_context_takeover": o.server_no_context_takeover,
            "client_no_context_takeover": o.client_no_context_takeover,
            "server_max_window_bits": o.server_max_window_bits,
            "client_max_window_bits": o.client_max_window_bits,
        }
    )

    def select_subprotocol(connection, offered):
        for p in offered:
            if p in o.protocols:
                return p
        return None

    async with serve(
        make_handler(o),
        "127.0.0.1",
        o.port,
        extensions=server_deflate(deflate),
        compression=None,
        subprotocols=o.protocols or None,
        select_subprotocol=select_subprotocol,
        process_request=make_redirect(o) if o.redirect else None,
        ssl=ctx,
        max_size=64 * 1024 * 1024,
        ping_interval=None,
        close_timeout=5,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
