/**
 * Reconnection attempts on the clock's multiples (`reconnectDelay`, `keepConnecting` in
 * src/pubsub/broker-support.ts): processes that lost their broker server a few milliseconds apart
 * try again at the same instants, so a server that comes back brings them all back at once. Before,
 * each waited 50 ms doubling from its own loss: a Redis restarted between two processes' attempts
 * had one back 200 ms after the other, whose publishers meanwhile published more than history held,
 * lost to the late one's subscribers (test/pubsub/independent-redis.test.ts, "while publishers keep
 * publishing", failed 1 run in 10 on an idle machine). The clock is node:test's mock: the instants
 * are exact, whatever the machine's load.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keepConnecting, reconnectDelay } from '../../src/pubsub/broker-support.js';

/** A moment on no multiple of any wait, from which the processes below lose their server. */
const T0 = 1_700_000_000_123;
/** The longest wait (RedisBroker's `reconnectMaxDelayMs` default). */
const MAX = 1000;
/** When the server is up again: after several doublings, between two processes' losses' old schedules. */
const UP = T0 + 2_345;

describe('reconnection attempts on the clock’s multiples', () => {
  it('keepConnecting: processes that lost the server at different moments connect at the same instant', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const losses = [0, 7, 38, 161]; // ms after T0: each process noticed the loss at its own moment
    const attempts: number[][] = losses.map(() => []);
    const connected: (number | undefined)[] = losses.map(() => undefined);
    const stops: (() => void)[] = [];
    for (let now = T0; now <= UP + 2 * MAX; now++) {
      losses.forEach((loss, i) => {
        if (now !== T0 + loss) return;
        stops[i] = keepConnecting(async () => {
          attempts[i]!.push(Date.now());
          if (Date.now() < UP) return false;
          connected[i] = Date.now();
          return true;
        }, MAX);
      });
      t.mock.timers.tick(1);
      // (each attempt's promise settles, and the next wait is set, before the clock moves on)
      for (let k = 0; k < 4; k++) await Promise.resolve();
    }
    for (const stop of stops) stop();
    assert.ok(connected[0] !== undefined && connected[0] >= UP, `connected at ${connected[0]}`);
    assert.deepEqual(
      connected.map((at) => (at ?? Number.NaN) - T0),
      losses.map(() => connected[0]! - T0),
      'every process connected at the same instant',
    );
    for (const [i, list] of attempts.entries()) {
      assert.ok(list.length >= 5, `process ${i} made ${list.length} attempts`);
      for (const at of list)
        assert.equal(at % 50, 0, `process ${i} tried at ${at - T0} ms, off the clock's multiples of 50 ms`);
    }
  });

  it('reconnectDelay (RedisBroker’s node-redis reconnectStrategy): the same attempts from every loss', () => {
    /** The instants node-redis tries at after a loss at `loss`: at once, then after each reconnectDelay. */
    const schedule = (loss: number, until: number): number[] => {
      const at = [loss];
      while (at.at(-1)! < until) at.push(at.at(-1)! + reconnectDelay(at.at(-1)! - loss, MAX, at.at(-1)!));
      return at;
    };
    // Losses noticed a few ms apart, some on either side of a multiple of 50 ms (T0 + 27); the
    // server back at any moment, early (one step of 50 or 100 ms) or late (steps of 1 s).
    const losses = [T0, T0 + 3, T0 + 26, T0 + 28, T0 + 31];
    for (let up = T0 + 32; up < T0 + 5_000; up += 7) {
      const back = losses.map((loss) => schedule(loss, up + 2 * MAX).find((x) => x >= up)! - T0);
      assert.deepEqual(
        back,
        losses.map(() => back[0]),
        `the server back at T0 + ${up - T0} ms`,
      );
    }
    for (const loss of losses) {
      const at = schedule(loss, T0 + 10_000);
      // Each wait is positive and at most the time already waited (or 50 ms), at most MAX.
      for (let k = 1; k < at.length; k++) {
        const wait = at[k]! - at[k - 1]!;
        assert.ok(wait > 0 && wait <= Math.min(Math.max(50, 2 * (at[k - 1]! - loss)), MAX), `wait ${k}: ${wait} ms`);
      }
      assert.equal(at.at(-1)! - at.at(-2)!, MAX, 'the longest wait is MAX');
    }
    // A cap that is no multiple of 50 is kept to as well.
    assert.equal(reconnectDelay(60_000, MAX, 5_000), 1000);
    assert.equal(reconnectDelay(60_000, MAX, 5_001), 999);
    assert.equal(reconnectDelay(0, 30, 5_011), 29);
  });
});
