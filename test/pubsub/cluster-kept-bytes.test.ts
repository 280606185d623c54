/**
 * What the node:cluster primary's store keeps of a worker's publication: its bytes in memory of
 * their own. They come as base64 over IPC, and node decodes a string of fewer than 4096 characters
 * into a slice of its shared 8 KiB pool, whose every kept slice holds the whole pool: a worker
 * publishing a short message to each of many topics between longer ones to a topic whose history
 * drops them kept a pool in the primary for every three short ones. Measured after full collections (the primary's
 * `process.memoryUsage().arrayBuffers`: the pools a kept slice holds cannot be collected).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runClusterPrimary } from './pubsub-support.js';

const SHORT = 1000;

const script = (brokerUrl: string): string => `
import cluster from 'node:cluster';
import v8 from 'node:v8';
import vm from 'node:vm';
const { ClusterBroker } = await import(${JSON.stringify(brokerUrl)});
const history = { size: 10, ttlSeconds: 0 };
if (cluster.isPrimary) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  ClusterBroker.servePrimary(history);
  const w = cluster.fork();
  await new Promise((resolve) => w.on('message', (m) => m === 'published' && resolve()));
  gc();
  gc();
  console.log(JSON.stringify({ arrayBuffers: process.memoryUsage().arrayBuffers }));
  w.process.kill('SIGKILL');
  process.exit(0);
} else {
  process.on('disconnect', () => process.exit(0));
  const broker = new ClusterBroker();
  await broker.open({ onMessage() {}, onAvailability() {} }, history);
  // Each short message in its own topic (kept), each long one to 'long' (only its last 10 kept).
  for (let i = 0; i < ${SHORT}; i++) {
    await broker.publish('short-' + i, Buffer.from('hi'), false);
    await broker.publish('long', Buffer.alloc(3000, 0x61), false);
  }
  process.send('published');
}
`;

it(`the cluster primary keeps ${SHORT} short messages without the 8 KiB pools they were decoded in`, {
  timeout: 120_000,
}, async (t) => {
  const out = await runClusterPrimary(t, script(new URL('../../src/pubsub/cluster-broker.js', import.meta.url).href));
  const line = out.split('\n').find((l) => l.startsWith('{"arrayBuffers"'));
  assert.ok(line, out);
  const { arrayBuffers } = JSON.parse(line) as { arrayBuffers: number };
  // Kept: 1000 × 2 bytes and 10 × 3000; one pool per three short messages would be 2.7 MB.
  assert.ok(arrayBuffers < 1024 * 1024, `the primary holds ${arrayBuffers} bytes of ArrayBuffers`);
});
