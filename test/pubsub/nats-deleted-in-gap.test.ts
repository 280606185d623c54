/**
 * NatsBroker filling a gap (a live message that did not follow the last one) from history, when a
 * message in the middle of what history returned was deleted by an operator (`nats stream rmm`). A
 * hole history no longer holds may be a republication still on its way (JetStream's is not always
 * in sequence order: test/pubsub/nats-reorder.test.ts), so it is waited for, up to `commandTimeoutMs`,
 * and the topic's later messages with it. A deleted message is no such thing to wait for: the
 * stream's deleted sequences say so, asked once when the wait begins, and the hole is given up at
 * once. (`commandTimeoutMs` is 60 s here: a test that passed by waiting it out would time out.)
 *
 * Made deterministic as nats-reorder's are: 4-8 are stored on a second subject of the topic's
 * stream, which its republish does not cover, so the subscriber sees none of them live; 9 is
 * published as usual and comes after 3, a gap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf } from '../support/brokers.js';

describe('NatsBroker: a gap whose history lacks a message an operator deleted', () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  before(async () => {
    server = await BrokerProcess.nats();
    admin = await connect({ servers: server.url });
  });
  after(async () => {
    await admin.close();
    await server.stop();
  });

  for (const deleted of [[6], [5, 7]]) {
    it(`4-8 unseen, ${deleted.join(' and ')} deleted, then 9 live: the rest at once, in order`, {
      timeout: 20_000,
    }, async (t) => {
      const topic = `deleted-in-gap-${deleted.join('-')}`;
      const open = async (): Promise<{ broker: NatsBroker; events: BrokerRecorder }> => {
        const broker = new NatsBroker({ url: server.url, commandTimeoutMs: 60_000 });
        t.after(() => broker.close());
        const events = new BrokerRecorder();
        await broker.open(events, history);
        return { broker, events };
      };
      const sub = await open();
      const pub = await open();
      await sub.broker.subscribe(topic);
      for (let i = 1; i <= 3; i++) await pub.broker.publish(topic, Buffer.from(`m${i}`), false);
      await sub.events.received(topic, 3);

      const token = `t${Buffer.from(topic).toString('base64url')}`;
      const jsm = await jetstreamManager(admin);
      const stream = natsStreamOf(topic);
      await jsm.streams.update(stream, { subjects: [`ws-stream.in.${token}`, `aside.${token}`] });
      const js = jetstream(admin);
      for (let i = 4; i <= 8; i++) assert.equal((await js.publish(`aside.${token}`, Buffer.from(`m${i}`))).seq, i);
      for (const seq of deleted) await jsm.streams.deleteMessage(stream, seq);

      await pub.broker.publish(topic, Buffer.from('m9'), false);
      const kept = [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((i) => !deleted.includes(i));
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 9));
      assert.deepEqual(
        sub.events.of(topic).map((m) => `${m.offset} ${m.data.toString()}`),
        kept.map((i) => `${i} m${i}`),
      );
    });
  }
});
