#!/usr/bin/env node
'use strict';
// A Node `socket.io` server with `@socket.io/redis-adapter` (classic Pub/Sub adapter), the
// Node half of the mixed-cluster tests of crates/wsx-redis/tests/.
//
//   node interop/node/sio_redis_server.js <redis-url> [key]
//
// Listens on 127.0.0.1 (an ephemeral port) and prints one JSON line per event on stdout:
//   {"ev":"listening","port":N}                      once both Redis connections are up
//   {"ev":"connection","nsp","sid"}                  a client connected
//   {"ev":"server_side","event","args"}              another node's serverSideEmit
//   {"ev":"ok","seq",...}                            a command ran ("sockets" for fetch)
//   {"ev":"error","seq","message"}
// Clients may emit "join" (room[, ack]) to join a room. Commands, one JSON object per line on
// stdin (each may carry "seq", echoed in the "ok" answer):
//   {"op":"broadcast","rooms":[..],"except":[..],"event":E,"args":[..]}
//   {"op":"broadcast_ack","rooms":[..],"event":E,"args":[..],"timeout":ms}
//                                                   answers {"ev":"ok","responses":[..]}
//   {"op":"sockets_join","rooms":[..],"join":[..]}
//   {"op":"fetch_sockets","rooms":[..]}             answers {"ev":"ok","sockets":[{id,rooms}]}
//   {"op":"server_side_emit","event":E,"args":[..]}
//   {"op":"disconnect_sockets","rooms":[..],"close":B}
//   {"op":"all_rooms"}                               answers {"ev":"ok","rooms":[..]} (cluster-wide)
//   {"op":"exit"}
// Exits when stdin closes.

const http = require('http');
const readline = require('readline');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
process.stdout.on('error', () => process.exit(0));
process.on('uncaughtException', (e) => out({ ev: 'error', seq: null, message: String((e && e.stack) || e) }));

const url = process.argv[2];
const key = process.argv[3] || 'socket.io';

async function main() {
  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
  sub.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
  await Promise.all([pub.connect(), sub.connect()]);

  const server = http.createServer();
  const io = new Server(server, { adapter: createAdapter(pub, sub, { key, requestsTimeout: 3000 }) });
  io.on('connection', (socket) => {
    out({ ev: 'connection', nsp: socket.nsp.name, sid: socket.id });
    socket.on('join', (room, ack) => {
      socket.join(room);
      if (typeof ack === 'function') ack('joined');
    });
  });
  io.on('srv', (...args) => out({ ev: 'server_side', event: 'srv', args }));

  server.listen(0, '127.0.0.1', () => out({ ev: 'listening', port: server.address().port }));

  const run = async (cmd) => {
    const target = () => {
      let op = io.of(cmd.nsp || '/');
      if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
      if (cmd.except && cmd.except.length) op = op.except(cmd.except);
      return op;
    };
    switch (cmd.op) {
      case 'broadcast':
        target().emit(cmd.event, ...(cmd.args || []));
        return {};
      case 'broadcast_ack': {
        const responses = await target().timeout(cmd.timeout || 3000).emitWithAck(cmd.event, ...(cmd.args || []));
        return { responses };
      }
      case 'sockets_join':
        target().socketsJoin(cmd.join);
        return {};
      case 'fetch_sockets': {
        const sockets = await target().fetchSockets();
        return { sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms] })) };
      }
      case 'disconnect_sockets':
        target().disconnectSockets(!!cmd.close);
        return {};
      case 'all_rooms':
        return { rooms: [...(await io.of(cmd.nsp || '/').adapter.allRooms())] };
      case 'server_side_emit':
        io.of(cmd.nsp || '/').serverSideEmit(cmd.event, ...(cmd.args || []));
        return {};
      case 'exit':
        process.exit(0);
      default:
        throw new Error(`unknown op ${cmd.op}`);
    }
  };

  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      out({ ev: 'error', seq: null, message: `bad command line: ${e.message}` });
      return;
    }
    run(cmd).then(
      (res) => out({ ev: 'ok', seq: cmd.seq === undefined ? null : cmd.seq, ...res }),
      (e) => out({ ev: 'error', seq: cmd.seq === undefined ? null : cmd.seq, message: String((e && e.stack) || e) }),
    );
  });
  lines.on('close', () => process.exit(0));
}

main().catch((e) => {
  out({ ev: 'error', seq: null, message: String((e && e.stack) || e) });
  process.exit(1);
});
