/**
 * Preloaded (`--import`) by serve-workers.test.ts: a cluster worker exits with code 3 as soon as
 * its server listens, a worker that crashes at once every time. Its exit waits for a message of its
 * own to be sent, so that node:cluster's 'listening' before it has reached the primary.
 */
import cluster from 'node:cluster';
import net from 'node:net';

if (cluster.isWorker) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    this.once('listening', () => process.send!('crashing', () => process.exit(3)));
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
}
