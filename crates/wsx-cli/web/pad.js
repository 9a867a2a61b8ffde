// wsx collaborative pad: one shared text per room, synced over the y-websocket protocol.
// The Yjs side (document, sync protocol, awareness) is our own Rust, `crates/wsx-web`, compiled
// to /pad.wasm; this file is only the glue (no wasm-bindgen, no third-party code) and the page.
// `?ws=ws://host:port/prefix` points the page at another y-websocket server (development);
// `?name=` sets the name shown to the others.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const pathRoom = location.pathname.match(/^\/pad\/(.+)$/);
  const room = (pathRoom ? decodeURIComponent(pathRoom[1]) : params.get("room")) || "welcome";
  const wsBase = (params.get("ws") || (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/yjs").replace(/\/+$/, "");
  const url = wsBase + "/" + encodeURIComponent(room);
  const NONE = 0xffffffff; // "no selection" for the wasm ABI
  const SEND = 1, VIEW = 2, ERROR = 3; // output record kinds (crates/wsx-web/src/ffi.rs)
  const utf8 = new TextEncoder(), fromUtf8 = new TextDecoder();

  // ---- The wasm module: a small C ABI over linear memory (see crates/wsx-web/src/ffi.rs). ----
  let wasm = null; // compiled module, instantiated again after a trap
  async function compile() {
    const res = await fetch("/pad.wasm");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    // Streaming compilation needs the application/wasm content type; a plain file server may not send it.
    if ((res.headers.get("content-type") || "").startsWith("application/wasm")) return WebAssembly.compileStreaming(res);
    return WebAssembly.compile(await res.arrayBuffer());
  }

  class Pad {
    constructor(module) {
      // yrs depends on fastrand with its `js` feature, which links getrandom's wasm-bindgen backend,
      // so the module names a few imports meant for wasm-bindgen's generated glue. One is reached:
      // fastrand seeds itself through `getRandomValues(ptr, len)` the first time yrs decodes a
      // subdocument (a random guid), and gets its bytes from crypto.getRandomValues here. The
      // others are never called; each gets a stub that throws, which would be handled as a trap.
      const imports = {};
      for (const imp of WebAssembly.Module.imports(module)) {
        if (imp.kind !== "function") continue;
        (imports[imp.module] ||= {})[imp.name] = imp.name.startsWith("__wbg_getRandomValues_")
          ? (ptr, len) => { crypto.getRandomValues(new Uint8Array(this.ex.memory.buffer, ptr, len)); }
          : () => { throw new Error(`wasm import ${imp.module}.${imp.name} is not provided`); };
      }
      this.ex = new WebAssembly.Instance(module, imports).exports;
      this.clientId = crypto.getRandomValues(new Uint32Array(1))[0];
      this.handle = this.ex.wsx_pad_new(this.clientId);
      if (!this.handle) throw new Error(this.take().error || "wsx_pad_new failed");
    }
    // Copies `bytes` into the module's input buffer.
    input(bytes) {
      const ptr = this.ex.wsx_input(bytes.length);
      new Uint8Array(this.ex.memory.buffer, ptr, bytes.length).set(bytes);
    }
    // Reads the output records of the last call: messages to send, the view, an error.
    take() {
      const ptr = this.ex.wsx_output_ptr(), len = this.ex.wsx_output_len();
      const buf = new Uint8Array(this.ex.memory.buffer, ptr, len).slice();
      const dv = new DataView(buf.buffer);
      const out = { send: [], view: null, error: null };
      for (let i = 0; i + 5 <= len;) {
        const kind = buf[i], n = dv.getUint32(i + 1, true), body = buf.subarray(i + 5, i + 5 + n);
        i += 5 + n;
        if (kind === SEND) out.send.push(body);
        else if (kind === VIEW) out.view = JSON.parse(fromUtf8.decode(body));
        else if (kind === ERROR) out.error = fromUtf8.decode(body);
      }
      return out;
    }
    call(name, ...args) {
      const status = this.ex[name](this.handle, ...args);
      const out = this.take();
      if (status !== 0 && !out.error) out.error = `${name} failed (${status})`;
      return out;
    }
    connect() { return this.call("wsx_pad_connect", Date.now()); }
    disconnect() { return this.call("wsx_pad_disconnect", Date.now()); }
    receive(bytes, sel) { this.input(bytes); return this.call("wsx_pad_receive", Date.now(), sel.anchor, sel.head); }
    edit(text, caret) { this.input(utf8.encode(text)); return this.call("wsx_pad_edit", Date.now(), caret); }
    setUser(user) { this.input(utf8.encode(JSON.stringify(user))); return this.call("wsx_pad_set_user", Date.now()); }
    setSelection(sel) { return this.call("wsx_pad_set_selection", Date.now(), sel ? sel.anchor : NONE, sel ? sel.head : NONE); }
    tick() { return this.call("wsx_pad_tick", Date.now()); }
    leave() { return this.call("wsx_pad_leave", Date.now()); }
    view() { return this.call("wsx_pad_view"); }
    panicMessage() {
      try { const n = this.ex.wsx_panic_message(); return fromUtf8.decode(new Uint8Array(this.ex.memory.buffer, this.ex.wsx_output_ptr(), n)); }
      catch { return ""; }
    }
  }

  // ---- The page. ----
  const area = $("text"), overlay = $("cursors");
  const state = { pad: null, ws: null, attempt: 0, timer: null, peers: [], user: null };
  const PALETTE = ["#5b8cff", "#ff5c8a", "#2ecc71", "#f5a623", "#b07cff", "#1fc7d4", "#ff7a45", "#c0d94a"];

  $("room-name").textContent = "#" + room;
  document.title = `wsx — pad #${room}`;
  $("endpoint").textContent = url.replace(/^wss?:\/\/[^/]+/, "") || url;
  $("chat-link").href = "/?room=" + encodeURIComponent(room);
  // The same name as in the chat (`wsx.nick`); a random one the first time, kept for next time.
  if (!localStorage.getItem("wsx.nick")) localStorage.setItem("wsx.nick", "guest-" + Math.floor(Math.random() * 9000 + 1000));
  $("name").value = params.get("name") || localStorage.getItem("wsx.nick");
  let color = localStorage.getItem("wsx.color");
  if (!/^#[0-9a-f]{6}$/i.test(color || "")) { color = PALETTE[Math.floor(Math.random() * PALETTE.length)]; localStorage.setItem("wsx.color", color); }
  state.user = { name: $("name").value.trim() || "guest", color };

  function setStatus(kind, text) {
    $("status").className = "status " + kind;
    $("status-text").textContent = text;
    document.body.dataset.connection = kind;
  }

  function send(messages) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    for (const m of messages) ws.send(m);
  }

  function selection() {
    const backward = area.selectionDirection === "backward";
    return { anchor: backward ? area.selectionEnd : area.selectionStart, head: backward ? area.selectionStart : area.selectionEnd };
  }

  // Runs one call into the module; a trap (a Rust panic aborts) drops the instance and starts
  // over with a fresh one and a new connection: the server has the document.
  function run(f) {
    try { return f(state.pad); }
    catch (e) {
      console.error("pad module failed:", e, state.pad && state.pad.panicMessage());
      restart();
      return { send: [], view: null, error: String(e) };
    }
  }

  function apply(out) {
    if (out.error) console.warn("pad:", out.error);
    send(out.send);
    if (out.view) show(out.view);
  }

  function show(view) {
    if (view.text !== null && view.text !== undefined) {
      if (area.value !== view.text) {
        const top = area.scrollTop, focused = document.activeElement === area;
        area.value = view.text;
        if (view.selection) {
          const { anchor, head } = view.selection;
          area.setSelectionRange(Math.min(anchor, head), Math.max(anchor, head), anchor > head ? "backward" : "forward");
        }
        area.scrollTop = top;
        if (focused && document.activeElement !== area) area.focus();
      }
    }
    if (view.synced) document.body.dataset.synced = "true";
    if (view.denied) setStatus("closed", "access denied: " + view.denied);
    if (view.peers) { state.peers = view.peers; renderPeers(); }
    renderCursors();
  }

  function renderPeers() {
    const ul = $("peers");
    ul.replaceChildren(...state.peers.map((p) => {
      const li = document.createElement("li");
      li.style.setProperty("--peer", p.color);
      li.textContent = p.name + (p.me ? " (you)" : "");
      li.dataset.name = p.name;
      if (p.me) li.className = "me";
      return li;
    }));
    $("count").textContent = state.peers.length;
  }

  // The others' cursors: a mirror of the textarea (same box, font and wrapping) with the text
  // invisible, where a caret and a name flag are placed at each peer's position and their
  // selections are tinted with their color.
  function renderCursors() {
    const others = state.peers.filter((p) => !p.me && p.cursor);
    const cs = getComputedStyle(area);
    for (const k of ["fontFamily", "fontSize", "fontWeight", "lineHeight", "letterSpacing", "tabSize", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft"]) overlay.style[k] = cs[k];
    overlay.style.left = area.offsetLeft + area.clientLeft + "px";
    overlay.style.top = area.offsetTop + area.clientTop + "px";
    overlay.style.width = area.clientWidth + "px";
    overlay.style.height = area.clientHeight + "px";
    const text = area.value, n = text.length;
    const marks = new Set([0, n]);
    for (const p of others) { marks.add(Math.min(p.cursor.anchor, n)); marks.add(Math.min(p.cursor.head, n)); }
    const points = [...marks].sort((a, b) => a - b);
    const nodes = [];
    for (let i = 0; i < points.length; i++) {
      const at = points[i];
      for (const p of others) {
        if (Math.min(p.cursor.head, n) !== at) continue;
        const caret = document.createElement("span");
        caret.className = "peer-caret";
        caret.dataset.name = p.name;
        caret.style.setProperty("--peer", p.color);
        const flag = document.createElement("span");
        flag.className = "peer-name";
        flag.textContent = p.name;
        caret.append(flag);
        nodes.push(caret);
      }
      if (i + 1 === points.length) break;
      const seg = text.slice(at, points[i + 1]);
      const owner = others.find((p) => Math.min(p.cursor.anchor, p.cursor.head) <= at && at < Math.max(p.cursor.anchor, p.cursor.head));
      if (owner) {
        const s = document.createElement("span");
        s.className = "peer-selection";
        s.style.setProperty("--peer", owner.color);
        s.textContent = seg;
        nodes.push(s);
      } else nodes.push(document.createTextNode(seg));
    }
    nodes.push(document.createTextNode("\u200b")); // a last empty line still has a height
    overlay.replaceChildren(...nodes);
    overlay.scrollTop = area.scrollTop;
  }

  let selectionQueued = false;
  function selectionMoved() {
    if (selectionQueued || !state.pad) return;
    selectionQueued = true;
    requestAnimationFrame(() => {
      selectionQueued = false;
      apply(run((pad) => pad.setSelection(selection())));
    });
  }

  area.addEventListener("input", () => {
    if (!state.pad) return;
    apply(run((pad) => pad.edit(area.value, area.selectionEnd)));
    selectionMoved();
  });
  for (const ev of ["keyup", "mouseup", "select", "focus"]) area.addEventListener(ev, selectionMoved);
  document.addEventListener("selectionchange", () => { if (document.activeElement === area) selectionMoved(); });
  area.addEventListener("scroll", () => { overlay.scrollTop = area.scrollTop; });
  new ResizeObserver(() => renderCursors()).observe(area);

  $("name").addEventListener("change", () => {
    const name = $("name").value.trim();
    if (!name) return;
    localStorage.setItem("wsx.nick", name);
    state.user = { name, color };
    if (state.pad) apply(run((pad) => pad.setUser(state.user)));
  });
  $("name-form").addEventListener("submit", (e) => { e.preventDefault(); $("name").dispatchEvent(new Event("change")); area.focus(); });

  function connect() {
    clearTimeout(state.timer);
    setStatus("connecting", state.attempt ? `reconnecting (attempt ${state.attempt})…` : "connecting…");
    let ws;
    try { ws = new WebSocket(url); } catch { scheduleReconnect(); return; }
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => {
      state.attempt = 0;
      setStatus("open", "connected");
      apply(run((pad) => pad.connect()));
    };
    ws.onmessage = (ev) => {
      if (state.ws !== ws || !(ev.data instanceof ArrayBuffer)) return;
      apply(run((pad) => pad.receive(new Uint8Array(ev.data), selection())));
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      document.body.dataset.synced = "false";
      // As y-websocket: the others are forgotten until the server sends them again.
      apply(run((pad) => pad.disconnect()));
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    // As y-websocket: 100 ms, 200 ms, 400 ms … capped at 2.5 s.
    const delay = Math.min(100 * 2 ** state.attempt, 2500);
    state.attempt++;
    setStatus("closed", `offline — edits are kept; retrying in ${(delay / 1000).toFixed(1)} s`);
    state.timer = setTimeout(connect, delay);
  }

  function restart() {
    // Give up after a few traps in a row rather than loop.
    const now = Date.now();
    state.restarts = (state.restarts || []).filter((t) => now - t < 60000).concat(now);
    if (state.restarts.length > 3) { state.pad = null; setStatus("closed", "the pad module keeps failing; reload the page"); return; }
    const old = state.ws;
    state.ws = null;
    if (old) { old.onclose = null; old.close(); }
    try {
      state.pad = new Pad(wasm);
      apply(run((pad) => pad.setUser(state.user)));
      state.peers = [];
      connect();
    } catch (e) { state.pad = null; setStatus("closed", "the pad module failed: " + e); }
  }

  // Our awareness state is renewed every 15 s (others drop it after 30 s), and the others'
  // states are expired here.
  setInterval(() => { if (state.pad) apply(run((pad) => pad.tick())); }, 3000);
  window.addEventListener("pagehide", () => { if (state.pad) send(run((pad) => pad.leave()).send); });
  window.addEventListener("online", () => { if (state.pad && (!state.ws || state.ws.readyState === WebSocket.CLOSED)) connect(); });

  setStatus("connecting", "loading…");
  compile().then((module) => {
    wasm = module;
    state.pad = new Pad(wasm);
    apply(run((pad) => pad.setUser(state.user)));
    area.disabled = false;
    connect();
  }).catch((e) => setStatus("closed", "could not load /pad.wasm: " + e));
})();
