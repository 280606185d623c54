/**
 * A recovering subscriber whose backlog is full of its *other* topics' messages: the recovered
 * history waits for room (the socket sending what it holds) instead of being skipped. Before, the
 * replay, having nothing of its own in flight to wait for, met the slow-subscriber policy at its
 * first message: under 'drop' the whole history was skipped (a 'drop' event each) although the
 * subscribe said `recovered: true`; under 'close' the subscriber was closed 1008.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DropEvent, PubSub } from '../../src/pubsub/index.js';
import { readUntil, startTestServer, subscriberPair, turnEnd } from './pubsub-support.js';

const MAX_BYTES = 256 * 1024;
const FILL_SIZE = 16 * 1024; // the other topic's messages: few turns to fill loopback's buffers
const HISTORY = 20;
const HISTORY_SIZE = 1000;

const payload = (tag: string, i: number, size: number): string => `${tag}${i}:`.padEnd(size, '.');

describe("recovered history waits for room in a backlog filled by the subscriber's other topics", () => {
  for (const policy of ['drop', 'close'] as const) {
    it(`'${policy}': every history message after since is delivered, in order, no drop, not closed`, async (t) => {
      const ps = new PubSub({ slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      const server = await startTestServer();
      t.after(async () => {
        await ps.close();
        await server.close();
      });
      let at = { offset: 0, epoch: '' };
      for (let i = 1; i <= HISTORY; i++) at = await ps.publish('h', payload('h', i, HISTORY_SIZE));
      const { client, ws } = await subscriberPair(server);
      t.after(() => client.destroy());
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      await ps.subscribe(ws, 'a');
      client.sock.pause();
      // Topic 'a' fills the backlog until a history message no longer fits beside it.
      let filled = 0;
      while (ws.bufferedAmount + HISTORY_SIZE + 8 <= MAX_BYTES) {
        assert.ok(ws.isOpen && drops.length === 0, 'the fill itself fits');
        // (Smaller as the cap nears: the fill must fit whole, not be skipped itself.)
        const size = Math.min(FILL_SIZE, MAX_BYTES - ws.bufferedAmount - 16);
        await ps.publish('a', payload('a', ++filled, size));
        await turnEnd();
      }
      assert.ok(ws.bufferedAmount <= MAX_BYTES);
      const result = await ps.subscribe(ws, 'h', { since: { offset: 0, epoch: at.epoch } });
      assert.deepEqual(result, { offset: 0, epoch: at.epoch, recovered: true });
      await turnEnd(); // the replay starts (and, before, met the policy at once)
      await turnEnd();
      assert.deepEqual(
        drops.map((d) => `${d.topic}:${d.offset}`),
        [],
        'no history message skipped for the other topic',
      );
      client.sock.resume();
      const { tags, close } = await readUntil(client, `h${HISTORY}`);
      assert.equal(close, null, 'not closed');
      assert.deepEqual(tags, [
        ...Array.from({ length: filled }, (_, i) => `a${i + 1}`),
        ...Array.from({ length: HISTORY }, (_, i) => `h${i + 1}`),
      ]);
      // Then live delivery goes on.
      await ps.publish('h', payload('end', 0, 10));
      assert.deepEqual(await readUntil(client, 'end0'), { tags: ['end0'], close: null });
      assert.equal(drops.length, 0);
      assert.deepEqual(ps.topics(ws).sort(), ['a', 'h']);
    });
  }
});

describe('a recovered history message larger than the whole cap', () => {
  // No backlog ever takes it, live or recovered: waiting would hold the replay for good. Under
  // 'drop' it is skipped, and the 'drop' event names its offset: the one gap `recovered: true`
  // leaves, told (doc/pubsub.md, *Recovery*).
  it("'drop': skipped with a 'drop' event giving its offset and epoch; the rest of the history whole, in order", async (t) => {
    const CAP = 4096;
    const ps = new PubSub({ slowSubscriber: { maxBytes: CAP, policy: 'drop' } });
    const server = await startTestServer();
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    await ps.publish('big', payload('h', 1, 100));
    const big = await ps.publish('big', payload('h', 2, 2 * CAP));
    await ps.publish('big', payload('h', 3, 100));
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    const drops: DropEvent[] = [];
    ps.on('drop', (e) => drops.push(e));
    const result = await ps.subscribe(ws, 'big', { since: { offset: 0, epoch: big.epoch } });
    assert.deepEqual(result, { offset: 0, epoch: big.epoch, recovered: true });
    assert.deepEqual(await readUntil(client, 'h3'), { tags: ['h1', 'h3'], close: null });
    assert.deepEqual(
      drops.map(({ topic, offset, epoch, policy }) => ({ topic, offset, epoch, policy })),
      [{ topic: 'big', offset: big.offset, epoch: big.epoch, policy: 'drop' }],
    );
    assert.ok(drops[0]!.bytes > CAP);
  });
});
