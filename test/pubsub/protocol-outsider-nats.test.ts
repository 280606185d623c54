/**
 * The outsider's checks (protocol-outsider-support.ts: a `ws` client written from issue 13 and
 * doc/pubsub.md) against two `serve --pubsub --broker nats://…` processes on one real nats-server
 * with JetStream.
 */
import { outsiderSuite } from './protocol-outsider-support.js';

outsiderSuite({ name: 'two processes on one NATS (JetStream)', broker: 'nats' });
