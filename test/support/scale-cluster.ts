/**
 * Scale-out tests on a real broker: three `ws-stream serve --pubsub --broker <url>` child processes
 * on one broker server, and clients speaking its JSON protocol, for test/pubsub/scale-redis.test.ts
 * and scale-nats.test.ts. `scaleSuite` is their shared suite; each file says what a restart keeps.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { type BrokerProcess, poll } from './brokers.js';

type Client = JsonClient;
type Server = Awaited<ReturnType<typeof startServer>>;

/** Starts `count` `ws-stream serve --pubsub --broker <url>` processes. */
export async function startPubSubServers(count: number, brokerUrl: string): Promise<Server[]> {
  return Promise.all(
    Array.from({ length: count }, () => startServer(['--pubsub', '--broker', brokerUrl, '--history', '1000'])),
  );
}

/** Subscribes `c` to `topic` (optionally `since`) and returns the `subscribed` reply. */
export async function subscribeClient(
  c: Client,
  topic: string,
  since?: { offset: number; epoch: string },
): Promise<{ offset: number; epoch: string; recovered?: boolean }> {
  c.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
  const r = await c.next('subscribed');
  assert.equal(r.op, 'subscribed', JSON.stringify(r));
  assert.equal(r.topic, topic);
  return r;
}

/** Reads `count` messages of `topic` from `c`: offsets follow `after` one by one; returns their data. */
export async function readMessages(c: Client, topic: string, after: number, count: number): Promise<unknown[]> {
  const data: unknown[] = [];
  for (let i = 1; i <= count; i++) {
    const m = await c.next(`message ${i} of ${count}`);
    assert.equal(m.op, 'message', JSON.stringify(m));
    assert.equal(m.topic, topic);
    assert.equal(m.offset, after + i, 'offsets one by one: no gap, no duplicate');
    data.push(m.data);
  }
  return data;
}

/**
 * Three processes, 30 clients spread over them, three publishers (one per process) sending 40
 * messages each at once: every client gets all 120 once, in one order (each publisher's in the
 * order it sent), and then the 121st, a last message, next.
 */
export async function everyClientGetsEverything(servers: Server[], cleanup: Client[]): Promise<void> {
  const topic = 'scale';
  const clients: Client[] = [];
  for (let i = 0; i < 30; i++) clients.push(await JsonClient.connect(servers[i % servers.length]!.port));
  cleanup.push(...clients);
  const starts = await Promise.all(clients.map((c) => subscribeClient(c, topic)));
  const publishers = await Promise.all(servers.map((s) => JsonClient.connect(s.port)));
  cleanup.push(...publishers);
  const perPublisher = 40;
  publishers.forEach((p, from) => {
    for (let i = 0; i < perPublisher; i++) p.send({ op: 'publish', topic, data: { from, i } });
  });
  const total = perPublisher * publishers.length;
  const seen = await Promise.all(clients.map((c, k) => readMessages(c, topic, starts[k]!.offset, total)));
  for (const got of seen) assert.deepEqual(got, seen[0], 'every client, on every process, in one order');
  for (let from = 0; from < publishers.length; from++) {
    assert.deepEqual(
      seen[0]!.filter((d) => (d as { from: number }).from === from).map((d) => (d as { i: number }).i),
      Array.from({ length: perPublisher }, (_, i) => i),
      "each publisher's messages in the order it sent them",
    );
  }
  publishers[0]!.send({ op: 'publish', topic, data: 'last' });
  const lasts = await Promise.all(clients.map((c, k) => readMessages(c, topic, starts[k]!.offset + total, 1)));
  for (const last of lasts) assert.deepEqual(last, ['last'], 'nothing twice: the last message comes next');
}

/**
 * A client on process 0 reads five messages and goes; five more are published; it comes back on
 * process 1 with `since`: it gets exactly the five it missed, then live messages, nothing twice.
 */
export async function reconnectElsewhereRecovers(servers: Server[], cleanup: Client[]): Promise<void> {
  const topic = 'handoff';
  const publisher = await JsonClient.connect(servers[2 % servers.length]!.port);
  const first = await JsonClient.connect(servers[0]!.port);
  cleanup.push(publisher, first);
  // The publisher subscribes too: reading its own messages back tells it the broker took them.
  const pubAt = await subscribeClient(publisher, topic);
  const at = await subscribeClient(first, topic);
  for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: i });
  assert.deepEqual(await readMessages(first, topic, at.offset, 5), [1, 2, 3, 4, 5]);
  first.close();
  for (let i = 6; i <= 10; i++) publisher.send({ op: 'publish', topic, data: i });
  assert.deepEqual(await readMessages(publisher, topic, pubAt.offset, 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const again = await JsonClient.connect(servers[1]!.port);
  cleanup.push(again);
  const back = await subscribeClient(again, topic, { offset: at.offset + 5, epoch: at.epoch });
  assert.equal(back.recovered, true);
  assert.deepEqual(await readMessages(again, topic, at.offset + 5, 5), [6, 7, 8, 9, 10]);
  publisher.send({ op: 'publish', topic, data: 11 });
  assert.deepEqual(await readMessages(again, topic, at.offset + 10, 1), [11]);
  // Another epoch cannot be recovered: said so, and live messages follow.
  const stranger = await JsonClient.connect(servers[0]!.port);
  cleanup.push(stranger);
  const unknown = await subscribeClient(stranger, topic, { offset: 3, epoch: `not-${at.epoch}` });
  assert.equal(unknown.recovered, false);
}

/** Where the outage test stands once the killed broker is back and has taken a publish again. */
export interface ScaleRestarted {
  topic: string;
  /** Six clients over the three processes, subscribed to `topic`; each has read 'before'. */
  subscribers: Client[];
  /** Subscribed to `topic` too, on process 0: its own messages coming back say the broker took them. */
  publisher: Client;
  /** The `message` reply for 'back', the first publish the restarted broker took. */
  back: Record<string, unknown>;
}

export interface ScaleSuiteOptions {
  /** The `describe` title. */
  name: string;
  /** Starts the broker server (test/support/brokers.ts); the suite kills, restarts and stops it. */
  start(): Promise<BrokerProcess>;
  /** The outage test: its title, and what it checks once the broker takes publishes again. */
  outage: { title: string; restarted(r: ScaleRestarted): Promise<void> };
}

/** Three `serve --pubsub` processes on one broker server, and the scale-out tests every broker passes. */
export function scaleSuite(options: ScaleSuiteOptions): void {
  describe(options.name, () => {
    let broker: BrokerProcess;
    let servers: Server[] = [];
    const clients: Client[] = [];
    before(async () => {
      broker = await options.start();
      servers = await startPubSubServers(3, broker.url);
    });
    after(async () => {
      for (const c of clients) c.close();
      await Promise.all(servers.map((s) => s.stop()));
      await broker.stop();
    });

    it('30 clients spread over three processes each get every message once, in one order', async () => {
      await everyClientGetsEverything(servers, clients);
    });

    it('a client reconnecting to another process with since recovers exactly what it missed', async () => {
      await reconnectElsewhereRecovers(servers, clients);
    });

    it(options.outage.title, async () => {
      const topic = 'outage';
      const subscribers: Client[] = [];
      for (let i = 0; i < 6; i++) subscribers.push(await JsonClient.connect(servers[i % 3]!.port));
      // The publisher subscribes too: its own message coming back says the broker took it.
      const publisher = await JsonClient.connect(servers[0]!.port);
      clients.push(...subscribers, publisher);
      const all = [...subscribers, publisher];
      const starts = await Promise.all(all.map((c) => subscribeClient(c, topic)));
      publisher.send({ op: 'publish', topic, data: 'before' });
      for (const [k, c] of all.entries()) {
        assert.deepEqual(await readMessages(c, topic, starts[k]!.offset, 1), ['before']);
      }

      await broker.kill();
      // The servers learn of the loss from their connection's end: until then a publish may still wait
      // for its request timeout, and then fails the same way.
      publisher.send({ op: 'publish', topic, data: 'lost' });
      const refused = await publisher.next('an error');
      assert.equal(refused.op, 'error', JSON.stringify(refused));
      assert.equal(refused.code, 'ERR_WS_BROKER_UNAVAILABLE');
      for (const s of servers) assert.equal(s.proc.exitCode, null, 'the server is still running');

      await broker.start();
      // Publish until the broker takes it again (each refusal is an error reply, nothing else).
      let back: Record<string, unknown> = {};
      await poll(async () => {
        publisher.send({ op: 'publish', topic, data: 'back' });
        back = await publisher.next('the message or an error');
        if (back.op !== 'error') return true;
        assert.equal(back.code, 'ERR_WS_BROKER_UNAVAILABLE');
        return false;
      });
      await options.outage.restarted({ topic, subscribers, publisher, back });
      for (const s of servers) assert.equal(s.proc.exitCode, null, 'the server is still running');
    });
  });
}
