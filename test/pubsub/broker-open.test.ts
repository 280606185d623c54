/**
 * What `serve --pubsub` waits for before it listens: the PubSub's own open of its broker
 * (`_opened()`, internal: not in the published types). A Redis broker that refuses the password
 * rejects it with ERR_WS_BROKER_REFUSED naming the refusal, never the password; one merely down
 * resolves it (it connects later); the in-memory broker resolves it at once.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, it } from 'node:test';
import { WebSocketError } from '../../src/errors.js';
import { MemoryBroker, PubSub, RedisBroker } from '../../src/pubsub/index.js';
import { BrokerProcess } from '../support/brokers.js';

const brokers: BrokerProcess[] = [];
after(async () => {
  for (const b of brokers) await b.stop();
});

it('a broker that refuses the credentials: _opened() rejects, typed, without the password', async () => {
  const broker = await BrokerProcess.redis({ args: ['--requirepass', 's3cret'] });
  brokers.push(broker);
  const ps = new PubSub({ broker: new RedisBroker(broker.url.replace('://', '://:wrong-pw-1@')) });
  await assert.rejects(ps._opened(), (err: unknown) => {
    assert.ok(err instanceof WebSocketError, String(err));
    assert.equal(err.code, 'ERR_WS_BROKER_REFUSED');
    assert.match(err.message, /WRONGPASS/);
    assert.doesNotMatch(err.message, /wrong-pw-1/);
    return true;
  });
  await ps.close();
});

it('a broker merely down, and the in-memory broker: _opened() resolves', async () => {
  const down = await BrokerProcess.redis({ start: false });
  brokers.push(down);
  for (const broker of [new RedisBroker(down.url), new MemoryBroker()]) {
    const ps = new PubSub({ broker });
    await ps._opened();
    await ps.close();
  }
});

it('_opened is internal: not in the published PubSub type', () => {
  const types = readFileSync(new URL('../../src/pubsub/pubsub.d.ts', import.meta.url), 'utf8');
  assert.match(types, /export declare class PubSub /);
  assert.doesNotMatch(types, /_opened/);
});
