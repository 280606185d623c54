/**
 * ws's options, and how they map onto the core's stream options. ws's defaults are kept where they
 * change what a peer sees (maxPayload 100 MiB, maxFragments 16384, closeTimeout 30 s).
 */
import type { IncomingMessage, OutgoingHttpHeaders, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { ZlibOptions } from 'node:zlib';
import type { DeflateOptions, StreamOptions } from '../options.js';
import type { WebSocketStream } from '../stream/websocket-stream.js';

/** ws's `zlibDeflateOptions`, typed as @types/ws types them (zlib's options; a dictionary may be a list). */
export interface ZlibDeflateOptions extends Omit<ZlibOptions, 'dictionary'> {
  dictionary?: ZlibOptions['dictionary'] | Buffer[];
}

/** ws's `perMessageDeflate` object. */
export interface PerMessageDeflateOptions {
  /** The server drops its compression context after each message. `false`: a server refuses an offer asking it to. */
  serverNoContextTakeover?: boolean;
  /** The client drops its compression context after each message. `false`: a client refuses an answer asking it to. */
  clientNoContextTakeover?: boolean;
  /** The server's window, 8–15. `false`: a server refuses an offer that limits it. */
  serverMaxWindowBits?: number | boolean;
  /** The client's window, 8–15. `false`: a client offers no limit (and refuses one), a server sets none. */
  clientMaxWindowBits?: number | boolean;
  /** zlib options of the compressor: `level` and `memLevel` are used. */
  zlibDeflateOptions?: ZlibDeflateOptions;
  /** Accepted for compatibility; the core's inflater has its own settings. */
  zlibInflateOptions?: ZlibOptions;
  /** Messages smaller than this many bytes go uncompressed. Default 1024. */
  threshold?: number;
  /** Accepted for compatibility: the core shares one limit of 10 zlib operations at a time. */
  concurrencyLimit?: number;
}

/** The options that ws's WebSocket and WebSocketServer share. */
export interface CommonOptions {
  /** Emit several 'message'/'ping'/'pong' events in one tick. Default true. */
  allowSynchronousEvents?: boolean;
  /** Answer pings automatically. Default true. */
  autoPong?: boolean;
  /** How long the close handshake may take, in ms. Default 30000. */
  closeTimeout?: number;
  /** Most frames per message (0: no limit). Default 16384. */
  maxFragments?: number;
  /** Largest message, in bytes (0: no limit). Default 100 MiB. */
  maxPayload?: number;
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Text messages and close reasons are not checked for UTF-8 (against RFC 6455 §8.1, as in ws). */
  skipUTF8Validation?: boolean;
}

export interface VerifyClientInfo<Request extends IncomingMessage = IncomingMessage> {
  /** The `Origin` header; typed as @types/ws types it, it is undefined when the request has none. */
  origin: string;
  secure: boolean;
  req: Request;
}

export type VerifyClientCallback = (
  verified: boolean,
  code?: number,
  message?: string,
  headers?: OutgoingHttpHeaders,
) => void;

/** `verifyClient` answering at once: whether the handshake goes on. */
export type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> = (
  info: VerifyClientInfo<Request>,
) => boolean;
/** `verifyClient` answering through its callback (refused with a status, a message and headers). */
export type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> = (
  info: VerifyClientInfo<Request>,
  callback: VerifyClientCallback,
) => void;

/**
 * The server's options; `W` is the class it makes its WebSockets with (WebSocket or a subclass: the
 * default is given where the class is, websocket.ts), `R` that of its requests.
 */
export interface ServerOptionsOf<W, R extends typeof IncomingMessage> extends CommonOptions {
  host?: string;
  port?: number;
  backlog?: number;
  server?: HttpServer<R> | HttpsServer<R>;
  noServer?: boolean;
  /** Accept only requests for this path. */
  path?: string;
  verifyClient?: VerifyClientCallbackSync<InstanceType<R>> | VerifyClientCallbackAsync<InstanceType<R>>;
  handleProtocols?: (protocols: Set<string>, req: InstanceType<R>) => string | false;
  /** Keep the open clients in `clients`. Default true. */
  clientTracking?: boolean;
  /** The class to instantiate for each connection (WebSocket or a subclass). */
  WebSocket?: W;
  /** Accepted for compatibility. */
  maxBufferedChunks?: number;
  maxPendingAutoPongs?: number;
}

export const wsDefaults = Object.freeze({
  maxPayload: 100 * 1024 * 1024,
  maxFragments: 16 * 1024,
  closeTimeout: 30000,
});

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/**
 * Whether several 'message', 'ping' and 'pong' events may come in one tick: `allowSynchronousEvents` taken for its
 * truth, as ws's receiver takes it, undefined being its default (true): `0`, `null` or `''` give each its own turn.
 */
export function synchronousEvents(o: CommonOptions): boolean {
  return o.allowSynchronousEvents === undefined || !!o.allowSynchronousEvents;
}

/**
 * ws compresses a message when `length >= threshold`: the smallest integer length that passes that
 * test (so a negative threshold or null compresses everything; Infinity, NaN or a non-numeric
 * string nothing, as every comparison with NaN is false).
 */
function threshold(v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (Number.isNaN(n)) return UNLIMITED;
  if (!(n > 0)) return 0;
  return n >= UNLIMITED ? UNLIMITED : Math.ceil(n);
}

function windowBits(v: number | boolean | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * `value | 0`, as ws reads a count; a value with no number form (a Symbol, a BigInt, an object
 * without one) throws a TypeError naming the option, as ws's client constructor throws one (ws's
 * server throws it out of its first upgrade).
 */
function int32(name: string, value: unknown): number {
  try {
    return (value as number) | 0;
  } catch {
    throw new TypeError(`${name} must be a number`);
  }
}

/**
 * Writes the stream options that `o` means into `target` (reused, so that the core normalises them
 * once for all connections while they do not change) and returns it.
 */
export function toStreamOptions(
  o: CommonOptions,
  deflateByDefault: boolean,
  controlCallback: (kind: 'ping' | 'pong' | 'close', payload: Buffer, stream: WebSocketStream) => void,
  target: StreamOptions = {},
): StreamOptions {
  // ws spreads the options over its defaults, then reads both as 32-bit integers (`| 0`): given as
  // undefined, null, Infinity, NaN or 2 ** 32 they mean no limit; 1.5 is 1.
  const maxPayload = int32('maxPayload', 'maxPayload' in o ? o.maxPayload : wsDefaults.maxPayload);
  const maxFragments = int32('maxFragments', 'maxFragments' in o ? o.maxFragments : wsDefaults.maxFragments);
  target.readMessageMax = maxPayload > 0 ? maxPayload : UNLIMITED;
  target.maxFragments = maxFragments > 0 ? maxFragments : UNLIMITED;
  target.autoPong = false; // the WebSocket answers pings itself, through its pong() (ws's order of calls)
  target.validateUtf8 = !o.skipUTF8Validation; // taken for its truth, as ws takes it
  target.failureReason = false; // ws closes a failed connection with the code alone
  // ws arms `setTimeout(destroy, closeTimeout)`: its 0 tears the socket down on the next turn of the
  // timers (node runs a 0 ms timer after 1 ms), where the core's 0 means no limit.
  const closeTimeout = o.closeTimeout ?? wsDefaults.closeTimeout;
  target.closeTimeout = closeTimeout === 0 ? 1 : closeTimeout;
  target.controlCallback = controlCallback;
  // As ws: spread over its defaults (given as undefined or null, off), taken for its truth, and an object spread
  // once (its getters run, a Proxy's traps too).
  const pmd = 'perMessageDeflate' in o ? o.perMessageDeflate : deflateByDefault;
  if (!pmd) {
    target.perMessageDeflate = false;
  } else {
    const d: PerMessageDeflateOptions = pmd === true ? {} : { ...(pmd as PerMessageDeflateOptions) };
    const out: DeflateOptions =
      typeof target.perMessageDeflate === 'object' ? target.perMessageDeflate : (target.perMessageDeflate = {});
    // Taken for their truth, as ws takes them (`false` refusing the peer's wish is negotiation.ts's).
    out.serverNoContextTakeover = !!d.serverNoContextTakeover;
    out.clientNoContextTakeover = !!d.clientNoContextTakeover;
    out.serverMaxWindowBits = windowBits(d.serverMaxWindowBits);
    out.clientMaxWindowBits = windowBits(d.clientMaxWindowBits);
    const level = d.zlibDeflateOptions?.level;
    out.level = level === undefined ? undefined : level < 0 ? 6 : level; // zlib's -1 means its default, 6
    out.memLevel = d.zlibDeflateOptions?.memLevel;
    out.threshold = threshold(d.threshold);
  }
  return target;
}
