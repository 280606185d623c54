/** The outside checks (test/pubsub/outside-support.ts) on three `serve --pubsub --broker redis://…` processes. */
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
console.log(`outside-redis seed ${seed} (SEED=${seed} to repeat)`);

describe('outside checks: three serve --pubsub processes on one Redis', () => {
  let redis: BrokerProcess;
  let servers: Server[] = [];
  const d: Deployment = { ports: [], opened: [] };
  before(async () => {
    redis = await BrokerProcess.redis();
    servers = await Promise.all(
      [0, 1, 2].map(() => startServer(['--pubsub', '--broker', redis.url, '--history', '1000'])),
    );
    d.ports = servers.map((s) => s.port);
  });
  after(async () => {
    for (const p of d.opened) p.close();
    await Promise.all(servers.map((s) => s.stop()));
    await redis.stop();
  });

  it('four concurrent publishers, six subscribers: every message once, in one order', () => orderEverywhere(d, seed));
  it('a subscriber dropped mid-stream recovers on another process while publishing goes on', () =>
    handoffWhilePublishing(d, seed));
  it('clients that subscribe and go at once leave every server up and serving', () => subscribeAndGo(d, servers));
  it('Redis restarted without its data: refusals while down, a new epoch announced, an old since not recovered', () =>
    brokerRestart(d, { kill: () => redis.kill(), start: () => redis.start(), keeps: false }));
  it('redis killed and restarted while three publishers publish: each publish refused or delivered, in order', () =>
    publishThroughRestart(d, { kill: () => redis.kill(), start: () => redis.start(), keeps: false }, seed));
});
