/**
 * RedisBroker faults that leave its connections up: a read the broker makes for a topic (the new
 * epoch's start after Redis came back empty, what a gap lacks) that times out or fails is made
 * again until it succeeds, so no offset is skipped nor delivered out of order. A TCP proxy in
 * front of Redis holds the read's command, so each interleaving is chosen, not hoped for.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { BrokerMessage } from '../../src/pubsub/broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder, type ProxyLink } from '../support/brokers.js';

const rows = (messages: BrokerMessage[]): [number, string, string][] =>
  messages.map((m) => [m.offset, m.epoch, m.data.toString()]);

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('RedisBroker: a read that fails while the connection stays is made again', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  async function open(t: TestContext, url: string, commandTimeoutMs: number) {
    // (No keep-alive gets in the way: a held command is a stall the test chooses to end.)
    const broker = new RedisBroker({ url, commandTimeoutMs, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  it('Redis back empty, the read of the new epoch times out: it is read again, offset 1 is not skipped', {
    timeout: 120_000,
  }, async (t) => {
    const topic = 'new-epoch-timeout';
    // The deadline is what fails the read (its length only decides when).
    const sub = await open(t, env.proxy.url('redis'), 500);
    const pub = await open(t, env.server.url, 600_000);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('before'), false);
    await sub.events.received(topic, 1);

    env.proxy.holding = true;
    await env.server.kill();
    await Promise.all([sub.events.available(false), pub.events.available(false)]);
    await env.server.start();
    await pub.events.available(true);
    // Published while `sub` is subscribed nowhere: only history has it.
    const one = await pub.broker.publish(topic, Buffer.from('one'), false);
    assert.equal(one.offset, 1);
    assert.notEqual(one.epoch, first.epoch);

    const subscriberLink = await env.proxy.link(['subscribe']);
    subscriberLink.release();
    await env.proxy.until(() => subscriberLink.serverText.includes('subscribe') || undefined);
    const two = await pub.broker.publish(topic, Buffer.from('two'), false);
    await env.proxy.until(() => subscriberLink.serverText.includes('\ntwo') || undefined);

    // The command connection: its position read passes, the read of the new epoch's history (the
    // next script) is held, and so is every read after it.
    const commandLink: ProxyLink = await env.proxy.link(['SETINFO'], ['subscribe']);
    env.proxy.holding = false;
    commandLink.holdClientFrom('EVALSHA');
    commandLink.release();
    await env.proxy.until(() => count(commandLink.clientText, 'EVALSHA') >= 1 || undefined);
    commandLink.release();
    commandLink.holdClientFrom('EVALSHA');
    // Either the broker reads again after the timeout (a third script), or it went on without
    // offset 1 (the bug this guards against): both end the wait; the rows tell which.
    await Promise.race([
      env.proxy.until(() => count(commandLink.clientText, 'EVALSHA') >= 3 || undefined),
      sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === one.epoch)),
    ]);
    assert.deepEqual(rows(sub.events.of(topic)), [[1, first.epoch, 'before']], 'nothing of the new epoch yet');
    commandLink.release();
    await sub.events.available(true);
    const three = await pub.broker.publish(topic, Buffer.from('three'), false);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === one.epoch && m.offset === three.offset));
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, first.epoch, 'before'],
      [1, one.epoch, 'one'],
      [2, two.epoch, 'two'],
      [3, three.epoch, 'three'],
    ]);
  });
});
