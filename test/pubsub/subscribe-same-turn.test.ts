/**
 * A message published before `subscribe` is called, in the same turn, is not the new subscriber's:
 * it goes out to the subscribers before it (`subscribe` hands out the turn gathered so far), and
 * is never held for the joining subscription, where it would count against its backlog.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { type DropEvent, PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

const server = await startTestServer();
after(() => server.close());

describe('subscribe in the turn of a publish', () => {
  it('the message published just before is not held for the new subscriber, nor dropped for it', async (t) => {
    // Nothing kept in history: a joining subscription may hold no more than its backlog cap.
    const ps = new PubSub({ slowSubscriber: { maxBytes: 1000, policy: 'drop' }, history: { bytes: 0 } });
    t.after(() => ps.close());
    const a = await subscriberPair(server);
    const b = await subscriberPair(server);
    t.after(() => {
      a.client.destroy();
      b.client.destroy();
    });
    await ps.subscribe(a.ws, 't');
    const drops: DropEvent[] = [];
    ps.on('drop', (e) => drops.push(e));
    // Over `a`'s backlog cap: dropped for it (the one drop); published before `b` subscribes.
    const published = ps.publish('t', 'x'.repeat(2000));
    const joined = ps.subscribe(b.ws, 't');
    assert.deepEqual(await published, { offset: 1, epoch: (await joined).epoch });
    assert.equal((await joined).offset, 1, 'b starts after the message published before it');
    await ps.publish('t', 'after');
    assert.deepEqual(
      drops.map((d) => [d.ws === a.ws ? 'a' : 'b', d.offset]),
      [['a', 1]],
    );
    const m = await b.client.nextMessage();
    assert.equal(m.payload.toString(), 'after');
    const n = await a.client.nextMessage();
    assert.equal(n.payload.toString(), 'after');
  });
});
