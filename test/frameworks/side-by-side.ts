/**
 * The engines' suites of a framework test, run side by side: each engine's suite has its own servers and child
 * processes, and spends most of its time waiting on the framework's own timers (heartbeats, reconnection delays,
 * timeouts), so the two overlap instead of adding up. Within one engine's suite, tests still run one at a time.
 */
import { describe } from 'node:test';

/** Declares the suite `${what} on ${engine.name}` with `body(engine)` for each engine; the engines' suites run at once. */
export function describeEachEngine<E extends { name: string }>(
  engines: readonly E[],
  what: string,
  body: (engine: E) => void,
): void {
  describe(`${what} on each engine, side by side`, { concurrency: true }, () => {
    for (const engine of engines) describe(`${what} on ${engine.name}`, { concurrency: 1 }, () => body(engine));
  });
}
