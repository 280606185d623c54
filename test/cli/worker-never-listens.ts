/**
 * Preloaded (`--import`) by workers-start.test.ts: cluster worker 2 never listens (its server's
 * listen() does nothing), a worker stuck in its start; the others start as usual.
 */
import cluster from 'node:cluster';
import net from 'node:net';

if (cluster.isWorker && cluster.worker!.id === 2) {
  net.Server.prototype.listen = function (this: net.Server) {
    return this;
  } as typeof net.Server.prototype.listen;
}
