/**
 * WebSocketStream: a WebSocket layered over a next layer, after Beast's `websocket::stream`.
 * The only I/O driver of the sans-I/O core: it feeds received chunks to the Receiver and queues
 * frames from the sender. The close handshake is its own object (close-handshake.ts); the
 * handshakes live in their own files (accept.ts, handshake.ts) and drive the stream through the
 * narrow `HandshakeHost` interface. Everything else is #private: the published type shows only
 * the documented API.
 */
import { Buffer } from 'node:buffer';
// Imported, not the global: node's global `performance` is a getter, run on every use.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';
import {
  checkFlag,
  checkOptionsObject,
  checkSignal,
  normaliseStreamOptions,
  type NormalStreamOptions,
  type StreamOptions,
} from '../options.js';
import { CLOSE_NO_STATUS, closeReasonOf, encodeClosePayload } from '../proto/close-payload.js';
import { Opcode } from '../proto/frame.js';
import { viewBytes } from '../proto/bytes.js';
import { Receiver, type ReceiverHandler } from '../proto/receiver.js';
import type { AcceptOptions } from '../options.js';
import type { UpgradeRequest } from '../proto/http.js';
import { isRequest, startAccept } from './accept.js';
import { startHandshake, type Agreement, type HandshakeHost, type HandshakeOptions } from './handshake.js';
import { Completion, bindSignal, callBack, rethrow, type Callback } from './completion.js';
import { CloseHandshake, type CloseHost, type CloseInfo } from './close-handshake.js';
import { DeflateLines, type DeflateHost } from './deflate-lines.js';
import { ReadQueue, ReceivedData } from './read-queue.js';
import {
  builtMessageOf,
  COPY_MAX,
  forgetBuilt,
  NO_WAITERS,
  noopWaiter,
  settle,
  type Waiter,
  WriteQueue,
} from './write-queue.js';
import { unwatch, watch, type Ticking } from './timers.js';
import { DuplexLayer, attachSink, toNextLayer, type LayerSink, type NextLayer } from './next-layer.js';
import './native.js';

export type { CloseInfo };

// What a `controlCallback` is given (options.ts declares the interface without importing this file).
declare module '../options.js' {
  interface ControlledStream extends WebSocketStream {}
}

/**
 * The flags of one call (`binary`, `compress`, `fin`, `afterMessages`) are booleans or absent: any
 * other value (`'false'`, `0`, `null`) throws ERR_WS_INVALID_ARGUMENT at once, before anything is
 * queued, rather than being taken for its truth.
 */
export interface WriteOptions {
  /** Binary (true) or text (false); default: the stream's `binary` option. */
  binary?: boolean;
  /**
   * With permessage-deflate negotiated: false sends this message uncompressed. Default true: every
   * message is compressed, except, when our side has no context takeover, those below `threshold`.
   */
  compress?: boolean;
  /**
   * Cancels the write: one whose bytes are still queued here is withdrawn (nothing of it is sent),
   * also one being compressed when our side has no context takeover; one already handed to the next
   * layer, or being compressed into a window the next messages refer to, goes out whole. Either way
   * it completes with ERR_WS_ABORTED and the stream stays usable.
   */
  signal?: AbortSignal;
}

export interface ReadOptions {
  /** Cancels the read: it completes with ERR_WS_ABORTED; no data is lost and the stream stays usable. */
  signal?: AbortSignal;
}

/** Options of `ping()` and `pong()`. */
export interface PingOptions {
  /** Stops waiting: a frame still queued here is withdrawn; it completes with ERR_WS_ABORTED. */
  signal?: AbortSignal;
  /**
   * Sends the frame after the messages written before it that are still being compressed, as the
   * close frame goes (calls keep their order on the wire). Default false: it goes ahead of them.
   * Either way it never waits for the next layer to take what was queued before it.
   */
  afterMessages?: boolean;
}

export interface WriteSomeOptions extends WriteOptions {
  /** Whether this part ends the message. Default true. */
  fin?: boolean;
}

export interface CloseOptions {
  /** Close code (RFC 6455 §7.4); default 1000. 1005 sends a close frame without a status code. */
  code?: number;
  /** Close reason, UTF-8, at most 123 bytes. */
  reason?: string | ArrayBufferView;
  /** Stops waiting for the peer: the layer is destroyed at once and close completes with ERR_WS_ABORTED. */
  signal?: AbortSignal;
}

/** Data accepted by `write`: bytes or a string (UTF-8). */
export type WriteData = string | ArrayBufferView | ArrayBuffer;

/** The stream's life. */
const enum State {
  /** No handshake yet. */
  Idle,
  /** accept() (or handshake()) is running; no other operation may start. */
  Handshaking,
  Open,
  /** A close frame was sent or received; the other may still be outstanding. */
  Closing,
  /** The next layer is closed. */
  Closed,
}

// The bits of WebSocketStream's `#flags`: the State in the low three, then the role and the booleans.
const STATE_BITS = 0x7;
const SERVER = 0x8;
const CLIENT = 0x10;
const READER_WHOLE = 0x20;
const READ_ENDED = 0x40;
const PAUSED = 0x80;
const FLUSH_SCHEDULED = 0x100;
const WRITING_MESSAGE = 0x200;
const HEARD = 0x400;
const PINGED_IDLE = 0x800;
const PEER_ENDED = 0x1000;
const WE_ENDED = 0x2000;
/** Frames flow: the handshake handed the input over to the receiver (made with the first bytes). */
const FRAMES = 0x4000;
/** A client that ends the connection as soon as the close frames are exchanged (ws's way), not after the server. */
const ENDS_FIRST = 0x8000;
/** The reader answers the peer's close (`answerPeerClose`) once it has handled what came before it; the stream only by `closeTimeout`. */
const READER_ANSWERS = 0x10000;
/** The scheduled flush is due at the end of the chunk being received (`#receiveAndAnswer`): the stream is not in `toFlush`. */
const FLUSH_AT_CHUNK_END = 0x20000;
/** readMessageMax bounds a compressed message's octets on the wire too, as ws's maxPayload does (ws-stream/ws). */
const COMPRESSED_ON_WIRE = 0x40000;
/** Writes read the caller's bytes at the call, as ws's do (ws-stream/ws): what is kept past the call is a copy. */
const READ_AT_CALL = 0x80000;
/** The payload of the write being made is the stream's to keep (`writeOwnBytes`): not copied to wait in the deflate line. */
const OWN_BYTES = 0x100000;
/** Someone waits for the handshake to complete (`whenHandshakeDone`): `#ready` tells those in `openWaiters`. */
const OPEN_AWAITED = 0x200000;

/**
 * Who waits for a stream's handshake to complete (a group's shutdown): rare, so kept beside the streams, not in each;
 * weak, so a stream that never opens takes its waiters with it.
 */
const openWaiters = new WeakMap<WebSocketStream, (() => void)[]>();

/**
 * A payload that waits past the call (behind messages being compressed): a copy of the caller's bytes (`borrowed`),
 * unless they are the stream's own (`own`: `writeOwnBytes`).
 */
function toHold(payload: Buffer, borrowed: boolean, own: boolean): Buffer {
  return borrowed && !own ? copyOf(payload) : payload;
}

/** A message's bytes as written (also pub/sub's publish): strings as UTF-8, views without a copy. */
export function toBuffer(data: WriteData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return viewBytes(data);
  throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'data must be a string, Buffer, TypedArray or ArrayBuffer');
}

/**
 * The one parser of the `(options?, callback?)` overloads: the options… Each call reads each of its
 * options once, into a local: a getter (or Proxy) may answer differently each time, and what was
 * checked must be what is used.
 */
function optionsArg<O extends object>(a: O | Callback<never> | undefined): O | undefined {
  if (typeof a === 'function' || a === undefined) return undefined;
  // (`write(data, true)` or `write(data, 'binary')` would otherwise send text, its options unread)
  checkOptionsObject(a);
  return a;
}

/** …their `signal`, read once (a bad one throws before anything is queued)… */
function signalArg(o: { signal?: AbortSignal } | null | undefined): AbortSignal | undefined {
  return o == null ? undefined : checkSignal(o.signal);
}

/** …and the callback (a non-function where one belongs throws). */
function callbackArg<T>(a: unknown, b: Callback<T> | undefined): Callback<T> | undefined {
  const cb = typeof a === 'function' ? (a as Callback<T>) : b;
  if (cb !== undefined && typeof cb !== 'function') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'callback must be a function');
  }
  return cb;
}

const EMPTY = Buffer.alloc(0);

/** The queues of every stream with nothing queued: an idle connection holds none of its own. Frozen, so a write to one fails loudly. */
const NO_READS = Object.freeze(new ReadQueue()) as ReadQueue;
const NO_WRITES = Object.freeze(new WriteQueue()) as WriteQueue;

/**
 * The stream's clock: whole ms of the monotonic clock since the process started, which V8 keeps
 * as small integers (a `Date.now()`, or any fraction, would be a 16-byte heap number per field per
 * connection) for the first 24 days of a process, and as numbers (correct, 16 bytes larger) after.
 * Monotonic, so setting the wall clock back neither delays a deadline nor makes one 0 (none).
 */
function clock(): number {
  return Math.floor(performance.now());
}

export { ReceivedData };

/** Told when a stream's next layer is closed (StreamGroup). */
export interface ClosedListener {
  streamClosed(ws: WebSocketStream): void;
}

/** Everything the stream's helpers call back: the receiver, the close handshake, the ticker, a handshake, the deflate lines. */
type Inner = LayerSink &
  ReceiverHandler &
  CloseHost &
  Ticking &
  HandshakeHost &
  DeflateHost & { flush(): void; answerInputEnd(): void; answerTakenInputEnd(): void };

// Set in WebSocketStream's static block: the ways in for the helpers of this package that may
// reach a stream's internals. None is exported from the package.
let makeInner: (s: WebSocketStream) => Inner;
let queuePrepared: (ws: WebSocketStream, frame: Buffer, callback: Callback<void> | undefined) => boolean;
let writePreparedDirect: (ws: WebSocketStream, frame: Buffer) => boolean;
let whenWrittenOf: (ws: WebSocketStream, callback: Callback<void>) => boolean;
let adopt: (ws: WebSocketStream, role: 'server' | 'client', agreed: Agreement) => void;
let addListener: (ws: WebSocketStream, listener: ClosedListener) => boolean;
let awaitOpen: (ws: WebSocketStream, opened: () => void) => boolean;
let optionsOf: (ws: WebSocketStream) => NormalStreamOptions;
let queuedOf: (ws: WebSocketStream) => number;
let flushNow: (ws: WebSocketStream) => void;
let endFirst: (ws: WebSocketStream) => void;
let limitOnWire: (ws: WebSocketStream) => void;
let readAtCall: (ws: WebSocketStream) => void;
let readerAnswers: (ws: WebSocketStream) => void;
let answerNow: (ws: WebSocketStream) => void;
let ownBytes: (ws: WebSocketStream, write: () => void) => void;

/** Internal (compat/): the whole messages received and not yet read (events in wire order). */
export function queuedMessages(ws: WebSocketStream): number {
  return queuedOf(ws);
}

let compressesOf: (ws: WebSocketStream, size: number, compress: boolean | undefined) => boolean;

/** Internal (ws-stream/ws's send callbacks): whether a message of `size` bytes written now is compressed. */
export function compresses(ws: WebSocketStream, size: number, compress: boolean | undefined): boolean {
  return compressesOf(ws, size, compress);
}

/** Internal (prepared.ts): see `queuePreparedFrame` there. */
export function queuePreparedFrame(ws: WebSocketStream, frame: Buffer, callback?: Callback<void>): boolean {
  return queuePrepared(ws, frame, callback);
}

/** Internal (prepared.ts): see `tryWritePreparedFrameNow` there. */
export function tryWritePreparedFrameNow(ws: WebSocketStream, frame: Buffer): boolean {
  return writePreparedDirect(ws, frame);
}

/** Internal (prepared.ts): see `whenWritten` there. */
export function whenWritten(ws: WebSocketStream, callback: Callback<void>): boolean {
  return whenWrittenOf(ws, callback);
}

/**
 * Internal (connect-h2.ts, compat/): a stream whose handshake was done by its next layer's own
 * protocol (RFC 8441's extended CONNECT over HTTP/2), or by node:http for the `ws` API, opens at
 * once in `role`.
 */
export function adoptOpen(ws: WebSocketStream, role: 'server' | 'client', agreed: Agreement): void {
  adopt(ws, role, agreed);
}

/**
 * Internal (group.ts): tells `listener` once, when the next layer is closed. One listener is held
 * this way; false if another holds the place (the caller then uses `whenClosed()`).
 */
export function addClosedListener(ws: WebSocketStream, listener: ClosedListener): boolean {
  return addListener(ws, listener);
}

/**
 * Internal (group.ts): calls `opened` once the stream's handshake completes, whether it is running or not started
 * yet; never if it fails (the stream's end says that). False, with nothing registered, when a handshake was already
 * done or the stream ended before one.
 */
export function whenHandshakeDone(ws: WebSocketStream, opened: () => void): boolean {
  return awaitOpen(ws, opened);
}

/**
 * Internal (compat/): hands the frames queued in this turn to the next layer now, not on the next
 * tick (ws writes each frame at once: what was sent before its terminate() or close() is out).
 */
export function flushQueued(ws: WebSocketStream): void {
  flushNow(ws);
}

/**
 * Internal (compat/): in the client role, end the connection as soon as both close frames are
 * exchanged, as ws's client does, instead of waiting up to `closeTimeout` for the server to end it
 * first (RFC 6455 §7.1.1 lets the client do either).
 */
export function endAfterCloseHandshake(ws: WebSocketStream): void {
  endFirst(ws);
}

/**
 * Internal (compat/): `readMessageMax` bounds the octets of a compressed message's frames as well as
 * its inflated size, as ws's `maxPayload` does; before the handshake (frames may come with it).
 */
export function limitCompressedOnWire(ws: WebSocketStream): void {
  limitOnWire(ws);
}

/**
 * Internal (compat/): `write()`, `writeSome()`, `ping()` and `pong()` read the caller's bytes before they
 * return, as ws's `send()` does (it writes them to the socket at once): the caller may change them
 * once the call returns. A payload that waits (for the turn's flush, or to be compressed) is copied; one
 * too large to copy into a frame (over 64 KiB) is written to the next layer at once, as ws writes it.
 * Else the stream keeps the caller's buffer until the write's callback (what the core promises).
 */
export function readBytesAtCall(ws: WebSocketStream): void {
  readAtCall(ws);
}

/**
 * Internal (compat/): the peer's close is answered by the reader (`answerPeerClose`) once it has
 * handled what came before it, or by the stream after `closeTimeout`; not on the turn after the
 * last message before it is taken, nor when a read finds the input ended: ws-stream/ws with
 * `allowSynchronousEvents: false` emits each message and ping a turn after it reads it, and what
 * their listeners send goes before the close answer, as in ws, which reads the close only then.
 */
export function answerCloseByReader(ws: WebSocketStream): void {
  readerAnswers(ws);
}

/**
 * Internal (compat/): the data of the write, writeSome, ping or pong that `write` makes on `ws` is not the caller's
 * to change once the call returns (a Blob's bytes, read into memory of their own; a Duplex's chunk, which its writer
 * leaves alone until the write's callback): under `readBytesAtCall` it is not copied to wait behind messages being
 * compressed. It is still built into its frame at the call when sent at once (the copy the turn's write makes anyway).
 */
export function writeOwnBytes(ws: WebSocketStream, write: () => void): void {
  ownBytes(ws, write);
}

/**
 * Internal (compat/): `write(payload, options, callback)` on `ws`, `payload` being the bytes of `source`, the
 * caller's ArrayBuffer or view, read once (as ws reads it: a getter of a view may answer differently each time): a
 * broadcast loop's writes of `source` share one frame (`builtMessageOf`), as a Buffer's do.
 */
export function writeBytesOf(
  ws: WebSocketStream,
  source: ArrayBuffer | ArrayBufferView,
  payload: Buffer,
  options: WriteOptions,
  callback: Callback<void>,
): void {
  bytesSource = source;
  ws.write(payload, options, callback);
}

/** Internal (compat/): answers the peer's close now if it is still due (see `answerCloseByReader`). */
export function answerPeerClose(ws: WebSocketStream): void {
  answerNow(ws);
}

/** Internal (tests): the stream's normalised options. */
export function streamOptionsOf(ws: WebSocketStream): NormalStreamOptions {
  return optionsOf(ws);
}

export class WebSocketStream implements AsyncIterable<ReceivedData> {
  /** The next layer, as adapted. */
  readonly nextLayer: NextLayer;
  readonly #opts: NormalStreamOptions;
  /**
   * The state, the role and the booleans below, in one small integer: one field instead of eleven
   * (80 bytes less per connection). Read and written through the accessors further down.
   */
  #flags = READER_WHOLE;
  #protocol = '';
  #extensions = '';

  // --- read side ---
  /** Made with the first frame bytes (an idle connection holds none); `FRAMES` says frames flow. */
  #receiver: Receiver | null = null;
  /** What received bytes are for: a handshake's reader until it hands over, then frames. */
  #dataHandler: ((chunk: Buffer) => void) | null = null;
  /** The shared empty queue until something is queued (see `#readQueue`), and again once emptied. */
  #inq: ReadQueue = NO_READS;
  /** The pending read: its completion, or a waiting callback read's callback itself. */
  #reader: Completion<ReceivedData> | Callback<ReceivedData> | null = null;
  #readError: WebSocketError | null = null;

  // --- write side ---
  /** The shared empty queue until something is written (see `#writeQueue`), and again after each flush. */
  #out: WriteQueue = NO_WRITES;
  /** Batches handed to the next layer whose write has not completed. */
  #inFlight = 0;
  /**
   * Waiters of a batch of no bytes, until the writes before them complete: how many of those are still out,
   * the waiters… (made only then: no count of completed writes is kept per connection).
   */
  #afterWrites: (number | Waiter[])[] | null = null;
  /** Prepared frames held until the writeSome() message in progress ends: frame, waiter, frame, waiter… */
  #heldFrames: (Buffer | Waiter)[] | null = null;
  /** Bytes of prepared frames held, and of frames and messages in the deflate line (counted in bufferedAmount). */
  #heldBytes = 0;

  /** The close handshake, made when a close starts, the connection fails, or someone waits for the end. */
  #close: CloseHandshake | null = null;
  /** A group's bookkeeping: one object for many streams, instead of a Promise per stream. */
  #closedListener: ClosedListener | null = null;

  /**
   * For the shared ticker (timers.ts), by `clock()`: the handshake's deadline while it runs (0:
   * none), then when the peer was last heard. One field for both (see the accessors below).
   */
  #time = 0;

  /** permessage-deflate's inflate and deflate lines, when negotiated. */
  #deflate: DeflateLines | null = null;

  /**
   * Fails the running handshake, once: its deadline, its signal, or the next layer's end, failure or close
   * before it agreed (a refusal's body reader puts its own here). Set by `begin`; null once the handshake
   * completed or failed.
   */
  #handshakeAbort: ((err: WebSocketError) => void) | null = null;
  /** What the next layer and the receiver call; what everything else calls. One object, made once. */
  readonly #inner: Inner;

  // --- the fields kept in `#flags` (and `#time`) ---
  // The per-message paths (read side, write(), #opError, #flush) test the bits directly: a private
  // accessor is a runtime call in optimised code on Node 20 (V8 11).
  get #state(): State {
    return this.#flags & STATE_BITS;
  }
  set #state(s: State) {
    this.#flags = (this.#flags & ~STATE_BITS) | s;
  }
  get #role(): 'server' | 'client' | undefined {
    return (this.#flags & SERVER) !== 0 ? 'server' : (this.#flags & CLIENT) !== 0 ? 'client' : undefined;
  }
  set #role(r: 'server' | 'client') {
    this.#flags = (this.#flags & ~(SERVER | CLIENT)) | (r === 'server' ? SERVER : CLIENT);
  }
  /** The pending read wants a whole message (read()), not a piece (readSome()); read as the bit, on the read path. */
  set #readerWhole(v: boolean) {
    this.#setFlag(READER_WHOLE, v);
  }
  /** No more data will arrive; reads past the queue fail with `readError`. */
  get #readEnded(): boolean {
    return (this.#flags & READ_ENDED) !== 0;
  }
  set #readEnded(v: boolean) {
    this.#setFlag(READ_ENDED, v);
  }
  /** We stopped reading from the next layer (backpressure). */
  get #paused(): boolean {
    return (this.#flags & PAUSED) !== 0;
  }
  /** A writeSome() message is in progress; its opcode was sent. */
  get #writingMessage(): boolean {
    return (this.#flags & WRITING_MESSAGE) !== 0;
  }
  set #writingMessage(v: boolean) {
    this.#setFlag(WRITING_MESSAGE, v);
  }
  /** Data arrived since the last tick (a flag, not a clock read per chunk). */
  get #heard(): boolean {
    return (this.#flags & HEARD) !== 0;
  }
  set #heard(v: boolean) {
    this.#setFlag(HEARD, v);
  }
  /** The keep-alive ping of this quiet spell went out (one per spell: a live peer's pong ends it). */
  get #pingedIdle(): boolean {
    return (this.#flags & PINGED_IDLE) !== 0;
  }
  set #pingedIdle(v: boolean) {
    this.#setFlag(PINGED_IDLE, v);
  }
  /** The peer ended its side (FIN). */
  get #peerEnded(): boolean {
    return (this.#flags & PEER_ENDED) !== 0;
  }
  set #peerEnded(v: boolean) {
    this.#setFlag(PEER_ENDED, v);
  }
  /** We ended ours. */
  get #weEnded(): boolean {
    return (this.#flags & WE_ENDED) !== 0;
  }
  set #weEnded(v: boolean) {
    this.#setFlag(WE_ENDED, v);
  }
  get #handshakeDeadline(): number {
    return this.#time;
  }
  set #handshakeDeadline(t: number) {
    this.#time = t;
  }
  get #lastHeard(): number {
    return this.#time;
  }
  set #lastHeard(t: number) {
    this.#time = t;
  }
  #setFlag(bit: number, v: boolean): void {
    this.#flags = v ? this.#flags | bit : this.#flags & ~bit;
  }

  constructor(nextLayer: Duplex | NextLayer, options?: StreamOptions) {
    this.nextLayer = toNextLayer(nextLayer);
    this.#opts = normaliseStreamOptions(options);
    // One small object with a back-reference, rather than a closure per event per connection.
    this.#inner = makeInner(this);
  }

  /** 'server' or 'client', once the handshake set it. */
  get role(): 'server' | 'client' | undefined {
    return this.#role;
  }

  /** The negotiated subprotocol, or '' for none. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The negotiated extensions as sent in the handshake response, or ''. */
  get extensions(): string {
    return this.#extensions;
  }

  /** What the peer's close frame said, once it arrived. */
  get closeReason(): { code: number; reason: string } | undefined {
    return this.#close?.peer;
  }

  /** Whether messages may be written and read: the handshake is done and no close frame was sent or received. */
  get isOpen(): boolean {
    return this.#state === State.Open;
  }

  /** How the connection ended, once the next layer is closed (or the handshake failed). */
  get closeInfo(): CloseInfo | undefined {
    return this.#close?.info;
  }

  /**
   * Resolves with `closeInfo` once the next layer is closed (never rejects), also before any handshake: a
   * Duplex is watched from this call on for its 'close', or the peer's end of its side ('end': a socket held
   * half-open, as node:http's 'upgrade' gives one, stays open after the peer's FIN). A FIN behind bytes nobody
   * has read yet is seen once a handshake reads them (they may hold the whole session, its close frame too).
   * A custom NextLayer tells its close only to the sink a handshake attaches: before one, only a layer already
   * `destroyed` at the call resolves the wait. A layer closed before any handshake ends abnormally (1006,
   * ERR_WS_EOF); the layer itself is left to its owner. That end is final: a handshake started after it was
   * reported fails with ERR_WS_EOF and destroys the layer (a session run then would contradict `closeInfo`).
   */
  whenClosed(): Promise<CloseInfo> {
    const cl = this.#close;
    if (cl?.reported) return Promise.resolve(cl.info!);
    const layer = this.nextLayer;
    if (this.#state === State.Idle) {
      if (layer instanceof DuplexLayer) layer.watchClose(this.#inner, () => this.#closedBeforeHandshake());
      else if (layer.destroyed) queueMicrotask(() => this.#closedBeforeHandshake());
    }
    return this.#closing().whenEnded();
  }

  /** The next layer closed before any handshake attached to it: the end is reported; operations still say no handshake was done. */
  #closedBeforeHandshake(): void {
    if (this.#state !== State.Idle || this.#close?.reported) return;
    const cl = this.#closing();
    cl.failure ??= new WebSocketError('ERR_WS_EOF', 'the connection closed before a handshake');
    cl.layerClosed();
    this.#reportClosed();
  }

  /** Bytes written but not yet handed to the operating system (queued here and in the next layer). */
  get bufferedAmount(): number {
    return this.#out.bytes + this.#heldBytes + this.nextLayer.writableLength;
  }

  static {
    makeInner = (s) => new StreamInner(s);
    queuePrepared = (ws, frame, callback) => ws.#queuePrepared(frame, callback);
    writePreparedDirect = (ws, frame) => ws.#writePreparedDirect(frame);
    whenWrittenOf = (ws, callback) => ws.#whenWritten(callback);
    adopt = (ws, role, agreed) => {
      ws.#state = State.Handshaking;
      ws.nextLayer.attach(ws.#inner);
      ws.#open(role, agreed, undefined);
      ws.#ready();
    };
    addListener = (ws, listener) => {
      if (ws.#closedListener !== null && ws.#closedListener !== listener) return false;
      ws.#closedListener = listener;
      return true;
    };
    awaitOpen = (ws, opened) => {
      const state = ws.#state;
      if ((state !== State.Idle && state !== State.Handshaking) || ws.#close?.reported) return false;
      const waiting = openWaiters.get(ws);
      if (waiting === undefined) openWaiters.set(ws, [opened]);
      else waiting.push(opened);
      ws.#flags |= OPEN_AWAITED;
      return true;
    };
    optionsOf = (ws) => ws.#opts;
    queuedOf = (ws) => ws.#inq.messages;
    compressesOf = (ws, size, compress) => ws.#deflate?.shouldCompress(size, compress) === true;
    flushNow = (ws) => ws.#flush(true);
    endFirst = (ws) => {
      ws.#flags |= ENDS_FIRST;
    };
    limitOnWire = (ws) => {
      ws.#flags |= COMPRESSED_ON_WIRE;
    };
    readAtCall = (ws) => {
      ws.#flags |= READ_AT_CALL;
    };
    readerAnswers = (ws) => {
      ws.#flags |= READER_ANSWERS;
    };
    ownBytes = (ws, write) => {
      ws.#flags |= OWN_BYTES;
      try {
        write();
      } finally {
        ws.#flags &= ~OWN_BYTES;
      }
    };
    answerNow = (ws) => {
      if (ws.#close?.pendingEnd === 'close') ws.#answerInputEnd();
    };

    /**
     * The stream as its next layer, receiver, close handshake, ticker, handshake and deflate lines
     * see it: one object for all (an adapter per caller would cost 40 bytes more per connection).
     */
    class StreamInner implements Inner {
      constructor(private readonly s: WebSocketStream) {}
      // LayerSink
      onData(data: Buffer): void {
        this.s.#layerData(data);
      }
      onClose(): void {
        this.s.#layerClosed();
      }
      onEnd(): void {
        this.s.#layerEnd();
      }
      onError(err: Error): void {
        this.s.#layerError(err);
      }
      // ReceiverHandler
      onMessageData(data: Buffer, fin: boolean, binary: boolean, compressed: boolean, gathered?: Buffer): void {
        this.s.#gotPiece(data, fin, binary, compressed, gathered ?? null);
      }
      assembleFrame(length: number): boolean {
        return this.s.#wantsWhole(length);
      }
      onCloseFrame(code: number, reason: string, payload: Buffer): void {
        this.s.#gotClose(code, reason, payload);
      }
      onPing(payload: Buffer): void {
        this.s.#gotPing(payload);
      }
      onPong(payload: Buffer): void {
        this.s.#reportControl('pong', payload);
      }
      onFail(error: WebSocketError): void {
        this.s.#gotFailure(error);
      }
      // DeflateHost
      deliver(data: Buffer, fin: boolean, binary: boolean, from: Buffer | null): void {
        this.s.#deliverPiece(data, fin, binary, from);
      }
      fail(err: WebSocketError): void {
        this.s.#stopReceiving();
        this.s.#inflateFailed(err);
      }
      inflateIdle(): void {
        this.s.#inflateIdle();
      }
      // Ticking
      tick(): void {
        this.s.#tick();
      }
      // CloseHost
      queueClose(payload: Buffer, behindMessages: boolean, queued: () => void): void {
        const s = this.s;
        if (!behindMessages) {
          s.#queueControl(Opcode.Close, payload);
          s.#flush(true);
          queued();
          return;
        }
        const send = (): void => {
          if (s.#state === State.Closed) return; // the layer went while messages were compressing
          s.#queueControl(Opcode.Close, payload);
          s.#scheduleFlush();
          queued();
          // A peer that ended its side while our close frame waited: ours ends after it.
          if (s.#peerEnded) s.#endLayer();
        };
        // Messages still being compressed go out before the close frame.
        if (s.#deflate !== null) s.#deflate.after(send);
        else send();
      }
      closeExchanged(): void {
        this.s.#flush(true);
        if ((this.s.#flags & (SERVER | ENDS_FIRST)) !== 0 || this.s.#peerEnded) this.s.#endLayer();
      }
      endLayer(): void {
        this.s.#endLayer();
      }
      destroyLayer(): void {
        this.s.nextLayer.destroy();
      }
      endRead(err: WebSocketError): void {
        this.s.#endRead(err);
      }
      flush(): void {
        this.s.#flush();
      }
      answerInputEnd(): void {
        this.s.#answerInputEnd();
      }
      answerTakenInputEnd(): void {
        this.s.#answerTakenInputEnd();
      }
      // HandshakeHost
      get nextLayer(): NextLayer {
        return this.s.nextLayer;
      }
      get options(): NormalStreamOptions {
        return this.s.#opts;
      }
      begin(c: Completion<void>, signal: AbortSignal | undefined): boolean {
        return this.s.#beginHandshake(c, signal);
      }
      read(reader: (chunk: Buffer) => void): void {
        this.s.#dataHandler = reader;
      }
      send(bytes: Buffer, waiter: Waiter): void {
        this.s.#enqueue(bytes, waiter);
      }
      onAbort(fn: ((err: WebSocketError) => void) | null): void {
        this.s.#handshakeAbort = fn;
      }
      open(role: 'server' | 'client', agreed: Agreement, head: Buffer | undefined): void {
        this.s.#open(role, agreed, head);
      }
      ready(): void {
        this.s.#ready();
      }
      giveUp(err: WebSocketError): void {
        this.s.#giveUp(err);
      }
    }
  }

  /** The close handshake, made on first need. */
  #closing(): CloseHandshake {
    return (this.#close ??= new CloseHandshake(this.#inner, this.#opts.closeTimeout));
  }

  /** The first cause of an unclean end, if any. */
  get #failure(): WebSocketError | undefined {
    return this.#close?.failure;
  }

  // ===================================================================== prepared frames

  /** See `queuePreparedFrame` (prepared.ts). */
  #queuePrepared(frame: Buffer, callback: Callback<void> | undefined): boolean {
    if (deferred !== null) runDeferred();
    if (this.#state !== State.Open) return false;
    this.#checkPrepared(frame);
    const w = callback ?? noopWaiter;
    if (this.#writingMessage) {
      // Never between the fragments of a message: it goes once that message's last part is queued.
      (this.#heldFrames ??= []).push(frame, w);
      this.#heldBytes += frame.length;
      this.#checkOverflow();
    } else {
      this.#sendPrepared(frame, w);
    }
    return true;
  }

  /**
   * See `tryWritePreparedFrameNow` (prepared.ts): with nothing queued, held, compressing or in
   * flight here and nothing buffered in the socket, the frame is what this turn's flush would write,
   * so it goes to the socket at once (no queue, no flush tick, no callback). False, writing
   * nothing, when it would have to wait its turn or the stream is not open.
   */
  #writePreparedDirect(frame: Buffer): boolean {
    if (
      (this.#flags & (STATE_BITS | WRITING_MESSAGE | FLUSH_SCHEDULED | WE_ENDED)) !== State.Open ||
      this.#out !== NO_WRITES ||
      this.#inFlight !== 0 ||
      (this.#deflate !== null && !this.#deflate.deflateIdle) ||
      // bufferPolicy 'close' counts the frame before it goes, as on the queued path (which fails the connection).
      (this.#opts.bufferPolicy === 'close' && this.bufferedAmount + frame.length > this.#opts.maxBufferedBytes)
    ) {
      return false;
    }
    const layer = this.nextLayer;
    if (!(layer instanceof DuplexLayer) || !layer.canWriteUnwaited()) return false;
    this.#checkPrepared(frame);
    this.#writeUnwaited(layer, frame, NO_WAITERS);
    return true;
  }

  /** See `whenWritten` (prepared.ts): a waiter queued as a prepared frame of no bytes would be. */
  #whenWritten(callback: Callback<void>): boolean {
    if (deferred !== null) runDeferred();
    if (this.#state !== State.Open) return false;
    if (this.#writingMessage) (this.#heldFrames ??= []).push(EMPTY, callback);
    else this.#sendPrepared(EMPTY, callback);
    return true;
  }

  /** Throws ERR_WS_INVALID_ARGUMENT for a prepared frame this stream cannot send. */
  #checkPrepared(frame: Buffer): void {
    if ((this.#flags & SERVER) === 0) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'prepared frames are server-role');
    }
    if (frame.length < 2 || ((frame[0]! & 0x40) !== 0 && this.#deflate === null)) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'a compressed prepared frame needs permessage-deflate');
    }
  }

  /** Queues a prepared frame now, or behind the messages still in the deflate line. */
  #sendPrepared(frame: Buffer, w: Waiter): void {
    if (this.#deflate === null || this.#deflate.deflateIdle) {
      this.#enqueue(frame, w);
      return;
    }
    this.#heldBytes += frame.length;
    this.#checkOverflow();
    this.#deflate.after(() => {
      this.#heldBytes -= frame.length;
      if (this.#state === State.Closed) settle(w, this.#failure ?? new WebSocketError('ERR_WS_CLOSED'));
      else this.#enqueue(frame, w);
    });
  }

  /** The writeSome() message ended: the prepared frames held for it follow it. */
  #releaseHeld(): void {
    const held = this.#heldFrames!;
    this.#heldFrames = null;
    for (let i = 0; i < held.length; i += 2) {
      const frame = held[i] as Buffer;
      this.#heldBytes -= frame.length;
      this.#sendPrepared(frame, held[i + 1] as Waiter);
    }
  }

  /** Fails the prepared frames held (the message they waited for will never end). */
  #dropHeld(err: WebSocketError): void {
    const held = this.#heldFrames;
    if (held === null) return;
    this.#heldFrames = null;
    for (let i = 0; i < held.length; i += 2) {
      this.#heldBytes -= (held[i] as Buffer).length;
      process.nextTick(settle, held[i + 1] as Waiter, err);
    }
  }

  // ===================================================================== handshakes

  /**
   * Performs the server-role handshake. With a request already read (node:http's
   * `IncomingMessage` with `{ head }`, a plain `{ method, target, httpVersion, headers }`, or what
   * `readRequest` returned), it validates and answers it; without one it first reads the request
   * from the next layer. Completes once the 101 response is handed to the next layer.
   */
  accept(): Promise<void>;
  accept(callback: Callback<void>): void;
  accept(options: AcceptOptions): Promise<void>;
  accept(options: AcceptOptions, callback: Callback<void>): void;
  accept(req: UpgradeRequest, options?: AcceptOptions): Promise<void>;
  accept(req: UpgradeRequest, options: AcceptOptions | undefined, callback: Callback<void>): void;
  accept(req: UpgradeRequest, callback: Callback<void>): void;
  accept(
    a?: UpgradeRequest | AcceptOptions | Callback<void>,
    b?: AcceptOptions | Callback<void>,
    c?: Callback<void>,
  ): Promise<void> | void {
    if (isRequest(a)) return startAccept(this.#inner, a, optionsArg(b), callbackArg(b, c));
    return startAccept(this.#inner, undefined, optionsArg(a), callbackArg(a, b as Callback<void> | undefined));
  }

  /**
   * Performs the client-role handshake: sends the upgrade request (`host`, `target`, `protocols`,
   * `headers`, `decorator`) with a fresh key, checks the 101 response, and opens the stream. A
   * refusal fails with ERR_WS_UPGRADE_DECLINED and the response on `err.response`.
   */
  handshake(options: HandshakeOptions): Promise<void>;
  handshake(options: HandshakeOptions, callback: Callback<void>): void;
  handshake(options: HandshakeOptions, callback?: Callback<void>): Promise<void> | void {
    return startHandshake(this.#inner, options, callbackArg(undefined, callback));
  }

  /**
   * Claims the stream for the handshake that `c` completes: a failure of the next layer
   * meanwhile, or an abort of `signal`, fails it. Returns false (with `c` failed) if it may not start.
   */
  #beginHandshake(c: Completion<void>, signal: AbortSignal | undefined): boolean {
    if (this.#state === State.Handshaking)
      c.fail(new WebSocketError('ERR_WS_OPERATION_IN_PROGRESS', 'a handshake is running'));
    else if (this.#state !== State.Idle)
      c.fail(new WebSocketError('ERR_WS_INVALID_STATE', 'the handshake was already done'));
    else if (this.#close?.reported) {
      // whenClosed() already reported the layer's end (the peer's FIN on a half-open socket, say): a session run
      // now would contradict that closeInfo, so the handshake fails as on a closed layer, and the layer goes.
      c.fail(new WebSocketError('ERR_WS_EOF', 'the connection ended before the handshake'));
      this.nextLayer.destroy();
    }
    if (c.settled) return false;
    if (signal !== undefined && !bindSignal(c, signal, () => this.#abortBySignal(c))) {
      c.fail(new WebSocketError('ERR_WS_ABORTED'));
      return false;
    }
    this.#handshakeAbort = (e) => this.#failHandshake(c, e);
    this.#state = State.Handshaking;
    const t = this.#opts.handshakeTimeout;
    if (t > 0) {
      this.#handshakeDeadline = clock() + t;
      watch(this.#inner, t);
    }
    attachSink(this.nextLayer, this.#inner);
    return true;
  }

  /** The handshake's signal aborted it: the layer is torn down. */
  #abortBySignal(c: Completion<void>): void {
    if (!c.settled) this.#abortHandshake(() => new WebSocketError('ERR_WS_ABORTED'));
  }

  /**
   * The handshake `c` failed for a cause outside it (its deadline, its signal, the layer's end or failure):
   * the stream gives up, as for a refusal, and the layer is torn down (unless it is already).
   */
  #failHandshake(c: Completion<void>, err: WebSocketError): void {
    if (c.settled) return;
    this.#giveUp(err);
    if (!this.nextLayer.destroyed) this.nextLayer.destroy();
    c.fail(err);
  }

  /** A handshake runs and has not agreed yet (its role is set by `#open`): the layer's end or failure fails it. */
  get #headPending(): boolean {
    return this.#handshakeAbort !== null && (this.#flags & (SERVER | CLIENT)) === 0;
  }

  /** The handshake succeeded: frames flow from here on; `head` are the first frame bytes. */
  #open(role: 'server' | 'client', agreed: Agreement, head: Buffer | undefined): void {
    this.#role = role;
    this.#protocol = agreed.protocol;
    this.#extensions = agreed.extensions;
    if (this.#out !== NO_WRITES) this.#out.mask = role === 'client';
    const deflate = agreed.deflate;
    if (deflate) {
      const o = this.#opts.perMessageDeflate!;
      this.#deflate = new DeflateLines(
        role,
        deflate,
        {
          level: o.level,
          memLevel: o.memLevel,
          threshold: o.threshold,
          readMessageMax: this.#opts.readMessageMax,
          validateUtf8: this.#opts.validateUtf8,
        },
        this.#inner,
      );
    }
    this.#dataHandler = null;
    this.#flags |= FRAMES;
    if (head && head.length > 0) {
      const outer = receivedChunk;
      receivedChunk = head;
      try {
        this.#receiving().receive(head);
      } finally {
        receivedChunk = outer;
      }
    }
  }

  /** The receiver, made with the first frame bytes: an idle connection holds none. */
  #receiving(): Receiver {
    return (this.#receiver ??= new Receiver(
      {
        role: this.#role!,
        readMessageMax: this.#opts.readMessageMax,
        maxFragments: this.#opts.maxFragments,
        allowRsv1: this.#deflate !== null,
        validateUtf8: this.#opts.validateUtf8,
        limitCompressedOnWire: (this.#flags & COMPRESSED_ON_WIRE) !== 0,
      },
      this.#inner,
    ));
  }

  /** Input is read no more (the stream failed the connection for a reason of its own). */
  #stopReceiving(): void {
    this.#flags &= ~FRAMES;
    this.#receiver?.stop();
  }

  /** The read queue, to queue into: a stream's own once something is queued. */
  #readQueue(): ReadQueue {
    if (this.#inq === NO_READS) this.#inq = new ReadQueue();
    return this.#inq;
  }

  /** The write queue, to queue into: a stream's own once something is written, until it is handed on. */
  #writeQueue(): WriteQueue {
    if (this.#out === NO_WRITES) {
      this.#out = new WriteQueue();
      this.#out.mask = this.#role === 'client';
    }
    return this.#out;
  }

  /** Empties the write queue (nothing of it will be written); returns its waiters, for the caller to fail. */
  #dropWrites(): Waiter[] {
    const out = this.#out;
    if (out === NO_WRITES) return NO_WAITERS;
    this.#out = NO_WRITES;
    return out.drop();
  }

  /** The handshake completed: operations may start. */
  #ready(): void {
    this.#handshakeAbort = null;
    if (this.#state === State.Handshaking) this.#state = State.Open;
    this.#handshakeDeadline = 0;
    if (this.#opts.idleTimeout > 0 && this.#state === State.Open) {
      this.#lastHeard = clock();
      watch(this.#inner, this.#opts.idleTimeout);
    } else {
      unwatch(this.#inner);
    }
    if (this.#readEnded) this.#serveReader(); // the input ended during the handshake
    if (this.#close?.pendingEnd === 'close' && (this.#deflate === null || this.#deflate.inflateIdle))
      this.#answerWhenRead();
    if ((this.#flags & OPEN_AWAITED) !== 0) this.#tellOpened();
  }

  /** Tells those waiting for the handshake (`whenHandshakeDone`) that it completed; last, as operations may start. */
  #tellOpened(): void {
    this.#flags &= ~OPEN_AWAITED;
    const waiting = openWaiters.get(this)!;
    openWaiters.delete(this);
    for (const opened of waiting) opened();
  }

  /** The handshake failed: the stream lets go of the layer, which the handshake tears down. */
  #giveUp(err: WebSocketError): void {
    this.#handshakeAbort = null;
    if (this.#state === State.Closed) return; // the layer's close came first and said how it ended
    unwatch(this.#inner);
    this.#deflate?.close(); // made by #open when the 101 failed to go out; the detached layer's close never comes
    this.#dataHandler = null;
    this.nextLayer.detach();
    this.#state = State.Closed;
    this.#closing().abandon(err);
    this.#readEnded = true;
    this.#readError = err;
    this.#reportClosed(); // a group holding the stream (added as accept() began) lets it go too
  }

  // ===================================================================== next layer events

  #layerData(chunk: Buffer): void {
    // The per-chunk and per-message paths below test `#flags` directly: a private accessor is a
    // runtime call in optimised code on Node 20 (V8 11), several per message.
    this.#flags |= HEARD;
    if (this.#dataHandler !== null) this.#dataHandler(chunk);
    else if ((this.#flags & FRAMES) !== 0) {
      // (a stream may receive inside another's receive, over layers that deliver synchronously)
      const outer = receivedChunk;
      receivedChunk = chunk;
      try {
        if (answering === null && !answerFlushing) this.#receiveAndAnswer(chunk);
        else this.#receiving().receive(chunk);
      } finally {
        receivedChunk = outer;
      }
    }
    this.#updateFlow();
  }

  /**
   * Receives a chunk. What this stream's reader writes in answer to it (an echo, a reply, an
   * automatic pong) goes out at the chunk's end, in one write as the tick's flush would make it, but
   * without waiting for the 'data' event to return and the tick queue to run (the round trip's
   * latency), and without scheduling that tick. Not while another stream answers (a layer that
   * delivers synchronously: two streams over such a pair would answer each other on one stack), and
   * on the tick as before while pub/sub's deferred runs wait (they go first).
   */
  #receiveAndAnswer(chunk: Buffer): void {
    answering = this;
    try {
      this.#receiving().receive(chunk);
    } catch (err) {
      answering = null;
      if ((this.#flags & FLUSH_AT_CHUNK_END) !== 0) this.#flushOnTick();
      throw err;
    }
    answering = null;
    if ((this.#flags & FLUSH_AT_CHUNK_END) === 0) return;
    if (deferred !== null) return this.#flushOnTick();
    // The chunk's writes are done: the messages they built are not held for the next chunk's (whose are
    // remembered anew, in a young object: see `builtThisTurn`).
    forgetBuilt();
    answerFlushing = true;
    try {
      this.#flush();
    } finally {
      answerFlushing = false;
    }
  }

  /** The shared ticker: handshake deadline, idle timeout, keep-alive ping. */
  #tick(): void {
    const now = clock();
    if (this.#state === State.Handshaking) {
      // Only a handshake with a deadline is watched (begin()), so it is set here.
      // (Until the handshake completed: also while its 101 or request is still being handed on.)
      if (now >= this.#handshakeDeadline)
        this.#abortHandshake(
          () => new WebSocketError('ERR_WS_TIMEOUT', `the handshake took over ${this.#opts.handshakeTimeout} ms`),
        );
      return;
    }
    const idle = this.#opts.idleTimeout;
    if (this.#state !== State.Open || idle === 0) return;
    // Silence we caused (our reader is behind, so we stopped reading) is not the peer's idleness;
    // silence while the peer does not read our writes is.
    if (this.#heard || (this.#paused && this.bufferedAmount <= this.#opts.maxBufferedBytes)) {
      this.#heard = false;
      this.#lastHeard = now;
      this.#pingedIdle = false;
      return;
    }
    const quiet = now - this.#lastHeard;
    if (quiet >= idle) {
      const err = new WebSocketError('ERR_WS_TIMEOUT', `nothing received for ${idle} ms`);
      this.#closing().fail(err, 1001, 'idle timeout', 'destroy');
    } else if (this.#opts.keepAlive && !this.#pingedIdle && quiet >= idle / 2) {
      this.#pingedIdle = true;
      this.#queueControl(Opcode.Ping, EMPTY);
      this.#scheduleFlush();
    }
  }

  #layerEnd(): void {
    if (this.#headPending) {
      // The handshake failed: the stream is given up at once, not left "handshaking" until the layer's 'close'.
      this.#abortHandshake(
        () => new WebSocketError('ERR_WS_EOF', 'the peer ended the connection during the handshake'),
      );
      return;
    }
    // The peer will send nothing more: a WebSocket is not used half-open, so end our side too.
    const cl = this.#closing();
    if (!cl.received && !cl.failure) {
      cl.failure = new WebSocketError('ERR_WS_EOF', this.#receiver?.midMessage ? 'inside a message' : undefined);
    }
    this.#endRead(cl.failure ?? null);
    this.#peerEnded = true;
    // A close frame still due goes out first (the peer may read after its FIN), and so does the
    // one that a message still inflating may call for (too big, not UTF-8); then we end.
    if (cl.pendingEnd === null && !cl.waiting && (this.#deflate === null || this.#deflate.inflateIdle))
      this.#endLayer();
    cl.armTimer();
  }

  /** Ends our sending side once; nothing is written after it. */
  #endLayer(): void {
    if (this.#weEnded) return;
    this.#flush(true);
    this.#weEnded = true;
    this.nextLayer.end();
  }

  #layerError(err: Error): void {
    if (this.#headPending) {
      this.#abortHandshake(() => new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err }));
      return;
    }
    const cl = this.#closing();
    // Our close frame still compressing behind messages or queued here: never handed on, it never went.
    // Nor did one handed on when a write fails (the frame was in it or behind it, as in `#writeWaited`):
    // a write with no callback (`#writeUnwaited`) reports its failure only as the socket's error.
    if (cl.sent && (cl.waiting || this.#out.length > 0 || (err as NodeJS.ErrnoException).syscall === 'write'))
      cl.lost = true;
    // After both close frames, a reset (a peer that closes with RST, as some do) ends nothing it did not end.
    if (!cl.complete && (!cl.failure || cl.failure.code === 'ERR_WS_EOF')) {
      cl.failure = new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err });
    }
    this.#endRead(cl.failure ?? null);
    this.nextLayer.destroy();
  }

  /** Fails the running handshake, if one runs, with the error `makeError` makes (none is made otherwise). */
  #abortHandshake(makeError: () => WebSocketError): void {
    const abort = this.#handshakeAbort;
    this.#handshakeAbort = null;
    abort?.(makeError());
  }

  #layerClosed(): void {
    unwatch(this.#inner);
    this.#deflate?.close();
    if (this.#state === State.Closed) return;
    if (this.#headPending) {
      this.#abortHandshake(() => new WebSocketError('ERR_WS_EOF', 'the connection closed during the handshake'));
      return;
    }
    this.#state = State.Closed;
    const cl = this.#closing();
    cl.layerClosed();
    const endError = cl.endError;
    this.#endRead(endError);
    const waiters = this.#dropWrites();
    if (waiters.length > 0 || this.#heldFrames !== null) {
      const writeErr =
        endError ?? new WebSocketError('ERR_WS_CLOSED', 'the connection closed before the write went out');
      for (const w of waiters) settle(w, writeErr);
      this.#dropHeld(writeErr);
    }
    // Messages that arrived before the end and are still inflating are delivered first.
    if (this.#deflate === null || this.#deflate.inflateIdle) this.#reportClosed();
  }

  /** Reports the end (whenClosed(), close(), the group), once; after every message received is delivered. */
  #reportClosed(): void {
    const cl = this.#close!;
    if (cl.reported) return;
    this.#closedListener?.streamClosed(this);
    this.#closedListener = null;
    cl.notify();
  }

  // ===================================================================== receiver events

  /** `gathered`: the buffer the receiver gathered the piece's frame into (`assembleFrame`), which it keeps; null: a view of the chunk. */
  #gotPiece(data: Buffer, fin: boolean, binary: boolean, compressed: boolean, gathered: Buffer | null): void {
    if (this.#deflate?.receive(data, fin, binary, compressed, receivedChunk)) return;
    this.#deliverPiece(data, fin, binary, gathered ?? receivedChunk);
  }

  /**
   * Whether the receiver should gather a data frame of `length` bytes that runs past its chunk into one buffer
   * (unmasked as it is copied, one pass), rather than hand it out piece by piece for `read()` to join: a reader
   * waits for a whole message, nothing is queued before it, and the frame is no larger than the queue may hold
   * (memory the peer makes us reserve by announcing a frame). Without compression only (its lines keep order).
   * When that reader goes, `releaseFrame()` hands out what was gathered (`#abortRead`, `#endRead`).
   */
  #wantsWhole(length: number): boolean {
    return (
      this.#reader !== null &&
      (this.#flags & READER_WHOLE) !== 0 &&
      this.#deflate === null &&
      this.#inq.isEmpty &&
      length <= this.#opts.readHighWaterMark
    );
  }

  /** The inflate line is empty: reads may end, a deferred close answer may go. */
  #inflateIdle(): void {
    const cl = this.#close;
    // A violation is answered at once, without waiting for the reader; the peer's close once it read.
    if (cl !== null && cl.pendingEnd === 'fail') setImmediate(answerInputEnd, this.#inner);
    else if (cl !== null && cl.pendingEnd === 'close') this.#answerWhenRead();
    // The peer ended while messages inflated, and none of them failed the connection: ours ends now.
    else if (this.#peerEnded && cl !== null && !cl.waiting && this.#state !== State.Closed) this.#endLayer();
    if (this.#readEnded) this.#serveReader();
    this.#updateFlow();
    if (this.#state === State.Closed) this.#reportClosed();
  }

  /** A received piece, in order; `from`: the chunk it is a view of, which it keeps while queued (null: its own memory). */
  #deliverPiece(data: Buffer, fin: boolean, binary: boolean, from: Buffer | null): void {
    if (fin && this.#reader !== null && (this.#flags & READER_WHOLE) !== 0 && this.#inq.isEmpty) {
      // The common case: a whole message, a reader waiting, nothing queued before it.
      const r = this.#reader;
      this.#reader = null;
      completeRead(r, null, new ReceivedData(data, binary, true));
      return;
    }
    this.#readQueue().push(data, fin, binary, from);
    this.#serveReader();
  }

  /** Reports a control frame in wire order: after the messages before it that are still inflating. */
  #reportControl(kind: 'ping' | 'pong' | 'close', payload: Buffer): void {
    const report = this.#opts.controlCallback;
    if (report !== undefined) this.#inWireOrder(() => this.#callControlCallback(report, kind, payload));
  }

  /** What the application's callback throws is thrown again a tick later: the rest of the chunk is still read. */
  #callControlCallback(
    report: NonNullable<StreamOptions['controlCallback']>,
    kind: 'ping' | 'pong' | 'close',
    payload: Buffer,
  ): void {
    try {
      report(kind, payload, this);
    } catch (err) {
      process.nextTick(rethrow, err);
    }
  }

  /** Runs `fn` now, or behind the messages still inflating (never if one of them fails the connection). */
  #inWireOrder(fn: () => void): void {
    if (this.#deflate === null || this.#deflate.inflateIdle) fn();
    else this.#deflate.afterInflating(fn);
  }

  #gotPing(payload: Buffer): void {
    // The answer is queued before the report: a close() made by whoever hears the ping goes after it.
    // Behind a message still inflating it waits for it, and is never sent if that message fails the
    // connection (RFC 6455 §7.1.7: nothing after the failure is processed).
    if (this.#opts.autoPong) this.#inWireOrder(() => this.#answerPing(payload));
    this.#reportControl('ping', payload);
  }

  #answerPing(payload: Buffer): void {
    if (this.#close?.sent || this.#state === State.Closed) return;
    this.#queueControl(Opcode.Pong, payload);
    this.#scheduleFlush();
  }

  #gotClose(code: number, reason: string, payload: Buffer): void {
    // Acted on at once; reported in wire order (after a ping before it, held behind a message
    // still inflating). Recorded before the report, which may call close(): the peer stays the
    // first closer.
    this.#closing().peerClosed(code, reason, payload);
    this.#reportControl('close', payload);
    this.#deferInputEnd('close');
    this.#endRead(null);
  }

  /**
   * A received message failed to inflate (too big, not UTF-8, not deflate data). It arrived before
   * whatever ended the input since (the peer's close frame, its FIN, a reset): its reader hears this
   * error, in wire order, and a close frame behind it takes no effect.
   */
  #inflateFailed(error: WebSocketError): void {
    this.#close?.overrulePeerClose();
    const ended = this.#readError; // null: not ended, or ended by the peer's close frame
    // A frame violation found since, not answered yet, came after this message on the wire: this failure wins.
    const laterViolation = this.#close?.pendingEnd === 'fail';
    if (ended === null || laterViolation || ended.code === 'ERR_WS_EOF' || ended.code === 'ERR_WS_NEXT_LAYER')
      this.#readError = error;
    this.#gotFailure(error);
  }

  #gotFailure(error: WebSocketError): void {
    if (this.#state === State.Closed) {
      // A message that arrived before the end failed to inflate after it: its reader hears why.
      this.#readError ??= error;
      this.#serveReader();
      return;
    }
    this.#closing().failure = error;
    this.#deferInputEnd('fail');
    this.#endRead(error);
  }

  /**
   * The input ended with a close frame or a violation. A violation is answered on the next turn.
   * The answer to a close waits until the reader has taken the messages that came before it, so
   * that replies to them (an echo, a paused ws-stream/ws socket resumed later) still go out first,
   * as `ws` does (RFC 6455 §5.5.1 allows finishing the current message); it goes at the latest
   * after `closeTimeout`, so a stream nobody reads still answers (with 0, no limit: once read).
   */
  #deferInputEnd(what: 'close' | 'fail'): void {
    this.#close!.pendingEnd = what;
    // Messages still inflating come first (#inflateIdle goes on when that line is empty): one of them
    // may fail too, and, earlier on the wire, its failure is the one answered (RFC 6455 §5.4).
    const inflating = this.#deflate !== null && !this.#deflate.inflateIdle && !this.#deflate.failed;
    if (inflating) return;
    if (what === 'fail') setImmediate(answerInputEnd, this.#inner);
    else this.#answerWhenRead();
  }

  /** The deferred close answer: on the next turn once no message before it is unread, or by `closeTimeout`. */
  #answerWhenRead(): void {
    // The layer closed (while messages inflated): nothing can be answered, and no timer may outlive it.
    if (this.#state === State.Closed) return;
    // A close that came with the handshake (in `head`) is answered once the stream is open (#ready), after
    // what the application does on opening: ws-stream/ws answers the pings before it after 'connection'.
    if (this.#state === State.Handshaking) return;
    // Our close frame went already: no reply to the unread messages can follow it, so nothing is
    // held back for the reader (the close handshake completes now; the messages stay readable).
    if (this.#inq.messages === 0 || this.#close!.sent) {
      setImmediate(answerTakenInputEnd, this.#inner);
      return;
    }
    this.#armAnswerTimer();
  }

  /** The deferred close answer goes by `closeTimeout` at the latest, so a stream nobody reads still answers (0: no limit). */
  #armAnswerTimer(): void {
    const ms = this.#opts.closeTimeout;
    if (ms > 0 && this.#close!.answerTimer === null) {
      this.#close!.answerTimer = setTimeout(answerInputEnd, ms, this.#inner);
    }
  }

  /**
   * The turn after the last message before the peer's close was taken: the deferred answer goes,
   * unless the reader answers it (`answerCloseByReader`; checked now, as the
   * stream may be handed to it after this turn was taken, with a close that came with the handshake).
   */
  #answerTakenInputEnd(): void {
    const cl = this.#close;
    if ((this.#flags & READER_ANSWERS) !== 0 && cl?.pendingEnd === 'close' && !cl.sent && this.#state !== State.Closed)
      this.#armAnswerTimer();
    else this.#answerInputEnd();
  }

  /** Sends the deferred answer to the end of input, if it is still due. */
  #answerInputEnd(): void {
    const cl = this.#close;
    const what = cl?.pendingEnd ?? null;
    if (what === null) return;
    cl!.pendingEnd = null;
    if (this.#state === State.Closed) return;
    if (this.#state === State.Open) this.#state = State.Closing;
    if (what === 'fail') {
      const f = cl!.failure!;
      cl!.fail(f, f.closeCode || 1002, this.#opts.failureReason ? closeReasonOf(f.message) : '', 'end');
    } else {
      // Behind the messages written before it, those still compressing too; then the handshake
      // finishes (and a server, or a side whose peer ended, ends the connection).
      cl!.answer();
    }
  }

  // ===================================================================== reading

  /** Reads one whole message. */
  read(): Promise<ReceivedData>;
  read(callback: Callback<ReceivedData>): void;
  read(options: ReadOptions): Promise<ReceivedData>;
  read(options: ReadOptions, callback: Callback<ReceivedData>): void;
  read(a?: ReadOptions | Callback<ReceivedData>, b?: Callback<ReceivedData>): Promise<ReceivedData> | undefined {
    return this.#startRead(true, signalArg(optionsArg(a)), callbackArg(a, b));
  }

  /** Reads what has arrived of the current message (at least one byte, or its end). */
  readSome(): Promise<ReceivedData>;
  readSome(callback: Callback<ReceivedData>): void;
  readSome(options: ReadOptions): Promise<ReceivedData>;
  readSome(options: ReadOptions, callback: Callback<ReceivedData>): void;
  readSome(a?: ReadOptions | Callback<ReceivedData>, b?: Callback<ReceivedData>): Promise<ReceivedData> | undefined {
    return this.#startRead(false, signalArg(optionsArg(a)), callbackArg(a, b));
  }

  #startRead(
    whole: boolean,
    signal: AbortSignal | undefined,
    callback?: Callback<ReceivedData>,
  ): Promise<ReceivedData> | undefined {
    const flags = this.#flags;
    const ready = (flags & STATE_BITS) >= State.Open;
    if (
      callback === undefined &&
      whole &&
      ready &&
      this.#reader === null &&
      this.#inq.messages > 0 &&
      !signal?.aborted
    ) {
      return Promise.resolve(this.#take(true)); // a whole message is queued: no waiting
    }
    if (
      callback !== undefined &&
      signal === undefined &&
      ready &&
      this.#reader === null &&
      (flags & (READ_ENDED | PAUSED)) === 0
    ) {
      // A callback read needs no completion object: one that waits is held as the callback alone
      // (what an idle connection keeps), one served at once completes on the next tick. (Not while
      // paused: resuming a layer that delivers synchronously could complete it inside this call.)
      if (whole ? this.#inq.messages > 0 : !this.#inq.isEmpty) {
        process.nextTick(callback, null, this.#take(whole));
      } else {
        // Not paused (above), and a waiting reader can only keep it so: whether our writes are
        // backed up is next judged when data arrives (#layerData), before any of it is queued.
        this.#reader = callback;
        this.#flags = whole ? flags | READER_WHOLE : flags & ~READER_WHOLE;
      }
      return undefined;
    }
    const c = new Completion<ReceivedData>(callback);
    if (this.#reader !== null) c.fail(new WebSocketError('ERR_WS_OPERATION_IN_PROGRESS', 'a read is pending'));
    else if (!ready) c.fail(this.#opError()!);
    else if (!bindSignal(c, signal, () => this.#abortRead(c))) c.fail(new WebSocketError('ERR_WS_ABORTED'));
    else {
      this.#reader = c;
      this.#readerWhole = whole;
      this.#serveReader();
    }
    return c.started();
  }

  /** An aborted read: what arrived stays queued for the next read. */
  #abortRead(c: Completion<ReceivedData>): void {
    if (this.#reader !== c) return;
    this.#reader = null;
    this.#receiver?.releaseFrame(); // a frame gathered for it is queued as it stands, for the next reader
    c.fail(new WebSocketError('ERR_WS_ABORTED'));
    this.#updateFlow();
  }

  /** Completes the pending read if the queue can serve it, or fails it if nothing more will come. */
  #serveReader(): void {
    const r = this.#reader;
    if (r === null) return;
    const whole = (this.#flags & READER_WHOLE) !== 0;
    if (whole ? this.#inq.messages > 0 : !this.#inq.isEmpty) {
      this.#reader = null;
      completeRead(r, null, this.#take(whole));
    } else if (
      this.#readEnded &&
      this.#state !== State.Handshaking &&
      (this.#deflate === null || this.#deflate.inflateIdle || this.#deflate.failed)
    ) {
      this.#reader = null;
      // The close frame goes out before the error is reported (unless the reader answers it).
      if ((this.#flags & READER_ANSWERS) === 0 || this.#close?.pendingEnd !== 'close') this.#answerInputEnd();
      completeRead(r, this.#readError ?? new WebSocketError('ERR_WS_CLOSED'));
    } else {
      this.#updateFlow();
    }
  }

  /** Takes a whole message or a piece from the queue; reading may resume. */
  #take(whole: boolean): ReceivedData {
    const m = whole ? this.#inq.takeMessage() : this.#inq.takePiece();
    if (this.#inq.isEmpty) this.#inq = NO_READS;
    // The last message before the peer's close is taken: the deferred answer may go.
    if (this.#inq.messages === 0 && this.#close?.pendingEnd === 'close' && this.#deflate?.inflateIdle !== false)
      setImmediate(answerTakenInputEnd, this.#inner);
    if ((this.#flags & PAUSED) !== 0) this.#updateFlow();
    return m;
  }

  /**
   * Stops reading from the peer while nobody reads what is queued (over `readHighWaterMark`), or
   * while our writes to it are backed up (over `maxBufferedBytes`: a peer that floods pings but
   * never reads cannot grow our pong queue); reads again when neither holds.
   */
  #updateFlow(): void {
    const pause =
      (this.#reader === null && this.#inq.bytes > this.#opts.readHighWaterMark) ||
      this.bufferedAmount > this.#opts.maxBufferedBytes ||
      (this.#deflate !== null && this.#deflate.inflateBacklog > 64);
    const flags = this.#flags;
    if (pause === ((flags & PAUSED) !== 0) || (flags & STATE_BITS) === State.Closed) return;
    this.#flags = pause ? flags | PAUSED : flags & ~PAUSED;
    if (pause) this.nextLayer.pause();
    else this.nextLayer.resume();
  }

  /** No more data will arrive: reads past the queue fail with `err`, or ERR_WS_CLOSED for null (a clean end). */
  #endRead(err: WebSocketError | null): void {
    // What arrived of a frame gathered for the reader is queued first, as its pieces would have been.
    this.#receiver?.releaseFrame();
    if (!this.#readEnded) {
      this.#readEnded = true;
      this.#readError = err;
    }
    this.#serveReader();
  }

  /** Iterates over whole messages; ends after a clean close, throws the error of an unclean end. */
  async *[Symbol.asyncIterator](): AsyncIterator<ReceivedData> {
    for (;;) {
      try {
        yield await this.read();
      } catch (err) {
        if (err instanceof WebSocketError && err.code === 'ERR_WS_CLOSED') return;
        throw err;
      }
    }
  }

  // ===================================================================== writing

  /** Sends a whole message (split into frames of `fragmentSize` when `autoFragment` is on). */
  write(data: WriteData, options?: WriteOptions): Promise<void>;
  write(data: WriteData, options: WriteOptions | undefined, callback: Callback<void>): void;
  write(data: WriteData, callback: Callback<void>): void;
  write(data: WriteData, a?: WriteOptions | Callback<void>, b?: Callback<void>): Promise<void> | void {
    // What a broadcast's writes share a frame by: the data, or what compat read it from (`writeBytesOf`). (Stored
    // only when set: the echo's writes make no store to the module's context.)
    let source: unknown = data;
    if (bytesSource !== null) {
      source = bytesSource;
      bytesSource = null;
    }
    const own = this.#takeOwnBytes();
    if (deferred !== null) runDeferred();
    const options = optionsArg(a);
    const signal = signalArg(options);
    const callback = callbackArg(a, b);
    // A string's bytes are made below, unless they were made for a write before in this turn (see `builtMessageOf`).
    const bytes = typeof data === 'string' ? null : toBuffer(data);
    const binary = checkFlag('binary', options?.binary) ?? this.#defaultBinary(data);
    const compressFlag = checkFlag('compress', options?.compress);
    const err =
      (this.#flags & WRITING_MESSAGE) !== 0
        ? new WebSocketError('ERR_WS_OPERATION_IN_PROGRESS', 'a message sent with writeSome() is not finished')
        : this.#opError();
    if (err) return failNow(callback, err);
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    // ws-stream/ws's server: data a write before in this turn was built from (a broadcast loop) is sent as the same bytes.
    const shares = (this.#flags & (SERVER | READ_AT_CALL)) === (SERVER | READ_AT_CALL);
    const built = shares ? builtMessageOf(source, bytes, opcode) : null;
    const payload = built !== null ? built.payload! : (bytes ?? toBuffer(data));
    // Built bytes are nobody's to change: never copied again.
    const borrowed = built === null && this.#borrowed(data, payload);
    if (this.#deflate !== null) {
      const compress = this.#deflate.shouldCompress(payload.length, compressFlag);
      if (compress || !this.#deflate.deflateIdle)
        return this.#writeInLine(opcode, toHold(payload, borrowed, own), true, compress, true, signal, callback, true);
    }
    const first = signal === undefined ? -1 : this.#writeQueue().mark();
    const copy = borrowed && this.#copiesAtCall(payload);
    if (
      shares &&
      (!this.#opts.autoFragment || payload.length <= this.#opts.fragmentSize) &&
      (copy || built !== null || bytes === null)
    ) {
      // One frame: built now and remembered for the next stream's write of the same data, or the one built before.
      if (built !== null) this.#writeQueue().frameAgain(built);
      else this.#writeQueue().frameOnce(source, opcode, payload);
    } else {
      this.#queueMessage(opcode, payload, true, false, copy);
    }
    const ret = this.#queueWaiter(callback, signal, first);
    if (borrowed && !copy) this.#writeBorrowedNow();
    return ret;
  }

  /**
   * Whether a caller's payload (`readBytesAtCall`) is copied into its frame at the call: one of up to 64 KiB, unless
   * the next layer still holds bytes. Then it goes to the layer now as it is, as ws writes it: it waits there as the
   * caller's Buffer (a copy per message would be held for a peer that does not read).
   */
  #copiesAtCall(payload: Buffer): boolean {
    return payload.length <= COPY_MAX && this.nextLayer.writableLength === 0;
  }

  /**
   * A caller's payload that is not copied (`#copiesAtCall`) goes to the next layer now, with what this turn queued
   * before it (`readBytesAtCall`; ws writes each frame at once). Once our side has ended, the turn's flush fails it.
   */
  #writeBorrowedNow(): void {
    if ((this.#flags & WE_ENDED) === 0) this.#flush();
  }

  /**
   * Whether a write's payload is the caller's and must be read before the call returns (`readBytesAtCall`): not a
   * string's bytes (made here), nor a client's (masked into a copy as it is queued) unless it waits to be compressed.
   */
  #borrowed(data: WriteData, payload: Buffer): boolean {
    return (
      (this.#flags & READ_AT_CALL) !== 0 &&
      typeof data !== 'string' &&
      payload.length > 0 &&
      ((this.#flags & CLIENT) === 0 || this.#deflate !== null)
    );
  }

  /**
   * Whether the data of the write, writeSome, ping or pong being called is the stream's own (`writeOwnBytes`): taken
   * at the call's start, so that it holds for that call alone, not for one made within it (pub/sub's deferred work, or
   * an application's callback over a layer that delivers to its peer synchronously).
   */
  #takeOwnBytes(): boolean {
    const own = (this.#flags & OWN_BYTES) !== 0;
    if (own) this.#flags &= ~OWN_BYTES;
    return own;
  }

  /** Sends part of a message: the first part fixes its type; the part with `fin` ends it. */
  writeSome(data: WriteData, options?: WriteSomeOptions): Promise<void>;
  writeSome(data: WriteData, options: WriteSomeOptions | undefined, callback: Callback<void>): void;
  writeSome(data: WriteData, callback: Callback<void>): void;
  writeSome(data: WriteData, a?: WriteSomeOptions | Callback<void>, b?: Callback<void>): Promise<void> | void {
    const own = this.#takeOwnBytes();
    if (deferred !== null) runDeferred();
    const options = optionsArg(a);
    const signal = signalArg(options);
    const callback = callbackArg(a, b);
    const payload = toBuffer(data);
    const fin = checkFlag('fin', options?.fin) ?? true;
    const binaryFlag = checkFlag('binary', options?.binary);
    const compressFlag = checkFlag('compress', options?.compress);
    const err = this.#opError();
    if (err) return failNow(callback, err);
    const firstPart = !this.#writingMessage;
    const opcode = this.#writingMessage
      ? Opcode.Continuation
      : (binaryFlag ?? this.#defaultBinary(data))
        ? Opcode.Binary
        : Opcode.Text;
    this.#writingMessage = !fin;
    let ret: Promise<void> | undefined;
    const deflate = this.#deflate;
    if (deflate !== null && firstPart) deflate.writingCompressed = compressFlag !== false;
    const borrowed = this.#borrowed(data, payload);
    if (deflate !== null && (deflate.writingCompressed || !deflate.deflateIdle)) {
      const part = toHold(payload, borrowed, own);
      ret = this.#writeInLine(opcode, part, fin, deflate.writingCompressed, firstPart, signal, callback);
    } else {
      const copy = borrowed && this.#copiesAtCall(payload);
      this.#queueMessage(opcode, payload, fin, false, copy);
      // A part of a message cannot be withdrawn (the parts after it would be orphans): abort only stops waiting.
      ret = this.#queueWaiter(callback, signal, -1);
      if (borrowed && !copy) this.#writeBorrowedNow();
    }
    if (fin && this.#heldFrames !== null) this.#releaseHeld();
    return ret;
  }

  /** The type of a write that does not say: the stream's `binary` option, or from the data. */
  #defaultBinary(data: WriteData): boolean {
    const b = this.#opts.binary;
    return b === 'auto' ? typeof data !== 'string' : b;
  }

  /**
   * A data frame that waits its turn behind messages being compressed (zlib is asynchronous), and
   * is compressed itself when `compress`: RSV1 on the first frame of the message only. A whole
   * message (`withdrawable`: a write(), not a writeSome() part) aborted before its turn is withdrawn.
   */
  #writeInLine(
    opcode: number,
    payload: Buffer,
    fin: boolean,
    compress: boolean,
    firstPart: boolean,
    signal: AbortSignal | undefined,
    callback?: Callback<void>,
    withdrawable = false,
  ): Promise<void> | undefined {
    const c = waitingTurn(signal, callback);
    if (c.settled) return c.started();
    const deflate = this.#deflate!;
    // Written but not yet handed on: counted in bufferedAmount while it waits its turn and compresses.
    this.#heldBytes += payload.length;
    const emit = (body: Buffer, rsv1: boolean): void => {
      this.#heldBytes -= payload.length;
      // Aborted while it compressed: nothing of it is on the wire, and with no context takeover on our side the
      // compressor kept nothing of it either, so it is withdrawn still (else the peer's window needs it: sent whole).
      if (withdrawable && c.settled && !deflate.contextTakeover) return;
      this.#queueMessage(opcode, body, fin, rsv1);
      this.#writeQueue().wait(c);
      this.#scheduleFlush();
    };
    deflate.send(
      payload,
      fin,
      compress,
      (body, compressed) => emit(body, compressed && firstPart),
      (e) => {
        this.#heldBytes -= payload.length;
        // The layer went while this compressed: an unclean end reports its own error, as the writes queued behind do.
        c.fail(e.code === 'ERR_WS_CLOSED' ? (this.#close?.endError ?? e) : e);
      },
      withdrawable && signal !== undefined
        ? (): boolean => {
            if (!c.settled) return false;
            this.#heldBytes -= payload.length;
            return true;
          }
        : undefined,
    );
    return c.started();
  }

  /** Sends a ping (payload at most 125 bytes). */
  ping(payload?: WriteData, options?: PingOptions): Promise<void>;
  ping(payload: WriteData | undefined, callback: Callback<void>): void;
  ping(payload: WriteData | undefined, options: PingOptions | undefined, callback: Callback<void>): void;
  ping(payload?: WriteData, a?: PingOptions | Callback<void>, b?: Callback<void>): Promise<void> | void {
    const options = optionsArg(a);
    return this.#control(Opcode.Ping, payload, options, signalArg(options), callbackArg(a, b));
  }

  /** Sends a pong (payload at most 125 bytes): a keep-alive that needs no answer. */
  pong(payload?: WriteData, options?: PingOptions): Promise<void>;
  pong(payload: WriteData | undefined, callback: Callback<void>): void;
  pong(payload: WriteData | undefined, options: PingOptions | undefined, callback: Callback<void>): void;
  pong(payload?: WriteData, a?: PingOptions | Callback<void>, b?: Callback<void>): Promise<void> | void {
    const options = optionsArg(a);
    return this.#control(Opcode.Pong, payload, options, signalArg(options), callbackArg(a, b));
  }

  #control(
    opcode: number,
    data: WriteData | undefined,
    options: PingOptions | undefined,
    signal: AbortSignal | undefined,
    callback?: Callback<void>,
  ): Promise<void> | undefined {
    const own = this.#takeOwnBytes();
    if (deferred !== null) runDeferred();
    const payload = data === undefined ? EMPTY : toBuffer(data);
    if (payload.length > 125) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'control payload over 125 bytes');
    const afterMessages = checkFlag('afterMessages', options?.afterMessages);
    const err = this.#opError();
    if (err) return failNow(callback, err);
    const borrowed = data !== undefined && this.#borrowed(data, payload);
    if (afterMessages === true && this.#deflate !== null && !this.#deflate.deflateIdle)
      return this.#controlAfterMessages(opcode, toHold(payload, borrowed, own), signal, callback);
    const first = signal === undefined ? -1 : this.#writeQueue().mark();
    this.#writeQueue().frame(opcode, payload, true, false, borrowed);
    return this.#queueWaiter(callback, signal, first);
  }

  /** A ping or pong queued once the messages before it are compressed and queued (`afterMessages`). */
  #controlAfterMessages(
    opcode: number,
    payload: Buffer,
    signal: AbortSignal | undefined,
    callback?: Callback<void>,
  ): Promise<void> | undefined {
    const c = waitingTurn(signal, callback);
    if (c.settled) return c.started();
    this.#heldBytes += payload.length;
    this.#deflate!.after(() => {
      this.#heldBytes -= payload.length;
      if (c.settled) return; // aborted while it waited: never sent
      if (this.#state === State.Closed) return c.fail(this.#failure ?? new WebSocketError('ERR_WS_CLOSED'));
      this.#queueControl(opcode, payload);
      this.#writeQueue().wait(c);
      this.#scheduleFlush();
    });
    this.#checkOverflow(); // it counts while it waits, as a held prepared frame does
    return c.started();
  }

  /**
   * Starts the close handshake (RFC 6455 §7): sends a close frame, reads until the peer's, then
   * tears the layer down. Completes once the layer is closed; fails with ERR_WS_TIMEOUT when the
   * peer did not answer within `closeTimeout`. Messages that arrive meanwhile can still be read.
   */
  close(options?: CloseOptions): Promise<void>;
  close(options: CloseOptions | undefined, callback: Callback<void>): void;
  close(callback: Callback<void>): void;
  close(a?: CloseOptions | Callback<void>, b?: Callback<void>): Promise<void> | void {
    if (deferred !== null) runDeferred();
    const options = optionsArg(a);
    const signal = signalArg(options);
    const code = options?.code ?? 1000;
    // 1005 ("no status", never on the wire) sends a close frame without a status code.
    const payload = encodeClosePayload(code === CLOSE_NO_STATUS ? undefined : code, options?.reason); // throws if bad
    const c = new Completion<void>(callbackArg(a, b));
    if (!bindSignal(c, signal, () => this.#abortClose(c))) {
      this.#abortClose(c);
      return c.started();
    }
    if (this.#state === State.Idle) c.fail(new WebSocketError('ERR_WS_INVALID_STATE', 'the handshake was not done'));
    else if (this.#state === State.Handshaking)
      c.fail(new WebSocketError('ERR_WS_OPERATION_IN_PROGRESS', 'a handshake is running'));
    else if (this.#state === State.Closed) {
      if (this.#close?.info?.wasClean) c.succeed();
      else c.fail(this.#failure ?? new WebSocketError('ERR_WS_CLOSED', undefined, { captureStack: true }));
    } else {
      if (this.#state === State.Open) this.#state = State.Closing;
      this.#closing().start(code, payload, c);
    }
    return c.started();
  }

  /** An aborted close stops waiting for the peer: the layer goes at once. */
  #abortClose(c: Completion<void>): void {
    c.fail(new WebSocketError('ERR_WS_ABORTED'));
    if (this.#state !== State.Idle && this.#state !== State.Closed) this.nextLayer.destroy();
  }

  /** Why a message operation may not start now, or null. */
  #opError(): WebSocketError | null {
    switch ((this.#flags & STATE_BITS) as State) {
      case State.Open:
        return null;
      case State.Idle:
        return new WebSocketError('ERR_WS_INVALID_STATE', 'the handshake was not done');
      case State.Handshaking:
        return new WebSocketError('ERR_WS_OPERATION_IN_PROGRESS', 'a handshake is running');
      // After a failure, later operations report its cause; after a clean close, ERR_WS_CLOSED.
      default:
        return this.#failure ?? new WebSocketError('ERR_WS_CLOSED', undefined, { captureStack: true });
    }
  }

  /**
   * Queues a message, or a part of one: with `autoFragment`, split into frames of at most
   * `fragmentSize` bytes (RSV1 on the first frame only, FIN on the last when `fin`), else one
   * frame. The one rule for write() and every writeSome() part, compressed or not.
   */
  #queueMessage(opcode: number, body: Buffer, fin: boolean, rsv1: boolean, copy = false): void {
    const size = this.#opts.fragmentSize;
    const out = this.#writeQueue();
    if (!this.#opts.autoFragment || body.length <= size) {
      out.frame(opcode, body, fin, rsv1, copy);
      return;
    }
    for (let off = 0; off < body.length; off += size) {
      const end = Math.min(off + size, body.length);
      out.frame(
        off === 0 ? opcode : Opcode.Continuation,
        body.subarray(off, end),
        end === body.length && fin,
        rsv1 && off === 0,
        copy,
      );
    }
  }

  /** Queues a control frame that nobody waits for (automatic pong, keep-alive ping, close). */
  #queueControl(opcode: number, payload: Buffer): void {
    this.#writeQueue().frame(opcode, payload, true);
  }

  /**
   * Registers the completion of the frames just queued from index `first` of `out` (-1: they
   * cannot be withdrawn). With a signal, an abort withdraws them if they are still queued here.
   */
  #queueWaiter(
    callback: Callback<void> | undefined,
    signal: AbortSignal | undefined,
    first: number,
  ): Promise<void> | undefined {
    let ret: Promise<void> | undefined;
    if (signal !== undefined) {
      const c = new Completion<void>(callback);
      const out = this.#writeQueue();
      const last = out.mark();
      const slot = out.wait(c);
      const abort = (): void => {
        // Still queued here: a flush or a drop would have replaced the queue that holds them.
        if (first >= 0 && this.#out === out) out.withdraw(first, last, slot);
        c.fail(new WebSocketError('ERR_WS_ABORTED'));
      };
      if (!bindSignal(c, signal, abort)) abort();
      ret = c.started();
    } else if (callback) {
      this.#writeQueue().wait(callback);
    } else {
      const c = new Completion<void>(undefined);
      this.#writeQueue().wait(c);
      ret = c.started();
    }
    this.#scheduleFlush();
    return ret;
  }

  #enqueue(bytes: Buffer, waiter: Waiter): void {
    const out = this.#writeQueue();
    out.raw(bytes);
    out.wait(waiter);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    this.#checkOverflow();
    if ((this.#flags & FLUSH_SCHEDULED) !== 0) return;
    if (answering === this) {
      this.#flags |= FLUSH_SCHEDULED | FLUSH_AT_CHUNK_END; // see #receiveAndAnswer
      return;
    }
    this.#flags |= FLUSH_SCHEDULED;
    // After the current turn's callbacks and microtasks: all frames written in one turn go out
    // together, in one write call. One tick flushes every stream written to in the turn.
    toFlush.push(this.#inner);
    if (!flushScheduled) scheduleFlushAll();
  }

  /** A flush that was due at a chunk's end goes with the tick's instead. */
  #flushOnTick(): void {
    this.#flags &= ~FLUSH_AT_CHUNK_END;
    toFlush.push(this.#inner);
    if (!flushScheduled) scheduleFlushAll();
  }

  /**
   * bufferPolicy 'close': the limit is on the bytes buffered at any moment (queued here, held, and
   * in the next layer), as uWS's closeOnBackpressureLimit: a burst written in one go beyond
   * maxBufferedBytes fails the connection even while the peer reads.
   */
  #checkOverflow(): void {
    if (this.#opts.bufferPolicy === 'close' && this.bufferedAmount > this.#opts.maxBufferedBytes) this.#overflow();
  }

  /** The peer does not read and bufferPolicy is 'close': fail the connection with 1008. */
  #overflow(): void {
    if (this.#failure || this.#state === State.Closed) return;
    const err = new WebSocketError('ERR_WS_BUFFER_OVERFLOW', `over ${this.#opts.maxBufferedBytes} bytes`);
    // What is still queued here will never go out: those writes fail, with the reason (never
    // inside the write that overflowed).
    for (const w of this.#dropWrites()) process.nextTick(settle, w, err);
    this.#dropHeld(err);
    const handshaking = this.#state === State.Handshaking;
    if (this.#state === State.Open) this.#state = State.Closing;
    this.#closing().fail(err, 1008, 'the peer does not read', 'destroy', !handshaking);
  }

  /**
   * Hands the queued frames to the next layer, in one batch. Under bufferPolicy 'wait' a
   * backed-up layer holds them here (unless `force`) until the batch in flight completes.
   */
  #flush(force = false): void {
    this.#flags &= ~(FLUSH_SCHEDULED | FLUSH_AT_CHUNK_END);
    if (this.#out.length === 0) return;
    if ((this.#flags & WE_ENDED) !== 0) {
      // Nothing can be written after our end: what is left fails with the reason.
      const err = this.#failure ?? new WebSocketError('ERR_WS_CLOSED', 'the connection was ending');
      for (const w of this.#dropWrites()) settle(w, err);
      return;
    }
    if (!force && this.#inFlight > 0 && this.nextLayer.writableLength >= this.#opts.maxBufferedBytes) return;
    const waiters = this.#out.waiting;
    const bufs = this.#out.batch(this.nextLayer.writableLength > 0);
    this.#out = NO_WRITES; // an idle stream holds no queue of its own
    if (bufs.length === 0) {
      // All withdrawn, or waiters of no bytes (`whenWritten`): they hear once the writes in flight are out.
      if (this.#inFlight === 0) {
        if (waiters.length === 0) return;
        const err = this.#unreportedWriteFailure();
        for (const w of waiters) settle(w, err);
      } else if (waiters.length > 0) (this.#afterWrites ??= []).push(this.#inFlight, waiters);
      return;
    }
    this.#handOff(bufs, waiters);
  }

  /**
   * A write to the socket that failed within the call (no callback: `#writeUnwaited`; a reset it had not
   * read yet) is counted in nothing here, and node reports it only a tick later: the socket knows it now.
   */
  #unreportedWriteFailure(): WebSocketError | null {
    const layer = this.nextLayer;
    const cause = layer instanceof DuplexLayer ? layer.duplex.errored : null;
    if (cause === null) return null;
    return this.#failure ?? new WebSocketError('ERR_WS_NEXT_LAYER', cause.message, { cause });
  }

  /** Hands one batch (one writev) to the next layer; `waiters` hear when it is out. */
  #handOff(bufs: Buffer[], waiters: Waiter[]): void {
    const layer = this.nextLayer;
    // During a handshake the one waiter is the handshake's own (its head, and whatever the stream
    // queued behind it): it hears as soon as the socket has taken the batch, as a write with no
    // callback tells (node's completion tick for a callback is half of the 101's write path).
    if (
      (waiters.length === 0 || this.#state === State.Handshaking) &&
      bufs.length === 1 &&
      layer instanceof DuplexLayer &&
      layer.canWriteUnwaited()
    ) {
      this.#writeUnwaited(layer, bufs[0]!, waiters);
      return;
    }
    this.#writeWaited(layer, bufs, waiters);
  }

  /**
   * No callback, so Node schedules nothing when the OS takes the bytes at once, the common case:
   * `waiters` (a handshake's) hear at once, with the failure the socket knows of if the write failed
   * within the call. Otherwise a write of nothing behind the bytes calls back once they are out, and
   * they count as in flight until then.
   */
  #writeUnwaited(layer: DuplexLayer, buf: Buffer, waiters: Waiter[]): void {
    if (layer.writeUnwaited(buf)) {
      if (waiters.length > 0) {
        const err = this.#unreportedWriteFailure();
        for (const w of waiters) settle(w, err);
      }
      if ((this.#flags & PAUSED) !== 0) this.#updateFlow();
      return;
    }
    this.#writeWaited(layer, NOTHING, waiters);
  }

  #writeWaited(layer: NextLayer, bufs: Buffer[], waiters: Waiter[]): void {
    this.#inFlight++;
    layer.write(bufs, (err) => {
      this.#inFlight--;
      // Node calls a socket's or HTTP/2 stream's write back without an error when the stream was destroyed
      // before the write completed (its onWriteComplete drops the cancel status): once the connection
      // failed, such a write was cut off, not taken by the operating system, and reports the failure.
      // (An open stream has no close state: one field read on the common path.)
      const cut = err || this.#close === null || !layer.destroyed ? undefined : this.#close.failure;
      // A write cut short by a failure we know the reason of reports that reason.
      // A failed write after our close frame was decided: that frame was in it or behind it, and never went.
      if ((err || cut) && this.#close?.sent === true) this.#close.lost = true;
      const e =
        cut ?? (err ? (this.#failure ?? new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err })) : null);
      for (const w of waiters) settle(w, e);
      if (this.#afterWrites !== null) this.#settleAfterWrites(e);
      if (this.#out.length > 0 && (this.#flags & FLUSH_SCHEDULED) === 0 && e === null) this.#flush();
      if ((this.#flags & PAUSED) !== 0) this.#updateFlow();
    });
  }

  /** One more write completed: settles the waiters of no bytes whose writes before them are all done (in order). */
  #settleAfterWrites(err: WebSocketError | null): void {
    const after = this.#afterWrites!;
    for (let j = 0; j < after.length; j += 2) after[j] = (after[j] as number) - 1;
    let i = 0;
    while (i < after.length && (after[i] as number) <= 0) {
      for (const w of after[i + 1] as Waiter[]) settle(w, err);
      i += 2;
    }
    if (i === after.length) this.#afterWrites = null;
    else if (i > 0) after.splice(0, i);
  }
}

/** A completion for a frame that waits its turn: ERR_WS_ABORTED when `signal` aborts (at once if it has). */
function waitingTurn(signal: AbortSignal | undefined, callback: Callback<void> | undefined): Completion<void> {
  const c = new Completion<void>(callback);
  if (!bindSignal(c, signal, () => c.fail(new WebSocketError('ERR_WS_ABORTED'))))
    c.fail(new WebSocketError('ERR_WS_ABORTED'));
  return c;
}

/** Completes a read held as a completion or as a callback (never from within the call that started it). */
function completeRead(
  r: Completion<ReceivedData> | Callback<ReceivedData>,
  err: WebSocketError | null,
  value?: ReceivedData,
): void {
  if (typeof r === 'function') callBack(r, err, value);
  else if (err) r.fail(err);
  else r.succeed(value!);
}

/** Streams written to in this turn, flushed together by one tick. */
let toFlush: Inner[] = [];
let flushScheduled = false;
/** The chunk a stream is receiving: the pieces the receiver hands out meanwhile are views of it. */
let receivedChunk: Buffer | null = null;
/** The stream receiving a chunk, whose flush waits for the chunk's end (`#receiveAndAnswer`). */
let answering: WebSocketStream | null = null;
/** A stream is flushing what its reader wrote in answer to a chunk. */
let answerFlushing = false;
/** The caller's ArrayBuffer or view whose bytes the write being called was given (`writeBytesOf`). */
let bytesSource: ArrayBuffer | ArrayBufferView | null = null;

/**
 * Work that queues frames to streams, deferred to the end of the event loop's turn (pub/sub gathers
 * the messages of one turn and queues each subscriber one Buffer for them all). It runs once the
 * turn's I/O callbacks are done (an immediate: all the reads of one poll phase, from every socket,
 * are gathered), or before the next write(), writeSome(), ping(), pong(), close() or prepared frame
 * on any stream, or before the streams written to in this turn flush, whichever comes first: what
 * was deferred keeps its place before whatever is written after it.
 */
let deferred: ((atTurnEnd: boolean) => void)[] | null = null;
/** An immediate that runs what is deferred is on its way. */
let deferredScheduled = false;

function runDeferredAtTurnEnd(): void {
  while (deferred !== null) runDeferred(true); // a run may defer another
  deferredScheduled = false;
}

function scheduleFlushAll(): void {
  flushScheduled = true;
  process.nextTick(flushAll);
}

function flushAll(): void {
  while (deferred !== null) runDeferred(true); // a run may defer another
  flushScheduled = false; // a stream written to while these flush schedules a tick of its own
  forgetBuilt(); // the turn's writes are done: its messages are not held for the next
  const streams = toFlush;
  toFlush = [];
  for (let i = 0; i < streams.length; i++) streams[i]!.flush();
}

/**
 * Internal (pubsub): runs `run` at the end of this turn of the event loop, after its I/O callbacks
 * (`atTurnEnd` true: the turn's writes are done, so `tryWritePreparedFrameNow` may write at once),
 * or before the next write to any stream, or before the streams written to meanwhile flush.
 */
export function deferQueueing(run: (atTurnEnd: boolean) => void): void {
  if (deferred !== null) {
    deferred.push(run);
    return;
  }
  deferred = [run];
  if (!deferredScheduled) {
    deferredScheduled = true;
    setImmediate(runDeferredAtTurnEnd);
  }
}

/** Internal (pubsub): runs what was deferred now (before a subscription changes, say). */
export function runDeferred(atTurnEnd = false): void {
  const runs = deferred;
  if (runs === null) return;
  deferred = null;
  for (let i = 0; i < runs.length; i++) {
    try {
      runs[i]!(atTurnEnd);
    } catch (err) {
      // A listener that threw (PubSub's 'drop', say) is the application's uncaught error, as it
      // would be from an event; the other runs and this turn's flush still happen.
      process.nextTick(rethrow, err);
    }
  }
}

/** A batch of no bytes: its write completes after the writes before it. */
const NOTHING: Buffer[] = [EMPTY];

/** A copy of the caller's bytes, for a payload that waits past the call (`readBytesAtCall`). */
function copyOf(payload: Buffer): Buffer {
  return Buffer.from(payload);
}

function answerInputEnd(inner: Inner): void {
  inner.answerInputEnd();
}

function answerTakenInputEnd(inner: Inner): void {
  inner.answerTakenInputEnd();
}

function failNow(callback: Callback<void> | undefined, err: WebSocketError): Promise<void> | undefined {
  const c = new Completion<void>(callback);
  c.fail(err);
  return c.started();
}
