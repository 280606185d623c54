/**
 * A write in flight when the connection fails is cut off, not taken: node calls a socket's (and an HTTP/2
 * stream's) write back without an error when the stream was destroyed before the write completed (its
 * onWriteComplete drops the cancel status), and the stream reported such a write as done. It fails with the
 * connection's failure. The HTTP/2 case: test/stream/h2-hostile-server.test.ts (a window never opened).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { it } from 'node:test';
import { WebSocketStream } from '../../src/index.js';
import { requestHead } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

it('a write still in the socket when close() gives up on a peer that never reads: it fails with ERR_WS_TIMEOUT, as close() does, not done', async (t) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const sock = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [ours] = (await once(server, 'connection')) as [net.Socket];
  t.after(() => sock.destroy());
  const peer = new RawPeer(sock);
  const ws = new WebSocketStream(ours, { closeTimeout: 100 });
  const accepted = ws.accept();
  sock.write(requestHead());
  await accepted;
  await peer.responseHead();
  sock.pause(); // the peer reads nothing, ever
  // More than loopback's kernel buffers take: most of it stays in the socket.
  const write = ws.write(Buffer.alloc(32 * 1024 * 1024));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(ours.writableLength > 0, 'the write waits in the socket');
  await assert.rejects(ws.close(), { code: 'ERR_WS_TIMEOUT' });
  await assert.rejects(write, { code: 'ERR_WS_TIMEOUT' });
  await ws.whenClosed();
  assert.equal(ws.closeInfo?.error?.code, 'ERR_WS_TIMEOUT');
});
