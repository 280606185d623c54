/** The independent Python checker against three `serve --pubsub` processes on one NATS with JetStream. */
import { BrokerProcess } from '../support/brokers.js';
import { independentSuite } from './independent-support.js';

independentSuite({
  kind: 'nats',
  name: 'three serve --pubsub on NATS (JetStream)',
  processes: 3,
  broker: () => BrokerProcess.nats(),
});
