/**
 * AutobahnJS 26 (WAMP v2), run by autobahn.test.ts with `ws` as installed or aliased to ws-stream/ws. Autobahn dials
 * the global `WebSocket` (set here from ws: Node 20 has none) with one subprotocol per serializer (`wamp.2.json`,
 * `wamp.2.msgpack`, `wamp.2.cbor`), sets `binaryType = 'arraybuffer'`, and picks its serializer from the `protocol` the
 * server chose. Against a small WAMP router written here on the real ws (`handleProtocols`, a broker and a dealer
 * translating between serializers), three sessions on the three serializers: a procedure registered by one and called
 * by the others (a result, an application error, a 1 MiB argument, binary through msgpack and cbor), events published
 * with and without acknowledgement, an ABORT for an unknown realm, a connection dropped by the router and
 * re-established by autobahn, and `close()` (GOODBYE both ways). Prints what the sessions and the router saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);
(globalThis as Record<string, unknown>).WebSocket = (await import('ws')).WebSocket;

/** What this app uses of autobahn. */
interface Session {
  id: number;
  call(procedure: string, args?: unknown[], kwargs?: object, options?: object): Promise<unknown>;
  register(procedure: string, endpoint: (args: unknown[], kwargs: object) => unknown): Promise<unknown>;
  subscribe(topic: string, handler: (args: unknown[], kwargs: object) => void): Promise<unknown>;
  publish(topic: string, args?: unknown[], kwargs?: object, options?: object): Promise<{ id: number }> | undefined;
}
interface CloseDetails {
  reason: string | null;
  will_retry: boolean;
}
interface Connection {
  onopen: (session: Session, details: object) => void;
  onclose: (reason: string, details: CloseDetails) => boolean | undefined;
  open(): void;
  close(reason?: string, message?: string): void;
  transport: { info: { protocol: string } } | null;
}
interface Autobahn {
  Connection: new (options: object) => Connection;
  Error: new (error: string, args?: unknown[], kwargs?: object) => Error;
  serializer: Record<'JSONSerializer' | 'MsgpackSerializer' | 'CBORSerializer', new () => object>;
  msgpack: (options: object) => { encode(v: unknown): Buffer; decode(b: Buffer): unknown };
  cbor: { encode(v: unknown): Buffer; decodeFirstSync(b: Buffer): unknown };
}
const autobahn = require('autobahn') as Autobahn;

// WAMP message types (the ones this router speaks).
const HELLO = 1;
const WELCOME = 2;
const ABORT = 3;
const GOODBYE = 6;
const ERROR = 8;
const PUBLISH = 16;
const PUBLISHED = 17;
const SUBSCRIBE = 32;
const SUBSCRIBED = 33;
const EVENT = 36;
const CALL = 48;
const RESULT = 50;
const REGISTER = 64;
const REGISTERED = 65;
const INVOCATION = 68;
const YIELD = 70;

type Message = [number, ...unknown[]];
const msgpack = autobahn.msgpack({ forceFloat64: true });
const codecs: Record<string, { encode(m: Message): string | Buffer; decode(data: Buffer): Message }> = {
  'wamp.2.json': { encode: (m) => JSON.stringify(m), decode: (data) => JSON.parse(String(data)) },
  'wamp.2.msgpack': { encode: (m) => msgpack.encode(m), decode: (data) => msgpack.decode(data) as Message },
  'wamp.2.cbor': {
    encode: (m) => autobahn.cbor.encode(m),
    decode: (data) => autobahn.cbor.decodeFirstSync(data) as Message,
  },
};

/** The router: one realm, a broker (topics) and a dealer (procedures), across serializers. */
interface Peer {
  session: number;
  send(m: Message): void;
}
const routerSaw: string[] = [];
const routerClosed = queue<string>();
const topics = new Map<string, Map<number, Peer>>(); // topic → subscription id → subscriber
const procedures = new Map<string, { id: number; callee: Peer }>();
const pendingCalls = new Map<number, { caller: Peer; request: unknown }>();
let ids = 0;
const peers = new Set<import('ws').WebSocket>();
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server,
  path: '/ws',
  handleProtocols: (protocols) => [...protocols].find((p) => p in codecs) ?? false,
});
wss.on('connection', (ws) => {
  peers.add(ws);
  const codec = codecs[ws.protocol];
  if (codec === undefined) throw new Error(`no codec for ${ws.protocol}`);
  const peer: Peer = { session: 0, send: (m) => ws.send(codec.encode(m)) };
  ws.on('message', (data: Buffer, isBinary) => {
    const m = codec.decode(data);
    const [type] = m;
    routerSaw.push(`${ws.protocol.slice(7)} ${isBinary ? 'binary' : 'text'} ${type}${type === CALL ? ` ${m[3]}` : ''}`);
    if (type === HELLO) {
      if (m[1] !== 'realm1') return peer.send([ABORT, { message: 'no such realm' }, 'wamp.error.no_such_realm']);
      peer.session = ++ids;
      peer.send([WELCOME, peer.session, { roles: { broker: {}, dealer: {} } }]);
    } else if (type === GOODBYE) {
      peer.send([GOODBYE, {}, 'wamp.close.goodbye_and_out']);
    } else if (type === REGISTER) {
      const id = ++ids;
      procedures.set(m[3] as string, { id, callee: peer });
      peer.send([REGISTERED, m[1], id]);
    } else if (type === CALL) {
      const procedure = procedures.get(m[3] as string);
      if (!procedure) return peer.send([ERROR, CALL, m[1], {}, 'wamp.error.no_such_procedure']);
      const invocation = ++ids;
      pendingCalls.set(invocation, { caller: peer, request: m[1] });
      procedure.callee.send([INVOCATION, invocation, procedure.id, {}, m[4] ?? [], m[5] ?? {}]);
    } else if (type === YIELD || (type === ERROR && m[1] === INVOCATION)) {
      const call = pendingCalls.get(m[type === YIELD ? 1 : 2] as number);
      pendingCalls.delete(m[type === YIELD ? 1 : 2] as number);
      if (type === YIELD) call?.caller.send([RESULT, call.request, {}, m[3] ?? [], m[4] ?? {}]);
      else call?.caller.send([ERROR, CALL, call.request, {}, m[4], m[5] ?? [], m[6] ?? {}]);
    } else if (type === SUBSCRIBE) {
      const id = ++ids;
      const subscribers = topics.get(m[3] as string) ?? new Map<number, Peer>();
      topics.set(m[3] as string, subscribers.set(id, peer));
      peer.send([SUBSCRIBED, m[1], id]);
    } else if (type === PUBLISH) {
      const publication = ++ids;
      const options = m[2] as { acknowledge?: boolean; exclude_me?: boolean };
      for (const [id, subscriber] of topics.get(m[3] as string) ?? []) {
        if (subscriber === peer && options.exclude_me !== false) continue;
        subscriber.send([EVENT, id, publication, {}, m[4] ?? [], m[5] ?? {}]);
      }
      if (options.acknowledge) peer.send([PUBLISHED, m[1], publication]);
    }
  });
  ws.on('close', (code) => {
    peers.delete(ws);
    routerClosed.push(`${ws.protocol.slice(7)} ${code}`);
    for (const [name, procedure] of procedures) if (procedure.callee === peer) procedures.delete(name);
    for (const subscribers of topics.values())
      for (const [id, subscriber] of subscribers) if (subscriber === peer) subscribers.delete(id);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/ws`;

/** A connection on one serializer, with its opens and closes queued. */
function connect(serializer: keyof Autobahn['serializer'] | undefined, options: object = {}) {
  const connection = new autobahn.Connection({
    url,
    realm: 'realm1',
    serializers: serializer ? [new autobahn.serializer[serializer]()] : undefined,
    initial_retry_delay: 0.01,
    max_retries: 1,
    ...options,
  });
  const opened = queue<Session>();
  const closed = queue<string>();
  connection.onopen = (session) => opened.push(session);
  connection.onclose = (reason, details) => {
    closed.push(`${reason} ${details.reason} retry=${details.will_retry}`);
    return undefined;
  };
  connection.open();
  return { connection, opened, closed };
}
const describe = (value: unknown): unknown =>
  Buffer.isBuffer(value) || value instanceof Uint8Array
    ? `bytes:${value.length}:${value[0]}`
    : Array.isArray(value)
      ? value.map(describe)
      : value;

const result: Record<string, unknown> = {};

// A session on JSON (autobahn's default offers json and msgpack; the router picks json), the callee and subscriber.
const json = connect(undefined);
const callee = await json.opened.next();
result.protocols = [json.connection.transport?.info.protocol];
const received = queue<string>();
await callee.register('com.example.add', (args) => (args as number[]).reduce((a, b) => a + b, 0));
await callee.register('com.example.length', (args) => (args[0] as string).length);
await callee.register('com.example.fail', (args) => {
  throw new autobahn.Error('com.example.error.refused', ['no', args[0]], { why: 'testing' });
});
await callee.subscribe('com.example.news', (args, kwargs) => received.push(JSON.stringify([args, kwargs])));

// Callers on msgpack and cbor: binary frames each way, read as ArrayBuffers.
const packed = connect('MsgpackSerializer');
const caller = await packed.opened.next();
const cbor = connect('CBORSerializer');
const third = await cbor.opened.next();
result.protocols = [
  ...(result.protocols as string[]),
  packed.connection.transport?.info.protocol,
  cbor.connection.transport?.info.protocol,
];
// Bytes between the two binary serializers (JSON has none): the cbor session's procedure, called over msgpack (16 kB at
// most: the cbor package's decodeFirstSync, which autobahn uses, fails on larger input whatever the engine).
await third.register('com.example.bytes', (args) => {
  const [bytes] = args as [Uint8Array];
  return [describe(bytes), Buffer.from(bytes.subarray(0, 3)).reverse()];
});
result.calls = [
  await caller.call('com.example.add', [2, 3, 37]),
  await third.call('com.example.add', [1.5, 1]),
  await caller.call('com.example.length', ['x'.repeat(1024 * 1024)]),
  describe(await caller.call('com.example.bytes', [Buffer.concat([Buffer.from([1, 2, 3]), Buffer.alloc(16_000, 9)])])),
];
result.callError = await caller.call('com.example.fail', ['please']).then(
  () => 'succeeded',
  (err: { error: string; args: unknown[]; kwargs: object }) => [err.error, err.args, err.kwargs],
);
result.noSuchProcedure = await third.call('com.example.nothing').then(
  () => 'succeeded',
  (err: { error: string }) => err.error,
);

// Events: one acknowledged (the publication id comes back), one not; the publisher is excluded by default.
const ack = await caller.publish('com.example.news', ['acked', 1], { from: 'msgpack' }, { acknowledge: true });
result.acknowledged = typeof ack?.id;
third.publish('com.example.news', ['fire and forget'], { from: 'cbor' });
result.events = [await received.next(), await received.next()];

// An unknown realm: the router answers HELLO with ABORT; autobahn closes and gives up.
const stranger = connect('JSONSerializer', { realm: 'nowhere', max_retries: 0 });
result.abort = await stranger.closed.next();
result.abortOnRouter = await routerClosed.next();
// The router drops the msgpack session: autobahn reports it lost and connects again (a new session).
const dropped = [...peers].find((ws) => ws.protocol === 'wamp.2.msgpack');
const routerSawDrop = routerClosed.next();
dropped?.terminate();
result.lost = await packed.closed.next();
result.dropOnRouter = await routerSawDrop;
const again = await packed.opened.next();
result.reconnected = [again.id !== caller.id, await again.call('com.example.add', [40, 2])];

// close(): GOODBYE and its answer, then a clean close on both ends.
const closes = [routerClosed.next(), routerClosed.next(), routerClosed.next()];
for (const c of [json, packed, cbor]) c.connection.close();
result.closed = [await json.closed.next(), await packed.closed.next(), await cbor.closed.next()];
result.closedOnRouter = (await Promise.all(closes)).sort();
result.router = routerSaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report({ ...result, globalIsOurs: (globalThis as Record<string, unknown>).WebSocket === ours.WebSocket });
