/**
 * A topic whose last subscriber left and that is subscribed again before the PubSub forgot it (a
 * client's `unsubscribe` and `subscribe` back to back): messages published between the two never
 * reached this process, and the offset it delivered last must not be taken for the new broker
 * subscription's, or the next live message looks like a gap, is held for a history read, and the
 * publish that made it settles before it reaches this process's subscribers — a publisher that
 * awaits it and then unsubscribes has not been given its own message (doc/pubsub.md, `publish`).
 * Found by the model-based check (test/pubsub/model-brokers.test.ts, Redis, seed 4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PubSub, RedisBroker } from '../../src/pubsub/index.js';
import { BrokerProcess } from '../support/brokers.js';
import { startTestServer, subscriberPair, type TestServer } from './pubsub-support.js';

describe('a topic subscribed again right after its last subscriber left', () => {
  let server: TestServer;
  let redis: BrokerProcess;
  before(async () => {
    server = await startTestServer();
    redis = await BrokerProcess.redis();
  });
  after(async () => {
    await server.close();
    await redis.stop();
  });

  // (With the MemoryBroker the history read is answered within the same microtasks, so the held
  // message happened to go out before the publish settled; Redis answers over the network.)
  it('RedisBroker: an awaited publish has reached the subscriber before it unsubscribes', async () => {
    const ps = new PubSub({ broker: new RedisBroker(redis.url) });
    try {
      const { client, ws } = await subscriberPair(server);
      const topic = 'again';
      await ps.subscribe(ws, topic);
      await ps.publish(topic, 'one');
      assert.equal((await client.nextMessage()).payload.toString(), 'one');
      // The last subscriber leaves and comes back at once; 'two' is published in between.
      ps.unsubscribe(ws, topic);
      const two = ps.publish(topic, 'two');
      const again = ps.subscribe(ws, topic);
      await two;
      const at = await again;
      const three = await ps.publish(topic, 'three');
      assert.equal(three.offset, at.offset + 1);
      ps.unsubscribe(ws, topic);
      await ws.write('after the unsubscribe', { binary: false });
      assert.equal((await client.nextMessage()).payload.toString(), 'three', 'its own message, before what follows');
      assert.equal((await client.nextMessage()).payload.toString(), 'after the unsubscribe');
      client.destroy();
    } finally {
      await ps.close();
    }
  });
});
