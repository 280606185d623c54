/**
 * `ws-stream serve --pubsub --broker URL` against real brokers started here: the URL's scheme in
 * any case names the same broker (one process and `--workers 2`), and a message over 1 MiB keeps
 * its place in the order of one connection's publishes.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { checkBrokerUrl } from '../../src/cli/args.js';
import { startServer } from '../conformance/raw-client.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';

describe('serve --pubsub --broker', () => {
  const brokers: BrokerProcess[] = [];
  after(async () => {
    for (const b of brokers) await b.stop();
  });

  it('checkBrokerUrl: the kind, and the schemes lower-cased', () => {
    assert.deepEqual(checkBrokerUrl('REDIS://127.0.0.1:6379/2'), { kind: 'redis', url: 'redis://127.0.0.1:6379/2' });
    assert.deepEqual(checkBrokerUrl('RedisS://h:1'), { kind: 'redis', url: 'rediss://h:1' });
    assert.deepEqual(checkBrokerUrl('Tls://a:1, TLS://b:2'), { kind: 'nats', url: 'tls://a:1,tls://b:2' });
    assert.deepEqual(checkBrokerUrl('Nats://a:1, nats://b:2'), { kind: 'nats', url: 'nats://a:1,nats://b:2' });
    assert.deepEqual(checkBrokerUrl('nats://a:1'), { kind: 'nats', url: 'nats://a:1' });
  });

  const cases: [string, () => Promise<BrokerProcess>, (url: string) => string][] = [
    ['REDIS://', () => BrokerProcess.redis(), (url) => url.replace(/^redis:/, 'REDIS:')],
    ['Nats://', () => BrokerProcess.nats(), (url) => url.replace(/^nats:/, 'Nats:')],
    // (a URL's empty path, `/`, is no path: taken as a NATS URL without one)
    ['(with a trailing /) nats://', () => BrokerProcess.nats(), (url) => `${url.replace(/\/$/, '')}/`],
  ];
  for (const [scheme, start, spell] of cases) {
    for (const mode of [[], ['--workers', '2']]) {
      it(`${scheme}HOST:PORT${mode.length ? ' --workers 2' : ''}: starts, and messages go through the broker`, async (t) => {
        const broker = await start();
        brokers.push(broker);
        const server = await startServer(['--pubsub', '--broker', spell(broker.url), ...mode]);
        const clients: JsonClient[] = [];
        t.after(async () => {
          for (const c of clients) c.sock.destroy();
          await server.stop();
        });
        const [sub, pub] = [await JsonClient.connect(server.port), await JsonClient.connect(server.port)];
        clients.push(sub, pub);
        await subscribe(sub, 'room');
        pub.send({ op: 'publish', topic: 'room', data: 'hello' });
        assert.equal(await message(sub, 'room', 1), 'hello');
      });
    }
  }

  it('redis: a message over 1 MiB and the one published after it arrive in publish order', async (t) => {
    const broker = await BrokerProcess.redis();
    brokers.push(broker);
    const server = await startServer(['--pubsub', '--broker', broker.url]);
    const clients: JsonClient[] = [];
    t.after(async () => {
      for (const c of clients) c.sock.destroy();
      await server.stop();
    });
    const [sub, pub] = [await JsonClient.connect(server.port), await JsonClient.connect(server.port)];
    clients.push(sub, pub);
    await subscribe(sub, 't');
    const big = 'x'.repeat(2 * 1024 * 1024);
    pub.send({ op: 'publish', topic: 't', data: big });
    pub.send({ op: 'publish', topic: 't', data: 'second' });
    assert.equal(await message(sub, 't', 1), big);
    assert.equal(await message(sub, 't', 2), 'second');
  });
});
