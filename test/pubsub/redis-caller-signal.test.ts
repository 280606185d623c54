/**
 * RedisBroker with the caller's own `clientOptions.socket.signal`. The broker gives each pair of
 * connections a signal of its own (aborted when the pair is dropped: see redis-connect-dropped);
 * the caller's must count as well: aborting it closes the broker's connections, as it would close
 * node-redis's own. And it must not gather a listener per socket: node-redis makes a socket per
 * reconnection, and node keeps a listener on a socket's signal for good.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, it } from 'node:test';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, TcpProxy } from '../support/brokers.js';

it("RedisBroker with a caller's socket.signal: reconnections add no listener to it, and its abort closes the connections", {
  timeout: 60_000,
}, async () => {
  const server = await BrokerProcess.redis();
  const proxy = await TcpProxy.start(server.port);
  after(async () => {
    await proxy.close();
    await server.stop();
  });
  const caller = new AbortController();
  const broker = new RedisBroker({ url: proxy.url('redis'), clientOptions: { socket: { signal: caller.signal } } });
  const events = new BrokerRecorder();
  await broker.open(events, history);
  await broker.publish('t', Buffer.from('before'), false);

  // Three losses of both connections: node-redis makes two new sockets each time.
  for (let round = 1; round <= 3; round++) {
    // (a link destroyed in the round before leaves the set at its socket's 'close')
    const lost = await proxy.until(() => (proxy.links.size === 2 ? [...proxy.links] : undefined));
    for (const link of lost) link.destroy();
    await events.until(() => events.availability.length === 2 * round && events.availability.at(-1) === true);
  }
  assert.deepEqual(events.availability, [false, true, false, true, false, true]);
  assert.equal(getEventListeners(caller.signal, 'abort').length, 1, 'one listener, for the pair');

  caller.abort();
  await assert.rejects(broker.publish('t', Buffer.from('after the abort'), false), {
    code: 'ERR_WS_BROKER_UNAVAILABLE',
  });
  await events.available(false);
  await broker.close();
  // Every connection closed.
  await proxy.until(() => (proxy.links.size === 0 ? true : undefined));
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0, 'none left after close()');
});
