/** The black-box protocol suite against `serve --pubsub --broker redis://…`, and a server started before Redis. */
import { it } from 'node:test';
import { BrokerProcess } from '../support/brokers.js';
import { brokerDownAtStart, protocolSuite } from './blackbox-support.js';

protocolSuite({
  name: 'serve --pubsub --broker redis://',
  setup: async () => {
    const redis = await BrokerProcess.redis();
    return { args: ['--broker', redis.url], teardown: () => redis.stop() };
  },
});

protocolSuite({
  name: 'serve --pubsub --workers 2 --broker redis://',
  setup: async () => {
    const redis = await BrokerProcess.redis();
    return { args: ['--workers', '2', '--broker', redis.url], teardown: () => redis.stop() };
  },
});

it('a server started while Redis is down serves once Redis is up, without a restart', async (t) => {
  const redis = await BrokerProcess.redis();
  t.after(() => redis.stop());
  await brokerDownAtStart(redis);
});
