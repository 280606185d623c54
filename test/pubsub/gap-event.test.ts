/**
 * Live delivery on a topic that skips offsets is never silent: `PubSub` emits 'gap'
 * `{ topic, epoch, from, to }` once per topic and gap (not once per subscriber), before the message
 * after it reaches a subscriber. Before, the subscribers' next offset jumped and nothing else told
 * the application. And the hold's byte bound is a broker option (`maxHeldBytes`): a topic whose
 * history is small keeps in memory what a read makes it hold, rather than dropping it for history
 * to give back (which it no longer could). Real redis-server and nats-server, a TCP proxy in front
 * of the subscribing process's broker; two real WebSocket subscribers count what they receive.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { WebSocketError } from '../../src/errors.js';
import type { Broker, HistoryOptions } from '../../src/pubsub/broker.js';
import { MAX_HELD, MAX_HELD_BYTES, unavailable } from '../../src/pubsub/broker-support.js';
import { type GapEvent, NatsBroker, PubSub, RedisBroker } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder, natsStreamOf } from '../support/brokers.js';
import { type GatedBroker, gatedPubSub } from './gated-broker.js';
import { cutAndHoldRead } from './held-read-support.js';
import { serverFor, turnEnd } from './pubsub-support.js';

/** What the PubSub told: its 'gap' and 'availability' events, with a wait woken by each. */
class Told {
  readonly gaps: GapEvent[] = [];
  readonly availability: boolean[] = [];
  #waiters: (() => void)[] = [];

  constructor(ps: PubSub) {
    ps.on('gap', (e) => {
      this.gaps.push(e);
      this.#wake();
    });
    ps.on('availability', (a) => {
      this.availability.push(a);
      this.#wake();
    });
  }

  /** Waits until the last availability told is `available`. */
  available(available: boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.availability.at(-1) === available) resolve();
        else this.#waiters.push(check);
      };
      check();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** A PubSub with `history` on a GatedBroker (see `gatedPubSub`), its 'gap' events kept in `gaps`. */
async function gatedTelling(t: TestContext, history: HistoryOptions, wrap?: (broker: Broker) => Broker) {
  const gated = await gatedPubSub(t, { history }, wrap);
  const gaps: GapEvent[] = [];
  gated.ps.on('gap', (e) => gaps.push(e));
  return { ...gated, gaps };
}

/** `m<offset>`, padded at the front with dots to `size` bytes (so a message's bytes end with its name). */
const payload = (offset: number, size = 0): Buffer => Buffer.from(`m${offset}`.padStart(size, '.'));

/** The messages `client` receives up to the one named `m<last>`: their names (`m<offset>`), in order. */
async function readUntil(client: RawClient, last: number): Promise<string[]> {
  const names: string[] = [];
  for (;;) {
    const m = await client.nextMessage();
    assert.equal(m.opcode, 2, 'a binary message');
    const name = m.payload.toString('latin1', m.payload.lastIndexOf('m'.charCodeAt(0)));
    names.push(name);
    if (name === `m${last}`) return names;
  }
}

const names = (offsets: number[]): string[] => offsets.map((o) => `m${o}`);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

for (const kind of ['redis', 'nats'] as const) {
  const Broker = kind === 'redis' ? RedisBroker : NatsBroker;
  describe(`${Broker.name}: skipped offsets are told ('gap'); maxHeldBytes keeps what a small history would lose`, () => {
    const env = brokerBehindProxy(() => (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats()));

    /**
     * A PubSub whose broker reaches the server through the proxy (no keep-alive gets in the way:
     * the link is cut or held when the test says), with two WebSocket subscribers of `topic` that
     * have received `m1`; and a broker straight on the server to publish with.
     */
    async function setUp(
      t: TestContext,
      topic: string,
      history: HistoryOptions,
      maxHeldBytes?: number,
    ): Promise<{ ps: PubSub; told: Told; pub: Broker; clients: RawClient[]; epoch: string }> {
      const options = { url: env.proxy.url(kind), pingIntervalMs: 600_000, commandTimeoutMs: 600_000, maxHeldBytes };
      // (A backlog cap above what the tests publish: only the broker's hold decides what is lost.)
      const ps = new PubSub({
        broker: new Broker(options),
        history,
        slowSubscriber: { maxBytes: 64 * 1024 * 1024 },
      });
      const told = new Told(ps);
      const pub = new Broker({ url: env.server.url, pingIntervalMs: 600_000 });
      t.after(() => pub.close());
      const { pair } = await serverFor(t, ps);
      await pub.open(new BrokerRecorder(), history);
      const clients: RawClient[] = [];
      for (let i = 0; i < 2; i++) {
        const { client, ws } = await pair();
        clients.push(client);
        await ps.subscribe(ws, topic);
      }
      const { epoch } = await pub.publish(topic, payload(1), true);
      for (const c of clients) assert.deepEqual(await readUntil(c, 1), ['m1']);
      return { ps, told, pub, clients, epoch };
    }

    it('the link cut while 6 are published (history 3): one gap { from: 2, to: 4 } for the topic; both subscribers get 1, 5, 6, 7, 8', {
      timeout: 60_000,
    }, async (t) => {
      const topic = 'cut-over-history';
      const { told, pub, clients, epoch } = await setUp(t, topic, { size: 3, ttlSeconds: 0 });
      env.proxy.cut();
      await told.available(false);
      for (let offset = 2; offset <= 7; offset++) await pub.publish(topic, payload(offset), true);
      env.proxy.restore();
      await told.available(true);
      await pub.publish(topic, payload(8), true);
      for (const c of clients) assert.deepEqual(await readUntil(c, 8), names([5, 6, 7, 8]));
      assert.deepEqual(told.gaps, [{ topic, epoch, from: 2, to: 4, reason: 'not-in-history' }]);
    });

    it('a new epoch while the link is cut (history 3, 5 published in it): one gap { from: 1, to: 2 } of the new epoch; both get its 3, 4, 5', {
      timeout: 60_000,
    }, async (t) => {
      const topic = 'new-epoch-over-history';
      const history = { size: 3, ttlSeconds: 0 };
      const { ps, told, pub, clients, epoch } = await setUp(t, topic, history);
      const epochs: string[] = [];
      ps.on('epoch', (e) => epochs.push(`${e.offset} ${e.epoch}`));
      env.proxy.cut();
      await told.available(false);
      // The topic's history lost on the server: Redis emptied, the JetStream stream deleted.
      if (kind === 'redis') {
        await env.server.flushAll();
      } else {
        const admin = await natsConnect({ servers: env.server.url });
        try {
          await (await jetstreamManager(admin)).streams.delete(natsStreamOf(topic));
        } finally {
          await admin.close();
        }
      }
      let fresh = '';
      for (let offset = 1; offset <= 5; offset++) {
        const at = await pub.publish(topic, payload(offset + 100), true);
        assert.equal(at.offset, offset);
        fresh = at.epoch;
      }
      assert.notEqual(fresh, epoch, 'a new epoch');
      env.proxy.restore();
      await told.available(true);
      for (const c of clients) assert.deepEqual(await readUntil(c, 105), names([103, 104, 105]));
      assert.deepEqual(told.gaps, [{ topic, epoch: fresh, from: 1, to: 2, reason: 'not-in-history' }]);
      assert.deepEqual(epochs, [`2 ${fresh}`, `2 ${fresh}`], "each subscriber's 'epoch' names where it stands");
    });

    /**
     * Back after a lost link, the topic's read (Redis: its history after the position; NATS: the
     * stream's info) held at the proxy while `large` messages of `size` bytes come live: more than
     * MAX_HELD_BYTES. With history 3, what the topic drops of them is lost.
     */
    async function heldWhileLargeArrive(
      t: TestContext,
      topic: string,
      maxHeldBytes: number | undefined,
    ): Promise<{ told: Told; clients: RawClient[]; epoch: string; last: number }> {
      const size = kind === 'redis' ? 1024 * 1024 : 768 * 1024; // (NATS: under max_payload, 1 MiB, with the headers)
      const large = Math.floor(MAX_HELD_BYTES / size) + 2;
      assert.ok(large < MAX_HELD / 10, 'far fewer than the count a topic holds: the bytes decide');
      const last = large + 1;
      const { told, pub, clients, epoch } = await setUp(t, topic, { size: 3, ttlSeconds: 0 }, maxHeldBytes);
      const { held, live } = await cutAndHoldRead(env.proxy, kind, topic, () => told.available(false));
      for (let offset = 2; offset <= last; offset++) await pub.publish(topic, payload(offset, size), true);
      // Every one of them has reached the subscribing process.
      await env.proxy.until(() => live.serverText.endsWith(`m${last}\r\n`) || undefined);
      held.release();
      return { told, clients, epoch, last };
    }

    it('more live payload than maxHeldBytes (default, 4 MiB) comes while the topic waits for a read (history 3): dropped, the part history lost is one gap', {
      timeout: 120_000,
    }, async (t) => {
      const topic = 'held-default';
      const { told, clients, epoch, last } = await heldWhileLargeArrive(t, topic, undefined);
      for (const c of clients) assert.deepEqual(await readUntil(c, last), names(range(last - 2, last)));
      await told.available(true);
      assert.deepEqual(told.gaps, [{ topic, epoch, from: 2, to: last - 3, reason: 'not-in-history' }]);
    });

    it('the same with maxHeldBytes 16 MiB: every message held, delivered in order, no gap', {
      timeout: 120_000,
    }, async (t) => {
      const topic = 'held-more';
      const { told, clients, last } = await heldWhileLargeArrive(t, topic, 16 * 1024 * 1024);
      for (const c of clients) assert.deepEqual(await readUntil(c, last), names(range(2, last)));
      await told.available(true);
      assert.deepEqual(told.gaps, []);
    });

    it('maxHeldBytes that is not a whole number of bytes, at least 1, is ERR_WS_INVALID_ARGUMENT at once', () => {
      for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '4096', null, {}]) {
        assert.throws(
          () => new Broker({ url: env.proxy.url(kind), maxHeldBytes: bad as number }),
          (err: unknown) =>
            err instanceof WebSocketError &&
            err.code === 'ERR_WS_INVALID_ARGUMENT' &&
            err.message.includes(`${Broker.name}: maxHeldBytes must be a whole number of bytes, at least 1`),
          String(bad),
        );
      }
      // (Given as undefined, the default: as for every option.)
      assert.doesNotThrow(() => new Broker({ url: env.proxy.url(kind), maxHeldBytes: undefined }));
      assert.doesNotThrow(() => new Broker({ url: env.proxy.url(kind), maxHeldBytes: 1 }));
    });
  });
}

describe("'gap' with a Broker of one's own (a MemoryBroker behind a link the test cuts): PubSub tells it all the same", () => {
  it("history 3, 6 published while the link is down: one gap { from: 2, to: 7 }; a listener that throws is the application's uncaught error, and both subscribers still get 8", async (t) => {
    const topic = 'own-broker';
    const { gated, ps, pair } = await gatedPubSub(t, { history: { size: 3, ttlSeconds: 0 } });
    const clients: RawClient[] = [];
    for (let i = 0; i < 2; i++) {
      const { client, ws } = await pair();
      clients.push(client);
      await ps.subscribe(ws, topic);
    }
    const gaps: GapEvent[] = [];
    ps.on('gap', (e) => {
      gaps.push(e);
      throw new Error('listener bug');
    });
    const uncaught: unknown[] = [];
    process.setUncaughtExceptionCaptureCallback((err) => uncaught.push(err));
    t.after(() => process.setUncaughtExceptionCaptureCallback(null));
    const { epoch } = await ps.publish(topic, payload(1));
    for (const c of clients) assert.deepEqual(await readUntil(c, 1), ['m1']);

    gated.down();
    for (let offset = 2; offset <= 7; offset++) await gated.inner.publish(topic, payload(offset), true);
    gated.up();
    await ps.publish(topic, payload(8));
    // (PubSub's own catch-up asks `history` for the whole range after 1, which it no longer holds:
    // 5-7 go with it. A Redis or NATS broker reads what history still holds itself, see above.)
    for (const c of clients) assert.deepEqual(await readUntil(c, 8), ['m8']);
    assert.deepEqual(gaps, [{ topic, epoch, from: 2, to: 7, reason: 'not-in-history' }]);
    assert.deepEqual(
      uncaught.map((e) => (e as Error).message),
      ['listener bug'],
    );
  });
});

/**
 * The topic's catch-up read (PubSub's own, after the link came back) held at the gate while 8 waits
 * behind it, history 3 having lost 2–7; then what the test does before the read answers. Before,
 * the read's end told a gap whoever was left: after `close()` resolved, to a topic everyone had
 * left, and `{ from: 0 }` (no such offset) to a topic subscribed anew meanwhile.
 */
describe("'gap' when the topic changed while its catch-up read ran (a MemoryBroker behind a gate)", () => {
  const topic = 'changed-under-read';

  async function heldCatchUp(t: TestContext) {
    const { gated, ps, pair, gaps } = await gatedTelling(t, { size: 3, ttlSeconds: 0 });
    const a = await pair();
    await ps.subscribe(a.ws, topic);
    await ps.publish(topic, payload(1));
    assert.deepEqual(await readUntil(a.client, 1), ['m1']);
    gated.down();
    for (let offset = 2; offset <= 7; offset++) await gated.inner.publish(topic, payload(offset), true);
    const reading = gated.gate('history');
    gated.up();
    await reading;
    await gated.inner.publish(topic, payload(8), true); // (held behind the read)
    return { gated, ps, gaps, a, pair };
  }

  for (const end of ['close', 'unsubscribe'] as const) {
    it(`${end === 'close' ? 'the PubSub closed' : 'its one subscriber left'} meanwhile: no 'gap' (no one is left to lack 2–7)`, async (t) => {
      const { gated, ps, gaps, a } = await heldCatchUp(t);
      if (end === 'close') await ps.close();
      else ps.unsubscribe(a.ws, topic);
      const answered = gated.gate('answer');
      gated.open();
      await answered;
      gated.open();
      await turnEnd(); // (the read's answer handled: its reactions are microtasks)
      assert.deepEqual(gaps, []);
    });
  }

  it("its one subscriber left and another subscribed at once (the topic subscribed anew at the broker): no 'gap' (never owed 2–7), the new one gets 9", async (t) => {
    const { gated, ps, gaps, a, pair } = await heldCatchUp(t);
    const b = await pair();
    ps.unsubscribe(a.ws, topic);
    const joined = await ps.subscribe(b.ws, topic);
    assert.equal(joined.offset, 8);
    const answered = gated.gate('answer');
    gated.open();
    await answered;
    gated.open();
    await turnEnd();
    await gated.inner.publish(topic, payload(9), true);
    assert.deepEqual(await readUntil(b.client, 9), ['m9']);
    assert.deepEqual(gaps, []);
  });
});

/**
 * A Broker of one's own whose `history` answers only the newest part of a range (against its
 * contract: whole or null). A subscription's recovery refuses such an answer; the catch-up after a
 * lost link took it as it was and skipped the older part in silence.
 */
it("a Broker's history that answers a range's newest part only: its start is told as a gap, the rest delivered after it", async (t) => {
  const topic = 'partial-history';
  const newestThree = (broker: Broker): Broker => ({
    ...broker,
    history: async (name, since) => (await broker.history(name, since))?.slice(-3) ?? null,
  });
  const { gated, ps, pair, gaps } = await gatedTelling(t, { size: 100, ttlSeconds: 0 }, newestThree);
  const { client, ws } = await pair();
  await ps.subscribe(ws, topic);
  const { epoch } = await ps.publish(topic, payload(1));
  assert.deepEqual(await readUntil(client, 1), ['m1']);
  gated.down();
  for (let offset = 2; offset <= 7; offset++) await gated.inner.publish(topic, payload(offset), true);
  gated.up(); // (the catch-up's read answers 5-7 for the range after 1)
  assert.deepEqual(await readUntil(client, 7), names([5, 6, 7]));
  assert.deepEqual(gaps, [{ topic, epoch, from: 2, to: 4, reason: 'not-in-history' }]);
});

/**
 * A topic's last subscriber leaves and another subscribes before the broker has answered the
 * unsubscribe (the cluster broker's is a round trip to the primary; Redis's and NATS's to their
 * servers): messages that came meanwhile, to no one, left the topic's last offset behind, and the
 * next one looked like a gap. History 1 no longer held them: a 'gap' for offsets no subscriber was
 * ever owed (the new one's subscription begins after them), a stderr line in `serve`.
 */
it("the last subscriber leaves, another subscribes before the broker's unsubscribe is answered: no 'gap' for what came to no one", async (t) => {
  const topic = 'left-and-joined';
  let answer!: () => void;
  const unsubscribing = new Promise<void>((resolve) => (answer = resolve));
  let asked!: () => void;
  const unsubscribeAsked = new Promise<void>((resolve) => (asked = resolve));
  const slowUnsubscribe = (broker: Broker): Broker => ({
    ...broker,
    unsubscribe: async (name) => {
      asked();
      await unsubscribing;
      await broker.unsubscribe(name);
    },
  });
  const { gated, ps, pair, gaps } = await gatedTelling(t, { size: 1, ttlSeconds: 0 }, slowUnsubscribe);
  const a = await pair();
  const b = await pair();
  await ps.subscribe(a.ws, topic);
  await ps.publish(topic, payload(1));
  assert.deepEqual(await readUntil(a.client, 1), ['m1']);
  ps.unsubscribe(a.ws, topic);
  await unsubscribeAsked;
  for (let offset = 2; offset <= 3; offset++) await gated.inner.publish(topic, payload(offset), true); // (to no one)
  const joined = ps.subscribe(b.ws, topic);
  await gated.inner.publish(topic, payload(4), true);
  answer();
  assert.equal((await joined).offset, 4);
  await ps.publish(topic, payload(5));
  assert.deepEqual(await readUntil(b.client, 5), ['m5']);
  assert.deepEqual(gaps, []);
});

/**
 * The topic's catch-up read (PubSub's own, after the link came back) fails while history still holds
 * what it is for (2–7, history 100): before, 2–7 was skipped at once as 'read-failed', though the
 * README promises that no offset history holds is lost. Now the read is made again (after a short
 * pause while the broker stays available, or once it is back), and only when it cannot be made is
 * the range skipped. A MemoryBroker behind a gate; its `history` fails as each test says.
 */
describe('a catch-up read that fails is made again before its range is skipped', () => {
  const topic = 'read-again';

  /**
   * A subscriber that has 1; the link lost while 2–7 are published; back, the catch-up read held at
   * the gate while 8 comes (held behind it); `fail(call)` says whether the `call`-th read fails.
   * Resolves once the first read is held; `open()` lets it go on.
   */
  async function failingCatchUp(t: TestContext, fail: (call: number, gated: GatedBroker) => boolean) {
    let calls = 0;
    let gated!: GatedBroker;
    const failing = (broker: Broker): Broker => ({
      ...broker,
      history: async (name, since) => {
        const read = await broker.history(name, since);
        if (fail(++calls, gated)) throw unavailable('the read timed out');
        return read;
      },
    });
    const telling = await gatedTelling(t, { size: 100, ttlSeconds: 0 }, failing);
    gated = telling.gated;
    const { ps, pair, gaps } = telling;
    const a = await pair();
    await ps.subscribe(a.ws, topic);
    const { epoch } = await ps.publish(topic, payload(1));
    assert.deepEqual(await readUntil(a.client, 1), ['m1']);
    gated.down();
    for (let offset = 2; offset <= 7; offset++) await gated.inner.publish(topic, payload(offset), true);
    const reading = gated.gate('history');
    gated.up();
    await reading;
    await gated.inner.publish(topic, payload(8), true); // (held behind the read)
    return { gated, ps, pair, gaps, a, epoch, calls: () => calls };
  }

  it("it fails once, the broker still available: read again, 2–8 delivered in order, no 'gap'", async (t) => {
    const { gated, gaps, a, calls } = await failingCatchUp(t, (call) => call === 1);
    gated.open();
    assert.deepEqual(await readUntil(a.client, 8), names(range(2, 8)));
    assert.equal(calls(), 2);
    assert.deepEqual(gaps, []);
  });

  it("the broker's link lost as it fails: read again once it is back, 2–8 delivered, no 'gap'", async (t) => {
    const { gated, ps, gaps, a, calls } = await failingCatchUp(t, (call, g) => {
      if (call > 1) return false;
      g.down();
      return true;
    });
    const lost = new Promise<void>((resolve) => ps.once('availability', () => resolve()));
    gated.open();
    await lost;
    await turnEnd(); // (the failure handled: no read while the broker is down)
    assert.equal(calls(), 1);
    gated.up();
    assert.deepEqual(await readUntil(a.client, 8), names(range(2, 8)));
    assert.equal(calls(), 2);
    assert.deepEqual(gaps, []);
  });

  it("every read fails: made again a bounded number of times, then one 'gap' 'read-failed' { from: 2, to: 7 }; 8 follows", async (t) => {
    const { gated, gaps, a, epoch, calls } = await failingCatchUp(t, () => true);
    gated.open();
    assert.deepEqual(await readUntil(a.client, 8), ['m8']);
    assert.ok(calls() > 1, `read again (${calls()} reads)`);
    assert.deepEqual(gaps, [{ topic, epoch, from: 2, to: 7, reason: 'read-failed' }]);
  });

  it("more than MAX_HELD messages held when it fails: not read again (memory bounded), 'read-failed' at once; the held ones follow", async (t) => {
    const { gated, gaps, a, epoch, calls } = await failingCatchUp(t, () => true);
    const last = 8 + MAX_HELD;
    for (let offset = 9; offset <= last; offset++) await gated.inner.publish(topic, payload(offset), true);
    gated.open();
    assert.deepEqual(await readUntil(a.client, last), names(range(8, last)));
    assert.equal(calls(), 1);
    assert.deepEqual(gaps, [{ topic, epoch, from: 2, to: 7, reason: 'read-failed' }]);
  });

  /** The first read fails; the second held at the gate while the test does `meanwhile`, then answered. */
  async function whileReadAgain(
    t: TestContext,
    meanwhile: (held: Awaited<ReturnType<typeof failingCatchUp>>) => Promise<void>,
  ) {
    const held = await failingCatchUp(t, (call) => call === 1);
    const again = held.gated.gate('history');
    held.gated.open();
    await again;
    await meanwhile(held);
    const answered = held.gated.gate('answer');
    held.gated.open();
    await answered;
    held.gated.open();
    await turnEnd();
    return held;
  }

  it("the PubSub closed while it is read again: no 'gap', no exception", async (t) => {
    const { gaps, calls } = await whileReadAgain(t, ({ ps }) => ps.close());
    assert.equal(calls(), 2);
    assert.deepEqual(gaps, []);
  });

  it("its subscriber left and another subscribed while it is read again: no 'gap', the new one gets 9 (no duplicate)", async (t) => {
    let b!: Awaited<ReturnType<Awaited<ReturnType<typeof failingCatchUp>>['pair']>>;
    const { gated, gaps } = await whileReadAgain(t, async ({ ps, pair, a }) => {
      b = await pair();
      ps.unsubscribe(a.ws, topic);
      const joined = await ps.subscribe(b.ws, topic);
      assert.equal(joined.offset, 8);
    });
    await gated.inner.publish(topic, payload(9), true);
    assert.deepEqual(await readUntil(b.client, 9), ['m9']);
    assert.deepEqual(gaps, []);
  });
});
