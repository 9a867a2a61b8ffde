// A scriptable socket.io-client driver, shared by Node (node/sio_client.js) and headless
// Chromium (chromium/sio.mjs loads it into the page next to the official browser bundle).
// The Rust tests (crates/wsx-socketio/tests/sio_interop/) send it JSON commands and read back
// JSON events; every scenario is written on the Rust side.
//
//   const driver = SioCore.create({ Manager, out });   // out(obj) prints one event
//   driver.handle(command);
//
// Values: JSON, except that {"$bin": "<hex>"} stands for binary data (a Buffer in Node, an
// ArrayBuffer in the browser) and {"$repeat": ["x", N]} for the string "x" repeated N times.
// Binary received is printed as {"$bin": "<hex>"}; its JS types go in the event's bin_types.
//
// Commands (each may carry "seq": a number; the driver then answers {"ev":"ok","seq"} after
// running it, or {"ev":"error","seq","message"} if it threw):
//   {"op":"manager","manager":M,"url":U,"opts":{...}}   new Manager(U, opts); the driver's
//                                        defaults are reconnection:false, timeout:10000
//   {"op":"connect","id":S,"nsp":"/x","auth":{...},"manager":M}   a socket on manager M
//   {"op":"connect","id":S,"nsp":"/x","auth":{...},"url":U,"opts":{...}}   the same on a new
//                                        manager named S
//   {"op":"emit","id":S,"event":E,"args":[...],"ack":true,"timeout":ms,"tag":T}
//                                        ack: pass a callback (answered by an "ack" or
//                                        "ack_error" event with this tag); timeout: use
//                                        socket.timeout(ms).emit(...)
//   {"op":"auto_ack","id":S,"event":E,"reply":[...]}    answer E's ack requests with these args
//   {"op":"auto_ack","id":S,"event":E,"echo":true}      ... with the event's own args
//   {"op":"auto_ack","id":S,"event":E,"never":true}     ... never
//   {"op":"reply","ack":N,"args":[...]}   answer the pending ack request number N
//   {"op":"stream","id":S,"event":E,"count":N,"every_ms":ms,"binary":B}   emits E with [i]
//                                        (B: [i, <one byte i % 256>]) for i in 0..N, one every
//                                        ms (0: all at once), from now on (buffered by the
//                                        client until connected), then E + "_end" with [N]
//   {"op":"disconnect","id":S} · {"op":"reconnect","id":S} (socket.connect())
//   {"op":"close_manager","manager":M}
//   {"op":"state","id":S}                 prints a "state" event
//   {"op":"after","ms":N}                 answers its "ok" from a timer of N ms: a barrier behind
//                                        every timer the client set before with a shorter delay
//                                        (timers fire in the order of their deadlines)
// Events:
//   {"ev":"open","manager","transport","sid"}         the Engine.IO session opened
//   {"ev":"upgrade","manager","transport"}            the Engine.IO transport was upgraded
//   {"ev":"manager_close","manager","reason"} · {"ev":"manager_error","manager","message"}
//   {"ev":"reconnect_attempt","manager","attempt"} · {"ev":"ping","manager"} (a server ping)
//   {"ev":"connect","id","sid","transport","recovered"}
//   {"ev":"connect_error","id","message","data"}
//   {"ev":"disconnect","id","reason","active"}        active: whether it will reconnect
//   {"ev":"event","id","event","args","ack","bin_types"}   ack: null (none asked), a number
//                                        (pending: answer with "reply"), or the auto_ack rule
//   {"ev":"ack","id","tag","args","bin_types"} · {"ev":"ack_error","id","tag","message"}
//   {"ev":"state","id","connected","active","sid","transport"}
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.SioCore = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const hasBuffer = typeof Buffer !== "undefined";

  function isBinary(v) {
    return (hasBuffer && Buffer.isBuffer(v)) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
  }

  function bytesOf(v) {
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  function toHex(v) {
    let s = "";
    for (const b of bytesOf(v)) s += (b < 16 ? "0" : "") + b.toString(16);
    return s;
  }

  function fromHex(hex) {
    if (hasBuffer) return Buffer.from(hex, "hex");
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out.buffer;
  }

  function typeName(v) {
    if (hasBuffer && Buffer.isBuffer(v)) return "Buffer";
    return (v && v.constructor && v.constructor.name) || typeof v;
  }

  /** JS value -> JSON for the driver (binary as {"$bin": hex}, its type pushed to `types`). */
  function encode(v, types) {
    if (isBinary(v)) {
      types.push(typeName(v));
      return { $bin: toHex(v) };
    }
    if (Array.isArray(v)) return v.map((x) => encode(x, types));
    if (v && typeof v === "object") {
      const o = {};
      for (const k of Object.keys(v)) o[k] = encode(v[k], types);
      return o;
    }
    return v === undefined ? null : v;
  }

  /** JSON from the driver -> JS value. */
  function decode(v) {
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === "object") {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === "$bin") return fromHex(v.$bin);
      if (keys.length === 1 && keys[0] === "$repeat") return String(v.$repeat[0]).repeat(v.$repeat[1]);
      const o = {};
      for (const k of keys) o[k] = decode(v[k]);
      return o;
    }
    return v;
  }

  function create({ Manager, out }) {
    const managers = new Map();
    const sockets = new Map(); // id -> { socket, manager }
    const pending = new Map(); // ack number -> callback
    const rules = new Map(); // id + "\0" + event -> rule
    let ackSeq = 0;

    function engineTransport(m) {
      return m.engine && m.engine.transport ? m.engine.transport.name : null;
    }

    function newManager(name, url, opts) {
      if (managers.has(name)) throw new Error(`manager ${name} exists`);
      const m = new Manager(url, Object.assign({ reconnection: false, timeout: 10000 }, opts || {}));
      managers.set(name, m);
      m.on("open", () => {
        const engine = m.engine;
        out({ ev: "open", manager: name, transport: engineTransport(m), sid: engine.id });
        engine.on("upgrade", (t) => out({ ev: "upgrade", manager: name, transport: t.name }));
      });
      m.on("error", (e) => out({ ev: "manager_error", manager: name, message: String(e && e.message || e) }));
      m.on("close", (reason) => out({ ev: "manager_close", manager: name, reason }));
      m.on("reconnect_attempt", (n) => out({ ev: "reconnect_attempt", manager: name, attempt: n }));
      m.on("ping", () => out({ ev: "ping", manager: name }));
      return m;
    }

    function sock(id) {
      const s = sockets.get(id);
      if (!s) throw new Error(`no socket ${id}`);
      return s;
    }

    function connect(cmd) {
      const id = cmd.id;
      if (sockets.has(id)) throw new Error(`socket ${id} exists`);
      const m = cmd.manager ? managers.get(cmd.manager) : newManager(id, cmd.url, cmd.opts);
      if (!m) throw new Error(`no manager ${cmd.manager}`);
      const opts = {};
      if (cmd.auth !== undefined) opts.auth = decode(cmd.auth);
      const socket = m.socket(cmd.nsp || "/", opts);
      sockets.set(id, { socket, manager: m });
      socket.on("connect", () =>
        out({ ev: "connect", id, sid: socket.id, transport: engineTransport(m), recovered: !!socket.recovered }));
      socket.on("connect_error", (err) => {
        const types = [];
        out({ ev: "connect_error", id, message: err.message, data: encode(err.data, types) });
      });
      socket.on("disconnect", (reason) => out({ ev: "disconnect", id, reason, active: socket.active }));
      socket.onAny((event, ...args) => {
        let ackFn = null;
        if (args.length && typeof args[args.length - 1] === "function") ackFn = args.pop();
        const types = [];
        const encoded = args.map((a) => encode(a, types));
        let ack = null;
        let answer = null;
        if (ackFn) {
          const rule = rules.get(id + "\0" + event);
          if (!rule) {
            ack = ++ackSeq;
            pending.set(ack, ackFn);
          } else if (rule.never) {
            ack = "never";
          } else if (rule.echo) {
            ack = "echo";
            answer = () => ackFn(...args);
          } else {
            ack = "reply";
            answer = () => ackFn(...decode(rule.reply || []));
          }
        }
        out({ ev: "event", id, event, args: encoded, ack, bin_types: types });
        if (answer) answer();
      });
      if (!m._autoConnect) socket.connect();
    }

    function emit(cmd) {
      const { socket } = sock(cmd.id);
      const args = (cmd.args || []).map(decode);
      const target = cmd.timeout != null ? socket.timeout(cmd.timeout) : socket;
      if (!cmd.ack) {
        target.emit(cmd.event, ...args);
        return;
      }
      const report = (res) => {
        const types = [];
        out({ ev: "ack", id: cmd.id, tag: cmd.tag, args: res.map((a) => encode(a, types)), bin_types: types });
      };
      if (cmd.timeout != null) {
        target.emit(cmd.event, ...args, (err, ...res) => {
          if (err) out({ ev: "ack_error", id: cmd.id, tag: cmd.tag, message: err.message });
          else report(res);
        });
      } else {
        target.emit(cmd.event, ...args, (...res) => report(res));
      }
    }

    function dispatch(cmd) {
      switch (cmd.op) {
        case "manager":
          newManager(cmd.manager, cmd.url, cmd.opts);
          break;
        case "connect":
          connect(cmd);
          break;
        case "emit":
          emit(cmd);
          break;
        case "auto_ack":
          sock(cmd.id);
          rules.set(cmd.id + "\0" + cmd.event, { reply: cmd.reply, echo: !!cmd.echo, never: !!cmd.never });
          break;
        case "reply": {
          const fn = pending.get(cmd.ack);
          if (!fn) throw new Error(`no pending ack ${cmd.ack}`);
          pending.delete(cmd.ack);
          fn(...(cmd.args || []).map(decode));
          break;
        }
        case "stream": {
          const { socket } = sock(cmd.id);
          let i = 0;
          const one = () => {
            const n = i++;
            if (cmd.binary) socket.emit(cmd.event, n, fromHex((n % 256).toString(16).padStart(2, "0")));
            else socket.emit(cmd.event, n);
          };
          if (!cmd.every_ms) {
            while (i < cmd.count) one();
            socket.emit(cmd.event + "_end", i);
            break;
          }
          const timer = setInterval(() => {
            if (i < cmd.count) one();
            if (i >= cmd.count) {
              clearInterval(timer);
              socket.emit(cmd.event + "_end", i);
            }
          }, cmd.every_ms);
          break;
        }
        case "disconnect":
          sock(cmd.id).socket.disconnect();
          break;
        case "reconnect":
          sock(cmd.id).socket.connect();
          break;
        case "drop_engine": {
          // The connection drops under the client (as a network loss would): the manager
          // reconnects by itself.
          const m = managers.get(cmd.manager);
          if (!m) throw new Error(`no manager ${cmd.manager}`);
          m.engine.close();
          break;
        }
        case "close_manager": {
          const m = managers.get(cmd.manager);
          if (!m) throw new Error(`no manager ${cmd.manager}`);
          m._close();
          break;
        }
        case "after":
          // Answered by the timer (see handle).
          setTimeout(() => out({ ev: "ok", seq: cmd.seq }), cmd.ms);
          return true;
        case "state": {
          const { socket, manager } = sock(cmd.id);
          out({
            ev: "state", id: cmd.id, connected: socket.connected, active: socket.active,
            sid: socket.id === undefined ? null : socket.id, transport: engineTransport(manager),
          });
          break;
        }
        default:
          throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
      }
    }

    function handle(cmd) {
      try {
        const answered = dispatch(cmd);
        if (!answered && cmd.seq !== undefined) out({ ev: "ok", seq: cmd.seq });
      } catch (e) {
        out({ ev: "error", seq: cmd.seq === undefined ? null : cmd.seq, message: String((e && e.stack) || e) });
      }
    }

    return { handle };
  }

  return { create, encode, decode };
});
