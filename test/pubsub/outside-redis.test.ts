/**
 * The outside checks (test/pubsub/outside-support.ts) on `serve --pubsub --broker redis://…`:
 * three processes on one Redis, and one process with `--workers 2`. Redis runs without
 * persistence, so a restart loses every topic: a new epoch.
 */
import { describeOnBroker } from './outside-support.js';

const seed = Number(process.env.SEED ?? Date.now() % 1e9);
console.log(`outside-redis seed ${seed} (SEED=${seed} to repeat)`);

describeOnBroker('redis', seed);
