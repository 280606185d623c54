/**
 * `serve --pubsub --broker URL --max-held-bytes N` reaches the server's broker: back after a lost
 * link, with `--history 3`, a topic whose read is held while 5 MiB or more come live drops them at
 * the default (4 MiB) and its client's offsets jump, one line on stderr naming the offsets skipped;
 * with `--max-held-bytes 16777216` it holds them, and the client gets every offset, no such line.
 * Real redis-server and nats-server, a TCP proxy in front of the server's broker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { MAX_HELD_BYTES } from '../../src/pubsub/broker-support.js';
import { NatsBroker, RedisBroker } from '../../src/pubsub/index.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { cutAndHoldRead } from '../pubsub/held-read-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';
import { serveTelling } from './cli-support.js';

for (const kind of ['redis', 'nats'] as const) {
  describe(`serve --pubsub --broker ${kind}:// --max-held-bytes`, () => {
    const env = brokerBehindProxy(() => (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats()));
    const size = kind === 'redis' ? 1024 * 1024 : 768 * 1024; // (NATS: under max_payload, 1 MiB, with the headers)
    const last = Math.floor(MAX_HELD_BYTES / size) + 3; // offsets 2 to last: past 4 MiB
    /** Message data (a JSON string) of `size` bytes whose text ends with `m<offset>`. */
    const data = (offset: number): string => `m${offset}`.padStart(size - 2, '.');

    for (const held of [undefined, 16 * 1024 * 1024]) {
      const flag = held === undefined ? [] : ['--max-held-bytes', String(held)];
      it(`${held === undefined ? 'default (4 MiB)' : `${held}`}: ${held === undefined ? 'dropped, offsets 2 to last − 3 skipped, told on stderr' : 'every offset delivered, none skipped'}`, {
        timeout: 120_000,
      }, async (t) => {
        const topic = `held-${held ?? 'default'}`;
        // (A broker timeout longer than the test: the held read is a stall the test chooses to end.)
        const server = await serveTelling(t, [
          '--pubsub',
          '--broker',
          env.proxy.url(kind),
          '--history',
          '3',
          '--broker-timeout',
          '600',
          ...flag,
        ]);
        const history = { size: 3, ttlSeconds: 300 }; // (serve's)
        const pub: Broker = kind === 'redis' ? new RedisBroker(env.server.url) : new NatsBroker(env.server.url);
        const client = await JsonClient.connect(server.port);
        t.after(async () => {
          client.sock.destroy();
          await pub.close();
        });
        await pub.open(new BrokerRecorder(), history);
        const publish = (offset: number): Promise<unknown> =>
          pub.publish(topic, Buffer.from(JSON.stringify(offset === 1 ? 'm1' : data(offset))), false);
        const { epoch } = await subscribe(client, topic);
        await publish(1);
        assert.equal(await message(client, topic, 1), 'm1');

        const { held: read, live } = await cutAndHoldRead(env.proxy, kind, topic, () =>
          server.told('broker unavailable\n'),
        );
        for (let offset = 2; offset <= last; offset++) await publish(offset);
        await env.proxy.until(() => live.serverText.endsWith(`m${last}"\r\n`) || undefined);
        read.release();
        const first = held === undefined ? last - 2 : 2; // (history keeps the last 3)
        for (let offset = first; offset <= last; offset++)
          assert.equal(await message(client, topic, offset), data(offset));
        await server.told('broker available again\n');
        await publish(last + 1);
        assert.equal(await message(client, topic, last + 1), data(last + 1));
        const line = `topic "${topic}": offsets 2 to ${last - 3} of epoch ${epoch} skipped`;
        if (held === undefined) await server.told(line);
        else assert.doesNotMatch(server.stderr(), /skipped/);
      });
    }
  });
}

/**
 * What a topic holds is let go at once, and while the broker is connected (not an outage's paced,
 * uncounted catch-up) it counts toward each subscriber's backlog: the doc says keep
 * `slowSubscriber.maxBytes` at least `maxHeldBytes`, and `serve` had no way to, its backlog fixed at
 * 4 MiB. Redis emptied (FLUSHALL) under a connected `serve`: the new epoch's first message makes
 * the topic read that epoch's start, held here while 12 messages of 1 MiB come (12 MiB, under
 * `--max-held-bytes 16777216`); let go at once, 4 MiB fitted the backlog and the rest were dropped.
 */
describe('serve --pubsub --broker redis:// --max-held-bytes 16777216: what the topic held is let go within the backlog', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());
  const size = 1024 * 1024;
  const data = (offset: number): string => `m${offset}`.padStart(size - 2, '.');

  it('a new epoch while connected, its start read held while 12 MiB come: every offset delivered', {
    timeout: 120_000,
  }, async (t) => {
    const topic = 'held-connected';
    const held = 16 * 1024 * 1024;
    const last = 12;
    assert.ok(last * size < held && last * size > MAX_HELD_BYTES * 2);
    const server = await serveTelling(t, [
      '--pubsub',
      '--broker',
      env.proxy.url('redis'),
      '--history',
      '3',
      '--broker-timeout',
      '600',
      '--max-held-bytes',
      String(held),
    ]);
    const pub = new RedisBroker(env.server.url);
    const client = await JsonClient.connect(server.port);
    t.after(async () => {
      client.sock.destroy();
      await pub.close();
    });
    await pub.open(new BrokerRecorder(), { size: 3, ttlSeconds: 300 });
    const publish = (offset: number): Promise<{ epoch: string }> =>
      pub.publish(topic, Buffer.from(JSON.stringify(offset === 1 ? 'm1' : data(offset))), false);
    await subscribe(client, topic);
    await publish(1);
    assert.equal(await message(client, topic, 1), 'm1');

    // serve's two links: commands (its reads) and the subscriber one (live messages).
    const links = [...env.proxy.links];
    const command = links.find((l) => l.clientText.includes('SETINFO') && !l.clientText.includes('subscribe'))!;
    const live = links.find((l) => l.clientText.includes('subscribe'))!;
    const reads = (): number => command.clientText.split('EVALSHA').length - 1;
    const before = reads();
    command.holdClientFrom('EVALSHA');
    await env.server.flushAll();
    let epoch = '';
    for (let offset = 1; offset <= last; offset++) epoch = (await publish(offset)).epoch;
    await env.proxy.until(() => live.serverText.endsWith(`m${last}"\r\n`) || undefined);
    await env.proxy.until(() => reads() > before || undefined); // (the new epoch's read, held)
    command.release();
    const told = await client.next('the new epoch told');
    assert.deepEqual(told, { op: 'subscribed', topic, offset: 0, epoch });
    assert.equal(await message(client, topic, 1), 'm1');
    for (let offset = 2; offset <= last; offset++) assert.equal(await message(client, topic, offset), data(offset));
  });
});
