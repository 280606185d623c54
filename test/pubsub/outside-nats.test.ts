/**
 * The outside checks (test/pubsub/outside-support.ts) on `serve --pubsub --broker nats://…`:
 * three processes on one NATS, and one process with `--workers 2`. NATS runs JetStream with
 * file storage, so a restart keeps every topic: the same epoch goes on.
 */
import { describeOnBroker } from './outside-support.js';

const seed = Number(process.env.SEED ?? Date.now() % 1e9);
console.log(`outside-nats seed ${seed} (SEED=${seed} to repeat)`);

describeOnBroker('nats', seed);
