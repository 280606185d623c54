/**
 * Every option of ws-stream, with its default, in one place. Options are normalised and
 * range-checked once, when a stream or an operation starts; a bad value throws
 * ERR_WS_INVALID_ARGUMENT at once.
 */
import { shown, WebSocketError } from './errors.js';
import type { UpgradeRequest } from './proto/http.js';

/**
 * The stream a `controlCallback` is called with: a `WebSocketStream`. src/stream/websocket-stream.ts
 * says so by merging into this interface (`declare module '../options.js'`), so that this file, which
 * the stream layer imports, imports nothing from it (imports go one way: stream → options).
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by src/stream/websocket-stream.ts
export interface ControlledStream {}

/** Options of a `WebSocketStream`, fixed for its life. */
export interface StreamOptions {
  /** Largest message `read()` assembles, in bytes; a larger one fails the connection with 1009. Default 16 MiB. */
  readMessageMax?: number;
  /** Most frames one message may arrive in; more fails the connection with 1008. Default 131072. */
  maxFragments?: number;
  /** Split written messages into frames of at most `fragmentSize` bytes. Default false. */
  autoFragment?: boolean;
  /** Payload size of each frame when `autoFragment` is on, in bytes. Default 64 KiB. */
  fragmentSize?: number;
  /**
   * Default type of `write()`/`writeSome()` when the call does not say: binary (true) or text
   * (false). Default: from the data — a string is sent as text, bytes as binary.
   */
  binary?: boolean | 'auto';
  /** Answer each ping with a pong automatically. Default true. */
  autoPong?: boolean;
  /**
   * Check that text messages and close reasons are UTF-8, failing the connection with 1007 when
   * not (RFC 6455 §8.1). false hands them on as they came (`ws`'s `skipUTF8Validation`). Default true.
   */
  validateUtf8?: boolean;
  /**
   * The close frame sent when a protocol violation fails the connection carries the error's
   * one-line description as its reason. false sends the close code alone (as `ws` does). Default true.
   */
  failureReason?: boolean;
  /**
   * Called for every ping, pong and close frame that the read side meets, with the stream (so one
   * function can serve every stream made with the same options). In wire order: a ping or pong is
   * reported once the messages before it are queued for reading (also those still being inflated).
   */
  controlCallback?: (kind: 'ping' | 'pong' | 'close', payload: Buffer, stream: ControlledStream) => void;
  /**
   * How long `close()` waits for the peer's close frame and end, in ms, before tearing down; also the
   * longest the answer to the peer's close waits for the messages before it to be read. 0: no limit
   * (as for `handshakeTimeout` and `idleTimeout`). Default 5000.
   */
  closeTimeout?: number;
  /**
   * How long the handshake may take, in ms, from `accept()`/`handshake()` to the 101 (in the server
   * role it covers reading the request, so a client trickling one byte a second is dropped). 0: no
   * limit. Default 30000.
   */
  handshakeTimeout?: number;
  /**
   * An open connection on which nothing arrives for this long, in ms, is closed with ERR_WS_TIMEOUT
   * (close 1001 is attempted, then the layer is destroyed). 0: never. Default 0.
   */
  idleTimeout?: number;
  /** With an `idleTimeout`, send a ping when half of it passed without data, so a live peer is never idle. Default true. */
  keepAlive?: boolean;
  /**
   * Bytes written but not yet handed to the operating system, beyond which the peer counts as not
   * reading. With `bufferPolicy` 'wait', writes wait (their completion comes when their bytes are
   * handed on) and the stream stops reading from the peer until the backlog drains; with 'close',
   * the connection is failed with close 1008 (ERR_WS_BUFFER_OVERFLOW). Default 16 MiB.
   */
  maxBufferedBytes?: number;
  /** What a peer that does not read meets: 'wait' or 'close'. Default 'wait'. */
  bufferPolicy?: 'wait' | 'close';
  /**
   * permessage-deflate (RFC 7692): `true` or options to negotiate it (a server accepts the
   * client's first acceptable offer, a client offers it). Default false.
   */
  perMessageDeflate?: boolean | DeflateOptions;
  /**
   * Received bytes held for a reader that is not reading, before the stream stops reading from
   * the next layer (backpressure towards the peer), in bytes: what the queued messages keep (a
   * message queued as a view of the read it came in keeps all of that read), plus 128 per queued
   * piece. Default 1 MiB.
   */
  readHighWaterMark?: number;
}

/** permessage-deflate options. */
export interface DeflateOptions {
  /** Our side (server) resets its compressor after each message. Default false. */
  serverNoContextTakeover?: boolean;
  /** The client resets its compressor after each message. Default false. */
  clientNoContextTakeover?: boolean;
  /** Largest window of the server's compressor, 8–15 bits. Default 15. */
  serverMaxWindowBits?: number;
  /** Largest window of the client's compressor, 8–15 bits (only when the client allows it). Default 15. */
  clientMaxWindowBits?: number;
  /** zlib compression level 0–9. Default 1. */
  level?: number;
  /** zlib memLevel 1–9. Default 8. */
  memLevel?: number;
  /**
   * Messages smaller than this many bytes go uncompressed when our side has no context takeover
   * (with it, every message is compressed). Default 1024.
   */
  threshold?: number;
}

/** Response headers as the decorator sees and edits them: lower- or mixed-case names, string values. */
export type ResponseHeaders = Record<string, string | string[]>;

/** Options of `accept()`. */
export interface AcceptOptions {
  /** Bytes already read past the request head (the `head` of node:http's `'upgrade'` event). */
  head?: Uint8Array;
  /**
   * Chooses the subprotocol from those the client offered (in its order); return one of them, or
   * undefined for none. Default: none.
   */
  selectProtocol?: (offered: string[], req: UpgradeRequest) => string | undefined;
  /** Edits the response headers, of the 101 and of error responses alike. */
  decorator?: (headers: ResponseHeaders, status: number) => void;
  /** Limit on the request head when `accept()` reads it, in bytes. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Limit on the number of header fields when `accept()` reads the request. Default 100. */
  maxHeaders?: number;
  /** Cancels the handshake: the layer is destroyed and accept completes with ERR_WS_ABORTED. */
  signal?: AbortSignal;
}

export interface ReadRequestOptions {
  /** Limit on the request head, in bytes; more is answered 431 (414 for a request line alone that long). Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Limit on the number of header fields; more is answered 431. Default 100. */
  maxHeaders?: number;
}

export const streamDefaults: Readonly<Required<Omit<StreamOptions, 'controlCallback'>>> = Object.freeze({
  perMessageDeflate: false,
  readMessageMax: 16 * 1024 * 1024,
  maxFragments: 131072,
  autoFragment: false,
  fragmentSize: 64 * 1024,
  binary: 'auto',
  autoPong: true,
  validateUtf8: true,
  failureReason: true,
  closeTimeout: 5000,
  handshakeTimeout: 30000,
  idleTimeout: 0,
  keepAlive: true,
  maxBufferedBytes: 16 * 1024 * 1024,
  bufferPolicy: 'wait',
  readHighWaterMark: 1024 * 1024,
});

export const requestLimitDefaults = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
});

/**
 * The same limits on the response a client reads (`handshake()`, `connect()`). More fields than a
 * server takes from strangers: the client chose its server, and its head is bounded in bytes anyway.
 * 2000 is node:http's `maxHeadersCount` for a response (which `ws`'s client reads through).
 */
export const responseLimitDefaults = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 2000,
});

export type NormalStreamOptions = Required<Omit<StreamOptions, 'controlCallback' | 'perMessageDeflate'>> &
  Pick<StreamOptions, 'controlCallback'> & { perMessageDeflate: Required<DeflateOptions> | null };

/** An integer in [min, max], or ERR_WS_INVALID_ARGUMENT naming `name`. */
export function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WebSocketError(
      'ERR_WS_INVALID_ARGUMENT',
      `${name} must be an integer from ${min} to ${max}, got ${shown(value)}`,
    );
  }
  return value;
}

function checkBool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `${name} must be a boolean`);
  return value;
}

function normaliseDeflate(o: boolean | DeflateOptions): Required<DeflateOptions> | null {
  if (o === false) return null;
  const d: DeflateOptions = o === true ? {} : o;
  if (typeof d !== 'object' || d === null)
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'perMessageDeflate must be a boolean or an object');
  return {
    serverNoContextTakeover: checkBool('serverNoContextTakeover', d.serverNoContextTakeover ?? false),
    clientNoContextTakeover: checkBool('clientNoContextTakeover', d.clientNoContextTakeover ?? false),
    serverMaxWindowBits: checkInt('serverMaxWindowBits', d.serverMaxWindowBits ?? 15, 8, 15),
    clientMaxWindowBits: checkInt('clientMaxWindowBits', d.clientMaxWindowBits ?? 15, 8, 15),
    level: checkInt('level', d.level ?? 1, 0, 9),
    memLevel: checkInt('memLevel', d.memLevel ?? 8, 1, 9),
    threshold: checkInt('threshold', d.threshold ?? 1024, 0, Number.MAX_SAFE_INTEGER),
  };
}

function checkPolicy(v: unknown): 'wait' | 'close' {
  if (v !== 'wait' && v !== 'close')
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', "bufferPolicy must be 'wait' or 'close'");
  return v;
}

export function checkFn<T>(name: string, value: T): T {
  if (value !== undefined && typeof value !== 'function') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `${name} must be a function`);
  }
  return value;
}

/** Whether `value` is an object with each of these methods (how an interface is told at run time). */
export function hasMethods(value: unknown, names: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const methods = value as Record<string, unknown>;
  try {
    return names.every((name) => typeof methods[name] === 'function');
  } catch {
    return false; // a Proxy whose `get` throws, a throwing getter: not the object asked for
  }
}

/** ERR_WS_INVALID_ARGUMENT unless `o` is an options object (null, a number or a string is none). */
export function checkOptionsObject(o: unknown): void {
  if (typeof o !== 'object' || o === null)
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'options must be an object');
}

/**
 * A flag of one call (`write`'s `binary`, `compress`, …): true, false or undefined (absent), else
 * ERR_WS_INVALID_ARGUMENT naming it. Never its truth: `{ binary: 'false' }` or `{ compress: 0 }` is
 * a mistake to report, not a choice to guess (ws-stream/ws takes ws's truthiness and passes booleans).
 */
export function checkFlag(name: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `${name} must be a boolean, got ${shown(value)}`);
}

/** An AbortSignal or undefined, or ERR_WS_INVALID_ARGUMENT (checked as Node checks one: by its shape). */
export function checkSignal(value: unknown): AbortSignal | undefined {
  if (
    value !== undefined &&
    (typeof value !== 'object' ||
      value === null ||
      !('aborted' in value) ||
      typeof (value as AbortSignal).addEventListener !== 'function')
  ) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'signal must be an AbortSignal');
  }
  return value as AbortSignal | undefined;
}

let defaultsNormalised: NormalStreamOptions | undefined;

/** Every key of StreamOptions and of DeflateOptions (the compiler checks that none is missing). */
const streamOptionKeys = Object.keys({
  readMessageMax: 0,
  maxFragments: 0,
  autoFragment: 0,
  fragmentSize: 0,
  binary: 0,
  autoPong: 0,
  validateUtf8: 0,
  failureReason: 0,
  controlCallback: 0,
  closeTimeout: 0,
  handshakeTimeout: 0,
  idleTimeout: 0,
  keepAlive: 0,
  maxBufferedBytes: 0,
  bufferPolicy: 0,
  perMessageDeflate: 0,
  readHighWaterMark: 0,
} satisfies Record<keyof StreamOptions, 0>) as (keyof StreamOptions)[];
const deflateOptionKeys = Object.keys({
  serverNoContextTakeover: 0,
  clientNoContextTakeover: 0,
  serverMaxWindowBits: 0,
  clientMaxWindowBits: 0,
  level: 0,
  memLevel: 0,
  threshold: 0,
} satisfies Record<keyof DeflateOptions, 0>) as (keyof DeflateOptions)[];

/**
 * The stream's options among `o`'s (connect()'s, beside its own), each read once, as a plain object.
 * (Not `const { mine, ...rest } = o`: V8, on Node 20, reads `mine` a second time while it copies the
 * rest, for some objects: accessors made with defineProperty.)
 */
export function pickStreamOptions(o: StreamOptions): StreamOptions {
  const picked: Record<string, unknown> = {};
  for (const k of streamOptionKeys) picked[k] = o[k];
  return picked as StreamOptions;
}

/**
 * Streams share one frozen normalised object per options object (and one for none): a server
 * passes the same options to every connection, and per-connection memory matters at 10k+
 * connections. The shared copy is used while the options object still holds the values it was
 * made from (compared one by one, without allocating), so a changed options object takes effect.
 */
export function normaliseStreamOptions(o?: StreamOptions): NormalStreamOptions {
  if (o === undefined) return (defaultsNormalised ??= ownNormalised(normaliseFresh({})));
  // One of ours, passed again (serve normalises once and hands the result to every stream): frozen,
  // every option an own data property, so nothing to compare.
  if (normalisedByUs.has(o)) return o as NormalStreamOptions;
  checkOptionsObject(o);
  const cached = normalisedCache.get(o);
  if (cached !== undefined && stillGiven(o, cached)) return cached.normalised;
  const normalised = ownNormalised(normaliseFresh(o));
  const deflate = o.perMessageDeflate;
  normalisedCache.set(o, {
    normalised,
    given: streamOptionKeys.map((k) => o[k]),
    deflateGiven: typeof deflate === 'object' && deflate !== null ? deflateOptionKeys.map((k) => deflate[k]) : null,
  });
  return normalised;
}

/**
 * `o` normalised once (a bad value throws here), as an options object that every stream given it
 * takes as it is: for a server that passes the same options to each connection. Its values are
 * fixed from now on. (Typed as StreamOptions: it is one, its `perMessageDeflate` normalised.)
 */
export function fixedStreamOptions(o: StreamOptions): StreamOptions {
  return normaliseStreamOptions(o) as unknown as StreamOptions;
}

interface CachedOptions {
  normalised: NormalStreamOptions;
  /** The values of `streamOptionKeys` it was made from. */
  given: unknown[];
  /** The values of `deflateOptionKeys`, when perMessageDeflate was an object. */
  deflateGiven: unknown[] | null;
}

const normalisedCache = new WeakMap<StreamOptions, CachedOptions>();
/** The objects normaliseStreamOptions made. */
const normalisedByUs = new WeakSet<object>();

function ownNormalised(n: NormalStreamOptions): NormalStreamOptions {
  if (n.perMessageDeflate) Object.freeze(n.perMessageDeflate);
  Object.freeze(n);
  normalisedByUs.add(n);
  return n;
}

function stillGiven(o: StreamOptions, c: CachedOptions): boolean {
  for (let i = 0; i < streamOptionKeys.length; i++) if (o[streamOptionKeys[i]!] !== c.given[i]) return false;
  if (c.deflateGiven !== null) {
    const d = o.perMessageDeflate as DeflateOptions;
    for (let i = 0; i < deflateOptionKeys.length; i++) if (d[deflateOptionKeys[i]!] !== c.deflateGiven[i]) return false;
  }
  return true;
}

function normaliseFresh(o: StreamOptions): NormalStreamOptions {
  const d = streamDefaults;
  return {
    readMessageMax: checkInt('readMessageMax', o.readMessageMax ?? d.readMessageMax, 0, Number.MAX_SAFE_INTEGER),
    maxFragments: checkInt('maxFragments', o.maxFragments ?? d.maxFragments, 1, Number.MAX_SAFE_INTEGER),
    autoFragment: checkBool('autoFragment', o.autoFragment ?? d.autoFragment),
    fragmentSize: checkInt('fragmentSize', o.fragmentSize ?? d.fragmentSize, 1, 2 ** 31 - 1),
    binary: o.binary === undefined || o.binary === 'auto' ? 'auto' : checkBool('binary', o.binary),
    autoPong: checkBool('autoPong', o.autoPong ?? d.autoPong),
    validateUtf8: checkBool('validateUtf8', o.validateUtf8 ?? d.validateUtf8),
    failureReason: checkBool('failureReason', o.failureReason ?? d.failureReason),
    closeTimeout: checkInt('closeTimeout', o.closeTimeout ?? d.closeTimeout, 0, 2 ** 31 - 1),
    handshakeTimeout: checkInt('handshakeTimeout', o.handshakeTimeout ?? d.handshakeTimeout, 0, 2 ** 31 - 1),
    idleTimeout: checkInt('idleTimeout', o.idleTimeout ?? d.idleTimeout, 0, 2 ** 31 - 1),
    keepAlive: checkBool('keepAlive', o.keepAlive ?? d.keepAlive),
    maxBufferedBytes: checkInt(
      'maxBufferedBytes',
      o.maxBufferedBytes ?? d.maxBufferedBytes,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    bufferPolicy: checkPolicy(o.bufferPolicy ?? d.bufferPolicy),
    perMessageDeflate: normaliseDeflate(o.perMessageDeflate ?? false),
    readHighWaterMark: checkInt(
      'readHighWaterMark',
      o.readHighWaterMark ?? d.readHighWaterMark,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    controlCallback: checkFn('controlCallback', o.controlCallback),
  };
}

export function normaliseRequestLimits(
  o: ReadRequestOptions = {},
  defaults: Required<ReadRequestOptions> = requestLimitDefaults,
): Required<ReadRequestOptions> {
  checkOptionsObject(o);
  return {
    maxHeaderBytes: checkInt('maxHeaderBytes', o.maxHeaderBytes ?? defaults.maxHeaderBytes, 64, 2 ** 31 - 1),
    maxHeaders: checkInt('maxHeaders', o.maxHeaders ?? defaults.maxHeaders, 1, 100000),
  };
}

export function normaliseAcceptOptions(o?: AcceptOptions): AcceptOptions & Required<ReadRequestOptions> {
  // No options (`accept(callback)`): the defaults, made once (they are only read).
  if (o === undefined) return (acceptDefaults ??= Object.freeze(normaliseAcceptOptions({})));
  checkOptionsObject(o);
  // Each option read once: what is checked is what is used.
  const signal = checkSignal(o.signal);
  const head = o.head;
  if (head !== undefined && !(head instanceof Uint8Array)) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'head must be a Buffer or Uint8Array');
  }
  const selectProtocol = checkFn('selectProtocol', o.selectProtocol);
  const decorator = checkFn('decorator', o.decorator);
  const { maxHeaderBytes, maxHeaders } = normaliseRequestLimits(o);
  return { head, selectProtocol, decorator, signal, maxHeaderBytes, maxHeaders };
}

let acceptDefaults: AcceptOptions & Required<ReadRequestOptions>;
