/** The outside checks (test/pubsub/outside-support.ts) on three `serve --pubsub --broker nats://…` processes. */
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import {
  brokerRestart,
  type Deployment,
  handoffWhilePublishing,
  orderEverywhere,
  publishThroughRestart,
  type Server,
  subscribeAndGo,
} from './outside-support.js';

const seed = Number(process.env.SEED ?? Date.now() % 1e9);
console.log(`outside-nats seed ${seed} (SEED=${seed} to repeat)`);

describe('outside checks: three serve --pubsub processes on one NATS (JetStream, file storage)', () => {
  let nats: BrokerProcess;
  let servers: Server[] = [];
  const d: Deployment = { ports: [], opened: [] };
  before(async () => {
    nats = await BrokerProcess.nats();
    servers = await Promise.all(
      [0, 1, 2].map(() => startServer(['--pubsub', '--broker', nats.url, '--history', '1000'])),
    );
    d.ports = servers.map((s) => s.port);
  });
  after(async () => {
    for (const p of d.opened) p.close();
    await Promise.all(servers.map((s) => s.stop()));
    await nats.stop();
  });

  it('four concurrent publishers, six subscribers: every message once, in one order', () => orderEverywhere(d, seed));
  it('a subscriber dropped mid-stream recovers on another process while publishing goes on', () =>
    handoffWhilePublishing(d, seed));
  it('clients that subscribe and go at once leave every server up and serving', () => subscribeAndGo(d, servers));
  it('NATS restarted with its streams: refusals while down, the same epoch goes on, an old since recovered exactly', () =>
    brokerRestart(d, { kill: () => nats.kill(), start: () => nats.start(), keeps: true }));
  it('nats killed and restarted while three publishers publish: each publish refused or delivered, in order', () =>
    publishThroughRestart(d, { kill: () => nats.kill(), start: () => nats.start(), keeps: true }, seed));
});
