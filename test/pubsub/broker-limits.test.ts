/**
 * A message larger than the broker server takes (NATS's `max_payload`, Redis's
 * `proto-max-bulk-len`, both set low on the real servers the test starts): `publish` rejects with
 * ERR_WS_MESSAGE_TOO_BIG, takes no offset, and leaves the connection alone (no availability change,
 * the next publications and the subscribers go on in order). A message at the limit goes through.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker, BrokerMessage } from '../../src/pubsub/broker.js';
import { PubSub } from '../../src/pubsub/index.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';
import { JsonClient, startTestServer } from './pubsub-support.js';

const natsMax = 4096;
const redisMax = 1024 * 1024; // the least proto-max-bulk-len Redis takes

const cases = [
  {
    name: 'NatsBroker (JetStream), max_payload 4096',
    start: () => BrokerProcess.nats({ config: `max_payload: ${natsMax}\n` }),
    create: (url: string): Broker => new NatsBroker(url),
    tooBig: natsMax + 1,
    // What fits once the headers of a binary publication (Ws-Binary, Nats-Expected-Stream) are counted.
    fits: natsMax - 128,
    offsets: true,
  },
  {
    name: 'NatsBroker (core NATS), max_payload 4096',
    start: () => BrokerProcess.nats({ jetstream: false, config: `max_payload: ${natsMax}\n` }),
    create: (url: string): Broker => new NatsBroker(url),
    tooBig: natsMax + 1,
    fits: natsMax - 64, // (the Ws-Binary header counts)
    // Offsets are counted by each subscribing process: the publisher's are not the topic's.
    offsets: false,
  },
  {
    name: 'RedisBroker, proto-max-bulk-len 1mb',
    start: () => BrokerProcess.redis({ args: ['--proto-max-bulk-len', String(redisMax)] }),
    create: (url: string): Broker => new RedisBroker(url),
    tooBig: redisMax + 1,
    fits: redisMax,
    offsets: true,
  },
];

const rows = (messages: BrokerMessage[]): [number, number][] => messages.map((m) => [m.offset, m.data.length]);

for (const c of cases) {
  describe(c.name, () => {
    it('a message over the limit rejects with ERR_WS_MESSAGE_TOO_BIG; the connection and the topic go on', async (t) => {
      const server = await c.start();
      const brokers: Broker[] = [];
      t.after(async () => {
        for (const b of brokers) await b.close();
        await server.stop();
      });
      const open = async () => {
        const broker = c.create(server.url);
        brokers.push(broker);
        const events = new BrokerRecorder();
        await broker.open(events, history);
        return { broker, events };
      };
      const topic = 'sizes';
      const [sub, pub] = [await open(), await open()];
      await sub.broker.subscribe(topic);
      const before = await pub.broker.publish(topic, Buffer.alloc(1, 0x61), false);
      await assert.rejects(pub.broker.publish(topic, Buffer.alloc(c.tooBig, 0x62), true), (err: Error) => {
        assert.equal((err as { code?: string }).code, 'ERR_WS_MESSAGE_TOO_BIG');
        assert.match(err.message, new RegExp(`${c.tooBig} bytes`));
        return true;
      });
      const fits = await pub.broker.publish(topic, Buffer.alloc(c.fits, 0x63), true);
      const after = await pub.broker.publish(topic, Buffer.alloc(2, 0x64), false);
      if (c.offsets) {
        assert.deepEqual(
          [fits.offset, after.offset],
          [before.offset + 1, before.offset + 2],
          'the refused message took no offset',
        );
      }
      await sub.events.received(topic, 3);
      const first = sub.events.of(topic)[0]!.offset;
      assert.deepEqual(rows(sub.events.of(topic)), [
        [first, 1],
        [first + 1, c.fits],
        [first + 2, 2],
      ]);
      assert.deepEqual(sub.events.availability, [], 'no connection was lost');
      assert.deepEqual(pub.events.availability, [], 'no connection was lost');
    });
  });
}

it('PubSub over NATS: the refused publish is ERR_WS_MESSAGE_TOO_BIG; subscribers and later publishes are untouched', async (t) => {
  const server = await BrokerProcess.nats({ config: `max_payload: ${natsMax}\n` });
  const web = await startTestServer();
  const format = (m: BrokerMessage): string => JSON.stringify({ data: m.data.toString(), offset: m.offset });
  const pubsub = new PubSub({ broker: new NatsBroker(server.url), format });
  t.after(async () => {
    await pubsub.close();
    await web.close();
    await server.stop();
  });
  const client = await JsonClient.connect(web.port);
  const { ws } = await web.next();
  const start = await pubsub.subscribe(ws, 'room');
  await assert.rejects(pubsub.publish('room', 'x'.repeat(natsMax + 1)), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
  const next = await pubsub.publish('room', 'small');
  assert.equal(next.offset, start.offset + 1);
  assert.deepEqual(await client.next(), { data: 'small', offset: next.offset });
  assert.equal(pubsub.brokerAvailable, true);
  client.close();
});

it("RedisBroker: a message over Redis's output buffer limit for subscribers (which then drops their connections) is delivered once, in order, from history", async (t) => {
  // 1 MiB here (32 MiB by default): Redis closes a subscriber connection whose pending output
  // passes it.
  const server = await BrokerProcess.redis({ args: ['--client-output-buffer-limit', 'pubsub 1mb 1mb 0'] });
  const brokers: Broker[] = [];
  t.after(async () => {
    for (const b of brokers) await b.close();
    await server.stop();
  });
  const open = async () => {
    const broker = new RedisBroker(server.url);
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  };
  const topic = 'large';
  const [sub, pub] = [await open(), await open()];
  await sub.broker.subscribe(topic);
  const sent = [
    await pub.broker.publish(topic, Buffer.from('a'), false),
    await pub.broker.publish(topic, Buffer.alloc(2 * 1024 * 1024, 0x62), true),
    await pub.broker.publish(topic, Buffer.from('c'), false),
  ];
  await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === sent[2]!.offset));
  await sub.events.available(true);
  assert.deepEqual(
    rows(sub.events.of(topic)),
    sent.map((at, i) => [at.offset, i === 1 ? 2 * 1024 * 1024 : 1]),
  );
  assert.deepEqual(sub.events.availability, [false, true], 'its subscriber connection was dropped, and came back');
  assert.deepEqual(pub.events.availability, [], "the publisher's connections were not");
});
