// A WebSocket client over HTTP/2 (RFC 8441) on Node's own `http2` module: there is no such
// client in npm's ws, so the WebSocket frames are written and read here by hand.
//
//   node h2_ws_client.js URL PATH STREAMS
//
// Connects to URL (http:// is h2c with prior knowledge; https:// negotiates h2 by ALPN and
// trusts anything), waits for the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, then opens STREAMS
// WebSockets to PATH at once on that one connection (extended CONNECT, :protocol websocket),
// sends each "hello N" (masked), expects it echoed, closes each with 1000 and expects the
// close echoed. Then the RFC 8441 negative cases on the same connection: an unknown
// :protocol, no Sec-WebSocket-Version. Prints one JSON line with what it saw; exits 1 on a
// mismatch or after 10 s.
'use strict';
const http2 = require('http2');

const [url, path, streamsArg] = process.argv.slice(2);
const STREAMS = Number(streamsArg || 3);
const timer = setTimeout(() => fail('timed out'), 10000);

function fail(why) {
  console.log(JSON.stringify({ ok: false, error: why }));
  process.exit(1);
}

const { frame, frameReader, connect } = require('./h2_ws');

function request(session, headers) {
  return connect(session, path, headers);
}

/** One WebSocket on the session: resolves with what it saw. */
function websocket(session, n) {
  return new Promise((resolve, reject) => {
    const s = request(session, { 'sec-websocket-version': '13' });
    const seen = { status: null, echo: null, close: null };
    s.on('response', (h) => {
      seen.status = h[':status'];
      if (seen.status !== 200) return resolve(seen);
      s.write(frame(1, Buffer.from(`hello ${n}`)));
    });
    s.on('data', frameReader((opcode, payload) => {
      if (opcode === 1) {
        seen.echo = payload.toString();
        s.write(frame(8, Buffer.from([0x03, 0xe8])));
      } else if (opcode === 8) {
        seen.close = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        s.end();
      }
    }));
    s.on('close', () => resolve(seen));
    s.on('error', reject);
  });
}

/** The status a request with `headers` gets (or the stream error's code). */
function status(session, headers) {
  return new Promise((resolve) => {
    const s = request(session, headers);
    s.on('response', (h) => {
      resolve(h[':status']);
      s.close();
    });
    s.on('error', (e) => resolve(e.code || String(e)));
  });
}

const session = http2.connect(url, { rejectUnauthorized: false });
session.on('error', (e) => fail(`session: ${e.message}`));
session.once('remoteSettings', async (settings) => {
  if (!settings.enableConnectProtocol) fail('the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL');
  try {
    const sockets = await Promise.all([...Array(STREAMS).keys()].map((n) => websocket(session, n)));
    for (const [n, s] of sockets.entries()) {
      if (s.status !== 200 || s.echo !== `hello ${n}` || s.close !== 1000) {
        fail(`stream ${n}: ${JSON.stringify(s)}`);
      }
    }
    const unknownProtocol = await status(session, { ':protocol': 'chat', 'sec-websocket-version': '13' });
    const noVersion = await status(session, {});
    clearTimeout(timer);
    console.log(JSON.stringify({
      ok: true,
      alpn: session.alpnProtocol,
      streams: sockets.length,
      unknownProtocol,
      noVersion,
    }));
    session.close();
  } catch (e) {
    fail(String(e));
  }
});
