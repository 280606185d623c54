/**
 * The chaos check (test/pubsub/chaos-support.ts) on `serve --pubsub --workers 2`, with topics
 * through the primary and on one Redis: a worker SIGKILLed between steps (its clients come back
 * with `since`; the primary starts another), and Redis restarted (a new epoch).
 */
import { describeChaosOnWorkers } from './chaos-support.js';

describeChaosOnWorkers({ seeds: [1, 2], steps: 30, rate: 0.3 });
describeChaosOnWorkers({ seeds: [1, 2], steps: 30, rate: 0.3 }, 'redis');
