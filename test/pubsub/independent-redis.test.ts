/** The independent Python checker against three `serve --pubsub` processes on one Redis. */
import { BrokerProcess } from '../support/brokers.js';
import { independentSuite } from './independent-support.js';

independentSuite({
  kind: 'redis',
  name: 'three serve --pubsub on Redis',
  processes: 3,
  broker: () => BrokerProcess.redis(),
});
