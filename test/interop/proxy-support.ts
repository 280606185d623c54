/**
 * Shared by test/interop/proxy-*: real proxies (nginx, HAProxy, tinyproxy; Debian packages) started
 * as child processes on free loopback ports with a configuration generated in a temporary folder,
 * and the servers and clients put on either side of them, each recording what it saw.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Agent } from 'node:http';
import https from 'node:https';
import WebSocket from 'ws';
import { type CloseInfo, type ConnectOptions, connect, type WebSocketStream } from '../../src/index.js';
import CompatWebSocket, { WebSocketServer as CompatWebSocketServer } from '../../src/compat/index.js';
import { MAIN } from '../cli/cli-support.js';
import { random } from '../support/random.js';

export const CERT_FILE = fileURLToPath(new URL('../../../test/fixtures/cert.pem', import.meta.url));
export const KEY_FILE = fileURLToPath(new URL('../../../test/fixtures/key.pem', import.meta.url));
/** The fixture's certificate (localhost, 127.0.0.1): the `ca` clients trust. */
export const CA = readFileSync(CERT_FILE);

/**
 * `count` distinct free TCP ports on 127.0.0.1: each bound by node until all are found (so none is
 * handed out twice), then released for a proxy to bind.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  return ports;
}

/** Resolves once something accepts a TCP connection on 127.0.0.1:`port` (each refusal retries at once). */
async function untilAccepting(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`exited before listening:\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
  }
}

/** A proxy child process: its ports, what it printed, its log file. */
export class ProxyProcess {
  #output = '';

  private constructor(
    readonly name: string,
    readonly dir: string,
    private readonly child: ChildProcess,
    private readonly logFile: string | undefined,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
  }

  /** What it printed, and its log file. */
  output(): string {
    let log = '';
    try {
      if (this.logFile) log = readFileSync(this.logFile, 'utf8');
    } catch {
      /* not written yet */
    }
    return `${this.#output}${log}`;
  }

  /**
   * Writes `config(dir)` to `dir/file`, runs `command args(dir, file)`, and waits until each of
   * `ports` accepts connections.
   */
  static async start(
    name: string,
    command: string,
    args: (dir: string, file: string) => string[],
    config: (dir: string) => string,
    ports: number[],
    logFile?: string,
  ): Promise<ProxyProcess> {
    const dir = mkdtempSync(join(tmpdir(), `ws-stream-${name}-`));
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, config(dir));
    const child = spawn(command, args(dir, file), { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ProxyProcess(name, dir, child, logFile && join(dir, logFile));
    child.on('error', () => {});
    try {
      for (const port of ports) await untilAccepting(port, child, () => p.output());
    } catch (err) {
      await p.stop();
      throw new Error(`${name}: ${(err as Error).message}`);
    }
    return p;
  }

  /**
   * Stops it with SIGTERM (nginx's fast shutdown: the master ends its workers before it exits; a
   * SIGKILL would leave them running), waits for its exit, removes its folder.
   */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = once(c, 'exit');
      c.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One nginx `server`: a listener proxying to an upstream on 127.0.0.1. */
export interface NginxSite {
  port: number;
  upstream: number;
  tls?: boolean;
  /** Sends `Connection: $connection_upgrade` to the upstream (default); false: the common mistake of leaving it out. */
  connectionHeader?: boolean;
  /** `proxy_read_timeout` (default nginx's 60s). */
  readTimeout?: string;
  /** `proxy_http_version` (default 1.1; nginx's own default, when the line is left out, is 1.0). */
  httpVersion?: '1.0' | '1.1';
}

/** nginx (`daemon off`, everything in its temporary folder) with one server block per site. */
export function startNginx(sites: NginxSite[]): Promise<ProxyProcess> {
  const config = (dir: string): string => `
worker_processes 1;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
${sites
  .map(
    (s) => `  server {
    listen 127.0.0.1:${s.port}${s.tls ? ' ssl' : ''};
${s.tls ? `    ssl_certificate ${CERT_FILE};\n    ssl_certificate_key ${KEY_FILE};\n` : ''}    location / {
      proxy_pass http://127.0.0.1:${s.upstream};
      proxy_http_version ${s.httpVersion ?? '1.1'};
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
${s.connectionHeader === false ? '' : '      proxy_set_header Connection $connection_upgrade;\n'}${s.readTimeout ? `      proxy_read_timeout ${s.readTimeout};\n` : ''}    }
  }`,
  )
  .join('\n')}
}
`;
  return ProxyProcess.start(
    'nginx',
    'nginx',
    (dir, file) => ['-p', dir, '-c', file, '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${dir}/nginx.pid;`],
    config,
    sites.map((s) => s.port),
    'error.log',
  );
}

/** One HAProxy frontend (http mode) with its backend. */
export interface HaproxySite {
  port: number;
  upstream: number;
  tls?: boolean;
  /** With `tls`: offers HTTP/2 by ALPN (`alpn h2,http/1.1`), where HAProxy takes RFC 8441 extended CONNECT. */
  h2?: boolean;
}

/** HAProxy in the foreground (`-db`), http mode, TLS terminated with the fixture's certificate. */
export function startHaproxy(sites: HaproxySite[]): Promise<ProxyProcess> {
  const config = (dir: string): string => {
    writeFileSync(join(dir, 'site.pem'), `${readFileSync(CERT_FILE, 'utf8')}\n${readFileSync(KEY_FILE, 'utf8')}`);
    return `
global
  maxconn 256
defaults
  mode http
  timeout connect 10s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
${sites
  .map(
    (s, i) => `frontend f${i}
  bind 127.0.0.1:${s.port}${s.tls ? ` ssl crt ${dir}/site.pem${s.h2 ? ' alpn h2,http/1.1' : ''}` : ''}
  default_backend b${i}
backend b${i}
  server s${i} 127.0.0.1:${s.upstream}
`,
  )
  .join('')}`;
  };
  return ProxyProcess.start(
    'haproxy',
    'haproxy',
    (_dir, file) => ['-db', '-f', file],
    config,
    sites.map((s) => s.port),
  );
}

/**
 * tinyproxy in the foreground (`-d`): an HTTP forward proxy that tunnels CONNECT to any port of
 * 127.0.0.1, or with `connectPorts` only to those (others are answered 403).
 */
export async function startTinyproxy(
  options: { connectPorts?: number[] } = {},
): Promise<ProxyProcess & { port: number }> {
  const [port] = await freePorts(1);
  const config = (dir: string): string => `
Port ${port}
Listen 127.0.0.1
Timeout 600
MaxClients 64
Allow 127.0.0.1
LogFile "${dir}/tinyproxy.log"
LogLevel Info
PidFile "${dir}/tinyproxy.pid"
DisableViaHeader Yes
${(options.connectPorts ?? []).map((p) => `ConnectPort ${p}\n`).join('')}`;
  const p = await ProxyProcess.start(
    'tinyproxy',
    'tinyproxy',
    (_dir, file) => ['-d', '-c', file],
    config,
    [port],
    'tinyproxy.log',
  );
  return Object.assign(p, { port });
}

/** `ws-stream serve --host 127.0.0.1 --port 0 ARGS` as a child process; its output lines kept. */
export class ServeProcess {
  out = '';
  err = '';
  #waiters: (() => void)[] = [];

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {}

  static async start(args: string[]): Promise<ServeProcess> {
    const proc = spawn(process.execPath, [MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stderr!.setEncoding('utf8');
    let started!: (port: number) => void;
    let failed!: (err: Error) => void;
    const port = new Promise<number>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    const early = (d: string): void => {
      out += d;
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) started(Number(m[1]));
    };
    proc.stdout!.on('data', early);
    proc.once('exit', (code) => failed(new Error(`ws-stream serve exited (${code}): ${out}`)));
    const s = new ServeProcess(proc, await port);
    proc.stdout!.off('data', early);
    s.out = out;
    proc.stdout!.on('data', (d: string) => {
      s.out += d;
      s.#wake();
    });
    proc.stderr!.on('data', (d: string) => {
      s.err += d;
      s.#wake();
    });
    return s;
  }

  /** Waits until stdout + stderr match `re` at least `count` times; returns the matches. */
  lines(re: RegExp, count = 1): Promise<RegExpMatchArray[]> {
    const g = new RegExp(re.source, 'g');
    return new Promise((resolve) => {
      const check = (): void => {
        const all = [...`${this.out}${this.err}`.matchAll(g)];
        if (all.length >= count) resolve(all);
        else this.#waiters.push(check);
      };
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, 'exit');
    this.proc.kill('SIGKILL');
    await exited;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** What an in-process server saw of one connection. */
export interface ServerSide {
  protocol: string;
  extensions: string;
  /** Messages received: text as strings, binary as Buffers. */
  messages: (string | Buffer)[];
  pongs: string[];
  pings: string[];
  close?: { code: number; reason: string };
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * A `ws-stream/ws` WebSocketServer on 127.0.0.1 (permessage-deflate on; subprotocol `chat`
 * preferred over `superchat`): echoes every message, pings each client with `server-ping` on
 * connection, and closes with 4002 `server says bye` when it receives the text `close-me`.
 */
export async function startCompatServer(options: { tls?: boolean } = {}): Promise<{
  port: number;
  seen: ServerSide[];
  next(): Promise<ServerSide>;
  close(): Promise<void>;
}> {
  const handleProtocols = (offered: Set<string>): string | false =>
    ['chat', 'superchat'].find((p) => offered.has(p)) ?? false;
  const server = options.tls ? https.createServer({ cert: CA, key: readFileSync(KEY_FILE) }) : undefined;
  const wss = server
    ? new CompatWebSocketServer({ server, perMessageDeflate: true, handleProtocols })
    : new CompatWebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true, handleProtocols });
  if (server) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  else await once(wss, 'listening');
  const seen: ServerSide[] = [];
  let waiting: ((s: ServerSide) => void)[] = [];
  wss.on('connection', (ws: InstanceType<typeof CompatWebSocket>) => {
    let closed!: (c: { code: number; reason: string }) => void;
    const side: ServerSide = {
      protocol: ws.protocol,
      extensions: ws.extensions,
      messages: [],
      pongs: [],
      pings: [],
      closed: new Promise((r) => (closed = r)),
    };
    seen.push(side);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      side.messages.push(isBinary ? data : data.toString());
      if (!isBinary && data.toString() === 'close-me') ws.close(4002, 'server says bye');
      else ws.send(data, { binary: isBinary });
    });
    ws.on('ping', (d: Buffer) => side.pings.push(d.toString()));
    ws.on('pong', (d: Buffer) => side.pongs.push(d.toString()));
    ws.on('close', (code: number, reason: Buffer) => {
      side.close = { code, reason: reason.toString() };
      closed(side.close);
    });
    ws.ping('server-ping');
    for (const w of waiting.splice(0)) w(side);
  });
  return {
    port: ((server ?? wss).address() as net.AddressInfo).port,
    seen,
    next: () => new Promise((r) => waiting.push(r)),
    close: async () => {
      waiting = [];
      for (const c of wss.clients ?? []) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      if (server) {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
  };
}

/** 1 MiB of seeded random bytes (the seed printed). */
export function bigPayload(seed: number): Buffer {
  console.log(`# 1 MiB payload seed ${seed}`);
  const rand = random(seed);
  const b = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** The client kinds: ws-stream's `connect()`, ws-stream/ws's `WebSocket`, and the real `ws`. */
export type ClientKind = 'connect' | 'compat' | 'ws';

/** A uniform open client, over ws-stream's core or either implementation of the `ws` API. */
export interface OpenClient {
  protocol: string;
  extensions: string;
  pings: string[];
  pongs: string[];
  send(data: string | Buffer): Promise<void>;
  /** The next message: text as a string, binary as a Buffer. */
  receive(): Promise<string | Buffer>;
  ping(payload: string): Promise<void>;
  /** Waits until at least `count` pongs (or pings) arrived. */
  untilPongs(count: number): Promise<void>;
  untilPings(count: number): Promise<void>;
  /** Starts a close handshake. */
  close(code: number, reason: string): void;
  /** The close as this end saw it (its own close echoed, or the peer's). */
  closed: Promise<{ code: number; reason: string }>;
}

export interface ClientOptions {
  ca?: Buffer;
  agent?: Agent;
  protocols?: string[];
  /** permessage-deflate offered (default true). */
  deflate?: boolean;
  /** Only for `connect`: opens the stream instead of `connect(url, options)` (over a proxy's tunnel, say). */
  open?: (options: ConnectOptions) => Promise<WebSocketStream>;
}

/** A queue of events with waits that re-check on each push (no timers). */
class Inbox<T> {
  items: T[] = [];
  #waiters: (() => void)[] = [];
  push(item: T): void {
    this.items.push(item);
    for (const w of this.#waiters.splice(0)) w();
  }
  until(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => (this.items.length >= count ? resolve() : void this.#waiters.push(check));
      check();
    });
  }
  async shift(): Promise<T> {
    await this.until(1);
    return this.items.shift()!;
  }
}

/** Opens a client of `kind` to `url`; rejects with what the client reported when the handshake fails. */
export async function openClient(kind: ClientKind, url: string, o: ClientOptions = {}): Promise<OpenClient> {
  const protocols = o.protocols ?? ['superchat', 'chat'];
  const pings = new Inbox<string>();
  const pongs = new Inbox<string>();
  const messages = new Inbox<string | Buffer>();
  if (kind === 'connect') {
    let closed!: (c: { code: number; reason: string }) => void;
    const ws: WebSocketStream = await (o.open ?? ((options: ConnectOptions) => connect(url, options)))({
      protocols,
      ca: o.ca,
      perMessageDeflate: o.deflate ?? true,
      controlCallback: (k, p) => {
        if (k === 'ping') pings.push(p.toString());
        else if (k === 'pong') pongs.push(p.toString());
      },
    });
    const closedP = new Promise<{ code: number; reason: string }>((r) => (closed = r));
    (async () => {
      try {
        for await (const m of ws) messages.push(m.binary ? m.data : m.data.toString());
      } catch {
        /* in closeInfo */
      }
      const info: CloseInfo = await ws.whenClosed();
      closed({ code: info.code ?? 1006, reason: info.reason ?? '' });
    })();
    return {
      protocol: ws.protocol,
      extensions: ws.extensions,
      pings: pings.items,
      pongs: pongs.items,
      send: (d) => ws.write(d, { binary: typeof d !== 'string' }),
      receive: () => messages.shift(),
      ping: (p) => ws.ping(p),
      untilPongs: (n) => pongs.until(n),
      untilPings: (n) => pings.until(n),
      close: (code, reason) => void ws.close({ code, reason }).catch(() => {}),
      closed: closedP,
    };
  }
  // biome-ignore lint/suspicious/noExplicitAny: both classes have ws's API
  const Impl: any = kind === 'ws' ? WebSocket : CompatWebSocket;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const ws: any = new Impl(url, protocols, { ca: o.ca, agent: o.agent, perMessageDeflate: o.deflate ?? true });
  const closedP = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (d: Buffer, isBinary: boolean) => messages.push(isBinary ? d : d.toString()));
  ws.on('ping', (d: Buffer) => pings.push(d.toString()));
  ws.on('pong', (d: Buffer) => pongs.push(d.toString()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  return {
    protocol: ws.protocol,
    extensions: ws.extensions,
    pings: pings.items,
    pongs: pongs.items,
    send: (d) =>
      new Promise<void>((res, rej) =>
        ws.send(d, { binary: typeof d !== 'string' }, (e?: Error) => (e ? rej(e) : res())),
      ),
    receive: () => messages.shift(),
    ping: (p) => new Promise<void>((res, rej) => ws.ping(p, undefined, (e?: Error) => (e ? rej(e) : res()))),
    untilPongs: (n) => pongs.until(n),
    untilPings: (n) => pings.until(n),
    close: (code, reason) => ws.close(code, reason),
    closed: closedP,
  };
}

/**
 * What every path through a proxy must show: both ends agreed on the subprotocol `chat` and on
 * permessage-deflate, the server's ping reached the client, the echo exchange (`echoExchange`)
 * came back whole, and the client's close 4001 with its reason reached the server.
 */
export async function assertEndToEnd(c: OpenClient, side: ServerSide, big: Buffer): Promise<void> {
  assert.equal(c.protocol, 'chat');
  assert.equal(side.protocol, 'chat');
  assert.match(c.extensions, /^permessage-deflate/);
  assert.match(side.extensions, /^permessage-deflate/);
  await c.untilPings(1);
  assert.deepEqual(c.pings, ['server-ping']);
  assert.deepEqual(await echoExchange(c, big), { code: 4001, reason: 'client says bye' });
  assert.deepEqual(await side.closed, { code: 4001, reason: 'client says bye' });
}
/**
 * The common exchange through a proxy: a text and a 1 MiB binary message echoed, a ping answered
 * with its payload, then the client closes with 4001 `client says bye`. Returns the client.
 */
export async function echoExchange(client: OpenClient, big: Buffer): Promise<{ code: number; reason: string }> {
  await client.send('hello through the proxy');
  assert.equal(await client.receive(), 'hello through the proxy');
  await client.send(big);
  const back = await client.receive();
  assert.ok(Buffer.isBuffer(back), 'the binary message came back binary');
  assert.equal(Buffer.compare(back, big), 0, 'the 1 MiB message came back byte for byte');
  await client.ping('client-ping');
  await client.untilPongs(1);
  assert.equal(client.pongs[0], 'client-ping');
  client.close(4001, 'client says bye');
  return client.closed;
}
