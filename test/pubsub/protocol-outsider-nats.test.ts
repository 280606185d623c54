/**
 * The outsider's checks (protocol-outsider-support.ts: a `ws` client written from issue 13 and
 * doc/pubsub.md) against two `serve --pubsub --broker nats://…` processes on one real nats-server
 * with JetStream; and what bounds the streams clients make (one per topic, kept by JetStream): the
 * account's `max_streams`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { JsonClient } from './pubsub-support.js';
import { outsiderSuite } from './protocol-outsider-support.js';

outsiderSuite({ name: 'two processes on one NATS (JetStream)', broker: 'nats' });

describe('serve --pubsub on NATS: every topic is a stream; the account’s max_streams bounds them', () => {
  it('past max_streams, a new topic is refused with ERR_WS_BROKER_UNAVAILABLE; the connection and the topics made go on', async (t) => {
    const nats = await BrokerProcess.nats({
      config: 'accounts: { A: { jetstream: { max_streams: 3 }, users: [{ user: a, password: b }] } }\n',
    });
    t.after(() => nats.stop());
    const server = await startServer(['--pubsub', '--broker', `nats://a:b@127.0.0.1:${nats.port}`]);
    t.after(() => server.stop());
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    for (const topic of ['s1', 's2', 's3']) {
      c.send({ op: 'subscribe', topic });
      assert.equal((await c.next(topic)).op, 'subscribed');
    }
    for (const request of [
      { op: 'subscribe', topic: 's4' },
      { op: 'publish', topic: 'p5', data: 1 },
    ]) {
      c.send(request);
      const e = await c.next(JSON.stringify(request));
      assert.equal(e.op, 'error', JSON.stringify(e));
      assert.equal(e.code, 'ERR_WS_BROKER_UNAVAILABLE');
      assert.match(e.message, /maximum number of streams/);
    }
    c.send({ op: 'publish', topic: 's3', data: 'still' });
    assert.deepEqual(await c.next('the message'), { op: 'message', topic: 's3', data: 'still', offset: 1 });
    assert.equal(server.proc.exitCode, null);
  });
});
