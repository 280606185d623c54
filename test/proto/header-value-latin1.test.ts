/**
 * A handshake head is written as Latin-1: a header value holding a character over U+00FF is
 * refused (ERR_WS_INVALID_ARGUMENT), never cut to its low byte, which for U+010D and U+010A is CR
 * and LF, a header injection. Checked on the wire: the request a client sends, the 101 a server
 * answers through a decorator. Latin-1 itself (obs-text) still goes through as its bytes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import { it } from 'node:test';
import { WebSocketError, WebSocketStream, createTestPair } from '../../src/index.js';
import { connect } from '../../src/stream/connect.js';
import { requestObject } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

const INJECTING = 'a\u010d\u010aX-Injected: 1';

it('connect(): a header value with a character over U+00FF is refused before anything is sent', async (t) => {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    requests.push(req.headers);
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  await assert.rejects(
    connect(`ws://127.0.0.1:${port}/`, { headers: { 'X-A': INJECTING } }),
    (e: unknown) => e instanceof WebSocketError && e.code === 'ERR_WS_INVALID_ARGUMENT',
  );
  // Latin-1 goes as its one byte each (node:http reads it back as Latin-1).
  const ws = connect(`ws://127.0.0.1:${port}/`, { headers: { 'X-A': 'caf\u00e9' } });
  await assert.rejects(ws); // (the server cuts it: only the request matters here)
  assert.equal(requests.length, 1, 'only the Latin-1 request reached the server');
  assert.equal(requests[0]!['x-a'], 'caf\u00e9');
  assert.equal(requests[0]!['x-injected'], undefined);
});

it('accept(): a decorator value with a character over U+00FF is refused with 500, nothing injected', async () => {
  const [server, client] = createTestPair();
  const ws = new WebSocketStream(server);
  const peer = new RawPeer(client);
  await assert.rejects(
    ws.accept(requestObject(), { decorator: (h) => void (h.Server = INJECTING) }),
    (e: unknown) => e instanceof WebSocketError && e.code === 'ERR_WS_INVALID_ARGUMENT',
  );
  const refused = await peer.responseHead();
  assert.equal(refused.status, 500);
  assert.doesNotMatch(refused.head, /X-Injected/);
});
