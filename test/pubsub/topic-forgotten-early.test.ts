/**
 * A topic's subscribers come and go while its broker subscription is being changed: the PubSub
 * must not forget the topic while broker calls for it are still queued. It did: the clean-up queued
 * behind the first unsubscribe dropped the topic although a subscribe and an unsubscribe had been
 * queued after it; a subscriber coming then made a new topic whose broker subscribe ran beside those
 * two (a no-op: the broker still had the topic), and their unsubscribe then left it subscribed to
 * nothing — `subscribed` answered, history replayed, and no live message ever again. Seen as a hang
 * of test/pubsub/outside-redis.test.ts ("clients that subscribe and go at once", --workers 2) in CI
 * and here about once in 40 runs; made certain here by holding the broker's SUBSCRIBE at a proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PubSub, RedisBroker } from '../../src/pubsub/index.js';
import { BrokerProcess, brokerBehindProxy } from '../support/brokers.js';
import { startTestServer, subscriberPair, type TestServer } from './pubsub-support.js';

/** How a RESP SUBSCRIBE (not UNSUBSCRIBE) and an UNSUBSCRIBE command start on the wire. */
const SUBSCRIBE = '\r\nsubscribe\r\n';
const UNSUBSCRIBE = '\r\nunsubscribe\r\n';
const count = (text: string, part: string): number => text.split(part).length - 1;

describe('subscribers that come and go while the broker subscription changes', () => {
  let server: TestServer;
  const redis = brokerBehindProxy(() => BrokerProcess.redis());
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it('RedisBroker: a subscriber that comes after two others came and went gets live messages', async () => {
    const ps = new PubSub({ broker: new RedisBroker(redis.proxy.url('redis')) });
    try {
      const topic = 'come-and-go';
      const [first, second, late] = [
        await subscriberPair(server),
        await subscriberPair(server),
        await subscriberPair(server),
      ];
      await ps.subscribe(first.ws, topic);
      // The connection that carries SUBSCRIBE is the broker's subscriber connection.
      const link = await redis.proxy.link([SUBSCRIBE]);
      // The first leaves (its UNSUBSCRIBE held), the second comes and goes: all queued behind it.
      link.holdClientFrom(UNSUBSCRIBE);
      ps.unsubscribe(first.ws, topic);
      await redis.proxy.until(() => (count(link.clientText, UNSUBSCRIBE) === 1 ? true : undefined));
      const secondJoined = ps.subscribe(second.ws, topic);
      ps.unsubscribe(second.ws, topic);
      // The UNSUBSCRIBE goes; the next SUBSCRIBE (the second's) is held: the late one comes now.
      link.release();
      link.holdClientFrom(SUBSCRIBE);
      await redis.proxy.until(() => (count(link.clientText, SUBSCRIBE) === 2 ? true : undefined));
      const lateJoined = ps.subscribe(late.ws, topic);
      link.release();
      await secondJoined.catch(() => {}); // (it left before it was answered)
      const at = await lateJoined;
      // The second's UNSUBSCRIBE has gone out (with the fix, the late one's SUBSCRIBE after it).
      await redis.proxy.until(() => (count(link.clientText, UNSUBSCRIBE) === 2 ? true : undefined));
      const published = await ps.publish(topic, 'live');
      assert.equal(published.offset, at.offset + 1);
      // A ping behind it: the late subscriber's next frame is the message, or it never came.
      await late.ws.ping();
      const frame = await late.client.nextMessage();
      assert.equal(frame.opcode, 1, `the live message, not opcode ${frame.opcode}`);
      assert.equal(frame.payload.toString(), 'live');
      for (const p of [first, second, late]) p.client.destroy();
    } finally {
      await ps.close();
    }
  });
});
