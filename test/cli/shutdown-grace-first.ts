/**
 * Run by signals.test.ts as a child process: stopOnSignals with a server whose shutdown() spends its time
 * before it returns (as closing thousands of streams did, synchronously). Timers are node's mock timers:
 * shutdown() moves the clock by the grace period, then exits 7. The grace timer, armed at the signal,
 * fires within that and exits 0 first; armed only after shutdown() returned, it would not have.
 */
import { mock } from 'node:test';
import { stopOnSignals } from '../../src/cli/shutdown.js';

mock.timers.enable({ apis: ['setTimeout'] });
stopOnSignals(
  {
    shutdown() {
      mock.timers.tick(3000);
      process.exit(7);
    },
  },
  false,
);
process.stdin.resume(); // alive until the signal
console.log('ready');
