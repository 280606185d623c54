/**
 * Preloaded (`--import`) by signals.test.ts into `serve` (one process): as soon as the process has
 * written the line with its URL, it sends itself the signal named in WS_STREAM_TEST_SIGNAL, as a
 * script that waits for that line and then stops the server does (its signal can arrive before the
 * process runs one more line of its own).
 */
const signal = process.env.WS_STREAM_TEST_SIGNAL as NodeJS.Signals | undefined;
if (signal) {
  const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: unknown[]) => boolean;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    const written = write(chunk, ...rest);
    if (String(chunk).includes(' listening on ')) process.kill(process.pid, signal);
    return written;
  }) as typeof process.stdout.write;
}
