/**
 * NatsBroker's history of a stream from which an operator deleted one message (`nats stream rmm`):
 * the range holding it is never given as whole without it (null), the newest one deleted too (the
 * stream's last offset stays at it: nats-deleted-last.test). A subscriber whose catch-up range lost
 * one goes on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { type GapEvent, PubSub } from '../../src/pubsub/index.js';
import type { RawClient } from '../conformance/raw-client.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf, TcpProxy } from '../support/brokers.js';
import { once, serverFor } from './pubsub-support.js';

/** The text messages `client` receives, until `last` (inclusive). */
async function textsUpTo(client: RawClient, last: string): Promise<string[]> {
  const got: string[] = [];
  while (got.at(-1) !== last) got.push((await client.nextMessage()).payload.toString());
  return got;
}

describe('NatsBroker: history of a stream missing a message an operator deleted', () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  let proxy: TcpProxy;
  let broker: NatsBroker;
  before(async () => {
    server = await BrokerProcess.nats();
    proxy = await TcpProxy.start(server.port);
    admin = await connect({ servers: server.url });
    broker = new NatsBroker({ url: server.url, commandTimeoutMs: 1000 });
    await broker.open(new BrokerRecorder(), history);
  });
  after(async () => {
    await broker.close();
    await proxy.close();
    await admin.close();
    await server.stop();
  });

  it('the newest deleted: the range is not covered (null), before and after the next message came', async () => {
    const topic = 'newest-deleted';
    const at = [];
    for (const text of ['a', 'b', 'c']) at.push(await broker.publish(topic, Buffer.from(text), false));
    const { epoch } = at[0]!;
    await (await jetstreamManager(admin)).streams.deleteMessage(natsStreamOf(topic), 3);

    assert.equal(await broker.history(topic, { offset: 0, epoch }), null);
    assert.deepEqual(await broker.publish(topic, Buffer.from('d'), false), { offset: 4, epoch });
    assert.equal(await broker.history(topic, { offset: 0, epoch }), null);
    assert.deepEqual(
      (await broker.history(topic, { offset: 3, epoch }))?.map((m) => [m.offset, m.data.toString()]),
      [[4, 'd']],
    );
  });

  // The catch-up read after the reconnection finds 2, 3, then 5: the range is not whole, and what
  // it holds is delivered around the hole. (Read on from 5 as if 2 and 3 were history's older
  // messages lost, it was taken for a read ended early, made again, and failed the same way each
  // time: m6 never came.)
  it('one of those a subscriber missed while cut off deleted: back, it gets the others, once, in order, m6 live', {
    timeout: 30_000,
  }, async (t) => {
    const topic = 'deleted-while-away';
    const sub = new NatsBroker({ url: proxy.url('nats'), commandTimeoutMs: 1000 });
    t.after(() => sub.close());
    const events = new BrokerRecorder();
    await sub.open(events, history);
    await sub.subscribe(topic);
    const publish = (offset: number) => broker.publish(topic, Buffer.from(`m${offset}`), false);
    await publish(1);
    await events.received(topic, 1);
    proxy.cut();
    await events.available(false);
    for (let offset = 2; offset <= 5; offset++) await publish(offset);
    await (await jetstreamManager(admin)).streams.deleteMessage(natsStreamOf(topic), 4);
    proxy.restore();
    await events.available(true);

    await publish(6);
    await events.until(() => events.of(topic).at(-1)?.offset === 6);
    // Every message the stream still holds, once, in order: only 4 is missing (before, the read was
    // taken as a whole for not covered when it met the hole, and 2, 3 and 5 were lost with 4).
    assert.deepEqual(
      events.of(topic).map((m) => [m.offset, m.data.toString()]),
      [1, 2, 3, 5, 6].map((offset) => [offset, `m${offset}`]),
    );
  });

  // Through PubSub, to a subscriber's socket: what the stream still holds comes, in order, and the
  // deleted offset is told as a gap (history no longer holds it), never the messages around it.
  it('PubSub, a subscriber cut off while one it missed is deleted: the others in order, the gap told', {
    timeout: 30_000,
  }, async (t) => {
    const topic = 'ps-deleted-while-away';
    const ps = new PubSub({ broker: new NatsBroker({ url: proxy.url('nats'), commandTimeoutMs: 1000 }), history });
    const gaps: GapEvent[] = [];
    ps.on('gap', (g) => gaps.push(g));
    const { pair } = await serverFor(t, ps);
    const { client, ws } = await pair();
    const { epoch } = await ps.subscribe(ws, topic);
    const publish = (offset: number) => broker.publish(topic, Buffer.from(`m${offset}`), false);
    await publish(1);
    assert.deepEqual(await textsUpTo(client, 'm1'), ['m1']);
    const down = once(ps, 'availability');
    proxy.cut();
    assert.equal(await down, false);
    for (let offset = 2; offset <= 5; offset++) await publish(offset);
    await (await jetstreamManager(admin)).streams.deleteMessage(natsStreamOf(topic), 4);
    const up = once(ps, 'availability');
    proxy.restore();
    assert.equal(await up, true);

    await publish(6);
    assert.deepEqual(await textsUpTo(client, 'm6'), ['m2', 'm3', 'm5', 'm6']);
    assert.deepEqual(gaps, [{ topic, epoch, from: 4, to: 4, reason: 'not-in-history' }]);
  });

  // A `since` whose range lost a message is not recovered (the range is not whole: recovered
  // false, delivery from the newest offset, as for a range history trimmed); one after the hole is.
  it('PubSub, a recovery over a deleted message: recovered false; one past it: recovered, in order', async (t) => {
    const topic = 'ps-recover-deleted';
    const ps = new PubSub({ broker: new NatsBroker({ url: server.url, commandTimeoutMs: 1000 }), history });
    const { pair } = await serverFor(t, ps);
    let epoch = '';
    for (let offset = 1; offset <= 4; offset++)
      ({ epoch } = await broker.publish(topic, Buffer.from(`m${offset}`), false));
    await (await jetstreamManager(admin)).streams.deleteMessage(natsStreamOf(topic), 2);

    const across = await pair();
    assert.deepEqual(await ps.subscribe(across.ws, topic, { since: { offset: 0, epoch } }), {
      offset: 4,
      epoch,
      recovered: false,
    });
    const past = await pair();
    assert.deepEqual(await ps.subscribe(past.ws, topic, { since: { offset: 2, epoch } }), {
      offset: 2,
      epoch,
      recovered: true,
    });
    await broker.publish(topic, Buffer.from('m5'), false);
    assert.deepEqual(await textsUpTo(across.client, 'm5'), ['m5']);
    assert.deepEqual(await textsUpTo(past.client, 'm5'), ['m3', 'm4', 'm5']);
  });
});
