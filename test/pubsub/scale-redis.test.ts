/** Three `ws-stream serve --pubsub --broker redis://…` processes on one redis-server, clients over all of them. */
import assert from 'node:assert/strict';
import { BrokerProcess } from '../support/brokers.js';
import { readMessages, scaleSuite } from '../support/scale-cluster.js';

scaleSuite({
  name: 'serve --pubsub on Redis, three processes',
  start: () => BrokerProcess.redis(),
  outage: {
    title: 'Redis killed and restarted mid-run: servers stay up, publish errors while down, delivery resumes by itself',
    async restarted({ topic, subscribers, publisher, back }) {
      // Redis lost its data (no persistence): a new epoch, offsets from 1 again, on every process,
      // announced to each subscriber first by a re-sent subscribed at offset 0.
      assert.deepEqual(Object.keys(back), ['op', 'topic', 'offset', 'epoch']);
      assert.deepEqual([back.op, back.topic, back.offset], ['subscribed', topic, 0]);
      const announced = { op: 'subscribed', topic, offset: 0, epoch: back.epoch };
      assert.deepEqual(await readMessages(publisher, topic, 0, 1), ['back']);
      for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: i });
      assert.deepEqual(await readMessages(publisher, topic, 1, 5), [1, 2, 3, 4, 5]);
      for (const c of subscribers) {
        assert.deepEqual(await c.next('the new epoch announced'), announced);
        assert.deepEqual(await readMessages(c, topic, 0, 6), ['back', 1, 2, 3, 4, 5]);
      }
    },
  },
});
