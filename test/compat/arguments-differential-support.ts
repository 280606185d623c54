/**
 * A seeded differential tester of the `ws` API's arguments: each script calls one entry point of ws and of
 * ws-stream/ws with values from a hostile pool (undefined, null, NaN, -1, 1.5, 2**53, Infinity, '', a long string, a
 * lone surrogate, a Symbol, a BigInt, an object without prototype, objects whose toString or getters throw, a Proxy
 * whose traps throw, arrays, a function, a Promise, a detached view, a SharedArrayBuffer view, a Blob, a DataView, a
 * frozen object, …), then probes the socket (a text and a binary message echoed, a close with 1000). The trace: what
 * the call threw (class, `code`, message) or returned, the events and callbacks that followed (with their
 * arguments), and anything thrown out of the process's turn (uncaughtException, unhandledRejection).
 *
 * Entry points: on an open client, `send`, `ping`, `pong` (data, options or mask, callback), `close(code, reason)`,
 * `terminate`, `pause`, `resume`, `binaryType =`, `addEventListener`, `removeEventListener`, `on`, `once`, `off`, the
 * `on…` setters, `createWebSocketStream(ws, options)`; `new WebSocket(url, protocols, options)` with a hostile
 * value as protocols, as the options or as one option; `new WebSocketServer(options)` with a hostile value as the
 * options or as one option (noServer, then one real upgrade through `handleUpgrade`); a server's `shouldHandle`,
 * `close(cb)`, `address()`. Each client runs against a server of its own kind on 127.0.0.1.
 *
 * No timer: every run waits for the client's 'close' (and its server connection's). Options that are a clock
 * (`handshakeTimeout`, `closeTimeout` with a small value) are compared by what the constructor throws only.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { random } from '../support/random.js';
import { describeError, hex } from './differential-support.js';
import type { Impl } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API, called with values of every type on purpose
type Any = any;

type Log = (s: string) => void;

/** How a value shows in a trace (never throws). */
export function show(v: unknown): string {
  if (v === null) return 'null';
  const t = typeof v;
  if (t === 'undefined' || t === 'boolean' || t === 'number' || t === 'bigint') return `${t}:${String(v)}`;
  if (t === 'string') return `string:${(v as string).length <= 40 ? JSON.stringify(v) : `${(v as string).length}`}`;
  if (t === 'symbol') return 'symbol';
  if (t === 'function') return 'function';
  if (v instanceof Error) return `error:${describeError(v)}`;
  try {
    if (Buffer.isBuffer(v)) return `Buffer:${hex(v)}`;
    if (v instanceof ArrayBuffer) return `ArrayBuffer:${hex(new Uint8Array(v))}`;
    if (Array.isArray(v)) return `Array:[${v.map(show).join(',')}]`;
    const name = Object.getPrototypeOf(v)?.constructor?.name;
    return `object:${typeof name === 'string' ? name : 'null-proto'}`;
  } catch {
    return 'object:?';
  }
}

/** One hostile value, made fresh for each run (a detached view cannot be used twice; a function logs its calls). */
interface Hostile {
  name: string;
  make(log: Log): unknown;
}

const trap = (): never => {
  throw new Error('trap');
};

export const POOL: Hostile[] = [
  { name: 'undefined', make: () => undefined },
  { name: 'null', make: () => null },
  { name: 'NaN', make: () => Number.NaN },
  { name: '-1', make: () => -1 },
  { name: '0', make: () => 0 },
  { name: '1.5', make: () => 1.5 },
  { name: '2**53', make: () => 2 ** 53 },
  { name: '1e400', make: () => Number('1e400') },
  { name: "''", make: () => '' },
  { name: 'long string', make: () => 'x'.repeat(200) },
  { name: 'lone surrogate', make: () => 'a\uD800b' },
  { name: "'message'", make: () => 'message' },
  { name: "'arraybuffer'", make: () => 'arraybuffer' },
  { name: 'Symbol', make: () => Symbol('s') },
  { name: '10n', make: () => 10n },
  { name: 'Object.create(null)', make: () => Object.create(null) },
  {
    name: 'throwing toString',
    make: () => ({
      toString: () => {
        throw new Error('toString');
      },
      valueOf: () => {
        throw new Error('valueOf');
      },
    }),
  },
  {
    name: 'throwing getters',
    make: () =>
      Object.defineProperties(
        {},
        Object.fromEntries(
          ['fin', 'binary', 'compress', 'mask', 'length', 'once', 'port', 'noServer', 'protocols', 'headers'].map(
            (k) => [k, { get: trap, enumerable: true }],
          ),
        ),
      ),
  },
  {
    name: 'Proxy with throwing traps',
    make: () =>
      new Proxy(
        {},
        { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap, apply: trap },
      ),
  },
  { name: '[]', make: () => [] },
  { name: '[1, 2]', make: () => [1, 2] },
  {
    name: 'function',
    make: (log) =>
      function hostile(this: unknown, ...args: unknown[]): void {
        log(`called:${args.map(show).join(',')}`);
      },
  },
  {
    name: 'handleEvent object',
    make: (log) => ({ handleEvent: (e: { type?: unknown }) => log(`handleEvent:${show(e)}:${String(e?.type)}`) }),
  },
  { name: 'Promise', make: () => Promise.resolve(1) },
  {
    name: 'detached view',
    make: () => {
      const view = new Uint8Array([1, 2, 3]);
      structuredClone(view.buffer, { transfer: [view.buffer] });
      return view;
    },
  },
  { name: 'SharedArrayBuffer view', make: () => new Uint8Array(new SharedArrayBuffer(3)).fill(7) },
  { name: 'Blob', make: () => new Blob(['blob']) },
  { name: 'DataView', make: () => new DataView(new Uint8Array([4, 5, 6]).buffer) },
  { name: 'frozen object', make: () => Object.freeze({ fin: false, binary: true, once: true }) },
  { name: 'true', make: () => true },
  { name: 'false', make: () => false },
  { name: 'Buffer', make: () => Buffer.from('buf') },
  { name: '4000', make: () => 4000 },
  { name: '1005', make: () => 1005 },
];

/** The entry points on an open client, and how many arguments each takes. */
const METHODS: [string, number][] = [
  ['send', 3],
  ['ping', 3],
  ['pong', 3],
  ['close', 2],
  ['terminate', 1],
  ['pause', 1],
  ['resume', 1],
  ['binaryType=', 1],
  ['addEventListener', 3],
  ['removeEventListener', 3],
  ['on', 2],
  ['once', 2],
  ['off', 2],
  ['onopen=', 1],
  ['onmessage=', 1],
  ['onclose=', 1],
  ['onerror=', 1],
  ['createWebSocketStream', 1],
];

const CLIENT_OPTIONS = [
  'handshakeTimeout',
  'maxPayload',
  'perMessageDeflate',
  'followRedirects',
  'maxRedirects',
  'origin',
  'headers',
  'protocolVersion',
  'skipUTF8Validation',
  'autoPong',
  'allowSynchronousEvents',
  'closeTimeout',
  'maxPendingAutoPongs',
  'maxFragments',
  'protocols',
];

const SERVER_OPTIONS = [
  'maxPayload',
  'perMessageDeflate',
  'clientTracking',
  'path',
  'verifyClient',
  'handleProtocols',
  'WebSocket',
  'autoPong',
  'allowSynchronousEvents',
  'skipUTF8Validation',
  'closeTimeout',
  'maxPendingAutoPongs',
  'maxFragments',
];

const STREAM_OPTIONS = [
  'allowHalfOpen',
  'readableObjectMode',
  'encoding',
  'decodeStrings',
  'highWaterMark',
  'readableHighWaterMark',
  'defaultEncoding',
];

export type Script =
  | { seed: number; k: 'method'; method: string; args: number[] }
  | { seed: number; k: 'client'; protocols: number | null; options: number | null; option: string | null }
  | { seed: number; k: 'server'; options: number; option: string | null }
  | { seed: number; k: 'stream-option'; option: string; value: number }
  | { seed: number; k: 'server-method'; method: 'shouldHandle' | 'close' | 'address'; path: boolean; arg: number };

export function generate(seed: number): Script {
  const r = random(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  const value = (): number => int(POOL.length);
  const x = int(100);
  if (x < 60) {
    const [method, arity] = pick(METHODS);
    const n = int(arity + 1);
    return { seed, k: 'method', method, args: Array.from({ length: n }, value) };
  }
  if (x < 75) {
    const whole = r() < 0.3;
    return {
      seed,
      k: 'client',
      protocols: r() < 0.4 ? value() : null,
      options: whole || r() < 0.9 ? value() : null,
      option: whole ? null : pick(CLIENT_OPTIONS),
    };
  }
  if (x < 88) {
    const whole = r() < 0.2;
    return { seed, k: 'server', options: value(), option: whole ? null : pick(SERVER_OPTIONS) };
  }
  if (x < 94) return { seed, k: 'stream-option', option: pick(STREAM_OPTIONS), value: value() };
  return {
    seed,
    k: 'server-method',
    method: pick(['shouldHandle', 'close', 'address'] as const),
    path: r() < 0.5,
    arg: value(),
  };
}

export function describeScript(s: Script): string {
  const name = (i: number | null): string | null => (i === null ? null : POOL[i]!.name);
  switch (s.k) {
    case 'method':
      return `seed ${s.seed}: client.${s.method}(${s.args.map(name).join(', ')})`;
    case 'client':
      return `seed ${s.seed}: new WebSocket(url, ${name(s.protocols)}, ${s.option ? `{ ${s.option}: ${name(s.options)} }` : name(s.options)})`;
    case 'server':
      return `seed ${s.seed}: new WebSocketServer(${s.option ? `{ noServer: true, ${s.option}: ${name(s.options)} }` : name(s.options)})`;
    case 'stream-option':
      return `seed ${s.seed}: createWebSocketStream(client, { ${s.option}: ${name(s.value)} })`;
    case 'server-method':
      return `seed ${s.seed}: server${s.path ? " (path '/p')" : ''}.${s.method}(${name(s.arg)})`;
  }
}

export interface Trace {
  /** What the call threw, or 'returned:…'. */
  result: string;
  /** Events, callbacks and hostile functions' calls, in order, on the client (and the stream). */
  events: string[];
  /** What escaped to the process: uncaughtException / unhandledRejection. */
  escaped: string[];
}

/** Options that are a clock: a run with one is compared by the constructor's throw only. */
function isClock(option: string | null): boolean {
  return option === 'handshakeTimeout' || option === 'closeTimeout';
}

/**
 * Makes `sock` (a server's side of a connection) echo what it gets (text stays text), log its errors, and count in
 * `closing` until its 'close'.
 */
function echo(sock: Any, log: Log, closing: Promise<unknown>[]): void {
  sock.on('message', (d: Buffer, binary: boolean) => sock.send(d, { binary }));
  sock.on('error', (e: Error) => log(`server-error:${describeError(e)}`));
  closing.push(first(sock, ['close']));
}

/** An echo server of `impl` on 127.0.0.1, and `stop()`, which resolves once it and its connections are closed. */
async function echoServer(impl: Impl, log: Log): Promise<{ port: number; stop(): Promise<void> }> {
  const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0 });
  const closing: Promise<unknown>[] = [];
  wss.on('connection', (sock: Any) => echo(sock, log, closing));
  await once(wss, 'listening');
  const stop = async (): Promise<void> => {
    for (const c of wss.clients ?? []) c.terminate();
    await Promise.all(closing);
    await new Promise((resolve) => wss.close(resolve));
  };
  return { port: (wss.address() as AddressInfo).port, stop };
}

/** Records what a client emits. */
function watch(c: Any, log: Log): void {
  c.on('open', () => log('open'));
  c.on('message', (d: unknown, b: boolean) => log(`message:${b}:${show(d)}`));
  c.on('ping', (d: Buffer) => log(`ping:${show(d)}`));
  c.on('pong', (d: Buffer) => log(`pong:${show(d)}`));
  c.on('error', (e: Error) => log(`error:${describeError(e)}`));
  c.on('close', (code: number, reason: Buffer) => log(`close:${code}:${String(reason)}`));
}

/** Resolves when `emitter` emits one of `events`. */
function first(emitter: Any, events: string[]): Promise<string> {
  return new Promise((resolve) => {
    const handlers = events.map((e) => {
      const f = (): void => {
        for (const [i, n] of events.entries()) emitter.off(n, handlers[i]);
        resolve(e);
      };
      emitter.on(e, f);
      return f;
    });
  });
}

/**
 * After the call: if the client is open, resume it, send a text and a binary message and wait for both echoes,
 * then close with 1000; in any case wait for 'close'.
 */
async function probe(c: Any): Promise<void> {
  if (c.readyState === 3) return;
  const closed = first(c, ['close']);
  if (c.readyState === 1) {
    try {
      c.resume();
    } catch {}
    let n = 0;
    const echoes = new Promise<void>((resolve) => {
      const f = (): void => {
        if (++n === 2) {
          c.off('message', f);
          resolve();
        }
      };
      c.on('message', f);
    });
    c.send('probe');
    c.send(Buffer.from([9, 8]), { binary: true });
    await Promise.race([echoes, closed]);
    if (c.readyState === 1) c.close(1000, 'done');
  }
  await closed;
}

/** Runs `f` with uncaughtException / unhandledRejection recorded (and kept from ending the process). */
async function guarded(escaped: string[], f: () => Promise<void>): Promise<void> {
  const onError = (e: unknown): void => {
    escaped.push(`uncaught:${describeError(e)}`);
  };
  const onRejection = (e: unknown): void => {
    escaped.push(`unhandled:${describeError(e)}`);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onRejection);
  try {
    await f();
    // A turn for what the run left queued (a rejected Promise is reported after microtasks).
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onRejection);
  }
}

/** Node's inspection of a Promise (in an error's message) shows its async ids, which differ from run to run. */
function normalise(e: string): string {
  return e.replace(/\[Symbol\((trigger_)?async_id_symbol\)\]: \d+/g, '[$1async id]');
}

function call(log: Log, f: () => unknown): { ok: boolean; value?: unknown; result: string } {
  try {
    const value = f();
    return { ok: true, value, result: `returned:${show(value)}` };
  } catch (e) {
    log(`threw:${describeError(e)}`);
    return { ok: false, result: normalise(`threw:${describeError(e)}`) };
  }
}

export async function run(s: Script, impl: Impl): Promise<Trace> {
  const events: string[] = [];
  const escaped: string[] = [];
  const log: Log = (e) => {
    events.push(normalise(e));
  };
  const v = (i: number): unknown => POOL[i]!.make(log);
  let result = '';
  await guarded(escaped, async () => {
    if (s.k === 'method' || s.k === 'stream-option') {
      const { port, stop } = await echoServer(impl, log);
      const c = new impl.WebSocket(`ws://127.0.0.1:${port}/`);
      await once(c, 'open');
      watch(c, log);
      const args = s.k === 'method' ? s.args.map(v) : [];
      let duplex: Duplex | undefined;
      let r: ReturnType<typeof call>;
      if (s.k === 'stream-option') {
        r = call(log, () => impl.createWebSocketStream(c, { [s.option]: v(s.value) }));
        duplex = r.ok ? (r.value as Duplex) : undefined;
      } else if (s.method.endsWith('=')) {
        const prop = s.method.slice(0, -1);
        r = call(log, () => {
          c[prop] = args[0];
          return c[prop];
        });
        if (prop.startsWith('on')) r.result = `${r.result}:${show(c[prop])}`;
      } else if (s.method === 'createWebSocketStream') {
        r = call(log, () => impl.createWebSocketStream(c, args[0]));
        duplex = r.ok ? (r.value as Duplex) : undefined;
      } else r = call(log, () => c[s.method](...args));
      // on/once/off return the socket itself
      if (r.ok && r.value === c) r.result = 'returned:this';
      result = r.result;
      if (duplex) {
        duplex.on('error', (e) => log(`duplex-error:${describeError(e)}`));
        duplex.on('data', (d) => log(`duplex-data:${show(d)}`));
      }
      await probe(c);
      duplex?.destroy();
      await stop();
      return;
    }
    if (s.k === 'client') {
      const { port, stop } = await echoServer(impl, log);
      const options = s.options === null ? undefined : s.option ? { [s.option]: v(s.options) } : v(s.options);
      const url = `ws://127.0.0.1:${port}/`;
      const r = call(log, () =>
        s.protocols === null ? new impl.WebSocket(url, options) : new impl.WebSocket(url, v(s.protocols), options),
      );
      result = r.ok ? 'returned:WebSocket' : r.result;
      if (r.ok) {
        const c = r.value as Any;
        watch(c, log);
        if (isClock(s.option)) {
          c.terminate();
          await first(c, ['close']);
        } else {
          const opened = await first(c, ['open', 'close']);
          if (opened === 'open') log(`protocol:${JSON.stringify(c.protocol)}:${JSON.stringify(c.extensions)}`);
          await probe(c);
        }
      }
      await stop();
      return;
    }
    if (s.k === 'server') {
      const options = s.option ? { noServer: true, [s.option]: v(s.options) } : v(s.options);
      const r = call(log, () => new impl.WebSocketServer(options));
      result = r.ok ? 'returned:WebSocketServer' : r.result;
      if (!r.ok) return;
      const wss = r.value as Any;
      wss.on('error', (e: Error) => log(`wss-error:${describeError(e)}`));
      if (!wss.options.noServer || isClock(s.option)) {
        await new Promise((resolve) => wss.close(resolve));
        return;
      }
      const closing: Promise<unknown>[] = [];
      wss.on('connection', (sock: Any) => {
        log('connection');
        echo(sock, log, closing);
      });
      const server = http.createServer();
      server.on('upgrade', (req, socket: Duplex, head) => {
        try {
          wss.handleUpgrade(req, socket, head, (w: Any) => wss.emit('connection', w, req));
        } catch (e) {
          log(`handleUpgrade-threw:${describeError(e)}`);
          socket.destroy();
        }
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const c = new impl.WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, ['a']);
      watch(c, log);
      if ((await first(c, ['open', 'close'])) === 'open') log(`protocol:${JSON.stringify(c.protocol)}`);
      await probe(c);
      for (const w of wss.clients ?? []) w.terminate();
      await Promise.all(closing);
      await new Promise((resolve) => wss.close(resolve));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      return;
    }
    // server-method
    const wss = new impl.WebSocketServer({ noServer: true, ...(s.path ? { path: '/p' } : {}) });
    const arg = v(s.arg);
    const r = call(log, () => wss[s.method](arg));
    result = r.result;
    if (s.method !== 'close') await new Promise((resolve) => wss.close(resolve));
    else if (!r.ok || typeof arg !== 'function') await new Promise((resolve) => wss.close(resolve));
    else await new Promise((resolve) => setImmediate(resolve));
  });
  return { result, events, escaped };
}
