// The Node peer of the wsx Socket.IO broadcast benchmark: socket.io with default options.
//
// Spec (shared with wsx-socketio's `bench_server` example):
// - Socket.IO v5 over Engine.IO v4 at path `/socket.io/`, namespace `/`;
// - every socket joins room `bench` on connection;
// - `bcast` (payload, ack): emit `msg` with the payload to room `bench` (sender included),
//   then ack with no arguments;
// - `echo` (payload, ack): ack with the payload.
//
// Usage: node server.js PORT   (listens on 127.0.0.1:PORT only)
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const port = Number.parseInt(process.argv[2] ?? "", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("usage: node server.js PORT");
  process.exit(2);
}

const httpServer = http.createServer();
const io = new Server(httpServer);

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
  console.log(`node socket.io ${require("socket.io/package.json").version} listening on ${address}:${bound}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
