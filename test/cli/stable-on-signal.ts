/**
 * Preloaded (`--import`) by serve-workers.test.ts into `serve --workers N`: the primary's stability
 * windows (STABLE_MS in workers.ts, its only 10 s timer) pass when the test says, not after 10 s:
 * each such timer is held, never armed, and SIGUSR2 runs those still pending, then prints
 * `stable-hook: windows passed: N` on stderr. The primary also prints `stable-hook: worker ID
 * listened` as each worker listens (node:cluster tells the worker's own listeners, workers.ts's, first).
 */
import cluster from 'node:cluster';

const STABLE_MS = 10_000;

if (cluster.isPrimary) {
  const held = new Map<object, () => void>();
  const setTimeoutReal = globalThis.setTimeout;
  const clearTimeoutReal = globalThis.clearTimeout;
  globalThis.setTimeout = ((callback: () => void, ms?: number, ...args: unknown[]) => {
    if (ms !== STABLE_MS) return setTimeoutReal(callback, ms, ...args);
    const handle = { unref: () => handle, ref: () => handle, hasRef: () => false };
    held.set(handle, callback);
    return handle;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((handle: unknown) => {
    if (typeof handle === 'object' && handle !== null && held.delete(handle)) return;
    clearTimeoutReal(handle as NodeJS.Timeout);
  }) as typeof clearTimeout;
  process.on('SIGUSR2', () => {
    const callbacks = [...held.values()];
    held.clear();
    for (const callback of callbacks) callback();
    console.error(`stable-hook: windows passed: ${callbacks.length}`);
  });
  cluster.on('listening', (w) => console.error(`stable-hook: worker ${w.id} listened`));
}
