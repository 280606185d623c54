/**
 * NatsBroker back after a lost link restarts its topics one after the other, and starts them all
 * again while one fails (here topic `c`: its stream made again by an operator without the broker's
 * republish, which nats-server 2.9 cannot add back: refused). A topic already restarted (`b`)
 * delivers its live messages meanwhile, so one of them may be delivered while its next restart
 * reads history: that one is not delivered twice.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, brokerBehindProxy, natsStreamOf } from '../support/brokers.js';

const env = brokerBehindProxy(() => BrokerProcess.nats());

it('b delivered live while its second restart reads history (c refused at each): b2 once', {
  timeout: 60_000,
}, async (t) => {
  const sub = new NatsBroker({ url: env.proxy.url('nats'), pingIntervalMs: 600_000, commandTimeoutMs: 600_000 });
  t.after(() => sub.close());
  const events = new BrokerRecorder();
  await sub.open(events, history);
  const pub = new NatsBroker({ url: env.server.url });
  t.after(() => pub.close());
  await pub.open(new BrokerRecorder(), history);
  await sub.subscribe('b'); // (restarted first)
  await sub.subscribe('c');
  await pub.publish('b', Buffer.from('b1'), false);
  await events.received('b', 1);

  // Cut off; meanwhile c's stream is made again without its republish.
  const old = new Set(env.proxy.links);
  env.proxy.cut();
  await events.available(false);
  const admin = await connect({ servers: env.server.url });
  t.after(() => admin.close());
  const jsm = await jetstreamManager(admin);
  const { config } = await jsm.streams.info(natsStreamOf('c'));
  await jsm.streams.delete(natsStreamOf('c'));
  await jsm.streams.add({ ...config, republish: undefined });
  const link = await env.proxy.until(() => [...env.proxy.links].find((l) => !old.has(l)));
  env.proxy.restore();

  // b restarted, c refused (its stream's update): then b again. Its second restart reads b's
  // position (STREAM.INFO), then history after b1 (STREAM.INFO again): that second one is held.
  const [infoB, createC] = [`STREAM.INFO.${natsStreamOf('b')}`, `STREAM.CREATE.${natsStreamOf('c')}`];
  await env.proxy.until(() => link.clientText.includes(createC) || undefined);
  const pass = link.clientText.length;
  await env.proxy.until(() => {
    if (!link.clientText.slice(pass).includes(infoB)) return undefined;
    link.holdClientFrom(infoB);
    return true;
  });
  await env.proxy.until(() => link.clientText.slice(pass).split(infoB).length - 1 === 2 || undefined);
  await pub.publish('b', Buffer.from('b2'), false);
  await events.received('b', 2); // (live: b had restarted)
  link.release();
  // That read done: c refused again, and b started a third time.
  const after = link.clientText.length;
  await env.proxy.until(() => link.clientText.slice(after).includes(createC) || undefined);
  assert.deepEqual(
    events.of('b').map((m) => [m.offset, m.data.toString()]),
    [
      [1, 'b1'],
      [2, 'b2'],
    ],
  );
});
