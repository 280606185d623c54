/**
 * Reconnection attempts on the clock's multiples (`reconnectDelay`, `keepConnecting` in
 * src/pubsub/broker-support.ts): processes that lost their broker server a few milliseconds apart
 * try again at the same instants, so a server that comes back brings them all back at once. Before,
 * each waited 50 ms doubling from its own loss: a Redis restarted between two processes' attempts
 * had one back 200 ms after the other, whose publishers meanwhile published more than history held,
 * lost to the late one's subscribers (test/pubsub/independent-redis.test.ts, "while publishers keep
 * publishing", failed 1 run in 10 on an idle machine). NatsBroker's are the NATS client's own, told
 * by the broker when to make each one (its `reconnectToServer` and `reconnectDelayHandler`): they are
 * seen as the client makes them, against a real nats-server killed and started again. The clock is
 * node:test's mock: the instants are exact, whatever the machine's load.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { keepConnecting, reconnectDelay, retryPause } from '../../src/pubsub/broker-support.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';

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

  it('keepConnecting: an attempt that fails (rejects) is tried again, as one that answers false', async (t) => {
    // (No `apis`: every timer API and Date are mocked.)
    t.mock.timers.enable({ now: T0 } as Parameters<typeof t.mock.timers.enable>[0]);
    const answers: ('throw' | boolean)[] = ['throw', false, 'throw', true];
    let made = 0;
    const stop = keepConnecting(async () => {
      const answer = answers[made++]!;
      if (answer === 'throw') throw new Error('connection refused');
      return answer;
    }, MAX);
    t.after(stop);
    for (let ms = 0; ms < 10 * MAX && made < answers.length; ms++) {
      t.mock.timers.tick(1);
      for (let k = 0; k < 4; k++) await Promise.resolve();
    }
    assert.equal(made, answers.length);
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
    // The step doubles once the time waited reaches it: 100 ms after the loss the step is 100 ms.
    assert.equal(reconnectDelay(99, MAX, 5_000), 50);
    assert.equal(reconnectDelay(100, MAX, 5_000), 100);
    // A cap that is no multiple of 50 is kept to as well.
    assert.equal(reconnectDelay(60_000, MAX, 5_000), 1000);
    assert.equal(reconnectDelay(60_000, MAX, 5_001), 999);
    assert.equal(reconnectDelay(0, 30, 5_011), 29);
  });

  it('retryPause: 50 ms doubling up to its max, a max past 51.2 s too (RedisBroker’s reconnectMaxDelayMs)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    // The pause of the 12th try (attempt 11): 50 × 2¹¹ = 102,400 ms under a max of 120,000; the 13th's is the max.
    for (const [attempt, ms] of [
      [11, 102_400],
      [12, 120_000],
    ] as const) {
      let over = false;
      const pause = retryPause(attempt, 120_000).then(() => {
        over = true;
      });
      t.mock.timers.tick(ms - 1);
      await Promise.resolve();
      assert.equal(over, false, `attempt ${attempt}: still waiting 1 ms before ${ms} ms`);
      t.mock.timers.tick(1);
      await pause;
      assert.equal(over, true, `attempt ${attempt}: over at ${ms} ms`);
    }
  });
});

/**
 * Lets every TCP connection this process opened settle (refused, or connected) and whatever runs
 * after (the NATS client arms its next wait then), before the mocked clock moves: no time passes
 * while they do, so each attempt's instant is the one its wait ended at. A client that keeps
 * trying within one instant (a wait of 0) fails here instead of spinning forever.
 */
async function settled(sockets: readonly Socket[], instants: readonly number[]): Promise<void> {
  for (let seen = -1; seen !== sockets.length; ) {
    seen = sockets.length;
    // (setImmediate is not mocked: it runs after the I/O events and the promise jobs they start.)
    await new Promise((resolve) => setImmediate(resolve));
    while (sockets.some((s) => s.connecting && !s.closed)) await new Promise((resolve) => setImmediate(resolve));
    const now = instants.filter((at) => at === Date.now()).length;
    assert.ok(now <= 2, `${now} connections at one instant: the client tries in a loop without waiting`);
  }
}

/**
 * The instants (the mocked clock, still at `t0` from the broker's connection to the server's loss)
 * at which a NatsBroker with `reconnectTimeWaitMs: period` (and `connectOptions`) opens a connection
 * to its server while it is down (the client's attempts, and the broker's own look at the server
 * beside each one after the first), up to the attempt that finds it up again (started at `upAt`, on
 * no multiple), and whether the broker is back.
 */
async function reconnectionInstants(
  t: TestContext,
  period: number,
  upAt: (t0: number) => number,
  connectOptions: Record<string, unknown> = {},
): Promise<{ t0: number; instants: number[]; back: boolean }> {
  const server = await BrokerProcess.nats({ jetstream: false });
  // (No keep-alive, no timeout: neither comes into the instants.)
  const broker = new NatsBroker({
    url: server.url,
    reconnectTimeWaitMs: period,
    pingIntervalMs: 600_000,
    commandTimeoutMs: 600_000,
    connectOptions,
  });
  const events = new BrokerRecorder();
  const sockets: Socket[] = [];
  const instants: number[] = [];
  const onSocket = (message: unknown): void => {
    sockets.push((message as { socket: Socket }).socket);
    instants.push(Date.now());
  };
  // Every timer of the broker and its client is the mock's from the start (one made before would
  // outlive the test: the mock's clearTimeout does not clear it), from `t0`, on no multiple of the
  // waits tested.
  const t0 = 1_700_000_000_037;
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: t0 });
  const up = upAt(t0);
  try {
    await broker.open(events, history);
    subscribe('net.client.socket', onSocket);
    try {
      await server.kill();
      await events.available(false);
      for (;;) {
        await settled(sockets, instants);
        // An attempt got through: the clock stays while the client and the broker take the
        // connection (real I/O, no timer), so that a slow handshake is not taken for no attempt.
        if (Date.now() > up && sockets.some((s) => !s.connecting && !s.closed)) {
          await events.available(true);
          break;
        }
        if (Date.now() > up + 4 * period) break;
        if (Date.now() === up) await server.start();
        t.mock.timers.tick(1);
      }
    } finally {
      unsubscribe('net.client.socket', onSocket);
    }
    return { t0, instants, back: events.availability.at(-1) === true };
  } finally {
    await broker.close();
    await server.stop();
    t.mock.timers.reset();
  }
}

/** The first multiple of `period` after `at`. */
const multipleAfter = (period: number, at: number): number => (Math.floor(at / period) + 1) * period;

/** `from`, `from + step`, … up to the first one past `upAt`. */
function every(step: number, from: number, upAt: number): number[] {
  const at = [from];
  while (at.at(-1)! < upAt) at.push(at.at(-1)! + step);
  return at;
}

describe('NatsBroker: reconnection attempts on the clock’s multiples of reconnectTimeWaitMs', () => {
  const P = 100;
  const upAt = (t0: number): number => t0 + 4 * P + 50;

  it('every attempt on a multiple, one each multiple, from the first after the loss; back at the first after the server', async (t) => {
    const { t0, instants, back } = await reconnectionInstants(t, P, upAt);
    // (Each attempt after the first is paired with the broker's own look at the server, at its instant.)
    assert.deepEqual([...new Set(instants)], every(P, multipleAfter(P, t0), upAt(t0)), 'the instants tried');
    assert.ok(back, 'the broker is back');
  });

  it('the client’s reconnectTimeWait and random jitter in connectOptions change nothing', async (t) => {
    const jittery = { reconnectTimeWait: 30, reconnectJitter: 1000, reconnectJitterTLS: 1000 };
    const { t0, instants, back } = await reconnectionInstants(t, P, upAt, jittery);
    assert.deepEqual([...new Set(instants)], every(P, multipleAfter(P, t0), upAt(t0)), 'the instants tried');
    assert.ok(back, 'the broker is back');
  });

  it('a reconnectDelayHandler in connectOptions: its wait at least between attempts, each still on a multiple', async (t) => {
    const { t0, instants, back } = await reconnectionInstants(t, P, upAt, { reconnectDelayHandler: () => 1.5 * P });
    // (Counted from the last attempt, the first from the broker's connection, made at t0.)
    const expected = every(2 * P, multipleAfter(P, t0 + 1.5 * P), upAt(t0));
    assert.deepEqual([...new Set(instants)], expected, 'the instants tried');
    assert.ok(back, 'the broker is back');
  });
});
