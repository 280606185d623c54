/** Three `ws-stream serve --pubsub --broker redis://…` processes on one redis-server, clients over all of them. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BrokerProcess,
  everyClientGetsEverything,
  poll,
  readMessages,
  reconnectElsewhereRecovers,
  startPubSubServers,
  subscribeClient,
} from '../support/brokers.js';
import { JsonClient } from './pubsub-support.js';

describe('serve --pubsub on Redis, three processes', () => {
  let redis: BrokerProcess;
  let servers: Awaited<ReturnType<typeof startPubSubServers>> = [];
  const clients: JsonClient[] = [];
  before(async () => {
    redis = await BrokerProcess.redis();
    servers = await startPubSubServers(3, redis.url);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    await redis.stop();
  });

  it('30 clients spread over three processes each get every message once, in one order', async () => {
    await everyClientGetsEverything(servers, clients);
  });

  it('a client reconnecting to another process with since recovers exactly what it missed', async () => {
    await reconnectElsewhereRecovers(servers, clients);
  });

  it('Redis killed and restarted mid-run: servers stay up, publish errors while down, delivery resumes by itself', async () => {
    const topic = 'outage';
    const subscribers: JsonClient[] = [];
    for (let i = 0; i < 6; i++) subscribers.push(await JsonClient.connect(servers[i % 3]!.port));
    // The publisher subscribes too: its own message coming back says the broker took it.
    const publisher = await JsonClient.connect(servers[0]!.port);
    clients.push(...subscribers, publisher);
    const starts = await Promise.all([...subscribers, publisher].map((c) => subscribeClient(c, topic)));
    publisher.send({ op: 'publish', topic, data: 'before' });
    for (const [k, c] of [...subscribers, publisher].entries()) {
      assert.deepEqual(await readMessages(c, topic, starts[k]!.offset, 1), ['before']);
    }

    await redis.kill();
    publisher.send({ op: 'publish', topic, data: 'lost' });
    const refused = await publisher.next('an error');
    assert.equal(refused.op, 'error', JSON.stringify(refused));
    assert.equal(refused.code, 'ERR_WS_BROKER_UNAVAILABLE');
    for (const s of servers) assert.equal(s.proc.exitCode, null, 'the server is still running');

    await redis.start();
    // Publish until the broker takes it again (each refusal is an error reply, nothing else).
    await poll(async () => {
      publisher.send({ op: 'publish', topic, data: 'back' });
      const m = await publisher.next('the message or an error');
      if (m.op === 'error') {
        assert.equal(m.code, 'ERR_WS_BROKER_UNAVAILABLE');
        return false;
      }
      assert.deepEqual([m.op, m.data], ['message', 'back']);
      return true;
    });
    for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: i });
    // Redis lost its data (no persistence): a new epoch, offsets from 1 again, on every process.
    assert.deepEqual(await readMessages(publisher, topic, 1, 5), [1, 2, 3, 4, 5]);
    for (const c of subscribers) {
      assert.deepEqual(await readMessages(c, topic, 0, 6), ['back', 1, 2, 3, 4, 5]);
    }
    for (const s of servers) assert.equal(s.proc.exitCode, null, 'the server is still running');
  });
});
