#!/usr/bin/env node
'use strict';
// The official socket.io-client in Node, driven by the wsx interop tests
// (crates/wsx-socketio/tests/interop_socketio.rs).
//
//   node interop/node/sio_client.js
//
// Reads one JSON command per line on stdin and prints one JSON event per line on stdout; the
// commands and events are those of ./sio_core.js. Exits when stdin closes or on {"op":"exit"}.
// Prints {"ev":"ready","client":"socket.io-client","version"} first.

const readline = require('readline');
const { Manager } = require('socket.io-client');
const core = require('./sio_core.js');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
// The test is gone (its end of the pipe is closed): so are we.
process.stdout.on('error', () => process.exit(0));
const driver = core.create({ Manager, out });

process.on('uncaughtException', (e) => out({ ev: 'error', seq: null, message: String((e && e.stack) || e) }));

out({ ev: 'ready', client: 'socket.io-client', version: require('socket.io-client/package.json').version });

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
  if (cmd.op === 'exit') process.exit(0);
  driver.handle(cmd);
});
lines.on('close', () => process.exit(0));
