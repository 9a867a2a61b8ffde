// wsx demo: the smallest Socket.IO v5 client that the chat needs, over the Engine.IO v4
// websocket transport. It looks like a WebSocket carrying the chat's JSON text: `send(text)`,
// `onopen`, `onmessage({data})`, `onclose({code, reason})`, `readyState`; on the wire every
// chat object travels as the `chat` event of namespace `/`.
// (A real application would use the official socket.io-client, which wsx serves as well.)
"use strict";
class SioChannel {
  constructor(base) {
    this.readyState = 0;
    const ws = new WebSocket(base + "/socket.io/?EIO=4&transport=websocket");
    this.ws = ws;
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (typeof d !== "string" || d.length === 0) return;
      switch (d[0]) {
        case "0": ws.send("40"); break; // Engine.IO open: connect to namespace "/"
        case "2": ws.send("3"); break; // heartbeat ping: pong
        case "1": ws.close(); break; // Engine.IO close
        case "4": this.onPacket(d.slice(1)); break; // a Socket.IO packet
      }
    };
    ws.onclose = (ev) => {
      this.readyState = 3;
      if (this.onclose) this.onclose({ code: ev.code, reason: ev.reason });
    };
  }

  onPacket(p) {
    switch (p[0]) {
      case "0": // CONNECT answered
        this.readyState = 1;
        if (this.onopen) this.onopen();
        break;
      case "1": // DISCONNECT by the server
      case "4": // CONNECT_ERROR
        this.ws.close();
        break;
      case "2": { // EVENT ["chat", object]
        let args;
        try { args = JSON.parse(p.slice(1)); } catch { return; }
        if (args[0] === "chat" && this.onmessage) this.onmessage({ data: JSON.stringify(args[1]) });
        break;
      }
    }
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("Socket.IO channel not open");
    this.ws.send("42" + JSON.stringify(["chat", JSON.parse(text)]));
  }

  close() { this.ws.close(); }
}
