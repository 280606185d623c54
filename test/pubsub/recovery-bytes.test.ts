/**
 * `recovery.maxBytes`: the recovered history a PubSub holds for its subscribers at once, on real
 * Redis and NATS servers. A Redis or NATS history read is a fresh copy per topic and `since`, held
 * until the subscriber's socket takes it: 50 `serve --pubsub` clients recovering 50 topics of
 * 16 MiB without reading held 779 MB of ArrayBuffers. Past the bound a recovery waits (its history
 * is not read) until a holder's socket takes its share or the holder leaves; one read always goes
 * when nothing is held, whatever its size. Every subscriber then gets all it missed, in order.
 * A subscriber that does not read is a server socket corked here (its writes stay buffered, their
 * callbacks waiting): what the stream's replay waits for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Socket } from 'node:net';
import type { BrokerMessage, TopicPosition } from '../../src/pubsub/broker.js';
import { NatsBroker, PubSub, RedisBroker } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { ForwardingBroker, serverFor } from './pubsub-support.js';

const SIZE = 8000;
const MESSAGES = 8;

/** A real broker whose history reads are listed (by topic), and whose position answers can be awaited. */
class WatchedBroker extends ForwardingBroker {
  readonly reads: string[] = [];
  private answered = new Map<string, () => void>();
  override async position(topic: string): Promise<TopicPosition> {
    const pos = await this.inner.position(topic);
    this.answered.get(topic)?.();
    return pos;
  }
  /** Resolves once the next position of `topic` is answered (its join then reads history, or waits to). */
  positionAnswered(topic: string): Promise<void> {
    return new Promise((resolve) => this.answered.set(topic, resolve));
  }
  override history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    this.reads.push(topic);
    return this.inner.history(topic, since);
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Reads `client`'s messages until offset `last`'s; returns the offsets their payloads name. */
async function readUpTo(client: RawClient, tag: string, last: number): Promise<number[]> {
  const offsets: number[] = [];
  while (offsets.at(-1) !== last) {
    const m = await client.nextMessage();
    const text = m.payload.toString();
    assert.ok(text.startsWith(tag), text.slice(0, 20));
    offsets.push(Number(text.slice(tag.length, text.indexOf(':'))));
  }
  return offsets;
}

const all = Array.from({ length: MESSAGES }, (_, i) => i + 1);

for (const kind of ['redis', 'nats'] as const) {
  describe(`recovery.maxBytes on ${kind}`, () => {
    let server: BrokerProcess;
    before(async () => {
      server = kind === 'redis' ? await BrokerProcess.redis() : await BrokerProcess.nats();
    });
    after(() => server.stop());

    /**
     * A PubSub on the broker (a backlog of 16 KiB: its replay waits past 8 KiB buffered), with
     * `topics` each holding MESSAGES of SIZE bytes (64 KB, under history.bytes 128 KiB).
     */
    async function setUp(t: TestContext, maxBytes: number, topics: string[]) {
      const inner = kind === 'redis' ? new RedisBroker(server.url) : new NatsBroker(server.url);
      const broker = new WatchedBroker(inner);
      const ps = new PubSub({
        broker,
        history: { size: 100, ttlSeconds: 0, bytes: 128 * 1024 },
        slowSubscriber: { maxBytes: 16 * 1024 },
        recovery: { maxBytes },
      });
      const { pair } = await serverFor(t, ps);
      const epochs = new Map<string, string>();
      for (const topic of topics) {
        for (const i of all) {
          const at = await ps.publish(topic, `${topic}${i}:`.padEnd(SIZE, '.'));
          epochs.set(topic, at.epoch);
        }
      }
      /** A subscriber recovering `topic` from its start; `corked`: its server socket takes nothing yet. */
      const recovering = async (topic: string, corked: boolean) => {
        const p = await pair();
        const socket = p.layer.duplex as Socket;
        if (corked) socket.cork();
        const result = ps.subscribe(p.ws, topic, { since: { offset: 0, epoch: epochs.get(topic)! } });
        return { ...p, socket, result, epoch: epochs.get(topic)! };
      };
      return { broker, recovering };
    }

    it('past the bound a recovery waits, unread, until the holder reads; each gets all, in order', async (t) => {
      // A holder corked keeps 6 of its 8 messages (48 KB); a read counts 100 KiB while it runs.
      const { broker, recovering } = await setUp(t, 100 * 1024, [`a-${kind}`, `b-${kind}`]);
      const holder = await recovering(`a-${kind}`, true);
      assert.deepEqual(await holder.result, { offset: 0, epoch: holder.epoch, recovered: true });
      await turn(); // its replay starts, and stops at its socket

      const answered = broker.positionAnswered(`b-${kind}`);
      const waiter = await recovering(`b-${kind}`, false);
      let settled = false;
      void waiter.result.finally(() => (settled = true));
      await answered;
      await turn();
      assert.deepEqual(broker.reads, [`a-${kind}`], 'the second history is not read while the first is held');
      assert.equal(settled, false);

      holder.socket.uncork();
      assert.deepEqual(await readUpTo(holder.client, `a-${kind}`, MESSAGES), all);
      assert.deepEqual(await waiter.result, { offset: 0, epoch: waiter.epoch, recovered: true });
      assert.deepEqual(await readUpTo(waiter.client, `b-${kind}`, MESSAGES), all);
      assert.deepEqual(broker.reads, [`a-${kind}`, `b-${kind}`]);
    });

    it('a holder that leaves frees its share: the recovery waiting goes on', async (t) => {
      const { broker, recovering } = await setUp(t, 100 * 1024, [`c-${kind}`, `d-${kind}`]);
      const holder = await recovering(`c-${kind}`, true);
      await holder.result;
      await turn();
      const answered = broker.positionAnswered(`d-${kind}`);
      const waiter = await recovering(`d-${kind}`, false);
      await answered;
      await turn();
      assert.deepEqual(broker.reads, [`c-${kind}`]);

      holder.socket.destroy();
      assert.deepEqual(await waiter.result, { offset: 0, epoch: waiter.epoch, recovered: true });
      assert.deepEqual(await readUpTo(waiter.client, `d-${kind}`, MESSAGES), all);
    });

    it('a history larger than the bound is still recovered, one at a time', async (t) => {
      const { broker, recovering } = await setUp(t, 10 * 1024, [`e-${kind}`, `f-${kind}`]);
      const first = await recovering(`e-${kind}`, true);
      await first.result;
      await turn();
      const answered = broker.positionAnswered(`f-${kind}`);
      const second = await recovering(`f-${kind}`, true);
      await answered;
      await turn();
      assert.deepEqual(broker.reads, [`e-${kind}`]);
      first.socket.uncork();
      assert.deepEqual(await readUpTo(first.client, `e-${kind}`, MESSAGES), all);
      assert.deepEqual(await second.result, { offset: 0, epoch: second.epoch, recovered: true });
      second.socket.uncork();
      assert.deepEqual(await readUpTo(second.client, `f-${kind}`, MESSAGES), all);
    });
  });
}
