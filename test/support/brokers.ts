/**
 * Real brokers for tests: `redis-server` and `nats-server` (Debian packages) on 127.0.0.1, on a
 * free port found by binding port 0, killed and restarted on the same port for outage tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerEvents, BrokerMessage } from '../../src/pubsub/broker.js';

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
