/**
 * `closeTimeout: 0` means no limit, as `handshakeTimeout: 0` and `idleTimeout: 0` do, for both things
 * it bounds: `close()` waits for the peer's close frame however late it comes (it used to tear the
 * connection down on the next turn of the timers, close() failing ERR_WS_TIMEOUT), and the answer to
 * the peer's close waits for the reader to take the messages before it.
 *
 * `setTimeout` is node's mock: once the peer has our close frame (or the server has the peer's), the
 * clock is moved on, which fires any close or answer timer the stream armed, before the peer answers or
 * the reader reads: the outcome does not depend on timing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import { type StreamOptions, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { closeFrame, requestHead, text } from '../support/frames.js';
import { closeCodeOf } from '../support/hostile.js';
import { RawPeer } from '../support/peer.js';

type After = { after(fn: () => unknown): void };

/** A server that accepts one connection with `closeTimeout: 0` (and `options`); a raw peer connected to it, 101 read. */
async function pair(
  t: After,
  options: StreamOptions = {},
): Promise<{ ws: WebSocketStream; peer: RawPeer; socket: net.Socket; serverSocket: net.Socket }> {
  let resolve!: (accepted: { ws: WebSocketStream; serverSocket: net.Socket }) => void;
  const accepted = new Promise<{ ws: WebSocketStream; serverSocket: net.Socket }>((r) => (resolve = r));
  const srv = net.createServer((serverSocket) => {
    const ws = new WebSocketStream(serverSocket, { ...options, closeTimeout: 0 });
    ws.accept().then(() => resolve({ ws, serverSocket }));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => {
    socket.destroy();
    srv.close();
  });
  const peer = new RawPeer(socket);
  socket.write(requestHead());
  assert.equal((await peer.responseHead()).status, 101);
  return { ...(await accepted), peer, socket };
}

it('close() with closeTimeout 0 waits for a late close frame: clean, no ERR_WS_TIMEOUT', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { ws, peer, socket } = await pair(t);
  const closing = ws.close({ code: 1000, reason: 'bye' }).then(
    () => 'ok',
    (e: WebSocketError) => e.code,
  );
  const [ours] = await peer.waitFrames(1);
  assert.equal(closeCodeOf(ours), 1000);
  t.mock.timers.tick(60_000); // the peer is slow to answer: a close timer would have fired
  if (!socket.destroyed) socket.write(closeFrame(1000, 'bye'));
  assert.equal(await closing, 'ok');
  assert.deepEqual(await ws.whenClosed(), { initiatedBy: 'local', code: 1000, reason: 'bye', wasClean: true });
  await peer.waitClosed();
});

it('with closeTimeout 0, the answer to a close waits for the reader to take the message before it', async (t) => {
  let closeSeen!: () => void;
  const seen = new Promise<void>((r) => (closeSeen = r));
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { ws, peer, socket, serverSocket } = await pair(t, {
    controlCallback: (kind) => kind === 'close' && closeSeen(),
  });
  const written = serverSocket.bytesWritten;
  socket.write(Buffer.concat([text('first'), closeFrame(1000, 'done')]));
  await seen;
  t.mock.timers.tick(60_000); // an answer timer, had one been armed, has fired (and written) now
  assert.equal(serverSocket.bytesWritten, written, 'no answer while the message is unread');
  assert.equal((await ws.read()).data.toString(), 'first');
  const [answer] = await peer.waitFrames(1);
  assert.equal(closeCodeOf(answer), 1000);
  await peer.waitClosed();
  assert.deepEqual(await ws.whenClosed(), { initiatedBy: 'remote', code: 1000, reason: 'done', wasClean: true });
});
