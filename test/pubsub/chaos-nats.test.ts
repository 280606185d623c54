/**
 * The chaos check (test/pubsub/chaos-support.ts) on two `serve --pubsub` processes on one NATS
 * with JetStream file storage: NATS killed and started again (its streams kept: the same epoch),
 * one process's link to NATS cut and restored, one process SIGKILLed and another started.
 */
import { describeChaosOnBroker } from './chaos-support.js';

describeChaosOnBroker('nats', 2, [1, 2], 30);
