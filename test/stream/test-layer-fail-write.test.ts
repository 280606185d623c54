/**
 * TestLayer's `failWriteAt`: nothing written after the failed write reaches the peer. Node hands
 * the rest of a corked batch (the stream's writes of one turn) to `_write` after one failed, so the
 * peer used to get the frames behind a missing one: the client of a server whose 4th write failed
 * read garbage (ERR_WS_BAD_OPCODE) instead of seeing the connection end.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type WebSocketError, WebSocketStream, createTestPair } from '../../src/index.js';

it('no write of a corked batch behind the failed one is delivered', async () => {
  const [a, b] = createTestPair({ failWriteAt: 2 });
  const got: Buffer[] = [];
  b.on('data', (d: Buffer) => got.push(d));
  const results: (string | null)[] = [];
  const done = (err?: Error | null): void => {
    results.push(err ? err.message : null);
  };
  a.on('error', () => {});
  a.cork();
  a.write('one', done);
  a.write('two', done);
  a.write('three', done);
  a.uncork();
  await new Promise((r) => a.once('close', r));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(got).toString(), 'one');
  assert.equal(a.wire().toString(), 'one');
  assert.equal(results[0], null);
  assert.ok(
    results.slice(1).every((r) => r !== null),
    'every write from the failed one on fails',
  );
});

it('a server whose Nth write fails: its client sees the connection end, never a frame cut out of the stream', async () => {
  for (let n = 2; n <= 8; n++) {
    const [a, b] = createTestPair({ failWriteAt: n });
    const server = new WebSocketStream(a);
    const client = new WebSocketStream(b);
    await Promise.all([server.accept(), client.handshake({ host: 'h' })]);
    // Several large messages in one turn: one corked batch of writes, each frame's header and payload apart.
    for (let i = 0; i < 6; i++) server.write(Buffer.alloc(70_000, i)).catch(() => {});
    const codes: string[] = [];
    for (;;) {
      try {
        await client.read();
      } catch (e) {
        codes.push((e as WebSocketError).code);
        break;
      }
    }
    assert.ok(['ERR_WS_EOF', 'ERR_WS_NEXT_LAYER'].includes(codes[0]!), `write ${n}: ${codes[0]}`);
    await Promise.all([server.whenClosed(), client.whenClosed()]);
  }
});
