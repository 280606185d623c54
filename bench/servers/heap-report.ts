/**
 * Loaded with `--expose-gc --import` into a server by the idle cell and the load tests: on SIGUSR2,
 * prints the JS heap in use before and after a full GC (retained bytes per connection told from
 * garbage), and the memory of Buffers (ArrayBuffer backing stores, outside the JS heap).
 */

/** One turn of the event loop. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

process.on('SIGUSR2', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const before = process.memoryUsage();
  gc?.();
  // What a GC frees in native objects (a closed TLS socket's wraps) lets go of JS objects only on a
  // later turn of the loop: without these turns, one reading in four after 150 TLS connections
  // closed still held all of them (~740 KB), and the next reading did not.
  await turn();
  await turn();
  gc?.();
  const after = process.memoryUsage();
  console.log(
    `heap ${after.heapUsed} before ${before.heapUsed} total ${before.heapTotal} buffers ${before.arrayBuffers} buffers-after ${after.arrayBuffers}`,
  );
});
