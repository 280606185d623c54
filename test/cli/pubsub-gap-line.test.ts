/**
 * The stderr line of `serve --pubsub` for offsets a topic skipped says which and why: one offset
 * is "offset N" (was "offsets N to N"), and a gap whose history read failed (the broker's link
 * lost again while it ran) no longer says that history held none of it (it may: a client can
 * still recover it with `since`), and is read again rather than skipped at once: the line then
 * tells what the read found. Real redis-server and nats-server, a TCP proxy in front of the
 * server's broker; `--history 3`, so that of 2-5 published while the link is cut only 2 is lost.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { NatsBroker, RedisBroker } from '../../src/pubsub/index.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { cutAndHoldCatchUpRead } from '../pubsub/held-read-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';
import { type Served, serveTelling } from './cli-support.js';

for (const kind of ['redis', 'nats'] as const) {
  describe(`serve --pubsub --broker ${kind}://: the line for a gap`, () => {
    const env = brokerBehindProxy(() => (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats()));

    /**
     * `serve` on the proxy (`--broker-timeout 2`: a held read fails within the test, before the
     * keep-alive finds its link stalled), a client of `topic` that has `m1`, and a broker straight
     * on the server to publish with.
     */
    async function setUp(t: TestContext, topic: string, more: string[] = []) {
      const flags = ['--history', '3', '--broker-timeout', '2', ...more];
      const server = await serveTelling(t, ['--pubsub', '--broker', env.proxy.url(kind), ...flags]);
      const pub: Broker = kind === 'redis' ? new RedisBroker(env.server.url) : new NatsBroker(env.server.url);
      const client = await JsonClient.connect(server.port);
      t.after(async () => {
        client.sock.destroy();
        await pub.close();
      });
      await pub.open(new BrokerRecorder(), { size: 3, ttlSeconds: 300 }); // (serve's)
      const publish = (offset: number): Promise<unknown> =>
        pub.publish(topic, Buffer.from(JSON.stringify(`m${offset}`)), false);
      const { epoch } = await subscribe(client, topic);
      await publish(1);
      assert.equal(await message(client, topic, 1), 'm1');
      return { server, client, publish, epoch: epoch as string };
    }

    /** The client gets 3, 4, 5 (history's), then 6 published once the server is back. */
    async function rest(server: Served, client: JsonClient, topic: string, publish: (o: number) => Promise<unknown>) {
      for (let offset = 3; offset <= 5; offset++) assert.equal(await message(client, topic, offset), `m${offset}`);
      await server.told('broker available again\n');
      await publish(6);
      assert.equal(await message(client, topic, 6), 'm6');
    }

    it('one offset history no longer holds: "offset 2 … skipped (neither history nor memory held it)"', {
      timeout: 60_000,
    }, async (t) => {
      const topic = 'one-offset';
      const { server, client, publish, epoch } = await setUp(t, topic);
      env.proxy.cut();
      await server.told('broker unavailable\n');
      for (let offset = 2; offset <= 5; offset++) await publish(offset);
      env.proxy.restore();
      await rest(server, client, topic, publish);
      await server.told(`topic "${topic}": offset 2 of epoch ${epoch} skipped (neither history nor memory held it)\n`);
      assert.doesNotMatch(server.stderr(), /offsets/);
    });

    it('--quiet: the gap is not told (the client sees it in the offsets)', { timeout: 60_000 }, async (t) => {
      const topic = 'quiet';
      const { server, client, publish } = await setUp(t, topic, ['--quiet']);
      env.proxy.cut();
      // (no "broker unavailable" line to wait for: the client's publish fails once the link is gone)
      client.send({ op: 'publish', topic: 'probe', data: 0 });
      assert.equal((await client.next()).code, 'ERR_WS_BROKER_UNAVAILABLE');
      for (let offset = 2; offset <= 5; offset++) await publish(offset);
      env.proxy.restore();
      for (let offset = 3; offset <= 5; offset++) assert.equal(await message(client, topic, offset), `m${offset}`);
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
      assert.equal(server.stderr(), '');
    });

    it('its history read failed (held past --broker-timeout): read again, the line tells why offset 2 is lost: "neither history nor memory"', {
      timeout: 60_000,
    }, async (t) => {
      const topic = 'read-failed';
      const { server, client, publish, epoch } = await setUp(t, topic);
      const read = kind === 'redis' ? 'EVALSHA' : 'STREAM.INFO';
      const held = await cutAndHoldCatchUpRead(
        env.proxy,
        kind,
        () => server.told('broker unavailable\n'),
        async () => {
          for (let offset = 2; offset <= 5; offset++) await publish(offset);
        },
      );
      // The read fails after --broker-timeout; it is made again (held too, on the same link), or the
      // link is found stalled and replaced (the read then made on the new one): either way, let go.
      const reads = held.clientText.split(read).length;
      await env.proxy.until(
        () => held.clientText.split(read).length > reads || !env.proxy.links.has(held) || undefined,
      );
      held.release();
      await rest(server, client, topic, publish);
      await server.told(`topic "${topic}": offset 2 of epoch ${epoch} skipped (neither history nor memory held it)\n`);
      assert.doesNotMatch(server.stderr(), /failed the history read/);
    });
  });
}
