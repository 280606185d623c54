/**
 * `--workers N` for both `serve` modes: a node:cluster primary that forks N workers on one port,
 * and the life of a process that serves (a worker, or the only process). Each mode gives what it
 * serves; the rest (scheduling, replacing workers, stopping on signals) is here, once.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { stopOnSignals } from './shutdown.js';

export interface WorkersOptions {
  host: string;
  /** Worker processes to run (more than 1 here). */
  workers: number;
  /** `wss` when the workers serve TLS; default `ws`. */
  scheme?: 'ws' | 'wss';
  /** Environment variables added for every worker (e.g. the one certificate they all serve). */
  env?: Record<string, string>;
}

/** A server a process runs until it stops. */
export interface Running {
  url: string;
  shutdown(): Promise<void>;
}

/**
 * A worker that failed to start, or exited less than STABLE_MS after it listened, is forked again
 * after REFORK_MIN_MS, doubling at each such exit up to REFORK_MAX_MS; the delay starts again from
 * REFORK_MIN_MS once a worker has stayed up STABLE_MS (a crash loop never forks without pause).
 */
const REFORK_MIN_MS = 1000;
const REFORK_MAX_MS = 30_000;
const STABLE_MS = 10_000;
/**
 * The primary's wait for its workers to close their connections (each bounds its own shutdown at
 * 3 s); one still there after it is stuck, and killed: no worker outlives its primary (it would
 * hold the port). The primary then waits KILLED_WAIT_MS at most for their exits, and exits.
 */
const PRIMARY_GRACE_MS = 5000;
const KILLED_WAIT_MS = 1000;

/** The key of the message in which a worker tells its primary why it could not start. */
const START_FAILED = 'wsStreamStartFailed';

/**
 * Ends a process that could not start (exit 1). A cluster worker does not print why: it tells its
 * primary, which prints it once for all its workers (each would print the same refusal) instead of
 * its own "exited before it listened" line.
 */
export function exitNotStarted(reason: string): void {
  if (cluster.isWorker && process.connected) {
    process.send!({ [START_FAILED]: reason }, (err: Error | null) => {
      if (err) console.error(`ws-stream: ${reason}`); // (the primary is gone: nobody else will say it)
      process.exit(1);
    });
    return;
  }
  console.error(`ws-stream: ${reason}`);
  process.exit(1);
}

/** The reason in a worker's message, if it is the one exitNotStarted sends. */
function startFailure(message: unknown): string | undefined {
  const reason = (message as Record<string, unknown> | null)?.[START_FAILED];
  return typeof reason === 'string' ? reason : undefined;
}

/** Headers of the 101 response naming the worker that accepted the connection (none outside a cluster). */
export function workerHeaders(): Record<string, string> | undefined {
  return cluster.isWorker ? { 'X-Ws-Stream-Worker': String(cluster.worker!.id) } : undefined;
}

/**
 * The cluster primary: forks the workers (each runs the same command and serves), and prints the
 * URL once all of them listen. A worker that exits is replaced (its clients' TCP connections are
 * gone with it; the others' are untouched). One that exits before it ever listened could not
 * start (its error is on stderr): at start-up that stops everything with exit code 1; later, its
 * replacement is tried again after a pause, as is one that exited soon after it listened: never a
 * tight loop. SIGINT/SIGTERM: every worker is sent SIGTERM (each closes its connections with
 * 1001; one still there after PRIMARY_GRACE_MS is killed), then the primary exits 0, after
 * `onExit` (what the primary itself serves the workers, the pub/sub topics say).
 */
export function runPrimary(opts: WorkersOptions, label: string, onExit?: () => void): number {
  // (See worker-preload.cts: a worker must survive its primary dying as it is forked.)
  const preload = fileURLToPath(new URL('./worker-preload.cjs', import.meta.url));
  // Each worker accepts its own connections. With node:cluster's round robin, the primary accepts
  // and hands each socket to a worker over IPC: a worker out of descriptors cannot take one, never
  // answers, and the primary then keeps every later connection queued forever. A worker that
  // accepts itself meets EMFILE in its own accept, which libuv survives (the connection is refused).
  // The price: libuv then accepts and closes every connection waiting on the shared socket, so while
  // one worker is at its limit it refuses some that another worker has room for (measured: 2 workers
  // at `ulimit -n 64`, one full, the other empty: about 2 new connections in 3 refused). Node gives
  // a worker no way to stop accepting for a while short of closing its listening socket.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ execArgv: [...process.execArgv, '--require', preload] });
  const listened = new Set<number>();
  /** Why workers that could not start said they could not (exitNotStarted), by worker id. */
  const reasons = new Map<number, string>();
  let started = false;
  let stopping = false;
  let exitCode = 0;
  let failedStarts = 0;
  /** Workers that listened, until they have stayed up STABLE_MS (then they are not short-lived). */
  const settling = new Map<number, NodeJS.Timeout>();
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const finish = (): void => {
    onExit?.();
    process.exit(exitCode);
  };
  const fork = (): void => {
    if (stopping) return;
    const w = cluster.fork(opts.env);
    w.on('message', (message: unknown) => {
      const reason = startFailure(message);
      if (reason !== undefined) reasons.set(w.id, reason);
    });
    // A fork that could not spawn (the primary out of descriptors or processes: EMFILE, ENFILE,
    // EAGAIN) never runs and never exits: node:cluster tells it only by an 'error' on the worker
    // (unheard, it would end the primary, and every worker with it) and keeps it in cluster.workers.
    // It is a worker that could not start: tried again after a pause, or at start-up, exit 1.
    w.on('error', (err: Error) => {
      if (w.process.pid !== undefined) return; // a worker that runs (a failed kill): its exit tells the rest
      delete cluster.workers![w.id];
      reasons.set(w.id, `fork failed: ${err.message}`);
      exited(w, 'not spawned');
    });
    w.once('listening', (address) => {
      listened.add(w.id);
      const settled = (): void => {
        settling.delete(w.id);
        failedStarts = 0;
      };
      settling.set(w.id, setTimeout(settled, STABLE_MS).unref());
      if (!started && listened.size === opts.workers) {
        started = true;
        console.log(
          `${label} listening on ${opts.scheme ?? 'ws'}://${host}:${address.port}/ (${opts.workers} workers)`,
        );
      }
    });
  };
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    if (code === 0) console.log('shutting down');
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) return finish();
    for (const w of workers) w?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      setTimeout(finish, KILLED_WAIT_MS).unref(); // (their exits call finish before, as a rule)
    }, PRIMARY_GRACE_MS).unref();
  };
  const forkLater = (why: string): void => {
    const delay = Math.min(REFORK_MAX_MS, REFORK_MIN_MS * 2 ** failedStarts++);
    // (printed with --quiet too: that hides lines per handshake and per broker outage, not a worker lost)
    console.error(`${why}; another in ${delay} ms`);
    setTimeout(fork, delay);
  };
  /**
   * A worker gone (its process exited, its IPC channel closed: it is out of cluster.workers, and
   * every message it sent has been read, its reason for not starting included).
   */
  const exited = (w: Worker, how: string): void => {
    const shortLived = settling.has(w.id);
    clearTimeout(settling.get(w.id));
    settling.delete(w.id);
    const reason = reasons.get(w.id);
    reasons.delete(w.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) finish();
      return;
    }
    if (!listened.delete(w.id)) {
      if (!started) {
        // The worker's reason (a broker's refusal, the port taken) is the one line; each worker
        // would have the same. A worker that died without one: this line says that much.
        console.error(`ws-stream: ${reason ?? `worker ${w.id} exited (${how}) before it listened: stopping`}`);
        return stop(1);
      }
      return forkLater(
        reason === undefined
          ? `worker ${w.id} exited (${how}) before it listened`
          : `worker ${w.id} could not start (${reason})`,
      );
    }
    if (shortLived) return forkLater(`worker ${w.id} exited (${how}) soon after it listened`);
    console.error(`worker ${w.id} exited (${how}); starting another`);
    fork();
  };
  cluster.on('exit', (w, code, signal) => {
    const how = signal ?? `code ${code}`;
    // The exit and the channel's end come by different ways: either may be seen first.
    if (w.isConnected()) w.once('disconnect', () => exited(w, how));
    else exited(w, how);
  });
  // Heard before the first fork: a signal while the others are forked (each fork takes a while)
  // would otherwise kill the primary at once, its workers left to find it gone.
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  for (let i = 0; i < opts.workers; i++) fork();
  return -1;
}

/**
 * A process that serves, a cluster worker or the only process: `start()`s the server, prints its
 * URL (the primary prints it for its workers), and stops on SIGINT/SIGTERM (every connection
 * closed with 1001, then exit 0). A worker also stops when its primary is gone.
 */
export async function runServer(start: () => Promise<Running>, label: string): Promise<number> {
  /** What a worker does if its primary is gone while it starts: exit quietly (nothing to serve for). */
  const exitWhileStarting = (): never => process.exit(0);
  if (cluster.isWorker) {
    // node:cluster ends a worker at once (process.exit) when its primary is gone, before any
    // listener of ours runs: its clients would see their connections cut (1006). Its listener
    // (the one there now: nothing of ours adds one before) goes; the worker then stops as on
    // SIGTERM (below): close 1001 to every client, then exit.
    for (const listener of process.listeners('disconnect')) process.off('disconnect', listener);
    // A primary gone while this worker starts: its messages to it fail (EPIPE, an 'error' on
    // cluster.worker, which would crash it), and it has nothing to serve for: it exits quietly.
    cluster.worker!.on('error', () => {});
    if (!process.connected) process.exit(0);
    process.once('disconnect', exitWhileStarting);
  }
  const running = await start();
  // Signals heard before the URL is printed: whoever waits for that line to stop the server may
  // signal at once, before this process runs another line (unheard, a SIGINT would kill it).
  const stop = stopOnSignals(running, !cluster.isWorker);
  if (!cluster.isWorker) console.log(`${label} listening on ${running.url}`);
  if (cluster.isWorker) {
    // From now on, the primary gone means: stop as on SIGTERM (close 1001 to every client). Only
    // our own listener goes: those `start()` added stay (the cluster broker's tells its topics at
    // once that the primary is gone, rather than at the shutdown).
    process.off('disconnect', exitWhileStarting);
    if (process.connected) process.once('disconnect', stop);
    else stop();
  }
  return -1;
}
