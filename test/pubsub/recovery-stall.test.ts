/**
 * `recovery.stallMs`, on real Redis and NATS servers: subscribers that recover with `since` and then
 * stop reading hold their recovered history until their sockets take it, and past
 * `recovery.maxBytes` every later recovery waits for them. Before, they were waited for as long as
 * they stayed (the slow-subscriber policy acts on live messages, and a quiet topic sends none): a
 * handful of stalled clients held every later recovery of the process for ever. Now, while a
 * recovery waits for room, a holder whose socket took nothing for `stallMs` meets the
 * slow-subscriber policy: closed with 1008 ('close'), or its unsent history skipped ('drop'); its
 * share goes and the recovery waiting is read and delivered, all of it, in order.
 * A subscriber that does not read is a server socket corked here (its writes stay buffered, their
 * callbacks waiting): what the replay waits for, as for a client whose TCP window is shut.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Socket } from 'node:net';
import type { DropEvent } from '../../src/pubsub/pubsub.js';
import { NatsBroker, PubSub, RedisBroker } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { serverFor } from './pubsub-support.js';

const SIZE = 8000;
const MESSAGES = 8;
const all = Array.from({ length: MESSAGES }, (_, i) => i + 1);
/** A small stall limit: the holders here stop reading for good, so no test waits on a clock for long. */
const STALL_MS = 20;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const held = (ps: PubSub): number => (ps as unknown as { recoveryBytes: number }).recoveryBytes;

/** The offset a message of `tag` names (`${tag}${offset}:....`). */
function offsetOf(payload: Buffer, tag: string): number {
  const text = payload.toString();
  assert.ok(text.startsWith(tag), text.slice(0, 20));
  return Number(text.slice(tag.length, text.indexOf(':')));
}

/** Reads `client`'s messages until offset `last`'s; returns the offsets their payloads name. */
async function readUpTo(client: RawClient, tag: string, last: number): Promise<number[]> {
  const offsets: number[] = [];
  while (offsets.at(-1) !== last) offsets.push(offsetOf((await client.nextMessage()).payload, tag));
  return offsets;
}

for (const kind of ['redis', 'nats'] as const) {
  describe(`recovery.stallMs on ${kind}`, { timeout: 60_000 }, () => {
    let server: BrokerProcess;
    before(async () => {
      server = kind === 'redis' ? await BrokerProcess.redis() : await BrokerProcess.nats();
    });
    after(() => server.stop());

    /**
     * A PubSub on the broker: a backlog of 16 KiB (a corked replay queues 2 messages and holds the
     * other 6, 48 KB), history.bytes 128 KiB (what a read counts while it runs), recovery.maxBytes
     * 256 KiB: two holders and a read fit, three holders and a read do not. Each of `topics` holds
     * MESSAGES of SIZE bytes.
     */
    async function setUp(t: TestContext, policy: 'close' | 'drop', topics: string[]) {
      const broker = kind === 'redis' ? new RedisBroker(server.url) : new NatsBroker(server.url);
      const ps = new PubSub({
        broker,
        history: { size: 100, ttlSeconds: 0, bytes: 128 * 1024 },
        slowSubscriber: { maxBytes: 16 * 1024, policy },
        recovery: { maxBytes: 256 * 1024, stallMs: STALL_MS },
      });
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      const { pair } = await serverFor(t, ps);
      const epochs = new Map<string, string>();
      for (const topic of topics) {
        for (const i of all) epochs.set(topic, (await ps.publish(topic, `${topic}${i}:`.padEnd(SIZE, '.'))).epoch);
      }
      /** A subscriber recovering `topic` from its start; `corked`: its server socket takes nothing. */
      const recovering = async (topic: string, corked: boolean) => {
        const p = await pair();
        const socket = p.layer.duplex as Socket;
        if (corked) socket.cork();
        const result = ps.subscribe(p.ws, topic, { since: { offset: 0, epoch: epochs.get(topic)! } });
        return { ...p, topic, socket, result, epoch: epochs.get(topic)! };
      };
      return { ps, drops, recovering };
    }

    it("stalled holders are closed with 1008 ('close'); the recovery behind them gets all, in order", async (t) => {
      const stalledTopics = [1, 2, 3].map((i) => `s${i}-${kind}`);
      const good = `g-${kind}`;
      const { ps, drops, recovering } = await setUp(t, 'close', [...stalledTopics, good]);
      const stalled: Awaited<ReturnType<typeof recovering>>[] = [];
      for (const topic of stalledTopics) {
        const s = await recovering(topic, true);
        assert.deepEqual(await s.result, { offset: 0, epoch: s.epoch, recovered: true });
        stalled.push(s);
      }
      await turn(); // their replays start, and stop at their sockets
      assert.ok(held(ps) > 128 * 1024, `three holders hold 6 messages each: ${held(ps)} bytes`);

      // Waits for room behind them (on main: for ever).
      const reader = await recovering(good, false);
      assert.deepEqual(await reader.result, { offset: 0, epoch: reader.epoch, recovered: true });
      assert.deepEqual(await readUpTo(reader.client, good, MESSAGES), all);

      // The holders stalled when the check came met the policy, once each, for the first message
      // they had not been sent: the oldest first (they took nothing since their replays started), so
      // those stalled are the first `n`, and one suffices to make room.
      const n = new Set(drops.map((d) => d.ws)).size;
      assert.ok(n >= 1);
      assert.deepEqual(
        drops.map((d) => [stalled.findIndex((s) => s.ws === d.ws), d.topic, d.offset, d.epoch, d.bytes, d.policy]),
        stalled.slice(0, n).map((s, i) => [i, s.topic, 3, s.epoch, SIZE, 'close']),
      );
      assert.equal(ps.dropped, n);
      // Once it reads, each closed gets what was queued to it (the first two, in order), then the
      // close; one not stalled yet then was left alone, and gets its whole history.
      for (const [i, s] of stalled.entries()) {
        assert.equal(ps.subscriberCount(s.topic), i < n ? 0 : 1);
        s.socket.uncork();
        if (i >= n) {
          assert.deepEqual(await readUpTo(s.client, s.topic, MESSAGES), all);
          continue;
        }
        const { code, before } = await s.client.expectClose({ answer: true });
        assert.equal(code, 1008);
        assert.deepEqual(
          before.map((f) => offsetOf(f.payload, s.topic)),
          [1, 2],
        );
      }
      for (let i = 0; i < 3; i++) await turn();
      assert.equal(held(ps), 0);
    });

    it("a stalled holder under 'drop' skips the history it was not sent, and stays subscribed", async (t) => {
      const topics = [1, 2, 3].map((i) => `d${i}-${kind}`);
      const good = `h-${kind}`;
      const { ps, drops, recovering } = await setUp(t, 'drop', [...topics, good]);
      const stalled: Awaited<ReturnType<typeof recovering>>[] = [];
      for (const topic of topics) {
        const s = await recovering(topic, true);
        await s.result;
        stalled.push(s);
      }
      await turn();
      const reader = await recovering(good, false);
      assert.deepEqual(await reader.result, { offset: 0, epoch: reader.epoch, recovered: true });
      assert.deepEqual(await readUpTo(reader.client, good, MESSAGES), all);

      // One 'drop' per message skipped: the six each holder stalled then held (those behind its two
      // in flight), the oldest holders first (see above).
      const n = new Set(drops.map((d) => d.ws)).size;
      assert.ok(n >= 1);
      assert.deepEqual(
        drops.map((d) => [stalled.findIndex((s) => s.ws === d.ws), d.topic, d.offset, d.policy]),
        stalled.slice(0, n).flatMap((s, i) => [3, 4, 5, 6, 7, 8].map((o) => [i, s.topic, o, 'drop'])),
      );
      // Read again, a holder that skipped gets what was queued, and once its replay is over, live
      // messages; one not stalled yet then was left alone, and gets its whole history.
      for (const [i, s] of stalled.entries()) {
        s.socket.uncork();
        if (i >= n) {
          assert.deepEqual(await readUpTo(s.client, s.topic, MESSAGES), all);
          continue;
        }
        await ps._replayed(s.ws, s.topic);
        assert.equal(ps.subscriberCount(s.topic), 1);
        await ps.publish(s.topic, `${s.topic}9:`.padEnd(SIZE, '.'));
        assert.deepEqual(await readUpTo(s.client, s.topic, 9), [1, 2, 9]);
      }
      for (let i = 0; i < 3; i++) await turn();
      assert.equal(held(ps), 0);
    });

    it('a stalled holder is left alone while no recovery waits for room', async (t) => {
      const { ps, recovering } = await setUp(t, 'close', [`q-${kind}`]);
      const s = await recovering(`q-${kind}`, true);
      await s.result;
      await turn();
      assert.ok(held(ps) > 0);
      // No recovery waits: nothing watches its socket's stall (no timer), whatever its duration.
      assert.equal((ps as unknown as { stallTimer: unknown }).stallTimer, null);
      s.socket.uncork();
      assert.deepEqual(await readUpTo(s.client, `q-${kind}`, MESSAGES), all);
      assert.equal(ps.dropped, 0);
    });
  });
}

it('recovery.stallMs: an integer from 0 to 2^31 − 1 (what a timer holds), else ERR_WS_INVALID_ARGUMENT', async () => {
  for (const stallMs of [-1, 1.5, Number.NaN, 2 ** 31, '30' as unknown as number]) {
    assert.throws(() => new PubSub({ recovery: { stallMs } }), { code: 'ERR_WS_INVALID_ARGUMENT' }, String(stallMs));
  }
  for (const stallMs of [0, 1, 2 ** 31 - 1]) await new PubSub({ recovery: { stallMs } }).close();
});
