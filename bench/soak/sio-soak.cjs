#!/usr/bin/env node
'use strict';
// The Socket.IO part of the soak (bench/soak/README.md): the official socket.io-client in
// Node, the demo chat over Socket.IO (event `chat`, crates/wsx-cli/web/PROTOCOL.md), with
// reconnect churn. Started by the soak driver (src/sio.rs), which reads what it prints.
//
//   NODE_PATH=interop/node_modules node bench/soak/sio-soak.cjs '{"urls":[...],...}'
//
// Options (one JSON argument): urls and names of the servers, clients, rate (chat lines per
// second per client), churn [lo, hi] (seconds a session lasts), graceMs, marginMs, room.
//
// Client i is one logical chat member, `s<i>`, on one of three transports: polling only,
// WebSocket only, or polling upgraded to WebSocket (i % 3). It connects (session k to server
// (i + k) % 2), joins the room, says numbered lines `"<i> <n>"` at its rate, and after a
// random time in [lo, hi] disconnects and connects again as a new session: a new socket, a
// new member of the room, the same numbering.
//
// Accepted: a line the server sent back to its sender (the chat sends every line to every
// member of the room, the sender included). A session's window is from its `joined` to its
// disconnection. Expected at a session: every line of another client sent after the window
// opened and accepted at least marginMs before it closed (a line accepted later may or may
// not have reached the member before it left), plus any other line it did receive. Lost:
// expected and not received, counted marginMs after the window closed. Reordered: a line
// that came after a later line of the same sender within a window; duplicated: a line that
// came twice within a window.
//
// Prints one JSON object per line on stdout:
//   {"t":"tick", sent, accepted, received, expected, reordered, duplicated, errors, lat: [ms]}
//     every 2 s, counts since the last tick
//   {"t":"loss", sentMs, place, n}  a lost delivery (sentMs: Unix ms of the send)
//   {"t":"note", msg}               something for the summary
//   {"t":"done", sessions}          after the last tick; then it exits
// When stdin closes it stops saying and churning, waits graceMs for the last deliveries,
// closes every window, counts, and exits.

const { io } = require('socket.io-client');
const { performance } = require('perf_hooks');

const opts = JSON.parse(process.argv[2] || '{}');
const urls = opts.urls;
const names = opts.names || urls.map((_, i) => String.fromCharCode(65 + i));
const CLIENTS = opts.clients ?? 20;
const RATE = opts.rate ?? 1;
const [CHURN_LO, CHURN_HI] = opts.churn || [15, 45];
const GRACE_MS = opts.graceMs ?? 15000;
const MARGIN_MS = opts.marginMs ?? 1000;
const ROOM = opts.room || 'soak-socketio';
const FLAVORS = [
  ['polling', ['polling']],
  ['websocket', ['websocket']],
  ['upgrade', ['polling', 'websocket']],
];
// Lines are kept this long after being sent (the longest window and its margin, and more).
const KEEP_MS = (CHURN_HI + 60) * 1000 + 2 * MARGIN_MS;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
process.stdout.on('error', () => process.exit(0));

const counts = { sent: 0, accepted: 0, received: 0, expected: 0, reordered: 0, duplicated: 0, errors: 0 };
let lat = [];
const sessions = { polling: 0, websocket: 0, upgrade: 0 };
let stopping = false;
const note = (msg) => out({ t: 'note', msg });

// What each client said: n → { at (performance ms), wall (Unix ms), echo (performance ms) }.
const said = Array.from({ length: CLIENTS }, () => ({ next: 0, lines: new Map() }));
// Windows open now, and windows closed and waiting to be counted.
const live = new Set();
const closed = [];

function window(i, session, place) {
  return { i, session, place, open: null, close: null, got: new Map() };
}

function receive(w, j, n) {
  const line = said[j].lines.get(n);
  let g = w.got.get(j);
  if (!g) w.got.set(j, (g = { max: -1, seen: new Set() }));
  if (g.seen.has(n)) {
    counts.duplicated++;
    return;
  }
  g.seen.add(n);
  if (n < g.max) counts.reordered++;
  g.max = Math.max(g.max, n);
  counts.received++;
  if (line) lat.push(Math.round((performance.now() - line.at) * 100) / 100);
}

// Counts a closed window: what had to arrive, and what did not.
function count(w) {
  for (let j = 0; j < CLIENTS; j++) {
    if (j === w.i) continue;
    const g = w.got.get(j) || { seen: new Set() };
    let expected = g.seen.size;
    for (const [n, line] of said[j].lines) {
      const due = line.at > w.open && line.echo !== null && line.echo < w.close - MARGIN_MS;
      if (!due || g.seen.has(n)) continue;
      expected++;
      out({ t: 'loss', sentMs: line.wall, place: `${w.place} from s${j}, line ${n}`, n: 1 });
    }
    counts.expected += expected;
  }
}

function client(i) {
  const [flavor, transports] = FLAVORS[i % FLAVORS.length];
  let k = 0;
  const connect = () => {
    if (stopping) return;
    const server = (i + k) % urls.length;
    k++;
    sessions[flavor]++;
    const place = `s${i}@${names[server]} (${flavor}, session ${k})`;
    const w = window(i, k, place);
    const socket = io(urls[server], { transports, forceNew: true, reconnection: false, timeout: 10000 });
    let sayTimer = null;
    let churnTimer = null;
    let over = false;
    const end = (again) => {
      if (over) return;
      over = true;
      clearInterval(sayTimer);
      clearTimeout(churnTimer);
      if (w.open !== null) {
        w.close = performance.now();
        closed.push(w);
      }
      socket.disconnect();
      if (again && !stopping) setTimeout(connect, 500 + Math.random() * 1500);
    };
    w.end = end;
    live.add(w);
    socket.on('chat', (m) => {
      if (m.type === 'welcome') {
        socket.emit('chat', { type: 'join', room: ROOM, nick: `s${i}` });
      } else if (m.type === 'joined' && m.room === ROOM && w.open === null) {
        w.open = performance.now();
        sayTimer = setInterval(() => {
          if (stopping) return;
          const n = said[i].next++;
          said[i].lines.set(n, { at: performance.now(), wall: Date.now(), echo: null });
          counts.sent++;
          socket.emit('chat', { type: 'say', text: `${i} ${n}` });
        }, 1000 / RATE);
        churnTimer = setTimeout(() => end(true), (CHURN_LO + Math.random() * (CHURN_HI - CHURN_LO)) * 1000);
      } else if (m.type === 'message' && w.open !== null) {
        const [j, n] = String(m.text).split(' ').map(Number);
        if (!(j >= 0 && j < CLIENTS && Number.isInteger(n))) return;
        if (j === i) {
          const line = said[i].lines.get(n);
          if (line && line.echo === null) {
            line.echo = performance.now();
            counts.accepted++;
          }
        } else {
          receive(w, j, n);
        }
      } else if (m.type === 'error') {
        counts.errors++;
        note(`${place}: the server refused something: ${m.message}`);
      }
    });
    socket.on('connect_error', (e) => {
      counts.errors++;
      note(`${place}: cannot connect: ${e.message}`);
      live.delete(w);
      end(true);
    });
    socket.on('disconnect', (reason) => {
      live.delete(w);
      if (reason !== 'io client disconnect') {
        counts.errors++;
        note(`${place}: disconnected by ${reason}`);
      }
      end(true);
    });
  };
  connect();
}

function tick() {
  out({ t: 'tick', ...counts, lat });
  for (const key of Object.keys(counts)) counts[key] = 0;
  lat = [];
}

// Windows are counted MARGIN_MS after they closed; lines nobody can still expect are dropped.
const counter = setInterval(() => {
  const now = performance.now();
  while (closed.length && closed[0].close + MARGIN_MS < now) count(closed.shift());
  const oldest = now - KEEP_MS;
  for (const s of said) {
    for (const [n, line] of s.lines) {
      if (line.at >= oldest) break;
      s.lines.delete(n);
    }
  }
  tick();
}, 2000);

for (let i = 0; i < CLIENTS; i++) setTimeout(() => client(i), i * 50);

process.stdin.resume();
process.stdin.on('end', () => {
  stopping = true;
  setTimeout(() => {
    clearInterval(counter);
    for (const w of [...live]) {
      live.delete(w);
      w.end(false);
    }
    while (closed.length) count(closed.shift());
    tick();
    out({ t: 'done', sessions });
    setTimeout(() => process.exit(0), 200);
  }, GRACE_MS);
});
