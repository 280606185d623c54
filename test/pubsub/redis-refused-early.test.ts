/**
 * RedisBroker's open against a Redis that wants a password it was not given: the scripts' loading
 * on the first connection is refused (NOAUTH) while the second connection (the subscriber) is still
 * connecting. That refusal must end `open()` with ERR_WS_BROKER_REFUSED, never surface as an
 * unhandled rejection (which ends a `serve --pubsub` process with node-redis's stack trace; seen
 * once in CI under load). A TCP proxy holds the subscriber's connection until the refusal has come.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, it } from 'node:test';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, TcpProxy } from '../support/brokers.js';

it('NOAUTH on the first connection while the second still connects: open rejects, nothing unhandled', async () => {
  const server = await BrokerProcess.redis({ args: ['--requirepass', 's3cret'] });
  const proxy = await TcpProxy.start(server.port);
  after(async () => {
    await proxy.close();
    await server.stop();
  });
  const unhandled: unknown[] = [];
  const record = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', record);
  after(() => process.off('unhandledRejection', record));

  proxy.holding = true;
  const broker = new RedisBroker({ url: proxy.url('redis'), commandTimeoutMs: 10_000 });
  const opening = broker.open(new BrokerRecorder(), history);
  opening.catch(() => {});
  // node-redis connects the command connection first, then its duplicate (the subscriber).
  const [commands, subscriber] = await proxy.until(() => (proxy.links.size >= 2 ? [...proxy.links] : undefined));
  commands!.release();
  await proxy.until(() =>
    commands!.clientText.includes('SCRIPT') && commands!.serverText.includes('NOAUTH') ? true : undefined,
  );
  // The refusal reaches node-redis on a later turn of the loop, and an unhandled rejection is told
  // after the microtasks of that turn: a few turns, not a time.
  for (let turn = 0; turn < 5; turn++) await nextTurn();
  subscriber!.release();
  await assert.rejects(opening, { code: 'ERR_WS_BROKER_REFUSED', message: /NOAUTH/ });
  await broker.close();
  await nextTurn();
  assert.deepEqual(unhandled, []);
});
