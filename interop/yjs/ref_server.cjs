#!/usr/bin/env node
'use strict';
// The Node reference y-websocket server, for the wsx-yjs interop tests.
//
//   node interop/yjs/ref_server.cjs PORT        (PORT 0 = an ephemeral port)
//
// Listens on 127.0.0.1:PORT: a plain HTTP server ("okay" on GET) whose WebSocket upgrades
// (`ws` WebSocketServer, noServer) go to y-websocket 2.1.0's reference handler,
// `setupWSConnection` from bin/utils.cjs (installed as the npm alias y-websocket-server-ref).
// The room (docName) is the URL path without the leading slash and without the query, as the
// reference computes it: ws://127.0.0.1:PORT/<room>.
//
// Auth convention (the same as wsx serve's /yjs/<room>):
//   ?token=deny  the upgrade is refused: "HTTP/1.1 403 Forbidden", then the socket is destroyed
//   ?token=ro    read-only: the client gets the document and awareness, but its SyncStep2
//                ([0,1,...]) and Update ([0,2,...]) messages are dropped before the reference
//                handler sees them (the read-only rule of y-protocols' PROTOCOL.md); its
//                SyncStep1 and awareness messages go through
//   otherwise    read-write
//
// Prints one line {"listening":PORT} (the actual port) to stdout once listening. No
// persistence (YPERSISTENCE is removed from the environment before the reference loads).
// Set WSX_YJS_REF_DEBUG=1 to log connections to stderr. SIGTERM/SIGINT exit with status 0.

delete process.env.YPERSISTENCE;

const http = require('http');
const { WebSocketServer } = require('ws');
const { setupWSConnection } = require('y-websocket-server-ref/bin/utils');

const debug = process.env.WSX_YJS_REF_DEBUG === '1';
const log = (...a) => { if (debug) console.error('[ref_server]', ...a); };

const portArg = process.argv[2];
if (portArg === undefined || !/^\d+$/.test(portArg) || Number(portArg) > 65535) {
  console.error('usage: node ref_server.cjs PORT   (0 = ephemeral)');
  process.exit(2);
}

/** The first bytes of a received message, whatever shape `ws` delivered it in. */
function firstBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data, 0, Math.min(2, data.byteLength));
  if (Array.isArray(data)) return Buffer.concat(data.slice(0, 2)); // fragments (binaryType nodebuffer)
  return data; // Buffer / Uint8Array
}

/**
 * Read-only: drop SyncStep2 ([0,1]) and Update ([0,2]) messages from this connection before any
 * 'message' listener the reference handler installs sees them.
 */
function makeReadOnly(conn, tag) {
  const on = conn.on.bind(conn);
  conn.on = (event, listener) => {
    if (event !== 'message') return on(event, listener);
    return on('message', (data, isBinary) => {
      const b = firstBytes(data);
      if (b.length >= 2 && b[0] === 0 && (b[1] === 1 || b[1] === 2)) {
        log(tag, 'read-only: dropped sync message type', b[1]);
        return;
      }
      listener(data, isBinary);
    });
  };
  conn.addListener = conn.on;
}

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('okay');
});

const wss = new WebSocketServer({ noServer: true });
let nextId = 1;

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url || '/', 'http://127.0.0.1');
  const token = url.searchParams.get('token');
  const docName = (req.url || '').slice(1).split('?')[0];
  socket.on('error', (e) => log('socket error', e.message));
  if (token === 'deny') {
    log('deny', req.url);
    socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (conn) => {
    const tag = `#${nextId++} ${docName}${token === 'ro' ? ' (ro)' : ''}`;
    log('open', tag);
    conn.on('error', (e) => log(tag, 'error', e.message));
    conn.on('close', (code) => log(tag, 'close', code));
    if (token === 'ro') makeReadOnly(conn, tag);
    setupWSConnection(conn, req, { docName });
  });
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
