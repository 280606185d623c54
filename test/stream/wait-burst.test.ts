/**
 * bufferPolicy 'wait' (doc/stream.md): maxBufferedBytes is when the peer counts as not reading, not a cap on
 * writes that were not awaited. A burst written in one turn goes to the socket whole, beyond the limit, and its
 * signal no longer withdraws it; writes of later turns, while that batch is in flight and the socket holds the
 * limit, stay queued in the stream, where their signal withdraws them. Real sockets on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { once, setMaxListeners } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { it } from 'node:test';
import { WebSocketStream, type WebSocketError } from '../../src/index.js';
import { requestHead } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

it("'wait': a burst of one turn goes to the socket whole, past maxBufferedBytes, and goes out whole when its signal aborts; a later write waits in the stream and is withdrawn", async (t) => {
  const max = 64 * 1024;
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const sock = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [ours] = (await once(server, 'connection')) as [net.Socket];
  t.after(() => {
    sock.destroy();
    ours.destroy();
  });
  const peer = new RawPeer(sock);
  const ws = new WebSocketStream(ours, { maxBufferedBytes: max });
  const accepted = ws.accept();
  sock.write(requestHead());
  await accepted;
  await peer.responseHead();
  sock.pause(); // the peer reads nothing for now

  // 40 MiB in one turn: more than loopback's kernel buffers take, so most of it waits in the socket.
  const burst = new AbortController();
  setMaxListeners(40, burst.signal); // one signal for the 40 writes (node warns past 10)
  const big = Buffer.alloc(1024 * 1024, 7);
  const burstWrites: Promise<unknown>[] = [];
  for (let i = 0; i < 40; i++)
    burstWrites.push(ws.write(big, { signal: burst.signal }).catch((e: WebSocketError) => e.code));
  await turn();
  const inSocket = ours.writableLength;
  assert.ok(inSocket > max, `the socket holds ${inSocket} bytes: the burst was handed on whole`);

  const later = new AbortController();
  const withdrawn = ws.write('WITHDRAWN', { binary: false, signal: later.signal });
  const after = ws.write('after', { binary: false });
  await turn();
  // bufferedAmount is what the stream queues plus the socket's writableLength: both frames are the stream's.
  assert.equal(ws.bufferedAmount - ours.writableLength, 2 + 9 + (2 + 5), 'later writes wait in the stream');

  burst.abort();
  later.abort();
  assert.deepEqual(await Promise.all(burstWrites), Array(40).fill('ERR_WS_ABORTED'));
  await assert.rejects(withdrawn, { code: 'ERR_WS_ABORTED' });

  sock.resume();
  await after;
  const frames = await peer.waitFrames(41);
  assert.deepEqual(
    frames.map((f) => f.payload.length),
    [...Array(40).fill(big.length), 5],
    'the burst went out whole, the withdrawn write not at all',
  );
  assert.equal(frames[40]!.payload.toString(), 'after');
});
