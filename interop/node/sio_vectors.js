'use strict';
// Prints wire test vectors produced by the official JS parsers (engine.io-parser,
// socket.io-parser, versions pinned in interop/package.json) as one JSON document on stdout.
// crates/wsx-socketio/tests/js_parser_vectors.rs runs it and checks that the Rust codecs
// decode every vector as the JS decoders do and encode the same bytes as the JS encoders.
//
// Binary values are described as {"$hex": "<hex>"} wherever they appear.
// Usage: node interop/node/sio_vectors.js   (after `bash interop/setup.sh`)

const eio = require('engine.io-parser');
const { Encoder, Decoder } = require('socket.io-parser');

const fs = require('fs');
const path = require('path');

/** The installed version of a package (its package.json is not in its `exports`). */
function versionOf(name) {
  const file = path.join(__dirname, '..', 'node_modules', name, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

const hex = (b) => Buffer.from(b).toString('hex');
const bin = (h) => Buffer.from(h, 'hex');

/** JSON-able description of a value that may hold Buffers. */
function describe(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { $hex: hex(v) };
  if (Array.isArray(v)) return v.map(describe);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v)) out[k] = describe(v[k]);
    return out;
  }
  // Lone surrogates (JSON.parse accepts them) become U+FFFD so that the output is valid UTF-8.
  if (typeof v === 'string') return v.toWellFormed ? v.toWellFormed() : v;
  return v;
}

/** The inverse of describe(). */
function undescribe(v) {
  if (Array.isArray(v)) return v.map(undescribe);
  if (v && typeof v === 'object') {
    if (typeof v.$hex === 'string' && Object.keys(v).length === 1) return bin(v.$hex);
    const out = {};
    for (const k of Object.keys(v)) out[k] = undescribe(v[k]);
    return out;
  }
  return v;
}

function describeEio(packet) {
  const out = { type: packet.type };
  if (packet.data !== undefined) out.data = describe(packet.data);
  return out;
}

// ---- Engine.IO -----------------------------------------------------------------------------

const handshake = JSON.stringify({
  sid: 'lv_VI97HAXpY6yYWAAAC',
  upgrades: ['websocket'],
  pingInterval: 25000,
  pingTimeout: 20000,
  maxPayload: 1000000,
});

const eioPackets = [
  { type: 'open', data: handshake },
  { type: 'open', data: JSON.stringify({ sid: 'x', upgrades: [], pingInterval: 300, pingTimeout: 200, maxPayload: 1000000 }) },
  { type: 'close' },
  { type: 'ping' },
  { type: 'pong' },
  { type: 'ping', data: 'probe' },
  { type: 'pong', data: 'probe' },
  { type: 'message', data: 'hello' },
  { type: 'message', data: '' },
  { type: 'message', data: 'é😀 unicode' },
  { type: 'message', data: '2["hello",1]' },
  { type: 'upgrade' },
  { type: 'noop' },
  { type: 'message', data: bin('01020304') },
  { type: 'message', data: bin('') },
  { type: 'message', data: bin('ff') },
  { type: 'message', data: bin('fffe') },
  { type: 'message', data: Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff)) },
];

const eioPacketVectors = eioPackets.map((packet) => {
  let text;
  let ws;
  eio.encodePacket(packet, false, (e) => { text = e; });
  eio.encodePacket(packet, true, (e) => { ws = typeof e === 'string' ? { text: e } : { binary: hex(e) }; });
  return { packet: describeEio(packet), text, ws };
});

const eioPayloads = [
  [{ type: 'message', data: 'hello' }, { type: 'message', data: bin('01020304') }],
  [{ type: 'message', data: 'test1' }, { type: 'message', data: 'test2' }, { type: 'message', data: 'test3' }],
  [{ type: 'noop' }],
  [{ type: 'close' }],
  [{ type: 'ping' }, { type: 'message', data: '40' }, { type: 'message', data: '451-["bin",{"_placeholder":true,"num":0}]' }, { type: 'message', data: bin('010203') }],
];
const eioPayloadVectors = eioPayloads.map((packets) => {
  let payload;
  eio.encodePayload(packets, (p) => { payload = p; });
  return { packets: packets.map(describeEio), payload };
});

const eioDecodeInputs = [
  '4hello\x1ebAQIDBA==', '4test1\x1e4test2\x1e4test3', '2', '3', '2probe', '3probe', '5', '6', '1',
  '4', 'b', 'bAQIDBA', '', '4a\x1e', '\x1e4a', '7', 'abc', 'x\x1e4a', '4a\x1ex', 'B', '0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}',
  'b!!!!', 'bAQIDBA=x', '1x', '6abc',
];
const eioDecodeVectors = eioDecodeInputs.map((input) => {
  const packets = eio.decodePayload(input, 'nodebuffer');
  const error = packets.some((p) => p.type === 'error');
  return { input, ok: !error, packets: error ? undefined : packets.map(describeEio) };
});

// ---- Socket.IO -----------------------------------------------------------------------------

const T = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4 };
const sioPackets = [
  { type: T.CONNECT, nsp: '/' },
  { type: T.CONNECT, nsp: '/admin' },
  { type: T.CONNECT, nsp: '/admin', data: { token: 'x' } },
  { type: T.CONNECT, nsp: '/', data: { token: 'abc', n: 1 } },
  { type: T.CONNECT, nsp: '/', data: { sid: 'oSO0OpakMV_3jnilAAAA' } },
  { type: T.CONNECT, nsp: '/', data: {} },
  { type: T.DISCONNECT, nsp: '/' },
  { type: T.DISCONNECT, nsp: '/custom' },
  { type: T.EVENT, nsp: '/', data: ['hello', 1] },
  { type: T.EVENT, nsp: '/', data: ['ack me'], id: 1 },
  { type: T.EVENT, nsp: '/admin', data: ['a', { b: [null, true, false, 'x'] }], id: 456 },
  { type: T.EVENT, nsp: '/', data: ['auth', {}] },
  { type: T.EVENT, nsp: '/custom', data: ['auth', { token: 'abc' }] },
  { type: T.EVENT, nsp: '/', data: [7, 'numeric event name'] },
  { type: T.EVENT, nsp: '/', data: ['floats', 1.5, 0.1, 1e21, 1.5e-7, 0.000001, -0, 123456789.123, -2.5e300, 9007199254740991] },
  { type: T.EVENT, nsp: '/', data: ['strings', 'quote " backslash \\ / tab \t nl \n cr \r bs \b ff \f nul \u0000 rs \u001e us \u001f del \u007f ls \u2028 é 😀'] },
  { type: T.EVENT, nsp: '/', data: ['keys', { b: 1, a: 2, 10: 3, 2: 4, '01': 5 }] },
  { type: T.EVENT, nsp: '/', data: ['nested', [[[[]]]], { '': { ' ': [] } }] },
  { type: T.ACK, nsp: '/', data: [true], id: 1 },
  { type: T.ACK, nsp: '/', data: [], id: 0 },
  { type: T.ACK, nsp: '/custom', data: ['a', { 3: [true] }], id: 789 },
  { type: T.CONNECT_ERROR, nsp: '/random', data: { message: 'Invalid namespace' } },
  { type: T.CONNECT_ERROR, nsp: '/', data: { message: 'not authorized', data: { code: 401 } } },
  { type: T.CONNECT_ERROR, nsp: '/', data: 'plain string' },
  // binary: the encoder turns EVENT/ACK with Buffers into BINARY_EVENT/BINARY_ACK
  { type: T.EVENT, nsp: '/', data: ['bin', bin('01020304')] },
  { type: T.EVENT, nsp: '/', data: ['bin', bin('01020304')], id: 1 },
  { type: T.EVENT, nsp: '/', data: ['message', bin('010203'), bin('040506')] },
  { type: T.EVENT, nsp: '/custom', data: ['deep', { a: [bin('00'), { b: bin('01') }], c: bin('') }, bin('ff')], id: 12 },
  { type: T.ACK, nsp: '/', data: [bin('010203'), bin('040506')], id: 789 },
  { type: T.ACK, nsp: '/admin', data: [{ file: bin('cafe') }], id: 3 },
];
const encoder = new Encoder();
const sioEncodeVectors = sioPackets.map((packet) => {
  const description = describe(packet);
  const encoded = encoder.encode(packet);
  return {
    packet: description,
    encoded: encoded.map((part) => (typeof part === 'string' ? part : { $hex: hex(part) })),
  };
});

// Inputs for the decoders: a text packet, optionally followed by attachments (hex).
const sioDecodeInputs = [
  ['0'], ['0/admin,'], ['0/admin'], ['0/admin,{"token":"x"}'], ['0{"token":"x"}'], ['0{}'],
  ['1'], ['1/custom,'], ['2["hello",1]'], ['21["ack me"]'], ['2/admin,456["a",{"b":[null,2.5]}]'],
  ['2[7]'], ['2/,["a"]'], ['2007["a"]'], ['2[ "a" , 1 ]'], ['2["Connect"]'],
  ['31[true]'], ['30[]'], ['3/custom,789["a"]'], ['31'],
  ['4/random,{"message":"Invalid namespace"}'], ['4"bad"'],
  ['51-["bin",{"_placeholder":true,"num":0}]', '01020304'],
  ['51-1["bin",{"_placeholder":true,"num":0}]', '01020304'],
  ['52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', '010203', '040506'],
  ['52-["x",{"_placeholder":true,"num":1},{"_placeholder":true,"num":1}]', '61', '62'],
  ['62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', '010203', '040506'],
  ['61-/admin,3[{"file":{"_placeholder":true,"num":0}}]', 'cafe'],
  ['501-["a",{"_placeholder":true,"num":0}]', '00'],
  ['51-["x",{"_placeholder":false,"num":9}]', '00'],
  ['2["x",{"_placeholder":true,"num":0}]'],
  ['3/custom,1[{"b":1,"a":{"d":2,"c":3}}]'],
  // invalid
  ['7'], ['abc'], ['0[]'], ['0null'], ['0"x"'], ['0{'], ['1{}'], ['2{}'], ['2[]'], ['2[null]'], ['2[[1]]'],
  ['2abc'], ['2abc["a"]'], ['21a["a"]'], ['2["a"] x'], ['3{}'], ['3"a"'], ['4[]'],
  ['2["connect"]'], ['2["connect_error"]'], ['2["disconnect"]'], ['2["disconnecting"]'],
  ['2["newListener"]'], ['2["removeListener"]'], ['51-["disconnect"]', '00'],
  ['5["a"]'], ['5-["a"]'], ['50-["a"]'], ['5a-["a"]'], ['51["a"]'], ['511-["a"]'],
  ['61-{}', '00'],
  ['51-["a",{"_placeholder":true,"num":1}]', '00'],
  ['51-["a",{"_placeholder":true,"num":-1}]', '00'],
  ['51-["a",{"_placeholder":true,"num":"0"}]', '00'],
  ['51-["a",{"_placeholder":true}]', '00'],
  // JS accepts these, wsx rejects them (see KNOWN_DEVIATIONS in the Rust test)
  [''], ['2'], ['3[1]'], ['41'], ['012{}'], ['2/custom["a"]'], ['4'], ['2["a","\\ud800"]'],
  ['51-["a",{"_placeholder":true,"num":0.5}]', '00'], [' 0'], ['5 1-["a",{"_placeholder":true,"num":0}]', '00'],
];
const sioDecodeVectors = sioDecodeInputs.map((input) => {
  const decoder = new Decoder();
  const out = [];
  decoder.on('decoded', (p) => out.push(p));
  try {
    decoder.add(input[0]);
    for (const h of input.slice(1)) decoder.add(bin(h));
  } catch (e) {
    return { input, ok: false, error: String(e && e.message) };
  }
  if (out.length !== 1) return { input, ok: false, error: `decoded ${out.length} packets` };
  return { input, ok: true, packet: describe(out[0]) };
});

process.stdout.write(JSON.stringify({
  versions: {
    'engine.io-parser': versionOf('engine.io-parser'),
    'socket.io-parser': versionOf('socket.io-parser'),
  },
  eio_packets: eioPacketVectors,
  eio_payloads: eioPayloadVectors,
  eio_decode: eioDecodeVectors,
  sio_encode: sioEncodeVectors,
  sio_decode: sioDecodeVectors,
}, null, 1) + '\n');
