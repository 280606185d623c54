/**
 * One publisher's order: its publishes take offsets in the order it makes them (doc/pubsub.md:
 * offsets are assigned atomically with publication; a subscriber gets a topic in offset order).
 * Publishes made while the broker opens wait for it; one made just after it opened, while those
 * still waited their turn (a microtask later), was handed to the broker first and took an
 * earlier offset than a publish called before it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

describe('publishes take offsets in the order they are made, also while the broker opens', () => {
  for (let hops = 0; hops <= 4; hops++) {
    it(`a publish ${hops} microtask(s) after one made as the PubSub was created comes after it`, async () => {
      const ps = new PubSub();
      try {
        const first = ps.publish('t', 'A');
        for (let i = 0; i < hops; i++) await null;
        const second = ps.publish('t', 'B');
        const [a, b] = await Promise.all([first, second]);
        assert.ok(a.offset < b.offset, `A took offset ${a.offset}, B (published after it) ${b.offset}`);
      } finally {
        await ps.close();
      }
    });
  }

  it('a subscriber recovering from offset 0 gets them in the order they were published', async (t) => {
    const server = await startTestServer();
    const ps = new PubSub(); // (made just before publishing: its broker opens meanwhile)
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    const published: Promise<{ offset: number; epoch: string }>[] = [];
    for (let i = 1; i <= 6; i++) {
      published.push(ps.publish('t', `m${i}`));
      await null; // (each one microtask after the one before: some wait for the open, some do not)
    }
    const positions = await Promise.all(published);
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    await ps.subscribe(ws, 't', { since: { offset: 0, epoch: positions[0]!.epoch } });
    const got: string[] = [];
    for (let i = 0; i < 6; i++) got.push((await client.nextMessage()).payload.toString());
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  });
});
