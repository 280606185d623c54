/**
 * The checks every `Broker` must pass against its real server (offsets, order, history, epoch,
 * outages), as one `describe` that test/pubsub/redis-broker.test.ts and nats-broker.test.ts call
 * with their broker's constructor and server; each adds its broker-specific tests to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocketError } from '../../src/errors.js';
import type { Broker, HistoryOptions, TopicPosition } from '../../src/pubsub/broker.js';
import { type BrokerProcess, BrokerRecorder, descriptors, freePort, poll, portThatTakesNothing } from './brokers.js';

/** The history the suite's brokers keep unless a test says otherwise. */
export const history: HistoryOptions = { size: 100, ttlSeconds: 0 };

function isUnavailable(err: unknown): boolean {
  return err instanceof WebSocketError && err.code === 'ERR_WS_BROKER_UNAVAILABLE';
}

/** An open broker with a recorder of its events. */
export interface OpenBroker<B extends Broker> {
  broker: B;
  events: BrokerRecorder;
}

/**
 * What a broker-specific test gets: the server (started in the suite's `before`: read it inside a
 * test) and brokers on it (closed after the suite).
 */
export interface BrokerSuiteContext<B extends Broker, O> {
  readonly server: BrokerProcess;
  open(h?: HistoryOptions, options?: O): Promise<OpenBroker<B>>;
}

/** Where the outage test stands when the killed server has just been started again. */
export interface Restarted<B extends Broker, O> extends BrokerSuiteContext<B, O> {
  topic: string;
  pub: OpenBroker<B>;
  sub: OpenBroker<B>;
  /** What `pub` published before the server was killed (and `sub` received). */
  before: TopicPosition;
}

/** What the suite needs of a broker's options: both brokers take these two. */
interface CommonOptions {
  readonly url?: string;
  readonly commandTimeoutMs?: number;
}

export interface BrokerSuiteOptions<B extends Broker, O extends CommonOptions> {
  /** The `describe` title: the broker class's name. */
  name: string;
  /** The broker's constructor: `new XBroker(config)`. */
  create(config: string | O): B;
  /** Starts the broker's server (test/support/brokers.ts); the suite kills, restarts and stops it. */
  start(): Promise<BrokerProcess>;
  /** The URL scheme the broker takes, and how its tests name the server. */
  scheme: string;
  serverName: string;
  /** A well-formed URL of another scheme, which the broker must refuse. */
  foreignUrl: string;
  /** The outage test: its title, and what it checks once the server is back. */
  outage: { title: string; restarted(r: Restarted<B, O>): Promise<void> };
  /** Registers the broker-specific tests, run after the shared ones on the same server. */
  specific?(ctx: BrokerSuiteContext<B, O>): void;
}

export function brokerSuite<B extends Broker, O extends CommonOptions>(kind: BrokerSuiteOptions<B, O>): void {
  describe(kind.name, () => {
    let server: BrokerProcess;
    const brokers: B[] = [];
    before(async () => {
      server = await kind.start();
    });
    after(async () => {
      for (const b of brokers) await b.close();
      await server.stop();
    });

    /** An open broker on the test's server, with a recorder of its events; closed after the suite. */
    async function open(h: HistoryOptions = history, options = {} as O): Promise<OpenBroker<B>> {
      const broker = kind.create({ url: server.url, ...options });
      brokers.push(broker);
      const events = new BrokerRecorder();
      await broker.open(events, h);
      return { broker, events };
    }

    const ctx: BrokerSuiteContext<B, O> = {
      get server() {
        return server;
      },
      open,
    };

    it(`rejects a URL that is not ${kind.scheme}:// and reports a ${kind.serverName} that is not there`, async (t) => {
      assert.throws(() => kind.create(kind.foreignUrl), { code: 'ERR_WS_INVALID_ARGUMENT' });
      assert.throws(() => kind.create('not a url'), { code: 'ERR_WS_INVALID_ARGUMENT' });
      const nobody = kind.create(`${kind.scheme}://127.0.0.1:${await freePort()}`);
      t.after(() => nobody.close());
      // Opened all the same (it keeps connecting in the background), reported unavailable.
      const events = new BrokerRecorder();
      await nobody.open(events, history);
      assert.deepEqual(events.availability, [false]);
      await assert.rejects(nobody.publish('t', Buffer.from('x'), false), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
      await assert.rejects(nobody.subscribe('t'), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
    });

    it("offsets are contiguous under two concurrent publishers; two subscribers see one order, each publisher's kept", async () => {
      const topic = 'concurrent';
      const [a, b, c, d] = [await open(), await open(), await open(), await open()];
      await c.broker.subscribe(topic);
      await d.broker.subscribe(topic);
      const perPublisher = 200;
      const sent = new Map<number, string>();
      const publishAll = async (name: string, broker: B) => {
        await Promise.all(
          Array.from({ length: perPublisher }, async (_, i) => {
            const text = `${name}${i}`;
            const at = await broker.publish(topic, Buffer.from(text), false);
            assert.ok(!sent.has(at.offset), `offset ${at.offset} given twice`);
            sent.set(at.offset, text);
          }),
        );
      };
      await Promise.all([publishAll('a', a.broker), publishAll('b', b.broker)]);
      const total = 2 * perPublisher;
      assert.deepEqual(
        [...sent.keys()].sort((x, y) => x - y),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      for (const { events } of [c, d]) {
        const got = await events.received(topic, total);
        assert.equal(got.length, total);
        got.forEach((m, i) => {
          assert.equal(m.offset, i + 1);
          assert.equal(m.data.toString(), sent.get(m.offset));
        });
        for (const name of ['a', 'b']) {
          const own = got.map((m) => m.data.toString()).filter((t) => t.startsWith(name));
          assert.deepEqual(
            own,
            Array.from({ length: perPublisher }, (_, i) => `${name}${i}`),
            "one publisher's messages in the order it published them",
          );
        }
      }
    });

    it('history after an offset is exact; the present is empty; the future and other epochs are null', async () => {
      const topic = 'history';
      const { broker } = await open();
      const at0 = await broker.position(topic);
      assert.equal(at0.offset, 0);
      for (let i = 1; i <= 10; i++) {
        const at = await broker.publish(topic, Buffer.from(`m${i}`), i % 2 === 0);
        assert.deepEqual(at, { offset: i, epoch: at0.epoch });
      }
      assert.deepEqual(await broker.position(topic), { offset: 10, epoch: at0.epoch });
      const got = await broker.history(topic, { offset: 3, epoch: at0.epoch });
      assert.deepEqual(
        got?.map((m) => [m.topic, m.offset, m.epoch, m.data.toString(), m.binary]),
        Array.from({ length: 7 }, (_, i) => [topic, i + 4, at0.epoch, `m${i + 4}`, (i + 4) % 2 === 0]),
      );
      assert.deepEqual(await broker.history(topic, { offset: 0, epoch: at0.epoch }).then((h) => h?.length), 10);
      assert.deepEqual(await broker.history(topic, { offset: 10, epoch: at0.epoch }), []);
      assert.equal(await broker.history(topic, { offset: 11, epoch: at0.epoch }), null);
      assert.equal(await broker.history(topic, { offset: 3, epoch: 'another' }), null);
      assert.equal(await broker.history('never-published', { offset: 0, epoch: at0.epoch }), null);
    });

    it('history trimmed to its size is null before what it keeps and exact from there', async () => {
      const topic = 'trimmed';
      const { broker } = await open({ size: 5, ttlSeconds: 0 });
      let epoch = '';
      for (let i = 1; i <= 8; i++) epoch = (await broker.publish(topic, Buffer.from(`m${i}`), false)).epoch;
      assert.equal(await broker.history(topic, { offset: 2, epoch }), null);
      const kept = await broker.history(topic, { offset: 3, epoch });
      assert.deepEqual(
        kept?.map((m) => m.data.toString()),
        ['m4', 'm5', 'm6', 'm7', 'm8'],
      );
    });

    it('no history kept: history is always null, offsets still count', async () => {
      const { broker } = await open({ size: 0, ttlSeconds: 0 });
      const at = await broker.publish('none', Buffer.from('x'), false);
      assert.equal(at.offset, 1);
      assert.equal(await broker.history('none', { offset: 0, epoch: at.epoch }), null);
    });

    it('history expires after ttlSeconds', async () => {
      const topic = 'ttl';
      const { broker } = await open({ size: 100, ttlSeconds: 0.2 });
      const at = await broker.publish(topic, Buffer.from('soon gone'), false);
      assert.equal((await broker.history(topic, { offset: 0, epoch: at.epoch }))?.length, 1);
      await poll(async () => (await broker.history(topic, { offset: 0, epoch: at.epoch })) === null);
      const next = await broker.publish(topic, Buffer.from('fresh'), false);
      assert.deepEqual(next, { offset: 2, epoch: at.epoch });
      assert.deepEqual(
        (await broker.history(topic, { offset: 1, epoch: at.epoch }))?.map((m) => m.data.toString()),
        ['fresh'],
      );
    });

    it('binary payloads (every byte value, newlines, spaces) arrive intact live and from history', async () => {
      const topic = 'bytes';
      const [pub, sub] = [await open(), await open()];
      await sub.broker.subscribe(topic);
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const payloads = [all, Buffer.from('\n \n0 1 x\n'), Buffer.alloc(0), Buffer.from('héllo ✓')];
      let epoch = '';
      for (const [i, p] of payloads.entries()) epoch = (await pub.broker.publish(topic, p, i !== 3)).epoch;
      const live = await sub.events.received(topic, payloads.length);
      const stored = await pub.broker.history(topic, { offset: 0, epoch });
      for (const got of [live, stored!]) {
        assert.equal(got.length, payloads.length);
        got.forEach((m, i) => {
          assert.deepEqual(m.data, payloads[i]);
          assert.equal(m.binary, i !== 3);
          assert.equal(m.epoch, epoch);
        });
      }
    });

    it('unsubscribe stops delivery of that topic only', async () => {
      const [pub, sub] = [await open(), await open()];
      await sub.broker.subscribe('left');
      await sub.broker.subscribe('kept');
      await pub.broker.publish('left', Buffer.from('1'), false);
      await sub.events.received('left', 1);
      await sub.broker.unsubscribe('left');
      await pub.broker.publish('left', Buffer.from('2'), false);
      await pub.broker.publish('kept', Buffer.from('after'), false);
      // 'kept' is published after 'left' #2, by the same broker: once it is seen, a stray 'left' would have been too.
      await sub.events.received('kept', 1);
      assert.deepEqual(
        sub.events.of('left').map((m) => m.data.toString()),
        ['1'],
      );
    });

    it(kind.outage.title, async () => {
      const topic = 'outage';
      // A command timeout far beyond the test's: a rejection can only come from the lost connection.
      const slow = { commandTimeoutMs: 3_600_000 } as O;
      const [pub, sub] = [await open(history, slow), await open(history, slow)];
      await sub.broker.subscribe(topic);
      const before = await pub.broker.publish(topic, Buffer.from('before'), false);
      await sub.events.received(topic, 1);

      await server.kill();
      await Promise.all([pub.events.available(false), sub.events.available(false)]);
      await assert.rejects(pub.broker.publish(topic, Buffer.from('lost'), false), isUnavailable);
      await assert.rejects(pub.broker.position(topic), isUnavailable);
      await assert.rejects(sub.broker.subscribe('while-down'), isUnavailable);

      await server.start();
      await kind.outage.restarted({ ...ctx, topic, pub, sub, before });
      assert.deepEqual(pub.events.availability, [false, true]);
    });

    kind.specific?.(ctx);
  });
}

/** How a test stands when its broker's server is back after losing `topic`. */
type Lost<B extends Broker, O> = Pick<Restarted<B, O>, 'open' | 'topic' | 'pub' | 'sub'>;

/**
 * Publishes to `topic` from a new broker as soon as the server is back, most likely before `sub`
 * has reconnected (it is in the new epoch's history, and `sub` delivers it when it catches up);
 * resolves with its position once `pub` and `sub` are available again.
 */
/** Publishes `m<first>` … `m<first + count - 1>` to `topic` on `broker`, 500 at a time, each batch taken before the next. */
export async function publishNumbered(broker: Broker, topic: string, first: number, count: number): Promise<void> {
  for (let sent = 0; sent < count; sent += 500) {
    const batch = Math.min(500, count - sent);
    await Promise.all(
      Array.from({ length: batch }, (_, i) => broker.publish(topic, Buffer.from(`m${first + sent + i}`), false)),
    );
  }
}

export async function publishOnRestart<B extends Broker, O>(
  { open, topic, pub, sub }: Lost<B, O>,
  options?: O,
): Promise<TopicPosition> {
  const late = await open(history, options);
  const early = await late.broker.publish(topic, Buffer.from('early'), false);
  await Promise.all([pub.events.available(true), sub.events.available(true)]);
  return early;
}

/** The server lost `topic`: `early` started a new epoch at offset 1, and `sub` got 'before', then it, then 'after'. */
export async function caughtUpInNewEpoch<B extends Broker, O>(
  { topic, pub, sub, before }: Pick<Restarted<B, O>, 'topic' | 'pub' | 'sub' | 'before'>,
  early: TopicPosition,
): Promise<void> {
  assert.equal(early.offset, 1);
  assert.notEqual(early.epoch, before.epoch);
  const after = await pub.broker.publish(topic, Buffer.from('after'), false);
  assert.deepEqual(after, { offset: 2, epoch: early.epoch });
  const got = await sub.events.received(topic, 3);
  assert.deepEqual(
    got.map((m) => [m.offset, m.epoch, m.data.toString()]),
    [
      [1, before.epoch, 'before'],
      [1, early.epoch, 'early'],
      [2, early.epoch, 'after'],
    ],
  );
}

/**
 * Opens the broker `make` gives for a port that takes no connection (`portThatTakesNothing`): open() resolves once
 * the first try has given up, unavailable; after close(), no descriptor the broker opened is left.
 */
export async function noDescriptorLeftWhenUnreachable(make: (port: number) => Broker): Promise<void> {
  const server = await portThatTakesNothing();
  try {
    const before = descriptors();
    const broker = make(server.port);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    assert.deepEqual(events.availability, [false]);
    const afterFirstTry = descriptors() - before;
    await broker.close();
    const left = descriptors() - before;
    assert.equal(left, 0, `descriptors left after close(): ${left} (${afterFirstTry} once the first try gave up)`);
  } finally {
    await server.stop();
  }
}
