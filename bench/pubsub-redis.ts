/**
 * Pub/sub across processes through Redis: deliveries per second and publish → deliver latency.
 *
 *   node dist/bench/pubsub-redis.js [--servers 3] [--clients 300] [--rate 200] [--seconds 10]
 *                                   [--size 256] [--redis redis://H:P]
 *
 * Starts redis-server on a free port (unless --redis is given) and `--servers` processes, each an
 * HTTP server whose WebSocket connections are subscribed to one topic through `PubSub` on a
 * `RedisBroker`. `--clients` ws-stream clients are spread over them. One more client, on the first
 * server, publishes `--rate` messages per second of `--size` bytes for `--seconds`; each message
 * carries its send time (this process's clock, which every client shares), so every delivery
 * gives a publish → deliver latency through server A, Redis, and every server's fan-out.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { connect, WebSocketStream } from '../src/index.js';
import { PubSub } from '../src/pubsub/pubsub.js';
import { RedisBroker } from '../src/pubsub/redis-broker.js';
import { BrokerProcess } from '../test/support/brokers.js';

const topic = 'bench';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A server process: every connection subscribes to the topic; on /pub, every message is published. */
async function serve(redisUrl: string): Promise<void> {
  const pubsub = new PubSub({ broker: new RedisBroker(redisUrl), history: { size: 1000, ttlSeconds: 60 } });
  const server = http.createServer();
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    const ws = new WebSocketStream(socket);
    ws.accept(req, { head })
      .then(async () => {
        if (req.url === '/pub') {
          for await (const m of ws) pubsub.publish(topic, m.data, { binary: true }).catch(() => {});
        } else {
          await pubsub.subscribe(ws, topic);
          await ws.write('subscribed');
        }
      })
      .catch(() => {});
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const servers = arg('servers', 3);
  const clients = arg('clients', 300);
  const rate = arg('rate', 200);
  const seconds = arg('seconds', 10);
  const size = Math.max(8, arg('size', 256));
  const given = process.argv.indexOf('--redis');
  const redis = given > 0 ? undefined : await BrokerProcess.redis();
  const redisUrl = given > 0 ? process.argv[given + 1]! : redis!.url;
  const children: ChildProcess[] = [];
  try {
    const self = fileURLToPath(import.meta.url);
    const ports = await Promise.all(
      Array.from({ length: servers }, () => {
        const child = fork(self, ['--serve', redisUrl], { stdio: 'inherit' });
        children.push(child);
        return new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
      }),
    );

    const total = rate * seconds;
    const latencies = new Float64Array(total * clients);
    let delivered = 0;
    let lastDelivery = 0;
    let allDelivered: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      allDelivered = resolve;
    });
    const subscribers: WebSocketStream[] = [];
    await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        const ws = await connect(`ws://127.0.0.1:${ports[i % servers]}/`);
        subscribers.push(ws);
        await ws.read(); // 'subscribed'
        void (async () => {
          for await (const m of ws) {
            const now = performance.now();
            latencies[delivered++] = now - m.data.readDoubleLE(0);
            lastDelivery = now;
            if (delivered === latencies.length) allDelivered();
          }
        })().catch(() => {});
      }),
    );

    const publisher = await connect(`ws://127.0.0.1:${ports[0]}/pub`);
    const payload = Buffer.alloc(size, 0x61);
    const start = performance.now();
    for (let sent = 0; sent < total; ) {
      // Catch up with the schedule: as many messages as the elapsed time allows.
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      for (; sent < due; sent++) {
        payload.writeDoubleLE(performance.now(), 0);
        publisher.write(Buffer.from(payload), { binary: true }).catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    const elapsed = (lastDelivery - start) / 1000;
    const sorted = latencies.subarray(0, delivered).sort();
    console.log(
      `${servers} servers, ${clients} clients, ${rate} msg/s of ${size} B for ${seconds} s through Redis (${redisUrl})`,
    );
    console.log(
      `delivered ${delivered} of ${total * clients} in ${elapsed.toFixed(2)} s: ${Math.round(delivered / elapsed)} deliveries/s`,
    );
    console.log(
      `publish → deliver latency: p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted[sorted.length - 1]?.toFixed(2)} ms`,
    );
    for (const ws of [...subscribers, publisher]) ws.nextLayer.destroy();
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await redis?.stop();
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3]!);
else await main();
