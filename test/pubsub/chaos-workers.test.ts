/**
 * The chaos check (test/pubsub/chaos-support.ts) on `serve --pubsub --workers 2` (topics through
 * the primary): a worker SIGKILLed between steps (its clients come back with `since`; the primary
 * starts another).
 */
import { describeChaosOnWorkers } from './chaos-support.js';

describeChaosOnWorkers({ seeds: [1, 2], steps: 30, rate: 0.3 });
