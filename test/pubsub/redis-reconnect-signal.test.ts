/**
 * RedisBroker's connections reconnecting many times, without the pair being replaced. Each socket
 * node-redis makes is made with the signal the broker gives its connection (which closes a socket
 * still connecting when the pair is dropped: see redis-connect-dropped), and node 20 keeps a
 * listener on that signal for each socket for good, holding the dead socket: with one signal per
 * pair, ten sockets made `MaxListenersExceededWarning … 11 abort listeners added to [AbortSignal]`,
 * which `serve --pubsub --broker redis://…` printed during every Redis outage. No warning may come,
 * after reconnections that connected (links cut by a proxy) or that failed (Redis down, each
 * attempt refused).
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { after, it } from 'node:test';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, TcpProxy } from '../support/brokers.js';

/** Collects the process's warnings while a test runs. */
function warnings(): Error[] {
  const seen: Error[] = [];
  const collect = (warning: Error): void => {
    seen.push(warning);
  };
  process.on('warning', collect);
  after(() => {
    process.off('warning', collect);
  });
  return seen;
}

/** The warnings of `seen` about listeners past the limit, as text. */
function listenerWarnings(seen: Error[]): string[] {
  return seen.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message);
}

it('RedisBroker whose connections are lost 12 times over (each reconnects): no MaxListenersExceededWarning', {
  timeout: 60_000,
}, async () => {
  const seen = warnings();
  const server = await BrokerProcess.redis();
  const proxy = await TcpProxy.start(server.port);
  after(async () => {
    await proxy.close();
    await server.stop();
  });
  const broker = new RedisBroker({ url: proxy.url('redis') });
  const events = new BrokerRecorder();
  await broker.open(events, history);
  const rounds = 12;
  for (let round = 1; round <= rounds; round++) {
    // (a link destroyed in the round before leaves the set at its socket's 'close')
    const lost = await proxy.until(() => (proxy.links.size === 2 ? [...proxy.links] : undefined));
    for (const link of lost) link.destroy();
    await events.until(() => events.availability.length === 2 * round && events.availability.at(-1) === true);
  }
  // The same pair came back each time (a replaced one would have started with a new signal).
  assert.deepEqual(
    events.availability,
    Array.from({ length: 2 * rounds }, (_, i) => i % 2 === 1),
  );
  const position = await broker.publish('t', Buffer.from('after'), false);
  assert.equal(position.offset, 1);
  await broker.close();
  await proxy.until(() => (proxy.links.size === 0 ? true : undefined));
  assert.deepEqual(listenerWarnings(seen), []);
});

it('RedisBroker while Redis is down, 24 connection attempts refused: no MaxListenersExceededWarning', {
  timeout: 60_000,
}, async () => {
  const seen = warnings();
  const server = await BrokerProcess.redis();
  after(() => server.stop());
  const broker = new RedisBroker({ url: server.url, reconnectMaxDelayMs: 50 });
  const events = new BrokerRecorder();
  await broker.open(events, history);
  // Sockets made from now on: node-redis's attempts (a refused one asks nothing of the port), each
  // published by node as it makes it.
  let refused = 0;
  let enoughRefused!: () => void;
  const enough = new Promise<void>((resolve) => {
    enoughRefused = resolve;
  });
  const onSocket = (message: unknown): void => {
    (message as { socket: Socket }).socket.once('close', () => {
      if (++refused === 24) enoughRefused();
    });
  };
  subscribe('net.client.socket', onSocket);
  after(() => {
    unsubscribe('net.client.socket', onSocket);
  });
  await server.kill();
  await events.available(false);
  // 24 attempts refused and closed (12 per connection, at most 50 ms apart: long before the pair
  // would be replaced, Redis down 5 s).
  await enough;
  unsubscribe('net.client.socket', onSocket);
  await server.start();
  await events.available(true);
  assert.deepEqual(events.availability, [false, true]);
  await broker.close();
  assert.deepEqual(listenerWarnings(seen), []);
});
