/**
 * A NatsBroker whose server takes no connection: its port's listen backlog is full (as a stalled
 * server's fills up), so a socket the broker opens stays connecting. The NATS client's try gives up
 * at its timeout (`commandTimeoutMs`) but tracks its socket only once connected: the one still
 * connecting stayed open, after `close()` too, until the kernel gave up on it (~2 minutes, the
 * process kept alive meanwhile). The broker tries only once a server greets as NATS does, from the
 * first try on; its own probes are closed when they give up, or by `close()`.
 */
import { it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { noDescriptorLeftWhenUnreachable } from '../support/broker-suite.js';

it('NatsBroker on a port that takes no connection: open() says unavailable, and no socket is left after close()', () =>
  noDescriptorLeftWhenUnreachable(
    (port) => new NatsBroker({ url: `nats://127.0.0.1:${port}`, commandTimeoutMs: 200 }),
  ));
