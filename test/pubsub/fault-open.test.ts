/**
 * A PubSub made while its broker (a real redis-server or nats-server, on a port reserved
 * beforehand) is down: operations fail at once with ERR_WS_BROKER_UNAVAILABLE, the broker keeps
 * connecting in the background without keeping the process alive, and once the server is started
 * the PubSub reports `availability` true and delivers to a real WebSocket client, with no new
 * PubSub nor broker made. `close()` while still down stops the attempts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { PubSub } from '../../src/pubsub/index.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess } from '../support/brokers.js';
import { JsonClient, once, startTestServer } from './pubsub-support.js';

const unavailable = { code: 'ERR_WS_BROKER_UNAVAILABLE' };
const format = (m: { data: Buffer; offset: number }): string =>
  JSON.stringify({ data: m.data.toString(), offset: m.offset });

const kinds = [
  {
    name: 'Redis',
    module: 'redis-broker.js',
    className: 'RedisBroker',
    reserve: () => BrokerProcess.redis({ start: false }),
    make: (url: string): Broker => new RedisBroker(url),
  },
  {
    name: 'NATS',
    module: 'nats-broker.js',
    className: 'NatsBroker',
    reserve: () => BrokerProcess.nats({ start: false }),
    make: (url: string): Broker => new NatsBroker(url),
  },
];

/**
 * Runs a node process that makes a PubSub on `url` (down), waits until it reports the broker
 * unavailable and a publish fails with ERR_WS_BROKER_UNAVAILABLE, then closes it (`close`) or not,
 * and prints what it saw. The process must then end by itself: nothing left keeps it alive.
 */
function runAlone(
  kind: (typeof kinds)[number],
  url: string,
  close: boolean,
): Promise<{ code: number | null; out: string }> {
  const dir = new URL('../../src/pubsub/', import.meta.url).href;
  const script = `
    const { PubSub } = await import(${JSON.stringify(`${dir}index.js`)});
    const { ${kind.className} } = await import(${JSON.stringify(dir + kind.module)});
    const ps = new PubSub({ broker: new ${kind.className}(${JSON.stringify(url)}) });
    const code = await ps.publish('t', 'x').then(() => 'published', (err) => err.code);
    console.log('publish ' + code + ' available ' + ps.brokerAvailable);
    if (${close}) {
      await ps.close();
      console.log('closed');
    }
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

for (const kind of kinds) {
  describe(`PubSub on ${kind.name}, made while ${kind.name} is down`, () => {
    it('fails fast, connects by itself once the server is up, then delivers to a WebSocket client', {
      timeout: 120_000,
    }, async (t) => {
      const broker = await kind.reserve();
      t.after(() => broker.stop());
      const server = await startTestServer();
      const ps = new PubSub({ broker: kind.make(broker.url), format });
      t.after(async () => {
        await ps.close();
        await server.close();
      });
      const client = await JsonClient.connect(server.port);
      t.after(() => client.close());
      const { ws } = await server.next();

      await assert.rejects(ps.publish('news', 'early'), unavailable);
      await assert.rejects(ps.subscribe(ws, 'news'), unavailable);
      assert.equal(ps.brokerAvailable, false);
      assert.deepEqual(ps.topics(ws), []);
      // Still down after a failed operation: it fails again, it does not wait.
      await assert.rejects(ps.publish('news', 'early again'), unavailable);

      const up = once<boolean>(ps, 'availability');
      await broker.start();
      assert.equal(await up, true);
      assert.equal(ps.brokerAvailable, true);

      const start = await ps.subscribe(ws, 'news');
      const sent = await ps.publish('news', 'hello');
      assert.equal(sent.offset, start.offset + 1);
      assert.deepEqual(await client.next(), { data: 'hello', offset: sent.offset });
    });

    it('close() while still down resolves and leaves nothing behind: the process ends by itself', {
      timeout: 120_000,
    }, async (t) => {
      const broker = await kind.reserve();
      t.after(() => broker.stop());
      const closed = await runAlone(kind, broker.url, true);
      assert.deepEqual(closed, { code: 0, out: 'publish ERR_WS_BROKER_UNAVAILABLE available false\nclosed\n' });
      // Not closed: the background attempts do not keep the process alive either.
      const open = await runAlone(kind, broker.url, false);
      assert.deepEqual(open, { code: 0, out: 'publish ERR_WS_BROKER_UNAVAILABLE available false\n' });
    });
  });
}
