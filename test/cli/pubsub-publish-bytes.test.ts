/**
 * `serve --pubsub --broker redis://…` with the broker's replies held (a TCP proxy): a client
 * flooding large publishes is not read once its publishes waiting for the broker reach 8 MiB (before,
 * 32 of them, up to ~128 MiB a connection); several such clients together are not read once the
 * process's reach --max-publish-bytes-in-flight. Once Redis answers again, every one is delivered,
 * in order, and every client is read again.
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { error, message, serveOnProxiedRedis, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import type { ProxyLink } from '../support/brokers.js';

/** The server's bound on one connection's publishes waiting for the broker (MAX_PUBLISH_BYTES_IN_FLIGHT). */
const BOUND = 8 * 1024 * 1024;
/**
 * The bound on all the server's publishes waiting for the broker, given as
 * --max-publish-bytes-in-flight: two connections' bounds (the default, 64 MiB, is eight, and the
 * server's memory at that bound ~300 MB, the test's more).
 */
const PROCESS_BOUND = 2 * BOUND;
/** What the server counts of a publish besides its data as JSON and its quoted topic. */
const OVERHEAD = 96;
const TOPIC = 't';
/** Each publish counted as exactly 512 KiB: 16 of them reach the bound. */
const SIZE = 512 * 1024;
const PUBLISHES = 40;
/** Marks where each publish's data starts, in the bytes the server writes to Redis. */
const MARK = '<<';

/** Data of publish `i` to `topic`, counted by the server as exactly SIZE bytes. */
const dataOf = (i: number, topic = TOPIC): string =>
  `${MARK}${i}>>`.padEnd(SIZE - OVERHEAD - JSON.stringify(topic).length - 2, 'x');
/** Counts MARK in what the server writes to Redis on `link` from now on, each chunk as it comes. */
function marks(link: ProxyLink): () => number {
  let count = 0;
  let carry = ''; // (the end of the last chunk: a MARK may be split between two)
  link.watchClient((chunk) => {
    const text = carry + chunk.toString('latin1');
    for (let at = text.indexOf(MARK); at >= 0; at = text.indexOf(MARK, at + MARK.length)) count++;
    carry = text.endsWith(MARK) ? '' : text.slice(-(MARK.length - 1));
  });
  return () => count;
}

/**
 * One client publishes `data` (then an unknown op) while the server's Redis link takes publishes and answers none:
 * exactly `bound` of them reach Redis and no more of the client is read (round trips on another connection give the
 * server time to read more); once Redis answers, every one is delivered in order and the unknown op answered after.
 */
async function floodWhileStalled(t: TestContext, data: string[], bound: number): Promise<void> {
  // (--broker-timeout: the publishes wait on the stalled link, beyond 5 s on a loaded machine.)
  const { server, proxy, clients } = await serveOnProxiedRedis(t, '120');
  const [sub, pub, other] = [
    await JsonClient.connect(server.port),
    await JsonClient.connect(server.port),
    await JsonClient.connect(server.port),
  ];
  clients.push(sub, pub, other);
  await subscribe(sub, TOPIC);
  pub.send({ op: 'publish', topic: TOPIC, data: 'warm' });
  assert.equal(await message(sub, TOPIC, 1), 'warm');
  // The connection the server publishes on: stalled, it takes the publishes and answers none.
  const link = await proxy.link(['"warm"']);
  link.stall();
  const sent = marks(link);

  for (const d of data) pub.send({ op: 'publish', topic: TOPIC, data: d });
  pub.send({ op: 'nope' }); // answered once read: after every publish before it is
  await proxy.until(() => (sent() >= bound ? true : undefined));
  // Round trips through the server on another connection: meanwhile it would have read more of `pub`.
  for (let i = 0; i < 20; i++) {
    other.send({ op: 'nope' });
    await error(other, 'ERR_WS_INVALID_ARGUMENT', 'an unknown op');
  }
  assert.equal(sent(), bound, 'publishes the server sent to Redis before any was answered');

  link.release();
  for (let i = 0; i < data.length; i++) assert.equal(await message(sub, TOPIC, i + 2), data[i]);
  await error(pub, 'ERR_WS_INVALID_ARGUMENT', 'the unknown op after the publishes');
  assert.equal(sent(), data.length);
}

it('a client flooding 512 KiB publishes while Redis does not answer: 8 MiB of them wait, no more are read; then all arrive in order', async (t) => {
  await floodWhileStalled(
    t,
    Array.from({ length: PUBLISHES }, (_, i) => dataOf(i)),
    BOUND / SIZE,
  );
});

it('a client flooding small publishes while Redis does not answer: 32 of them wait, no more are read; then all arrive in order', async (t) => {
  /** The server's bound on one connection's publishes waiting for the broker, by count (MAX_PUBLISHES_IN_FLIGHT). */
  const COUNT_BOUND = 32;
  await floodWhileStalled(
    t,
    Array.from({ length: COUNT_BOUND + 8 }, (_, i) => `${MARK}${i}>>`),
    COUNT_BOUND,
  );
});

it('four clients flooding 8 MiB of 512 KiB publishes each while Redis does not answer: --max-publish-bytes-in-flight 16 MiB of them wait, no more are read; then all arrive in order', {
  timeout: 300_000,
}, async (t) => {
  // (Redis cuts a subscriber connection whose output passes 32 MiB: what is published at the
  // release may reach the server faster than it hands it on.)
  // Publishes wait for the stalled link far longer than the clients take to send theirs (with the
  // default 5 s, on a loaded machine they could fail first); history keeps none of them.
  const { server, proxy, clients } = await serveOnProxiedRedis(
    t,
    '120',
    ['--max-publish-bytes-in-flight', String(PROCESS_BOUND), '--history', '0'],
    ['--client-output-buffer-limit', 'pubsub 0 0 0'],
  );
  const connect = async (): Promise<JsonClient> => {
    const c = await JsonClient.connect(server.port);
    clients.push(c);
    return c;
  };
  const perClient = BOUND / SIZE;
  // Two more than the bound holds: two connections wait for it, woken one at a time as it drops
  // (each woken publish fills it again, and the other must wait on, not be woken without end).
  const publishers = PROCESS_BOUND / BOUND + 2;
  /**
   * Each publisher's publishes go round its topics, each with a subscriber of its own: what one
   * subscriber gets at the release (2 MiB) fits its backlog (4 MiB) however late the test reads it,
   * which 8 MiB to one did not beside CPU burners (closed 1008).
   */
  const TOPICS_EACH = 4;
  const topicOf = (k: number, i: number): string => `t${k}.${i % TOPICS_EACH}`;
  const subs = new Map<string, JsonClient>();
  for (let k = 0; k < publishers; k++) {
    for (let r = 0; r < TOPICS_EACH; r++) {
      const sub = await connect();
      await subscribe(sub, topicOf(k, r));
      subs.set(topicOf(k, r), sub);
    }
  }
  const pubs: JsonClient[] = [];
  for (let k = 0; k < publishers; k++) pubs.push(await connect());
  const other = await connect();
  await subscribe(other, 'warm');
  other.send({ op: 'publish', topic: 'warm', data: 'warm' });
  assert.equal(await message(other, 'warm', 1), 'warm');
  const link = await proxy.link(['"warm"']);
  link.stall();
  const sent = marks(link);

  for (const [k, pub] of pubs.entries()) {
    for (let i = 0; i < perClient; i++)
      pub.send({ op: 'publish', topic: topicOf(k, i), data: dataOf(i, topicOf(k, i)) });
    pub.send({ op: 'nope' }); // answered once read: after every publish before it is
  }
  const inFlight = PROCESS_BOUND / SIZE;
  await proxy.until(() => (sent() >= inFlight ? true : undefined));
  // Round trips through the server on another connection: meanwhile it would have read more.
  for (let i = 0; i < 50; i++) {
    other.send({ op: 'nope' });
    await error(other, 'ERR_WS_INVALID_ARGUMENT', 'an unknown op');
  }
  assert.equal(sent(), inFlight, 'publishes the server sent to Redis before any was answered');

  link.release();
  for (const [k, pub] of pubs.entries()) {
    for (let i = 0; i < perClient; i++) {
      const topic = topicOf(k, i);
      assert.equal(await message(subs.get(topic)!, topic, Math.floor(i / TOPICS_EACH) + 1), dataOf(i, topic));
    }
    // Its connection was read again after it waited: the request after its publishes is answered.
    await error(pub, 'ERR_WS_INVALID_ARGUMENT', `the unknown op after publisher ${k}'s publishes`);
  }
  assert.equal(sent(), publishers * perClient);
});
