/**
 * The chaos check (test/pubsub/chaos-support.ts) on two `serve --pubsub` processes on one NATS
 * with JetStream file storage: NATS killed and started again (its streams kept: the same epoch),
 * one process's link to NATS cut and restored, one process SIGKILLed and another started.
 */
import { describeChaosOnBroker } from './chaos-support.js';

// (One seed, 2, strikes every kind of fault; seed 1 added no statement to this file's coverage:
// PUBSUB_SEED=1 runs it.)
describeChaosOnBroker('nats', 2, { seeds: [2], steps: 20, rate: 0.2 });
