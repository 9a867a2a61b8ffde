#!/usr/bin/env node
'use strict';
// A Node `socket.io` server with `@socket.io/redis-streams-adapter` (0.2.x: one Redis stream,
// heartbeats) and connection state recovery on: the Node half of
// crates/wsx-redis/tests/streams_cluster.rs.
//
//   node interop/node/sio_redis_streams_server.js <redis-url> [streamName] [maxDisconnectionMs]
//
// Listens on 127.0.0.1 (an ephemeral port) and prints one JSON line per event on stdout:
//   {"ev":"listening","port":N}                      once the Redis connection is up
//   {"ev":"connection","nsp","sid","recovered"}      a client connected (recovered or not)
//   {"ev":"disconnect","sid","reason"}               a client left
//   {"ev":"server_side","event","args"}              another node's serverSideEmit ("srv")
//   {"ev":"ok","seq",...}                            a command ran
//   {"ev":"error","seq","message"}
// Server-side handlers: "srv" prints a server_side line; "srv_ack" prints one too and answers
// {"node":"node","got":[args]}. Clients may emit "join" (room[, ack]) to join a room (and
// set socket.data to {joined: room}).
// Commands: those of sio_redis_cluster_server.js (broadcast, broadcast_many, broadcast_ack, sockets_join,
// sockets_leave, fetch_sockets, server_side_emit, server_side_emit_ack, disconnect_sockets,
// server_count, exit), and {"op":"emit_to","sid":S,"event":E,"args":[..]} (socket.emit on a
// local socket).
// Exits when stdin closes.

const http = require('http');
const readline = require('readline');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-streams-adapter');
const { createClient } = require('redis');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
process.stdout.on('error', () => process.exit(0));
process.on('uncaughtException', (e) => out({ ev: 'error', seq: null, message: String((e && e.stack) || e) }));

const url = process.argv[2];
const streamName = process.argv[3] || 'socket.io';
const maxDisconnectionDuration = Number(process.argv[4] || 120000);

// JSON cannot carry Buffers: show them as {"$bin": hex}, as sio_client.js does.
const plain = (v) => {
  if (Buffer.isBuffer(v)) return { $bin: v.toString('hex') };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

async function main() {
  const client = createClient({ url });
  client.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
  await client.connect();
  const adapter = createAdapter(client, { streamName });

  const server = http.createServer();
  const io = new Server(server, {
    adapter,
    connectionStateRecovery: { maxDisconnectionDuration, skipMiddlewares: true },
  });
  io.on('connection', (socket) => {
    out({ ev: 'connection', nsp: socket.nsp.name, sid: socket.id, recovered: socket.recovered });
    socket.on('disconnect', (reason) => out({ ev: 'disconnect', sid: socket.id, reason }));
    socket.on('join', (room, ack) => {
      socket.join(room);
      socket.data = { joined: room };
      if (typeof ack === 'function') ack('joined');
    });
  });
  io.on('srv', (...args) => out({ ev: 'server_side', event: 'srv', args: plain(args) }));
  io.on('srv_ack', (...args) => {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    out({ ev: 'server_side', event: 'srv_ack', args: plain(args) });
    if (cb) cb({ node: 'node', got: args });
  });

  server.listen(0, '127.0.0.1', () => out({ ev: 'listening', port: server.address().port }));

  const run = async (cmd) => {
    const nsp = io.of(cmd.nsp || '/');
    const target = () => {
      let op = nsp;
      if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
      if (cmd.except && cmd.except.length) op = op.except(cmd.except);
      return op;
    };
    switch (cmd.op) {
      case 'broadcast': {
        const args = (cmd.args || []).map((a) => (a && a.$bin !== undefined ? Buffer.from(a.$bin, 'hex') : a));
        target().emit(cmd.event, ...args);
        return {};
      }
      case 'broadcast_many':
        // `count` numbered broadcasts in one go: (from, 0), (from, 1), ...
        for (let i = 0; i < cmd.count; i++) target().emit(cmd.event, cmd.from, i);
        return {};
      case 'broadcast_ack': {
        const responses = await target().timeout(cmd.timeout || 3000).emitWithAck(cmd.event, ...(cmd.args || []));
        return { responses: plain(responses) };
      }
      case 'emit_to': {
        const s = nsp.sockets.get(cmd.sid);
        if (!s) throw new Error(`no socket ${cmd.sid}`);
        s.emit(cmd.event, ...(cmd.args || []));
        return {};
      }
      case 'sockets_join':
        target().socketsJoin(cmd.join);
        return {};
      case 'sockets_leave':
        target().socketsLeave(cmd.leave);
        return {};
      case 'fetch_sockets': {
        const sockets = await target().fetchSockets();
        return { sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data })) };
      }
      case 'disconnect_sockets':
        target().disconnectSockets(!!cmd.close);
        return {};
      case 'server_side_emit':
        nsp.serverSideEmit(cmd.event, ...(cmd.args || []));
        return {};
      case 'server_side_emit_ack':
        // The adapter calls back with (err, responses): a timeout still carries the answers.
        return await new Promise((resolve) => {
          nsp.serverSideEmit(cmd.event, ...(cmd.args || []), (err, responses) => {
            resolve(err ? { timeout: String(err.message || err), responses: plain(responses) } : { responses: plain(responses) });
          });
        });
      case 'server_count':
        return { count: await nsp.adapter.serverCount() };
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
