#!/usr/bin/env bash
# Installs the real peers the interop tests drive (crates/wsx/tests/interop_*.rs):
#   - Node `ws` and `socket.io-client` into interop/node_modules (npm ci, from package-lock.json)
#   - Python `websockets` and `python-socketio` into the virtualenv interop/.venv (from requirements.txt)
#   - Debian's `chromium` (apt) for the demo page's end-to-end test and the socket.io-client
#     browser tests, driven by playwright-core
#   - Debian's `redis-server` (apt) for the cluster tests of crates/wsx-redis (each test starts
#     its own on 127.0.0.1; the service itself is not started here)
#   - Debian's `tinyproxy` and `microsocks` (apt) for the client's proxy tests
#   - Debian's `prometheus` (apt) for `promtool check metrics` on `wsx serve`'s /metrics
# Idempotent: each part is skipped when a stamp holding the hash of its inputs is current.
# Environment: NODE (default node), NPM (default npm), PYTHON (default python3.11 if present,
# else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

NODE="${NODE:-node}"
NPM="${NPM:-npm}"
if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

die() { echo "interop/setup.sh: $*" >&2; exit 1; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Node ---------------------------------------------------------------------------------
command -v "$NODE" >/dev/null 2>&1 || die "node not found on PATH"
command -v "$NPM" >/dev/null 2>&1 || die "npm not found on PATH"
node_major="$("$NODE" -p 'process.versions.node.split(".")[0]')"
(( node_major >= 18 )) || die "node >= 18 required (found $("$NODE" --version))"

node_hash="$(hash_of package.json $(ls package-lock.json 2>/dev/null); "$NODE" --version)"
node_stamp="node_modules/.wsx-interop-stamp"
if [[ -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_hash" && -f node_modules/ws/package.json ]]; then
  echo "interop/setup.sh: node_modules up to date"
else
  if [[ -f package-lock.json ]]; then
    echo "interop/setup.sh: installing node modules (npm ci)"
    "$NPM" ci --no-audit --no-fund --loglevel=error || die "npm ci failed"
  else
    echo "interop/setup.sh: installing node modules (npm install: no package-lock.json)"
    "$NPM" install --no-audit --no-fund --loglevel=error || die "npm install failed"
  fi
  "$NODE" -e 'require("ws"); require("playwright-core"); require("socket.io-client"); require("socket.io"); require("@socket.io/redis-adapter"); require("redis"); require("yjs"); require("y-websocket"); require("y-protocols/sync"); require("lib0/encoding"); require("y-websocket-server-ref/bin/utils")' \
    || die "ws, playwright-core, socket.io(-client), @socket.io/redis-adapter, redis, yjs, y-websocket, y-protocols, lib0 or y-websocket-server-ref does not load after npm ci"
  echo "$node_hash" >"$node_stamp"
fi

# --- Python -------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found on PATH"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "python >= 3.10 required (found $("$PYTHON" --version 2>&1))"

py_hash="$(hash_of requirements.txt; "$PYTHON" --version 2>&1)"
py_stamp=".venv/.wsx-interop-stamp"
if [[ -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_hash" && -x .venv/bin/python ]]; then
  echo "interop/setup.sh: .venv up to date"
else
  echo "interop/setup.sh: creating .venv with $("$PYTHON" --version 2>&1)"
  rm -rf .venv
  "$PYTHON" -m venv .venv || die "python -m venv failed"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r requirements.txt \
    || die "pip install failed"
  .venv/bin/python -c 'import websockets, socketio' || die "websockets or socketio does not import after pip install"
  echo "$py_hash" >"$py_stamp"
fi

# --- Debian packages ------------------------------------------------------------------------
# apt_need "PACKAGE..." BINARY...: installs the packages (apt) when one of the binaries is missing.
apt_need() {
  local packages="$1" missing=""
  shift
  for b in "$@"; do [[ -x $b ]] || missing="$missing $b"; done
  [[ -z $missing ]] && return 0
  command -v apt-get >/dev/null 2>&1 || die "$missing missing and no apt-get to install $packages"
  local sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  echo "interop/setup.sh: installing $packages (apt)"
  $sudo apt-get update -qq || die "apt-get update failed"
  # shellcheck disable=SC2086 # the package list splits into words
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null \
    || die "apt-get install $packages failed"
}

# Debian's Chromium (playwright cannot download its own browser here).
apt_need chromium /usr/bin/chromium
/usr/bin/chromium --version >/dev/null 2>&1 || die "chromium does not run"

# Debian's redis-server, for crates/wsx-redis's cluster tests (they start it themselves).
apt_need redis-server /usr/bin/redis-server
/usr/bin/redis-server --version >/dev/null 2>&1 || die "redis-server does not run"

# Debian's tinyproxy (HTTP CONNECT, Basic auth) and microsocks (SOCKS5, username/password) for
# the client's proxy tests in crates/wsx (each test starts its own on 127.0.0.1).
apt_need "tinyproxy microsocks" /usr/bin/tinyproxy /usr/bin/microsocks

# Prometheus' linter for `wsx serve`'s /metrics (crates/wsx-cli/tests/serve.rs), from Debian's
# prometheus package (nothing of it is started).
apt_need prometheus /usr/bin/promtool
/usr/bin/promtool --version >/dev/null 2>&1 || die "promtool does not run"

echo "interop/setup.sh: ready (node $("$NODE" --version), $(.venv/bin/python --version 2>&1), websockets $(.venv/bin/python -c 'import websockets; print(websockets.__version__)'), $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/redis-server --version | cut -d' ' -f1-3))"
