/**
 * A NatsBroker whose server takes no connection: its port's listen backlog is full (as a stalled
 * server's fills up), so a socket the broker opens stays connecting. The NATS client's try gives up
 * at its timeout (`commandTimeoutMs`) but tracks its socket only once connected: the one still
 * connecting stayed open, after `close()` too, until the kernel gave up on it (~2 minutes, the
 * process kept alive meanwhile). The broker tries only once a server greets as NATS does, from the
 * first try on; its own probes are closed when they give up, or by `close()`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerRecorder, descriptors, portThatTakesNothing } from '../support/brokers.js';

it('NatsBroker on a port that takes no connection: open() says unavailable, and no socket is left after close()', async () => {
  const nats = await portThatTakesNothing();
  try {
    const before = descriptors();
    const broker = new NatsBroker({ url: `nats://127.0.0.1:${nats.port}`, commandTimeoutMs: 200 });
    const events = new BrokerRecorder();
    // Resolves once the first try has given up (the broker is then unavailable, and tries again).
    await broker.open(events, history);
    assert.deepEqual(events.availability, [false]);
    const afterFirstTry = descriptors() - before;
    await broker.close();
    const left = descriptors() - before;
    assert.equal(left, 0, `descriptors left after close(): ${left} (${afterFirstTry} once the first try gave up)`);
  } finally {
    await nats.stop();
  }
});
