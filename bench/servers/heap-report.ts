/**
 * Loaded with `--expose-gc --import` into a server by the idle cell: on SIGUSR2, collects garbage
 * and prints the JS heap in use, so that retained bytes per connection can be told from garbage.
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  console.log(`heap ${process.memoryUsage().heapUsed}`);
});
