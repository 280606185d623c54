/**
 * A seeded random differential tester of ws-stream/ws against the real `ws` package.
 *
 * `generate(seed)` makes a script of API calls on a client/server pair: sends of every kind of
 * data ws takes (with `binary`, `compress`, `fin: false` fragments), pings and pongs (also over 125
 * bytes), `close` with valid and invalid codes and reasons, `terminate`, `pause`/`resume`,
 * `binaryType` changes, calls after the close and while CONNECTING, listener variants (`on`,
 * `once`, `addEventListener`, `onmessage`…, removed ones), server options (permessage-deflate,
 * small `maxPayload`, `autoPong: false`, `skipUTF8Validation`, `clientTracking`,
 * `allowSynchronousEvents`), and the peer writing raw frames to its socket (invalid UTF-8, control
 * frames, protocol errors) or destroying it.
 *
 * `run(script, serverImpl, clientImpl)` plays it on real sockets and returns a normalised trace:
 * per endpoint the events in order (message data as hex and isBinary, close code and reason, error
 * class/code/message), what each call returned or threw with the readyState after it, each
 * callback's result (in the order they came), and the state at the end. No timer: a batch of calls
 * on one side is followed by a marker message, and the next batch waits until the other side has
 * received it (or both have closed), so what each side saw does not depend on timing.
 *
 * What doc/ws-compat.md lists under "What differs" is kept out of the trace (see `normalise…`
 * comments); anything else that differs between the runs is a divergence to explain.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  binary as binaryFrame,
  closeFrame,
  cont,
  frame,
  ping as pingFrame,
  pong as pongFrame,
  text,
} from '../support/frames.js';
import { random } from '../support/random.js';
import type { Impl } from './support.js';

type Side = 'c' | 's';
// biome-ignore lint/suspicious/noExplicitAny: both implementations of ws's API
type Ws = any;

/** How a side records its events. */
type Listen = 'on' | 'once' | 'event' | 'attr';

/** A value made fresh for each run (a Buffer an implementation might change must not leak between runs). */
type Make = () => unknown;

type Action =
  | { k: 'send'; data: Make; desc: string; opts?: Record<string, unknown>; cb: boolean }
  | { k: 'ping' | 'pong'; data: Make | undefined; desc: string; cb: boolean }
  | { k: 'close'; code: unknown; reason: Make | undefined; desc: string }
  | { k: 'terminate' }
  | { k: 'destroy' }
  | { k: 'raw'; bytes: Buffer; desc: string }
  | { k: 'binaryType'; value: string }
  | { k: 'probe' }
  | { k: 'unlisten' }
  /** On the next message (not a marker), from its listener: answer it, ping, or close. */
  | { k: 'react'; what: 'echo' | 'ping' | 'close' | 'pause-resume' };

interface Batch {
  side: Side;
  actions: Action[];
  /** The other side is paused while this batch is sent, and resumed after (at once, or a turn later). */
  pauseOther?: 'same-turn' | 'next-turn';
}

export interface Script {
  seed: number;
  server: Record<string, unknown>;
  client: Record<string, unknown>;
  listen: Record<Side, Listen>;
  /** Calls made on the client in the turn it is made (CONNECTING). */
  connecting: Action[];
  batches: Batch[];
  /** What ends the connection, if the batches did not. */
  end: { side: Side; action: Action; then: Action[] };
  /** Calls on each side once both have closed. */
  after: Action[];
}

// ------------------------------------------------------------------ the generator

const MARK = '\u0001wsdiff-sync:';

export function generate(seed: number): Script {
  const r = random(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  const chance = (p: number): boolean => r() < p;
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const size = (): number => pick([0, 1, 3, 10, 50, 125, 126, 127, 200, 1000, 3000, 65536, 70000]);
  const str = (n: number): string => {
    const chars = ['a', 'z', ' ', '~', 'é', '€', '😀', '\u0000', 'ß', '中'];
    const parts: string[] = [];
    for (let bytes = 0; bytes < n; ) {
      const c = pick(chars);
      parts.push(c);
      bytes += Buffer.byteLength(c);
    }
    return parts.join('');
  };

  const deflate = chance(0.4);
  const server: Record<string, unknown> = {};
  const client: Record<string, unknown> = {};
  if (deflate)
    server.perMessageDeflate = pick([true, { threshold: 0 }, { serverNoContextTakeover: true }, { threshold: 50 }]);
  if (!deflate || chance(0.2)) client.perMessageDeflate = chance(0.5) ? false : undefined;
  if (chance(0.2)) server.maxPayload = pick([40, 130, 1000]);
  if (chance(0.2)) client.maxPayload = pick([40, 130, 1000]);
  if (chance(0.2)) server.autoPong = false;
  if (chance(0.2)) client.autoPong = false;
  if (chance(0.2)) server.skipUTF8Validation = true;
  if (chance(0.2)) client.skipUTF8Validation = true;
  if (chance(0.15)) server.clientTracking = false;
  if (chance(0.15)) {
    server.allowSynchronousEvents = false;
    client.allowSynchronousEvents = false;
  }
  for (const o of [server, client]) for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];

  const data = (): { data: Make; desc: string } => {
    const kind = pick([
      'str',
      'str',
      'buf',
      'buf',
      'ab',
      'u8sub',
      'u16',
      'dv',
      'blob',
      'num',
      'obj',
      'arr',
      'empty-str',
      'empty-buf',
      'null',
      'undefined',
      'false',
      'true',
      'bad-utf8',
    ]);
    const n = size();
    switch (kind) {
      case 'str': {
        const s = str(n);
        return { data: () => s, desc: `str(${Buffer.byteLength(s)})` };
      }
      case 'buf': {
        const b = bytes(n);
        return { data: () => Buffer.from(b), desc: `buf(${n})` };
      }
      case 'ab': {
        const b = bytes(n);
        return { data: () => Uint8Array.from(b).buffer, desc: `ab(${n})` };
      }
      case 'u8sub': {
        const b = bytes(n + 7);
        return { data: () => Uint8Array.from(b).subarray(3, 3 + n), desc: `u8sub(${n})` };
      }
      case 'u16': {
        const b = bytes(n * 2 + 4);
        return { data: () => new Uint16Array(Uint8Array.from(b).buffer, 2, n), desc: `u16(${n})` };
      }
      case 'dv': {
        const b = bytes(n + 4);
        return { data: () => new DataView(Uint8Array.from(b).buffer, 1, n), desc: `dv(${n})` };
      }
      case 'blob': {
        const b = bytes(n);
        return { data: () => new Blob([Uint8Array.from(b)]), desc: `blob(${n})` };
      }
      case 'num': {
        const v = pick([0, 1, -1.5, 1e21, Number.NaN, 42]);
        return { data: () => v, desc: `num(${v})` };
      }
      case 'obj':
        return { data: () => ({ a: 1 }), desc: 'obj' };
      case 'arr':
        return { data: () => [1, 2, 300, -1], desc: 'arr' };
      case 'empty-str':
        return { data: () => '', desc: "''" };
      case 'empty-buf':
        return { data: () => Buffer.alloc(0), desc: 'buf(0)' };
      case 'null':
        return { data: () => null, desc: 'null' };
      case 'undefined':
        return { data: () => undefined, desc: 'undefined' };
      case 'false':
        return { data: () => false, desc: 'false' };
      case 'true':
        return { data: () => true, desc: 'true' };
      default:
        return { data: () => Buffer.from([0x61, 0xff, 0xfe, 0x62]), desc: 'bad-utf8' };
    }
  };

  /** Data a send takes (a fragment that throws would leave the message open, and the marker in it). */
  const fragmentData = (): { data: Make; desc: string } => {
    for (;;) {
      const d = data();
      if (!['obj', 'true'].includes(d.desc) && !d.desc.startsWith('num')) return d;
    }
  };

  const sendOpts = (): Record<string, unknown> | undefined => {
    if (chance(0.4)) return undefined;
    const o: Record<string, unknown> = {};
    if (chance(0.5)) o.binary = chance(0.5);
    if (chance(0.3)) o.compress = chance(0.5);
    return o;
  };

  const controlData = (): { data: Make | undefined; desc: string } => {
    const k = int(8);
    if (k === 0) return { data: undefined, desc: 'none' };
    if (k === 1) {
      const s = str(pick([1, 20, 125]));
      return { data: () => s, desc: `str(${Buffer.byteLength(s)})` };
    }
    if (k === 2) return { data: () => Buffer.alloc(126, 1), desc: 'buf(126)' };
    if (k === 3) return { data: () => 7, desc: 'num(7)' };
    if (k === 4) {
      const b = bytes(pick([0, 5, 125]));
      return { data: () => new Blob([Uint8Array.from(b)]), desc: `blob(${b.length})` };
    }
    if (k === 5) return { data: () => 'x'.repeat(126), desc: 'str(126)' };
    const b = bytes(pick([0, 1, 125]));
    return { data: () => Buffer.from(b), desc: `buf(${b.length})` };
  };

  const closeArgs = (valid: boolean): { code: unknown; reason: Make | undefined; desc: string } => {
    let code: unknown;
    let reasons: [Make | undefined, string][];
    if (valid) {
      code = pick([undefined, 1000, 1001, 1003, 1011, 1014, 3000, 4999, 3004.5]);
      reasons = [
        [undefined, 'none'],
        [() => '', "''"],
        [() => 'bye', 'bye'],
        [() => 'r'.repeat(123), 'str(123)'],
        [() => Buffer.from('buf-reason'), 'buf'],
        [() => 5, 'num(5)'],
      ];
    } else if (chance(0.5)) {
      // Not 1005.5 and the like: ws sends 1005 (doc/ws-compat.md, What differs: "A close code with a fraction").
      code = pick([999, 1004, 1005, 1006, 1015, 5000, 2999, '1000', Number.NaN, 999.5]);
      reasons = [
        [undefined, 'none'],
        [() => 'bye', 'bye'],
      ];
    } else {
      code = pick([1000, 4000]);
      reasons = [
        [() => 'r'.repeat(124), 'str(124)'],
        [() => 'é'.repeat(62), 'é×62'],
      ];
    }
    const [reason, rd] = pick(reasons);
    return { code, reason, desc: `close(${String(code)}, ${rd})` };
  };

  /** Raw frames the side writes to its own socket: the peer sees them as this side's. */
  const raw = (side: Side): { bytes: Buffer; desc: string; fatal: boolean } => {
    const mask = side === 'c';
    const o = { mask };
    const cases: [string, () => Buffer, boolean][] = [
      ['text bad utf8', () => text(Buffer.from([0x61, 0xc3, 0x28]), o), true],
      ['ping', () => pingFrame('raw-ping', o), false],
      ['pong unsolicited', () => pongFrame('raw-pong', o), false],
      ['text', () => text('raw text', o), false],
      ['binary', () => binaryFrame(Buffer.from([1, 2, 3]), o), false],
      [
        'fragmented text + ping between',
        () => Buffer.concat([text('frag-', { ...o, fin: false }), pingFrame('mid', o), cont('ment', o)]),
        false,
      ],
      [
        'fragmented text split utf8',
        () => Buffer.concat([text(Buffer.from([0xe2, 0x82]), { ...o, fin: false }), cont(Buffer.from([0xac]), o)]),
        false,
      ],
      ['close 1005 on the wire', () => closeFrame(1005, '', o), true],
      ['close 999', () => closeFrame(999, '', o), true],
      ['close 5000', () => closeFrame(5000, '', o), true],
      ['close 1-byte payload', () => frame({ opcode: 8, payload: Buffer.from([3]), ...o }), true],
      ['close bad utf8 reason', () => closeFrame(1000, Buffer.from([0xff]), o), true],
      // A close frame behind its WebSocket's back: whether that side's own answer goes before the
      // peer's end arrives (wasClean) is a race (see wasClean below).
      ['close 4000 ok', () => closeFrame(4000, 'raw close', o), true],
      ['reserved opcode 3', () => frame({ opcode: 3, payload: 'x', ...o }), true],
      ['reserved opcode 11', () => frame({ opcode: 11, payload: 'x', ...o }), true],
      ['rsv2', () => frame({ opcode: 1, payload: 'x', rsv: 2, ...o }), true],
      ['rsv1 on ping', () => frame({ opcode: 9, payload: 'x', rsv: 4, ...o }), true],
      ['fragmented ping', () => frame({ opcode: 9, payload: 'x', fin: false, ...o }), true],
      ['ping 126', () => frame({ opcode: 9, payload: Buffer.alloc(126), lengthForm: 16, ...o }), true],
      ['continuation first', () => cont('x', o), true],
      ['text inside fragmented', () => Buffer.concat([text('a', { ...o, fin: false }), text('b', o)]), true],
      ['wrong mask', () => text('x', { mask: !mask }), true],
    ];
    const [desc, make, fatal] = pick(cases);
    return { bytes: make(), desc, fatal };
  };

  const listenKinds: Listen[] = ['on', 'on', 'once', 'event', 'attr'];
  const listen = { c: pick(listenKinds), s: pick(listenKinds) };

  const connecting: Action[] = [];
  let abortConnecting = false;
  if (chance(0.12)) {
    for (let i = int(3) + 1; i > 0; i--) {
      const k = int(6);
      if (k === 0) connecting.push({ k: 'send', ...data(), cb: chance(0.5) });
      else if (k === 1) connecting.push({ k: chance(0.5) ? 'ping' : 'pong', ...controlData(), cb: chance(0.5) });
      else if (k === 2) connecting.push({ k: 'binaryType', value: pick(['arraybuffer', 'blob', 'bogus']) });
      else if (k === 3) connecting.push({ k: 'probe' });
      else if (k === 4 && chance(0.3)) {
        connecting.push(chance(0.5) ? { k: 'close', ...closeArgs(chance(0.7)) } : { k: 'terminate' });
        abortConnecting = true;
        break;
      }
    }
  }

  const batches: Batch[] = [];
  let ended = abortConnecting;
  const nBatches = abortConnecting ? 0 : int(6) + 1;
  for (let b = 0; b < nBatches && !ended; b++) {
    const side: Side = chance(0.5) ? 'c' : 's';
    const actions: Action[] = [];
    const batch: Batch = { side, actions };
    if (chance(0.12)) {
      const x = raw(side);
      actions.push({ k: 'raw', bytes: x.bytes, desc: x.desc });
      batches.push(batch);
      if (x.fatal) ended = true;
      continue;
    }
    if (chance(0.15)) batch.pauseOther = chance(0.5) ? 'same-turn' : 'next-turn';
    for (let i = int(6) + 1; i > 0; i--) {
      const k = int(20);
      if (k < 8) actions.push({ k: 'send', ...data(), opts: sendOpts(), cb: chance(0.6) });
      else if (k < 10) {
        // A fragmented message: fin false, then more, the last one with fin true (or no options).
        const parts = int(3) + 1;
        const bin = chance(0.5);
        for (let p = 0; p < parts; p++) {
          const d = fragmentData();
          actions.push({ k: 'send', ...d, opts: { binary: bin, fin: false }, cb: chance(0.5) });
        }
        const d = fragmentData();
        actions.push({ k: 'send', ...d, opts: chance(0.5) ? { fin: true } : undefined, cb: chance(0.5) });
      } else if (k < 13) actions.push({ k: chance(0.5) ? 'ping' : 'pong', ...controlData(), cb: chance(0.6) });
      else if (k < 14)
        actions.push({ k: 'binaryType', value: pick(['nodebuffer', 'arraybuffer', 'fragments', 'blob', 'bogus']) });
      else if (k < 15)
        actions.push(
          chance(0.5) ? { k: 'probe' } : { k: 'react', what: pick(['echo', 'ping', 'close', 'pause-resume'] as const) },
        );
      else if (k < 16) actions.push({ k: 'unlisten' });
      else if (k < 18)
        actions.push({ k: 'close', ...closeArgs(false) }); // throws, changes nothing
      else if (k < 19 && batch.pauseOther === undefined && chance(0.3)) {
        // The end, within the batch: what follows in the same turn meets a closing WebSocket.
        // Not `_socket.destroy()` here: see the end.
        actions.push(pick<Action>([{ k: 'close', ...closeArgs(true) }, { k: 'terminate' }]));
        ended = true;
        for (let j = int(3); j > 0; j--) actions.push({ k: 'send', ...data(), cb: true });
        break;
      }
    }
    batches.push(batch);
  }

  // The end comes in a turn of its own, after the other side received all that was sent: a
  // `_socket.destroy()` in the turn of sends loses them here (doc/ws-compat.md, What differs:
  // "Frames sent in the turn of a direct `_socket.destroy()`").
  const endSide: Side = chance(0.5) ? 'c' : 's';
  const endAction = pick<Action>([
    { k: 'close', ...closeArgs(true) },
    { k: 'close', ...closeArgs(true) },
    { k: 'terminate' },
    { k: 'destroy' },
  ]);
  const then: Action[] = [];
  for (let j = int(3); j > 0; j--)
    then.push(chance(0.7) ? { k: 'send', ...data(), cb: true } : { k: 'ping', ...controlData(), cb: true });
  const after: Action[] = [];
  for (let j = int(4); j > 0; j--) {
    const k = int(5);
    if (k === 0) after.push({ k: 'send', ...data(), cb: chance(0.7) });
    else if (k === 1) after.push({ k: chance(0.5) ? 'ping' : 'pong', ...controlData(), cb: chance(0.7) });
    else if (k === 2) after.push({ k: 'close', ...closeArgs(chance(0.5)) });
    else if (k === 3) after.push({ k: 'terminate' });
    else after.push({ k: 'probe' });
  }

  return {
    seed,
    server,
    client,
    listen,
    connecting,
    batches,
    end: { side: endSide, action: endAction, then },
    after,
  };
}

// ------------------------------------------------------------------ the runner

/** What one endpoint did and saw. */
interface Endpoint {
  ws: Ws;
  /** Events in the order they came. */
  events: string[];
  /** Each call's result. */
  calls: string[];
  /** Callback results, in the order they came: the call's number, the result. */
  callbacks: [number, string][];
  /**
   * Calls whose callbacks raced the peer's failure of the connection (the batch's marker never
   * arrived): a frame still being compressed, or not yet written, when the peer's close came gets an
   * error, one written just before it null, on both. Only that each was called once is compared.
   */
  racy: Set<number>;
  /** What the reactions from a listener did (`react`), and the calls whose callbacks they made. */
  reactions: string[];
  reacted: Set<number>;
  /** Events that raced the peer's `terminate()` or `_socket.destroy()` (see `cut`). */
  cutFrom: number;
  /** The recording 'message' listener (`on`/`once`), for `unlisten`. */
  listener: ((...a: unknown[]) => void) | null;
  /** Callbacks not yet called. */
  pending: number;
  markers: number;
  /** How many events were recorded when the last marker came. */
  markerAt: number;
  /** It emitted 'error' (it failed the connection). */
  failed: boolean;
  closed: boolean;
  /** Blob reads that fill in event entries. */
  reads: Promise<void>[];
  /** Data given to send/ping/pong, with their bytes then: an implementation must not change them. */
  given: [unknown, string][];
}

export interface Trace {
  c: { reactions: string[]; events: string[]; calls: string[]; callbacks: string[]; end: string };
  s: { reactions: string[]; events: string[]; calls: string[]; callbacks: string[]; end: string } | null;
  server: string;
}

export function hex(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length <= 48) return buf.toString('hex');
  return `${buf.length}:${createHash('sha1').update(buf).digest('hex').slice(0, 16)}`;
}

export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `non-error:${String(e)}`;
  return `${e.constructor.name}:${(e as { code?: string }).code ?? ''}:${e.message}`;
}

function bytesOf(v: unknown): string | null {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return hex(v);
  if (ArrayBuffer.isView(v)) return hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  if (v instanceof ArrayBuffer) return hex(new Uint8Array(v));
  return null;
}

class Waiter {
  private waiters: (() => void)[] = [];
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  until(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (cond()) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }
}

/** A received message as a string for the trace, whatever binaryType made of it. */
function describeData(ep: Endpoint, data: unknown, prefix: string): string {
  if (typeof data === 'string')
    return `${prefix}string:${JSON.stringify(data.length > 48 ? hex(Buffer.from(data)) : data)}`;
  if (Buffer.isBuffer(data)) return `${prefix}buffer:${hex(data)}`;
  if (data instanceof ArrayBuffer) return `${prefix}arraybuffer:${hex(new Uint8Array(data))}`;
  // binaryType 'fragments': ws gives one Buffer per frame, ws-stream/ws one for the message
  // (doc/ws-compat.md, What differs: "`binaryType = 'fragments'`"): compared as their concatenation.
  if (Array.isArray(data)) return `${prefix}fragments:${hex(Buffer.concat(data as Buffer[]))}`;
  if (data instanceof Blob) {
    const i = ep.events.length;
    ep.reads.push(
      data.arrayBuffer().then((ab) => {
        ep.events[i] = `${prefix}blob:${hex(new Uint8Array(ab))}`;
      }),
    );
    return `${prefix}blob:?`;
  }
  return `${prefix}other:${typeof data}`;
}

/**
 * A text message that is not UTF-8 and too big, or followed by a fragment that makes it too big:
 * the core checks UTF-8 as the fragments come and fails with 1007 first, ws checks it once the
 * message is whole and fails with 1009 first (doc/ws-compat.md, What differs: "A text message
 * that is not UTF-8"). With a `maxPayload` in the script, the two are one.
 */
function utf8OrSize(s: string): string {
  return s
    .replace(/RangeError:WS_ERR_UNSUPPORTED_MESSAGE_LENGTH:Max payload size exceeded/, 'utf8-or-size')
    .replace(/Error:WS_ERR_INVALID_UTF8:Invalid WebSocket frame: invalid UTF-8 sequence/, 'utf8-or-size')
    .replace(
      /^(ev-error|on-error):(Max payload size exceeded|Invalid WebSocket frame: invalid UTF-8 sequence):/,
      '$1:utf8-or-size:',
    )
    .replace(/^((?:ev-|on-)?close):(1007|1009):/, '$1:1007-or-1009:');
}

function attach(ep: Endpoint, how: Listen, waiter: Waiter, isClient: boolean, sizeLimit: boolean): void {
  const ws = ep.ws;
  const log = (s: string): void => {
    ep.events.push(sizeLimit ? utf8OrSize(s) : s);
    waiter.wake();
  };
  // The tester's own listeners: markers, the close, and an 'error' listener (ws throws without one).
  ws.on('message', (data: unknown, isBinary: boolean) => {
    if (!isBinary) {
      const s = Buffer.isBuffer(data) ? data.toString() : Array.isArray(data) ? Buffer.concat(data).toString() : '';
      if (s.startsWith(MARK)) {
        ep.markers++;
        ep.markerAt = ep.events.length;
      }
    }
    waiter.wake();
  });
  ws.on('error', () => {
    ep.failed = true;
  });
  ws.on('close', () => {
    ep.closed = true;
    waiter.wake();
  });
  ws.on('ping', (d: Buffer) => log(`ping:${hex(d)}`));
  ws.on('pong', (d: Buffer) => log(`pong:${hex(d)}`));
  switch (how) {
    case 'on':
    case 'once': {
      const on = how === 'on' ? ws.on.bind(ws) : ws.once.bind(ws);
      if (isClient) on('open', () => log('open'));
      ep.listener = (data: unknown, isBinary: unknown) => log(describeData(ep, data, `message:${isBinary}:`));
      on('message', ep.listener);
      on('close', (code: number, reason: Buffer) => log(`close:${code}:${hex(reason)}`));
      on('error', (e: Error) => log(`error:${describeError(e)}`));
      break;
    }
    case 'event': {
      const add = (type: string, f: (e: Ws) => void): void => ws.addEventListener(type, f);
      if (isClient) add('open', (e) => log(`ev-open:${e.type}:${e.target === ws}`));
      add('message', (e) => log(describeData(ep, e.data, `ev-message:${e.type}:`)));
      add('close', (e) => log(`ev-close:${e.code}:${JSON.stringify(e.reason)}:${wasClean(e)}`));
      add('error', (e) => log(`ev-error:${e.message}:${describeError(e.error)}`));
      break;
    }
    case 'attr': {
      if (isClient) ws.onopen = (e: Ws) => log(`on-open:${e.type}`);
      ws.onmessage = (e: Ws) => log(describeData(ep, e.data, 'on-message:'));
      ws.onclose = (e: Ws) => log(`on-close:${e.code}:${JSON.stringify(e.reason)}:${wasClean(e)}`);
      ws.onerror = (e: Ws) => log(`on-error:${e.message}:${describeError(e.error)}`);
      break;
    }
  }
}

/**
 * The run has a close that may cross data in flight the other way (a close frame written to the
 * socket behind its WebSocket's back, a close from a listener while the peer is still sending):
 * whether each side's answer was written before the other's end arrived is then a race, in ws too.
 */
const closeRace = { now: false };

/**
 * CloseEvent's wasClean. Not for the close frame of a peer that failed the connection (1002, 1007,
 * 1009): that peer sends it and ends the socket, and whether a ws endpoint's answer went before it
 * saw the end (clean) depends on how the two reached it (doc/ws-compat.md, What differs: "`wasClean`
 * after the peer failed the connection").
 */
function wasClean(e: { code: number; wasClean: boolean }): string {
  if (closeRace.now) return '-';
  return e.code === 1002 || e.code === 1007 || e.code === 1009 ? '-' : String(e.wasClean);
}

/** Takes away the recording message listener of `how`, as an application would. */
function unlisten(ep: Endpoint, how: Listen): string {
  const ws = ep.ws;
  if (how === 'attr') {
    ws.onmessage = null;
    return `onmessage=${ws.onmessage}`;
  }
  if (how === 'event') {
    // Not the function that was added: removing it must change nothing.
    ws.removeEventListener('message', () => {});
    return 'removed a stranger';
  }
  ws.removeListener('message', ep.listener);
  return `message listeners ${ws.listenerCount('message')}`;
}

function probe(ws: Ws): string {
  return `rs=${ws.readyState} protocol=${JSON.stringify(ws.protocol)} ext=${JSON.stringify(ws.extensions)} paused=${ws.isPaused} bt=${ws.binaryType}`;
}

function act(ep: Endpoint, action: Action, how: Listen, waiter: Waiter, closedAtCall: boolean): void {
  const ws = ep.ws;
  const n = ep.calls.length;
  // A call that throws takes no callback: it is not waited for (and marked if it comes anyway).
  let threw = false;
  const callback = (): ((err?: Error | null) => void) => {
    ep.pending++;
    let calls = 0;
    return (err) => {
      calls++;
      if (!threw) ep.pending--;
      ep.callbacks.push([
        n,
        `${calls > 1 ? ` (call ${calls})` : ''}${threw ? ' (call threw)' : ''}:${err == null ? String(err) : describeError(err)}${ep.closed && !closedAtCall ? ' after close' : ''}`,
      ]);
      waiter.wake();
    };
  };
  const keep = (v: unknown): unknown => {
    const b = bytesOf(v);
    if (b !== null) ep.given.push([v, b]);
    return v;
  };
  let what = '';
  let out: string;
  // After the close, a call's bytes count in bufferedAmount (as in ws); what was still queued when the
  // socket went counts differently (doc/ws-compat.md, What differs: "`bufferedAmount`"): the change is compared.
  const before = ws.readyState >= 2 ? ws.bufferedAmount : null;
  try {
    switch (action.k) {
      case 'send': {
        what = `send(${action.desc}, ${JSON.stringify(action.opts)})`;
        const d = keep(action.data());
        if (action.opts === undefined) action.cb ? ws.send(d, callback()) : ws.send(d);
        else action.cb ? ws.send(d, action.opts, callback()) : ws.send(d, action.opts);
        break;
      }
      case 'ping':
      case 'pong': {
        what = `${action.k}(${action.desc})`;
        const d = action.data === undefined ? undefined : keep(action.data());
        if (action.cb) {
          if (d === undefined) ws[action.k](callback());
          else ws[action.k](d, undefined, callback());
        } else if (d === undefined) ws[action.k]();
        else ws[action.k](d);
        break;
      }
      case 'close':
        what = action.desc;
        if (action.code === undefined) ws.close();
        else if (action.reason === undefined) ws.close(action.code);
        else ws.close(action.code, action.reason());
        break;
      case 'terminate':
        what = 'terminate()';
        ws.terminate();
        break;
      case 'destroy':
        what = '_socket.destroy()';
        ws._socket.destroy();
        break;
      case 'raw':
        what = `raw(${action.desc})`;
        if (action.bytes[0]! === 0x88) closeRace.now = true;
        ws._socket.write(action.bytes);
        break;
      case 'binaryType':
        what = `binaryType=${action.value}`;
        ws.binaryType = action.value;
        break;
      case 'probe':
        what = 'probe';
        break;
      case 'unlisten':
        what = `unlisten: ${unlisten(ep, how)}`;
        break;
      case 'react': {
        what = `react(${action.what})`;
        const react = (data: unknown, isBinary: boolean): void => {
          if (!isBinary && Buffer.isBuffer(data) && data.toString().startsWith(MARK)) return;
          ws.off('message', react);
          ep.reacted.add(n);
          try {
            // 'fragments' data as one Buffer (doc/ws-compat.md, What differs: "`binaryType = 'fragments'`").
            const echo = Array.isArray(data) ? Buffer.concat(data) : data;
            if (action.what === 'echo') ws.send(echo, { binary: isBinary }, callback());
            else if (action.what === 'ping') ws.ping('re', undefined, callback());
            else if (action.what === 'close') {
              closeRace.now = true;
              ws.close(4001, 'from a listener');
            } else {
              ws.pause();
              ws.resume();
            }
            ep.reactions.push(`#${n} reacted; ${probe(ws)}`);
          } catch (e) {
            ep.reactions.push(`#${n} reacting threw ${describeError(e)}`);
          }
        };
        ws.on('message', react);
        break;
      }
    }
    out = 'ok';
  } catch (e) {
    out = `throw ${describeError(e)}`;
    if (!threw && (action.k === 'send' || action.k === 'ping' || action.k === 'pong') && action.cb) ep.pending--;
    threw = true;
  }
  const buffered = before === null || ws.readyState < 2 ? '' : ` buffered+${ws.bufferedAmount - before}`;
  ep.calls.push(`#${n} ${what} -> ${out}; ${probe(ws)}${buffered}`);
}

function endpoint(ws: Ws): Endpoint {
  return {
    ws,
    events: [],
    calls: [],
    callbacks: [],
    racy: new Set(),
    reactions: [],
    reacted: new Set(),
    cutFrom: Number.POSITIVE_INFINITY,
    listener: null,
    pending: 0,
    markers: 0,
    markerAt: 0,
    failed: false,
    closed: false,
    reads: [],
    given: [],
  };
}

function endState(ep: Endpoint): string {
  const changed = ep.given.filter(([v, b]) => bytesOf(v) !== b).length;
  return `${probe(ep.ws)} given-changed=${changed}`;
}

/** The endpoints of the run in progress (to see where a run that never ends stopped). */
export const current: { c: Endpoint | null; s: Endpoint | null; stage: string } = { c: null, s: null, stage: '' };

/**
 * The events `ep` records from now on raced its peer's `terminate()` or `_socket.destroy()`: which
 * messages of the peer's last turn arrive depends on how much of them the socket had taken (ws
 * writes each frame at once, the stream one write a turn: doc/ws-compat.md, What differs: "Several
 * sends in one turn are one write"), and an unfinished text message that is not UTF-8 fails here
 * as its bad bytes arrive, where ws, which checks a whole message, never sees it end (What differs:
 * "A text message that is not UTF-8"). Their messages and errors are not compared; 'close' is.
 */
function cutFrom(ep: Endpoint, from: number): void {
  ep.cutFrom = Math.min(ep.cutFrom, from);
}

/** Plays `script` with a server of `serverImpl` and a client of `clientImpl`. */
export async function run(script: Script, serverImpl: Impl, clientImpl: Impl): Promise<Trace> {
  const waiter = new Waiter();
  closeRace.now = false;
  const sizeLimit = 'maxPayload' in script.server || 'maxPayload' in script.client;
  const wss = new serverImpl.WebSocketServer({ host: '127.0.0.1', port: 0, ...script.server });
  await once(wss, 'listening');
  let s: Endpoint | null = null;
  wss.on('connection', (ws: Ws) => {
    s = endpoint(ws);
    current.s = s;
    attach(s, script.listen.s, waiter, false, sizeLimit);
    waiter.wake();
  });
  const client = new clientImpl.WebSocket(`ws://127.0.0.1:${wss.address().port}`, script.client);
  const c = endpoint(client);
  current.c = c;
  current.s = null;
  attach(c, script.listen.c, waiter, true, sizeLimit);
  for (const a of script.connecting) act(c, a, script.listen.c, waiter, false);

  const both = (): [Endpoint, Endpoint] => [c, s!];
  if (client.readyState !== 0 && client.readyState !== 1) {
    // Closed while connecting: the server never sees it.
    await waiter.until(() => c.closed && c.pending === 0);
  } else {
    await waiter.until(() => (s !== null && client.readyState === 1) || c.closed);
    if (c.closed) throw new Error(`seed ${script.seed}: the client did not open: ${c.events.join(' ')}`);
    const bothClosed = (): boolean => c.closed && s!.closed;
    let marker = 0;
    for (const batch of script.batches) {
      const [cc, ss] = both();
      const me = batch.side === 'c' ? cc : ss;
      const other = batch.side === 'c' ? ss : cc;
      const meHow = script.listen[batch.side];
      if (bothClosed()) break;
      current.stage = `batch ${marker}`;
      if (batch.pauseOther) other.ws.pause();
      const first = me.calls.length;
      const otherFrom = other.events.length;
      for (const a of batch.actions) act(me, a, meHow, waiter, false);
      const m = ++marker;
      const target = other.markers + 1;
      if (me.ws.readyState === 1) me.ws.send(`${MARK}${m}`);
      // The resume a turn later, or at once: what the other side sees must not depend on it.
      if (batch.pauseOther === 'next-turn') await new Promise((resolve) => setImmediate(resolve));
      if (batch.pauseOther) other.ws.resume();
      if (me.ws.readyState === 1) await waiter.until(() => other.markers >= target || bothClosed());
      else await waiter.until(bothClosed);
      if (other.markers < target) for (let i = first; i < me.calls.length; i++) me.racy.add(i);
      if (batch.actions.some((a) => a.k === 'terminate')) cutFrom(other, otherFrom);
      // And back: what the other side sent in answer (pongs) has arrived before the next step.
      if (other.markers >= target && other.ws.readyState === 1 && me.ws.readyState === 1) {
        const back = me.markers + 1;
        other.ws.send(`${MARK}back ${m}`);
        await waiter.until(() => me.markers >= back || bothClosed());
      }
      // One side is closing (a close from a listener): the next step waits for the end.
      if (me.ws.readyState !== 1 || other.ws.readyState !== 1) await waiter.until(bothClosed);
    }
    current.stage = 'end';
    if (!bothClosed()) {
      const me = script.end.side === 'c' ? c : s!;
      if (script.end.action.k === 'terminate' || script.end.action.k === 'destroy')
        cutFrom(me === c ? s! : c, (me === c ? s! : c).events.length);
      act(me, script.end.action, script.listen[script.end.side], waiter, false);
      for (const a of script.end.then) act(me, a, script.listen[script.end.side], waiter, false);
      await waiter.until(bothClosed);
    }
    current.stage = 'after';
    for (const ep of both()) for (const a of script.after) act(ep, a, 'on', waiter, true);
    await waiter.until(() => c.pending === 0 && s!.pending === 0);
  }
  for (const ep of s === null ? [c] : both()) await Promise.all(ep.reads);
  const clients = wss.clients === undefined ? 'untracked' : String(wss.clients.size);
  wss.close();
  await once(wss, 'close');
  // A frame that fails the connection while a compressed message before it is still being
  // inflated: the core fails at once, so a ping between them is emitted but not answered, where ws
  // reads no frame while it inflates and answers it first (doc/ws-compat.md, What differs: "A
  // failure behind a message being inflated"; the same with allowSynchronousEvents: false for a
  // ping behind events waiting for their turn). Then what a side received after the last marker
  // from a peer that failed (its pongs, and pings and messages its listeners sent) is not compared.
  const sEnd = s as Endpoint | null;
  const deflated = client.extensions !== '' || script.server.allowSynchronousEvents === false;
  // With allowSynchronousEvents: false a ping behind events still waiting for their turn is answered
  // in its turn, and when the peer's close frame (or a bad frame) came in the same chunk, the close
  // went first and the ping is not answered (the same bullet): pongs after the last marker are not compared.
  const later = script.client.allowSynchronousEvents === false;
  // A close from a listener (4001) after a message the core read ahead of a frame that fails the
  // connection: the core failed first (1002, 1007, 1009; the same bullet).
  const closeCode = (e: string): string =>
    closeRace.now && (c.failed || sEnd?.failed)
      ? e.replace(/^((?:ev-|on-)?close):(4001|1002|1007|1009|1007-or-1009):.*$/, '$1:4001-or-failure')
      : e;
  const events = (ep: Endpoint, peer: Endpoint | null): string[] =>
    ep.events
      .map(closeCode)
      .filter(
        (e, i) =>
          !(deflated && peer?.failed && i >= ep.markerAt && /^(pong|ping|message|ev-message|on-message):/.test(e)) &&
          !(i >= ep.cutFrom && /^(ev-|on-)?(message|error):/.test(e)) &&
          !(later && i >= ep.markerAt && e.startsWith('pong:')),
      );
  // When a side failed the connection or was cut off, a reaction may have come from a message that
  // arrived while it went (which ws emits or not by when it read it): reactions are compared only
  // when the connection ended without either.
  const steady =
    !c.failed && !sEnd?.failed && c.cutFrom === Number.POSITIVE_INFINITY && sEnd?.cutFrom === Number.POSITIVE_INFINITY;
  const out = (ep: Endpoint, peer: Endpoint | null): Trace['c'] => {
    const racy = (n: number): boolean => ep.racy.has(n) || (!steady && ep.reacted.has(n));
    return {
      reactions: steady ? ep.reactions : [],
      events: events(ep, peer),
      calls: ep.calls,
      // The racy ones in the order of the calls: which of them ws answers first depends on when the
      // socket took each frame and when a Blob's read settled.
      callbacks: [
        ...ep.callbacks.filter(([n]) => !racy(n)).map(([n, r]) => `#${n}${r}`),
        ...ep.callbacks
          .filter(([n]) => racy(n))
          .map(([n]) => n)
          .sort((a, b) => a - b)
          .map((n) => `#${n}:settled`),
      ],
      end: endState(ep),
    };
  };
  return { c: out(c, sEnd), s: sEnd === null ? null : out(sEnd, c), server: `clients=${clients}` };
}

/** A script in words, for a failure's message. */
export function describeScript(script: Script): string {
  const a = (x: Action): string => {
    switch (x.k) {
      case 'send':
        return `send(${x.desc}, ${JSON.stringify(x.opts)}${x.cb ? ', cb' : ''})`;
      case 'ping':
      case 'pong':
        return `${x.k}(${x.desc}${x.cb ? ', cb' : ''})`;
      case 'close':
        return x.desc;
      case 'raw':
        return `raw(${x.desc})`;
      case 'binaryType':
        return `binaryType=${x.value}`;
      default:
        return x.k;
    }
  };
  const lines = [
    `seed ${script.seed}: server ${JSON.stringify(script.server)} client ${JSON.stringify(script.client)} listen ${JSON.stringify(script.listen)}`,
  ];
  if (script.connecting.length > 0) lines.push(`  connecting: ${script.connecting.map(a).join('; ')}`);
  for (const b of script.batches)
    lines.push(`  ${b.side}${b.pauseOther ? ` (other paused, ${b.pauseOther})` : ''}: ${b.actions.map(a).join('; ')}`);
  lines.push(`  end ${script.end.side}: ${[script.end.action, ...script.end.then].map(a).join('; ')}`);
  if (script.after.length > 0) lines.push(`  after close, both: ${script.after.map(a).join('; ')}`);
  return lines.join('\n');
}
