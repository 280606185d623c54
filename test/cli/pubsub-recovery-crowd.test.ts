/**
 * `serve --pubsub --broker redis://…`: twenty clients recover 16 MB of history at once, each from
 * its own offset, and read nothing. Before, each held its own copy of what it had not been sent
 * (Redis answers every read with fresh Buffers: the server's Buffers grew by some 300 MB), and fifty
 * made the broker link look stalled (an outage for every client). Now the server holds about one
 * copy, and the broker serves the others meanwhile.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { it } from 'node:test';
import { RawClient } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { text } from '../support/frames.js';
import { serverEndOf } from '../support/hostile.js';
import { startProbed } from './load-support.js';

const MESSAGES = 1000;
const SIZE = 16_000;
const CROWD = 20;

interface Reply {
  op: string;
  topic?: string;
  offset?: number;
  epoch?: string;
  recovered?: boolean;
  data?: string;
  code?: string;
}

async function reply(c: RawClient): Promise<Reply> {
  const m = await c.nextMessage();
  assert.equal(m.opcode, 1);
  return JSON.parse(m.payload.toString()) as Reply;
}

const send = (c: RawClient, request: object): void => c.send(text(JSON.stringify(request)));

it('twenty clients recovering 16 MB from Redis at once, reading nothing, hold about one copy of it', async (t) => {
  const redis = await BrokerProcess.redis();
  t.after(() => redis.stop());
  const server = await startProbed(['--pubsub', '--broker', redis.url], undefined, []);
  t.after(() => server.stop());
  const clients: RawClient[] = [];
  t.after(() => {
    for (const c of clients) c.destroy();
  });
  const connect = async (): Promise<RawClient> => {
    const c = await RawClient.connect(server.port);
    clients.push(c);
    return c;
  };
  /** The Buffers the server holds after a full GC. */
  const buffers = async (): Promise<number> => {
    const line = server.line(/buffers-after (\d+)/);
    server.proc.kill('SIGUSR2');
    return Number((await line)[1]);
  };

  const publisher = await connect();
  send(publisher, { op: 'subscribe', topic: 'h' });
  const { epoch } = await reply(publisher);
  for (let i = 1; i <= MESSAGES; i++) send(publisher, { op: 'publish', topic: 'h', data: `${i}:`.padEnd(SIZE, '.') });
  for (let i = 1; i <= MESSAGES; i++) {
    const m = await reply(publisher); // its own messages back: the broker took them
    assert.equal(m.offset, i, JSON.stringify(m).slice(0, 200));
  }
  const before = await buffers();

  const crowd: RawClient[] = [];
  for (let i = 0; i < CROWD; i++) {
    const c = await connect();
    crowd.push(c);
    send(c, { op: 'subscribe', topic: 'h', since: { offset: i, epoch } });
  }
  // Each stops reading in the turn its reply comes (awaited together, not one after the other: a
  // client whose reply came while the test waited for another's would read on, and on a starved
  // machine could take in its whole replay, leaving the server nothing to hold for it).
  await Promise.all(
    crowd.map(async (c, i) => {
      const m = await reply(c);
      c.sock.pause(); // reads nothing more: its replay stalls once the socket buffers are full
      assert.deepEqual(m, { op: 'subscribed', topic: 'h', offset: i, epoch, recovered: true });
    }),
  );
  // Every replay has started (each client had its reply, sent once its history was read), and stalls on a full socket.
  const held = (await buffers()) - before;
  const bound = (CROWD * MESSAGES * SIZE) / 4; // (one copy for all, and each socket's queue: ~26 MB; a copy each: ~400 MB)
  // What the bound is about was there when it was measured: most of each replay still to send (what
  // the server has written to a connection only grows, so it was no more then). A copy each of that
  // alone would be over twice the bound.
  const unsent = crowd.map((c, i) => (MESSAGES - i) * SIZE - serverEndOf(c.sock as net.Socket).written);
  assert.ok(
    unsent.reduce((a, b) => a + b) > 2 * bound,
    `the server had written most of the replays already: left to send ${unsent.join(', ')} bytes`,
  );
  assert.ok(
    held < bound,
    `the server's Buffers grew by ${held} bytes for ${CROWD} clients recovering ${MESSAGES * SIZE} bytes each`,
  );

  // The broker still serves: a publish goes through, and a live subscriber gets it.
  const reader = await connect();
  send(reader, { op: 'subscribe', topic: 'h' });
  assert.deepEqual(await reply(reader), { op: 'subscribed', topic: 'h', offset: MESSAGES, epoch });
  send(publisher, { op: 'publish', topic: 'h', data: 'live' });
  assert.deepEqual(await reply(reader), { op: 'message', topic: 'h', data: 'live', offset: MESSAGES + 1 });

  // And a client of the crowd that reads gets all it missed, in order.
  const last = clients[CROWD]!; // since CROWD - 1
  last.sock.resume();
  for (let i = CROWD; i <= MESSAGES + 1; i++) assert.equal((await reply(last)).offset, i);
});
