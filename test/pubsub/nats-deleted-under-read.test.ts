/**
 * NatsBroker's history read of a range whose last messages an operator deletes (`nats stream rmm`)
 * after the read took the stream's info and before its fetch delivered them. The read asked for
 * messages up to the info's last sequence and waited for the deleted one until its fetch expired
 * (`commandTimeoutMs`, 60 s here: longer than these tests may take), then failed as ended early: a
 * `history()` rejected, a catch-up after a reconnection was given up. The read ends at the last
 * message still there, as when the deletion came before the info (test/pubsub/nats-deleted-last.test.ts).
 * The deletion is made at exactly that moment: the broker's requests are held at a TCP proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf, type ProxyLink, TcpProxy } from '../support/brokers.js';

const slow = 60_000;
/** Each test, far within `slow`: a read that waits for its fetch to expire fails it. */
const quick = { timeout: 20_000 };
const count = (text: string, part: string): number => text.split(part).length - 1;

describe('NatsBroker: the last messages of a history read deleted under it', () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  let proxy: TcpProxy;
  /** Publishes straight to the server. */
  let publisher: NatsBroker;
  before(async () => {
    server = await BrokerProcess.nats();
    proxy = await TcpProxy.start(server.port);
    admin = await connect({ servers: server.url });
    publisher = new NatsBroker({ url: server.url });
    await publisher.open(new BrokerRecorder(), history);
  });
  after(async () => {
    await publisher.close();
    await proxy.close();
    await admin.close();
    await server.stop();
  });

  /** A broker through the proxy, closed after the test, and its connection's link. */
  async function proxied(t: TestContext): Promise<{ broker: NatsBroker; events: BrokerRecorder; link: ProxyLink }> {
    const old = new Set(proxy.links);
    // (No keep-alive gets in the way of a held request.)
    const broker = new NatsBroker({ url: proxy.url('nats'), commandTimeoutMs: slow, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const link = await proxy.until(() => [...proxy.links].find((l) => !old.has(l)));
    return { broker, events, link };
  }

  /** Publishes `m<from>`…`m<to>` to `topic`; the epoch. */
  async function publish(topic: string, from: number, to: number): Promise<string> {
    let epoch = '';
    for (let offset = from; offset <= to; offset++) {
      ({ epoch } = await publisher.publish(topic, Buffer.from(`m${offset}`), false));
    }
    return epoch;
  }

  /**
   * Holds `link`'s requests from its next `request` on; once it is held, deletes `seqs` of `topic`'s stream,
   * then lets the request through.
   */
  async function deleteAt(link: ProxyLink, request: string, topic: string, seqs: number[]): Promise<void> {
    const before = count(link.clientText, request);
    link.holdClientFrom(request);
    await proxy.until(() => count(link.clientText, request) > before || undefined);
    const jsm = await jetstreamManager(admin);
    for (const seq of seqs) await jsm.streams.deleteMessage(natsStreamOf(topic), seq);
    link.release();
  }

  // Held at the consumer's creation (the stream's info read), or at its first pull (the consumer made).
  for (const request of ['CONSUMER.CREATE', 'CONSUMER.MSG.NEXT']) {
    it(
      `history() of 2-3, 3 deleted at ${request}: not covered (null), at once or at the first idle heartbeat`,
      quick,
      async (t) => {
        const { broker, link } = await proxied(t);
        const topic = `deleted-at-${request}`;
        const epoch = await publish(topic, 1, 3);
        const read = broker.history(topic, { offset: 1, epoch });
        await deleteAt(link, request, topic, [3]);
        assert.equal(await read, null);
        // (The read after it knows of the hole from the stream's info.)
        assert.equal(await broker.history(topic, { offset: 1, epoch }), null);
      },
    );
  }

  it('history() of 3-4, both deleted once the stream info is read: not covered (null), at once', quick, async (t) => {
    const { broker, link } = await proxied(t);
    const topic = 'all-deleted-at-create';
    const epoch = await publish(topic, 1, 4);
    const read = broker.history(topic, { offset: 2, epoch });
    await deleteAt(link, 'CONSUMER.CREATE', topic, [3, 4]);
    assert.equal(await read, null);
  });

  // The catch-up read after a reconnection: 2, 3 and 4 published while away, 4 deleted under the read.
  // Before, the read waited for 4 until its fetch expired, failed, and was made again after a pause.
  it(
    'a catch-up read whose last message is deleted under it: the others, in order, then the live ones',
    quick,
    async (t) => {
      const { broker, events, link } = await proxied(t);
      const topic = 'catch-up-deleted-under-read';
      await broker.subscribe(topic);
      await publish(topic, 1, 1);
      await events.received(topic, 1);
      proxy.cut();
      await events.available(false);
      await publish(topic, 2, 4);
      const back = await proxy.until(() => [...proxy.links].find((l) => l !== link));
      proxy.restore();
      await deleteAt(back, 'CONSUMER.CREATE', topic, [4]);
      await events.available(true);
      await publish(topic, 5, 5);
      await events.until(() => events.of(topic).at(-1)?.offset === 5);
      assert.deepEqual(
        events.of(topic).map((m) => m.data.toString()),
        ['m1', 'm2', 'm3', 'm5'],
      );
    },
  );

  // The same with a newer message stored before the read's fetch: it came past the range. Before, the
  // read was taken for history holding none of what was missed: 2 and 3 were lost.
  it('a catch-up read whose last message is deleted and a newer one stored under it: none lost', quick, async (t) => {
    const { broker, events, link } = await proxied(t);
    const topic = 'catch-up-deleted-newer-stored';
    await broker.subscribe(topic);
    await publish(topic, 1, 1);
    await events.received(topic, 1);
    proxy.cut();
    await events.available(false);
    await publish(topic, 2, 4);
    const back = await proxy.until(() => [...proxy.links].find((l) => l !== link));
    back.holdClientFrom('CONSUMER.CREATE');
    proxy.restore();
    await proxy.until(() => back.clientText.includes('CONSUMER.CREATE') || undefined);
    const jsm = await jetstreamManager(admin);
    await jsm.streams.deleteMessage(natsStreamOf(topic), 4);
    await publish(topic, 5, 5);
    back.release();
    await events.available(true);
    await publish(topic, 6, 6);
    await events.until(() => events.of(topic).at(-1)?.offset === 6);
    assert.deepEqual(
      events.of(topic).map((m) => m.data.toString()),
      ['m1', 'm2', 'm3', 'm5', 'm6'],
    );
  });
});
