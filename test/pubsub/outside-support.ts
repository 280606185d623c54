/**
 * An outside team's checker of `ws-stream serve --pubsub`, written from the README's pub/sub
 * section and doc/pubsub.md only: clients that log everything a connection receives (JsonClient,
 * the tests' own framer over a raw socket) and checks of what a subscriber must have seen —
 * offsets one by one, each once, the same order everywhere — for test/pubsub/outside-*.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { closeFrame } from '../support/frames.js';
import { random } from '../support/random.js';
import { JsonClient } from './pubsub-support.js';

export type Server = Awaited<ReturnType<typeof startServer>>;
// biome-ignore lint/suspicious/noExplicitAny: protocol messages are checked field by field
export type Reply = any;
export interface Position {
  offset: number;
  epoch: string;
}

/**
 * The waits of every Peer not over yet, each with the tail of its connection's log: what a test
 * that timed out prints (`reportWaitsOnAbort`), so that a hang names what never came.
 */
const pending = new Set<{ what: string; peer: Peer }>();

/** What `untilServing` is at, for the same report. */
let probing = '';

/**
 * Runs `scenario` as test `t`; if `t` is aborted before it ends (it timed out), prints the pending
 * waits and the last error each of `d`'s connections got: a hang then names what never came.
 */
export function reportingWaits(
  t: { signal: AbortSignal; name: string },
  d: Deployment,
  scenario: () => Promise<void>,
): Promise<void> {
  let over = false;
  t.signal.addEventListener('abort', () => {
    // (the signal is aborted when a test ends, too)
    if (over) return;
    const lines = [...pending].map(({ what, peer }) => `  ${what} (ended ${peer.ended}): ${tail(peer.log)}`);
    if (probing) lines.push(`  ${probing}`);
    for (const [i, p] of d.opened.entries()) {
      const error = p.log.filter((r) => r.op === 'error').at(-1);
      if (error) lines.push(`  connection ${i} got ${JSON.stringify(error)}`);
    }
    console.log(`${t.name}: aborted while waiting for\n${lines.join('\n') || '  (nothing)'}`);
  });
  return scenario().finally(() => {
    over = true;
  });
}

/** A connection whose every received message is logged as it comes (so no wait loses one). */
export class Peer {
  readonly log: Reply[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;

  private constructor(readonly c: JsonClient) {
    void (async () => {
      try {
        for (;;) {
          this.log.push(await c.next());
          this.#wake();
        }
      } catch {
        this.#ended = true;
        this.#wake();
      }
    })();
  }

  /** With `extensions`, offers them (Sec-WebSocket-Extensions: `permessage-deflate`, say). */
  static async connect(port: number, opened: Peer[], extensions?: string): Promise<Peer> {
    const p = new Peer(await JsonClient.connect(port, extensions));
    opened.push(p);
    return p;
  }

  get worker(): string | undefined {
    return this.c.worker;
  }

  get ended(): boolean {
    return this.#ended;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  send(req: unknown): void {
    this.c.send(req);
  }

  close(): void {
    this.c.close();
  }

  /** Waits until `cond` holds (re-checked on each message); fails if the connection ends first. */
  async until(what: string, cond: () => boolean): Promise<void> {
    const wait = { what, peer: this };
    pending.add(wait);
    try {
      while (!cond()) {
        if (this.#ended) assert.fail(`connection ended while waiting for ${what}; log tail: ${tail(this.log)}`);
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    } finally {
      pending.delete(wait);
    }
  }

  /** The first logged reply at or after `from` that `match` accepts, waiting for it. */
  async find(what: string, from: number, match: (r: Reply) => boolean): Promise<{ reply: Reply; at: number }> {
    let at = -1;
    await this.until(what, () => {
      at = this.log.findIndex((r, i) => i >= from && match(r));
      return at >= 0;
    });
    return { reply: this.log[at], at };
  }

  /** Sends a subscribe and returns its `subscribed` reply (fields checked). */
  async subscribe(topic: string, since?: Position): Promise<Reply> {
    const from = this.log.length;
    this.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
    const { reply } = await this.find(`subscribed to ${topic}`, from, (r) => r.topic === topic || r.op === 'error');
    assert.equal(reply.op, 'subscribed', JSON.stringify(reply));
    assert.deepEqual(
      Object.keys(reply),
      since ? ['op', 'topic', 'offset', 'epoch', 'recovered'] : ['op', 'topic', 'offset', 'epoch'],
    );
    assert.ok(Number.isSafeInteger(reply.offset) && reply.offset >= 0, JSON.stringify(reply));
    assert.equal(typeof reply.epoch, 'string');
    return reply;
  }

  /** The `message`s of `topic` logged so far. */
  messages(topic: string): Reply[] {
    return this.log.filter((r) => r.op === 'message' && r.topic === topic);
  }

  /** Waits until `count` messages of `topic` are logged; returns them. */
  async received(topic: string, count: number): Promise<Reply[]> {
    await this.until(`${count} messages of ${topic}`, () => this.messages(topic).length >= count);
    return this.messages(topic);
  }

  /** Waits for the next `error` op after log index `from` and checks its shape and code. */
  async error(from: number, code: string, what: string): Promise<Reply> {
    const { reply } = await this.find(what, from, (r) => r.op === 'error');
    assert.deepEqual(Object.keys(reply), ['op', 'code', 'message'], what);
    assert.equal(reply.code, code, `${what}: ${JSON.stringify(reply)}`);
    assert.ok(typeof reply.message === 'string' && reply.message.length > 0, what);
    return reply;
  }
}

function tail(log: Reply[]): string {
  return JSON.stringify(log.slice(-5)).slice(0, 600);
}

/**
 * Checks one subscription's messages of `topic`: offsets follow `after` one by one (no gap, no
 * duplicate), every message with exactly the documented fields. Returns their data.
 */
export function contiguous(messages: Reply[], topic: string, after: number, what: string): unknown[] {
  messages.forEach((m, i) => {
    assert.deepEqual(Object.keys(m), ['op', 'topic', 'data', 'offset'], what);
    assert.equal(m.topic, topic, what);
    assert.equal(m.offset, after + 1 + i, `${what}: offset ${m.offset} at place ${i} after ${after}`);
  });
  return messages.map((m) => m.data);
}

/** Publisher `from`'s data in the order they arrived must be its 0, 1, 2, … (none lost, none twice). */
export function inPublisherOrder(data: unknown[], publishers: number[], what: string): void {
  publishers.forEach((count, from) => {
    const mine = data.filter((d) => (d as { from: number }).from === from).map((d) => (d as { i: number }).i);
    assert.deepEqual(
      mine,
      Array.from({ length: count }, (_, i) => i),
      `${what}: publisher ${from}`,
    );
  });
}

/** What the scenarios run against: the ports of one or more `serve --pubsub` processes sharing a broker. */
export interface Deployment {
  ports: number[];
  /** Peers opened by the scenarios, closed by the suite. */
  opened: Peer[];
  /** `--workers` of each process, if any. */
  workers?: number;
}

/**
 * A connection served elsewhere than `like`: another process when there are several ports, else
 * another `--workers` worker (told by X-Ws-Stream-Worker), else the same process.
 */
export async function connectElsewhere(
  d: Deployment,
  like: { port: number; worker: string | undefined },
): Promise<Peer> {
  const others = d.ports.filter((p) => p !== like.port);
  if (others.length > 0) return Peer.connect(others[0]!, d.opened);
  for (let i = 0; i < 100; i++) {
    const p = await Peer.connect(like.port, d.opened);
    if (like.worker === undefined || p.worker !== like.worker) return p;
    p.close();
  }
  assert.fail(`no connection reached a worker other than ${like.worker}`);
}

/** Lets other I/O run (a publisher's batches then reach the server apart, interleaved with others'). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Sends `count` publishes of `topic` from `p` in random batches, yielding between them. */
async function publishAll(p: Peer, topic: string, from: number, count: number, rand: () => number): Promise<void> {
  for (let i = 0; i < count; ) {
    const batch = 1 + Math.floor(rand() * 8);
    for (const end = Math.min(count, i + batch); i < end; i++) {
      p.send({ op: 'publish', topic, data: { from, i, s: randomText(rand) } });
    }
    await turn();
  }
}

/** Short text of ASCII and 2-, 3- and 4-byte UTF-8 characters. */
function randomText(rand: () => number): string {
  const chars = ['a', 'z', ' ', '"', '\\', 'é', 'ß', '€', '中', '😀', '\n'];
  let s = '';
  for (let n = Math.floor(rand() * 12); n > 0; n--) s += chars[Math.floor(rand() * chars.length)];
  return s;
}

/**
 * Six subscribers over every process and four concurrent publishers, also over every process:
 * each subscriber gets every message once, offsets one by one, all in one order, each publisher's
 * in the order it sent; a last message then comes next (nothing was repeated).
 */
export async function orderEverywhere(d: Deployment, seed: number): Promise<void> {
  const rand = random(seed);
  const topic = `order-${seed}`;
  const subscribers: Peer[] = [];
  for (let i = 0; i < 6; i++) subscribers.push(await Peer.connect(d.ports[i % d.ports.length]!, d.opened));
  const starts = await Promise.all(subscribers.map((s) => s.subscribe(topic)));
  for (const s of starts) assert.equal(s.epoch, starts[0].epoch, 'one epoch on every process');
  const publishers: Peer[] = [];
  for (let i = 0; i < 4; i++) publishers.push(await Peer.connect(d.ports[(i + 1) % d.ports.length]!, d.opened));
  const counts = publishers.map(() => 20 + Math.floor(rand() * 40));
  await Promise.all(publishers.map((p, from) => publishAll(p, topic, from, counts[from]!, random(seed + from + 1))));
  const total = counts.reduce((a, b) => a + b, 0);
  const seen = await Promise.all(
    subscribers.map(async (s, k) =>
      contiguous(await s.received(topic, total), topic, starts[k].offset, `subscriber ${k}`),
    ),
  );
  for (const got of seen) assert.deepEqual(got, seen[0], 'every subscriber, on every process, in one order');
  inPublisherOrder(seen[0]!, counts, 'order');
  for (const p of publishers) assert.deepEqual(p.log, [], 'a publish that succeeds gets no reply');
  publishers[0]!.send({ op: 'publish', topic, data: 'last' });
  for (const [k, s] of subscribers.entries()) {
    const all = await s.received(topic, total + 1);
    assert.deepEqual(contiguous(all, topic, starts[k].offset, `subscriber ${k}`).at(-1), 'last');
    assert.equal(s.log.length, 1 + total + 1, 'nothing but the subscribed reply and the messages');
  }
}

/**
 * A subscriber reads part of a topic while it is being published to, drops its connection and
 * comes back elsewhere with `since` while publishing goes on: exactly what it missed, in order, no
 * duplicate, then live messages.
 */
export async function handoffWhilePublishing(d: Deployment, seed: number): Promise<void> {
  const rand = random(seed);
  const topic = `handoff-${seed}`;
  const total = 80;
  const first = await Peer.connect(d.ports[0]!, d.opened);
  const watcher = await Peer.connect(d.ports[d.ports.length - 1]!, d.opened);
  const publisher = await Peer.connect(d.ports[1 % d.ports.length]!, d.opened);
  const at = await first.subscribe(topic);
  const watched = await watcher.subscribe(topic);
  const publishing = publishAll(publisher, topic, 0, total, rand);
  const readBefore = 1 + Math.floor(rand() * 30);
  await first.received(topic, readBefore);
  // What it saw is what it had parsed when it dropped the connection.
  const seen = first.messages(topic);
  first.close();
  const last = seen.at(-1).offset;
  contiguous(seen, topic, at.offset, 'before the drop');
  const again = await connectElsewhere(d, { port: d.ports[0]!, worker: first.worker });
  const back = await again.subscribe(topic, { offset: last, epoch: at.epoch });
  assert.deepEqual([back.offset, back.epoch, back.recovered], [last, at.epoch, true]);
  await publishing;
  const all = contiguous(await watcher.received(topic, total), topic, watched.offset, 'watcher');
  const missed = at.offset + total - last;
  const recovered = contiguous(await again.received(topic, missed), topic, last, 'after since');
  assert.deepEqual([...seen.map((m) => m.data), ...recovered], all, 'the same messages as one who stayed');
  publisher.send({ op: 'publish', topic, data: 'live' });
  const live = await again.received(topic, missed + 1);
  assert.deepEqual(contiguous(live, topic, last, 'then live').at(-1), 'live');
  assert.equal(again.log.length, 1 + missed + 1, 'nothing twice');
}

/**
 * Clients that subscribe (with and without `since`) and drop or close their connection at once,
 * while a topic is published to: the servers stay up and a later subscriber on each process gets
 * every message in order.
 */
export async function subscribeAndGo(d: Deployment, procs: { proc: { exitCode: number | null } }[]): Promise<void> {
  const topic = 'subscribe-and-go';
  const publisher = await Peer.connect(d.ports[0]!, d.opened);
  const at = await publisher.subscribe(topic);
  const goers: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    publisher.send({ op: 'publish', topic, data: i });
    const c = await JsonClient.connect(d.ports[i % d.ports.length]!);
    c.send(i % 2 ? { op: 'subscribe', topic, since: { offset: 0, epoch: at.epoch } } : { op: 'subscribe', topic });
    if (i % 4 < 2) c.close();
    else {
      // A close frame right behind the subscribe: the close handshake, then the end.
      c.sendRaw(closeFrame(1000));
      goers.push(c.closed());
    }
  }
  await Promise.all(goers);
  contiguous(await publisher.received(topic, 40), topic, at.offset, 'publisher');
  for (const port of d.ports) {
    const late = await Peer.connect(port, d.opened);
    const since = await late.subscribe(topic, { offset: at.offset, epoch: at.epoch });
    assert.equal(since.recovered, true);
    publisher.send({ op: 'publish', topic, data: 'after' });
    const got = contiguous(await late.received(topic, 41), topic, at.offset, 'late subscriber');
    assert.deepEqual(
      got.slice(0, 40),
      Array.from({ length: 40 }, (_, i) => i),
    );
  }
  for (const p of procs) assert.equal(p.proc.exitCode, null, 'the servers are up');
}

/**
 * Waits until every process (and every worker of each: `d.workers`) answers a subscribe again,
 * each refusal an ERR_WS_BROKER_UNAVAILABLE: the broker reconnects by itself, so probe again.
 */
export async function untilServing(d: Deployment): Promise<void> {
  for (const port of new Set(d.ports)) {
    const served = new Set<string | undefined>();
    for (let n = 0; served.size < (d.workers ?? 1); n++) {
      const probe = await Peer.connect(port, d.opened);
      probe.send({ op: 'subscribe', topic: `probe-${n}` });
      const { reply } = await probe.find('a probe reply', 0, () => true);
      probe.close();
      // (each probe is a connection and a round trip: that paces the loop, no timer)
      if (reply.op === 'subscribed') served.add(probe.worker);
      else assert.equal(reply.code, 'ERR_WS_BROKER_UNAVAILABLE', JSON.stringify(reply));
      probing = `the broker back on port ${port}: ${n + 1} probes, served by ${[...served].join(' ')}, last ${JSON.stringify(reply)}`;
    }
  }
  probing = '';
}

/** The answer to publishThroughRestart's `{"op":"pace"}`. */
function isPaceReply(r: Reply): boolean {
  return r.op === 'error' && r.code === 'ERR_WS_INVALID_ARGUMENT' && /unknown op/.test(r.message);
}

/** The broker under a deployment, killed and started again by the outage scenario. */
export interface Restartable {
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Whether a restart keeps history and offsets (NATS file storage) or loses them (Redis without persistence). */
  keeps: boolean;
}

/**
 * The broker killed and started again: connections stay up; publishes and subscribes while it is
 * down get ERR_WS_BROKER_UNAVAILABLE and none of them is delivered later; once it is back, every
 * subscriber goes on — in the same epoch, offsets one by one, when the broker kept its data; told
 * the new epoch by a re-sent `subscribed` at offset 0 and then given it from offset 1, when it lost
 * it — and a client that comes back elsewhere with a `since` from before is given exactly what it
 * missed, or told `recovered: false` (never the new epoch's messages as if they were the old's).
 */
export async function brokerRestart(d: Deployment, broker: Restartable): Promise<void> {
  const topic = 'outage';
  const subscribers = await Promise.all(d.ports.map((port) => Peer.connect(port, d.opened)));
  const publisher = await Peer.connect(d.ports[d.ports.length - 1]!, d.opened);
  const goer = await Peer.connect(d.ports[0]!, d.opened);
  const starts = await Promise.all(subscribers.map((s) => s.subscribe(topic)));
  const at = await publisher.subscribe(topic);
  const left = await goer.subscribe(topic);
  for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: `before ${i}` });
  for (const [k, s] of subscribers.entries()) contiguous(await s.received(topic, 5), topic, starts[k].offset, 'before');
  await goer.received(topic, 1);
  const since = { offset: goer.messages(topic)[0].offset, epoch: left.epoch };
  goer.close();
  await publisher.received(topic, 5);

  await broker.kill();
  // While it is down: a publish (several) and a subscribe are refused with the documented code.
  const down = publisher.log.length;
  for (let i = 1; i <= 3; i++) publisher.send({ op: 'publish', topic, data: `refused ${i}` });
  for (let i = 0; i < 3; i++) {
    await publisher.until('three refusals', () => publisher.log.slice(down).filter((r) => r.op === 'error').length > i);
  }
  for (const r of publisher.log.slice(down)) {
    assert.deepEqual(Object.keys(r), ['op', 'code', 'message']);
    assert.equal(r.code, 'ERR_WS_BROKER_UNAVAILABLE', JSON.stringify(r));
  }
  const newcomer = await Peer.connect(d.ports[0]!, d.opened);
  newcomer.send({ op: 'subscribe', topic });
  await newcomer.error(0, 'ERR_WS_BROKER_UNAVAILABLE', 'a subscribe while the broker is down');
  for (const s of [...subscribers, publisher]) assert.equal(s.ended, false, 'connections stay up');

  await broker.start();
  await untilServing(d);
  const back = publisher.log.length;
  for (let i = 1; i <= 3; i++) publisher.send({ op: 'publish', topic, data: `after ${i}` });
  const afterData = ['after 1', 'after 2', 'after 3'];
  for (const [k, s] of [...subscribers, publisher].entries()) {
    const before = 5;
    await s.received(topic, before + 3);
    const start = k < subscribers.length ? starts[k] : at;
    const msgs = s.messages(topic);
    assert.ok(
      msgs.every((m) => typeof m.data === 'string' && !m.data.startsWith('refused')),
      'nothing refused is delivered',
    );
    const resent = s.log.filter((r) => r.op === 'subscribed').slice(1);
    if (broker.keeps) {
      assert.deepEqual(resent, [], 'the same epoch: no new subscribed');
      assert.deepEqual(contiguous(msgs, topic, start.offset, 'across the restart').slice(5), afterData);
    } else {
      assert.equal(resent.length, 1, `the new epoch announced once: ${JSON.stringify(resent)}`);
      assert.equal(resent[0].offset, 0);
      assert.notEqual(resent[0].epoch, start.epoch, 'a new epoch');
      const announced = s.log.indexOf(resent[0]);
      const afterIt = s.log.slice(announced + 1).filter((r) => r.op === 'message');
      assert.deepEqual(contiguous(afterIt, topic, 0, 'the new epoch'), afterData);
      assert.equal(s.log.indexOf(afterIt[0]), announced + 1, 'announced just before its first message');
    }
  }
  assert.equal(publisher.log.slice(back).filter((r) => r.op === 'error').length, 0, 'publishes taken again');
  const epoch = broker.keeps ? at.epoch : subscribers[0]!.log.filter((r) => r.op === 'subscribed')[1].epoch;
  const now = broker.keeps ? at.offset + 8 : 3;
  // Subscribing again answers where the subscription stands as last told: after a new epoch was
  // announced, that epoch (its `since` from then on), not the first answer's, which names a lost history.
  const again = subscribers[0]!;
  const told = again.log.filter((r) => r.op === 'subscribed').at(-1);
  const repeat = await again.subscribe(topic);
  assert.deepEqual(repeat, { op: 'subscribed', topic, offset: told.offset, epoch });
  const withSince = await again.subscribe(topic, { offset: 0, epoch: 'another' });
  assert.deepEqual(withSince, { op: 'subscribed', topic, offset: told.offset, epoch, recovered: false });
  assert.equal(again.messages(topic).length, 5 + 3, 'nothing delivered twice');

  // The client that left before the outage comes back elsewhere with its since.
  const returning = await connectElsewhere(d, { port: d.ports[0]!, worker: goer.worker });
  const r = await returning.subscribe(topic, since);
  if (broker.keeps) {
    assert.deepEqual([r.offset, r.epoch, r.recovered], [since.offset, epoch, true]);
    const got = contiguous(await returning.received(topic, now - since.offset), topic, since.offset, 'recovered');
    assert.deepEqual(got.slice(-3), afterData);
  } else {
    assert.deepEqual([r.offset, r.epoch, r.recovered], [now, epoch, false], 'an old epoch is not recovered');
  }
  publisher.send({ op: 'publish', topic, data: 'live' });
  const live = await returning.find('the live message', 0, (m) => m.op === 'message' && m.data === 'live');
  assert.equal(live.reply.offset, now + 1);
  const messages = returning.messages(topic);
  contiguous(messages, topic, broker.keeps ? since.offset : now, 'returning client');
  assert.equal(returning.log.length, 1 + messages.length, 'nothing else, nothing twice');
}

/** A subscriber's log split by epoch: each `subscribed` reply starts a part, holding the messages after it. */
function byEpoch(log: Reply[], topic: string): { epoch: string; offset: number; data: unknown[]; offsets: number[] }[] {
  const parts: { epoch: string; offset: number; data: unknown[]; offsets: number[] }[] = [];
  for (const r of log) {
    if (r.topic !== topic) continue;
    if (r.op === 'subscribed') parts.push({ epoch: r.epoch, offset: r.offset, data: [], offsets: [] });
    else if (r.op === 'message') {
      parts.at(-1)!.data.push(r.data);
      parts.at(-1)!.offsets.push(r.offset);
    }
  }
  return parts;
}

/**
 * The broker killed and started again while three publishers, one per process, keep publishing:
 * each publish is either refused (ERR_WS_BROKER_UNAVAILABLE) or delivered, never both lost, never
 * twice; each publisher's delivered messages keep its order; every subscriber's offsets go one by
 * one within an epoch; and after the restart every subscriber gets the same messages.
 */
export async function publishThroughRestart(d: Deployment, broker: Restartable, seed: number): Promise<void> {
  const rand = random(seed);
  const topic = `through-${seed}`;
  const subscribers: Peer[] = [];
  for (let i = 0; i < 6; i++) subscribers.push(await Peer.connect(d.ports[i % d.ports.length]!, d.opened));
  await Promise.all(subscribers.map((s) => s.subscribe(topic)));
  const publishers: Peer[] = [];
  for (const port of d.ports) publishers.push(await Peer.connect(port, d.opened));
  // Subscribed to a barrier topic: its unsubscribe waits for the connection's earlier publishes.
  await Promise.all(publishers.map((p) => p.subscribe(`${topic}-barrier`)));
  const sent = publishers.map(() => 0);
  let stop = false;
  const publishing = publishers.map(async (p, from) => {
    let paced = 0;
    while (!stop) {
      p.send({ op: 'publish', topic, data: { from, i: sent[from]! } });
      sent[from]!++;
      // A few each turn; now and then a round trip (an unknown op, answered at once once the
      // publishes before it were read), so publishing is paced by the server, not by a timer.
      if (rand() < 0.3) {
        p.send({ op: 'pace' });
        paced++;
        await p.until('the pace reply', () => p.log.filter(isPaceReply).length >= paced);
      } else await turn();
    }
  });
  const total = (): number => sent.reduce((a, b) => a + b, 0);
  await subscribers[0]!.until('some messages before the kill', () => subscribers[0]!.messages(topic).length >= 30);
  await broker.kill();
  await publishers[0]!.until('a refusal', () => publishers[0]!.log.some((r) => r.op === 'error'));
  await broker.start();
  await untilServing(d);
  const afterRestart = total();
  await subscribers[0]!.until('messages after the restart', () =>
    subscribers[0]!.messages(topic).some((m) => (m.data as { i: number }).i > afterRestart / 3 + 20),
  );
  stop = true;
  await Promise.all(publishing);
  // A last message from each publisher marks the end: whatever was delivered is in before it.
  for (const [from, p] of publishers.entries()) p.send({ op: 'publish', topic, data: { from, i: 'end' } });
  for (const s of subscribers) {
    await s.until('every end mark', () => s.messages(topic).filter((m) => m.data.i === 'end').length === 3);
  }
  await Promise.all(
    publishers.map(async (p) => {
      p.send({ op: 'unsubscribe', topic: `${topic}-barrier` });
      p.send({ op: 'subscribe', topic: `${topic}-settled` });
      await p.find('the barrier', 0, (r) => r.topic === `${topic}-settled`);
    }),
  );
  const refused = publishers.map((p) => {
    const replies = p.log.filter((r) => r.op !== 'subscribed' && !isPaceReply(r));
    for (const r of replies) assert.equal(r.code, 'ERR_WS_BROKER_UNAVAILABLE', JSON.stringify(r));
    return replies.length;
  });
  const parts = subscribers.map((s) => byEpoch(s.log, topic));
  for (const [k, ps] of parts.entries()) {
    for (const part of ps) {
      part.offsets.forEach((o, j) => {
        if (j > 0) assert.equal(o, part.offsets[j - 1]! + 1, `subscriber ${k}: offsets one by one in ${part.epoch}`);
      });
    }
    const data = ps.flatMap((p) => p.data) as { from: number; i: number | 'end' }[];
    for (let from = 0; from < publishers.length; from++) {
      const mine = data.filter((x) => x.from === from && x.i !== 'end').map((x) => x.i as number);
      for (let j = 1; j < mine.length; j++)
        assert.ok(mine[j]! > mine[j - 1]!, `subscriber ${k}: publisher ${from} in order`);
    }
  }
  // Every subscriber ends with the same last part (the epoch after the restart, or the one that went on).
  const lasts = parts.map((ps) => ps.at(-1)!);
  for (const l of lasts) {
    assert.equal(l.epoch, lasts[0]!.epoch);
    assert.deepEqual(l.offsets.at(-1), lasts[0]!.offsets.at(-1));
  }
  // Each publish refused or delivered (to the subscriber that got the most): a publish in flight
  // when the broker died may be both (it may have been stored), none may be neither when the broker
  // kept its data.
  const widest = parts.map((ps) => ps.flatMap((p) => p.data) as { from: number; i: number | 'end' }[]);
  for (let from = 0; from < publishers.length; from++) {
    const got = Math.max(
      ...widest.map((data) => new Set(data.filter((x) => x.from === from).map((x) => x.i)).size - 1),
    );
    if (broker.keeps)
      assert.ok(
        got + refused[from]! >= sent[from]!,
        `publisher ${from}: ${got} delivered + ${refused[from]} refused of ${sent[from]}`,
      );
    assert.ok(got <= sent[from]!, `publisher ${from}: nothing delivered twice`);
  }
  console.log(
    `through the restart: sent ${sent}, refused ${refused}, parts ${parts.map((ps) => ps.map((p) => p.data.length).join('+')).join(' ')}`,
  );
}

/**
 * `since` at the edges, on another process than the publisher: the last offset (nothing to
 * recover), 0 (everything), one the topic never reached, another epoch, the largest safe integer;
 * each answered as doc/pubsub.md says, then live messages from the right offset.
 */
export async function sinceEdges(d: Deployment): Promise<void> {
  const topic = 'since-edges';
  const publisher = await Peer.connect(d.ports[0]!, d.opened);
  const at = await publisher.subscribe(topic);
  for (let i = 1; i <= 10; i++) publisher.send({ op: 'publish', topic, data: i });
  await publisher.received(topic, 10);
  const now = at.offset + 10;
  const cases: [Position, { offset: number; recovered: boolean; replayed: number }][] = [
    [
      { offset: now, epoch: at.epoch },
      { offset: now, recovered: true, replayed: 0 },
    ],
    [
      { offset: at.offset, epoch: at.epoch },
      { offset: at.offset, recovered: true, replayed: 10 },
    ],
    [
      { offset: now + 1, epoch: at.epoch },
      { offset: now, recovered: false, replayed: 0 },
    ],
    [
      { offset: now + 1000, epoch: at.epoch },
      { offset: now, recovered: false, replayed: 0 },
    ],
    [
      { offset: Number.MAX_SAFE_INTEGER, epoch: at.epoch },
      { offset: now, recovered: false, replayed: 0 },
    ],
    [
      { offset: 3, epoch: `${at.epoch}x` },
      { offset: now, recovered: false, replayed: 0 },
    ],
    [
      { offset: 0, epoch: '' },
      { offset: now, recovered: false, replayed: 0 },
    ],
  ];
  const clients: Peer[] = [];
  for (const [k, [since, want]] of cases.entries()) {
    const c = await Peer.connect(d.ports[(k % (d.ports.length - 1 || 1)) + (d.ports.length > 1 ? 1 : 0)]!, d.opened);
    clients.push(c);
    const r = await c.subscribe(topic, since);
    assert.deepEqual(
      { offset: r.offset, epoch: r.epoch, recovered: r.recovered },
      { offset: want.offset, epoch: at.epoch, recovered: want.recovered },
      `since ${JSON.stringify(since)}`,
    );
    await c.received(topic, want.replayed);
  }
  publisher.send({ op: 'publish', topic, data: 'live' });
  for (const [k, c] of clients.entries()) {
    const { offset, replayed } = cases[k]![1];
    const got = contiguous(await c.received(topic, replayed + 1), topic, offset, `since case ${k}`);
    assert.equal(got.at(-1), 'live');
    assert.equal(c.log.length, 1 + replayed + 1, `since case ${k}: nothing else`);
  }
  // A topic nobody published to: its epoch is recovered from offset 0, elsewhere too.
  const fresh = await Peer.connect(d.ports[0]!, d.opened);
  const f = await fresh.subscribe('since-fresh');
  assert.equal(f.offset, 0);
  const other = await connectElsewhere(d, { port: d.ports[0]!, worker: fresh.worker });
  const o = await other.subscribe('since-fresh', { offset: 0, epoch: f.epoch });
  assert.deepEqual([o.offset, o.epoch, o.recovered], [0, f.epoch, true]);
}

/**
 * One publisher's messages to 50 topics reach a subscriber of them all, here and elsewhere, in the
 * order it published them (the in-memory, cluster and Redis brokers; not NATS, doc/pubsub.md).
 */
export async function orderAcrossTopics(d: Deployment): Promise<void> {
  const topics = Array.from({ length: 50 }, (_, i) => `across-${i}`);
  const publisher = await Peer.connect(d.ports[0]!, d.opened);
  const subscribers = [await Peer.connect(d.ports[0]!, d.opened), await Peer.connect(d.ports[1]!, d.opened)];
  for (const s of subscribers) for (const t of topics) await s.subscribe(t);
  for (let n = 0; n < 200; n++) publisher.send({ op: 'publish', topic: topics[n % 50], data: n });
  for (const s of subscribers) {
    await s.until('200 messages', () => s.log.filter((r) => r.op === 'message').length === 200);
    const data = s.log.filter((r) => r.op === 'message').map((r) => r.data);
    assert.deepEqual(
      data,
      Array.from({ length: 200 }, (_, n) => n),
      'in the order published, across topics',
    );
  }
}

/**
 * Every outside check on `serve --pubsub --broker` of `kind`, as three processes on one broker and
 * as one process with `--workers 2`. Redis runs without persistence (a restart is a new epoch);
 * NATS with JetStream file storage (the same epoch goes on). Through NATS two topics' messages may
 * arrive in another order than published (a stream per topic), so order across topics is checked on
 * Redis only.
 */
export function describeOnBroker(kind: 'redis' | 'nats', seed: number): void {
  const brokerName = kind === 'redis' ? 'Redis' : 'NATS';
  const restart =
    kind === 'redis'
      ? 'Redis restarted without its data: refusals while down, a new epoch announced, an old since not recovered'
      : 'NATS restarted with its streams: refusals while down, the same epoch goes on, an old since recovered exactly';
  for (const [name, count, args] of [
    ['three processes', 3, []],
    ['one process with --workers 2', 1, ['--workers', '2']],
  ] as const) {
    describe(`outside checks: serve --pubsub on one ${brokerName}, ${name}`, () => {
      let broker: BrokerProcess;
      let servers: Server[] = [];
      const d: Deployment = { ports: [], opened: [], workers: count === 1 ? 2 : undefined };
      const restartable: Restartable = {
        kill: () => broker.kill(),
        start: () => broker.start(),
        keeps: kind === 'nats',
      };
      before(async () => {
        broker = await (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats());
        servers = await Promise.all(
          Array.from({ length: count }, () =>
            startServer(['--pubsub', '--broker', broker.url, '--history', '1000', ...args]),
          ),
        );
        // With one process, three entries of its port: each connection goes to whichever worker the kernel picks.
        d.ports = count === 1 ? [servers[0]!.port, servers[0]!.port, servers[0]!.port] : servers.map((s) => s.port);
      });
      after(async () => {
        for (const p of d.opened) p.close();
        await Promise.all(servers.map((s) => s.stop()));
        await broker.stop();
      });

      // Each scenario takes seconds: one that hangs fails after two minutes, saying what it waited for.
      const check = (title: string, scenario: () => Promise<void>): void => {
        it(title, { timeout: 120_000 }, (t) => reportingWaits(t, d, scenario));
      };
      check('four concurrent publishers, six subscribers: every message once, in one order', () =>
        orderEverywhere(d, seed),
      );
      if (kind === 'redis') {
        check("one publisher's messages to 50 topics arrive in the order published, here and elsewhere", () =>
          orderAcrossTopics(d),
        );
      }
      check('a subscriber dropped mid-stream recovers elsewhere while publishing goes on', () =>
        handoffWhilePublishing(d, seed),
      );
      check('since at its edges, answered elsewhere as documented', () => sinceEdges(d));
      check('clients that subscribe and go at once leave every server up and serving', () =>
        subscribeAndGo(d, servers),
      );
      check(restart, () => brokerRestart(d, restartable));
      check(
        `${brokerName} killed and restarted while three publishers publish: each publish refused or delivered, in order`,
        () => publishThroughRestart(d, restartable, seed),
      );
    });
  }
}
