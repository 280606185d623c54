/**
 * The chaos check (test/pubsub/chaos-support.ts) on three `serve --pubsub` processes on one Redis
 * without persistence: Redis killed and started again (a new epoch), one process's link to Redis
 * cut and restored, one process SIGKILLed and another started.
 */
import { describeChaosOnBroker } from './chaos-support.js';

describeChaosOnBroker('redis', 3, { seeds: [1, 2], steps: 30, rate: 0.3 });
