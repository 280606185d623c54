/**
 * A subscriber that never reads beside fast ones, with messages published in bursts (so that each
 * turn hands out runs of many messages, joined into one Buffer per subscriber): under 'drop' the
 * slow one's backlog never passes its bound and what it gets is in order, under 'close' it is
 * closed with 1008; either way every fast subscriber gets every message once, in order.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { poll } from '../support/brokers.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

// A close frame waits behind what the slow one has not read: the handshake must not time out first.
const server = await startTestServer({ closeTimeout: 600_000 });
after(() => server.close());

const BURST = 50;
const body = 'f'.repeat(1000);

/** Reads numbered messages until 'end'; each must be the next number (`all`) or at least later (not `all`). */
async function readUntilEnd(c: RawClient, all: boolean): Promise<number[]> {
  const got: number[] = [];
  for (;;) {
    const m = await c.nextMessage();
    assert.equal(m.opcode, 1);
    const text = m.payload.toString();
    if (text === 'end') return got;
    const n = Number(text.split(' ')[0]);
    if (all) assert.equal(n, got.length);
    else assert.ok(got.length === 0 || n > got.at(-1)!, `${n} after ${got.at(-1)}`);
    got.push(n);
  }
}

/** Publishes bursts of BURST messages (numbered from 0) until `enough()`, then 10 bursts more; returns the count. */
async function publishBursts(ps: PubSub, topic: string, enough: () => boolean, each: () => void): Promise<number> {
  let n = 0;
  let more = 10;
  while (more > 0) {
    if (enough()) more--;
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < BURST; i++) burst.push(ps.publish(topic, `${n++} ${body}`));
    await Promise.all(burst);
    each();
    await new Promise((resolve) => setImmediate(resolve));
    each();
  }
  return n;
}

it("'drop': the slow one's backlog stays bounded, it gets an ordered part; the fast ones get everything", async (t) => {
  const maxBytes = 128 * 1024;
  const ps = new PubSub({ slowSubscriber: { maxBytes, policy: 'drop' } });
  t.after(() => ps.close());
  const slow = await subscriberPair(server);
  const fast = [await subscriberPair(server), await subscriberPair(server), await subscriberPair(server)];
  t.after(() => {
    for (const p of [slow, ...fast]) p.client.destroy();
  });
  for (const p of [slow, ...fast]) await ps.subscribe(p.ws, 'd');
  slow.client.sock.pause();
  const reading = fast.map((f) => readUntilEnd(f.client, true));
  let maxBacklog = 0;
  const count = await publishBursts(
    ps,
    'd',
    () => ps.dropped > 0,
    () => {
      maxBacklog = Math.max(maxBacklog, slow.ws.bufferedAmount);
    },
  );
  assert.ok(maxBacklog <= maxBytes, `backlog ${maxBacklog}`);
  assert.deepEqual(ps.topics(slow.ws), ['d'], 'still subscribed');
  slow.client.sock.resume();
  const slowReading = readUntilEnd(slow.client, false);
  await poll(async () => slow.ws.bufferedAmount === 0);
  await ps.publish('d', 'end');
  for (const got of await Promise.all(reading)) assert.equal(got.length, count);
  const part = await slowReading;
  assert.ok(part.length > 0 && part.length < count, `${part.length} of ${count}`);
  assert.equal(ps.dropped, count - part.length, 'every message the slow one lacks was counted as dropped');
});

it("'close': the slow one is closed with 1008 and leaves; the fast ones get everything", async (t) => {
  const maxBytes = 128 * 1024;
  const ps = new PubSub({ slowSubscriber: { maxBytes, policy: 'close' } });
  t.after(() => ps.close());
  const slow = await subscriberPair(server);
  const fast = [await subscriberPair(server), await subscriberPair(server), await subscriberPair(server)];
  t.after(() => {
    for (const p of [slow, ...fast]) p.client.destroy();
  });
  for (const p of [slow, ...fast]) await ps.subscribe(p.ws, 'c');
  slow.client.sock.pause();
  const reading = fast.map((f) => readUntilEnd(f.client, true));
  const count = await publishBursts(
    ps,
    'c',
    () => ps.dropped > 0,
    () => {},
  );
  assert.equal(ps.dropped, 1, 'one drop: the one that closed it');
  assert.deepEqual(ps.topics(slow.ws), []);
  assert.equal(ps.subscriberCount('c'), 3);
  await ps.publish('c', 'end');
  for (const got of await Promise.all(reading)) assert.equal(got.length, count);
  slow.client.sock.resume();
  for (;;) {
    const m = await slow.client.nextMessage();
    if (m.opcode === 8) {
      assert.equal(m.payload.readUInt16BE(0), 1008);
      break;
    }
    assert.equal(m.opcode, 1, 'messages, then the close frame');
  }
});
