/**
 * `ws-stream serve --pubsub --history 0` under churn, with independent clients (`ws`): subscribers
 * on many topics subscribe, unsubscribe, take throwaway topics and reconnect while publishers
 * publish; every live subscription sees its topic's offsets with no gap, no repeat and no
 * reordering, up to each publisher's last message. Once everyone left, the topics are forgotten
 * (a new subscriber starts at offset 0 under a new epoch), no descriptor is held, and the heap is
 * back to the first cycle's level. Random choices come from a printed seed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { it } from 'node:test';
import WebSocket from 'ws';
import { childrenOf } from './cli-support.js';
import { assertNoSteadyGrowth, closeClients, eventually, openClients, startProbed } from './load-support.js';

const TOPICS = 40;
const SUBSCRIBERS = 400;
const PUBLISHERS = 4;
const STEPS = 60;

interface TopicState {
  /** The client wants it (a subscribe sent after the last unsubscribe). */
  want: boolean;
  /** Subscribes not answered yet. */
  pending: number;
  /** The next offset expected, while live (nothing outstanding); 0 otherwise. */
  next: number;
  /** Publishers whose last message arrived while live. */
  ends: Set<string>;
}

class Subscriber {
  readonly topics = new Map<string, TopicState>();
  readonly problems: string[] = [];
  private readonly waiters: (() => void)[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.receive(JSON.parse(String(d))));
  }
  subscribe(topic: string): void {
    const s = this.topics.get(topic) ?? { want: false, pending: 0, next: 0, ends: new Set() };
    if (s.want) return;
    Object.assign(s, { want: true, pending: s.pending + 1, next: 0 });
    this.topics.set(topic, s);
    this.ws.send(JSON.stringify({ op: 'subscribe', topic }));
  }
  unsubscribe(topic: string): void {
    const s = this.topics.get(topic);
    if (!s?.want) return;
    Object.assign(s, { want: false, next: 0 });
    this.ws.send(JSON.stringify({ op: 'unsubscribe', topic }));
  }
  /** The topics it is subscribed to and has heard back about. */
  live(): string[] {
    return [...this.topics].filter(([, s]) => s.want && s.pending === 0).map(([t]) => t);
  }
  private receive(m: { op: string; topic: string; offset: number; data?: unknown; code?: string }): void {
    const s = this.topics.get(m.topic);
    if (m.op === 'subscribed') {
      if (!s || s.pending === 0) this.problems.push(`subscribed to ${m.topic}, not asked`);
      else if (--s.pending === 0 && s.want) s.next = m.offset + 1;
    } else if (m.op === 'message') {
      if (!s) this.problems.push(`a message of ${m.topic}, never subscribed`);
      else if (s.next !== 0) {
        if (m.offset !== s.next) this.problems.push(`${m.topic}: offset ${m.offset}, expected ${s.next}`);
        s.next = m.offset + 1;
        if (typeof m.data === 'string' && m.data.startsWith('end ')) s.ends.add(m.data);
      }
    } else this.problems.push(`${m.op} ${m.code ?? ''}`);
    for (const w of this.waiters.splice(0)) w();
  }
  /** Waits until `f` holds, re-checked on every message. */
  async until(f: () => boolean): Promise<void> {
    while (!f()) await new Promise<void>((r) => this.waiters.push(r));
  }
}

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/** One cycle: subscribers and publishers come, churn, publish, and all leave. Returns a topic that had messages and its epoch then. */
async function cycle(url: string, rnd: () => number): Promise<{ topic: string; epoch: string }> {
  const subs = (await openClients(url, SUBSCRIBERS)).map((ws) => new Subscriber(ws));
  for (const [i, s] of subs.entries()) s.subscribe(`t${i % TOPICS}`);
  const pubs = await openClients(url, PUBLISHERS);
  let n = 0;
  for (let step = 0; step < STEPS; step++) {
    for (const p of pubs) {
      for (let k = 0; k < 5; k++) {
        const topic = rnd() < 0.05 ? `once-${n}` : `t${Math.floor(rnd() * TOPICS)}`;
        p.send(JSON.stringify({ op: 'publish', topic, data: { n: n++ } }));
      }
    }
    for (let k = 0; k < SUBSCRIBERS / 20; k++) {
      const i = Math.floor(rnd() * subs.length);
      const s = subs[i]!;
      const r = rnd();
      if (r < 0.4) {
        const mine = [...s.topics].filter(([, t]) => t.want).map(([t]) => t);
        if (mine.length > 0) s.unsubscribe(mine[Math.floor(rnd() * mine.length)]!);
        s.subscribe(`t${Math.floor(rnd() * TOPICS)}`);
      } else if (r < 0.6) {
        const own = `own-${step}-${i}`;
        s.subscribe(own);
        s.unsubscribe(own);
      } else if (r < 0.8) {
        // Leaves (close or reset); another takes its place.
        if (rnd() < 0.5) s.ws.close(1000);
        else s.ws.terminate();
        const ws = new WebSocket(url);
        await once(ws, 'open');
        subs[i] = new Subscriber(ws);
        subs[i]!.subscribe(`t${Math.floor(rnd() * TOPICS)}`);
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  // Everyone's subscriptions answered, then each publisher's last message on every topic.
  await Promise.all(subs.map((s) => s.until(() => [...s.topics.values()].every((t) => t.pending === 0))));
  for (const [i, p] of pubs.entries()) {
    for (let t = 0; t < TOPICS; t++) p.send(JSON.stringify({ op: 'publish', topic: `t${t}`, data: `end ${i}` }));
  }
  await Promise.all(
    subs.map((s) =>
      s.until(() => s.live().every((t) => !t.startsWith('t') || s.topics.get(t)!.ends.size === PUBLISHERS)),
    ),
  );
  const problems = subs.flatMap((s) => s.problems);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
  const watcher = subs.find((s) => s.live().length > 0)!;
  const topic = watcher.live()[0]!;
  const epoch = await new Promise<string>((resolve) => {
    // The topic's epoch now, from one more subscriber to it.
    const ws = new WebSocket(url);
    ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', topic })));
    ws.once('message', (d) => {
      resolve(JSON.parse(String(d)).epoch);
      ws.terminate();
    });
  });
  await closeClients([...subs.map((s) => s.ws), ...pubs]);
  return { topic, epoch };
}

/** A new subscriber to `topic` once everyone left: offset and epoch. */
async function fresh(url: string, topic: string): Promise<{ offset: number; epoch: string }> {
  const [ws] = await openClients(url, 1);
  ws!.send(JSON.stringify({ op: 'subscribe', topic }));
  const [d] = await once(ws!, 'message');
  await closeClients([ws!]);
  return JSON.parse(String(d));
}

for (const workers of [1, 2]) {
  it(`pubsub${workers > 1 ? ' --workers 2' : ''}: ${SUBSCRIBERS} subscribers on ${TOPICS} topics under churn lose nothing; once all left, topics, descriptors and heap are released`, async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100000);
    console.log(`seed ${seed}`);
    const rnd = random(seed);
    const server = await startProbed(['--pubsub', '--history', '0', '--workers', String(workers)]);
    try {
      const pids = [server.proc.pid!, ...(workers > 1 ? await childrenOf(server.proc.pid!) : [])];
      const fdsOf = (): number[] => pids.map((pid) => readdirSync(`/proc/${pid}/fd`).length);
      const fds = fdsOf();
      const heaps: number[] = [];
      for (let c = 0; c < (workers === 1 ? 4 : 3); c++) {
        // (the epoch is per topic: the one compared is that of the topic asked again; another topic's
        // may be the same string by chance, seed 91865)
        const { topic, epoch } = await cycle(server.url, rnd);
        assert.ok(
          await eventually(() => fdsOf().every((n, i) => n <= fds[i]!)),
          `descriptors ${fdsOf()}, before ${fds}`,
        );
        // Nobody subscribed and no history kept: the topic was forgotten, and starts over.
        // With workers, each one's unsubscribes reach the primary over its own IPC channel, in no
        // order with the new subscriber's (it may land on the other worker): ask again, each time a
        // whole round trip (connect, subscribe, reply, close), until they all came.
        let now = await fresh(server.url, topic);
        for (let i = 0; i < 1000 && now.offset !== 0; i++) now = await fresh(server.url, topic);
        assert.equal(now.offset, 0);
        assert.notEqual(now.epoch, epoch);
        if (workers === 1) heaps.push(await server.heap());
      }
      if (workers === 1) {
        // (The first cycle warms up what Node keeps once made.) Without the optimising tiers a
        // clean cycle moves the heap by −7 to +16 KB; 400 connections hold over 500 KB, and a leak
        // of ~250 B per connection leaving shows in every step.
        console.log(`heap after each cycle: ${heaps.join(', ')}`);
        assertNoSteadyGrowth(heaps.slice(1), 32 * 1024, 'cycle');
      }
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }
  });
}
