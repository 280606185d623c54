/**
 * A subscription left in the same turn its `subscribe` resolved, before its first turn went by:
 * what it held then (messages published after its offset, recovered history) was published while
 * it was subscribed, and is delivered, as for any subscription left after a publish (found by the
 * independent checker: `subscribe`, `publish`, `unsubscribe` sent back to back to `serve --pubsub`).
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

const server = await startTestServer();
after(() => server.close());

/** The payloads of the data frames a client received before the server's close. */
async function beforeClose(c: RawClient): Promise<string[]> {
  const { code, before } = await c.expectClose({ answer: true });
  assert.equal(code, 1000);
  return before.filter((f) => f.opcode === 1).map((f) => f.payload.toString());
}

it('a message published between subscribe resolving and unsubscribe in the same turn is delivered', async (t) => {
  const ps = new PubSub();
  t.after(() => ps.close());
  const a = await subscriberPair(server);
  t.after(() => a.client.destroy());
  const { offset } = await ps.subscribe(a.ws, 'topic');
  assert.equal(offset, 0);
  void ps.publish('topic', 'while subscribed');
  ps.unsubscribe(a.ws, 'topic');
  void ps.publish('topic', 'after leaving');
  void a.ws.write('own');
  void a.ws.close({ code: 1000 });
  assert.deepEqual(await beforeClose(a.client), ['while subscribed', 'own']);
});

it('history recovered by a subscribe left in the same turn is delivered, before what followed', async (t) => {
  const ps = new PubSub();
  t.after(() => ps.close());
  const first = await ps.publish('topic', 'h1');
  await ps.publish('topic', 'h2');
  const a = await subscriberPair(server);
  t.after(() => a.client.destroy());
  const r = await ps.subscribe(a.ws, 'topic', { since: { offset: first.offset - 1, epoch: first.epoch } });
  assert.deepEqual(r, { offset: 0, epoch: first.epoch, recovered: true });
  void ps.publish('topic', 'live');
  ps.unsubscribe(a.ws, 'topic');
  void ps.publish('topic', 'after leaving');
  void a.ws.close({ code: 1000 });
  assert.deepEqual(await beforeClose(a.client), ['h1', 'h2', 'live']);
});
