/**
 * The races doc/pubsub.md settles, driven at random (a printed seed; `PUBSUB_SEED=N` replays one)
 * against the API with its in-memory broker and real sockets: several calls in one turn, then a
 * microtask, a tick, the turn's end or none before the next — publishes to three topics,
 * subscribes with and without `since` (the last offset the subscription was due to deliver),
 * unsubscribes, an unsubscribe and a subscribe with `since` in the same turn, a subscribe
 * unsubscribed before it resolved or before its first turn, a subscriber closed mid-run. Each
 * client's stream of a topic must be, subscription after subscription, every offset after the
 * one `subscribe` answered, up to the last published before its `unsubscribe`: in order, once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocketStream } from '../../src/index.js';
import { PubSub, type SubscribeResult } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { random } from '../support/random.js';
import { startTestServer, subscriberPair, type TestServer } from './pubsub-support.js';

const TOPICS = ['a', 'b', 'c'];
const CLIENTS = 6;
const STEPS = Number(process.env.PUBSUB_STEPS ?? 300);

/** One subscription of a client to a topic, as the test saw it. */
interface Span {
  /** Resolves with subscribe's answer: offsets after its `offset` are due. */
  joined: Promise<SubscribeResult>;
  /** Subscribe has resolved: from then on an unsubscribe still delivers what was published before it. */
  resolved: boolean;
  /** The last offset due (at unsubscribe: the last published before it); null while subscribed. */
  end: number | null;
  /** Left before subscribe resolved: nothing is due. */
  early: boolean;
}

interface Client {
  raw: RawClient;
  ws: WebSocketStream;
  spans: Map<string, Span[]>;
  closed: boolean;
}

async function connect(server: TestServer): Promise<Client> {
  const { client, ws } = await subscriberPair(server);
  return { raw: client, ws, spans: new Map(TOPICS.map((t) => [t, []])), closed: false };
}

/** None, a microtask, a tick, or the end of the turn. */
const settle = async (how: number): Promise<void> => {
  if (how === 1) await null;
  else if (how === 2) await new Promise<void>((r) => process.nextTick(r));
  else if (how === 3) await new Promise<void>((r) => setImmediate(r));
};

/** Whether `got` from `at` on is the segments from `k` on, each whole, the optional ones whole or absent. */
function matches(got: number[], at: number, segments: { offsets: number[]; optional: boolean }[], k: number): boolean {
  if (k === segments.length) return at === got.length;
  const { offsets, optional } = segments[k]!;
  const whole = offsets.every((o, j) => got[at + j] === o);
  if (whole && matches(got, at + offsets.length, segments, k + 1)) return true;
  return optional && matches(got, at, segments, k + 1);
}

async function run(seed: number): Promise<void> {
  const rnd = random(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ps = new PubSub({ history: { size: 100_000, ttlSeconds: 0 } });
  const server = await startTestServer();
  try {
    const { epoch } = await ps.publish('warm', 'x'); // (open: from here on a publish takes its offset at once)
    const published = new Map(TOPICS.map((t) => [t, 0]));
    const clients: Client[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(await connect(server));
    const live = (c: Client, topic: string): Span | undefined => {
      const s = c.spans.get(topic)!.at(-1);
      return s && s.end === null ? s : undefined;
    };
    /** The last offset the client's subscriptions to `topic` were due to deliver. */
    const lastDue = (c: Client, topic: string): number | null =>
      c.spans
        .get(topic)!
        .filter((s) => !s.early)
        .at(-1)?.end ?? null;
    const subscribe = (c: Client, topic: string, withSince: boolean): Span | undefined => {
      if (live(c, topic)) return;
      const due = withSince ? lastDue(c, topic) : null;
      const span: Span = {
        joined: ps.subscribe(c.ws, topic, due === null ? {} : { since: { offset: due, epoch } }),
        resolved: false,
        end: null,
        early: false,
      };
      void span.joined.then(() => {
        span.resolved = true;
      });
      c.spans.get(topic)!.push(span);
      return span;
    };
    const unsubscribe = (c: Client, topic: string): void => {
      const span = live(c, topic);
      if (!span) return;
      span.end = published.get(topic)!;
      span.early = !span.resolved;
      ps.unsubscribe(c.ws, topic);
    };
    for (let step = 0; step < STEPS; step++) {
      const ops = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < ops; k++) {
        const r = rnd();
        const c = pick(clients.filter((x) => !x.closed));
        const topic = pick(TOPICS);
        if (r < 0.45) {
          const n = published.get(topic)! + 1;
          published.set(topic, n);
          void ps.publish(topic, `${topic}${n}`);
        } else if (r < 0.65) {
          subscribe(c, topic, rnd() < 0.6);
        } else if (r < 0.8) {
          unsubscribe(c, topic);
        } else if (r < 0.9) {
          // Unsubscribed and subscribed again from the last offset due, in one turn.
          unsubscribe(c, topic);
          subscribe(c, topic, true);
        } else if (r < 0.95) {
          // Subscribed, and unsubscribed before it resolved, or as it resolves (before its first turn).
          const span = subscribe(c, topic, rnd() < 0.5);
          if (span && rnd() < 0.5) await span.joined;
          unsubscribe(c, topic);
        } else if (r < 0.97 && clients.filter((x) => !x.closed).length > 2) {
          // Closed mid-run: its stream is not checked, the others' are.
          c.closed = true;
          c.raw.destroy();
          clients.push(await connect(server));
        }
      }
      await settle(Math.floor(rnd() * 4));
    }
    // Every subscribe answered and live; then one last message per topic.
    for (const c of clients) for (const spans of c.spans.values()) for (const s of spans) await s.joined;
    await settle(3);
    const last = new Map<string, number>();
    for (const topic of TOPICS) {
      const n = published.get(topic)! + 1;
      published.set(topic, n);
      last.set(topic, n);
      await ps.publish(topic, `${topic}${n}`);
    }
    // Then an end mark, on a topic of its own, after all of it on each socket.
    for (const c of clients) if (!c.closed) await ps.subscribe(c.ws, 'end');
    await settle(3);
    await ps.publish('end', 'end');
    for (const [i, c] of clients.entries()) {
      if (c.closed) continue;
      // Per topic, the ranges due, subscription after subscription. One unsubscribed before its
      // subscribe resolved may have been made already (its promise's reactions not run yet): it
      // delivers its range, or nothing.
      const segments = new Map<string, { offsets: number[]; optional: boolean }[]>();
      let most = 0;
      for (const topic of TOPICS) {
        const list: { offsets: number[]; optional: boolean }[] = [];
        for (const s of c.spans.get(topic)!) {
          const r = await s.joined;
          const offsets: number[] = [];
          for (let o = r.offset + 1; o <= (s.end ?? last.get(topic)!); o++) offsets.push(o);
          list.push({ offsets, optional: s.early });
          most += offsets.length;
        }
        segments.set(topic, list);
      }
      // Read up to the end mark (queued after everything else).
      const got = new Map<string, number[]>(TOPICS.map((t) => [t, []]));
      for (;;) {
        const m = await c.raw.nextMessage();
        assert.equal(m.opcode, 1, `client ${i}: a text message`);
        const text = m.payload.toString();
        if (text === 'end') break;
        got.get(text[0]!)!.push(Number(text.slice(1)));
        assert.ok([...got.values()].reduce((n, g) => n + g.length, 0) <= most, `client ${i}: more than due`);
      }
      for (const topic of TOPICS) {
        const g = got.get(topic)!;
        assert.ok(
          matches(g, 0, segments.get(topic)!, 0),
          `seed ${seed}, client ${i}, topic ${topic}: got ${g.join(',')}; due ${JSON.stringify(segments.get(topic))}`,
        );
      }
    }
  } finally {
    await ps.close();
    await server.close();
  }
}

describe('races of subscribe, unsubscribe, publish and close in one turn (in memory, real sockets)', () => {
  const seeds = process.env.PUBSUB_SEED !== undefined ? [Number(process.env.PUBSUB_SEED)] : [1, 2, 3];
  for (const seed of seeds) {
    it(`seed ${seed} (PUBSUB_SEED=${seed} to replay): every stream as subscribe and unsubscribe say`, async () => {
      await run(seed);
    });
  }
});
