// An HTTP/2 server on Node's own `http2` module that takes WebSockets as extended CONNECT
// streams (RFC 8441, `settings.enableConnectProtocol`), npm ws's Receiver and Sender doing the
// RFC 6455 framing on each stream. It echoes every message, answers pings and completes the
// closing handshake; each 200 says which HTTP/2 session carries the stream (`x-session`).
// Cleartext h2c with prior knowledge. `--no-connect-protocol` leaves the setting off: the
// RFC 8441 negative case for a client. Prints `{"port": N}` once listening.
'use strict';
const http2 = require('http2');
const { Receiver, Sender } = require('ws');

/** The close code ws attaches to a receiver error (under a symbol it does not export). */
function statusCode(err) {
  const key = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
  return (key && err[key]) || 1002;
}

const enable = !process.argv.includes('--no-connect-protocol');
const server = http2.createServer({ settings: { enableConnectProtocol: enable } });
let sessions = 0;
server.on('session', (session) => {
  session.wsxId = ++sessions;
});
server.on('stream', (stream, headers) => {
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 400 });
    stream.end();
    return;
  }
  if (headers['sec-websocket-version'] !== '13') {
    stream.respond({ ':status': 426, 'sec-websocket-version': '13' });
    stream.end();
    return;
  }
  const response = { ':status': 200, 'x-session': String(stream.session.wsxId) };
  const offered = headers['sec-websocket-protocol'];
  if (offered) response['sec-websocket-protocol'] = offered.split(',')[0].trim();
  stream.respond(response);
  const sender = new Sender(stream);
  const receiver = new Receiver({ isServer: true, maxPayload: 1 << 20 });
  let closing = false;
  const close = (code, reason) => {
    if (closing) return;
    closing = true;
    sender.close(code, reason, false, () => stream.end());
  };
  receiver.on('message', (data, isBinary) => {
    if (!closing) sender.send(data, { binary: isBinary, fin: true, mask: false });
  });
  receiver.on('ping', (data) => sender.pong(data, false));
  receiver.on('conclude', (code, reason) => close(code === 1005 ? undefined : code, reason));
  receiver.on('error', (err) => {
    close(statusCode(err), '');
    stream.unpipe(receiver);
  });
  stream.pipe(receiver);
  stream.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
