#!/usr/bin/env node
'use strict';
// A configurable `ws` echo server for the wsx interop tests.
//
//   node interop/node/server.js [options]
//
// Prints the chosen port on stdout as the first line, then one JSON object per line for what
// happens (see "Events" below). Listens on 127.0.0.1.
//
// Options (each also readable from the environment variable in brackets):
//   --port N                      port to listen on, 0 = ephemeral (default 0)      [WSX_PORT]
//   --deflate on|off              permessage-deflate (default on, threshold 0)     [WSX_DEFLATE]
//   --server-no-context-takeover                                                    [WSX_SERVER_NO_CONTEXT_TAKEOVER=1]
//   --client-no-context-takeover                                                    [WSX_CLIENT_NO_CONTEXT_TAKEOVER=1]
//   --server-max-window-bits N    8..15                                             [WSX_SERVER_MAX_WINDOW_BITS]
//   --client-max-window-bits N    8..15                                             [WSX_CLIENT_MAX_WINDOW_BITS]
//   --protocols a,b               subprotocols spoken; the first one the client offers that is
//                                 in this list is selected                          [WSX_PROTOCOLS]
//   --tls-cert PATH --tls-key PATH   serve wss:// with these PEM files              [WSX_TLS_CERT, WSX_TLS_KEY]
//   --redirect URL                answer every request with a redirect to URL      [WSX_REDIRECT]
//   --redirect-status N           301, 302, 303, 307 or 308 (default 302)          [WSX_REDIRECT_STATUS]
//   --close-code N [--close-reason S]  close every connection at once with this code/reason
//                                                                                   [WSX_CLOSE_CODE, WSX_CLOSE_REASON]
//   --exit-on-stdin-eof           exit when stdin closes (the test harness keeps it open)
//
// Behaviour per connection: text and binary messages are echoed back unchanged, except text
// commands:
//   cmd:close:<code>:<reason>     close with that code and reason
//   cmd:ping:<data>               ping with <data>; when the matching pong arrives, send the text
//                                 "got-pong:<data>"
//   cmd:fragments                 send the text "frag"+"ment"+"ed ✓" as three fragments, then
//                                 the binary 000102+0304+ff as three fragments
//   cmd:big:<text|binary>:<size>  send a generated message of <size> bytes
//
// Events: {"event":"connection","path","protocol","extensions","offer"} (extensions = the
// Sec-WebSocket-Extensions response header we sent, offer = the request's), {"event":"message",
// "type","len","crc32","data"?}, {"event":"sent",...same...}, {"event":"ping"|"pong","data"},
// {"event":"close","code","reason"} (what the peer sent us), {"event":"redirect","path"},
// {"event":"error","message"}.

const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');
const { emit, describe, generate, perMessageDeflate, exitOnStdinEof } = require('./util');

function parseArgs(argv) {
  const env = process.env;
  const o = {
    port: Number(env.WSX_PORT || 0),
    deflate: (env.WSX_DEFLATE || 'on') !== 'off',
    serverNoContextTakeover: env.WSX_SERVER_NO_CONTEXT_TAKEOVER === '1',
    clientNoContextTakeover: env.WSX_CLIENT_NO_CONTEXT_TAKEOVER === '1',
    serverMaxWindowBits: env.WSX_SERVER_MAX_WINDOW_BITS ? Number(env.WSX_SERVER_MAX_WINDOW_BITS) : null,
    clientMaxWindowBits: env.WSX_CLIENT_MAX_WINDOW_BITS ? Number(env.WSX_CLIENT_MAX_WINDOW_BITS) : null,
    protocols: env.WSX_PROTOCOLS ? env.WSX_PROTOCOLS.split(',') : [],
    tlsCert: env.WSX_TLS_CERT || null,
    tlsKey: env.WSX_TLS_KEY || null,
    redirect: env.WSX_REDIRECT || null,
    redirectStatus: Number(env.WSX_REDIRECT_STATUS || 302),
    closeCode: env.WSX_CLOSE_CODE ? Number(env.WSX_CLOSE_CODE) : null,
    closeReason: env.WSX_CLOSE_REASON || '',
    exitOnStdinEof: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = Number(val()); break;
      case '--deflate': o.deflate = val() !== 'off'; break;
      case '--server-no-context-takeover': o.serverNoContextTakeover = true; break;
      case '--client-no-context-takeover': o.clientNoContextTakeover = true; break;
      case '--server-max-window-bits': o.serverMaxWindowBits = Number(val()); break;
      case '--client-max-window-bits': o.clientMaxWindowBits = Number(val()); break;
      case '--protocols': o.protocols = val().split(',').filter(Boolean); break;
      case '--tls-cert': o.tlsCert = val(); break;
      case '--tls-key': o.tlsKey = val(); break;
      case '--redirect': o.redirect = val(); break;
      case '--redirect-status': o.redirectStatus = Number(val()); break;
      case '--close-code': o.closeCode = Number(val()); break;
      case '--close-reason': o.closeReason = val(); break;
      case '--exit-on-stdin-eof': o.exitOnStdinEof = true; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

function redirectResponse(o) {
  const reason = http.STATUS_CODES[o.redirectStatus] || 'Redirect';
  return (
    `HTTP/1.1 ${o.redirectStatus} ${reason}\r\n` +
    `Location: ${o.redirect}\r\n` +
    'Content-Length: 0\r\nConnection: close\r\n\r\n'
  );
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.exitOnStdinEof) exitOnStdinEof();

  const tls = o.tlsCert ? { cert: fs.readFileSync(o.tlsCert), key: fs.readFileSync(o.tlsKey) } : null;
  const server = tls ? https.createServer(tls) : http.createServer();

  if (o.redirect) {
    server.on('request', (req, res) => {
      emit({ event: 'redirect', path: req.url });
      res.writeHead(o.redirectStatus, { Location: o.redirect, 'Content-Length': 0, Connection: 'close' });
      res.end();
    });
    server.on('upgrade', (req, socket) => {
      emit({ event: 'redirect', path: req.url });
      socket.on('error', () => {});
      socket.end(redirectResponse(o));
    });
  } else {
    serveWebSocket(server, o);
  }

  server.listen(o.port, '127.0.0.1', () => {
    process.stdout.write(`${server.address().port}\n`);
  });
}

function serveWebSocket(server, o) {
  const pmd = o.deflate
    ? perMessageDeflate({
        server_no_context_takeover: o.serverNoContextTakeover,
        client_no_context_takeover: o.clientNoContextTakeover,
        server_max_window_bits: o.serverMaxWindowBits,
        client_max_window_bits: o.clientMaxWindowBits,
      })
    : false;
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: pmd,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (offered) => {
      for (const p of offered) if (o.protocols.includes(p)) return p;
      return false;
    },
  });
  const responseHeaders = new WeakMap();
  wss.on('headers', (headers, req) => responseHeaders.set(req, headers));
  wss.on('error', (e) => emit({ event: 'error', message: String(e && e.message) }));

  wss.on('connection', (ws, req) => {
    const sent = responseHeaders.get(req) || [];
    const extLine = sent.find((h) => /^sec-websocket-extensions:/i.test(h));
    emit({
      event: 'connection',
      path: req.url,
      protocol: ws.protocol || null,
      extensions: extLine ? extLine.replace(/^[^:]*:\s*/, '') : null,
      offer: req.headers['sec-websocket-extensions'] || null,
    });
    const awaitingPong = new Set();

    ws.on('message', (data, isBinary) => {
      emit({ event: 'message', ...describe(data, isBinary) });
      if (!isBinary) {
        const text = data.toString('utf8');
        if (text.startsWith('cmd:')) {
          command(ws, text, awaitingPong);
          return;
        }
      }
      ws.send(data, { binary: isBinary });
    });
    ws.on('ping', (data) => emit({ event: 'ping', data: data.toString('utf8') }));
    ws.on('pong', (data) => {
      const s = data.toString('utf8');
      emit({ event: 'pong', data: s });
      if (awaitingPong.delete(s)) ws.send(`got-pong:${s}`);
    });
    ws.on('close', (code, reason) => emit({ event: 'close', code, reason: reason.toString('utf8') }));
    ws.on('error', (e) => emit({ event: 'error', message: String(e && e.message) }));

    if (o.closeCode != null) ws.close(o.closeCode, o.closeReason);
  });
}

function command(ws, text, awaitingPong) {
  const parts = text.split(':');
  switch (parts[1]) {
    case 'close': {
      const code = Number(parts[2]);
      const reason = parts.slice(3).join(':');
      ws.close(code, reason);
      break;
    }
    case 'ping': {
      const data = parts.slice(2).join(':');
      awaitingPong.add(data);
      ws.ping(data);
      break;
    }
    case 'fragments': {
      const textParts = ['frag', 'ment', 'ed ✓'];
      textParts.forEach((p, i) => ws.send(p, { binary: false, fin: i === textParts.length - 1 }));
      const binParts = [Buffer.from([0, 1, 2]), Buffer.from([3, 4]), Buffer.from([0xff])];
      binParts.forEach((p, i) => ws.send(p, { binary: true, fin: i === binParts.length - 1 }));
      break;
    }
    case 'big': {
      const type = parts[2] === 'text' ? 'text' : 'binary';
      const data = generate(type, Number(parts[3]));
      ws.send(data, { binary: type === 'binary' }, (err) => {
        if (err) emit({ event: 'error', message: `send big: ${err.message}` });
      });
      emit({ event: 'sent', ...describe(data, type === 'binary') });
      break;
    }
    default:
      emit({ event: 'error', message: `unknown command ${text}` });
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`server.js: ${e && e.stack}\n`);
  process.exit(2);
}
