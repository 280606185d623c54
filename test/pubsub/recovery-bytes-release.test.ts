/**
 * `recovery.maxBytes` accounting comes back to zero whatever ends a recovery: its subscriber leaving
 * mid-replay, the PubSub closing, a history read that fails or gives null. A broker whose history
 * reads are copies (as Redis's and NATS's are), over a MemoryBroker.
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { Socket } from 'node:net';
import type { BrokerMessage, TopicPosition } from '../../src/pubsub/broker.js';
import { MemoryBroker, PubSub } from '../../src/pubsub/index.js';
import { ForwardingBroker, serverFor } from './pubsub-support.js';

/** A MemoryBroker whose history reads are fresh copies; `failNext`: the next read rejects, `nullNext`: gives null. */
class CopyingBroker extends ForwardingBroker {
  failNext = false;
  nullNext = false;
  constructor() {
    super(new MemoryBroker());
  }
  override async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('read failed');
    }
    if (this.nullNext) {
      this.nullNext = false;
      return null;
    }
    const h = await this.inner.history(topic, since);
    return h === null ? null : h.map((m) => ({ ...m, data: Buffer.from(m.data) }));
  }
}

const held = (ps: PubSub): number => (ps as unknown as { recoveryBytes: number }).recoveryBytes;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function setUp(t: TestContext) {
  const broker = new CopyingBroker();
  const ps = new PubSub({ broker, slowSubscriber: { maxBytes: 16 * 1024 }, recovery: { maxBytes: 100 * 1024 } });
  const { pair } = await serverFor(t, ps);
  let epoch = '';
  for (let i = 1; i <= 8; i++) epoch = (await ps.publish('a', `${i}:`.padEnd(8000, '.'))).epoch;
  const recovering = async (corked: boolean) => {
    const p = await pair();
    const socket = p.layer.duplex as Socket;
    if (corked) socket.cork();
    const result = ps.subscribe(p.ws, 'a', { since: { offset: 0, epoch } });
    return { ...p, socket, result };
  };
  return { broker, ps, recovering };
}

async function settle(ps: PubSub): Promise<void> {
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(held(ps), 0);
}

it('a subscriber that leaves mid-replay lets its recovered bytes go', async (t) => {
  const { ps, recovering } = await setUp(t);
  const r = await recovering(true);
  await r.result;
  await turn();
  await turn();
  assert.ok(held(ps) > 0, 'held while corked');
  r.socket.destroy();
  await r.ws.whenClosed();
  await settle(ps);
});

it('unsubscribe mid-replay lets the bytes go', async (t) => {
  const { ps, recovering } = await setUp(t);
  const r = await recovering(true);
  await r.result;
  await turn();
  ps.unsubscribe(r.ws, 'a');
  await settle(ps);
});

it('close mid-replay lets the bytes go, and a waiting recovery settles', async (t) => {
  const { ps, recovering } = await setUp(t);
  const r = await recovering(true);
  await r.result;
  await turn();
  const w = await recovering(false);
  w.result.catch(() => {});
  await turn();
  await ps.close();
  await Promise.allSettled([w.result]);
  await settle(ps);
});

it('a failed or null read counts nothing after', async (t) => {
  const { broker, ps, recovering } = await setUp(t);
  broker.failNext = true;
  const f = await recovering(false);
  await assert.rejects(f.result);
  await settle(ps);
  broker.nullNext = true;
  const n = await recovering(false);
  assert.equal((await n.result).recovered, false);
  await settle(ps);
});

it('a recovery waiting behind a holder that leaves, the other reading all: nothing held after', async (t) => {
  const { ps, recovering } = await setUp(t);
  const a = await recovering(true);
  const b = await recovering(false);
  await a.result;
  // (b's read waits while a, corked, holds its history: a read counts the whole bound here)
  a.socket.destroy();
  await b.result;
  for (let i = 0; i < 8; i++) await b.client.nextMessage();
  await settle(ps);
});
