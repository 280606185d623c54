/**
 * Preloaded (`--import`) by workers-start.test.ts: every cluster worker exits with code 5 at once,
 * before it serves, without a word (a worker that dies without saying why).
 */
import cluster from 'node:cluster';

if (cluster.isWorker) process.exit(5);
