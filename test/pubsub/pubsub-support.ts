/** Shared by the pub/sub tests: a server that hands out accepted streams, and a layer that records writes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, type TestContext } from 'node:test';
import zlib from 'node:zlib';
import { DuplexLayer, WebSocketStream, type StreamOptions } from '../../src/index.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from '../../src/pubsub/broker.js';
import type { PubSub } from '../../src/pubsub/pubsub.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RawClient } from '../conformance/raw-client.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';
import { KEY, closeFrame, parseFrames, text } from '../support/frames.js';

/** A next layer over a real socket that keeps every Buffer the stream writes (to check identity). */
export class RecordingLayer extends DuplexLayer {
  readonly written: Buffer[] = [];
  override write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.written.push(...chunks);
    super.write(chunks, cb);
  }
}

export interface TestServer {
  port: number;
  /** The server side of the next connection accepted (in the order they were accepted). */
  next(): Promise<{ ws: WebSocketStream; layer: RecordingLayer }>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that accepts every upgrade into a WebSocketStream over a RecordingLayer. */
export async function startTestServer(options: StreamOptions = {}): Promise<TestServer> {
  const ready: { ws: WebSocketStream; layer: RecordingLayer }[] = [];
  const waiting: ((v: { ws: WebSocketStream; layer: RecordingLayer }) => void)[] = [];
  const all: WebSocketStream[] = [];
  const server = http.createServer();
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    const layer = new RecordingLayer(socket);
    const ws = new WebSocketStream(layer, options);
    all.push(ws);
    ws.accept(req, { head }).then(
      () => {
        const w = waiting.shift();
        if (w) w({ ws, layer });
        else ready.push({ ws, layer });
      },
      () => {},
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    next: () => {
      const r = ready.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      for (const ws of all) ws.nextLayer.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw client connected to `server` (with these request headers), and the server's stream of it. */
export async function subscriberPair(server: TestServer, headers: Record<string, string> = {}) {
  const client = await RawClient.connect(server.port, headers);
  const { ws, layer } = await server.next();
  return { client, ws, layer };
}

/**
 * For one test: a TestServer for `ps`'s subscribers, and `pair()`, a `subscriberPair` on it whose
 * client is destroyed after the test; then `ps` is closed, then the server.
 */
export async function serverFor(
  t: TestContext,
  ps: PubSub,
): Promise<{ web: TestServer; pair(): ReturnType<typeof subscriberPair> }> {
  const web = await startTestServer();
  const clients: RawClient[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await ps.close();
    await web.close();
  });
  return {
    web,
    async pair() {
      const pair = await subscriberPair(web);
      clients.push(pair.client);
      return pair;
    },
  };
}

/**
 * Called in a describe: a nats-server for its tests (started before, stopped after) and `open()`,
 * a NatsBroker on it opened with these history bounds (closed after).
 */
export function natsBrokersOfSuite(): { url(): string; open(history: HistoryOptions): Promise<NatsBroker> } {
  let server: BrokerProcess;
  const brokers: NatsBroker[] = [];
  before(async () => {
    server = await BrokerProcess.nats();
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await server.stop();
  });
  return {
    url: () => server.url,
    async open(history) {
      const broker = new NatsBroker(server.url);
      brokers.push(broker);
      await broker.open(new BrokerRecorder(), history);
      return broker;
    },
  };
}

/** Waits for `emitter` to emit `event` once; resolves with its first argument. */
export function once<T>(emitter: { once(e: string, f: (v: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/**
 * A client of the `serve --pubsub` protocol over a raw socket: frames built by the tests' own
 * framer (test/support/frames.ts), each data message parsed as JSON. Keeps every message it
 * receives, in order, so waiting for one never loses another.
 */
export class JsonClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly inbox: unknown[] = [];
  private readonly waiters: (() => void)[] = [];
  closeCode: number | null = null;
  ended = false;
  /** Frames received compressed (RSV1), as they came, for checks on the wire. */
  readonly compressed: Buffer[] = [];

  private constructor(
    readonly sock: Duplex,
    /** The worker that accepted the connection (X-Ws-Stream-Worker), when the server runs workers. */
    readonly worker: string | undefined,
    head: Buffer,
  ) {
    sock.on('data', (d: Buffer) => this.receive(d));
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', () => {});
    if (head.length > 0) this.receive(head);
  }

  /** With `extensions`, offers them (Sec-WebSocket-Extensions); `agreed` is what the server answered. */
  agreed: string | undefined;

  static connect(port: number, extensions?: string): Promise<JsonClient> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        path: '/',
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Key': KEY,
          'Sec-WebSocket-Version': '13',
          ...(extensions ? { 'Sec-WebSocket-Extensions': extensions } : {}),
        },
      });
      req.on('upgrade', (res, socket, head) => {
        const w = res.headers['x-ws-stream-worker'];
        const c = new JsonClient(socket, typeof w === 'string' ? w : undefined, head);
        c.agreed = res.headers['sec-websocket-extensions'];
        resolve(c);
      });
      req.on('response', (res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
  }

  private receive(d: Buffer): void {
    const { frames, rest } = parseFrames(Buffer.concat([this.buf, d]));
    this.buf = rest;
    for (const f of frames) {
      if (f.opcode === 1 && f.rsv === 4) {
        // permessage-deflate (RFC 7692 §7.2.2): the payload with the sync-flush tail put back.
        this.compressed.push(f.payload);
        const tail = Buffer.from([0x00, 0x00, 0xff, 0xff]);
        const inflated = zlib.inflateRawSync(Buffer.concat([f.payload, tail]), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        });
        this.inbox.push(JSON.parse(inflated.toString()));
      } else if (f.opcode === 1) this.inbox.push(JSON.parse(f.payload.toString()));
      else if (f.opcode === 8) {
        this.closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
        this.sock.write(closeFrame(this.closeCode === 1005 ? undefined : this.closeCode));
      } else if (f.opcode === 2) throw new Error('binary message from the pub/sub server');
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(req: unknown): void {
    this.sock.write(text(typeof req === 'string' ? req : JSON.stringify(req)));
  }

  sendRaw(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  /** The next message received (JSON), in order. */
  // biome-ignore lint/suspicious/noExplicitAny: protocol messages are checked field by field by the tests
  async next(what = 'a message'): Promise<any> {
    for (;;) {
      if (this.inbox.length > 0) return this.inbox.shift();
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Waits for the connection to end. */
  async closed(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.sock.destroy();
  }
}

/** The end of this turn: PubSub hands out the messages of a turn at its end. */
/**
 * A broker that hands every call to `inner`: a test extends it to watch or change one call (a history
 * read made a copy, as Redis's and NATS's are, or counted, or failed).
 */
export class ForwardingBroker implements Broker {
  constructor(readonly inner: Broker) {}
  open(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    return this.inner.open(events, history);
  }
  publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    return this.inner.publish(topic, data, binary);
  }
  subscribe(topic: string): Promise<void> {
    return this.inner.subscribe(topic);
  }
  unsubscribe(topic: string): Promise<void> {
    return this.inner.unsubscribe(topic);
  }
  position(topic: string): Promise<TopicPosition> {
    return this.inner.position(topic);
  }
  history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    return this.inner.history(topic, since);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Reads text messages tagged `TAG:` until the one tagged `last` (or a close frame); returns their tags. */
export async function readUntil(client: RawClient, last: string): Promise<{ tags: string[]; close: number | null }> {
  const tags: string[] = [];
  for (;;) {
    const m = await client.nextMessage();
    if (m.opcode === 8) return { tags, close: m.payload.readUInt16BE(0) };
    assert.equal(m.opcode, 1);
    const text = m.payload.toString();
    const tag = text.slice(0, text.indexOf(':'));
    tags.push(tag);
    if (tag === last) return { tags, close: null };
  }
}

/**
 * Runs `source`, a node:cluster primary's script (written to a temporary file: its workers fork the same file), in a
 * child process; returns what it printed (stdout and stderr) once it exited, failing unless it exited 0. The child is
 * killed and the file removed after the test.
 */
export async function runClusterPrimary(t: TestContext, source: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-cluster-'));
  const file = join(dir, 'primary.mjs');
  writeFileSync(file, source);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, out);
  return out;
}
