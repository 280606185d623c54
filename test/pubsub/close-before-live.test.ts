/**
 * A stream closed in the same turn its `subscribe` resolved, before the subscription's first turn:
 * a closed stream gets nothing, so what the subscription held (recovered history, messages
 * published after its offset) is dropped for it; it leaves its topics at that first turn (not when
 * the close handshake ends, which a peer that never answers holds for `closeTimeout`), and the
 * other subscribers of the topic lose nothing.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

// The clients never answer the server's close: the handshake would end only at this timeout.
const server = await startTestServer({ closeTimeout: 600_000 });
after(() => server.close());

/** The text payloads a client received before the server's close frame, and the close code. */
async function untilCloseFrame(c: RawClient): Promise<{ code: number; texts: string[] }> {
  const texts: string[] = [];
  for (;;) {
    const f = await c.next('a close frame');
    if (f.opcode === 8) return { code: f.payload.readUInt16BE(0), texts };
    texts.push(f.payload.toString());
  }
}

/** The end of the turn the subscription's first turn is queued in (setImmediate after it). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

it('a stream closed in the turn subscribe resolved gets nothing it held, leaves at once, the others lose nothing', async (t) => {
  const ps = new PubSub();
  t.after(() => ps.close());
  const first = await ps.publish('topic', 'h1');
  await ps.publish('topic', 'h2');
  const a = await subscriberPair(server);
  const b = await subscriberPair(server);
  t.after(() => a.client.destroy());
  t.after(() => b.client.destroy());
  await ps.subscribe(b.ws, 'topic');
  const joined = ps.subscribe(a.ws, 'topic', { since: { offset: first.offset - 1, epoch: first.epoch } });
  void ps.publish('topic', 'held'); // while `a` joins: held for it
  const r = await joined;
  assert.deepEqual(r, { offset: 0, epoch: first.epoch, recovered: true });
  void ps.publish('topic', 'live');
  void a.ws.close({ code: 1000 });
  assert.deepEqual(await untilCloseFrame(a.client), { code: 1000, texts: [] });
  await nextTurn();
  assert.equal(a.ws.closeInfo, undefined, 'the close handshake is still waiting for the peer');
  assert.deepEqual(ps.topics(a.ws), []);
  assert.equal(ps.subscriberCount('topic'), 1);
  await ps.publish('topic', 'after');
  void b.ws.close({ code: 1000 });
  assert.deepEqual(await untilCloseFrame(b.client), { code: 1000, texts: ['held', 'live', 'after'] });
});

it('a stream closed in the turn subscribe resolved, holding nothing, leaves at its first turn', async (t) => {
  const ps = new PubSub();
  t.after(() => ps.close());
  const a = await subscriberPair(server);
  t.after(() => a.client.destroy());
  await ps.subscribe(a.ws, 'quiet');
  void a.ws.close({ code: 1000 });
  assert.equal(ps.subscriberCount('quiet'), 1, 'until its first turn');
  await nextTurn();
  assert.equal(a.ws.closeInfo, undefined, 'the close handshake is still waiting for the peer');
  assert.deepEqual(ps.topics(a.ws), []);
  assert.equal(ps.subscriberCount('quiet'), 0);
  assert.deepEqual(await untilCloseFrame(a.client), { code: 1000, texts: [] });
});
