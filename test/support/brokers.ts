/**
 * Real brokers for tests: `redis-server` and `nats-server` (Debian packages) on 127.0.0.1, on a
 * free port found by binding port 0, killed and restarted on the same port for outage tests.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerEvents, BrokerMessage } from '../../src/pubsub/broker.js';
import { startServer } from '../conformance/raw-client.js';
import { JsonClient } from '../pubsub/pubsub-support.js';

/** A free TCP port on 127.0.0.1 (bound once by node, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A broker server child process. */
export class BrokerProcess {
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly url: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly readyLine: string,
    private readonly dir: string | undefined,
  ) {}

  /** Starts `redis-server` without persistence: a restart loses every key. */
  static async redis(): Promise<BrokerProcess> {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const p = new BrokerProcess(
      'redis',
      port,
      `redis://127.0.0.1:${port}`,
      'redis-server',
      args,
      'Ready to accept connections',
      undefined,
    );
    await p.start();
    return p;
  }

  /** Starts `nats-server`, with JetStream (file store in a temporary folder kept across restarts) unless told not to. */
  static async nats(options: { jetstream?: boolean } = {}): Promise<BrokerProcess> {
    const port = await freePort();
    const jetstream = options.jetstream ?? true;
    const dir = jetstream ? mkdtempSync(join(tmpdir(), 'ws-stream-nats-')) : undefined;
    const args = ['-a', '127.0.0.1', '-p', String(port), ...(dir ? ['-js', '-sd', dir] : [])];
    const p = new BrokerProcess('nats', port, `nats://127.0.0.1:${port}`, 'nats-server', args, 'Server is ready', dir);
    await p.start();
    return p;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server (again, on the same port) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`${this.name} already running`);
    this.#output = '';
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        this.#output += chunk.toString();
        if (this.#output.includes(this.readyLine)) {
          child.stdout!.off('data', onData);
          child.stderr!.off('data', onData);
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => {
        this.#child = undefined;
        reject(new Error(`${this.name} exited (${code}) before it was ready:\n${this.#output}`));
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', reject);
    });
    // Keep draining the pipes so the server never blocks on a full one.
    child.stdout!.resume();
    child.stderr!.resume();
  }

  /** Kills the server at once (SIGKILL: no goodbye to the clients) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills the server and removes its files. */
  async stop(): Promise<void> {
    await this.kill();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a broker reported to its `BrokerEvents`, with waits on it (no sleeps: each event re-checks). */
export class BrokerRecorder implements BrokerEvents {
  readonly messages: BrokerMessage[] = [];
  readonly availability: boolean[] = [];
  #waiters: (() => void)[] = [];

  onMessage(message: BrokerMessage): void {
    this.messages.push(message);
    this.#wake();
  }

  onAvailability(available: boolean): void {
    this.availability.push(available);
    this.#wake();
  }

  /** Messages of one topic, in the order they arrived. */
  of(topic: string): BrokerMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Waits until `topic` has at least `count` messages, and returns them. */
  async received(topic: string, count: number): Promise<BrokerMessage[]> {
    await this.until(() => this.of(topic).length >= count);
    return this.of(topic);
  }

  /** Waits until the last availability report is `available`. */
  async available(available: boolean): Promise<void> {
    await this.until(() => this.availability.at(-1) === available);
  }

  /** Waits until `cond` holds, re-checking on each event (bounded by the runner's timeout). */
  until(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (cond()) resolve();
        else this.#waiters.push(check);
      };
      check();
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** Calls `f` until it returns true, letting other work run between calls (for conditions no event announces). */
export async function poll(f: () => Promise<boolean>): Promise<void> {
  while (!(await f())) await new Promise((resolve) => setTimeout(resolve, 20));
}

// ------------------------------------------------------------------ scale-out scenarios
// Shared by test/pubsub/scale-redis.test.ts and scale-nats.test.ts: `serve --pubsub` child
// processes on one broker, and clients speaking its JSON protocol.

type Client = JsonClient;
type Server = Awaited<ReturnType<typeof startServer>>;

/** Starts `count` `ws-stream serve --pubsub --broker <url>` processes. */
export async function startPubSubServers(count: number, brokerUrl: string): Promise<Server[]> {
  return Promise.all(
    Array.from({ length: count }, () => startServer(['--pubsub', '--broker', brokerUrl, '--history', '1000'])),
  );
}

/** Subscribes `c` to `topic` (optionally `since`) and returns the `subscribed` reply. */
export async function subscribeClient(
  c: Client,
  topic: string,
  since?: { offset: number; epoch: string },
): Promise<{ offset: number; epoch: string; recovered?: boolean }> {
  c.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
  const r = await c.next('subscribed');
  assert.equal(r.op, 'subscribed', JSON.stringify(r));
  assert.equal(r.topic, topic);
  return r;
}

/** Reads `count` messages of `topic` from `c`: offsets follow `after` one by one; returns their data. */
export async function readMessages(c: Client, topic: string, after: number, count: number): Promise<unknown[]> {
  const data: unknown[] = [];
  for (let i = 1; i <= count; i++) {
    const m = await c.next(`message ${i} of ${count}`);
    assert.equal(m.op, 'message', JSON.stringify(m));
    assert.equal(m.topic, topic);
    assert.equal(m.offset, after + i, 'offsets one by one: no gap, no duplicate');
    data.push(m.data);
  }
  return data;
}

/**
 * Three processes, 30 clients spread over them, three publishers (one per process) sending 40
 * messages each at once: every client gets all 120 once, in one order (each publisher's in the
 * order it sent), and then the 121st, a last message, next.
 */
export async function everyClientGetsEverything(servers: Server[], cleanup: Client[]): Promise<void> {
  const topic = 'scale';
  const clients: Client[] = [];
  for (let i = 0; i < 30; i++) clients.push(await JsonClient.connect(servers[i % servers.length]!.port));
  cleanup.push(...clients);
  const starts = await Promise.all(clients.map((c) => subscribeClient(c, topic)));
  const publishers = await Promise.all(servers.map((s) => JsonClient.connect(s.port)));
  cleanup.push(...publishers);
  const perPublisher = 40;
  publishers.forEach((p, from) => {
    for (let i = 0; i < perPublisher; i++) p.send({ op: 'publish', topic, data: { from, i } });
  });
  const total = perPublisher * publishers.length;
  const seen = await Promise.all(clients.map((c, k) => readMessages(c, topic, starts[k]!.offset, total)));
  for (const got of seen) assert.deepEqual(got, seen[0], 'every client, on every process, in one order');
  for (let from = 0; from < publishers.length; from++) {
    assert.deepEqual(
      seen[0]!.filter((d) => (d as { from: number }).from === from).map((d) => (d as { i: number }).i),
      Array.from({ length: perPublisher }, (_, i) => i),
      "each publisher's messages in the order it sent them",
    );
  }
  publishers[0]!.send({ op: 'publish', topic, data: 'last' });
  const lasts = await Promise.all(clients.map((c, k) => readMessages(c, topic, starts[k]!.offset + total, 1)));
  for (const last of lasts) assert.deepEqual(last, ['last'], 'nothing twice: the last message comes next');
}

/**
 * A client on process 0 reads five messages and goes; five more are published; it comes back on
 * process 1 with `since`: it gets exactly the five it missed, then live messages, nothing twice.
 */
export async function reconnectElsewhereRecovers(servers: Server[], cleanup: Client[]): Promise<void> {
  const topic = 'handoff';
  const publisher = await JsonClient.connect(servers[2 % servers.length]!.port);
  const first = await JsonClient.connect(servers[0]!.port);
  cleanup.push(publisher, first);
  // The publisher subscribes too: reading its own messages back tells it the broker took them.
  const pubAt = await subscribeClient(publisher, topic);
  const at = await subscribeClient(first, topic);
  for (let i = 1; i <= 5; i++) publisher.send({ op: 'publish', topic, data: i });
  assert.deepEqual(await readMessages(first, topic, at.offset, 5), [1, 2, 3, 4, 5]);
  first.close();
  for (let i = 6; i <= 10; i++) publisher.send({ op: 'publish', topic, data: i });
  assert.deepEqual(await readMessages(publisher, topic, pubAt.offset, 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const again = await JsonClient.connect(servers[1]!.port);
  cleanup.push(again);
  const back = await subscribeClient(again, topic, { offset: at.offset + 5, epoch: at.epoch });
  assert.equal(back.recovered, true);
  assert.deepEqual(await readMessages(again, topic, at.offset + 5, 5), [6, 7, 8, 9, 10]);
  publisher.send({ op: 'publish', topic, data: 11 });
  assert.deepEqual(await readMessages(again, topic, at.offset + 10, 1), [11]);
  // Another epoch cannot be recovered: said so, and live messages follow.
  const stranger = await JsonClient.connect(servers[0]!.port);
  cleanup.push(stranger);
  const unknown = await subscribeClient(stranger, topic, { offset: 3, epoch: `not-${at.epoch}` });
  assert.equal(unknown.recovered, false);
}
