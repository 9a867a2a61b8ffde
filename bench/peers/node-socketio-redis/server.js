// The Node node of the wsx cluster benchmark (bench/cluster-run.sh): socket.io with default
// options and the classic `@socket.io/redis-adapter` (Redis Pub/Sub), so that several of them
// form one cluster.
//
// Spec (shared with wsx-redis's `bench_cluster_server` example and ../node-socketio):
// - Socket.IO v5 over Engine.IO v4 at path `/socket.io/`, namespace `/`;
// - every socket joins room `bench` on connection;
// - `bcast` (payload, ack): emit `msg` with the payload to room `bench` on every node (sender
//   included), then ack with no arguments;
// - `echo` (payload, ack): ack with the payload.
//
// Usage: node server.js PORT REDIS_URL   (listens on 127.0.0.1:PORT only)
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const port = Number.parseInt(process.argv[2] ?? "", 10);
const url = process.argv[3];
if (!Number.isInteger(port) || port < 0 || port > 65535 || !url) {
  console.error("usage: node server.js PORT REDIS_URL");
  process.exit(2);
}

async function main() {
  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on("error", (e) => console.error(`redis: ${e}`));
  sub.on("error", (e) => console.error(`redis: ${e}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });

  io.on("connection", (socket) => {
    socket.join("bench");
    socket.on("bcast", (payload, ack) => {
      io.to("bench").emit("msg", payload);
      if (typeof ack === "function") ack();
    });
    socket.on("echo", (payload, ack) => {
      if (typeof ack === "function") ack(payload);
    });
  });

  httpServer.listen(port, "127.0.0.1", () => {
    const { address, port: bound } = httpServer.address();
    console.log(
      `node socket.io ${require("socket.io/package.json").version} + @socket.io/redis-adapter ` +
        `${require("@socket.io/redis-adapter/package.json").version} listening on ${address}:${bound}, Redis ${url}`,
    );
  });

  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      io.close();
      process.exit(0);
    });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
