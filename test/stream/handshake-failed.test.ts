/**
 * After a failed handshake the stream is closed, not "handshaking": every operation fails at once with the
 * handshake's error, which whenClosed() reports too. Real sockets on 127.0.0.1; the socket is destroyed by the
 * decorator, so the handshake's own write (the 101, the request) is what fails.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebSocketStream, type WebSocketError } from '../../src/index.js';
import { requestObject } from '../support/frames.js';

const server = net.createServer();
after(() => server.close());
const listening = new Promise<number>((resolve) =>
  server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
);

/** A connected pair of real sockets: [ours (the server's side), the peer's]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const port = await listening;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const peer = net.connect(port, '127.0.0.1');
  peer.on('error', () => {});
  return [await accepted, peer];
}

/** Every operation's error code, once the failed handshake has completed. */
async function operationCodes(ws: WebSocketStream): Promise<string[]> {
  const results = await Promise.allSettled([
    ws.read(),
    ws.readSome(),
    ws.write('x'),
    ws.ping(),
    ws.close(),
    ws.accept(requestObject()),
  ]);
  return results.map((r) => (r.status === 'rejected' ? (r.reason as WebSocketError).code : 'fulfilled'));
}

describe('a failed handshake leaves the stream closed', () => {
  it('accept(): the 101 cannot go out (socket destroyed): operations fail with its error, not "in progress"', async () => {
    const [socket, peer] = await socketPair();
    const ws = new WebSocketStream(socket);
    const err = await ws.accept(requestObject(), { decorator: () => socket.destroy() }).then(
      () => assert.fail('accept() succeeded on a destroyed socket'),
      (e: WebSocketError) => e,
    );
    assert.equal(err.code, 'ERR_WS_NEXT_LAYER');
    const codes = await operationCodes(ws);
    assert.deepEqual(codes.slice(0, 5), Array(5).fill('ERR_WS_NEXT_LAYER'));
    assert.equal(codes[5], 'ERR_WS_INVALID_STATE', 'a second accept() is refused: the handshake was done');
    const info = await ws.whenClosed();
    assert.equal(info.code, 1006);
    assert.equal(info.error?.code, 'ERR_WS_NEXT_LAYER');
    assert.equal(ws.isOpen, false);
    peer.destroy();
  });

  it('handshake(): the request cannot go out (socket destroyed): operations fail with its error, not "in progress"', async () => {
    const [socket, peer] = await socketPair();
    const ws = new WebSocketStream(peer);
    const err = await ws.handshake({ host: 'localhost', decorator: () => peer.destroy() }).then(
      () => assert.fail('handshake() succeeded on a destroyed socket'),
      (e: WebSocketError) => e,
    );
    // Which error depends on which the socket tells first (its close, or the failed write): the same one after.
    assert.ok(err.code === 'ERR_WS_NEXT_LAYER' || err.code === 'ERR_WS_EOF', err.code);
    const codes = await operationCodes(ws);
    assert.deepEqual(codes.slice(0, 5), Array(5).fill(err.code));
    const info = await ws.whenClosed();
    assert.equal(info.code, 1006);
    assert.equal(info.error?.code, err.code);
    socket.destroy();
  });
});
