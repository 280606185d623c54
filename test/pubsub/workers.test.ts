/**
 * `ws-stream serve --pubsub --workers 2` without a broker: two node:cluster workers on one port,
 * topics crossing through the primary (ClusterBroker). Clients on different workers (told apart by
 * the X-Ws-Stream-Worker response header) see each other's messages in one offset order, and a
 * client that reconnects to the other worker recovers exactly what it missed.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, teardownOrReport } from '../conformance/raw-client.js';
import { JsonClient } from './pubsub-support.js';

let server: Awaited<ReturnType<typeof startServer>>;
const clients: JsonClient[] = [];
before(async () => {
  server = await startServer(['--pubsub', '--workers', '2']);
});
after(() =>
  teardownOrReport(
    [
      () => {
        for (const c of clients) c.close();
      },
      () => server.stop(),
    ],
    () => server?.left() ?? [],
  ),
);

/** A client accepted by `worker` (or by any worker but `not`): connects until the primary's round robin lands there. */
async function clientOn(want: { worker?: string; not?: string }): Promise<JsonClient> {
  for (let i = 0; i < 50; i++) {
    const c = await JsonClient.connect(server.port);
    assert.ok(c.worker, 'the worker is named in the response');
    if ((want.worker === undefined || c.worker === want.worker) && c.worker !== want.not) {
      clients.push(c);
      return c;
    }
    c.close();
  }
  throw new Error(`no connection reached worker ${JSON.stringify(want)}`);
}

async function subscribe(c: JsonClient, topic: string, since?: { offset: number; epoch: string }) {
  c.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
  const r = await c.next('subscribed');
  assert.equal(r.op, 'subscribed', JSON.stringify(r));
  return r as { offset: number; epoch: string; recovered?: boolean };
}

it('clients on different workers see each other’s messages, every one once, in the same offset order', async () => {
  const a = await clientOn({});
  const b = await clientOn({ not: a.worker });
  const a2 = await clientOn({ worker: a.worker });
  const ra = await subscribe(a, 'x');
  const rb = await subscribe(b, 'x');
  await subscribe(a2, 'x');
  assert.equal(ra.epoch, rb.epoch, 'one epoch: the primary’s');
  for (let i = 0; i < 40; i++) {
    a.send({ op: 'publish', topic: 'x', data: `a${i}` });
    b.send({ op: 'publish', topic: 'x', data: `b${i}` });
  }
  const orders: string[][] = [];
  for (const c of [a, b, a2]) {
    const got: string[] = [];
    for (let offset = 1; offset <= 80; offset++) {
      const m = await c.next();
      assert.equal(m.offset, offset);
      got.push(m.data);
    }
    orders.push(got);
  }
  assert.deepEqual(orders[1], orders[0]);
  assert.deepEqual(orders[2], orders[0]);
  for (const who of ['a', 'b']) {
    assert.deepEqual(
      orders[0]!.filter((d) => d.startsWith(who)),
      Array.from({ length: 40 }, (_, i) => `${who}${i}`),
    );
  }
});

it('a client that left one worker and reconnects to the other recovers exactly what it missed', async () => {
  const stay = await clientOn({});
  const leaver = await clientOn({ not: stay.worker });
  const s = await subscribe(stay, 'r');
  await subscribe(leaver, 'r');
  for (let i = 1; i <= 3; i++) stay.send({ op: 'publish', topic: 'r', data: i });
  let last = 0;
  for (let i = 1; i <= 3; i++) last = (await leaver.next()).offset;
  assert.equal(last, s.offset + 3);
  leaver.close();
  for (let i = 4; i <= 8; i++) stay.send({ op: 'publish', topic: 'r', data: i });
  for (let i = 1; i <= 8; i++) assert.equal((await stay.next()).data, i);
  const back = await clientOn({ worker: stay.worker });
  const r = await subscribe(back, 'r', { offset: last, epoch: s.epoch });
  assert.equal(r.recovered, true);
  stay.send({ op: 'publish', topic: 'r', data: 9 });
  const got = [];
  for (let i = 4; i <= 9; i++) {
    const m = await back.next();
    got.push([m.offset - s.offset, m.data]);
  }
  assert.deepEqual(
    got,
    [4, 5, 6, 7, 8, 9].map((i) => [i, i]),
  );
});
