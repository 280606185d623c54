/**
 * The chaos check (test/pubsub/chaos-support.ts) on `serve --pubsub --workers 2` (topics through
 * the primary): a worker SIGKILLed between steps (its clients come back with `since`; the primary
 * starts another).
 */
import { describeChaosOnWorkers } from './chaos-support.js';

describeChaosOnWorkers([1, 2], 30);
