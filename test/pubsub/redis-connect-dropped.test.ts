/**
 * A RedisBroker whose Redis takes no connection: its port's listen backlog is full (as a stalled
 * Redis's fills up, or a machine out of descriptors leaves it), so each socket the broker opens
 * stays connecting. Each try to make the pair of connections gives up at `commandTimeoutMs` and
 * drops it; the sockets it was still making must go with it. node-redis's destroy() closes only
 * a socket that has connected: one still connecting would stay open here (and connect later, an
 * unused client at Redis for good), two more with every try, and after `close()` too. So also when
 * the caller passed a signal of its own, which the pair's must not replace.
 */
import { it } from 'node:test';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { noDescriptorLeftWhenUnreachable } from '../support/broker-suite.js';

for (const withSignal of [false, true]) {
  const given = withSignal ? " (and a caller's own socket.signal, never aborted)" : '';
  it(`RedisBroker on a port that takes no connection${given}: the sockets of each try that gave up are closed, none is left after close()`, () => {
    const caller = new AbortController();
    return noDescriptorLeftWhenUnreachable(
      (port) =>
        new RedisBroker({
          url: `redis://127.0.0.1:${port}`,
          commandTimeoutMs: 200,
          reconnectMaxDelayMs: 200,
          ...(withSignal ? { clientOptions: { socket: { signal: caller.signal } } } : {}),
        }),
    );
  });
}
