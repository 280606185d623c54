/**
 * review36: a write in flight when the connection fails now fails with that failure (core36); a write the
 * peer got in full, the connection closed afterwards, still reports success: over TCP, with the close
 * handshake, and with a peer that only ends its side (FIN, no close frame: ERR_WS_EOF, a failure that came
 * after the write was taken).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { it } from 'node:test';
import { WebSocketStream } from '../../src/index.js';

async function pair(t: {
  after(fn: () => unknown): void;
}): Promise<{ server: WebSocketStream; client: WebSocketStream; sock: net.Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const sock = net.connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [ours] = (await once(listener, 'connection')) as [net.Socket];
  listener.close();
  t.after(() => {
    sock.destroy();
    ours.destroy();
  });
  const server = new WebSocketStream(ours);
  const client = new WebSocketStream(sock);
  await Promise.all([server.accept(), client.handshake({ host: 'example.com', target: '/' })]);
  return { server, client, sock };
}

// More than loopback's kernel buffers take: the write is still in the socket when it starts.
const BIG = 16 * 1024 * 1024;

it('a big write the peer read in full, then the close handshake: the write is done, the close clean', async (t) => {
  const { server, client } = await pair(t);
  const write = server.write(Buffer.alloc(BIG, 7));
  const got = await client.read();
  assert.equal(got.data.length, BIG);
  await write;
  await client.close({ code: 1000, reason: 'bye' });
  assert.deepEqual(await server.whenClosed(), { initiatedBy: 'remote', code: 1000, reason: 'bye', wasClean: true });
});

it('a big write the peer read in full, then the peer ends its side without a close frame: the write is still done', async (t) => {
  const { server, client, sock } = await pair(t);
  const write = server.write(Buffer.alloc(BIG, 7));
  const settled = write.then(
    () => 'done',
    (e: { code?: string }) => e.code,
  );
  const got = await client.read();
  assert.equal(got.data.length, BIG);
  sock.end();
  assert.equal(await settled, 'done');
  const info = await server.whenClosed();
  assert.equal(info.wasClean, false);
});
