/**
 * A broker's asks of its server's port (after an attempt failed without a refusal: is a server
 * there, does it speak the URL's protocol?) end when the broker closes. Asked of a server that
 * takes the connection and never answers, one used to stay open until `commandTimeoutMs` had
 * passed (here two minutes), after `close()` had resolved. Seen from the server's side: a TCP
 * proxy in front of a real redis-server or nats-server, which holds the asks (no byte passes
 * either way) and counts the connections still open.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, type ProxyLink, TcpProxy } from '../support/brokers.js';

/** Far longer than the test may take: an ask that outlives `close()` fails it by the runner's timeout. */
const LONG = 120_000;
const WAIT = { timeout: 60_000 };

it('Redis: the asks of the port after a reconnection failed are closed once close() resolves', WAIT, async (t) => {
  const server = await BrokerProcess.redis();
  const proxy = await TcpProxy.start(server.port);
  t.after(async () => {
    await proxy.close();
    await server.stop();
  });
  const broker = new RedisBroker({ url: proxy.url('redis'), commandTimeoutMs: LONG, pingIntervalMs: 600_000 });
  const events = new BrokerRecorder();
  await broker.open(events, history);
  await broker.subscribe('room');

  // Cut: node-redis's connections (a command array first) are dropped as they come, so each
  // reconnection fails without a refusal; the broker's asks (a plain PING, a TLS handshake) are held.
  proxy.cut();
  const asks = await proxy.until(() => {
    for (const link of proxy.links) if (link.clientText.startsWith('*')) link.destroy();
    const held = [...proxy.links].filter((l) => l.clientText !== '' && !l.clientText.startsWith('*'));
    return held.length >= 2 ? held : undefined;
  });
  assert.ok(asks.some((l) => l.clientText === 'PING\r\n'));
  assert.ok(
    asks.some((l) => l.clientText.charCodeAt(0) === 0x16),
    'a TLS handshake',
  );
  assert.deepEqual(events.availability, [false]);

  await broker.close();
  // (node-redis's own connections are closed by close() too.)
  await proxy.until(() => (proxy.links.size === 0 ? true : undefined));
});

it(
  'NATS: the ask of the servers’ first words after an attempt failed is closed once close() resolves',
  WAIT,
  async (t) => {
    const server = await BrokerProcess.nats({
      start: false,
      jetstream: false,
      // (The server's own wait for a CONNECT, 2 s by default, would end the held connection.)
      config: 'authorization { token: t0ken, timeout: 100 }',
    });
    const proxy = await TcpProxy.start(server.port);
    t.after(async () => {
      await proxy.close();
      await server.stop();
    });
    const broker = new NatsBroker({ url: `nats://0ther@127.0.0.1:${proxy.port}`, commandTimeoutMs: LONG });
    const events = new BrokerRecorder();
    // Down at open: connecting in the background; then up, refusing the token.
    await broker.open(events, history);
    await server.start();
    await events.refused(1);

    // From here new connections are held (accepted, no byte either way): the broker's next attempt
    // is dropped (failed, not refused), and the broker asks whether a server still greets.
    const before = new Set(proxy.links);
    proxy.holding = true;
    const held = (): ProxyLink[] => [...proxy.links].filter((l) => !before.has(l));
    const attempt = await proxy.until(() => held()[0]);
    attempt.destroy();
    const ask = await proxy.until(() => held().find((l) => l !== attempt));
    assert.equal(ask.clientText, '', 'nothing said yet: it waits for a greeting');

    await broker.close();
    await proxy.until(() => (proxy.links.size === 0 ? true : undefined));
    assert.equal(events.refusals.length, 1);
  },
);
