/**
 * `serve --pubsub --broker URL` started while its broker is down listens at once and says so on
 * stderr (`broker unavailable`), then `broker available again` once the broker is up. Before, it
 * said nothing until the broker came: a mistyped port looked like a server that works, and the
 * first line an operator saw was `broker available again`. Real redis-server and nats-server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { error, message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';
import { serveTelling } from './cli-support.js';

for (const kind of ['redis', 'nats'] as const) {
  describe(`serve --pubsub --broker ${kind}:// started while the broker is down`, () => {
    it('says `broker unavailable` at once, then `broker available again` when it is up, and serves', {
      timeout: 60_000,
    }, async (t) => {
      const broker =
        kind === 'redis' ? await BrokerProcess.redis({ start: false }) : await BrokerProcess.nats({ start: false });
      t.after(() => broker.stop());
      const server = await serveTelling(t, ['--pubsub', '--broker', broker.url]);
      await server.told('broker unavailable\n');
      const c = await JsonClient.connect(server.port);
      t.after(() => c.close());
      c.send({ op: 'subscribe', topic: 'x' });
      await error(c, 'ERR_WS_BROKER_UNAVAILABLE', 'a subscribe while the broker is down');
      await broker.start();
      await server.told('broker available again\n');
      assert.equal(server.stderr(), 'broker unavailable\nbroker available again\n');
      await subscribe(c, 'x');
      c.send({ op: 'publish', topic: 'x', data: 'up' });
      assert.equal(await message(c, 'x', 1), 'up');
    });
  });
}

describe('serve --pubsub --broker redis:// up at start', () => {
  it('says nothing about the broker', { timeout: 60_000 }, async (t) => {
    const broker = await BrokerProcess.redis();
    t.after(() => broker.stop());
    const server = await serveTelling(t, ['--pubsub', '--broker', broker.url]);
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    await subscribe(c, 'x');
    c.send({ op: 'publish', topic: 'x', data: 'up' });
    assert.equal(await message(c, 'x', 1), 'up');
    assert.equal(server.stderr(), '');
  });
});
