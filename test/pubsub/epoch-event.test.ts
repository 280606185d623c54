/**
 * A topic's epoch changes under a live subscription when Redis restarts without its data: PubSub
 * emits 'epoch' { ws, topic, offset, epoch } for each subscriber just before the first message of
 * the new epoch, and `serve --pubsub` re-sends {"op":"subscribed","topic","offset","epoch"} there,
 * so a client resets its `since` and recovers under the new epoch. A real redis-server (no
 * persistence), killed and started again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EpochEvent, PubSub, RedisBroker } from '../../src/pubsub/index.js';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { message, subscribe } from './blackbox-support.js';
import { JsonClient, once, startTestServer, subscriberPair } from './pubsub-support.js';

describe('a new epoch under a live subscription is announced (Redis restarted empty)', () => {
  let redis: BrokerProcess;
  before(async () => {
    redis = await BrokerProcess.redis();
  });
  after(() => redis.stop());

  it("PubSub emits 'epoch' with the new epoch and offset 0, before the new epoch's first message", async (t) => {
    const ps = new PubSub({ broker: new RedisBroker(redis.url), history: { size: 100, ttlSeconds: 0 } });
    const web = await startTestServer();
    t.after(async () => {
      await ps.close();
      await web.close();
    });
    const { client, ws } = await subscriberPair(web);
    t.after(() => client.destroy());
    const events: EpochEvent[] = [];
    const seen: string[] = [];
    ps.on('epoch', (e) => {
      events.push(e);
      seen.push(`epoch ${e.offset}`);
    });
    const first = await ps.subscribe(ws, 'lib');
    const one = await ps.publish('lib', 'one');
    assert.deepEqual(one, { offset: 1, epoch: first.epoch });
    assert.deepEqual(await client.nextMessage(), { opcode: 1, payload: Buffer.from('one') });
    assert.deepEqual(events, [], 'no event while the epoch stays');

    const down = once<boolean>(ps, 'availability');
    await redis.kill();
    assert.equal(await down, false);
    const up = once<boolean>(ps, 'availability');
    await redis.start();
    assert.equal(await up, true);
    const two = await ps.publish('lib', 'two');
    assert.equal(two.offset, 1, 'Redis lost its data: offsets start over');
    assert.notEqual(two.epoch, first.epoch);
    const m = await client.nextMessage();
    seen.push(`message ${m.payload}`);
    assert.deepEqual(seen, ['epoch 0', 'message two'], 'the event came before the message was queued');
    assert.deepEqual(events, [{ ws, topic: 'lib', offset: 0, epoch: two.epoch }]);
  });

  it('serve --pubsub re-sends "subscribed" with the new epoch before its first message; that position recovers', async (t) => {
    const server = await startServer(['--pubsub', '--broker', redis.url]);
    const clients: JsonClient[] = [];
    t.after(async () => {
      for (const c of clients) c.sock.destroy();
      await server.stop();
    });
    const connect = async () => {
      const c = await JsonClient.connect(server.port);
      clients.push(c);
      return c;
    };
    const a = await connect();
    const first = await subscribe(a, 'room');
    a.send({ op: 'publish', topic: 'room', data: 'before' });
    assert.equal(await message(a, 'room', 1), 'before');

    await redis.kill();
    await redis.start();
    // Publish until the server's broker is back: each refusal is answered with an error op.
    let reply: { op: string; code?: string };
    let tries = 0;
    do {
      assert.ok(++tries < 10_000, 'the broker comes back');
      a.send({ op: 'publish', topic: 'room', data: 'after' });
      reply = await a.next('the publication or its refusal');
      if (reply.op === 'error') assert.equal(reply.code, 'ERR_WS_BROKER_UNAVAILABLE');
    } while (reply.op === 'error');
    assert.equal(reply.op, 'subscribed', JSON.stringify(reply));
    assert.deepEqual(Object.keys(reply), ['op', 'topic', 'offset', 'epoch']);
    const now = reply as unknown as { topic: string; offset: number; epoch: string };
    assert.equal(now.topic, 'room');
    assert.equal(now.offset, 0);
    assert.notEqual(now.epoch, first.epoch);
    assert.equal(await message(a, 'room', 1), 'after');

    // A client that reconnects with the position it now holds recovers under the new epoch.
    const b = await connect();
    const again = await subscribe(b, 'room', { offset: 0, epoch: now.epoch });
    assert.deepEqual(again, { op: 'subscribed', topic: 'room', offset: 0, epoch: now.epoch, recovered: true });
    assert.equal(await message(b, 'room', 1), 'after');
  });
});
