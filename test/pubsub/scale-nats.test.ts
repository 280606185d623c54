/** Three `ws-stream serve --pubsub --broker nats://…` processes on one nats-server (JetStream), clients over all of them. */
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

describe('serve --pubsub on NATS JetStream, three processes', () => {
  let nats: BrokerProcess;
  let servers: Awaited<ReturnType<typeof startPubSubServers>> = [];
  const clients: JsonClient[] = [];
  before(async () => {
    nats = await BrokerProcess.nats();
    servers = await startPubSubServers(3, nats.url);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    await nats.stop();
  });

  it('30 clients spread over three processes each get every message once, in one order', async () => {
    await everyClientGetsEverything(servers, clients);
  });

  it('a client reconnecting to another process with since recovers exactly what it missed', async () => {
    await reconnectElsewhereRecovers(servers, clients);
  });

  it('NATS killed and restarted mid-run: servers stay up, publish errors while down, offsets go on', async () => {
    const topic = 'outage';
    const subscribers: JsonClient[] = [];
    for (let i = 0; i < 6; i++) subscribers.push(await JsonClient.connect(servers[i % 3]!.port));
    const publisher = await JsonClient.connect(servers[0]!.port);
    clients.push(...subscribers, publisher);
    const all = [...subscribers, publisher];
    const starts = await Promise.all(all.map((c) => subscribeClient(c, topic)));
    publisher.send({ op: 'publish', topic, data: 'before' });
    for (const [k, c] of all.entries())
      assert.deepEqual(await readMessages(c, topic, starts[k]!.offset, 1), ['before']);

    await nats.kill();
    // The servers learn of the loss from their connection's end: until then a publish may still wait
    // for its request timeout, and then fails the same way.
    publisher.send({ op: 'publish', topic, data: 'lost' });
    const refused = await publisher.next('an error');
    assert.equal(refused.op, 'error', JSON.stringify(refused));
    assert.equal(refused.code, 'ERR_WS_BROKER_UNAVAILABLE');
    for (const s of servers) assert.equal(s.proc.exitCode, null, 'the server is still running');

    await nats.start();
    await poll(async () => {
      publisher.send({ op: 'publish', topic, data: 'back' });
      const m = await publisher.next('the message or an error');
      if (m.op === 'error') {
        assert.equal(m.code, 'ERR_WS_BROKER_UNAVAILABLE');
        return false;
      }
      assert.deepEqual([m.op, m.data, m.offset], ['message', 'back', 2]);
      return true;
    });
    // JetStream kept the stream on disk: the same epoch, offsets go on from 2.
    for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: i });
    assert.deepEqual(await readMessages(publisher, topic, 2, 5), [1, 2, 3, 4, 5]);
    for (const c of subscribers) assert.deepEqual(await readMessages(c, topic, 1, 6), ['back', 1, 2, 3, 4, 5]);
    for (const s of servers) assert.equal(s.proc.exitCode, null, 'the server is still running');
  });
});
