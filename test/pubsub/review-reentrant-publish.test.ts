/**
 * A publish made while a message is being handed to this process's subscribers — from PubSub's
 * `format` option, the one piece of application code that runs then — is a publication after it:
 * it takes the next offset, and subscribers get it after that message. With the in-memory broker
 * it was handed out first, so the message that was being handed out then came below the
 * subscriber's last offset and was skipped (lost), and across topics came out of order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BrokerMessage } from '../../src/pubsub/broker.js';
import { PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

describe('a publish from within the hand-out of a message comes after it', () => {
  for (const [name, follow] of [
    ['the same topic', 't'],
    ['another topic', 'audit'],
  ] as const) {
    it(`format publishing to ${name}: every subscriber gets both, in the order published`, async (t) => {
      let ps: PubSub | undefined;
      const format = (m: BrokerMessage): string => {
        const text = m.data.toString();
        if (text === 'question') void ps!.publish(follow, 'answer');
        return `${m.topic}:${text}`;
      };
      ps = new PubSub({ format });
      const server = await startTestServer();
      t.after(async () => {
        await ps.close();
        await server.close();
      });
      const { client, ws } = await subscriberPair(server);
      t.after(() => client.destroy());
      await ps.subscribe(ws, 't');
      if (follow !== 't') await ps.subscribe(ws, follow);
      await new Promise<void>((r) => setImmediate(r)); // (live)
      const q = await ps.publish('t', 'question');
      await ps.publish('t', 'after');
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await client.nextMessage()).payload.toString());
      assert.deepEqual(got, ['t:question', `${follow}:answer`, 't:after']);
      assert.equal(q.offset, 1);
    });
  }
});
