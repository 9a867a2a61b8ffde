// The Node reference peer of the wsx Yjs benchmark: y-websocket 2.1.0's own server.
//
// This is y-websocket's `bin/server.cjs` with three changes, none in how documents are served
// (that is y-websocket's `bin/utils.cjs`, `setupWSConnection`, used as it is):
// - it listens on 127.0.0.1:PORT given on the command line (not HOST/PORT variables);
// - it uses the `ws` 8 this package pins: y-websocket 2.1.0 lists `ws` ^6.2.1 as an optional
//   dependency, which npm installs under y-websocket/node_modules, and bin/server.cjs would pick
//   that one up;
// - on SIGTERM/SIGINT it waits for y-leveldb's pending writes before exiting, so that a
//   document prepared for the cold-open case is whole on disk (the stock server just dies).
//
// Rooms are at ws://127.0.0.1:PORT/<room>. With YPERSISTENCE=DIR (read by bin/utils.cjs when
// it is loaded) every update is stored in LevelDB under DIR (y-leveldb), and a document is
// loaded from there when its first client connects.
//
// Usage: [YPERSISTENCE=DIR] node server.cjs PORT
"use strict";

const http = require("node:http");
const WebSocket = require("ws");
const utils = require("y-websocket/bin/utils");

const port = Number.parseInt(process.argv[2] ?? "", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("usage: [YPERSISTENCE=DIR] node server.cjs PORT");
  process.exit(2);
}

const wss = new WebSocket.Server({ noServer: true });
const server = http.createServer((_request, response) => {
  response.writeHead(200, { "Content-Type": "text/plain" });
  response.end("okay");
});
wss.on("connection", utils.setupWSConnection);
server.on("upgrade", (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => {
    wss.emit("connection", ws, request);
  });
});

server.listen(port, "127.0.0.1", () => {
  const { address, port: bound } = server.address();
  const v = (p) => require(`${p}/package.json`).version;
  console.log(
    `node y-websocket ${v("y-websocket")} (yjs ${v("yjs")}, ws ${v("ws")}` +
      `${process.env.YPERSISTENCE ? `, y-leveldb ${v("y-leveldb")} in ${process.env.YPERSISTENCE}` : ", no persistence"})` +
      ` pid ${process.pid} listening on ${address}:${bound}`,
  );
});

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    for (const c of wss.clients) c.terminate();
    const p = utils.getPersistence();
    if (p !== null && p.provider) {
      // LeveldbPersistence.destroy() queues behind every pending write, then closes the db.
      try {
        await p.provider.destroy();
      } catch (e) {
        console.error("closing LevelDB:", e);
      }
    }
    process.exit(0);
  });
}
