/**
 * Preloaded (`--import`) by signals.test.ts into `serve --workers N`: the primary sends itself the
 * signal named in WS_STREAM_TEST_SIGNAL as soon as its first worker is forked, before the others
 * are (a Ctrl-C at that moment), and prints the pid of each worker it forks (`forked PID`).
 */
import cluster from 'node:cluster';

const signal = process.env.WS_STREAM_TEST_SIGNAL as NodeJS.Signals | undefined;
if (cluster.isPrimary && signal) {
  const fork = cluster.fork.bind(cluster);
  let forked = 0;
  cluster.fork = (env) => {
    const worker = fork(env);
    console.error(`forked ${worker.process.pid}`);
    if (++forked === 1) process.kill(process.pid, signal);
    return worker;
  };
}
