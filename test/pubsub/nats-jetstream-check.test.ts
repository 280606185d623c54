/**
 * How NatsBroker decides, at open, between JetStream and core NATS: core NATS (no history, offsets
 * per process, an epoch of its own, for the broker's whole life) only on the server's own word that
 * there is no JetStream, never because the JetStream API did not answer in time (a loaded server:
 * one `serve --workers 2` process once came up on core NATS beside one on JetStream). A TCP proxy
 * in front of nats-server keeps the broker's first `$JS.API.INFO` request from the server, so that
 * its answer comes after `commandTimeoutMs` whatever the machine's load.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { NatsBroker, type NatsBrokerOptions } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, type ProxyLink, TcpProxy } from '../support/brokers.js';

const brokers: NatsBroker[] = [];
const servers: BrokerProcess[] = [];
const proxies: TcpProxy[] = [];
after(async () => {
  for (const b of brokers) await b.close();
  for (const p of proxies) await p.close();
  for (const s of servers) await s.stop();
});

/**
 * A broker opened through a proxy to `server` whose first connection's `$JS.API.INFO` request
 * never reaches the server (the connections after it pass); `heldLink` is that first connection
 * (after the broker's probe of the server's greeting, which passes).
 */
async function openWithApiHeld(
  server: BrokerProcess,
  options: NatsBrokerOptions = {},
): Promise<{ broker: NatsBroker; events: BrokerRecorder; heldLink: ProxyLink; opened: Promise<void> }> {
  const proxy = await TcpProxy.start(server.port);
  proxies.push(proxy);
  proxy.holding = true;
  // (No keep-alive gets in the way: the held request is what the broker waits on.)
  const broker = new NatsBroker({
    url: proxy.url('nats'),
    commandTimeoutMs: 1000,
    pingIntervalMs: 600_000,
    ...options,
  });
  brokers.push(broker);
  const events = new BrokerRecorder();
  const opened = broker.open(events, history);
  // The broker's greeting probe comes first (it reads the server's INFO and closes): let through.
  const probe = await proxy.link([]);
  probe.release();
  // The server speaks first: nothing of the client's is written before the link is released.
  const heldLink = await proxy.until(() => [...proxy.links].find((l) => l !== probe));
  heldLink.holdClientFrom('$JS.API.INFO');
  proxy.holding = false;
  heldLink.release();
  return { broker, events, heldLink, opened };
}

describe('NatsBroker: the JetStream API not answering at open is no proof that there is none', () => {
  it('JetStream server, its answer late: open() resolves unavailable, then the broker comes up on JetStream (not core NATS)', async () => {
    const server = await BrokerProcess.nats();
    servers.push(server);
    const { broker, events, heldLink, opened } = await openWithApiHeld(server);
    await opened;
    assert.ok(heldLink.clientText.includes('$JS.API.INFO'), 'the broker asked the JetStream API');
    // Not available while it does not know (it used to resolve on core NATS, available, for good).
    assert.deepEqual(events.availability, [false]);
    await assert.rejects(broker.subscribe('t'), {
      code: 'ERR_WS_BROKER_UNAVAILABLE',
      message:
        /^the pub\/sub broker is unavailable: NatsBroker: the JetStream API of nats:\/\/127\.0\.0\.1:\d+ did not answer: /,
    });
    // Asked again on a new connection, which the server answers.
    await events.available(true);
    assert.deepEqual(events.availability, [false, true]);
    assert.equal(broker.jetstream, true);
    const first = await broker.publish('t', Buffer.from('one'), false);
    assert.doesNotMatch(first.epoch, /^core-/);
    await broker.publish('t', Buffer.from('two'), false);
    assert.deepEqual(
      (await broker.history('t', { offset: 0, epoch: first.epoch }))?.map((m) => [m.offset, m.data.toString()]),
      [
        [1, 'one'],
        [2, 'two'],
      ],
    );
    // A second broker on the same server, straight: the same epoch (one stream), as two processes see it.
    const other = new NatsBroker(server.url);
    brokers.push(other);
    await other.open(new BrokerRecorder(), history);
    assert.deepEqual(await other.position('t'), { offset: 2, epoch: first.epoch });
  });

  it('with requireJetStream, its answer late: not a refusal (open() resolves), then on JetStream', async () => {
    const server = await BrokerProcess.nats();
    servers.push(server);
    const { broker, events, opened } = await openWithApiHeld(server, { requireJetStream: true });
    await opened;
    assert.deepEqual(events.refusals, []);
    await events.available(true);
    assert.equal(broker.jetstream, true);
    assert.deepEqual(events.refusals, []);
  });

  it('close() while the JetStream API is asked: the connection closes at once (not after commandTimeoutMs), open() resolves', async () => {
    const server = await BrokerProcess.nats();
    servers.push(server);
    // (A deadline the test would not outlive: the connection must close because of close().)
    const { broker, events, heldLink, opened } = await openWithApiHeld(server, { commandTimeoutMs: 600_000 });
    const proxy = proxies.at(-1)!;
    await proxy.until(() => heldLink.clientText.includes('$JS.API.INFO') || undefined);
    await broker.close();
    await proxy.until(() => !proxy.links.has(heldLink) || undefined);
    await opened;
    assert.equal(broker.jetstream, false);
    await assert.rejects(broker.publish('t', Buffer.from('x'), false), {
      code: 'ERR_WS_BROKER_UNAVAILABLE',
      message: /the broker is closed/,
    });
    assert.deepEqual(events.refusals, []);
  });

  it('server without JetStream, its "no responders" late: not decided on the timeout; asked again, core NATS', async () => {
    const server = await BrokerProcess.nats({ jetstream: false });
    servers.push(server);
    const { broker, events, opened } = await openWithApiHeld(server);
    await opened;
    assert.deepEqual(events.availability, [false]);
    await events.available(true);
    assert.equal(broker.jetstream, false);
    assert.match((await broker.position('t')).epoch, /^core-/);
    assert.equal(await broker.history('t', { offset: 0, epoch: 'x' }), null);
  });
});

describe('NatsBroker: the server says there is no JetStream: core NATS, as documented', () => {
  it('a server without JetStream (no one answers the API, its INFO announces none): core NATS at once', async () => {
    const server = await BrokerProcess.nats({ jetstream: false });
    servers.push(server);
    const broker = new NatsBroker(server.url);
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    assert.deepEqual(events.availability, []);
    assert.equal(broker.jetstream, false);
    assert.match((await broker.position('t')).epoch, /^core-/);
  });

  it('an account without JetStream on a JetStream server (the API answers "not enabled for account"): core NATS', async () => {
    const server = await BrokerProcess.nats({
      config:
        'accounts { WITH: { jetstream: enabled, users: [ { user: js, password: js } ] }, ' +
        'WITHOUT: { users: [ { user: core, password: core } ] } }',
    });
    servers.push(server);
    const open = async (user: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> => {
      const broker = new NatsBroker(`nats://${user}:${user}@127.0.0.1:${server.port}`);
      brokers.push(broker);
      const events = new BrokerRecorder();
      await broker.open(events, history);
      return { broker, events };
    };
    const without = await open('core');
    assert.deepEqual(without.events.availability, []);
    assert.equal(without.broker.jetstream, false);
    assert.match((await without.broker.position('t')).epoch, /^core-/);
    // (The same server gives JetStream to the account that has it.)
    const withJs = await open('js');
    assert.equal(withJs.broker.jetstream, true);
  });
});
