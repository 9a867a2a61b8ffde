"""Helpers shared by the Python peers (server.py, client.py): JSON-line output, payload
descriptions, payload generation, permessage-deflate factories."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import zlib

from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

#: Payloads up to this size are included in the output (text as is, binary as hex).
INLINE = 256

_lock = threading.Lock()


def emit(obj: dict) -> None:
    """Prints one JSON line on stdout and flushes it."""
    line = json.dumps(obj)
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def describe(msg: str | bytes) -> dict:
    """Type, length (bytes), CRC-32 and, when short, the data of a message."""
    is_text = isinstance(msg, str)
    raw = msg.encode("utf-8") if is_text else bytes(msg)
    d = {"type": "text" if is_text else "binary", "len": len(raw), "crc32": zlib.crc32(raw)}
    if len(raw) <= INLINE:
        d["data"] = msg if is_text else raw.hex()
    return d


def generate(kind: str, size: int) -> str | bytes:
    """`size` bytes: random for binary, printable ASCII (random words, repeated) for text."""
    if kind == "binary":
        return os.urandom(size)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_"
    chunk = "".join(random.choice(alphabet) for _ in range(min(size, 4096)))
    if not chunk:
        return ""
    return (chunk * (size // len(chunk) + 1))[:size]


def _bits(v):
    return None if v is None else int(v)


def server_deflate(spec) -> list:
    """Server extension factories for a deflate spec: False/"off" (none), True (accept offers as
    they are) or a dict of the four RFC 7692 parameters (snake_case)."""
    if spec is False or spec == "off":
        return []
    spec = spec if isinstance(spec, dict) else {}
    return [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=bool(spec.get("server_no_context_takeover")),
            client_no_context_takeover=bool(spec.get("client_no_context_takeover")),
            server_max_window_bits=_bits(spec.get("server_max_window_bits")),
            client_max_window_bits=_bits(spec.get("client_max_window_bits")),
        )
    ]


def client_deflate(spec) -> list:
    """Client extension factories for a deflate spec: False (no offer), True (the default offer,
    `permessage-deflate; client_max_window_bits`) or a dict of the four parameters."""
    if spec is False or spec == "off":
        return []
    spec = spec if isinstance(spec, dict) else {}
    cmwb = spec.get("client_max_window_bits", True)
    return [
        ClientPerMessageDeflateFactory(
            server_no_context_takeover=bool(spec.get("server_no_context_takeover")),
            client_no_context_takeover=bool(spec.get("client_no_context_takeover")),
            server_max_window_bits=_bits(spec.get("server_max_window_bits")),
            client_max_window_bits=True if cmwb is True or cmwb is None else int(cmwb),
        )
    ]


def exit_on_stdin_eof() -> None:
    """Exits the process when stdin reaches EOF (the parent test process is gone)."""

    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
