/**
 * `serve --pubsub`: a connection recovers one `since` at a time. A subscribe with `since` holds its
 * history until the socket takes it, so the server reads the connection's next request only once
 * that history (and what was held meanwhile) is handed on. Before, a client that subscribed with
 * `since` to topic after topic and read nothing made the server hold every one of those histories
 * at once (on Redis, ten topics of 16 MB: +150 MB of RSS for one connection; with --max-topics
 * 1000, up to 1000 histories). Here a client that does not read asks for a 16 MB history and then
 * subscribes to another topic: that subscribe is answered after the whole history, not in its middle.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { serverTurns } from '../support/hostile.js';

/** 250 messages of 64,000 characters: 16 MB of history, far more than the loopback's buffers take. */
const COUNT = 250;
const DATA = 'x'.repeat(64_000);

it('a subscribe sent behind a recovery that is not read is answered after all of its history', async (t) => {
  const server = await startServer(['--pubsub']);
  t.after(() => server.stop());
  const [publisher, watcher, client] = [
    await JsonClient.connect(server.port),
    await JsonClient.connect(server.port),
    await JsonClient.connect(server.port),
  ];
  t.after(() => {
    for (const c of [publisher, watcher, client]) c.close();
  });
  const { epoch } = await subscribe(publisher, 'big');
  // (One at a time: 16 MB sent back at once would pass the publisher's own backlog cap.)
  for (let i = 1; i <= COUNT; i++) {
    publisher.send({ op: 'publish', topic: 'big', data: DATA });
    assert.equal(await message(publisher, 'big', i), DATA);
  }
  await subscribe(watcher, 'small');

  client.sock.pause();
  client.send({ op: 'subscribe', topic: 'big', since: { offset: 0, epoch } });
  client.send({ op: 'subscribe', topic: 'small' });
  // Server turns on another connection: meanwhile it would have read and answered the second subscribe.
  const turns = await serverTurns(server.port);
  t.after(() => turns.close());
  for (let i = 0; i < 20; i++) await turns.turn();
  publisher.send({ op: 'publish', topic: 'small', data: 'probe' });
  assert.equal(await message(watcher, 'small', 1), 'probe');

  client.sock.resume();
  const first = await client.next('subscribed to big');
  assert.deepEqual(first, { op: 'subscribed', topic: 'big', offset: 0, epoch, recovered: true });
  for (let i = 1; i <= COUNT; i++) assert.equal(await message(client, 'big', i), DATA);
  // Read only now: subscribed after the probe, which it therefore does not get.
  const second = await client.next('subscribed to small');
  assert.deepEqual([second.op, second.topic, second.offset], ['subscribed', 'small', 1]);
  publisher.send({ op: 'publish', topic: 'small', data: 'after' });
  assert.equal(await message(client, 'small', 2), 'after');
});
