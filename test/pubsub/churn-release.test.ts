/**
 * Subscribers that come and go, on shared topics and topics of their own, some with `since`, and
 * leave every way there is (unsubscribe, a clean close, a reset, a reset while a subscribe is on its
 * way): once all left, the memory broker holds no topic and no history byte (with no history kept:
 * at once; with history: once it expired), and PubSub counts no subscriber. What the
 * `serve --pubsub` load test (test/cli/load-pubsub.test.ts) sees only as the heap, counted here.
 * Random choices come from a printed seed.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import type { WebSocketStream } from '../../src/index.js';
import { MemoryBroker } from '../../src/pubsub/memory-broker.js';
import { PubSub, type SubscribeResult } from '../../src/pubsub/pubsub.js';
import type { RawClient } from '../conformance/raw-client.js';
import { poll } from '../support/brokers.js';
import { closeFrame } from '../support/frames.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';
import { random } from '../support/random.js';

const server = await startTestServer();
after(() => server.close());

const CLIENTS = 60;
const SHARED = 5;
const CYCLES = 3;

/** The end of the turn: what microtasks the memory broker's operations take have run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One cycle: CLIENTS subscribers join a shared topic, one of their own and (some) a shared one
 * with the position of an earlier cycle; messages are published to them and to topics nobody
 * subscribes to; then each leaves one of four ways. Returns the topics it used.
 */
async function cycle(ps: PubSub, cycleNo: number, rnd: () => number, since: Map<string, SubscribeResult>) {
  const topics = new Set<string>();
  const pairs: { client: RawClient; ws: WebSocketStream }[] = [];
  const joins: Promise<unknown>[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const pair = await subscriberPair(server);
    pairs.push(pair);
    const shared = `shared-${i % SHARED}`;
    const own = `own-${cycleNo}-${i}`;
    const old = since.get(shared);
    joins.push(
      ps.subscribe(pair.ws, shared, old && rnd() < 0.5 ? { since: old } : {}).then((r) => since.set(shared, r)),
      ps.subscribe(pair.ws, own),
    );
    topics.add(shared).add(own);
  }
  await Promise.all(joins);
  for (let n = 0; n < 200; n++) {
    const r = rnd();
    const topic =
      r < 0.2
        ? `nobody-${cycleNo}-${n}`
        : r < 0.5
          ? `own-${cycleNo}-${Math.floor(rnd() * CLIENTS)}`
          : `shared-${Math.floor(rnd() * SHARED)}`;
    topics.add(topic);
    await ps.publish(topic, `m${n}`);
  }
  const leaving: Promise<unknown>[] = [];
  for (const [i, { client, ws }] of pairs.entries()) {
    switch (Math.floor(rnd() * 4)) {
      case 0:
        // Stays connected, subscribed to nothing.
        for (const t of ps.topics(ws)) ps.unsubscribe(ws, t);
        leaving.push(Promise.resolve().then(() => client.destroy()));
        break;
      case 1:
        client.send(closeFrame(1000));
        break;
      case 2:
        client.destroy();
        break;
      default: {
        // Reset while a subscribe is on its way (it may resolve, or find the stream closed).
        const late = `late-${cycleNo}-${i}`;
        topics.add(late);
        leaving.push(ps.subscribe(ws, late).catch(() => {}));
        client.destroy();
      }
    }
    leaving.push(ws.whenClosed());
  }
  await Promise.all(leaving);
  await nextTurn();
  return topics;
}

for (const history of [
  { size: 0, ttlSeconds: 0 },
  { size: 100, ttlSeconds: 1 },
]) {
  it(`memory broker, history ${history.size}: once every subscriber left, no topic, history byte or subscriber is held`, async (t) => {
    const seed = Number(process.env.SEED ?? Date.now() % 100000);
    console.log(`seed ${seed}`);
    const rnd = random(seed);
    // The clock stands still while a cycle runs, however slow the machine: a cycle that took over
    // the ttl (a starved process) let the history expire before it was checked. It moves on only
    // when the test says so; the broker's own (real) sweep then drops what expired.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const broker = new MemoryBroker();
    const ps = new PubSub({ broker, history });
    t.after(() => ps.close());
    const since = new Map<string, SubscribeResult>();
    for (let c = 0; c < CYCLES; c++) {
      const topics = await cycle(ps, c, rnd, since);
      for (const topic of topics) assert.equal(ps.subscriberCount(topic), 0, topic);
      if (history.size === 0) {
        assert.deepEqual(broker.stats(), { topics: 0, bytes: 0 }, `cycle ${c}`);
      } else {
        // Topics with history stay until it expired: no event tells, the broker's own sweep drops them.
        assert.ok(broker.stats().topics > 0, 'history is kept for a while');
        t.mock.timers.tick(history.ttlSeconds * 1000 + 1);
        await poll(async () => broker.stats().topics === 0);
        assert.deepEqual(broker.stats(), { topics: 0, bytes: 0 }, `cycle ${c}`);
      }
    }
  });
}
