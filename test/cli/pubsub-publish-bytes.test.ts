/**
 * `serve --pubsub --broker redis://…` with the broker's replies held (a TCP proxy): a client
 * flooding large publishes is not read once its publishes waiting for the broker reach 8 MiB (before,
 * 32 of them, up to ~128 MiB a connection); once Redis answers again, every one is delivered, in order.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { error, message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess, type ProxyLink, TcpProxy } from '../support/brokers.js';

/** The server's bound on one connection's publishes waiting for the broker (MAX_PUBLISH_BYTES_IN_FLIGHT). */
const BOUND = 8 * 1024 * 1024;
/** What the server counts of a publish besides its data as JSON and its quoted topic. */
const OVERHEAD = 96;
const TOPIC = 't';
/** Each publish counted as exactly 512 KiB: 16 of them reach the bound. */
const SIZE = 512 * 1024;
const PUBLISHES = 40;
/** Marks where each publish's data starts, in the bytes the server writes to Redis. */
const MARK = '<<';

const dataOf = (i: number): string => `${MARK}${i}>>`.padEnd(SIZE - OVERHEAD - JSON.stringify(TOPIC).length - 2, 'x');

/** Counts MARK in what the server wrote to Redis on `link`, reading each byte once. */
function marks(link: ProxyLink): () => number {
  let count = 0;
  let from = 0;
  return () => {
    for (let at = link.clientText.indexOf(MARK, from); at >= 0; at = link.clientText.indexOf(MARK, from)) {
      count++;
      from = at + MARK.length;
    }
    from = Math.max(from, link.clientText.length - MARK.length + 1);
    return count;
  };
}

it('a client flooding 512 KiB publishes while Redis does not answer: 8 MiB of them wait, no more are read; then all arrive in order', async (t) => {
  const redis = await BrokerProcess.redis();
  t.after(() => redis.stop());
  const proxy = await TcpProxy.start(redis.port);
  t.after(() => proxy.close());
  const server = await startServer(['--pubsub', '--broker', proxy.url('redis')]);
  t.after(() => server.stop());
  const [sub, pub, other] = [
    await JsonClient.connect(server.port),
    await JsonClient.connect(server.port),
    await JsonClient.connect(server.port),
  ];
  t.after(() => {
    for (const c of [sub, pub, other]) c.sock.destroy();
  });
  await subscribe(sub, TOPIC);
  pub.send({ op: 'publish', topic: TOPIC, data: 'warm' });
  assert.equal(await message(sub, TOPIC, 1), 'warm');
  // The connection the server publishes on: stalled, it takes the publishes and answers none.
  const link = await proxy.link(['"warm"']);
  link.stall();
  const sent = marks(link);

  for (let i = 0; i < PUBLISHES; i++) pub.send({ op: 'publish', topic: TOPIC, data: dataOf(i) });
  pub.send({ op: 'nope' }); // answered once read: after every publish before it is
  const inFlight = BOUND / SIZE;
  await proxy.until(() => (sent() >= inFlight ? true : undefined));
  // Round trips through the server on another connection: meanwhile it would have read more of `pub`.
  for (let i = 0; i < 20; i++) {
    other.send({ op: 'nope' });
    await error(other, 'ERR_WS_INVALID_ARGUMENT', 'an unknown op');
  }
  assert.equal(sent(), inFlight, 'publishes the server sent to Redis before any was answered');

  link.release();
  for (let i = 0; i < PUBLISHES; i++) assert.equal(await message(sub, TOPIC, i + 2), dataOf(i));
  await error(pub, 'ERR_WS_INVALID_ARGUMENT', 'the unknown op after the publishes');
  assert.equal(sent(), PUBLISHES);
});
