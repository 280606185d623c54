/**
 * NatsBroker when JetStream republishes a topic's messages out of sequence order while its history no
 * longer holds the late one: met by test/pubsub/protocol-outsider-nats.test.ts about one run in ten
 * under load (nats-server 2.9.10, two publishers: offset 8 came after 39, with `--history 5`). The
 * broker took 9 for a gap, read history (only 61-65 left here) and delivered that alone: the held
 * 9-60 and the late 8 were lost. Now the gap is filled from history and the held messages together,
 * in offset order. (A late message that comes only after the read is done is still lost, `PubSub`
 * sees the gap: nothing tells the broker to wait for it.)
 *
 * Made deterministic: 8-65 are stored in the topic's stream on a second subject of it, which its
 * republish does not cover (nats-server 2.9 cannot change a stream's republish), and the test sends
 * the broker their republication, with the headers JetStream gave the 7th, on the subject it listens
 * to, in the order 9-39, 8, 40-65. The gap's read (its STREAM.INFO request, sent on 9) is held at a
 * TCP proxy until every one of them has reached the broker's socket, then let through.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import type { HistoryOptions } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { BrokerProcess, BrokerRecorder, brokerBehindProxy } from '../support/brokers.js';

const HISTORY: HistoryOptions = { size: 5, ttlSeconds: 0 };

describe('NatsBroker: a message republished out of sequence order, no longer in history', () => {
  const env = brokerBehindProxy(() => BrokerProcess.nats());

  /** An open broker with a recorder of its events, closed after the test. */
  async function open(t: TestContext, url: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: the link carries only what the test expects.)
    const broker = new NatsBroker({ url, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, HISTORY);
    return { broker, events };
  }

  it('8 after 39, history down to 61-65 when 9 comes: every offset once, in order', async (t) => {
    const topic = 'reorder';
    // The topic's stream and subjects, as NatsBroker names them (its default prefix).
    const stream = `ws-stream_${createHash('sha256').update(topic).digest('hex').slice(0, 40)}`;
    const token = `t${Buffer.from(topic).toString('base64url')}`;
    const [input, output, aside] = [`ws-stream.in.${token}`, `ws-stream.out.${token}`, `aside.${token}`];
    const admin = await connect({ servers: env.server.url });
    t.after(() => admin.close());
    const jsm = await jetstreamManager(admin);

    // JetStream's own republication of 1-7, seen beside the broker: its headers are the model of those sent below.
    let seventh: (m: Msg) => void = () => {};
    const model = new Promise<Msg>((resolve) => {
      seventh = resolve;
    });
    admin.subscribe(output, {
      callback: (err, m) => {
        if (!err && m.headers?.get('Nats-Sequence') === '7') seventh(m);
      },
    });
    await admin.flush();

    const sub = await open(t, env.proxy.url('nats')); // its connection goes through the proxy
    const pub = await open(t, env.server.url);
    await sub.broker.subscribe(topic);
    for (let i = 1; i <= 7; i++) await pub.broker.publish(topic, Buffer.from(`m${i}`), false);
    await sub.events.received(topic, 7);
    const real = (await model).headers!;
    /** The headers JetStream's republish gives stored message `seq`: the 7th's, with its sequence numbers. */
    const republished = (seq: number): MsgHdrs => {
      const h = headers();
      for (const key of real.keys()) h.set(key, real.get(key));
      h.set('Nats-Sequence', String(seq));
      h.set('Nats-Last-Sequence', String(seq - 1));
      return h;
    };

    // 8-65 stored (published on a subject the stream takes too, which its republish does not
    // cover: JetStream 2.9 cannot change a stream's republish): history keeps 61-65.
    await jsm.streams.update(stream, { subjects: [input, aside] });
    const js = jetstream(admin);
    for (let i = 8; i <= 65; i++) assert.equal((await js.publish(aside, Buffer.from(`m${i}`))).seq, i);
    const state = (await jsm.streams.info(stream)).state;
    assert.deepEqual([state.first_seq, state.last_seq], [61, 65]);

    // The broker gets them as JetStream made them, 8 after 39; its read of the gap (sent on 9)
    // waits at the proxy until all of them are in.
    const link = await env.proxy.link(['CONNECT']);
    const reads = (): number => link.clientText.split('$JS.API.STREAM.INFO').length - 1;
    const before = reads();
    link.holdClientFrom('$JS.API.STREAM.INFO');
    const order = [...range(9, 39), 8, ...range(40, 65)];
    for (const offset of order) admin.publish(output, Buffer.from(`m${offset}`), { headers: republished(offset) });
    await admin.flush();
    await env.proxy.until(() => (link.serverText.includes('\r\nm65\r\n') && reads() > before) || undefined);
    assert.equal(sub.events.of(topic).length, 7, 'nothing delivered past the gap before it is read');
    link.release();

    // The next message comes live, republished by JetStream.
    await pub.broker.publish(topic, Buffer.from('m66'), false);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 66));
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.data.toString()]),
      range(1, 66).map((offset) => [offset, `m${offset}`]),
    );
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
