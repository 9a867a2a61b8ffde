#!/usr/bin/env node
// Interop scenarios for a y-websocket server, driven by the real y-websocket client.
//
//   node interop/yjs/client.mjs BASE_URL [--only a,b]
//
// BASE_URL: ws://127.0.0.1:PORT/yjs (wsx serve) or ws://127.0.0.1:PORT (ref_server.cjs); a
// provider for room R connects to BASE_URL/R. Auth convention: ?token=ro is a read-only
// connection, ?token=deny is refused with HTTP 403, anything else is read-write.
// Output: one JSON line per scenario as it finishes,
//   {"scenario":"<name>","ok":true,"ms":123,...details} or {"scenario":"<name>","ok":false,"ms":..,"error":"..."}
// then {"done":true,"passed":N,"failed":M}; exit status 0 iff every scenario passed (2 on bad
// usage). Scenarios run concurrently, each with its own timeout; room names carry a random run
// id, so the script can run again against the same server.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';

// ---------------------------------------------------------------------------------------------
// Arguments

const SCENARIOS = ['converge', 'awareness', 'late_joiner', 'large_update', 'idle', 'read_only', 'auth_reject', 'rooms_apart'];

function usage(msg) {
  if (msg) process.stderr.write(`client.mjs: ${msg}\n`);
  process.stderr.write(`usage: node client.mjs BASE_URL [--only ${SCENARIOS.join(',')}]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let BASE = null;
let only = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--only') {
    if (i + 1 >= argv.length) usage('--only needs a list');
    only = argv[++i].split(',').map((s) => s.trim()).filter(Boolean);
  } else if (a.startsWith('--only=')) {
    only = a.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
  } else if (BASE === null && !a.startsWith('--')) {
    BASE = a;
  } else {
    usage(`unexpected argument ${a}`);
  }
}
if (BASE === null || !/^wss?:\/\//.test(BASE)) usage('BASE_URL (ws://...) required');
BASE = BASE.replace(/\/+$/, '');
if (only) for (const n of only) if (!SCENARIOS.includes(n)) usage(`unknown scenario ${n}`);

// Many providers each add a process 'exit' listener.
process.setMaxListeners(0);

const RUN = randomBytes(4).toString('hex') + Date.now().toString(36);

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

/**
 * Resolves with the predicate's first truthy value. The predicate is re-checked whenever one of
 * `sources` ([emitter, eventName] pairs; lib0 observables and Node emitters) fires, and every
 * 250 ms as a safety net; rejects after `timeoutMs`.
 */
function waitFor(pred, timeoutMs, sources = [], what = 'condition') {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const [em, ev] of sources) em.off(ev, check);
      if (err) reject(err);
      else resolve(v);
    };
    function check() {
      if (done) return;
      let v;
      try {
        v = pred();
      } catch (e) {
        finish(e);
        return;
      }
      if (v) finish(null, v);
    }
    const timer = setTimeout(() => finish(new Error(`timeout after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const poll = setInterval(check, 250);
    for (const [em, ev] of sources) em.on(ev, check);
    check();
  });
}

/** A string for an error message: JSON-quoted, at most `n` characters of it. */
const short = (s, n = 120) => JSON.stringify(s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** Small seeded PRNG (mulberry32), so a failing converge run can be described by its seed. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  const word = (n) => {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(97 + int(0, 25));
    return s;
  };
  return { next, int, word };
}

const bytesEqual = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const sortedJson = (v) => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) : x));

/** Per-scenario bookkeeping: every provider, doc and raw socket is closed when it ends. */
class Ctx {
  constructor(name) {
    this.name = name;
    this.room = `${RUN}-${name}`;
    this.providers = [];
    this.docs = [];
    this.sockets = [];
  }

  /**
   * A y-websocket provider on `room` with its own Y.Doc. Records its status / connection-close /
   * connection-error events in `events`.
   */
  provider(room, { token, connect = true } = {}) {
    const doc = new Y.Doc();
    const p = new WebsocketProvider(BASE, room, doc, {
      WebSocketPolyfill: WebSocket,
      params: token ? { token } : {},
      disableBc: true, // in one process, BroadcastChannel would sync the docs without the server
      connect,
    });
    const c = { doc, p, aw: p.awareness, text: doc.getText('t'), map: doc.getMap('m'), events: [] };
    p.on('status', (e) => c.events.push({ t: 'status', status: e.status }));
    p.on('connection-close', (e) => c.events.push({ t: 'connection-close', code: e ? e.code : null }));
    p.on('connection-error', (e) => c.events.push({ t: 'connection-error', message: e && e.message ? e.message : String(e && e.type) }));
    this.providers.push(p);
    this.docs.push(doc);
    return c;
  }

  cleanup() {
    for (const s of this.sockets) {
      try {
        s.terminate();
      } catch {}
    }
    for (const p of this.providers) {
      try {
        p.destroy();
      } catch {}
    }
    for (const d of this.docs) {
      try {
        d.destroy();
      } catch {}
    }
    this.providers = [];
    this.docs = [];
    this.sockets = [];
  }
}

const synced = (c, ms = 5000) => waitFor(() => c.p.synced, ms, [[c.p, 'sync']], `${c.p.roomname} synced`);
const textIs = (c, s, ms, what) => waitFor(() => c.text.toString() === s, ms, [[c.doc, 'update']], what);
const textHas = (c, s, ms, what) => waitFor(() => c.text.toString().includes(s), ms, [[c.doc, 'update']], what);
const statusOf = (events) => events.filter((e) => e.t !== 'status' || e.status !== 'connecting');

// ---------------------------------------------------------------------------------------------
// Scenarios: each returns its details object or throws.

const scenarios = {};

// Two providers edit one room concurrently (text inserts/deletes, map sets/deletes, many
// transactions crossing on the wire); both docs must converge.
scenarios.converge = {
  timeout: 30000,
  async run(ctx) {
    const TX = 250;
    const seed = randomBytes(4).readUInt32LE(0);
    const a = ctx.provider(ctx.room);
    const b = ctx.provider(ctx.room);
    await Promise.all([synced(a), synced(b)]);
    const edit = async (c, rnd, tag) => {
      for (let i = 0; i < TX; i++) {
        c.doc.transact(() => {
          const ops = rnd.int(1, 3);
          for (let k = 0; k < ops; k++) {
            const r = rnd.next();
            const len = c.text.length;
            if (r < 0.55 || len === 0) {
              c.text.insert(rnd.int(0, len), `${tag}${rnd.word(rnd.int(1, 6))}`);
            } else if (r < 0.75) {
              const pos = rnd.int(0, len - 1);
              c.text.delete(pos, Math.min(rnd.int(1, 4), len - pos));
            } else if (r < 0.93) {
              c.map.set(`k${rnd.int(0, 15)}`, rnd.next() < 0.5 ? rnd.int(0, 1e6) : `${tag}${rnd.word(4)}`);
            } else {
              c.map.delete(`k${rnd.int(0, 15)}`);
            }
          }
        });
        // short awaits, so the two clients' updates interleave on the wire
        if (i % 3 === 0) await sleep(rnd.int(0, 2));
        else await tick();
      }
    };
    await Promise.all([edit(a, prng(seed), 'A'), edit(b, prng(seed ^ 0x5bd1e995), 'B')]);
    const same = () =>
      bytesEqual(Y.encodeStateVector(a.doc), Y.encodeStateVector(b.doc)) &&
      a.text.toString() === b.text.toString() &&
      sortedJson(a.map.toJSON()) === sortedJson(b.map.toJSON());
    await waitFor(same, 15000, [[a.doc, 'update'], [b.doc, 'update']], 'both docs equal');
    const text = a.text.toString();
    assert(text.length >= 200, `text too short (${text.length})`);
    assert(text.includes('A') && text.includes('B'), 'text holds edits of both clients');
    assert(a.map.size > 0, 'map is empty');
    const sv = Y.decodeStateVector(Y.encodeStateVector(a.doc));
    assert(sv.get(a.doc.clientID) > 0 && sv.get(b.doc.clientID) > 0, 'state vector has both clients');
    return { transactions: 2 * TX, seed, textLength: text.length, mapSize: a.map.size };
  },
};

// Awareness states cross; when A's socket closes (without A announcing its own removal), the
// server must tell B that A's clientID is gone.
scenarios.awareness = {
  timeout: 15000,
  async run(ctx) {
    const a = ctx.provider(ctx.room);
    const b = ctx.provider(ctx.room);
    a.aw.setLocalStateField('user', { name: 'alice' });
    b.aw.setLocalStateField('user', { name: 'bob' });
    await Promise.all([synced(a), synced(b)]);
    const aid = a.doc.clientID;
    const bid = b.doc.clientID;
    const nameIn = (c, id) => c.aw.getStates().get(id)?.user?.name;
    await waitFor(() => nameIn(b, aid) === 'alice', 5000, [[b.aw, 'change']], 'B sees alice');
    await waitFor(() => nameIn(a, bid) === 'bob', 5000, [[a.aw, 'change']], 'A sees bob');
    // Close A's socket directly: provider.destroy() would first send A's own "state = null"
    // awareness update, and then B would learn of the removal from A rather than from the server.
    const removed = [];
    b.aw.on('change', ({ removed: r }) => removed.push(...r));
    const sock = a.p.ws;
    a.p.shouldConnect = false;
    const t0 = performance.now();
    sock.close();
    await waitFor(() => a.p.ws === null, 5000, [[a.p, 'connection-close']], 'A socket closed');
    a.p.destroy();
    await waitFor(() => !b.aw.getStates().has(aid), 5000, [[b.aw, 'change']], 'B drops A from awareness after A closed');
    const removalMs = Math.round(performance.now() - t0);
    assert(removed.includes(aid), 'B got a "removed" change for A');
    assert(nameIn(b, bid) === 'bob', 'B keeps its own state');
    return { removalMs };
  },
};

// A writes, then B joins later: B's SyncStep2 from the server already holds everything.
scenarios.late_joiner = {
  timeout: 15000,
  async run(ctx) {
    const a = ctx.provider(ctx.room);
    const w = ctx.provider(ctx.room); // witness: proves the server applied A's edits before B joins
    await Promise.all([synced(a), synced(w)]);
    const marker = `late-${RUN}`;
    a.doc.transact(() => {
      a.text.insert(0, `hello ${marker} `);
      a.map.set('answer', 42);
    });
    a.text.insert(a.text.length, 'world');
    a.map.set('who', { name: 'alice', n: [1, 2, 3] });
    const want = a.text.toString();
    await textIs(w, want, 5000, 'witness has A text');
    await waitFor(() => sortedJson(w.map.toJSON()) === sortedJson(a.map.toJSON()), 5000, [[w.doc, 'update']], 'witness has A map');
    const b = ctx.provider(ctx.room);
    let atSync = null;
    b.p.on('sync', (s) => {
      if (s && atSync === null) atSync = { text: b.text.toString(), map: sortedJson(b.map.toJSON()) };
    });
    await synced(b);
    assert(atSync !== null, 'sync event seen');
    assert(atSync.text === want, `B text at sync ${short(atSync.text)} != ${short(want)}`);
    assert(atSync.map === sortedJson(a.map.toJSON()), `B map at sync ${short(atSync.map)}`);
    assert(bytesEqual(Y.encodeStateVector(b.doc), Y.encodeStateVector(a.doc)), 'state vectors equal');
    return { textLength: want.length };
  },
};

// One 1 MiB string in one transaction.
scenarios.large_update = {
  timeout: 25000,
  async run(ctx) {
    const a = ctx.provider(ctx.room);
    const b = ctx.provider(ctx.room);
    await Promise.all([synced(a), synced(b)]);
    const big = randomBytes(786432).toString('base64'); // 1 MiB of ASCII
    assert(big.length === 1 << 20, 'string is 1 MiB');
    let updateBytes = 0;
    a.doc.once('update', (u) => (updateBytes = u.length));
    const t0 = performance.now();
    a.text.insert(0, big);
    await waitFor(() => b.text.length === big.length, 20000, [[b.doc, 'update']], 'B has 1 MiB text');
    const deliverMs = Math.round(performance.now() - t0);
    assert(b.text.toString() === big, 'B text equals the 1 MiB string');
    return { chars: big.length, updateBytes, deliverMs };
  },
};

// 35 s idle (beyond y-websocket's 30 s messageReconnectTimeout): no disconnects, and an edit
// afterwards still arrives.
scenarios.idle = {
  timeout: 50000,
  async run(ctx) {
    const IDLE = 35000;
    const a = ctx.provider(ctx.room);
    const b = ctx.provider(ctx.room);
    await Promise.all([synced(a), synced(b)]);
    const ea = a.events.length;
    const eb = b.events.length;
    await sleep(IDLE);
    const bad = (c, from) => c.events.slice(from).filter((e) => e.t === 'connection-close' || (e.t === 'status' && e.status === 'disconnected'));
    const badA = bad(a, ea);
    const badB = bad(b, eb);
    assert(badA.length === 0 && badB.length === 0, `disconnect events while idle: A ${JSON.stringify(badA)} B ${JSON.stringify(badB)}`);
    assert(a.p.wsconnected && b.p.wsconnected, 'both still connected');
    const s = `after-idle-${RUN}`;
    a.text.insert(0, s);
    await textIs(b, s, 5000, 'edit after idle reaches B');
    const bad2 = [...bad(a, ea), ...bad(b, eb)];
    assert(bad2.length === 0, `disconnect events: ${JSON.stringify(bad2)}`);
    return { idleMs: IDLE };
  },
};

// A read-only client (token=ro) gets the document and A's edits; its own edit never reaches A
// nor a fresh client.
scenarios.read_only = {
  timeout: 15000,
  async run(ctx) {
    const a = ctx.provider(ctx.room);
    a.aw.setLocalStateField('user', { name: 'alice' });
    await synced(a);
    const a1 = `A1-${RUN}`;
    a.text.insert(0, a1);
    // R counts the SyncStep2 messages it receives (a reply to its own SyncStep1 is a barrier:
    // the server has handled everything R sent before it).
    const r = ctx.provider(ctx.room, { token: 'ro', connect: false });
    let step2 = 0;
    const seen = new EventEmitter();
    const orig = r.p.messageHandlers[0];
    r.p.messageHandlers[0] = (encoder, decoder, provider, emitSynced, type) => {
      const isStep2 = decoder.arr[decoder.pos] === syncProtocol.messageYjsSyncStep2;
      const out = orig(encoder, decoder, provider, emitSynced, type);
      if (isStep2) {
        step2++;
        seen.emit('step2');
      }
      return out;
    };
    r.p.connect();
    await synced(r);
    await textHas(r, a1, 5000, 'R gets the document');
    await waitFor(() => r.aw.getStates().get(a.doc.clientID)?.user?.name === 'alice', 5000, [[r.aw, 'change']], 'R gets awareness');
    const rEdit = `R-EDIT-${RUN}`;
    r.text.insert(0, rEdit);
    r.aw.setLocalStateField('user', { name: 'reader' });
    // barrier: SyncStep1 from R, wait for the server's SyncStep2 answer
    const before = step2;
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, 0);
    syncProtocol.writeSyncStep1(enc, r.doc);
    r.p.ws.send(encoding.toUint8Array(enc));
    await waitFor(() => step2 > before, 5000, [[seen, 'step2']], 'R gets a SyncStep2 answer to its SyncStep1');
    const a2 = `A2-${RUN}`;
    a.text.insert(a.text.length, a2);
    await textHas(r, a2, 5000, "R gets A's later edit");
    assert(!a.text.toString().includes(rEdit), `A got R's edit: ${short(a.text.toString())}`);
    assert(!Y.decodeStateVector(Y.encodeStateVector(a.doc)).has(r.doc.clientID), "A's state vector has R's clientID");
    const c = ctx.provider(ctx.room);
    await synced(c);
    const ct = c.text.toString();
    assert(ct.includes(a1) && ct.includes(a2), `fresh client lacks A's edits: ${short(ct)}`);
    assert(!ct.includes(rEdit), `fresh client got R's edit: ${short(ct)}`);
    assert(r.p.wsconnected, 'R still connected');
    const roAwarenessSeenByA = a.aw.getStates().get(r.doc.clientID)?.user?.name === 'reader';
    return { roAwarenessSeenByA };
  },
};

// token=deny: the upgrade is refused with 403; the provider never connects.
scenarios.auth_reject = {
  timeout: 15000,
  async run(ctx) {
    const room = ctx.room;
    const url = `${BASE}/${room}?token=deny`;
    const raw = await new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ctx.sockets.push(ws);
      const timer = setTimeout(() => reject(new Error('raw connection: no response in 5 s')), 5000);
      ws.on('unexpected-response', (req, res) => {
        clearTimeout(timer);
        resolve({ status: res.statusCode });
        res.resume();
        req.destroy();
      });
      ws.on('open', () => {
        clearTimeout(timer);
        resolve({ status: 101 });
      });
      ws.on('error', (e) => {
        clearTimeout(timer);
        resolve({ status: null, error: e.message });
      });
    });
    assert(raw.status === 403, `raw upgrade with token=deny answered ${JSON.stringify(raw)}, not 403`);
    const c = ctx.provider(room, { token: 'deny' });
    const closes = () => c.events.filter((e) => e.t === 'connection-close').length;
    // the first attempt and one reconnect attempt both fail
    await waitFor(() => closes() >= 2, 8000, [[c.p, 'connection-close']], 'two failed connection attempts');
    const connected = c.events.some((e) => e.t === 'status' && e.status === 'connected');
    assert(!connected, 'provider reached status connected');
    assert(!c.p.synced, 'provider synced');
    const errors = c.events.filter((e) => e.t === 'connection-error');
    assert(errors.length >= 1, 'connection-error emitted');
    assert(errors.some((e) => /403/.test(e.message)), `connection-error mentions 403: ${JSON.stringify(errors)}`);
    return { rawStatus: raw.status, providerError: errors[0].message, events: statusOf(c.events).slice(0, 4) };
  },
};

// 50 rooms with one writer and one reader each: no cross-talk.
scenarios.rooms_apart = {
  timeout: 30000,
  async run(ctx) {
    const N = 50;
    const rooms = Array.from({ length: N }, (_, i) => ({ i, room: `${ctx.room}-${i}`, want: `room-${i}-${RUN}-${randomBytes(6).toString('hex')}` }));
    for (const r of rooms) {
      r.w = ctx.provider(r.room);
      r.r = ctx.provider(r.room);
    }
    await Promise.all(
      rooms.map(async (r) => {
        await Promise.all([synced(r.w, 15000), synced(r.r, 15000)]);
        r.w.text.insert(0, r.want);
        await textIs(r.r, r.want, 15000, `reader of room ${r.i} has its string`);
      })
    );
    // all readers reached their string; nothing else may have arrived meanwhile
    const wrong = rooms.filter((r) => r.r.text.toString() !== r.want || r.w.text.toString() !== r.want);
    assert(wrong.length === 0, `rooms with foreign content: ${wrong.map((r) => `${r.i}: ${short(r.r.text.toString())}`).join('; ')}`);
    return { rooms: N };
  },
};

// ---------------------------------------------------------------------------------------------
// Runner

let passed = 0;
let failed = 0;
let finished = false;
const emit = (o) => {
  if (!finished) process.stdout.write(JSON.stringify(o) + '\n');
};

async function runScenario(name) {
  const { timeout, run } = scenarios[name];
  const ctx = new Ctx(name);
  const t0 = performance.now();
  let timer;
  try {
    const details = await Promise.race([
      run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`scenario timeout after ${timeout} ms`)), timeout);
      }),
    ]);
    passed++;
    emit({ scenario: name, ok: true, ms: Math.round(performance.now() - t0), ...details });
  } catch (e) {
    failed++;
    emit({ scenario: name, ok: false, ms: Math.round(performance.now() - t0), error: String((e && e.message) || e).slice(0, 2000) });
  } finally {
    clearTimeout(timer);
    ctx.cleanup();
  }
}

const selected = only ? SCENARIOS.filter((n) => only.includes(n)) : SCENARIOS;
const pending = new Set(selected);
const hardStop = setTimeout(() => {
  for (const name of pending) {
    failed++;
    emit({ scenario: name, ok: false, error: 'run deadline (58 s) reached' });
  }
  finish();
}, 58000);

function finish() {
  if (finished) return;
  finished = true;
  clearTimeout(hardStop);
  process.stdout.write(JSON.stringify({ done: true, passed, failed }) + '\n', () => process.exit(failed === 0 ? 0 : 1));
  // reconnect back-off timers and closing handshakes may keep the loop alive; do not wait
}

await Promise.all(
  selected.map(async (name) => {
    await runScenario(name);
    pending.delete(name);
  })
);
finish();
