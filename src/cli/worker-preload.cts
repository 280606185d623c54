/**
 * Loaded (`--require`) into each `serve --workers N` worker (echo and pub/sub alike) before anything else runs: a
 * primary that dies just as it forks a worker makes node:cluster's first message to it ('online')
 * fail (EPIPE), an 'error' on `cluster.worker` emitted before any module of the worker is
 * evaluated, which would crash it with a stack trace. Heard here, the worker goes on and exits
 * quietly once it sees the primary gone (runServer, workers.ts).
 */
import type { Cluster } from 'node:cluster';

const cluster = require('node:cluster') as Cluster;
cluster.worker?.on('error', () => {});
