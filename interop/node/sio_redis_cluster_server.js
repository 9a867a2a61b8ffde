#!/usr/bin/env node
'use strict';
// A Node `socket.io` server on Redis with either adapter of `@socket.io/redis-adapter` 8.3:
// the classic one (`createAdapter`, Pub/Sub on one Redis) or the sharded one
// (`createShardedAdapter`, SPUBLISH/SSUBSCRIBE, here on a Redis Cluster through node-redis's
// `createCluster`). The Node half of crates/wsx-redis/tests/{classic_cluster,mixed_cluster,sharded_cluster}.rs.
//
//   node interop/node/sio_redis_cluster_server.js classic <redis-url> [key]
//   node interop/node/sio_redis_cluster_server.js sharded <url,url,...> [channelPrefix] [subscriptionMode]
//
// Listens on 127.0.0.1 (an ephemeral port) and prints one JSON line per event on stdout:
//   {"ev":"listening","port":N}                      once the Redis connections are up
//   {"ev":"connection","nsp","sid"}                  a client connected
//   {"ev":"server_side","event","args"}              another node's serverSideEmit ("srv")
//   {"ev":"ok","seq",...}                            a command ran
//   {"ev":"error","seq","message"}
// Server-side handlers: "srv" prints a server_side line; "srv_ack" prints one too and answers
// {"node":"node","got":[args]}. Clients may emit "join" (room[, ack]) to join a room.
// Commands, one JSON object per line on stdin (each may carry "seq", echoed in "ok"):
//   {"op":"broadcast","rooms":[..],"except":[..],"event":E,"args":[..]}
//   {"op":"broadcast_many","rooms":[..],"event":E,"from":F,"count":N}  emits (F, 0) … (F, N-1)
//   {"op":"broadcast_ack","rooms":[..],"event":E,"args":[..],"timeout":ms} → {"responses":[..]}
//   {"op":"sockets_join","rooms":[..],"join":[..]}
//   {"op":"sockets_leave","rooms":[..],"leave":[..]}
//   {"op":"fetch_sockets","rooms":[..]}             → {"sockets":[{id,rooms}]}
//   {"op":"server_side_emit","event":E,"args":[..]}
//   {"op":"server_side_emit_ack","event":E,"args":[..]} → {"responses":[..]} or {"timeout":msg,"responses":[..]}
//   {"op":"disconnect_sockets","rooms":[..],"close":B}
//   {"op":"server_count"}                            → {"count":N}
//   {"op":"all_rooms"}                               → {"rooms":[..]} (cluster-wide)
//   {"op":"exit"}
// Exits when stdin closes.

const http = require('http');
const readline = require('readline');
const { Server } = require('socket.io');
const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');
const { createClient, createCluster } = require('redis');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
process.stdout.on('error', () => process.exit(0));
process.on('uncaughtException', (e) => out({ ev: 'error', seq: null, message: String((e && e.stack) || e) }));

const mode = process.argv[2];
const urls = (process.argv[3] || '').split(',');
const key = process.argv[4] || 'socket.io';
const subscriptionMode = process.argv[5] || 'dynamic';

// JSON cannot carry Buffers: show them as {"$bin": hex}, as sio_client.js does.
const plain = (v) => {
  if (Buffer.isBuffer(v)) return { $bin: v.toString('hex') };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

async function main() {
  let adapter;
  if (mode === 'classic') {
    const pub = createClient({ url: urls[0] });
    const sub = pub.duplicate();
    pub.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
    sub.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
    await Promise.all([pub.connect(), sub.connect()]);
    adapter = createAdapter(pub, sub, { key, requestsTimeout: 3000 });
  } else if (mode === 'sharded') {
    const pub = createCluster({ rootNodes: urls.map((url) => ({ url })) });
    const sub = pub.duplicate();
    pub.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
    sub.on('error', (e) => out({ ev: 'redis_error', message: String(e) }));
    await Promise.all([pub.connect(), sub.connect()]);
    adapter = createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode });
  } else {
    throw new Error(`unknown mode ${mode} (classic|sharded)`);
  }

  const server = http.createServer();
  const io = new Server(server, { adapter });
  io.on('connection', (socket) => {
    out({ ev: 'connection', nsp: socket.nsp.name, sid: socket.id });
    socket.on('join', (room, ack) => {
      socket.join(room);
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
      case 'all_rooms':
        return { rooms: [...(await nsp.adapter.allRooms())] };
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
