#!/usr/bin/env node
'use strict';
// A scripted `ws` client for the wsx interop tests.
//
//   node interop/node/client.js '<plan>'        (or --plan-file PATH)
//
// <plan> is JSON: one connection or an array of connections, run one after the other:
//   {
//     "url": "ws://127.0.0.1:1234/path",
//     "protocols": ["a", "b"],                      // offered subprotocols (optional)
//     "deflate": false | true | {                   // permessage-deflate offer (default true)
//        "server_no_context_takeover": true, "client_no_context_takeover": true,
//        "server_max_window_bits": 10, "client_max_window_bits": 12 | true },
//     "ca": "/path/ca.pem",                         // trust this CA for wss:// (optional)
//     "timeout_ms": 20000,                          // per step (default 20000)
//     "steps": [ ... ]
//   }
// Steps:
//   {"op":"text","data":"..."}                  send a text message
//   {"op":"binary","hex":"00ff"}                send a binary message
//   {"op":"fragments","type":"text"|"binary","parts":[...]}   one message in fragments
//                                               (binary parts are hex)
//   {"op":"big","type":"text"|"binary","size":N}   send a generated message of N bytes
//   {"op":"recv"}                               wait for the next message
//   {"op":"ping","data":"..."}                  ping; wait for the matching pong
//   {"op":"close","code":N,"reason":"..."}      start the closing handshake; wait for the end
//   {"op":"wait_close"}                         wait for the server to close
// Output: one JSON object per line, each with "conn" (index in the plan):
//   {"op":"open","protocol","extensions"}       extensions = the response's
//                                               Sec-WebSocket-Extensions header (or null)
//   {"op":"sent","type","len","crc32","data"?}  after "big" and "fragments"
//   {"op":"message","type","len","crc32","data"?,"echo"}   echo: equal to the last message sent
//   {"op":"pong","data"} · {"op":"ping_received","data"}
//   {"op":"closed","code","reason"}             the close frame the server sent
//   {"op":"error","message"}                    then exit status 1
// and finally {"op":"done"}. Any connection still open after its steps is closed with 1000.

const fs = require('fs');
const WebSocket = require('ws');
const { emit, describe, generate, perMessageDeflate } = require('./util');

function readPlan(argv) {
  if (argv[0] === '--plan-file') return JSON.parse(fs.readFileSync(argv[1], 'utf8'));
  if (argv.length !== 1) throw new Error("usage: client.js '<plan json>' | --plan-file PATH");
  return JSON.parse(argv[0]);
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** A connection with an inbox of messages and waiters for pongs and the close. */
class Conn {
  constructor(index, spec) {
    this.index = index;
    this.spec = spec;
    this.inbox = [];
    this.waiters = [];
    this.pongWaiters = new Map();
    this.closed = null;
    this.lastSent = null;
    this.responseExtensions = null;
  }

  out(obj) {
    emit({ conn: this.index, ...obj });
  }

  open() {
    const s = this.spec;
    const opts = {
      perMessageDeflate: perMessageDeflate(s.deflate === undefined ? true : s.deflate),
      maxPayload: 64 * 1024 * 1024,
      handshakeTimeout: 10000,
    };
    if (s.ca) opts.ca = fs.readFileSync(s.ca);
    const ws = new WebSocket(s.url, s.protocols || [], opts);
    this.ws = ws;
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString('utf8') };
        resolve(this.closed);
        for (const w of this.waiters.splice(0)) w.reject(new Error(`closed (${code}) while waiting for a message`));
      });
    });
    ws.on('upgrade', (res) => {
      this.responseExtensions = res.headers['sec-websocket-extensions'] || null;
    });
    ws.on('message', (data, isBinary) => {
      const w = this.waiters.shift();
      if (w) w.resolve({ data, isBinary });
      else this.inbox.push({ data, isBinary });
    });
    ws.on('ping', (data) => this.out({ op: 'ping_received', data: data.toString('utf8') }));
    ws.on('pong', (data) => {
      const s = data.toString('utf8');
      const w = this.pongWaiters.get(s);
      if (w) {
        this.pongWaiters.delete(s);
        w();
      }
    });
    return new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    }).then(() => {
      ws.on('error', (e) => this.out({ op: 'socket_error', message: String(e && e.message) }));
      this.out({ op: 'open', protocol: ws.protocol || null, extensions: this.responseExtensions });
    });
  }

  nextMessage() {
    if (this.inbox.length) return Promise.resolve(this.inbox.shift());
    if (this.closed) return Promise.reject(new Error(`closed (${this.closed.code}) while waiting for a message`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(data, isBinary, fin = true) {
    return new Promise((resolve, reject) =>
      this.ws.send(data, { binary: isBinary, fin }, (err) => (err ? reject(err) : resolve())),
    );
  }

  async step(st) {
    switch (st.op) {
      case 'text': {
        const buf = Buffer.from(st.data, 'utf8');
        this.lastSent = { buf, isBinary: false };
        await this.send(buf, false);
        break;
      }
      case 'binary': {
        const buf = Buffer.from(st.hex, 'hex');
        this.lastSent = { buf, isBinary: true };
        await this.send(buf, true);
        break;
      }
      case 'fragments': {
        const isBinary = st.type === 'binary';
        const bufs = st.parts.map((p) => (isBinary ? Buffer.from(p, 'hex') : Buffer.from(p, 'utf8')));
        for (let i = 0; i < bufs.length; i++) await this.send(bufs[i], isBinary, i === bufs.length - 1);
        const whole = Buffer.concat(bufs);
        this.lastSent = { buf: whole, isBinary };
        this.out({ op: 'sent', ...describe(whole, isBinary) });
        break;
      }
      case 'big': {
        const isBinary = st.type === 'binary';
        const buf = generate(st.type, st.size);
        this.lastSent = { buf, isBinary };
        this.out({ op: 'sent', ...describe(buf, isBinary) });
        await this.send(buf, isBinary);
        break;
      }
      case 'recv': {
        const { data, isBinary } = await this.nextMessage();
        const echo = !!this.lastSent && this.lastSent.isBinary === isBinary && this.lastSent.buf.equals(data);
        this.out({ op: 'message', ...describe(data, isBinary), echo });
        break;
      }
      case 'ping': {
        const data = String(st.data || '');
        const got = new Promise((resolve) => this.pongWaiters.set(data, resolve));
        this.ws.ping(data);
        await got;
        this.out({ op: 'pong', data });
        break;
      }
      case 'close': {
        this.ws.close(st.code, st.reason || '');
        const c = await this.closedPromise;
        this.out({ op: 'closed', code: c.code, reason: c.reason });
        break;
      }
      case 'wait_close': {
        const c = await this.closedPromise;
        this.out({ op: 'closed', code: c.code, reason: c.reason });
        break;
      }
      default:
        throw new Error(`unknown step ${JSON.stringify(st)}`);
    }
  }
}

async function main() {
  const plan = readPlan(process.argv.slice(2));
  const conns = Array.isArray(plan) ? plan : [plan];
  for (let i = 0; i < conns.length; i++) {
    const spec = conns[i];
    const ms = spec.timeout_ms || 20000;
    const c = new Conn(i, spec);
    await withTimeout(c.open(), ms, `connect ${spec.url}`);
    for (const st of spec.steps || []) await withTimeout(c.step(st), ms, `step ${JSON.stringify(st).slice(0, 200)}`);
    if (!c.closed) {
      c.ws.close(1000);
      await withTimeout(c.closedPromise, ms, 'final close');
    }
  }
  emit({ op: 'done' });
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ op: 'error', message: String((e && e.message) || e) });
    process.exit(1);
  },
);
