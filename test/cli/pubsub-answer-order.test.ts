/**
 * `serve --pubsub`: the replies of one connection come in the order of its requests. An `error`
 * names no request, so its place is what tells a client which one failed (and a `subscribed` is a
 * barrier: every reply to what was sent before it has come). Before, a publish waiting for the
 * broker had its error sent after the reply of a subscribe sent behind it and refused at once (a
 * checker saw it with `--workers 2` on Redis during an outage). Real redis-server and nats-server.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { error, message, serveOnProxiedRedis, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';
import { text } from '../support/frames.js';
import { floodUntilServerStopsReading, serverTurns } from '../support/hostile.js';

const BAD_SINCE = { offset: -1, epoch: 'e' };

it('Redis that does not answer: a publish refused at its deadline is answered before a bad subscribe sent after it', async (t) => {
  const { server, proxy, clients } = await serveOnProxiedRedis(t, '0.5');
  const c = await JsonClient.connect(server.port);
  clients.push(c);
  await subscribe(c, 'order');
  c.send({ op: 'publish', topic: 'order', data: 'warm' });
  assert.equal(await message(c, 'order', 1), 'warm');
  // The connection the server publishes on: stalled, it answers nothing until the deadline.
  (await proxy.link(['"warm"'])).stall();

  c.send({ op: 'publish', topic: 'order', data: 'held' });
  c.send({ op: 'subscribe', topic: 'other', since: BAD_SINCE });
  const first = await error(c, 'ERR_WS_BROKER_UNAVAILABLE', 'the publish Redis did not answer');
  assert.match(first.message, /no reply within 500 ms/);
  const second = await error(c, 'ERR_WS_INVALID_ARGUMENT', 'the subscribe with a negative since.offset');
  assert.match(second.message, /since\.offset/);
});

it('Redis that does not answer: an unknown op sent after two waiting publishes is answered after both their errors', async (t) => {
  const { server, proxy, clients } = await serveOnProxiedRedis(t, '0.5');
  const c = await JsonClient.connect(server.port);
  clients.push(c);
  await subscribe(c, 'order');
  c.send({ op: 'publish', topic: 'order', data: 'warm' });
  assert.equal(await message(c, 'order', 1), 'warm');
  (await proxy.link(['"warm"'])).stall();

  // (its reply waits behind the last publish sent before it, not the first)
  c.send({ op: 'publish', topic: 'order', data: 'first' });
  c.send({ op: 'publish', topic: 'order', data: 'second' });
  c.send({ op: 'nope' });
  await error(c, 'ERR_WS_BROKER_UNAVAILABLE', 'the first publish');
  await error(c, 'ERR_WS_BROKER_UNAVAILABLE', 'the second publish');
  await error(c, 'ERR_WS_INVALID_ARGUMENT', 'the unknown op');
});

it('NATS: a publish over max_payload to a topic whose stream is made first is answered before a bad subscribe sent after it', async (t) => {
  const nats = await BrokerProcess.nats({ config: 'max_payload: 2000' });
  t.after(() => nats.stop());
  const server = await startServer(['--pubsub', '--broker', nats.url]);
  t.after(() => server.stop());
  const c = await JsonClient.connect(server.port);
  t.after(() => c.close());
  c.send({ op: 'publish', topic: 'new', data: 'x'.repeat(3000) });
  c.send({ op: 'subscribe', topic: 'other', since: BAD_SINCE });
  c.send({ op: 'nope' });
  const first = await error(c, 'ERR_WS_MESSAGE_TOO_BIG', 'the publish over max_payload');
  assert.match(first.message, /max_payload \(2000 bytes/);
  await error(c, 'ERR_WS_INVALID_ARGUMENT', 'the subscribe with a negative since.offset');
  assert.match((await error(c, 'ERR_WS_INVALID_ARGUMENT', 'the unknown op')).message, /unknown op "nope"/);
  // A subscribe after a refused publish: answered after its error, and the topic works.
  c.send({ op: 'publish', topic: 'new', data: 'y'.repeat(3000) });
  c.send({ op: 'subscribe', topic: 'new' });
  await error(c, 'ERR_WS_MESSAGE_TOO_BIG', 'the second publish over max_payload');
  const subscribed = await c.next('subscribed to new');
  assert.deepEqual([subscribed.op, subscribed.topic, subscribed.offset], ['subscribed', 'new', 0]);
  c.send({ op: 'publish', topic: 'new', data: 'fits' });
  assert.equal(await message(c, 'new', 1), 'fits');
});

it('Redis that does not answer: replies held behind a waiting publish stop the reading of the connection past 1 MiB; all come, in order, once it answers', async (t) => {
  // (The publish waits on the stalled link far longer than the flood takes, on a loaded machine too.)
  const { server, proxy, clients } = await serveOnProxiedRedis(t, '120');
  const c = await JsonClient.connect(server.port);
  clients.push(c);
  await subscribe(c, 'order');
  c.send({ op: 'publish', topic: 'order', data: 'warm' });
  assert.equal(await message(c, 'order', 1), 'warm');
  const link = await proxy.link(['"warm"']);
  link.stall();
  c.send({ op: 'publish', topic: 'order', data: 'held' });
  const turns = await serverTurns(server.port);
  t.after(() => turns.close());
  // Each request is answered with an error op twice its size, held behind the publish.
  const op = 'o'.repeat(64);
  const batch = 256;
  const requests = Buffer.concat(Array.from({ length: batch }, () => text(JSON.stringify({ op }))));
  const flood = await floodUntilServerStopsReading(c.sock as net.Socket, requests, turns, 16 * 1024 * 1024);
  const sent = (flood.written / requests.length) * batch;
  assert.ok(flood.stopped, `the server kept reading: ${sent} requests went out and were taken`);

  link.release();
  assert.equal(await message(c, 'order', 2), 'held');
  for (let i = 0; i < sent; i++) {
    const e = await c.next(`reply ${i}`);
    // (not assert.equal: a failure would print every reply's test)
    assert.ok(e.op === 'error' && e.message === `unknown op ${JSON.stringify(op)}`, `reply ${i}: ${JSON.stringify(e)}`);
  }
  assert.equal(c.ended, false);
});
