/** How a CLI server process stops: on SIGINT or SIGTERM, its connections closed with 1001. */

/** Past this, a shutdown still waiting on connections is cut short by exiting anyway. */
const SHUTDOWN_GRACE_MS = 3000;

/**
 * Stops `running` on the first SIGINT or SIGTERM: closes it, then exits 0 (1 if closing failed),
 * or 0 anyway after SHUTDOWN_GRACE_MS. `announce` prints "shutting down" first. Returns the stop
 * function, for other reasons to stop (it acts once, whoever calls it). Later signals are ignored
 * rather than left to kill the process: a terminal's Ctrl-C reaches a cluster worker together
 * with its primary's SIGTERM, and the grace period bounds the wait anyway.
 */
export function stopOnSignals(running: { shutdown(): Promise<void> }, announce: boolean): () => void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (announce) console.log('shutting down');
    // Armed first: the grace counts from the signal, also the time shutdown() itself takes before it returns.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
    running.shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return stop;
}
