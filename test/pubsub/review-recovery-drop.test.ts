/**
 * Recovery under the 'drop' policy: doc/pubsub.md promises that live messages held while history
 * is replayed may be skipped (a 'drop' event each), "the history is never". Live messages that
 * arrive between `subscribe` resolving and the subscription's first turn are held with an empty
 * socket, so they may fill the whole backlog cap; the history replayed next must still go out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

const MAX_BYTES = 64 * 1024;
const SIZE = 1000;
const payload = (tag: string, i: number): string => `${tag}${i}:`.padEnd(SIZE, '.');

/** Reads `n` text messages; returns their tags (the payload up to ':'). */
async function readTags(client: RawClient, n: number): Promise<string[]> {
  const tags: string[] = [];
  while (tags.length < n) {
    const m = await client.nextMessage();
    assert.equal(m.opcode, 1, `message ${tags.length + 1}: a text frame (opcode 8 would be a close)`);
    const text = m.payload.toString();
    tags.push(text.slice(0, text.indexOf(':')));
  }
  return tags;
}

describe("recovery under 'drop': held live messages never push the history out", () => {
  it('live messages published as subscribe resolves fill the cap: the history is still replayed whole, first', async (t) => {
    const ps = new PubSub({ slowSubscriber: { maxBytes: MAX_BYTES, policy: 'drop' } });
    const server = await startTestServer();
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    const HISTORY = 10;
    let at = { offset: 0, epoch: '' };
    for (let i = 1; i <= HISTORY; i++) at = await ps.publish('h', payload('h', i));
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    const drops: string[] = [];
    ps.on('drop', (e) => drops.push(`${e.policy}:${e.bytes}`));
    const result = await ps.subscribe(ws, 'h', { since: { offset: 0, epoch: at.epoch } });
    assert.deepEqual(result, { offset: 0, epoch: at.epoch, recovered: true });
    // Published before the subscription's first turn: held for it (its socket is empty), more than its cap.
    const LIVE = 100;
    for (let i = 1; i <= LIVE; i++) void ps.publish('h', payload('l', i));
    const tags = await readTags(client, HISTORY);
    assert.deepEqual(
      tags,
      Array.from({ length: HISTORY }, (_, i) => `h${i + 1}`),
      'the recovered history, whole, before any live message',
    );
    assert.ok(drops.length > 0, 'live messages past the cap were skipped');
    for (const d of drops) assert.match(d, /^drop:/);
    // The held live messages that fitted follow, in order, then live delivery goes on.
    await ps.publish('h', payload('end', 0));
    const live: string[] = [];
    for (;;) {
      const [tag] = await readTags(client, 1);
      if (tag === 'end0') break;
      live.push(tag!);
    }
    assert.equal(live.length, LIVE - drops.length, 'every live message delivered or dropped, once');
    for (let i = 1; i < live.length; i++) assert.ok(Number(live[i]!.slice(1)) > Number(live[i - 1]!.slice(1)));
    assert.equal(ps.subscriberCount('h'), 1);
  });
});
