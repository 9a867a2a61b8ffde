// WebSocket frames by hand over an HTTP/2 stream (RFC 8441), for the scripts that drive wsx
// with Node's own `http2` module: npm's ws has no HTTP/2 client.
'use strict';

/** A masked client frame (`payload` a Buffer, up to 64 KiB). */
function frame(opcode, payload) {
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, 0x80 | len]);
  } else if (len < 65536) {
    head = Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  } else {
    throw new Error('frames up to 64 KiB');
  }
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i % 4];
  return Buffer.concat([head, key, body]);
}

/** A `data` listener that parses unmasked server frames: calls `onFrame(opcode, payload)`. */
function frameReader(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2) {
      const opcode = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      onFrame(opcode, buf.subarray(off, off + len));
      buf = buf.subarray(off + len);
    }
  };
}

/** An extended CONNECT for a WebSocket to `path` on `session`, with extra `headers`. */
function connect(session, path, headers) {
  return session.request(
    Object.assign({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': path }, headers),
    { endStream: false },
  );
}

module.exports = { frame, frameReader, connect };
