/**
 * `recovery.stallMs` closes a holder of recovered history whose socket takes nothing, never one
 * that reads slowly: a socket taking a frame too large for one go calls no write callback for a
 * long while, yet its `bufferedAmount` goes down. Here the holder's next layer keeps what the
 * stream writes (no callback) and gives up one byte each time it is asked how much it holds: a
 * client reading a little all the time. With `stallMs` 1 and a recovery waiting behind it, the
 * stall is looked at again and again (each look counted) and the holder is left alone; once its
 * layer writes for real, it gets everything, and so does the recovery that waited. A broker whose
 * history reads are copies (as Redis's and NATS's are), over a MemoryBroker.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { BrokerMessage, TopicPosition } from '../../src/pubsub/broker.js';
import { MemoryBroker, PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { ForwardingBroker, type RecordingLayer, serverFor } from './pubsub-support.js';

class CopyingBroker extends ForwardingBroker {
  constructor() {
    super(new MemoryBroker());
  }
  override async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    const h = await this.inner.history(topic, since);
    return h === null ? null : h.map((m) => ({ ...m, data: Buffer.from(m.data) }));
  }
}

/**
 * Makes `layer` a socket that reads slowly: what is written to it is kept (its callbacks wait),
 * and each look at `writableLength` finds one byte fewer. `looked(n)` resolves at the n-th look
 * from now; `release()` writes what was kept, for real, and ends the slowness.
 */
function slowReader(layer: RecordingLayer) {
  const kept: { chunks: Buffer[]; cb: (err?: Error | null) => void }[] = [];
  const write = layer.write.bind(layer);
  let left = 0;
  let looks = 0;
  let waiting: { at: number; resolve: () => void } | null = null;
  layer.write = (chunks, cb) => {
    kept.push({ chunks, cb });
    for (const c of chunks) left += c.length;
  };
  Object.defineProperty(layer, 'writableLength', {
    configurable: true,
    get() {
      looks++;
      if (waiting !== null && looks >= waiting.at) waiting.resolve();
      if (left > 0) left--;
      return left;
    },
  });
  return {
    looked: (n: number) => new Promise<void>((resolve) => (waiting = { at: looks + n, resolve })),
    release() {
      delete (layer as { write?: unknown }).write;
      delete (layer as { writableLength?: unknown }).writableLength;
      for (const { chunks, cb } of kept.splice(0)) write(chunks, cb);
    },
  };
}

/** Reads `client`'s messages until offset `last`'s; returns the offsets their payloads name. */
async function readUpTo(client: RawClient, last: number): Promise<number[]> {
  const offsets: number[] = [];
  while (offsets.at(-1) !== last) {
    const text = (await client.nextMessage()).payload.toString();
    offsets.push(Number(text.slice(0, text.indexOf(':'))));
  }
  return offsets;
}

it('a holder whose socket takes its bytes slowly, without a write callback, is not taken for stalled', async (t) => {
  const ps = new PubSub({
    broker: new CopyingBroker(),
    slowSubscriber: { maxBytes: 16 * 1024 },
    recovery: { maxBytes: 100 * 1024, stallMs: 1 },
  });
  const { pair } = await serverFor(t, ps);
  let epoch = '';
  for (let i = 1; i <= 8; i++) epoch = (await ps.publish('a', `${i}:`.padEnd(8000, '.'))).epoch;

  const holder = await pair();
  const slow = slowReader(holder.layer);
  assert.equal((await ps.subscribe(holder.ws, 'a', { since: { offset: 0, epoch } })).recovered, true);
  await new Promise((resolve) => setImmediate(resolve)); // its replay starts: 2 messages in flight, 6 held

  // A recovery from another offset waits behind it (48 KB held and a read of 100 KiB pass the bound).
  const waiter = await pair();
  let settled = false;
  const result = ps.subscribe(waiter.ws, 'a', { since: { offset: 1, epoch } });
  void result.finally(() => (settled = true));
  // The stall is looked at over and over (1 ms apart); each time the socket took some. (Had the
  // holder been closed, its share let go, the waiting recovery would go on: that ends the wait too.)
  await Promise.race([slow.looked(20), result.catch(() => {})]);
  assert.equal(ps.dropped, 0);
  assert.equal(settled, false, 'the waiting recovery waits: the holder was not closed');
  assert.deepEqual(ps.topics(holder.ws), ['a']);

  slow.release();
  assert.deepEqual(await readUpTo(holder.client, 8), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(await result, { offset: 1, epoch, recovered: true });
  assert.deepEqual(await readUpTo(waiter.client, 8), [2, 3, 4, 5, 6, 7, 8]);
  assert.equal(ps.dropped, 0);
});
