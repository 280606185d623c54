/**
 * A broker server killed and started again while two processes publish to one topic as fast as
 * they are answered and two others subscribe: publish rejects with ERR_WS_BROKER_UNAVAILABLE while
 * it is down; once back, each subscriber has every acknowledged message exactly once, each epoch
 * from offset 1 on with no gap, in offset order, without anyone subscribing again. Redis (no
 * persistence: a new epoch), NATS with file storage (the same epoch goes on) and NATS with memory
 * storage (a new epoch).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { WebSocketError } from '../../src/errors.js';
import type { Broker, BrokerMessage, TopicPosition } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';

interface Case {
  name: string;
  start(): Promise<BrokerProcess>;
  create(url: string): Broker;
  /** Whether the server keeps the topic across the restart (the epoch goes on). */
  keeps: boolean;
}

const cases: Case[] = [
  { name: 'Redis', start: () => BrokerProcess.redis(), create: (url) => new RedisBroker(url), keeps: false },
  {
    name: 'NATS (file storage)',
    start: () => BrokerProcess.nats(),
    create: (url) => new NatsBroker(url),
    keeps: true,
  },
  {
    name: 'NATS (memory storage)',
    start: () => BrokerProcess.nats(),
    create: (url) => new NatsBroker({ url, storage: 'memory' }),
    keeps: false,
  },
];

const key = (at: TopicPosition): string => `${at.epoch}/${at.offset}`;

/**
 * History past all the test publishes (151 or so): a subscriber whose reconnection comes one retry after the
 * publishers' (250 ms) may find all of the 100 published since in history only, and a history of 100 had already
 * dropped the first of them (lost, as documented: this test hung then, waiting for them).
 */
const kept = { ...history, size: 1000 };

for (const c of cases) {
  describe(`${c.name}: killed and started again while two processes publish and two subscribe`, () => {
    const brokers: Broker[] = [];
    let server: BrokerProcess | undefined;
    after(async () => {
      for (const b of brokers) await b.close();
      await server?.stop();
    });

    it('every acknowledged message reaches each subscriber once, each epoch contiguous from 1, in order', async () => {
      server = await c.start();
      const topic = 'storm';
      const open = async () => {
        const broker = c.create(server!.url);
        brokers.push(broker);
        const events = new BrokerRecorder();
        await broker.open(events, kept);
        return { broker, events };
      };
      const [subA, subB, pubA, pubB] = [await open(), await open(), await open(), await open()];
      await subA.broker.subscribe(topic);
      await subB.broker.subscribe(topic);
      const first = await subA.broker.position(topic);

      const acked = new Map<string, string>();
      let rejected = 0;
      let phase: 'before' | 'down' | 'after' = 'before';
      let wantAfter = 0;
      /** Publishes in a loop until told to stop; while the broker is down, waits for it to be back. */
      const publisher = async (name: string, p: { broker: Broker; events: BrokerRecorder }, stop: () => boolean) => {
        for (let i = 0; !stop(); i++) {
          const text = `${name}${i}`;
          try {
            const at = await p.broker.publish(topic, Buffer.from(text), false);
            acked.set(key(at), text);
            if (phase === 'after') wantAfter--;
          } catch (err) {
            assert.ok(err instanceof WebSocketError, String(err));
            assert.equal(err.code, 'ERR_WS_BROKER_UNAVAILABLE');
            rejected++;
            await p.events.until(() => p.events.availability.length > 0 && p.events.availability.at(-1) === true);
          }
        }
      };

      // Before: 50 acknowledged (and received by both) in the first epoch.
      let before = 50;
      const stopBefore = () => before <= 0;
      await Promise.all(
        [pubA, pubB].map((p, n) =>
          (async () => {
            for (let i = 0; before > 0; i++) {
              before--;
              const text = `${n ? 'b' : 'a'}-before${i}`;
              const at = await p.broker.publish(topic, Buffer.from(text), false);
              acked.set(key(at), text);
            }
          })(),
        ),
      );
      assert.ok(stopBefore());
      for (const s of [subA, subB]) await s.events.received(topic, 50);

      phase = 'down';
      await server.kill();
      await Promise.all([subA, subB, pubA, pubB].map((b) => b.events.available(false)));
      await assert.rejects(pubA.broker.publish(topic, Buffer.from('down'), false), {
        code: 'ERR_WS_BROKER_UNAVAILABLE',
      });
      rejected++;
      // Both publishers run from now on, across the restart.
      wantAfter = 100;
      const stopAfter = () => phase === 'after' && wantAfter <= 0;
      const running = [publisher('a', pubA, stopAfter), publisher('b', pubB, stopAfter)];
      // Not an assertion: this case hung once in a loaded CI run (both tests before it passed); if it ever waits
      // this long again, the state it waits in is printed so the hang can be told apart.
      const progress = setInterval(() => {
        const of = (s: { events: BrokerRecorder }) => ({
          received: s.events.of(topic).length,
          missing: [...acked.keys()].filter((k) => !s.events.of(topic).some((m) => key(m) === k)),
          availability: s.events.availability,
        });
        console.log(
          `${c.name}: still waiting`,
          JSON.stringify({ phase, wantAfter, rejected, acked: acked.size, lastAcked: [...acked.keys()].slice(-2) }),
          JSON.stringify({ subA: of(subA), subB: of(subB), pubA: of(pubA), pubB: of(pubB) }),
        );
      }, 30_000);
      progress.unref();
      after(() => clearInterval(progress));
      await server.start();
      phase = 'after';
      await Promise.all(running);
      assert.ok(rejected > 0);

      // Everything acknowledged, as each subscriber got it.
      const expected = [...acked.entries()];
      for (const s of [subA, subB]) {
        await s.events.until(() => {
          const got = new Set(s.events.of(topic).map((m) => key(m)));
          return expected.every(([k]) => got.has(k));
        });
        const got = s.events.of(topic);
        const seen = new Set<string>();
        const epochs: string[] = [];
        let prev: BrokerMessage | undefined;
        for (const m of got) {
          assert.ok(!seen.has(key(m)), `${key(m)} delivered twice`);
          seen.add(key(m));
          if (prev === undefined || prev.epoch !== m.epoch) {
            assert.equal(m.offset, 1, `epoch ${m.epoch} starts at 1`);
            assert.ok(!epochs.includes(m.epoch), 'an epoch comes back after another');
            epochs.push(m.epoch);
          } else {
            assert.equal(m.offset, prev.offset + 1, `no gap after ${key(prev)}`);
          }
          const text = acked.get(key(m));
          if (text !== undefined) assert.equal(m.data.toString(), text);
          prev = m;
        }
        assert.equal(epochs[0], first.epoch);
        assert.equal(epochs.length, c.keeps ? 1 : 2);
      }
    });
  });
}
