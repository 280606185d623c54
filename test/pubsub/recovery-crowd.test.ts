/**
 * Many subscribers recovering at once (a process's clients reconnecting elsewhere with `since`).
 * Each history read of a Redis or NATS broker is one answer of up to `history.bytes` and a fresh
 * copy: fifty `serve --pubsub` clients recovering 16 MiB at once queued 800 MB ahead of the Redis
 * broker's keep-alive (the link taken for stalled: an outage for every client of the process), NATS
 * cut the connection as a slow consumer, and twenty that did not read held +400 MB. Now PubSub reads
 * history two at a time, makes one read for those waiting with the same topic and `since`, and
 * shares the messages of one offset between the replays that hold them; a read waiting its turn
 * whose subscribers all reset their connections meanwhile is not made.
 * A broker here is a MemoryBroker behind a wrapper that answers a few turns later with fresh copies,
 * as a networked one does, and counts its reads.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { BrokerMessage, TopicPosition } from '../../src/pubsub/broker.js';
import { MemoryBroker, PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { ForwardingBroker, serverFor } from './pubsub-support.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A MemoryBroker whose history answers come a few turns late, as fresh copies; reads counted. */
class CopyingBroker extends ForwardingBroker {
  reads = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Every message history() handed out, weakly, by offset. */
  readonly handedOut = new Map<number, WeakRef<BrokerMessage>[]>();
  constructor() {
    super(new MemoryBroker());
  }
  override async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    this.reads++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      for (let i = 0; i < 3; i++) await turn();
      const history = await this.inner.history(topic, since);
      return (
        history?.map((m) => {
          const copy = { ...m, data: Buffer.from(m.data) };
          const refs = this.handedOut.get(m.offset) ?? [];
          refs.push(new WeakRef(copy));
          this.handedOut.set(m.offset, refs);
          return copy;
        }) ?? null
      );
    } finally {
      this.inFlight--;
    }
  }
}

async function setUp(t: TestContext, messages: number, size: number) {
  const broker = new CopyingBroker();
  const ps = new PubSub({ broker, history: { size: messages, ttlSeconds: 0, bytes: 64 * 1024 * 1024 } });
  const { pair } = await serverFor(t, ps);
  let at = { offset: 0, epoch: '' };
  for (let i = 1; i <= messages; i++) at = await ps.publish('h', `m${i}:`.padEnd(size, '.'));
  /** Subscribers whose clients read nothing yet, each recovering from its `since` offset, all at once. */
  const crowd = async (sinces: number[]) => {
    const pairs = [];
    for (const _ of sinces) {
      const subscriber = await pair();
      subscriber.client.sock.pause();
      pairs.push(subscriber);
    }
    const results = await Promise.all(
      pairs.map(({ ws }, i) => ps.subscribe(ws, 'h', { since: { offset: sinces[i]!, epoch: at.epoch } })),
    );
    for (const [i, r] of results.entries())
      assert.deepEqual(r, { offset: sinces[i], epoch: at.epoch, recovered: true });
    return pairs.map((p) => p.client);
  };
  return { broker, crowd };
}

/** Reads `client`'s text messages until `last`'s; returns the offsets their payloads name. */
async function readUpTo(client: RawClient, last: number): Promise<number[]> {
  client.sock.resume();
  const offsets: number[] = [];
  while (offsets.at(-1) !== last) {
    const m = await client.nextMessage();
    assert.equal(m.opcode, 1);
    const text = m.payload.toString();
    offsets.push(Number(text.slice(1, text.indexOf(':'))));
  }
  return offsets;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('a crowd of subscribers recovering at once', () => {
  it('is read from the broker two at a time, each subscriber getting all it missed, in order', async (t) => {
    const { broker, crowd } = await setUp(t, 20, 100);
    const sinces = range(0, 11);
    const clients = await crowd(sinces);
    assert.equal(broker.reads, sinces.length, 'one read per since');
    assert.equal(broker.maxInFlight, 2, 'two reads at a time');
    for (const [i, c] of clients.entries()) assert.deepEqual(await readUpTo(c, 20), range(sinces[i]! + 1, 20));
  });

  it('waiting with the same since, takes one read', async (t) => {
    const { broker, crowd } = await setUp(t, 20, 100);
    const clients = await crowd(Array(12).fill(5));
    // Two started at once; the ten behind them wait for one read together.
    assert.equal(broker.reads, 3);
    for (const c of clients) assert.deepEqual(await readUpTo(c, 20), range(6, 20));
  });

  it('holds one copy of a message however many replays hold it', async (t) => {
    // 16 MB of history: more than a paused client's socket buffers take, so each replay stalls holding most of it.
    const messages = 1000;
    const { broker, crowd } = await setUp(t, messages, 16 * 1024);
    const sinces = range(0, 5);
    const clients = await crowd(sinces);
    await turn(); // the replays start and stall on the paused sockets
    gc();
    await turn();
    const alive = [...broker.handedOut.values()].map((refs) => refs.filter((r) => r.deref() !== undefined).length);
    assert.equal(alive.length, messages);
    assert.ok(
      Math.max(...alive) === 1,
      `copies of one message held: up to ${Math.max(...alive)} (${alive.filter((n) => n > 1).length} messages held more than once)`,
    );
    for (const [i, c] of clients.entries()) {
      assert.deepEqual(await readUpTo(c, messages), range(sinces[i]! + 1, messages));
    }
  });

  it('makes no read for subscribers that reset their connections while it waited its turn', async (t) => {
    const broker = new CopyingBroker();
    const ps = new PubSub({ broker, history: { size: 20, ttlSeconds: 0 } });
    const { pair } = await serverFor(t, ps);
    let at = { offset: 0, epoch: '' };
    for (let i = 1; i <= 20; i++) at = await ps.publish('h', `m${i}:`);
    // The first two reads are held until the six queued behind them have reset their connections.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const history = broker.history.bind(broker);
    broker.history = async (topic, since) => {
      if (broker.reads < 2) await held;
      return history(topic, since);
    };
    let positions = 0;
    let allAsked!: () => void;
    const asked = new Promise<void>((resolve) => (allAsked = resolve));
    const position = broker.position.bind(broker);
    broker.position = (topic) => {
      if (++positions === 8) allAsked();
      return position(topic);
    };
    const pairs = [];
    for (let i = 0; i < 8; i++) pairs.push(await pair());
    const joins = pairs.map(({ ws }, i) =>
      ps.subscribe(ws, 'h', { since: { offset: i, epoch: at.epoch } }).then(
        (r) => r,
        () => null,
      ),
    );
    await asked;
    await turn(); // all have their position: two reads are made, six wait their turn
    for (const { client, ws } of pairs.slice(2)) {
      client.destroy();
      await ws.whenClosed();
    }
    await turn();
    release();
    const [first, second] = await Promise.all(joins);
    assert.deepEqual(first, { offset: 0, epoch: at.epoch, recovered: true });
    assert.deepEqual(second, { offset: 1, epoch: at.epoch, recovered: true });
    assert.equal(broker.reads, 2, 'reads of history');
    assert.deepEqual(await readUpTo(pairs[1]!.client, 20), range(2, 20));
  });
});
