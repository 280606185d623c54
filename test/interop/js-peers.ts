/**
 * Shared by faye.test.ts and websocket-node.test.ts: one exchange run by any client against any echo server with
 * commands (echo-targets.ts's Target), so that each peer's client meets ws-stream's servers and ws-stream's clients
 * (the core `connect` and ws-stream/ws's `WebSocket`) meet each peer's server with the same checks.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after } from 'node:test';
import * as wsStream from 'ws-stream/ws';
import { WebSocketStream, connect, type CloseInfo, type ConnectOptions, type StreamOptions } from '../../src/index.js';
import type { Running } from './echo-targets.js';

/** A message as a client delivered it. */
export interface Got {
  binary: boolean;
  data: Buffer;
}

/** An open client connection, seen through its own API. */
export interface Conn {
  protocol: string;
  send(m: string | Buffer): void;
  /** The next message not yet taken (never skips one). */
  next(): Promise<Got>;
  /** Pings with `payload`; resolves with the payload of the pong that answered it (absent from WHATWG-style APIs). */
  ping?(payload: string): Promise<string>;
  close(code: number, reason: string): void;
  /** Destroys the TCP connection, no close frame (absent from the core API, which has no such call). */
  drop?(): void;
  /** The close frame the client received (code and reason as its API reports them), 1006 when there was none. */
  closed: Promise<{ code: number; reason: string }>;
}

export interface Client {
  name: string;
  /**
   * Whether it fails a handshake whose 101 names no subprotocol when it offered some: RFC 6455 §4.1 fails only one
   * that names a subprotocol not offered, WHATWG's API and ws (and so ws-stream/ws) also this one.
   */
  needsProtocol: boolean;
  /** Opens a connection; rejects when the client refuses the handshake. */
  open(url: string, protocols?: string[]): Promise<Conn>;
}

/** Messages in arrival order, each taken once. */
export function inbox(): { push(g: Got): void; next(): Promise<Got> } {
  const queue: Got[] = [];
  const waiting: ((g: Got) => void)[] = [];
  return {
    push(g) {
      const w = waiting.shift();
      if (w) w(g);
      else queue.push(g);
    },
    next: () => {
      const g = queue.shift();
      return g ? Promise.resolve(g) : new Promise((r) => waiting.push(r));
    },
  };
}

/** Resolvers by payload, for pongs. */
export function pongWaiters(): { wait(payload: string): Promise<string>; got(payload: Buffer): void } {
  const waiting = new Map<string, (p: string) => void>();
  return {
    wait: (payload) => new Promise((r) => waiting.set(payload, r)),
    got(payload) {
      const p = payload.toString();
      waiting.get(p)?.(p);
      waiting.delete(p);
    },
  };
}

/** Exactly `n` octets of UTF-8 with 1-, 2-, 3- and 4-octet sequences (ASCII fills the rest). */
export function text(n: number): string {
  const unit = 'aé✓𝄞'; // 10 octets
  return unit.repeat(Math.floor(n / 10)) + 'x'.repeat(n % 10);
}

export function binary(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed + (i >> 9)) & 0xff;
  return b;
}

export const digest = (b: Buffer): string => `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;

/** The boundary sizes of RFC 6455 §5.2's length encodings, and large messages. */
export const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024, 16 * 1024 * 1024];
/** The other codes a close frame may carry (RFC 6455 §7.4.1, and 1012–1014 from IANA's registry, §11.7). */
export const OTHER_CODES = [1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
/** Codes an application may close with that every client here can send. */
export const CODES = [1000, 1001, 3000, 4999];
/** 123 octets of UTF-8 (the longest reason: 125 minus the code), with 2-, 3- and 4-octet sequences. */
export const LONGEST = `${'é'.repeat(20)}${'✓'.repeat(10)}${'𝄞'.repeat(10)}${'x'.repeat(13)}`;

/** Sends each message at once, then checks each echo: type and bytes, in order. */
export async function echoes(c: Conn, messages: (string | Buffer)[]): Promise<void> {
  for (const m of messages) c.send(m);
  for (const m of messages) {
    const got = await c.next();
    const want = typeof m === 'string' ? Buffer.from(m) : m;
    assert.equal(got.binary, typeof m !== 'string', `the type of the ${digest(want)} echo`);
    assert.equal(digest(got.data), digest(want));
  }
}

/**
 * The exchange: subprotocols (two offered, one, none the server has), text and binary at every boundary size, pings
 * from the client, close codes with the longest reason from the client, the client's drop seen as 1006; with
 * commands, pings from the server, close codes from the server and the server's drop seen as 1006. `protocol` is what
 * the server picks from `superchat, chat` (RFC 6455 §4.2.2 leaves it to it).
 */
export async function exchange(
  client: Client,
  server: Running,
  commands: boolean,
  protocol: string,
  quirks: {
    /** A client that loses empty text messages (pinned where it is used). */
    noEmptyText?: boolean;
    /** A server that answers every close with 1000 (RFC 6455 §5.5.1 only says it "typically echos" the code). */
    answers1000?: boolean;
  } = {},
): Promise<void> {
  let accepted = 0;
  const c = await client.open(server.url, ['superchat', 'chat']);
  accepted++;
  assert.equal(c.protocol, protocol);
  assert.equal((await server.seen(0))?.protocol ?? protocol, protocol);
  // Up to 1 MiB sent at once; each 16 MiB message waits for its echo. Both websocket-driver (faye; its streams.js:
  // input may make output) and ws-stream (README, `maxBufferedBytes`: 16 MiB) stop reading while their own writes are
  // backed up, so two 16 MiB messages in flight each way stall both sides (no RFC says either must read on).
  const small = SIZES.filter((n) => n <= 1024 * 1024);
  const texts = small.filter((n) => n > 0 || !quirks.noEmptyText).map((n) => text(n));
  await echoes(c, [...texts, ...small.map((n, i) => binary(n, i))]);
  for (const n of SIZES.filter((n) => n > 1024 * 1024)) {
    await echoes(c, [text(n)]);
    await echoes(c, [binary(n, n)]);
  }
  // Pings of 0, some and 125 octets (the most a control frame carries, RFC 6455 §5.5): each answered with its payload.
  for (const payload of ['ping ✓', '', text(125)]) if (c.ping) assert.equal(await c.ping(payload), payload);
  c.close(1000, 'bye ✓');
  // The code comes back (RFC 6455 §5.5.1: "typically echos the status code"); the reason need not.
  assert.equal((await c.closed).code, 1000);
  const first = await server.seen(0)?.then((s) => s.closed);
  if (first) assert.deepEqual(first, { code: 1000, reason: 'bye ✓' });

  const only = await client.open(server.url, ['superchat']);
  accepted++;
  assert.equal(only.protocol, 'superchat');
  only.close(1000, '');
  await only.closed;
  // None the server supports: it answers without one.
  const other = client.open(server.url, ['other']);
  if (client.needsProtocol) await assert.rejects(other);
  else {
    const none = await other;
    assert.equal(none.protocol, '');
    none.close(1000, '');
    await none.closed;
  }
  accepted++;

  for (const code of CODES) {
    const d = await client.open(server.url);
    const index = accepted++;
    assert.equal(d.protocol, '');
    await echoes(d, ['before the close']);
    d.close(code, LONGEST);
    const seen = await server.seen(index)?.then((s) => s.closed);
    if (seen) assert.deepEqual(seen, { code, reason: LONGEST }, `the server saw ${code}`);
    assert.equal((await d.closed).code, quirks.answers1000 ? 1000 : code, `${code} answered`);
  }
  if (c.drop) {
    const g = await client.open(server.url);
    const index = accepted++;
    await echoes(g, ['before the client drops']);
    g.drop?.();
    assert.equal((await g.closed).code, 1006);
    const seen = await server.seen(index)?.then((s) => s.closed);
    if (seen) assert.equal(seen.code, 1006, 'the server saw the drop as 1006');
  }
  if (!commands) return;

  for (const code of CODES) {
    const e = await client.open(server.url);
    accepted++;
    e.send(`cmd:ping from the server ${code}`);
    assert.deepEqual(await e.next(), { binary: false, data: Buffer.from(`pong from the server ${code}`) });
    e.send(`cmd:close ${code} ${LONGEST}`);
    assert.deepEqual(await e.closed, { code, reason: LONGEST }, `the server closed with ${code}`);
  }
  const f = await client.open(server.url);
  const dropped = accepted++;
  await echoes(f, ['before the drop']);
  f.send('cmd:terminate');
  assert.equal((await f.closed).code, 1006);
  assert.equal((await server.seen(dropped)?.then((s) => s.closed))?.code ?? 1006, 1006);
}

/** ws-stream's core client: `connect` (with `options`), messages read in a loop. */
export const coreClientWith = (options: ConnectOptions): Client => ({
  name: 'ws-stream connect()',
  needsProtocol: false,
  async open(url, protocols) {
    const pongs = pongWaiters();
    const ws = await connect(url, {
      ...options,
      protocols,
      controlCallback: (kind, payload) => kind === 'pong' && pongs.got(payload),
    });
    const box = inbox();
    (async () => {
      for await (const m of ws) box.push({ binary: m.binary, data: Buffer.from(m.data) });
    })().catch(() => {});
    return {
      protocol: ws.protocol,
      send: (m) => void ws.write(m, { binary: typeof m !== 'string' }).catch(() => {}),
      next: box.next,
      ping: (payload) => {
        const pong = pongs.wait(payload);
        return ws.ping(payload).then(() => pong);
      },
      close: (code, reason) => void ws.close({ code, reason }).catch(() => {}),
      closed: ws.whenClosed().then((info) => ws.closeReason ?? { code: info.code, reason: info.reason }),
    };
  },
});
export const coreClient = coreClientWith({});

/** ws-stream/ws's `WebSocket` (the `ws` API over the core). */
export const compatClient: Client = {
  name: 'ws-stream/ws WebSocket',
  needsProtocol: true,
  open(url, protocols) {
    const ws = new wsStream.WebSocket(url, protocols ?? []);
    const box = inbox();
    const pongs = pongWaiters();
    ws.on('message', (data, isBinary) => box.push({ binary: isBinary, data: data as Buffer }));
    ws.on('pong', (payload) => pongs.got(payload));
    ws.on('error', () => {});
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () =>
        resolve({
          protocol: ws.protocol,
          send: (m) => ws.send(m, { binary: typeof m !== 'string' }),
          next: box.next,
          ping: (payload) => {
            const pong = pongs.wait(payload);
            ws.ping(payload);
            return pong;
          },
          close: (code, reason) => ws.close(code, reason),
          drop: () => ws.terminate(),
          closed,
        }),
      );
    });
  },
};

export const wsStreamClients = [coreClient, compatClient];

/**
 * Writes `data` as one message cut at `cuts` (octet offsets; a text message cut inside UTF-8 sequences, RFC 6455
 * §5.6 checks the whole message only), a ping after each fragment but the last (§5.4: control frames may come
 * between fragments). Resolves with the number of pings sent.
 */
export async function writeInFragments(
  ws: WebSocketStream,
  data: Buffer,
  binary: boolean,
  cuts: number[],
): Promise<number> {
  const ends = [...cuts, data.length];
  let start = 0;
  for (const [i, end] of ends.entries()) {
    const last = i === ends.length - 1;
    await ws.writeSome(data.subarray(start, end), { binary, fin: last });
    if (!last) await ws.ping(`between ${i}`);
    start = end;
  }
  return ends.length - 1;
}

/** Cuts after every octet: each UTF-8 sequence of more than one octet is split. */
export const everyOctet = (n: number): number[] => Array.from({ length: n - 1 }, (_, i) => i + 1);

/** Fragment sizes at the length encodings' boundaries, empty first and last ones included. */
const PIECES = [0, 1, 125, 126, 65535, 65536, 0];
const prefixSums = (sizes: number[]): number[] =>
  sizes.slice(0, -1).map((_, i) => sizes.slice(0, i + 1).reduce((a, b) => a + b, 0));

/** Messages to send in fragments: text cut inside every UTF-8 sequence, binary cut at the boundaries. */
export const FRAGMENTED: { data: Buffer; binary: boolean; cuts: number[] }[] = [
  { data: Buffer.from(text(40)), binary: false, cuts: everyOctet(40) },
  {
    data: binary(
      PIECES.reduce((a, b) => a + b, 0),
      7,
    ),
    binary: true,
    cuts: prefixSums(PIECES),
  },
  { data: Buffer.from(text(70_000)), binary: false, cuts: [1, 3, 6, 65_536 + 5] },
];

/**
 * A ws-stream server that sends each of FRAGMENTED in its fragments with pings between, then waits for the client's
 * close; resolves per connection with the pings sent, the pongs received and how it ended.
 */
export async function startFragmentingServer(options: StreamOptions = {}): Promise<{
  url: string;
  next(): Promise<{ pings: number; pongs: number; closeInfo: CloseInfo }>;
}> {
  const waiting: ((r: { pings: number; pongs: number; closeInfo: CloseInfo }) => void)[] = [];
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => {
    let pongs = 0;
    let pings = 0;
    const ws = new WebSocketStream(socket, { ...options, controlCallback: (kind) => kind === 'pong' && pongs++ });
    (async () => {
      await ws.accept(req, { head });
      for (const m of FRAGMENTED) pings += await writeInFragments(ws, m.data, m.binary, m.cuts);
      await ws.read().catch(() => {});
    })()
      .catch(() => {})
      .then(() => ws.whenClosed())
      .then((closeInfo) => waiting.shift()?.({ pings, pongs, closeInfo }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    server.close();
    server.closeAllConnections();
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    next: () => new Promise((r) => waiting.push(r)),
  };
}

/** ws-stream's client sends each of FRAGMENTED in fragments with pings between to an echo server: echoed whole. */
export async function sendFragmented(url: string, options: ConnectOptions = {}): Promise<void> {
  let pongs = 0;
  const ws = await connect(url, { ...options, controlCallback: (kind) => kind === 'pong' && pongs++ });
  let pings = 0;
  for (const m of FRAGMENTED) {
    pings += await writeInFragments(ws, m.data, m.binary, m.cuts);
    const echo = await ws.read();
    assert.equal(echo.binary, m.binary);
    assert.equal(digest(Buffer.from(echo.data)), digest(m.data));
  }
  // Each pong was sent before the echo it preceded on the wire.
  assert.equal(pongs, pings);
  await ws.close();
  assert.equal((await ws.whenClosed()).code, 1000);
}

/**
 * A peer's client (`open`) reads FRAGMENTED from startFragmentingServer: each whole, every ping answered; `read` runs
 * once all are in, then it closes with 1000 'read'. Resolves with the close the client reported.
 */
export async function readFragmented<C extends Conn>(
  open: (url: string) => Promise<C>,
  options: StreamOptions = {},
  read?: (c: C) => void,
): Promise<{ code: number; reason: string }> {
  const server = await startFragmentingServer(options);
  const end = server.next();
  const c = await open(server.url);
  for (const m of FRAGMENTED) {
    const got = await c.next();
    assert.deepEqual([got.binary, digest(got.data)], [m.binary, digest(m.data)]);
  }
  read?.(c);
  c.close(1000, 'read');
  const closed = await c.closed;
  const { pings, pongs, closeInfo } = await end;
  assert.equal(pongs, pings);
  assert.deepEqual([closeInfo.initiatedBy, closeInfo.code, closeInfo.wasClean], ['remote', 1000, true]);
  return closed;
}

/** The ws-stream client with readMessageMax 1000 against a peer's echo server: 1000 octets echoed, 1001 failed with 1009. */
export async function clientLimit(server: Running, seeds: [number, number]): Promise<void> {
  const ws = await connect(server.url, { readMessageMax: 1000 });
  await ws.write(binary(1000, seeds[0]));
  assert.equal((await ws.read()).data.length, 1000);
  await ws.write(binary(1001, seeds[1]));
  await assert.rejects(ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
  const info = await ws.whenClosed();
  assert.deepEqual([info.initiatedBy, info.code], ['local', 1009]);
  assert.equal((await (await server.seen(0))?.closed)?.code, 1009);
}

/** A peer's echo server closes with 4000 and `reason` (over 123 octets): the ws-stream client fails it with 1002. */
export async function receiveLongClose(
  server: Running,
  reason: string,
): Promise<{ code: number; reason: string } | undefined> {
  const ws = await connect(server.url);
  await ws.write(`cmd:close 4000 ${reason}`, { binary: false });
  await assert.rejects(ws.read(), { code: 'ERR_WS_BAD_CONTROL_SIZE' });
  const info = await ws.whenClosed();
  assert.deepEqual([info.initiatedBy, info.code, ws.closeReason], ['local', 1002, undefined]);
  return (await server.seen(0))?.closed;
}
