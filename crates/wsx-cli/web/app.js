// wsx demo: chat rooms, presence and live comments over one WebSocket, with reconnect.
// `?transport=socket.io` carries the same chat over Socket.IO (see sio.js); both kinds of
// clients share the rooms.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const PROTOCOL = "wsx.chat.v1";
  const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  const url = base + "/chat";
  const state = { ws: null, id: null, room: null, nick: null, wanted: null, attempt: 0, timer: null };

  const savedNick = localStorage.getItem("wsx.nick");
  $("nick").value = savedNick || "guest-" + Math.floor(Math.random() * 9000 + 1000);
  const params = new URLSearchParams(location.search);
  if (params.get("room")) $("room").value = params.get("room");
  if (params.get("nick")) $("nick").value = params.get("nick");
  const overSocketIo = params.get("transport") === "socket.io";
  $("transport").textContent = overSocketIo ? "Socket.IO /socket.io/ (event chat)" : "WebSocket /chat";
  $("switch").href = overSocketIo ? "?" : "?transport=socket.io";
  $("switch").textContent = overSocketIo ? "use a plain WebSocket" : "use Socket.IO";

  function setStatus(kind, text) {
    $("status").className = "status " + kind;
    $("status-text").textContent = text;
    document.body.dataset.connection = kind;
  }

  function log(html, cls) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    if (typeof html === "string") li.textContent = html; else li.append(...html);
    const el = $("log");
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    el.append(li);
    while (el.children.length > 500) el.firstChild.remove();
    if (atBottom) el.scrollTop = el.scrollHeight;
  }

  function span(cls, text) { const s = document.createElement("span"); s.className = cls; s.textContent = text; return s; }
  function fmtTime(ts) { return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); }

  function showMessage(m) {
    log([span("time", fmtTime(m.ts)), span("nick", m.nick), document.createTextNode(m.text)], "msg");
  }

  // Live comments: each message flies right-to-left across the stage in a free lane.
  const lanes = [];
  function fly(text, mine) {
    const stage = $("stage");
    const b = document.createElement("div");
    b.className = "bullet" + (mine ? " mine" : "");
    b.textContent = text;
    const laneCount = Math.max(1, Math.floor((stage.clientHeight - 60) / 32));
    const now = performance.now();
    let lane = 0;
    for (let i = 0; i < laneCount; i++) { if (!lanes[i] || lanes[i] < now) { lane = i; break; } lane = (lanes.length + i) % laneCount; }
    lanes[lane] = now + 1500;
    b.style.top = 10 + lane * 32 + "px";
    const seconds = 7 + Math.min(5, text.length / 20);
    b.style.animationDuration = seconds + "s";
    b.addEventListener("animationend", () => b.remove());
    stage.append(b);
  }

  function renderPresence(members) {
    const ul = $("presence");
    ul.replaceChildren(...members.map((m) => {
      const li = document.createElement("li");
      li.textContent = m.nick;
      if (m.id === state.id) li.className = "me";
      return li;
    }));
    $("count").textContent = members.length;
  }

  function send(obj) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) { state.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function setJoined(joined) {
    $("text").disabled = !joined; $("send").disabled = !joined;
  }

  function connect() {
    clearTimeout(state.timer);
    setStatus("connecting", state.attempt ? `reconnecting (attempt ${state.attempt})…` : "connecting…");
    let ws;
    try { ws = overSocketIo ? new SioChannel(base) : new WebSocket(url, [PROTOCOL]); } catch (e) { scheduleReconnect(); return; }
    state.ws = ws;
    ws.onopen = () => {
      state.attempt = 0;
      setStatus("open", "connected");
      if (state.wanted) send({ type: "join", room: state.wanted.room, nick: state.wanted.nick });
    };
    ws.onmessage = (ev) => {
      let m; try { m = JSON.parse(ev.data); } catch { return; }
      switch (m.type) {
        case "welcome": state.id = m.id; break;
        case "joined":
          state.room = m.room; state.nick = m.nick; setJoined(true);
          $("stage-room").textContent = "#" + m.room;
          $("pad-link").href = "/pad/" + encodeURIComponent(m.room); // the room's own pad
          $("log").replaceChildren();
          log(`You joined #${m.room} as ${m.nick}.`, "sys");
          (m.history || []).forEach(showMessage);
          renderPresence(m.members);
          history.replaceState(null, "", "?room=" + encodeURIComponent(m.room) + (overSocketIo ? "&transport=socket.io" : ""));
          break;
        case "presence": if (m.room === state.room) renderPresence(m.members); break;
        case "message":
          if (m.room !== state.room) break;
          showMessage(m); fly(m.text, m.id === state.id); break;
        case "error": log("⚠ " + m.message, "err"); break;
      }
    };
    ws.onclose = (ev) => {
      setJoined(false);
      state.room = null;
      if (state.ws !== ws) return;
      const why = ev.code === 1001 ? "server went away" : `closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`;
      log(`Disconnected: ${why}.`, "sys");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    state.attempt++;
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 15 s.
    const base = Math.min(15000, 500 * 2 ** (state.attempt - 1));
    const delay = base / 2 + Math.random() * base / 2;
    setStatus("closed", `offline — retrying in ${(delay / 1000).toFixed(1)} s`);
    state.timer = setTimeout(connect, delay);
  }

  $("join").addEventListener("submit", (e) => {
    e.preventDefault();
    const nick = $("nick").value.trim(), room = $("room").value.trim();
    if (!nick || !room) return;
    localStorage.setItem("wsx.nick", nick);
    state.wanted = { nick, room };
    if (!send({ type: "join", room, nick })) log("Not connected yet; joining as soon as the connection is back.", "sys");
  });

  $("say").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    if (send({ type: "say", text })) $("text").value = "";
  });

  window.addEventListener("online", () => { if (!state.ws || state.ws.readyState === WebSocket.CLOSED) connect(); });
  connect();
})();
