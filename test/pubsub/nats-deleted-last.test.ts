/**
 * NatsBroker's history of a range whose LAST message an operator deleted (`nats stream rmm`): the
 * stream's last sequence stays at the deleted one, so a read that waited for it ran until its fetch
 * expired and failed as ended early, at each retry (the catch-up was given up, 'read-failed', losing
 * what it read). The read ends at the last message still there; the hole is told as in the middle.
 * The fetch expires after 60 s here: a test that passed by waiting for it would time out.
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

const slow = 60_000;

/** The text messages `client` receives, until `last` (inclusive). */
async function textsUpTo(client: RawClient, last: string): Promise<string[]> {
  const got: string[] = [];
  while (got.at(-1) !== last) got.push((await client.nextMessage()).payload.toString());
  return got;
}

describe('NatsBroker: history of a range whose last message an operator deleted', { timeout: 30_000 }, () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  let proxy: TcpProxy;
  let broker: NatsBroker;
  const remove = async (topic: string, seq: number) =>
    (await jetstreamManager(admin)).streams.deleteMessage(natsStreamOf(topic), seq);
  before(async () => {
    server = await BrokerProcess.nats();
    proxy = await TcpProxy.start(server.port);
    admin = await connect({ servers: server.url });
    broker = new NatsBroker({ url: server.url, commandTimeoutMs: slow });
    await broker.open(new BrokerRecorder(), history);
  });
  after(async () => {
    await broker.close();
    await proxy.close();
    await admin.close();
    await server.stop();
  });

  it('history() over it: not covered (null) at once; one from just before the hole: [] ', async () => {
    const topic = 'last-deleted';
    let epoch = '';
    for (const text of ['a', 'b', 'c']) ({ epoch } = await broker.publish(topic, Buffer.from(text), false));
    await remove(topic, 3);
    assert.equal(await broker.history(topic, { offset: 0, epoch }), null);
    assert.equal(await broker.history(topic, { offset: 2, epoch }), null);
    assert.deepEqual(await broker.history(topic, { offset: 3, epoch }), []);
  });

  it('PubSub, a recovery with `since` over it: recovered false, at once, live messages follow', async (t) => {
    const topic = 'ps-recover-last-deleted';
    const ps = new PubSub({ broker: new NatsBroker({ url: server.url, commandTimeoutMs: slow }), history });
    const { pair } = await serverFor(t, ps);
    let epoch = '';
    for (let offset = 1; offset <= 3; offset++)
      ({ epoch } = await broker.publish(topic, Buffer.from(`m${offset}`), false));
    await remove(topic, 3);
    const { client, ws } = await pair();
    assert.deepEqual(await ps.subscribe(ws, topic, { since: { offset: 1, epoch } }), {
      offset: 3,
      epoch,
      recovered: false,
    });
    await broker.publish(topic, Buffer.from('m4'), false);
    assert.deepEqual(await textsUpTo(client, 'm4'), ['m4']);
  });

  // The catch-up read after a reconnection: 2, 3 and 4 published while away, 4 deleted. Before, the
  // read waited for 4 until its fetch expired, failed, and was given up: 2 and 3 lost.
  it('PubSub, a subscriber cut off while the last one it missed is deleted: the others in order, the gap told', async (t) => {
    const topic = 'ps-last-deleted-while-away';
    const ps = new PubSub({ broker: new NatsBroker({ url: proxy.url('nats'), commandTimeoutMs: slow }), history });
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
    for (let offset = 2; offset <= 4; offset++) await publish(offset);
    await remove(topic, 4);
    const up = once(ps, 'availability');
    proxy.restore();
    assert.equal(await up, true);

    await publish(5);
    assert.deepEqual(await textsUpTo(client, 'm5'), ['m2', 'm3', 'm5']);
    assert.deepEqual(gaps, [{ topic, epoch, from: 4, to: 4, reason: 'not-in-history' }]);
  });
});
