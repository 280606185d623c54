/**
 * Preloaded (`--import`) by workers-start.test.ts: cluster workers after the first two cannot
 * listen (their server emits an error of its own instead), a worker forked later that could not
 * start and says why.
 */
import cluster from 'node:cluster';
import net from 'node:net';

if (cluster.isWorker && cluster.worker!.id > 2) {
  net.Server.prototype.listen = function (this: net.Server) {
    process.nextTick(() => this.emit('error', new Error(`no listening for worker ${cluster.worker!.id}`)));
    return this;
  } as typeof net.Server.prototype.listen;
}
