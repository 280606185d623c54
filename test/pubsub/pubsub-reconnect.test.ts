/**
 * PubSub over a real broker whose link drops: Redis kills the subscriber connection of one
 * process (CLIENT KILL TYPE pubsub) and refuses new connections for a while (its default user
 * switched off: the connections already made go on), while another process publishes. The WebSocket subscriber of the first
 * still receives every message once, in offset order: what was published while its link was down
 * comes from history when the link is back, before anything live.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { PubSub } from '../../src/pubsub/index.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess } from '../support/brokers.js';
import { JsonClient, once, startTestServer } from './pubsub-support.js';

let redis: BrokerProcess;
before(async () => {
  redis = await BrokerProcess.redis();
});
after(() => redis.stop());

it('a subscriber whose process lost its broker link gets what was published meanwhile, in order, once', async (t) => {
  const server = await startTestServer();
  const format = (m: { data: Buffer; offset: number }) => JSON.stringify({ data: m.data.toString(), offset: m.offset });
  const receiving = new PubSub({ broker: new RedisBroker(redis.url), format });
  const sending = new PubSub({ broker: new RedisBroker(redis.url) });
  const admin = createClient({ url: redis.url });
  admin.on('error', () => {});
  t.after(async () => {
    await Promise.all([receiving.close(), sending.close(), admin.close()]);
    await server.close();
  });
  await admin.connect();
  const client = await JsonClient.connect(server.port);
  const { ws } = await server.next();
  const start = await receiving.subscribe(ws, 'gap');
  await sending.publish('gap', 'before');
  assert.deepEqual(await client.next(), { data: 'before', offset: start.offset + 1 });
  const down = once<boolean>(receiving, 'availability');
  await admin.sendCommand(['ACL', 'SETUSER', 'default', 'off']);
  await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
  assert.equal(await down, false);
  assert.equal(receiving.brokerAvailable, false);
  // Published by the other process while this one's subscriber connection cannot come back.
  const missed = [await sending.publish('gap', 'missed 1'), await sending.publish('gap', 'missed 2')];
  const up = once<boolean>(receiving, 'availability');
  await admin.sendCommand(['ACL', 'SETUSER', 'default', 'on']);
  assert.equal(await up, true);
  // Recovered once the link is back, before anything else is published.
  assert.deepEqual(
    [await client.next(), await client.next()],
    [
      { data: 'missed 1', offset: missed[0]!.offset },
      { data: 'missed 2', offset: missed[1]!.offset },
    ],
  );
  const live = await sending.publish('gap', 'live');
  assert.deepEqual(await client.next(), { data: 'live', offset: live.offset });
  assert.equal(live.offset, start.offset + 4);
  client.close();
});
