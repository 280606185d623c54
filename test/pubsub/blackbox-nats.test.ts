/** The black-box protocol suite against `serve --pubsub --broker nats://…` (JetStream), and a server started before NATS. */
import { it } from 'node:test';
import { BrokerProcess } from '../support/brokers.js';
import { brokerDownAtStart, protocolSuite } from './blackbox-support.js';

protocolSuite({
  name: 'serve --pubsub --broker nats:// (JetStream)',
  setup: async () => {
    const nats = await BrokerProcess.nats();
    return { args: ['--broker', nats.url], teardown: () => nats.stop() };
  },
});

it('a server started while NATS is down serves once NATS is up, without a restart', async (t) => {
  const nats = await BrokerProcess.nats();
  t.after(() => nats.stop());
  await brokerDownAtStart(nats);
});
