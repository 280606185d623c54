/**
 * Real brokers for tests: `redis-server` and `nats-server` (Debian packages) on 127.0.0.1, on a
 * free port found by binding port 0, killed and restarted on the same port for outage tests; and
 * a TCP proxy to put in front of one, for tests that choose when a client's connections get through.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createClient } from 'redis';
import type { BrokerEvents, BrokerMessage } from '../../src/pubsub/broker.js';
import type { WebSocketError } from '../../src/errors.js';

/**
 * A free TCP port on 127.0.0.1 for a server a test starts (bound once by node, then released),
 * taken below the kernel's ephemeral range: a port from that range (what binding port 0 gives)
 * can be handed to any outgoing connection in the moment between its release and the server's
 * bind, which made a broker fail with "Address already in use" on a busy machine.
 */
export async function freePort(): Promise<number> {
  // (never the same port twice in one process: two handed out before either is bound)
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/).map(Number);
  const below = Number.isInteger(low) && low! > 20_000 ? low! : 32_768;
  for (let tries = 0; tries < 100; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
    if (!handedOut.has(port) && (await bindable(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The JetStream stream NatsBroker keeps `topic` in (with its default prefix), for tests that act on it as an operator would. */
export function natsStreamOf(topic: string): string {
  return `ws-stream_${createHash('sha256').update(topic).digest('hex').slice(0, 40)}`;
}

/** A broker server child process. */
export class BrokerProcess {
  #child: ChildProcess | undefined;
  #output = '';
  /** Arguments after the ones of its kind (`args` of `redis()`; `restart()` replaces them). */
  #extra: string[];

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly url: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly readyLine: string,
    private readonly dir: string | undefined,
    extra: string[] = [],
  ) {
    this.#extra = extra;
  }

  /**
   * Starts `redis-server` without persistence: a restart loses every key. With `start: false`, only
   * reserves its port (`start()` starts it), for tests of a client made while the broker is down.
   */
  static async redis(options: { start?: boolean; args?: string[] } = {}): Promise<BrokerProcess> {
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
      options.args,
    );
    if (options.start ?? true) await p.start();
    return p;
  }

  /**
   * Starts `nats-server`, with JetStream (file store in a temporary folder kept across restarts)
   * unless told not to; with `start: false`, only reserves its port, as `redis()` does. `config`:
   * the text of a configuration file to start it with (`max_payload: 1024`, say).
   */
  static async nats(options: { jetstream?: boolean; start?: boolean; config?: string } = {}): Promise<BrokerProcess> {
    const port = await freePort();
    const jetstream = options.jetstream ?? true;
    const dir = jetstream || options.config ? mkdtempSync(join(tmpdir(), 'ws-stream-nats-')) : undefined;
    const args = ['-a', '127.0.0.1', '-p', String(port), ...(jetstream && dir ? ['-js', '-sd', dir] : [])];
    if (options.config !== undefined && dir) {
      writeFileSync(join(dir, 'nats.conf'), options.config);
      args.push('-c', join(dir, 'nats.conf'));
    }
    const p = new BrokerProcess('nats', port, `nats://127.0.0.1:${port}`, 'nats-server', args, 'Server is ready', dir);
    if (options.start ?? true) await p.start();
    return p;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server (again, on the same port) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`${this.name} already running`);
    this.#output = '';
    const child = spawn(this.command, [...this.args, ...this.#extra], { stdio: ['ignore', 'pipe', 'pipe'] });
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

  /**
   * A nats-server started with `config`: replaces its configuration file with `config` (JetStream
   * kept on, in the same folder, when it was started with it) and reloads it (SIGHUP), waiting
   * until the server says it did.
   */
  async reload(config: string): Promise<void> {
    const child = this.#child;
    const file = this.args[this.args.indexOf('-c') + 1];
    if (!child || this.name !== 'nats' || !this.dir || !file)
      throw new Error('reload: a running nats-server with a config');
    const jetstream = this.args.includes('-js') ? `\njetstream { store_dir: ${JSON.stringify(this.dir)} }\n` : '';
    writeFileSync(file, config + jetstream);
    await new Promise<void>((resolve) => {
      let said = '';
      const onData = (chunk: Buffer): void => {
        said += chunk.toString();
        if (!said.includes('Reloaded server configuration')) return;
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.kill('SIGHUP');
    });
  }

  /**
   * Kills the server and starts it again on the same port, as an operator reconfiguring it would:
   * redis-server with `args` in place of those given to `redis()` (`['--requirepass', 'pw-2']`),
   * nats-server started with a config with `config` as its new one (JetStream as it was).
   */
  async restart(change: { args?: string[]; config?: string }): Promise<void> {
    await this.kill();
    if (change.args !== undefined) {
      if (this.name !== 'redis') throw new Error('restart: args are for redis-server');
      this.#extra = change.args;
    }
    if (change.config !== undefined) {
      const file = this.args[this.args.indexOf('-c') + 1];
      if (this.name !== 'nats' || !this.args.includes('-c') || !file)
        throw new Error('restart: a nats-server with a config');
      writeFileSync(file, change.config);
    }
    await this.start();
  }

  /** Empties a redis-server (FLUSHALL), as an operator would: every topic's next publication starts a new epoch. */
  async flushAll(): Promise<void> {
    if (this.name !== 'redis') throw new Error('flushAll: a redis-server');
    const admin = createClient({ url: this.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.sendCommand(['FLUSHALL']);
    } finally {
      await admin.close();
    }
  }

  /**
   * Writes a redis-server's data to its RDB file now (SAVE), as its periodic snapshots do: killed
   * later and started again in the same `--dir`, it comes back with this older state.
   */
  async snapshot(): Promise<void> {
    if (this.name !== 'redis') throw new Error('snapshot: a redis-server');
    const admin = createClient({ url: this.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.sendCommand(['SAVE']);
    } finally {
      await admin.close();
    }
  }

  /**
   * Copies the JetStream store of a nats-server that is not running (killed), as a backup or a disk
   * snapshot would: `rollBack()` puts it back.
   */
  saveStore(): void {
    const store = this.#store('saveStore');
    rmSync(`${store}.saved`, { recursive: true, force: true });
    cpSync(store, `${store}.saved`, { recursive: true });
  }

  /**
   * Puts back the JetStream store `saveStore()` copied, in a nats-server that is not running: started
   * again, its streams are as they were then (the same streams, fewer messages), as after a backup
   * restored or a machine crash that lost what the server had not synced to disk.
   */
  rollBack(): void {
    const store = this.#store('rollBack');
    rmSync(store, { recursive: true, force: true });
    cpSync(`${store}.saved`, store, { recursive: true });
  }

  /** The JetStream store folder of a nats-server that is not running. */
  #store(what: string): string {
    if (this.name !== 'nats' || !this.dir || !this.args.includes('-js'))
      throw new Error(`${what}: a JetStream nats-server`);
    if (this.#child) throw new Error(`${what}: kill the server first`);
    return join(this.dir, 'jetstream');
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

  /** What the broker told `onRefused` (ERR_WS_BROKER_REFUSED), in order. */
  readonly refusals: WebSocketError[] = [];

  onRefused(err: WebSocketError): void {
    this.refusals.push(err);
    this.#wake();
  }

  /** Waits until the broker told `count` refusals, and returns them. */
  async refused(count = 1): Promise<WebSocketError[]> {
    await this.until(() => this.refusals.length >= count);
    return this.refusals;
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

/** An operation's outcome, recorded as it settles (so a test can ask whether it has, with no wait). */
export interface Outcome {
  settled: boolean;
  error?: unknown;
}

/** Follows a promise: its outcome, filled in when it settles. */
export function follow(p: Promise<unknown>): Outcome {
  const outcome: Outcome = { settled: false };
  p.then(
    () => Object.assign(outcome, { settled: true }),
    (error: unknown) => Object.assign(outcome, { settled: true, error }),
  );
  return outcome;
}

/** Calls `f` until it returns true, letting other work run between calls (for conditions no event announces). */
export async function poll(f: () => Promise<boolean>): Promise<void> {
  while (!(await f())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * A TCP proxy in front of a broker server, for tests that choose when each of a client's
 * connections reaches the server. While `holding`, a new connection is accepted and connected on,
 * but no byte passes either way until the test calls its link's `release()`. Waits re-check on
 * every event of every link (no sleeps).
 */
export class TcpProxy {
  /** The connections open now. */
  readonly links = new Set<ProxyLink>();
  /** Whether new connections are held (bytes kept) until released. */
  holding = false;
  #waiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free port of 127.0.0.1 and forwards each connection to `targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.#accept(client, targetPort));
    return proxy;
  }

  /** `scheme://127.0.0.1:<port>` of the proxy. */
  url(scheme: string): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  /** Waits until `find` returns something (not undefined), re-checking on each event, and returns it. */
  until<T>(find: () => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const found = find();
        if (found !== undefined) resolve(found);
        else this.#waiters.push(check);
      };
      check();
    });
  }

  /** Waits for an open link whose client has written all of `texts` and none of `not`. */
  link(texts: string[], not: string[] = []): Promise<ProxyLink> {
    return this.until(() =>
      [...this.links].find(
        (l) => texts.every((t) => l.clientText.includes(t)) && !not.some((t) => l.clientText.includes(t)),
      ),
    );
  }

  /** Cuts the broker off: destroys every connection and holds new ones (no byte passes) until `restore()`. */
  cut(): void {
    this.holding = true;
    for (const link of this.links) link.destroy();
  }

  /** Lets held and new connections through again. */
  restore(): void {
    this.holding = false;
    for (const link of this.links) link.release();
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    for (const link of this.links) link.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #accept(client: Socket, targetPort: number): void {
    const link = new ProxyLink(client, connect(targetPort, '127.0.0.1'), this.holding, () => this.#wake());
    this.links.add(link);
    client.once('close', () => {
      this.links.delete(link);
      this.#wake();
    });
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** One connection through a `TcpProxy`. */
export class ProxyLink {
  /** Everything the client wrote (latin1), forwarded or held. */
  clientText = '';
  /** Everything the server wrote that was forwarded to the client (latin1). */
  serverText = '';
  /** Bytes kept while held, each way (null: passing). */
  #toServer: Buffer[] | null;
  #toClient: Buffer[] | null;
  /** Holds the client's bytes from its first write that contains this, until `release()`. */
  #holdFrom: string | null = null;
  /** Forwards the server's held bytes a piece at a time (`trickleToClient`). */
  #trickle: NodeJS.Timeout | undefined;
  /** Told each chunk the client writes (`watchClient`). */
  #watchers: ((chunk: Buffer) => void)[] = [];

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    holding: boolean,
    private readonly changed: () => void,
  ) {
    this.#toServer = holding ? [] : null;
    this.#toClient = holding ? [] : null;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      this.clientText += text;
      for (const watch of this.#watchers) watch(chunk);
      const at = this.#holdFrom === null ? -1 : text.indexOf(this.#holdFrom);
      let rest = chunk;
      if (at >= 0) {
        this.#holdFrom = null;
        if (this.#toServer === null) {
          // What comes before it in the same write (other commands) passes.
          if (at > 0) this.#pass(true, chunk.subarray(0, at));
          rest = chunk.subarray(at);
          this.#toServer = [];
        }
      }
      this.#pass(true, rest);
    });
    upstream.on('data', (chunk: Buffer) => this.#pass(false, chunk));
    for (const s of [client, upstream]) {
      s.on('error', () => this.destroy());
      s.on('close', () => this.destroy());
    }
  }

  /**
   * Calls `watch` with each chunk the client writes from now on (forwarded or held), before the
   * proxy's waits re-check: for tests that scan tens of MiB, which `clientText` would copy whole
   * (a search flattens the string) at every chunk.
   */
  watchClient(watch: (chunk: Buffer) => void): void {
    this.#watchers.push(watch);
  }

  /** From `text` in the client's bytes on, they wait for `release()` (the server's still pass). */
  holdClientFrom(text: string): void {
    this.#holdFrom = text;
  }

  /** Stalls the connection: from now on no byte passes either way (both sockets stay open) until `release()`. */
  stall(): void {
    this.#toServer ??= [];
    this.#toClient ??= [];
  }

  /**
   * Stops reading the client's bytes until `release()`: unlike `stall()`, which takes and keeps
   * them, they back up in the kernel's buffers and then in the client's socket, which stops draining.
   */
  stopReadingClient(): void {
    this.client.pause();
  }

  /**
   * A link that is slow but moves: from now on the server's bytes reach the client `bytes` at a
   * time, one piece every `everyMs`, until `release()`.
   */
  trickleToClient(bytes: number, everyMs: number): void {
    this.#toClient ??= [];
    clearInterval(this.#trickle);
    this.#trickle = setInterval(() => {
      const held = this.#toClient;
      if (held === null || held.length === 0) return;
      const all = Buffer.concat(held);
      held.splice(0, held.length, all.subarray(bytes));
      if (held[0]!.length === 0) held.pop();
      this.client.write(all.subarray(0, bytes));
      this.serverText += all.subarray(0, bytes).toString('latin1');
      this.changed();
    }, everyMs);
  }

  /** Bytes of the server's held for the client (by `stall()` or `trickleToClient()`). */
  get heldToClient(): number {
    return (this.#toClient ?? []).reduce((n, chunk) => n + chunk.length, 0);
  }

  /** Forwards what was held, and from now on everything as it comes. */
  release(): void {
    clearInterval(this.#trickle);
    this.client.resume();
    const [toServer, toClient] = [this.#toServer ?? [], this.#toClient ?? []];
    this.#toServer = null;
    this.#toClient = null;
    for (const chunk of toServer) this.#pass(true, chunk);
    for (const chunk of toClient) this.#pass(false, chunk);
  }

  /**
   * Answers what the client's bytes held now ask (one command) with `reply` in the server's stead,
   * and drops them (the server never sees them); from now on everything passes.
   */
  answerHeld(reply: string): void {
    this.#toServer = null;
    this.client.write(reply, 'latin1');
    this.serverText += reply;
    this.changed();
  }

  /** Drops both sides at once. */
  destroy(): void {
    clearInterval(this.#trickle);
    this.client.destroy();
    this.upstream.destroy();
  }

  #pass(toServer: boolean, chunk: Buffer): void {
    const held = toServer ? this.#toServer : this.#toClient;
    if (held) {
      held.push(chunk);
    } else if (toServer) {
      this.upstream.write(chunk);
    } else {
      this.client.write(chunk);
      this.serverText += chunk.toString('latin1');
    }
    this.changed();
  }
}

/**
 * For the enclosing suite: a broker server started by `start` before its tests, with a `TcpProxy`
 * in front; after them, the brokers in `closeFirst` are closed, then the proxy and the server.
 */
export function brokerBehindProxy(
  start: () => Promise<BrokerProcess>,
  closeFirst: { close(): Promise<void> }[] = [],
): { server: BrokerProcess; proxy: TcpProxy } {
  const env = {} as { server: BrokerProcess; proxy: TcpProxy };
  before(async () => {
    env.server = await start();
    env.proxy = await TcpProxy.start(env.server.port);
  });
  after(async () => {
    for (const b of closeFirst) await b.close();
    await env.proxy.close();
    await env.server.stop();
  });
  return env;
}

/** Open descriptors of this process. */
export function descriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * A port on 127.0.0.1 whose listener never accepts: a child process that listens with a backlog of
 * 1 and then blocks its event loop. Once two connections have been made to it (`filling`), its
 * queue is full and Linux drops every later SYN: a connect to it stays pending. (node takes a
 * backlog of 0 for its default, 511.)
 */
export async function portThatTakesNothing(): Promise<{ port: number; stop(): Promise<void> }> {
  const listener = spawn(
    process.execPath,
    [
      '-e',
      `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {
        console.log(this.address().port);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(listener.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  const filling = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  for (const socket of filling) socket.on('error', () => {});
  await Promise.all(filling.map((socket) => once(socket, 'connect')));
  return {
    port,
    stop: async () => {
      for (const socket of filling) socket.destroy();
      listener.kill('SIGKILL');
      if (listener.exitCode === null && listener.signalCode === null) await once(listener, 'exit');
    },
  };
}
