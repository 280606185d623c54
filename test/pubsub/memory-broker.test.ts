/**
 * The in-memory broker alone: offsets, epochs, history bounded by size, delivery to subscribed topics only;
 * and a listener that throws (PubSub's `format`) does not turn `publish` into a throw.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker, PubSub } from '../../src/pubsub/index.js';
import type { BrokerMessage } from '../../src/pubsub/index.js';
import { JsonClient, startTestServer } from './pubsub-support.js';

async function opened(size: number) {
  const broker = new MemoryBroker();
  const got: BrokerMessage[] = [];
  await broker.open({ onMessage: (m) => got.push(m), onAvailability: () => {} }, { size, ttlSeconds: 0 });
  return { broker, got };
}

it('offsets count from 1 per topic; only subscribed topics are delivered, in order, as published', async () => {
  const { broker, got } = await opened(10);
  assert.deepEqual(await broker.position('a'), { offset: 0, epoch: broker.epoch });
  await broker.subscribe('a');
  assert.deepEqual(await broker.publish('a', Buffer.from('1'), false), { offset: 1, epoch: broker.epoch });
  assert.deepEqual(await broker.publish('b', Buffer.from('x'), true), { offset: 1, epoch: broker.epoch });
  assert.deepEqual(await broker.publish('a', Buffer.from('2'), true), { offset: 2, epoch: broker.epoch });
  assert.deepEqual(
    got.map((m) => [m.topic, m.offset, m.data.toString(), m.binary]),
    [
      ['a', 1, '1', false],
      ['a', 2, '2', true],
    ],
  );
  await broker.unsubscribe('a');
  await broker.publish('a', Buffer.from('3'), false);
  assert.equal(got.length, 2);
  assert.deepEqual(await broker.position('a'), { offset: 3, epoch: broker.epoch });
  assert.notEqual(new MemoryBroker().epoch, broker.epoch, 'each broker life is its own epoch');
});

it('history: every message after `since`, or null when trimmed, of another epoch, in the future, or not kept', async () => {
  const { broker } = await opened(5);
  for (let i = 1; i <= 12; i++) await broker.publish('t', Buffer.from(`m${i}`), false);
  const after = async (offset: number, epoch = broker.epoch) =>
    (await broker.history('t', { offset, epoch }))?.map((m) => m.data.toString()) ?? null;
  assert.deepEqual(await after(7), ['m8', 'm9', 'm10', 'm11', 'm12']);
  assert.deepEqual(await after(10), ['m11', 'm12']);
  assert.deepEqual(await after(12), []);
  assert.equal(await after(6), null, 'm7 was trimmed');
  assert.equal(await after(13), null);
  assert.equal(await after(7, 'other'), null);
  assert.deepEqual(await broker.history('never', { offset: 0, epoch: broker.epoch }), []);
  const none = await opened(0);
  await none.broker.publish('t', Buffer.from('x'), false);
  assert.equal(await none.broker.history('t', { offset: 0, epoch: none.broker.epoch }), null);
  await broker.close();
  await assert.rejects(broker.publish('t', Buffer.from('x'), false), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
});

it("PubSub's format throws for one message: publish still resolves (the message is taken), a warning tells, and the next message is delivered", async (t) => {
  const web = await startTestServer();
  const pubsub = new PubSub({
    format: (m) => {
      if (m.data.toString() === 'bad') throw new Error('format refused it');
      return m.data.toString();
    },
  });
  t.after(async () => {
    await pubsub.close();
    await web.close();
  });
  const client = await JsonClient.connect(web.port);
  const { ws } = await web.next();
  const start = await pubsub.subscribe(ws, 'room');
  const warned = new Promise<Error>((resolve) => {
    const onWarning = (w: Error): void => {
      if (!/format refused it/.test(w.message)) return;
      process.off('warning', onWarning);
      resolve(w);
    };
    process.on('warning', onWarning);
  });
  let sent: Promise<{ offset: number }> | undefined;
  assert.doesNotThrow(() => {
    sent = pubsub.publish('room', 'bad');
  });
  assert.equal((await sent!).offset, start.offset + 1);
  await warned;
  const next = await pubsub.publish('room', JSON.stringify({ ok: true }));
  assert.equal(next.offset, start.offset + 2);
  assert.deepEqual(await client.next(), { ok: true });
  client.close();
});

it('a broker serves one PubSub: a second one given it is refused (ERR_WS_INVALID_STATE), the first still delivers, also after the second is closed', async (t) => {
  const web = await startTestServer();
  const broker = new MemoryBroker();
  const first = new PubSub({ broker });
  const second = new PubSub({ broker });
  t.after(async () => {
    await second.close();
    await first.close();
    await web.close();
  });
  const client = await JsonClient.connect(web.port);
  const { ws } = await web.next();
  await first.subscribe(ws, 'room');
  await assert.rejects(second.publish('room', 'taken over?'), { code: 'ERR_WS_INVALID_STATE' });
  await assert.rejects(second.subscribe(ws, 'room'), { code: 'ERR_WS_INVALID_STATE' });
  await second.close(); // not its broker to close
  await first.publish('room', JSON.stringify({ n: 1 }));
  assert.deepEqual(await client.next(), { n: 1 });
  client.close();
});

it('a closed MemoryBroker does not open again, nor one closed before it was ever opened', async () => {
  const { broker } = await opened(1);
  await broker.close();
  const events = { onMessage: () => {}, onAvailability: () => {} };
  await assert.rejects(broker.open(events, { size: 1, ttlSeconds: 0 }), {
    code: 'ERR_WS_INVALID_STATE',
    message: /already closed/,
  });
  const unopened = new MemoryBroker();
  await unopened.close();
  await assert.rejects(unopened.open(events, { size: 1, ttlSeconds: 0 }), {
    code: 'ERR_WS_INVALID_STATE',
    message: /already closed/,
  });
});

it('totalBytes 0 sets no limit across topics: the history of every topic is kept whole', async () => {
  const broker = new MemoryBroker({ totalBytes: 0 });
  await broker.open({ onMessage: () => {}, onAvailability: () => {} }, { size: 10, ttlSeconds: 0 });
  const epoch = (await broker.publish('a', Buffer.from('a1'), false)).epoch;
  await broker.publish('b', Buffer.from('b1'), false);
  await broker.publish('a', Buffer.from('a2'), false);
  const kept = async (topic: string) =>
    (await broker.history(topic, { offset: 0, epoch }))?.map((m) => m.data.toString()) ?? null;
  assert.deepEqual(await kept('a'), ['a1', 'a2']);
  assert.deepEqual(await kept('b'), ['b1']);
  assert.deepEqual(broker.stats(), { topics: 2, bytes: 6 });
  await broker.close();
});

it('a MemoryBroker whose open was refused for its options is not left opened: it opens with good ones', async () => {
  const broker = new MemoryBroker();
  const events = { onMessage: () => {}, onAvailability: () => {} };
  await assert.rejects(broker.open(events, { size: 1, ttlSeconds: 0, bytes: -1 }), { code: 'ERR_WS_INVALID_ARGUMENT' });
  await broker.open(events, { size: 1, ttlSeconds: 0 });
  await broker.close();
});
