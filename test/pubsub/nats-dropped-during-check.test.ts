/**
 * NatsBroker drops the live messages a topic holds past `maxHeldBytes` and reads them back from
 * history. Here they are dropped while a check of the stream runs (m2 stored unseen, then m3 live:
 * a gap), its read of history held at a TCP proxy once the stream's bounds are read (3): that read
 * covers 2-3, not the dropped 4-7, and nothing held is left to show they are missing. The check
 * must see the drop and read again: taken for a read that covered them, 4-7 waited for the next
 * publication (none here). The second read is also the one a drop with nothing held since asks
 * for: without it (the held ones following on, none), 4-7 waited as well.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { BrokerProcess, BrokerRecorder, brokerBehindProxy, natsStreamOf } from '../support/brokers.js';

describe('NatsBroker: live messages dropped while a check reads history', () => {
  const env = brokerBehindProxy(() => BrokerProcess.nats());

  it('4-7 dropped past maxHeldBytes while the read of 2-3 waits: read again, every one once, in order', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'dropped-during-check';
    const SIZE = 16 * 1024;
    const maxHeldBytes = 4 * SIZE; // m3 (2 bytes) and 4-7 of SIZE: past it at m7, nothing held after the drop
    const payload = (offset: number): Buffer =>
      offset < 4 ? Buffer.from(`m${offset}`) : Buffer.from(`m${offset}`.padStart(SIZE, '.'));

    const admin = await connect({ servers: env.server.url });
    t.after(() => admin.close());
    const earlier = new Set(env.proxy.links);
    // (No keep-alive gets in the way: the held read is a stall the test chooses to end.)
    const sub = new NatsBroker({ url: env.proxy.url('nats'), pingIntervalMs: 600_000, maxHeldBytes });
    t.after(() => sub.close());
    const events = new BrokerRecorder();
    await sub.open(events, { size: 100, ttlSeconds: 0 });
    const link = await env.proxy.until(() => [...env.proxy.links].find((l) => !earlier.has(l)));
    const pub = new NatsBroker({ url: env.server.url, pingIntervalMs: 600_000 });
    t.after(() => pub.close());
    await pub.open(new BrokerRecorder(), { size: 100, ttlSeconds: 0 });

    await sub.subscribe(topic);
    const first = await pub.publish(topic, payload(1), false);
    await events.received(topic, 1);

    // m2 stored on a subject the stream takes too, which its republish does not cover: the broker
    // sees only m3, and checks the stream.
    const token = `t${Buffer.from(topic).toString('base64url')}`;
    const aside = `aside.${token}`;
    await (await jetstreamManager(admin)).streams.update(natsStreamOf(topic), {
      subjects: [`ws-stream.in.${token}`, aside],
    });
    assert.equal((await jetstream(admin).publish(aside, payload(2))).seq, 2);
    const from = link.clientText.length;
    const reads = (): number => link.clientText.slice(from).split('$JS.API.CONSUMER.CREATE').length - 1;
    link.holdClientFrom('$JS.API.CONSUMER.CREATE');
    await pub.publish(topic, payload(3), false);
    await env.proxy.until(() => reads() === 1 || undefined);

    for (let offset = 4; offset <= 7; offset++) await pub.publish(topic, payload(offset), false);
    await env.proxy.until(() => link.serverText.endsWith('m7\r\n') || undefined);
    assert.equal(events.of(topic).length, 1);

    link.release();
    await events.until(() => events.of(topic).at(-1)?.offset === 7);
    const got = events.of(topic);
    assert.deepEqual(
      got.map((m) => m.offset),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.ok(got.every((m) => m.epoch === first.epoch && m.data.equals(payload(m.offset))));
    // The dropped ones came back by a second read of history.
    assert.equal(reads(), 2);
  });
});
