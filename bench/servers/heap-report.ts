/**
 * Loaded with `--expose-gc --import` into a server by the idle cell: on SIGUSR2, prints the JS heap
 * in use before and after a full GC (retained bytes per connection told from garbage), and the
 * memory of Buffers (ArrayBuffer backing stores, outside the JS heap).
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const before = process.memoryUsage();
  gc?.();
  gc?.();
  const after = process.memoryUsage();
  console.log(
    `heap ${after.heapUsed} before ${before.heapUsed} total ${before.heapTotal} buffers ${before.arrayBuffers} buffers-after ${after.arrayBuffers}`,
  );
});
