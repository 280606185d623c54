/**
 * `serve --pubsub --broker nats://…` on a nats-server without JetStream (its default: `-js` turns
 * it on) runs on core NATS: live messages only, offsets counted by each process, no history, no
 * recovery (doc/pubsub.md, *NATS broker*). It said nothing about it, and an outside checker running
 * three processes on a plain `nats-server` saw each process number the same message differently.
 * Now it says so on stderr, once, also with `--quiet`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';
import { serveTelling } from './cli-support.js';

const LINE =
  'the NATS server has no JetStream: each process counts its own offsets, no history is kept and no since is recovered (start nats-server with -js)\n';

it('on a NATS server without JetStream, serve --pubsub says so on stderr, once, also with --quiet', {
  timeout: 60_000,
}, async (t) => {
  const nats = await BrokerProcess.nats({ jetstream: false });
  t.after(() => nats.stop());
  const server = await serveTelling(t, ['--pubsub', '--broker', nats.url, '--quiet']);
  // It serves all the same: a subscriber gets what is published, and a since is not recovered.
  const client = await JsonClient.connect(server.port);
  t.after(() => client.close());
  client.send({ op: 'subscribe', topic: 'core', since: { offset: 0, epoch: 'e' } });
  const subscribed = await client.next('subscribed');
  assert.deepEqual([subscribed.op, subscribed.recovered], ['subscribed', false]);
  client.send({ op: 'publish', topic: 'core', data: 'live' });
  const message = await client.next('the message');
  assert.deepEqual([message.op, message.data], ['message', 'live']);
  // (Written before the server listened, long before these round trips: stderr holds it by now.)
  assert.equal(server.stderr(), LINE);
});
