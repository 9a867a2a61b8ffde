'use strict';
// Helpers shared by the Node peers (server.js, client.js): JSON-line output, payload
// descriptions, deterministic-size payload generation, permessage-deflate option mapping.

const crypto = require('crypto');
const zlib = require('zlib');

/** Prints one JSON line on stdout (pipes are written synchronously on Linux). */
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let crcTable = null;
function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Payloads up to this size are included in the output (text as is, binary as hex). */
const INLINE = 256;

/** Describes a received or sent message: type, length, CRC-32 and (when short) the data. */
function describe(buf, isBinary) {
  const d = { type: isBinary ? 'binary' : 'text', len: buf.length, crc32: crc32(buf) };
  if (buf.length <= INLINE) d.data = isBinary ? buf.toString('hex') : buf.toString('utf8');
  return d;
}

/** `size` bytes: random for binary, printable ASCII (random words, repeated) for text. */
function generate(type, size) {
  if (type === 'binary') return crypto.randomBytes(size);
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_';
  const chunk = Buffer.alloc(Math.min(size, 4096));
  const rnd = crypto.randomBytes(chunk.length);
  for (let i = 0; i < chunk.length; i++) chunk[i] = alphabet.charCodeAt(rnd[i] % alphabet.length);
  const out = Buffer.alloc(size);
  for (let off = 0; off < size; off += chunk.length) chunk.copy(out, off, 0, Math.min(chunk.length, size - off));
  return out;
}

/**
 * Maps a deflate spec to ws's `perMessageDeflate` option.
 * spec: false (off) | true (library defaults) | { server_no_context_takeover, client_no_context_takeover,
 * server_max_window_bits, client_max_window_bits } (snake_case, as on the wire).
 * The threshold is 0 so that every message is compressed.
 */
function perMessageDeflate(spec) {
  if (spec === false || spec === 'off') return false;
  const o = { threshold: 0 };
  if (spec && typeof spec === 'object') {
    if (spec.server_no_context_takeover) o.serverNoContextTakeover = true;
    if (spec.client_no_context_takeover) o.clientNoContextTakeover = true;
    if (spec.server_max_window_bits != null) o.serverMaxWindowBits = Number(spec.server_max_window_bits);
    if (spec.client_max_window_bits != null) {
      o.clientMaxWindowBits = spec.client_max_window_bits === true ? true : Number(spec.client_max_window_bits);
    }
  }
  return o;
}

/** Exits when stdin reaches EOF: the parent test process is gone (or dropped its handle). */
function exitOnStdinEof() {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

module.exports = { emit, crc32, describe, generate, perMessageDeflate, exitOnStdinEof };
