/**
 * One shared ticker for the timeouts of every stream (handshake, idle, keep-alive), instead of a
 * timer per connection: at 10,000 connections a timer each costs memory and wakeups. Streams with
 * a deadline are watched; the ticker runs at a quarter of the shortest timeout among them (at
 * least every 5 ms, at most every second) and is unref'd, so it never keeps a process alive.
 */

// Imported, not the global: node's global `performance` is a getter, run on every use.
import { performance } from 'node:perf_hooks';

export interface Ticking {
  /** Checks its deadlines against `now` (`performance.now()`: monotonic, so a change of the wall clock moves none). */
  tick(now: number): void;
}

const watched = new Set<Ticking>();
let ticker: NodeJS.Timeout | null = null;
let period = 1000;

function tick(): void {
  if (watched.size === 0) {
    // Stopped here rather than in unwatch: a server between two handshakes would otherwise
    // stop and restart the ticker once per connection.
    clearInterval(ticker!);
    ticker = null;
    period = 1000;
    return;
  }
  const now = performance.now();
  for (const s of watched) s.tick(now);
}

/** Watches `s` with a timeout of `timeoutMs` (which sets how fine the ticker must be). */
export function watch(s: Ticking, timeoutMs: number): void {
  watched.add(s);
  const want = Math.max(5, Math.min(1000, Math.floor(timeoutMs / 4)));
  if (ticker === null || want < period) {
    if (ticker !== null) clearInterval(ticker);
    period = want;
    ticker = setInterval(tick, period);
    ticker.unref();
  }
}

export function unwatch(s: Ticking): void {
  watched.delete(s);
}
