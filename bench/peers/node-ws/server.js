// Node `ws` echo server for bench/run.sh: `node server.js 127.0.0.1:PORT [--deflate]`.
// Echoes every message with its type, answers pings (ws does), closes cleanly; with
// --deflate it accepts permessage-deflate and compresses every message (threshold 0, like
// the client's offer), otherwise compression is off. maxPayload 64 MiB. With --fanout every
// message goes to every other client instead (the loop of ws's broadcast example), for
// `wsx bench --fanout`.
'use strict';
const { WebSocketServer } = require('ws');

const [addr = '127.0.0.1:9001', ...rest] = process.argv.slice(2);
const i = addr.lastIndexOf(':');
const host = addr.slice(0, i);
const port = Number(addr.slice(i + 1));
const deflate = rest.includes('--deflate');
const fanout = rest.includes('--fanout');

const wss = new WebSocketServer({
  host,
  port,
  backlog: 4096,
  maxPayload: 64 * 1024 * 1024 + 1024,
  clientTracking: fanout,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
});
wss.on('connection', (ws) => {
  if (fanout) {
    ws.on('message', (data, isBinary) => {
      for (const c of wss.clients) {
        if (c !== ws && c.readyState === 1) c.send(data, { binary: isBinary });
      }
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
  ws.on('error', () => {});
});
wss.on('listening', () => console.error(`node ws echo listening on ${addr}${deflate ? ' (deflate)' : ''}`));
process.on('SIGTERM', () => process.exit(0));
