/**
 * Recovery larger than a subscriber's backlog: the history is replayed as the socket drains, not
 * queued at once, so a reader that keeps reading recovers all of it (before, 20 MB of history
 * against a 256 KiB cap closed it with 1008 at once). Live messages published during the replay
 * are held for it, counted in its backlog: a reader that stops reading meets the slow-subscriber
 * policy ('close': 1008 after a contiguous prefix of the history; 'drop': live messages skipped,
 * the history whole), and what the server holds for it stays under the cap. Order: the history,
 * then the held live messages, no gap (but those dropped), no duplicate.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { WebSocketStream } from '../../src/index.js';
import { type DropEvent, PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { poll } from '../support/brokers.js';
import { startTestServer, subscriberPair, turnEnd } from './pubsub-support.js';

const HISTORY = 10_000;
const SIZE = 2000; // 20 MB of history: more than loopback's socket buffers take
const MAX_BYTES = 256 * 1024;

const payload = (tag: string, i: number): string => `${tag}${i}:`.padEnd(SIZE, '.');

/** A PubSub whose topic 'h' holds HISTORY messages, a subscriber pair whose client reads nothing yet. */
async function setUp(t: TestContext, policy: 'drop' | 'close') {
  const ps = new PubSub({
    history: { size: HISTORY, ttlSeconds: 0, bytes: 64 * 1024 * 1024 },
    slowSubscriber: { maxBytes: MAX_BYTES, policy },
  });
  const server = await startTestServer();
  t.after(async () => {
    await ps.close();
    await server.close();
  });
  let at = { offset: 0, epoch: '' };
  for (let i = 1; i <= HISTORY; i++) at = await ps.publish('h', payload('h', i));
  const { client, ws } = await subscriberPair(server);
  t.after(() => client.destroy());
  client.sock.pause();
  const drops: { event: DropEvent; buffered: number }[] = [];
  ps.on('drop', (event) => drops.push({ event, buffered: ws.bufferedAmount }));
  const result = await ps.subscribe(ws, 'h', { since: { offset: 0, epoch: at.epoch } });
  assert.deepEqual(result, { offset: 0, epoch: at.epoch, recovered: true });
  return { ps, ws, client, drops };
}

/** Waits until the replay stalls on the unread socket: the kernel's buffers are full and ours hold the rest. */
async function stalled(ws: WebSocketStream): Promise<void> {
  await poll(async () => !ws.isOpen || ws.bufferedAmount >= MAX_BYTES / 2);
  assert.ok(ws.isOpen, 'not closed for a history larger than its cap');
  assert.ok(ws.bufferedAmount <= MAX_BYTES, `buffered ${ws.bufferedAmount}: the replay is paced, not queued whole`);
}

/** Reads text messages until `n` have come or the server's close frame; returns their payloads' tags. */
async function readTags(client: RawClient, n: number): Promise<{ tags: string[]; close: number | null }> {
  const tags: string[] = [];
  while (tags.length < n) {
    const m = await client.nextMessage();
    if (m.opcode === 8) return { tags, close: m.payload.readUInt16BE(0) };
    assert.equal(m.opcode, 1);
    const text = m.payload.toString();
    tags.push(text.slice(0, text.indexOf(':')));
  }
  return { tags, close: null };
}

const historyTags = (n: number): string[] => Array.from({ length: n }, (_, i) => `h${i + 1}`);

describe('recovery is paced by the socket and bounded by the slow-subscriber cap', () => {
  it('a reader that reads recovers 20 MB of history (cap 256 KiB), then the live messages held meanwhile, in order', async (t) => {
    const { ps, ws, client, drops } = await setUp(t, 'close');
    await stalled(ws);
    for (let i = 1; i <= 20; i++) await ps.publish('h', payload('l', i)); // held: the replay is not done
    client.sock.resume();
    const { tags, close } = await readTags(client, HISTORY + 20);
    assert.equal(close, null, 'not closed');
    assert.deepEqual(tags, [...historyTags(HISTORY), ...Array.from({ length: 20 }, (_, i) => `l${i + 1}`)]);
    assert.deepEqual(drops, []);
    // Live from here on.
    await ps.publish('h', payload('l', 21));
    assert.deepEqual((await readTags(client, 1)).tags, ['l21']);
    assert.equal(ps.subscriberCount('h'), 1);
  });

  it("'close': a reader that stops during the replay is closed with 1008 once held live messages pass the cap", async (t) => {
    const { ps, ws, client, drops } = await setUp(t, 'close');
    await stalled(ws);
    let published = 0;
    while (drops.length === 0) {
      assert.ok(published < 1000, 'the cap is met within 1000 live messages of 2 kB');
      await ps.publish('h', payload('l', ++published));
      await turnEnd();
    }
    assert.equal(drops.length, 1);
    assert.equal(drops[0]!.event.policy, 'close');
    assert.ok(drops[0]!.buffered <= MAX_BYTES, `buffered ${drops[0]!.buffered}`);
    assert.ok(published > 1, 'live messages were held while there was room');
    assert.equal(ps.subscriberCount('h'), 0);
    client.sock.resume();
    const { tags, close } = await readTags(client, HISTORY + published);
    assert.equal(close, 1008);
    assert.ok(tags.length > 0 && tags.length < HISTORY, `${tags.length} messages before the close`);
    assert.deepEqual(tags, historyTags(tags.length), 'a contiguous prefix of the history, no live message');
  });

  it("'drop': a reader that stops during the replay loses live messages past the cap, never history; order kept", async (t) => {
    const { ps, ws, client, drops } = await setUp(t, 'drop');
    await stalled(ws);
    const LIVE = 300; // 600 kB: past the cap
    for (let i = 1; i <= LIVE; i++) {
      await ps.publish('h', payload('l', i));
      await turnEnd();
    }
    assert.ok(drops.length > 0, 'some live messages did not fit');
    for (const d of drops) {
      assert.equal(d.event.policy, 'drop');
      assert.ok(d.buffered <= MAX_BYTES, `buffered ${d.buffered}`);
    }
    client.sock.resume();
    const { tags } = await readTags(client, HISTORY + LIVE - drops.length);
    assert.deepEqual(tags.slice(0, HISTORY), historyTags(HISTORY));
    const live = tags.slice(HISTORY).map((tag) => Number(tag.slice(1)));
    assert.equal(live.length, LIVE - drops.length);
    assert.equal(live[0], 1, 'the first live message was held');
    for (let i = 1; i < live.length; i++)
      assert.ok(live[i]! > live[i - 1]!, `live in order: ${live[i - 1]}, ${live[i]}`);
    assert.equal(ps.subscriberCount('h'), 1, 'still subscribed');
  });
});
