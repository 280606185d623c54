/**
 * The heap a NatsBroker (JetStream) keeps per topic it touched once and no longer uses: a process
 * whose clients use many short-lived topics (chat rooms by id, per-user topics). After `npx tsc -p .`:
 *
 *   node bench/tools/nats-topics-heap.mjs [TOPICS] [publish|subscribe] [BROKER OPTIONS JSON]
 *
 * Starts a nats-server (JetStream, file store in a temporary folder), opens a broker on it (memory
 * streams) and, for each of 2 × TOPICS (2500) distinct topics, publishes one message (`publish`) or
 * subscribes, publishes one and unsubscribes (`subscribe`), 20 topics at a time. Prints the JS heap
 * used after a full GC before, after the first TOPICS and after the second, and the heap the second
 * TOPICS added per topic (the first also compiles the code they run). BROKER OPTIONS JSON is merged
 * into the broker's options (`{"maxIdleTopics":100}`).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
// (WS_STREAM_DIST: another build's dist/, to compare.)
const W = process.env.WS_STREAM_DIST ?? fileURLToPath(new URL('../../dist', import.meta.url));
const { BrokerProcess } = await import(`${W}/test/support/brokers.js`);
const { NatsBroker } = await import(`${W}/src/pubsub/index.js`);
const [topics = '2500', mode = 'publish', extra = '{}'] = process.argv.slice(2);
const N = Number(topics);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const heap = async () => {
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  return process.memoryUsage().heapUsed;
};

const server = await BrokerProcess.nats();
const broker = new NatsBroker({ url: server.url, storage: 'memory', commandTimeoutMs: 30_000, ...JSON.parse(extra) });
try {
  // (Events kept nowhere: a recorder would hold every message delivered.)
  await broker.open({ onMessage() {}, onAvailability() {} }, { size: 10, ttlSeconds: 0, bytes: 4096 });
  // The connection's own state, made once.
  await broker.publish('warm-up', Buffer.from('w'), false);
  const touch = async (topic) => {
    if (mode === 'subscribe') await broker.subscribe(topic);
    await broker.publish(topic, Buffer.from('m'), false);
    if (mode === 'subscribe') await broker.unsubscribe(topic);
  };
  const touchAll = async (from) => {
    for (let i = from; i < from + N; i += 20) {
      const batch = [];
      for (let j = i; j < Math.min(from + N, i + 20); j++) batch.push(touch(`room-${j}`));
      await Promise.all(batch);
    }
  };
  const before = await heap();
  await touchAll(0);
  const first = await heap();
  // (A second round of as many new topics, the code compiled by now: what stays per topic.)
  await touchAll(N);
  const second = await heap();
  // (HEAP_SNAPSHOT=FILE: a snapshot after, for bench/tools/heap-classes.ts.)
  if (process.env.HEAP_SNAPSHOT) v8.writeHeapSnapshot(process.env.HEAP_SNAPSHOT);
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  console.log(
    `${mode}, ${N} + ${N} topics: heap ${mb(before)} before, ${mb(first)} after ${N}, ${mb(second)} after ${2 * N}; ` +
      `${Math.round((second - first) / N)} bytes per topic of the second ${N}`,
  );
} finally {
  await broker.close();
  await server.stop();
}
