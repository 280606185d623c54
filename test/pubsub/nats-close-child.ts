/**
 * Run by nats-close.test.ts as its own process: a core-NATS broker (through a proxy) whose
 * connection stalls with a publish pending, then closed. Prints how the publish ended, then lets
 * the process end by itself: nothing of the broker may keep it alive (the deadline is 10 minutes).
 * Argument: the nats-server's port.
 */
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { BrokerRecorder, TcpProxy } from '../support/brokers.js';

const proxy = await TcpProxy.start(Number(process.argv[2]));
const broker = new NatsBroker({ url: proxy.url('nats'), commandTimeoutMs: 600_000 });
await broker.open(new BrokerRecorder(), { size: 100, ttlSeconds: 60 });
await broker.subscribe('t');
for (const link of proxy.links) link.stall();
const publish = broker.publish('t', Buffer.from('pending'), false).then(
  () => 'published',
  (err: { code?: string }) => `rejected ${err.code}`,
);
await broker.close();
await proxy.close();
console.log(await publish);
