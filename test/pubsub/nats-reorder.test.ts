/**
 * NatsBroker when JetStream republishes a topic's messages out of sequence order while its history no
 * longer holds the late one: met by test/pubsub/protocol-outsider-nats.test.ts about one run in ten
 * under load (nats-server 2.9.10, two publishers: offset 8 came after 39, with `--history 5`). That
 * server stores a client's publication in the client's own read loop and queues its republication
 * after releasing the stream's lock, so two publishing connections race (nats-server#4018, later,
 * queues every publication to the stream's one goroutine). The broker took 9 for a gap, read
 * history (only 61-65 left here) and delivered that alone: the held 9-60 and the late 8 were lost.
 * Then the gap was filled from history and the held messages together, in offset order, but an 8
 * that came only after the read was done was still dropped as old. Now a hole history no longer
 * holds is waited for (up to `commandTimeoutMs`, or until more than `MAX_HELD` messages or `maxHeldBytes` wait), and only then
 * given up (`PubSub` sees the gap).
 *
 * Made deterministic: 8-65 are stored in the topic's stream on a second subject of it, which its
 * republish does not cover (nats-server 2.9 cannot change a stream's republish), and the test sends
 * the broker their republication, with the headers JetStream gave the 7th, on the subject it listens
 * to. The gap's read (its STREAM.INFO request, sent on 9) is held at a TCP proxy until every one of
 * them has reached the broker's socket, then let through.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { HistoryOptions } from '../../src/pubsub/broker.js';
import { MAX_HELD, MAX_HELD_BYTES } from '../../src/pubsub/broker-support.js';
import { NatsBroker, type NatsBrokerOptions } from '../../src/pubsub/nats-broker.js';
import { BrokerProcess, BrokerRecorder, brokerBehindProxy, type ProxyLink, type TcpProxy } from '../support/brokers.js';

const HISTORY: HistoryOptions = { size: 5, ttlSeconds: 0 };

describe('NatsBroker: a message republished out of sequence order, no longer in history', () => {
  const env = brokerBehindProxy(() => BrokerProcess.nats());

  /** An open broker with a recorder of its events, closed after the test. */
  async function open(
    t: TestContext,
    url: string,
    options: NatsBrokerOptions = {},
  ): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: the link carries only what the test expects.)
    const broker = new NatsBroker({ url, pingIntervalMs: 600_000, ...options });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, HISTORY);
    return { broker, events };
  }

  /**
   * `topic` subscribed by a broker (`sub`, through the proxy: `link`) and published to by another
   * (`pub`), 1-7 delivered; then 8-65 stored unseen (history keeps 61-65). `republish(offsets)` sends
   * the broker their republication in that order; the gap's read, sent on the first, waits at the
   * proxy until all of them are in.
   */
  async function reorder(t: TestContext, topic: string, options: NatsBrokerOptions = {}) {
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

    const earlier = new Set(env.proxy.links);
    const sub = await open(t, env.proxy.url('nats'), options); // its connection goes through the proxy
    const link = await env.proxy.until(() => [...env.proxy.links].find((l) => !earlier.has(l)));
    const pub = await open(t, env.server.url);
    await sub.broker.subscribe(topic);
    for (let i = 1; i <= 7; i++) await pub.broker.publish(topic, Buffer.from(`m${i}`), false);
    await sub.events.received(topic, 7);
    const real = (await model).headers!;

    // 8-65 stored (published on a subject the stream takes too, which its republish does not
    // cover: JetStream 2.9 cannot change a stream's republish): history keeps 61-65.
    await jsm.streams.update(stream, { subjects: [input, aside] });
    const js = jetstream(admin);
    for (let i = 8; i <= 65; i++) assert.equal((await js.publish(aside, Buffer.from(`m${i}`))).seq, i);
    const state = (await jsm.streams.info(stream)).state;
    assert.deepEqual([state.first_seq, state.last_seq], [61, 65]);

    const reads = (): number => link.clientText.split('$JS.API.STREAM.INFO').length - 1;
    const republish = async (offsets: number[]): Promise<void> => {
      const before = reads();
      link.holdClientFrom('$JS.API.STREAM.INFO');
      await send(admin, output, real, offsets);
      const last = `\r\nm${offsets.at(-1)}\r\n`;
      await env.proxy.until(() => (link.serverText.includes(last) && reads() > before) || undefined);
      assert.equal(sub.events.of(topic).length, 7, 'nothing delivered past the gap before it is read');
      link.release();
    };
    /** Stores `m<i>` for each of `offsets` unseen (no republication), as 8-65 were. */
    const store = async (offsets: number[]): Promise<void> => {
      for (const i of offsets) assert.equal((await js.publish(aside, Buffer.from(`m${i}`))).seq, i);
    };
    /**
     * Publishes `m<offset>` (republished by JetStream, the topic's next), waits for it, and checks
     * what the broker delivered of the topic: `offsets` (`m<offset>` each), in that order.
     */
    const publishedLive = async (offset: number, offsets: number[]): Promise<void> => {
      await pub.broker.publish(topic, Buffer.from(`m${offset}`), false);
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === offset));
      assert.deepEqual(rows(sub.events.of(topic)), rows(offsets));
    };
    /** 9-65 republished (8 left out), and the gap's read of history done. */
    const republishedAndRead = async (): Promise<void> => {
      const from = link.clientText.length;
      await republish(range(9, 65));
      await readDone(env.proxy, link, from);
    };
    return { admin, jsm, stream, output, real, sub, pub, link, republish, republishedAndRead, publishedLive, store };
  }

  it('8 after 39, history down to 61-65 when 9 comes: every offset once, in order', async (t) => {
    const topic = 'reorder';
    const { republish, publishedLive } = await reorder(t, topic);
    await republish([...range(9, 39), 8, ...range(40, 65)]);

    // The next message comes live, republished by JetStream.
    await publishedLive(66, range(1, 66));
  });

  it('8 republished only once the gap read is done (history 61-65): waited for, every offset once, in order', async (t) => {
    const topic = 'late-after-read';
    const { admin, output, real, republishedAndRead, publishedLive } = await reorder(t, topic);
    await republishedAndRead();
    await send(admin, output, real, [8]);

    await publishedLive(66, range(1, 66));
  });

  // Once 8 fills the hole, delivery reaches 65, where the gap's read ended; 67, held while 8 was
  // waited for, is past a hole that read did not cover: read again at once (66 is in history), not
  // waited for as a late republication (`commandTimeoutMs` here unbounded).
  it('67 republished before the late 8, 66 stored unseen: once 8 comes, 66 read from history at once, every offset once, in order', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'late-then-past-read';
    const { admin, output, real, sub, republishedAndRead, store, publishedLive } = await reorder(t, topic, {
      commandTimeoutMs: 600_000,
    });
    await republishedAndRead();
    await store([66, 67]);
    await send(admin, output, real, [67, 8]);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 67));

    await publishedLive(68, range(1, 68));
  });

  it('history trimmed past the gap while it is read (61-65 when asked, 66-70 when fetched): 8 still waited for', async (t) => {
    const topic = 'trimmed-while-read';
    const { admin, output, real, link, republish, store, publishedLive } = await reorder(t, topic);
    const from = link.clientText.length;
    await republish(range(9, 65));
    // The read's consumer (from 61, where history starts when asked) waits at the proxy while 66-70
    // are stored: it starts at 66, and the read finds the range no longer whole.
    link.holdClientFrom('$JS.API.CONSUMER.CREATE');
    await env.proxy.until(() => link.clientText.slice(from).includes('$JS.API.CONSUMER.CREATE') || undefined);
    await store(range(66, 70));
    link.release();
    await readDone(env.proxy, link, from);
    await send(admin, output, real, [8, ...range(66, 70)]);

    await publishedLive(71, range(1, 71));
  });

  it('8 never republished: given up after commandTimeoutMs, 9 on delivered (PubSub sees the gap)', async (t) => {
    const topic = 'never';
    const { sub, republish, publishedLive } = await reorder(t, topic, { commandTimeoutMs: 2000 });
    await republish(range(9, 65));
    await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 65));
    await publishedLive(66, [...range(1, 7), ...range(9, 66)]);
  });

  it('the stream deleted and made again while 8 is waited for: 9-65 delivered, then the new epoch from its start', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'renewed-while-late';
    // (Its wait unbounded in time: only the new epoch's first message can end it.)
    const { jsm, stream, sub, pub, republishedAndRead } = await reorder(t, topic, { commandTimeoutMs: 600_000 });
    await republishedAndRead();
    // An operator deletes the stream; the next publication makes it again: offsets from 1, a new
    // epoch (before, its 1-7 were held as repeats behind the hole, and its 8 would have filled it).
    await jsm.streams.delete(stream);
    const renewed = await pub.broker.publish(topic, Buffer.from('n1'), false);
    assert.equal(renewed.offset, 1);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === renewed.epoch));
    const got = sub.events.of(topic);
    assert.deepEqual(rows(got), [...rows([...range(1, 7), ...range(9, 65)]), [1, 'n1']]);
    assert.ok(got.slice(0, -1).every((m) => m.epoch === got[0]!.epoch && m.epoch !== renewed.epoch));
  });

  // The new stream's first message this process sees is at 7, the last it delivered (1-6 stored
  // unseen): not a message past the hole, which would wait there for the new stream's 8 to fill it.
  it('the stream made again while 8 is waited for, its first message seen at offset 7: the hole given up, the new epoch as history holds it (3-7)', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'renewed-at-last';
    const { admin, jsm, stream, output, real, sub, republishedAndRead, store } = await reorder(t, topic, {
      commandTimeoutMs: 600_000,
    });
    await republishedAndRead();
    const { config } = await jsm.streams.info(stream);
    await jsm.streams.delete(stream);
    const renewed = await jsm.streams.add(config);
    await store(range(1, 7));
    await send(admin, output, real, [7]);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === renewed.created));
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 7);
    const got = sub.events.of(topic);
    assert.deepEqual(rows(got), rows([...range(1, 7), ...range(9, 65), ...range(3, 7)]));
    assert.ok(got.slice(-5).every((m) => m.epoch === renewed.created));
    assert.ok(got.slice(0, -5).every((m) => m.epoch === got[0]!.epoch && m.epoch !== renewed.created));
  });

  it('8 never republished, its wait unbounded in time: given up once MAX_HELD messages wait', async (t) => {
    const topic = 'never-full';
    const { admin, output, real, sub, republishedAndRead } = await reorder(t, topic, { commandTimeoutMs: 600_000 });
    await republishedAndRead();
    // (Offsets past the stream's: the broker goes by the republication's headers.)
    const last = MAX_HELD + 100;
    await send(admin, output, real, range(66, last));
    await sub.events.until(() => sub.events.messages.at(-1)?.offset === last);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      [...range(1, 7), ...range(9, last)],
    );
  });

  // Before, only their count bounded the wait: 10,000 messages of up to 1 MiB each (NATS's
  // max_payload) could be held behind one hole. Its wait is longer than the runner's timeout here,
  // so that waiting it out fails the test.
  it('8 never republished, its wait unbounded in time: given up once MAX_HELD_BYTES of payload wait', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'never-bytes';
    const { admin, output, real, sub, republishedAndRead } = await reorder(t, topic, { commandTimeoutMs: 600_000 });
    await republishedAndRead();
    const SIZE = 64 * 1024;
    const count = Math.ceil(MAX_HELD_BYTES / SIZE) + 16; // far fewer than MAX_HELD
    assert.ok(count < MAX_HELD / 10);
    const last = 65 + count;
    await send(admin, output, real, range(66, last), SIZE);
    await sub.events.until(() => sub.events.messages.at(-1)?.offset === last);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      [...range(1, 7), ...range(9, last)],
    );
    assert.ok(
      sub.events
        .of(topic)
        .slice(-count)
        .every((m) => m.data.length === SIZE),
    );
  });

  // The broker's `maxHeldBytes` bounds that wait as it bounds a read's hold: given up once 256 KiB
  // wait (at the default 4 MiB the few sent here would wait out the runner's timeout).
  it('8 never republished, its wait unbounded in time, maxHeldBytes 256 KiB: given up once 256 KiB of payload wait', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'never-held-bytes';
    const maxHeldBytes = 256 * 1024;
    const { admin, output, real, sub, republishedAndRead } = await reorder(t, topic, {
      commandTimeoutMs: 600_000,
      maxHeldBytes,
    });
    await republishedAndRead();
    const SIZE = 64 * 1024;
    const count = maxHeldBytes / SIZE + 2;
    assert.ok(count * SIZE < MAX_HELD_BYTES, 'under the default bound');
    const last = 65 + count;
    await send(admin, output, real, range(66, last), SIZE);
    await sub.events.until(() => sub.events.messages.at(-1)?.offset === last);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      [...range(1, 7), ...range(9, last)],
    );
  });

  /**
   * Cuts the broker's link (8-65 stay unseen, as if published once it is back) and lets it back
   * with the topic's catch-up read held at its first JetStream request (its subscription restored by
   * then); `meanwhile()` runs there, then the read goes on. Resolves once the broker is available.
   */
  async function reconnect(sub: { events: BrokerRecorder }, meanwhile: (link: ProxyLink) => Promise<void>) {
    const old = new Set(env.proxy.links);
    env.proxy.cut();
    await sub.events.available(false);
    const back = await env.proxy.until(() => [...env.proxy.links].find((l) => !old.has(l)));
    back.holdClientFrom('$JS.API.');
    env.proxy.restore();
    await env.proxy.until(() => back.clientText.includes('$JS.API.') || undefined);
    await meanwhile(back);
    back.release();
    await sub.events.available(true);
  }

  // After a reconnection the topic's catch-up read finds history trimmed past the gap (61-65).
  // Republications that come after that read, of offsets below 61, were taken for repeats: with
  // 9-30 in before the read answered, 31-60 (on their way, in order) were lost. The first one
  // republished on the new link (9) follows what was published while away (never republished
  // here: given up at once); a hole past it is one on its way, waited for as after a check.
  it('after a reconnection, 9-30 republished before the catch-up read answers (history 61-65), 31-65 after it: 31-60 delivered, not dropped as old', async (t) => {
    const topic = 'reconnected-in-flight';
    const { admin, output, real, sub, publishedLive } = await reorder(t, topic);
    await reconnect(sub, async (link) => {
      await send(admin, output, real, range(9, 30));
      await env.proxy.until(() => link.serverText.includes('\r\nm30\r\n') || undefined);
    });
    await send(admin, output, real, range(31, 65));
    await publishedLive(66, [...range(1, 7), ...range(9, 66)]);
  });

  // Topics restart one after the other after a reconnection: what a later one received meanwhile
  // on the new link was thrown away as its restart began (to drop what an interrupted check held
  // from the old link), and history (5) no longer held y2-y3 of it.
  it('after a reconnection, what a topic receives while the topic before it restarts is kept: y2-y8 republished then, history y4-y8, every one delivered', async (t) => {
    const { sub, pub } = await reorder(t, 'x'); // (restarted first)
    await sub.broker.subscribe('y');
    await pub.broker.publish('y', Buffer.from('y1'), false);
    await sub.events.received('y', 1);
    await reconnect(sub, async (link) => {
      for (let i = 2; i <= 8; i++) await pub.broker.publish('y', Buffer.from(`y${i}`), false);
      await env.proxy.until(() => link.serverText.includes('\r\ny8\r\n') || undefined);
    });
    await pub.broker.publish('y', Buffer.from('y9'), false);
    await sub.events.until(() => sub.events.of('y').some((m) => m.offset === 9));
    assert.deepEqual(
      sub.events.of('y').map((m) => m.data.toString()),
      range(1, 9).map((i) => `y${i}`),
    );
  });

  // The limit: a republication later than every one after it (8, after 9-65), that comes once the
  // catch-up read is done, is not told from one published while the link was down, whose
  // republication never comes: given up at once, as those are (waiting for them would hold every
  // topic `commandTimeoutMs` after every outage that outran history). 9-66 once, in order.
  it('after a reconnection, 8 republished after 9-65 and after the catch-up read: given up as published while away, the rest once, in order', async (t) => {
    const topic = 'reconnected-late-first';
    const { admin, output, real, sub, publishedLive } = await reorder(t, topic);
    await reconnect(sub, async (link) => {
      await send(admin, output, real, range(9, 65));
      await env.proxy.until(() => link.serverText.includes('\r\nm65\r\n') || undefined);
    });
    await send(admin, output, real, [8]);
    await publishedLive(66, [...range(1, 7), ...range(9, 66)]);
  });

  // Both of a topic's holds end past their bound, not at it: at exactly `maxHeldBytes` the wait goes
  // on (before, it gave the hole up there, one message sooner than the read's hold drops, and the 8
  // that came next was dropped as old).
  it('exactly maxHeldBytes of payload behind the hole: still waited for, and 8 republished then fills it', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-bytes-exactly';
    const SIZE = 64 * 1024;
    const count = 4;
    // What waits behind the hole once the read is done: the live 9-60 (61-65 are taken from the
    // read), then `count` of SIZE.
    const maxHeldBytes = range(9, 60).reduce((n, i) => n + `m${i}`.length, 0) + count * SIZE;
    const { admin, output, real, sub, republishedAndRead } = await reorder(t, topic, {
      commandTimeoutMs: 600_000,
      maxHeldBytes,
    });
    await republishedAndRead();
    const last = 65 + count;
    await send(admin, output, real, range(66, last), SIZE);
    await send(admin, output, real, [8]);
    // (Offsets past the stream's, as above: the last comes once the hole is filled or given up.)
    await sub.events.until(() => sub.events.messages.at(-1)?.offset === last);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      range(1, last),
    );
  });

  // The same bound in messages: MAX_HELD wait (the live 9-60, then 66 on), not past it.
  it('exactly MAX_HELD messages behind the hole: still waited for, and 8 republished then fills it', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-count-exactly';
    const { admin, output, real, sub, republishedAndRead } = await reorder(t, topic, { commandTimeoutMs: 600_000 });
    await republishedAndRead();
    const last = 65 + MAX_HELD - range(9, 60).length;
    await send(admin, output, real, range(66, last));
    await send(admin, output, real, [8]);
    await sub.events.until(() => sub.events.messages.at(-1)?.offset === last);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      range(1, last),
    );
  });
});

/**
 * Sends the republication of `offsets`, in that order, with the headers JetStream gave `model` but
 * their own sequence; each `m<offset>`, padded with dots to `size` bytes if given.
 */
async function send(admin: NatsConnection, output: string, model: MsgHdrs, offsets: number[], size = 0): Promise<void> {
  for (const offset of offsets) {
    const h = headers();
    for (const key of model.keys()) h.set(key, model.get(key));
    h.set('Nats-Sequence', String(offset));
    h.set('Nats-Last-Sequence', String(offset - 1));
    admin.publish(output, Buffer.from(`m${offset}`.padEnd(size, '.')), { headers: h });
    if (size > 0) await admin.flush(); // (large ones one by one: the client's buffer stays small)
  }
  await admin.flush();
}

/**
 * Waits until the broker's read of history (after `from` in what its client wrote) is done: its
 * client ends the fetch's subscription (UNSUB) once the broker stops reading, and the broker uses
 * what it read before it handles any more of the socket's bytes.
 */
async function readDone(proxy: TcpProxy, link: ProxyLink, from: number): Promise<void> {
  const done = (): boolean => {
    const text = link.clientText.slice(from);
    const fetch = text.indexOf('$JS.API.CONSUMER.MSG.NEXT');
    return fetch >= 0 && text.includes('\r\nUNSUB ', fetch);
  };
  await proxy.until(() => done() || undefined);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** `[offset, text]` of messages, or of the offsets `m<offset>` was published as. */
function rows(of: readonly ({ offset: number; data: Buffer } | number)[]): [number, string][] {
  return of.map((m) => (typeof m === 'number' ? [m, `m${m}`] : [m.offset, m.data.toString()]));
}
