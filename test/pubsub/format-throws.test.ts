/**
 * A PubSub `format` that throws for one message: that message is skipped with a process warning,
 * the others reach the subscriber in order, and the process lives on, on every path: live,
 * recovered history (`since`), and the recovery after the broker's subscriber link was lost (a real
 * redis-server whose pub/sub connection is killed: what was missed is read back from history).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { BrokerMessage } from '../../src/pubsub/broker.js';
import { PubSub } from '../../src/pubsub/index.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess } from '../support/brokers.js';
import { JsonClient, startTestServer } from './pubsub-support.js';

const server = await startTestServer();
after(() => server.close());

/** Refuses the message "bad"; the others go out as `{ offset, data }`. */
function format(m: BrokerMessage): string {
  const data = m.data.toString();
  if (data === 'bad') throw new Error(`format refused offset ${m.offset}`);
  return JSON.stringify({ offset: m.offset, data });
}

/** Collects the process warnings about "format refused", with a wait for the next. */
function formatWarnings(t: { after(f: () => void): void }) {
  const seen: string[] = [];
  let wake: (() => void) | null = null;
  const listener = (w: Error): void => {
    if (!w.message.startsWith('format refused')) return;
    seen.push(w.message);
    wake?.();
  };
  process.on('warning', listener);
  t.after(() => process.off('warning', listener));
  return {
    seen,
    async count(n: number): Promise<void> {
      while (seen.length < n) await new Promise<void>((resolve) => (wake = resolve));
    },
  };
}

async function subscriber(t: { after(f: () => void | Promise<void>): void }) {
  const client = await JsonClient.connect(server.port);
  t.after(() => client.close());
  const { ws } = await server.next();
  return { client, ws };
}

describe('PubSub: a format that throws skips that message on every path', () => {
  it('live: the message is skipped, a warning, the next ones delivered', { timeout: 30_000 }, async (t) => {
    const warnings = formatWarnings(t);
    const ps = new PubSub({ format });
    t.after(() => ps.close());
    const { client, ws } = await subscriber(t);
    await ps.subscribe(ws, 'room');
    for (const data of ['ok1', 'bad', 'ok2']) await ps.publish('room', data);
    assert.deepEqual(await client.next(), { offset: 1, data: 'ok1' });
    assert.deepEqual(await client.next(), { offset: 3, data: 'ok2' });
    await warnings.count(1);
    assert.deepEqual(warnings.seen, ['format refused offset 2']);
  });

  it('history (since): the message is skipped, a warning, the process lives on', { timeout: 30_000 }, async (t) => {
    const warnings = formatWarnings(t);
    const ps = new PubSub({ format });
    t.after(() => ps.close());
    const { client, ws } = await subscriber(t);
    const start = await ps.publish('room', 'ok1');
    for (const data of ['bad', 'ok2']) await ps.publish('room', data);
    const r = await ps.subscribe(ws, 'room', { since: { offset: 0, epoch: start.epoch } });
    assert.equal(r.recovered, true);
    await ps.publish('room', 'ok3');
    assert.deepEqual(await client.next(), { offset: 1, data: 'ok1' });
    assert.deepEqual(await client.next(), { offset: 3, data: 'ok2' });
    assert.deepEqual(await client.next(), { offset: 4, data: 'ok3' });
    await warnings.count(1);
    assert.deepEqual(warnings.seen, ['format refused offset 2']);
  });

  it('recovery after a lost broker link: the message is skipped, a warning, the rest delivered', {
    timeout: 60_000,
  }, async (t) => {
    const redis = await BrokerProcess.redis();
    t.after(() => redis.stop());
    const warnings = formatWarnings(t);
    const ps = new PubSub({ broker: new RedisBroker(redis.url), format });
    t.after(() => ps.close());
    const publisher = new RedisBroker(redis.url);
    await publisher.open({ onMessage() {}, onAvailability() {} }, { size: 100, ttlSeconds: 60 });
    t.after(() => publisher.close());
    const { client, ws } = await subscriber(t);
    await ps.subscribe(ws, 'room');
    await publisher.publish('room', Buffer.from('ok1'), false);
    assert.deepEqual(await client.next(), { offset: 1, data: 'ok1' });

    const availability: boolean[] = [];
    let changed: (() => void) | null = null;
    ps.on('availability', (a: boolean) => {
      availability.push(a);
      changed?.();
    });
    const until = async (f: () => boolean): Promise<void> => {
      while (!f()) await new Promise<void>((resolve) => (changed = resolve));
    };
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    t.after(() => admin.close());
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await until(() => availability.includes(false));
    // Missed while the subscriber connection is down: read back from history on recovery.
    for (const data of ['bad', 'ok2']) await publisher.publish('room', Buffer.from(data), false);
    await until(() => availability.at(-1) === true);
    await publisher.publish('room', Buffer.from('ok3'), false);
    assert.deepEqual(await client.next(), { offset: 3, data: 'ok2' });
    assert.deepEqual(await client.next(), { offset: 4, data: 'ok3' });
    await warnings.count(1);
    assert.deepEqual(warnings.seen, ['format refused offset 2']);
  });
});
