/** Three `ws-stream serve --pubsub --broker nats://…` processes on one nats-server (JetStream), clients over all of them. */
import assert from 'node:assert/strict';
import { BrokerProcess } from '../support/brokers.js';
import { readMessages, scaleSuite } from '../support/scale-cluster.js';

scaleSuite({
  name: 'serve --pubsub on NATS JetStream, three processes',
  start: () => BrokerProcess.nats(),
  outage: {
    title: 'NATS killed and restarted mid-run: servers stay up, publish errors while down, offsets go on',
    async restarted({ topic, subscribers, publisher, back }) {
      assert.deepEqual([back.op, back.data, back.offset], ['message', 'back', 2]);
      // JetStream kept the stream on disk: the same epoch, offsets go on from 2.
      for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: i });
      assert.deepEqual(await readMessages(publisher, topic, 2, 5), [1, 2, 3, 4, 5]);
      for (const c of subscribers) assert.deepEqual(await readMessages(c, topic, 1, 6), ['back', 1, 2, 3, 4, 5]);
    },
  },
});
