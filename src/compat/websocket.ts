/**
 * ws's `WebSocket` class over a `WebSocketStream`. The stream does the protocol; this class keeps
 * ws's events, states and error shapes. Messages come from a read loop on the callback form of
 * `read` (no Promise per message: one bound callback per connection); `send` is `write` with a
 * callback. The client's opening handshake lives in client.ts.
 */
import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { AddressInfo as NetAddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { shown, WebSocketError } from '../errors.js';
import { queuePreparedFrame } from '../stream/prepared.js';
import { COPY_MAX } from '../stream/write-queue.js';
import {
  adoptOpen,
  answerCloseByReader,
  answerPeerClose,
  endAfterCloseHandshake,
  compresses,
  flushQueued,
  limitCompressedOnWire,
  queuedMessages,
  type PingOptions,
  readBytesAtCall,
  type ReceivedData,
  WebSocketStream,
  writeBytesOf,
  writeOwnBytes,
} from '../stream/websocket-stream.js';
import { abortRequest, type CertMeta as ClientCertMeta, type ClientRequestOptions, openClient } from './client.js';
import { onControl, owners } from './control.js';
import { blobClosedError, CLOSED_BEFORE_OPEN, compressingClosedError, notOpenError, toWsError } from './errors.js';
import { addEventListener, defineEventAttributes, removeEventListener } from './event-target.js';
import {
  type CommonOptions,
  type PerMessageDeflateOptions as DeflateOptions,
  type ServerOptionsOf,
  synchronousEvents,
  toStreamOptions,
  type VerifyClientCallbackAsync as VerifyClientAsync,
  type VerifyClientCallbackSync as VerifyClientSync,
} from './options.js';
import { answer, SendCallbacks } from './send-callbacks.js';

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
const BINARY_TYPES: readonly string[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];

/** ws's `send` options. */
export interface SendOptions {
  binary?: boolean;
  compress?: boolean;
  fin?: boolean;
  /** Accepted for compatibility: a client always masks, a server never does (RFC 6455 §5.1). */
  mask?: boolean;
}

/**
 * A send, ping or pong callback: the error, or none once the frame is written. A method's parameter,
 * so that callbacks typed as @types/ws types them (`(err?: Error) => void`, `(err: Error) => void`) fit.
 */
type SendCallback = { callback(err?: Error | null): void }['callback'];

/** ws's send options as ws reads them: spread over its defaults once, then each taken for its truth. */
interface MessageOptions {
  binary: boolean;
  compress: boolean;
  fin: boolean;
}

/** A ping or a pong received; PING_IN_TURN: a ping to answer when it is emitted. */
const PING_IN_TURN = 'ping-in-turn';
type Control = 'ping' | 'pong' | typeof PING_IN_TURN;
/** With allowSynchronousEvents: false, the peer's close, answered in its turn (after the events before it). */
const CLOSE_IN_TURN = 'close-in-turn';

/** What a call waiting behind a Blob is. */
const SEND = 0;
const PING = 1;
const PONG = 2;
type Kind = typeof SEND | typeof PING | typeof PONG;
type Queued = [kind: Kind, data: unknown, opts: MessageOptions | undefined, cb: SendCallback | undefined];

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

const EMPTY = Buffer.alloc(0);
/** A ping or pong goes after the messages sent before it (ws's order of calls). */
const IN_ORDER: PingOptions = Object.freeze({ afterMessages: true });
function noop(): void {}

/**
 * Data as ws's `toBuffer` takes it: strings and Buffers as they are, other views and ArrayBuffers as
 * a Buffer over their bytes (so bytes over a detached ArrayBuffer throw V8's TypeError, as in ws),
 * anything else through `Buffer.from`.
 */
function toSendable(data: unknown): string | Buffer {
  if (typeof data === 'string' || Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (!data) return EMPTY; // ws sends `data || EMPTY_BUFFER`: false, null, undefined, NaN make an empty message
  return Buffer.from(data as never);
}

/** Whether `payload` takes more than `max` bytes (a string's UTF-8 size counted only when it may). */
function largerThan(payload: string | Buffer, max: number): boolean {
  if (typeof payload !== 'string') return payload.length > max;
  return payload.length * 3 > max && Buffer.byteLength(payload) > max;
}

/**
 * ws's `{ binary: typeof data !== 'string', compress: true, fin: true, ...options }`, read once: a
 * getter or Proxy trap that throws throws here, before anything is queued; `null` or a number add
 * nothing; `{ fin: undefined }` or `{ fin: 0 }` is a fragment and `{ binary: undefined }` text, as in ws.
 */
function messageOptions(data: unknown, options: unknown): MessageOptions {
  const o = { binary: typeof data !== 'string', compress: true, fin: true, ...(options as SendOptions) };
  return { binary: !!o.binary, compress: !!o.compress, fin: !!o.fin };
}

function isBlob(data: unknown): data is Blob {
  return typeof Blob !== 'undefined' && data instanceof Blob;
}

function byteLength(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (isBlob(data)) return data.size;
  const b = toSendable(data);
  return typeof b === 'string' ? Buffer.byteLength(b) : b.length;
}

/** A received binary message in the form `binaryType` asks for. */
function convert(data: Buffer, type: BinaryType): unknown {
  switch (type) {
    case 'arraybuffer':
      return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? data.buffer
        : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    case 'fragments':
      return [data];
    case 'blob':
      return new Blob([data as Uint8Array<ArrayBuffer>]);
    default:
      return data;
  }
}

/** ws's client options (with every `http.request`/`https.request` option). */
export type ClientOptions = WebSocket.ClientOptions;

/** What the server keeps per client (clientTracking). */
export interface ClientTracker {
  _clientClosed(ws: WebSocket): void;
}

/**
 * The frame each list made by ws's `Sender.frame()` (header, payload) was joined into, while a stream still holds
 * it. A broadcast hands the same list to every socket (socket.io-adapter's `wsPreEncodedFrame`): joined once, every
 * stream queues the same Buffer instead of a copy of its own (a broadcast to 1,000 sockets held 1,000 copies). Held
 * weakly: a list that waits in the framework's own buffer (a slow client's) keeps no second copy of its bytes.
 */
const joinedFrames = new WeakMap<Buffer[], WeakRef<Buffer>>();

function joinedFrame(list: Buffer[]): Buffer {
  // The list's bytes are compared with the frame: a caller may refill its array between sends, or write into its Buffers.
  const joined = joinedFrames.get(list)?.deref();
  if (joined !== undefined && holds(joined, list)) return joined;
  const frame = Buffer.concat(list);
  joinedFrames.set(list, new WeakRef(frame));
  return frame;
}

/** Whether `frame` is `list`'s Buffers' bytes as they are now, one after the other. */
function holds(frame: Buffer, list: Buffer[]): boolean {
  let at = 0;
  for (const b of list) {
    if (at + b.length > frame.length || b.compare(frame, at, at + b.length) !== 0) return false;
    at += b.length;
  }
  return at === frame.length;
}

/** ws's undocumented `_sender`: `sendFrame(list, cb)` queues a frame made by ws's `Sender.frame()`. */
class PreparedSender {
  constructor(private readonly ws: WebSocket) {}
  sendFrame(list: Buffer[] | Buffer, cb?: SendCallback): void {
    const frame = Buffer.isBuffer(list) ? list : list.length === 1 ? list[0]! : joinedFrame(list);
    const stream = this.ws._stream;
    if (stream === null || this.ws._readyState !== OPEN) {
      if (cb) process.nextTick(cb, notOpenError(this.ws._readyState));
      return;
    }
    const track = this.ws._track(cb, true);
    if (!queuePreparedFrame(stream, frame, track)) track(new WebSocketError('ERR_WS_CLOSED'));
  }
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: its typed events are declared by the interface below
export class WebSocket extends EventEmitter {
  // Defined below, as ws defines them: enumerable, neither writable nor configurable.
  declare static readonly CONNECTING: 0;
  declare static readonly OPEN: 1;
  declare static readonly CLOSING: 2;
  declare static readonly CLOSED: 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  /** @internal */ _readyState: ReadyState = CONNECTING;
  /** @internal The stream, once open. */ _stream: WebSocketStream | null = null;
  /** The underlying socket (engine.io reads `_socket.remoteAddress`). */
  _socket: Duplex | null = null;
  /** @internal The handshake request while a client connects. */ _req: ClientRequest | null = null;
  /** @internal */ _isServer: boolean;
  /** @internal */ _url: string | undefined = undefined;
  /** @internal Subprotocol agreed before the stream exists (setSocket; a 101 whose subprotocol passed, as ws keeps it). */ _protocol =
    '';
  /** @internal Bytes of sends refused because the WebSocket was not open (ws counts them in bufferedAmount). */ _bufferedAmount = 0;
  /** @internal */ _redirects = 0;
  /** @internal The reason in the peer's close frame, as its bytes. */ _closeReason: Buffer | null = null;
  /** @internal Who tracks this client (the server's `clients`). */ _tracker: ClientTracker | null = null;
  /** @internal Pings are answered, through `pong()` (ws's `autoPong`). */ _autoPong = true;
  /** @internal Automatic pongs whose write has not completed (ws's `_pendingAutoPongs`). */ _pendingAutoPongs = 0;
  /**
   * @internal A ping that finds this many automatic pongs still unwritten terminates the connection
   * (ws's `maxPendingAutoPongs`; 0: no limit): a peer that pings but does not read.
   */
  _maxPendingAutoPongs = 0;
  /** The constructor's `closeTimeout`, as ws keeps it: what `setSocket` gives the stream. */
  private _closeTimeout: number | undefined = undefined;
  /** The automatic pong's callback (made on first need): its write completed. */
  private _autoPongDone: (() => void) | null = null;
  private _binaryType: BinaryType = 'nodebuffer';
  private _paused = false;
  /**
   * The read loop is busy: a read is pending, or the message it read is being emitted (with
   * `allowSynchronousEvents: false`, on a later turn). One message at a time: the next read starts
   * once it is emitted.
   */
  private _reading = false;
  /** The read side ended (its error was seen). */
  private _readDone = false;
  /** The next layer is closed. */
  private _layerClosed = false;
  private _errorEmitted = false;
  /** A message that arrived for the read pending when pause() was called. */
  private _held: ReceivedData | null = null;
  private _syncEvents = true;
  /**
   * With `allowSynchronousEvents: false`: the events to emit, in wire order, one per turn (a
   * message, or a ping or pong as kind and payload); null when none.
   */
  private _later: (ReceivedData | Control | 'error' | typeof CLOSE_IN_TURN | Buffer | Error)[] | null = null;
  /** A message sent with `fin: false` is not finished. */
  private _fragmenting = false;
  /** ws would compress the message being sent (its first fragment decided). */
  private _fragmentCompressed = false;
  /** Sends, pings and pongs waiting behind a Blob being read (ws keeps their order). */
  private _blobs: Queued[] | null = null;
  /** The bytes of the calls in `_blobs` (a Blob's until it is read): ws counts them in bufferedAmount. */
  private _blobBytes = 0;
  /**
   * The Blobs' queue began behind a message being compressed: when the socket goes, its calls get
   * ws's error for those ("… while data was being compressed"), as ws had not begun to read them.
   */
  private _blobsBehindDeflate = false;
  private _sender_: PreparedSender | null = null;
  /**
   * Messages taken from the stream, and emitted (or, with `allowSynchronousEvents: false`, queued in
   * `_later`): a ping or pong waits for those before it (wire order).
   */
  private _taken = 0;
  private _emitted = 0;
  /** The pending read was served from the stream's queue (its message is counted in `_taken`). */
  private _takenAhead = false;
  /** Pings and pongs waiting for the messages before them: message count, kind, payload, … */
  private _controls: (number | string | Buffer)[] | null = null;
  /**
   * Pings and pongs that came before the server's 101 went out (right behind the request), as
   * `_controls`: answered and emitted after 'connection', as ws reads them only then.
   */
  private _early: (number | string | Buffer)[] | null = null;
  /** permessage-deflate was agreed. */
  private _deflate = false;
  /** The send, ping and pong callbacks that wait (made on first need). */
  private _callbacks: SendCallbacks | null = null;
  /** close() waits for the Blobs being read (ws sends them before its close frame): its code and reason. */
  private _closeAfterBlobs: [number, string | Uint8Array | undefined] | null = null;
  /** The read loop's callback: one per connection. */
  private readonly _onRead = (err: WebSocketError | null, msg?: ReceivedData): void => this._handleRead(err, msg);

  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions) {
    super();
    if (address === null) {
      this._isServer = true;
      // A server's WebSocket gets the server's options (with ws's defaults filled in), read as ws reads
      // them: none at all is ws's TypeError ("Cannot read properties of undefined (reading 'autoPong')"),
      // not a socket that never opens; pings are answered when `autoPong` is truthy.
      this._autoPong = Boolean((options as ClientOptions).autoPong);
      // The server's options hold ws's default (60); given as undefined, no limit, as in ws.
      if (this._autoPong) this._maxPendingAutoPongs = ((options as ClientOptions).maxPendingAutoPongs as number) | 0;
      this._closeTimeout = (options as ClientOptions).closeTimeout;
      return;
    }
    this._isServer = false;
    let list: string[];
    // ws spreads the options over its defaults: anything but an object (null, a number) adds nothing.
    let opts = typeof options === 'object' && options !== null ? options : undefined;
    if (protocols === undefined) list = listOf(opts?.protocols);
    else if (Array.isArray(protocols)) list = protocols;
    else if (typeof protocols === 'object' && protocols !== null) {
      opts = protocols;
      list = listOf(opts.protocols);
    } else list = [protocols];
    // ws spreads the options over its defaults (autoPong true, maxPendingAutoPongs 60): given as
    // undefined or null, autoPong is off; maxPendingAutoPongs given as undefined is no limit.
    this._autoPong = Boolean(opts !== undefined && 'autoPong' in opts ? opts.autoPong : true);
    this._maxPendingAutoPongs =
      ((opts !== undefined && 'maxPendingAutoPongs' in opts ? opts.maxPendingAutoPongs : 60) as number) | 0;
    openClient(this, address, list, opts ?? {});
  }

  get binaryType(): BinaryType {
    return this._binaryType;
  }
  set binaryType(type: BinaryType) {
    if (BINARY_TYPES.includes(type)) this._binaryType = type;
  }

  get bufferedAmount(): number {
    // Sends refused after the close count too, as in ws.
    return this._bufferedAmount + (this._stream === null ? 0 : this._stream.bufferedAmount + this._blobBytes);
  }

  get extensions(): string {
    const e = this._stream?.extensions ?? '';
    return e === '' ? '' : 'permessage-deflate';
  }

  get isPaused(): boolean {
    return this._paused;
  }

  get protocol(): string {
    return this._stream?.protocol || this._protocol;
  }

  get readyState(): ReadyState {
    return this._readyState;
  }

  get url(): string {
    return this._url as string;
  }

  /** ws's `_sender`, for frames pre-encoded with ws's `Sender.frame()` (Socket.IO's broadcasts). */
  get _sender(): PreparedSender | null {
    if (this._stream === null) return null;
    return (this._sender_ ??= new PreparedSender(this));
  }

  /** @internal Whether both close frames were exchanged (CloseEvent's wasClean). */
  get _wasClean(): boolean {
    return this._stream?.closeInfo?.wasClean ?? false;
  }

  /**
   * Takes a socket whose opening handshake is done (ws's `setSocket`): `head` are the bytes read
   * past it. Options as ws's receiver reads them (`maxPayload`, `allowSynchronousEvents`, …);
   * `closeTimeout` and `autoPong` are the constructor's, as in ws.
   */
  setSocket(socket: Duplex, head: Buffer, options: CommonOptions = {}): void {
    const stream = new WebSocketStream(
      socket,
      toStreamOptions({ ...options, perMessageDeflate: false, closeTimeout: this._closeTimeout }, false, onControl),
    );
    if (head.length > 0) socket.unshift(head);
    limitCompressedOnWire(stream); // maxPayload counts compressed octets too, as in ws
    adoptOpen(stream, this._isServer ? 'server' : 'client', { protocol: this._protocol, extensions: '' });
    this._adopt(stream, socket, synchronousEvents(options));
  }

  /** @internal The stream is this WebSocket's (its pings and pongs are this WebSocket's events). */
  _own(stream: WebSocketStream): void {
    owners.set(stream, this);
  }

  /** @internal Starts using an open stream: the read loop, the 'open' event. */
  _adopt(stream: WebSocketStream, socket: Duplex, allowSynchronousEvents: boolean): void {
    this._stream = stream;
    this._socket = socket;
    this._syncEvents = allowSynchronousEvents;
    this._deflate = stream.extensions !== '';
    this._req = null;
    owners.set(stream, this);
    // ws writes what send(), ping() and pong() are given at once: the caller may reuse its buffer after the call.
    readBytesAtCall(stream);
    if (!this._isServer) endAfterCloseHandshake(stream);
    if (!allowSynchronousEvents) answerCloseByReader(stream);
    const s = socket as Partial<import('node:net').Socket>;
    if (typeof s.setTimeout === 'function') s.setTimeout(0);
    if (typeof s.setNoDelay === 'function') s.setNoDelay();
    // Out of the Promise's reaction: what listeners throw is an uncaught exception, as in ws, never a rejection.
    stream.whenClosed().then(() => process.nextTick(layerClosed, this));
    this._readyState = OPEN;
    // Before the read loop's first message (handed over on the next tick): a ping ahead of it comes first.
    // The read loop starts after them: a read that finds the input ended makes the core answer the close.
    if (this._early !== null) process.nextTick(takeEarlyControls, this);
    else this._readNext();
    this.emit('open');
  }

  /** @internal The pings and pongs that came before the open: answered, and emitted in wire order. */
  _takeEarlyControls(): void {
    const q = this._early!;
    this._early = null;
    if (this._readyState === CLOSED) return this._readNext();
    // A ping behind messages that came with the request too is answered once they were emitted (ws reads
    // them in wire order after 'connection'), so what their listeners send goes first.
    for (let i = 0; i < q.length; i += 3) {
      const before = q[i] as number;
      const kind = q[i + 1] as 'ping' | 'pong';
      if (kind === 'ping' && this._syncEvents && (this._controls !== null || before > this._emitted))
        (this._controls ??= []).push(before, PING_IN_TURN, q[i + 2] as Buffer);
      else this._gotControl(before, kind, q[i + 2] as Buffer);
    }
    this._readNext();
  }

  // ------------------------------------------------------------------ the read loop

  private _readNext(): void {
    // A message held back while paused goes first (resume() emits it on the next tick).
    if (this._reading || this._readDone || this._held !== null || (this._paused && !this._layerClosed)) return;
    this._reading = true;
    const s = this._stream!;
    // A queued message is taken now (and handed over on the next tick): it counts from now.
    if (queuedMessages(s) > 0) {
      this._takenAhead = true;
      this._taken++;
    }
    s.read(this._onRead);
  }

  private _handleRead(err: WebSocketError | null, msg?: ReceivedData): void {
    if (this._takenAhead) this._takenAhead = false;
    else if (err === null) this._taken++;
    if (err !== null) {
      this._reading = false;
      return this._readEnded(err);
    }
    if (this._paused && !this._layerClosed) {
      this._reading = false;
      this._held = msg!;
      return;
    }
    this._deliver(msg!);
  }

  private _deliver(msg: ReceivedData): void {
    this._emitted++;
    if (!this._syncEvents) {
      // Emitted in its turn; the next message is read once it is (_reading stays set till then).
      this._emitLater(msg);
      if (this._controls !== null) this._emitControls(false);
      return;
    }
    try {
      this._emitMessage(msg);
    } finally {
      this._reading = false;
      this._readNext(); // also after a listener threw (the error still propagates, as in ws)
    }
  }

  /** Emits the message read while paused (the read loop was idle since). */
  private _deliverHeld(msg: ReceivedData): void {
    this._reading = true;
    this._deliver(msg);
  }

  /**
   * With `allowSynchronousEvents: false` every event has a turn of its own, in wire order (ws emits
   * each one from setImmediate): `event` is emitted after those queued before it.
   */
  private _emitLater(event: ReceivedData | Control | 'error' | typeof CLOSE_IN_TURN, payload?: Buffer | Error): void {
    const q = this._later;
    if (q === null) {
      this._later = typeof event === 'string' ? [event, payload!] : [event];
      setImmediate(emitNextLater, this);
    } else if (typeof event === 'string') q.push(event, payload!);
    else q.push(event);
  }

  /** @internal Emits the next event queued by `_emitLater`; the one after it gets the next turn. */
  _emitNextLater(): void {
    const q = this._later;
    if (q === null) return;
    const event = q.shift()!;
    const payload = typeof event === 'string' ? (q.shift() as Buffer | Error) : null;
    try {
      if (event === PING_IN_TURN) {
        this._sendAutoPong(payload as Buffer);
        this.emit('ping', payload);
      } else if (event === CLOSE_IN_TURN) {
        this._answerClose();
        if (this._readyState === OPEN) this._readyState = CLOSING;
      } else if (payload !== null) this.emit(event as string, payload);
      else this._emitMessage(event as ReceivedData);
    } finally {
      // The next turn is taken after the listeners ran (theirs come first, as in ws); also after a
      // listener threw (the error still propagates, as in ws).
      if (q.length > 0) setImmediate(emitNextLater, this);
      else this._later = null;
      if (payload === null) {
        this._reading = false;
        this._readNext();
      }
      if (this._later === null) this._maybeEmitClose(); // 'close' waited for these events
    }
  }

  private _emitMessage(msg: ReceivedData): void {
    const binary = msg.binary;
    const type = this._binaryType;
    this.emit('message', binary && type !== 'nodebuffer' ? convert(msg.data, type) : msg.data, binary);
    if (this._controls !== null) this._emitControls(false);
  }

  /**
   * @internal A ping or pong (the stream reports it once the messages before it are queued): a ping
   * is answered at once, then either is emitted now, or after those messages, as ws's events come in
   * wire order.
   */
  _control(kind: 'ping' | 'pong', payload: Buffer, stream: WebSocketStream): void {
    const before = this._taken + queuedMessages(stream);
    if (this._readyState === CONNECTING) (this._early ??= []).push(before, kind, payload);
    else this._gotControl(before, kind, payload);
  }

  /** A ping or pong that came after `before` messages. */
  private _gotControl(before: number, kind: 'ping' | 'pong', payload: Buffer): void {
    const inOrder = this._controls === null && before <= this._emitted;
    let control: Control = kind;
    // With allowSynchronousEvents: false, a ping behind events still to be emitted is answered in
    // its turn (ws reads it only then): what their listeners send goes first.
    if (kind === 'ping') {
      if (this._syncEvents || (inOrder && this._later === null)) this._sendAutoPong(payload);
      else control = PING_IN_TURN;
    }
    if (inOrder) {
      if (this._syncEvents) this.emit(kind, payload);
      else this._emitLater(control, payload);
      return;
    }
    (this._controls ??= []).push(before, control, payload);
  }

  /**
   * Answers a ping through the public method looked up now, as ws answers (an instance's own `pong`
   * sees the answer, or holds it back: how tests play a dead peer); before the 'ping' event, so a
   * close() made by its listener goes after it.
   */
  private _sendAutoPong(payload: Buffer): void {
    if (!this._autoPong || this._readyState !== OPEN) return;
    const max = this._maxPendingAutoPongs;
    // As ws: the peer's pings pile up pongs the socket cannot take (it does not read): cut it off.
    if (max > 0 && this._pendingAutoPongs >= max) this.terminate();
    else {
      this._pendingAutoPongs++;
      this.pong(payload, !this._isServer, (this._autoPongDone ??= () => void this._pendingAutoPongs--));
    }
  }

  /**
   * Emits the waiting pings and pongs whose messages were emitted (all of them: before 'close'); with
   * `allowSynchronousEvents: false`, queues them behind those messages.
   */
  private _emitControls(all: boolean): void {
    let q = this._controls;
    while (q !== null && (all || (q[0] as number) <= this._emitted)) {
      const kind = q[1] as Control;
      const payload = q[2] as Buffer;
      q.splice(0, 3);
      if (q.length === 0) this._controls = null;
      if (!this._syncEvents) this._emitLater(kind, payload);
      else if (kind === PING_IN_TURN) {
        this._sendAutoPong(payload);
        this.emit('ping', payload);
      } else this.emit(kind, payload);
      q = this._controls;
    }
  }

  private _readEnded(err: WebSocketError): void {
    this._readDone = true;
    if (err.code === 'ERR_WS_CLOSED') {
      // With allowSynchronousEvents: false, after the events before it, each in its turn (ws reads
      // the close frame only then): the pongs and replies they send go first, the state still OPEN.
      if (this._later !== null) return this._emitLater(CLOSE_IN_TURN, EMPTY);
      this._answerClose();
    } else if (!this._errorEmitted) {
      const e = toWsError(err);
      if (e !== null) {
        this._errorEmitted = true;
        if (this._readyState === OPEN) this._readyState = CLOSING;
        // With allowSynchronousEvents: false, after the events of the frames before the bad one
        // (ws reads the next frame only once they were emitted, each in its turn).
        if (!this._syncEvents && this._controls !== null) this._emitControls(true);
        if (this._later !== null) this._emitLater('error', e);
        else this.emit('error', e);
      }
    }
    if (this._readyState === OPEN) this._readyState = CLOSING;
    this._maybeEmitClose();
  }

  /**
   * The peer's close frame, after the messages before it: answered through close(), as ws does
   * (an instance's own close sees it). When close() sent nothing (an override, a Blob still being
   * read), the stream's own answer goes: the same bytes.
   */
  private _answerClose(): void {
    const stream = this._stream!;
    const peer = stream.closeReason;
    if (peer !== undefined && this._readyState !== CLOSED) {
      if (peer.code === 1005) this.close();
      else this.close(peer.code, this._closeReason ?? EMPTY);
    }
    answerPeerClose(stream);
  }

  /** @internal */
  _onLayerClosed(): void {
    this._layerClosed = true;
    if (this._readyState === OPEN) this._readyState = CLOSING;
    // Messages that arrived before the end are emitted even when paused, as ws does.
    const held = this._held;
    this._held = null;
    if (held !== null) this._deliverHeld(held);
    else this._readNext();
    this._maybeEmitClose();
  }

  private _maybeEmitClose(): void {
    if (!this._readDone || !this._layerClosed || this._readyState === CLOSED) return;
    if (this._controls !== null) this._emitControls(true);
    if (this._later !== null) return; // emitted first, each in its turn (then 'close')
    // Callbacks still waiting are answered before 'close' (readyState CLOSING), as ws's are, in the
    // order of the calls: those written before a Blob being read, then the Blob's and those behind it.
    this._callbacks?.failAll();
    if (this._blobs !== null) this._failBlobs();
    this._readyState = CLOSED;
    this._tracker?._clientClosed(this);
    const r = this._stream!.closeReason;
    this.emit('close', r?.code ?? 1006, r === undefined ? EMPTY : (this._closeReason ?? EMPTY));
  }

  /** @internal A client's handshake failed: 'error', then 'close' (1006). */
  _failOpening(err: Error): void {
    this._readyState = CLOSING;
    this._errorEmitted = true;
    this.emit('error', err);
    this._emitCloseUnopened();
  }

  /** @internal 'close' of a client whose handshake did not complete. */
  _emitCloseUnopened(): void {
    if (this._readyState === CLOSED) return;
    this._readyState = CLOSED;
    this.emit('close', 1006, EMPTY);
  }

  /**
   * @internal The callback to give the stream for a send (`data`) or a ping/pong, answering `cb` as
   * ws would (send-callbacks.ts). Without permessage-deflate frames complete in order and only
   * calls with a callback are tracked; with it every send is (a ping behind it waits for it).
   */
  _track(cb: SendCallback | undefined, data: boolean, compressed = false): (err: WebSocketError | null) => void {
    // The automatic pong's callback only counts: it needs no place among the answers in order.
    if (cb !== undefined && cb === this._autoPongDone) return cb;
    if (cb === undefined && !(data && this._deflate)) return noop;
    const callbacks = (this._callbacks ??= new SendCallbacks(this._deflate));
    // Where the frame starts in the write being queued, for terminate() (refuseUnwritten).
    return callbacks.track(cb, cb === undefined || this._deflate ? -1 : this._queuedBytes(), compressed);
  }

  /** Bytes written to the stream and not yet handed to the socket. */
  private _queuedBytes(): number {
    return this._stream!.bufferedAmount - this._stream!.nextLayer.writableLength;
  }

  // ------------------------------------------------------------------ operations

  send(data: unknown, options?: SendOptions | SendCallback, cb?: SendCallback): void {
    if (this._readyState === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    if (typeof data === 'number') data = data.toString();
    if (this._readyState !== OPEN) return sendAfterClose(this, data, cb);
    // In ws's order: the options, the data, the callback; each may throw, and nothing is queued before all were read.
    const opts = messageOptions(data, options);
    if (isBlob(data)) return this._queueBehindBlob(SEND, data, opts, callbackArg(cb));
    // Converted now, as ws does: data it cannot send throws here, also behind a Blob.
    const payload = toSendable(data);
    cb = callbackArg(cb);
    if (this._blobs !== null) return this._queueBehindBlob(SEND, payload, opts, cb);
    // An ArrayBuffer or view is what a broadcast loop's sends of it share one frame by, as a Buffer's do (`payload`
    // is a new view at each call); its bytes are `payload`, read once.
    this._writeMessage(payload, opts, cb, data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data : null);
  }

  /** `source`: the caller's ArrayBuffer or view that `payload` views, if it was one. */
  private _writeMessage(
    payload: string | Buffer,
    opts: MessageOptions | undefined,
    cb: SendCallback | undefined,
    source: ArrayBuffer | ArrayBufferView | null = null,
  ): void {
    opts ??= messageOptions(payload, undefined);
    const s = this._stream!;
    // Whether ws would compress it: with permessage-deflate, what is sent after it while it is being
    // compressed waits behind it, and fails with it when the socket goes (send-callbacks.ts).
    let compressed = false;
    if (this._deflate) {
      compressed = this._fragmenting
        ? this._fragmentCompressed
        : compresses(s, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length, opts.compress);
      this._fragmentCompressed = compressed;
    }
    const done = this._track(cb, true, compressed);
    if (!opts.fin || this._fragmenting) {
      // The first fragment decides, as in ws: under `threshold` (where our side has no context
      // takeover) the message goes uncompressed (the core's writeSome() knows no message size).
      const first = this._deflate && !this._fragmenting && opts.compress !== compressed;
      this._fragmenting = !opts.fin;
      s.writeSome(payload, first ? { ...opts, compress: compressed } : opts, done);
    } else {
      if (source === null) s.write(payload, opts, done);
      else writeBytesOf(s, source, payload as Buffer, opts, done);
    }
    // A message too large to copy goes to the socket now, with what this turn queued before it, as ws writes each
    // frame (so `bufferedAmount` right after it is the socket's backlog, as in ws). The stream does so for a
    // caller's Buffer (readBytesAtCall) but keeps a frame made of its own for the turn's write: a client's (masked
    // into a copy) and a string's bytes.
    if (!compressed && largerThan(payload, COPY_MAX)) flushQueued(s);
    // A payload too large to copy went to the socket at once (readBytesAtCall), with what this turn queued before it.
    if (this._callbacks !== null && !this._deflate && this._queuedBytes() === 0) this._callbacks.handedOver();
  }

  /** A Blob is read (asynchronously) before it is sent; sends, pings and pongs after it wait their turn. */
  private _queueBehindBlob(
    kind: Kind,
    data: unknown,
    opts: MessageOptions | undefined,
    cb: SendCallback | undefined,
  ): void {
    this._blobBytes += byteLength(data);
    (this._blobs ??= []).push([kind, data, opts, cb]);
    if (this._blobs.length === 1) {
      // ws's sender queues a Blob behind a message being compressed without reading it yet.
      this._blobsBehindDeflate = this._deflate && this._callbacks !== null && this._callbacks.compressing > 0;
      this._drainBlobs();
    }
  }

  private _dispatch(kind: Kind, data: unknown, opts: MessageOptions | undefined, cb: SendCallback | undefined): void {
    if (kind === SEND) this._writeMessage(toSendable(data), opts, cb);
    else this._writeControl(kind === PING, data as Buffer | string | ArrayBufferView | ArrayBuffer, cb);
  }

  private _drainBlobs(): void {
    const q = this._blobs;
    while (q !== null && q.length > 0) {
      const [kind, data, opts, cb] = q[0]!;
      if (isBlob(data)) {
        // The Promise's reactions only schedule: a callback that throws is not a rejection.
        data.arrayBuffer().then(
          (ab) => process.nextTick(() => this._blobRead(data, Buffer.from(ab), null)),
          (err: Error) => process.nextTick(() => this._blobRead(data, null, err)),
        );
        return;
      }
      q.shift();
      this._blobBytes -= byteLength(data);
      this._dispatch(kind, data, opts, cb);
    }
    this._blobs = null;
    const close = this._closeAfterBlobs;
    if (close !== null) {
      this._closeAfterBlobs = null;
      this._closeStream(close[0], close[1]);
    }
  }

  /**
   * The Blob at the head of the queue cannot be sent: its callback and those of every send behind
   * it get `err` (ws's error when the connection closed while a Blob was read).
   */
  private _failBlobs(err: Error = this._blobsBehindDeflate ? compressingClosedError() : blobClosedError()): void {
    const q = this._blobs!;
    this._blobs = null;
    this._closeAfterBlobs = null;
    for (const [, , , cb] of q) if (cb !== undefined) answer(cb, err);
  }

  /** Fails the calls queued from `blob` on, unless they were answered already (the connection closed). */
  private _failBlobsOf(blob: Blob): void {
    if (this._blobs !== null && this._blobs[0]![1] === blob) this._failBlobs();
  }

  /** A Blob at the head of the queue was read: it is sent (or the calls told why not), then the rest. */
  private _blobRead(blob: Blob, bytes: Buffer | null, err: Error | null): void {
    this._blobBytes -= blob.size;
    if (this._blobs === null || this._blobs[0]![1] !== blob) return; // answered when the connection closed
    if (err !== null) return this._blobFailed(err);
    // The socket went meanwhile: answered after the calls before the Blob (in the order of the calls).
    if (this._stream!.nextLayer.destroyed) return this._track(() => this._failBlobsOf(blob), false)(null);
    const [kind, , opts, cb] = this._blobs.shift()!;
    // The bytes were read into an ArrayBuffer of their own: nobody else can change them, so they are not copied.
    writeOwnBytes(this._stream!, () => this._dispatch(kind, bytes, opts, cb));
    this._drainBlobs();
  }

  /**
   * A Blob could not be read (its file changed): as ws, that send and every call queued behind it
   * (the close frame too) fail with the read error, the socket is ended without a close frame, and
   * 'error' comes (once, and not after 'close'); 'close' (1006) follows when the socket closes.
   * ws answers at once; here the calls before the Blob may still be in flight: after their answers.
   */
  private _blobFailed(err: Error): void {
    this._track(() => this._failOnBlobError(err), false)(null);
  }

  private _failOnBlobError(err: Error): void {
    if (this._blobs === null) return; // the connection closed meanwhile: the calls were answered then
    this._failBlobs(err);
    if (this._readyState === CLOSED) return;
    if (this._readyState === OPEN) this._readyState = CLOSING;
    this._stream!.nextLayer.end();
    if (!this._errorEmitted) {
      this._errorEmitted = true;
      this.emit('error', err);
    }
  }

  ping(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this._sendControl(true, data, mask, cb);
  }

  pong(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this._sendControl(false, data, mask, cb);
  }

  private _sendControl(
    ping: boolean,
    data: unknown,
    mask: boolean | SendCallback | undefined,
    cb?: SendCallback,
  ): void {
    if (this._readyState === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof data === 'function') {
      cb = data as SendCallback;
      data = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    if (typeof data === 'number') data = data.toString();
    if (this._readyState !== OPEN) return sendAfterClose(this, data, cb);
    const payload = isBlob(data) ? data : data ? toSendable(data) : EMPTY;
    if (byteLength(payload) > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    cb = callbackArg(cb);
    // Behind a Blob being read, as ws's sender queues them (a Blob payload is read first too).
    if (this._blobs !== null || isBlob(payload))
      return this._queueBehindBlob(ping ? PING : PONG, payload, undefined, cb);
    this._writeControl(ping, payload, cb);
  }

  private _writeControl(
    ping: boolean,
    payload: Buffer | string | ArrayBufferView | ArrayBuffer,
    cb?: SendCallback,
  ): void {
    // ws keeps the order of the calls on the wire: the frame goes after the messages sent before it
    // that are still compressing (the stream's default sends it ahead of them).
    const done = this._track(cb, false);
    if (ping) this._stream!.ping(payload, IN_ORDER, done);
    else this._stream!.pong(payload, IN_ORDER, done);
  }

  close(code?: number, data?: string | Buffer): void {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) return abortRequest(this, this._req, CLOSED_BEFORE_OPEN);
    if (this._readyState === CLOSING || this._stream === null) return;
    let reason: string | Uint8Array | undefined;
    if (code !== undefined) {
      if (typeof code !== 'number' || !isValidStatusCode(code))
        throw new TypeError('First argument must be a valid error code number');
      // ws writes the code with writeUInt16BE, which drops a fraction (3004.5 goes as 3004); one that drops to
      // 1004-1006, which ws would send too, no endpoint may send (RFC 6455 §7.4.1): refused as ws refuses those.
      code = Math.trunc(code);
      if (!isValidStatusCode(code)) throw new TypeError('First argument must be a valid error code number');
      // In ws's order: a reason with a length is measured (what Buffer.byteLength cannot measure throws
      // Node's TypeError), then its size and its type are checked.
      // biome-ignore lint/complexity/useOptionalChain: a null reason throws reading its length, as in ws
      if (data !== undefined && data.length) {
        if (Buffer.byteLength(data) > 123) throw new RangeError('The message must not be greater than 123 bytes');
        if (typeof data !== 'string' && !(data instanceof Uint8Array))
          throw new TypeError('Second argument must be a string or a Uint8Array');
        // RFC 6455 §5.5.1: the reason is UTF-8 (ws sends any bytes). Refused before anything changes: the
        // WebSocket stays open, and one waiting for Blobs does not fail later. (The answer to the peer's close,
        // which may carry its own bytes with skipUTF8Validation, echoes them: _closeStream.)
        if (typeof data !== 'string' && this._stream.closeReason === undefined && !isUtf8(data))
          throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'close reason is not UTF-8');
        reason = data;
      }
    }
    this._readyState = CLOSING;
    if (this._blobs !== null) this._closeAfterBlobs = [code ?? 1005, reason];
    else this._closeStream(code ?? 1005, reason);
  }

  private _closeStream(code: number, reason: string | Uint8Array | undefined): void {
    const s = this._stream!;
    try {
      s.close({ code, reason }, noop);
    } catch (err) {
      // A reason that is not UTF-8 (the peer's, with skipUTF8Validation): once the peer's close came,
      // the stream's answer echoes its bytes.
      if (s.closeReason === undefined) throw err;
    }
    // ws writes each frame at once: what was sent before close() is handed to the socket now.
    flushQueued(s);
  }

  terminate(): void {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) return abortRequest(this, this._req, CLOSED_BEFORE_OPEN);
    if (this._stream !== null) {
      this._readyState = CLOSING;
      // ws writes each frame at once: what was sent before terminate() goes out (its callback gets
      // null), then the socket is destroyed.
      this._flushBeforeDestroy(this._stream);
      this._stream.nextLayer.destroy();
    }
  }

  /**
   * Hands what this turn queued to the socket (one write). When the socket cannot take it all at
   * once, the calls whose frames it did not reach are answered as ws's are (refuseUnwritten);
   * known on a plain TCP or pipe socket, whose handle counts the bytes it still holds (a TLS
   * socket's counts encrypted bytes: there every frame of the write gets null).
   */
  private _flushBeforeDestroy(s: WebSocketStream): void {
    const layer = s.nextLayer;
    const idle = layer.writableLength === 0;
    const queued = this._queuedBytes();
    flushQueued(s);
    if (this._callbacks === null || !idle || queued === 0 || layer.writableLength === 0) return;
    const socket = this._socket as { encrypted?: boolean; _handle?: { writeQueueSize?: unknown } } | null;
    const unwritten = socket?._handle?.writeQueueSize;
    if (socket?.encrypted !== true && typeof unwritten === 'number' && unwritten <= queued)
      this._callbacks.refuseUnwritten(queued - unwritten, queued);
  }

  pause(): void {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;
    this._paused = true;
  }

  resume(): void {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;
    if (!this._paused) return;
    this._paused = false;
    // As ws, whose resume() resumes its socket, which flows on a later tick: a message held back is
    // emitted after resume() returned, never from inside it (code after the call runs first).
    if (this._held !== null) process.nextTick(deliverHeldAfterResume, this);
    else this._readNext();
  }

  /** @internal The message held back while paused, unless paused again since (resume()). */
  _deliverHeldAfterResume(): void {
    const held = this._held;
    if (held === null || (this._paused && !this._layerClosed)) return;
    this._held = null;
    this._deliverHeld(held);
  }

  declare onopen: ((event: WebSocket.Event) => void) | null;
  declare onmessage: ((event: WebSocket.MessageEvent) => void) | null;
  declare onclose: ((event: WebSocket.CloseEvent) => void) | null;
  declare onerror: ((event: WebSocket.ErrorEvent) => void) | null;
}

function layerClosed(ws: WebSocket): void {
  ws._onLayerClosed();
}

function deliverHeldAfterResume(ws: WebSocket): void {
  ws._deliverHeldAfterResume();
}

function takeEarlyControls(ws: WebSocket): void {
  ws._takeEarlyControls();
}

function emitNextLater(ws: WebSocket): void {
  ws._emitNextLater();
}

for (const [name, value] of [
  ['CONNECTING', CONNECTING],
  ['OPEN', OPEN],
  ['CLOSING', CLOSING],
  ['CLOSED', CLOSED],
] as const) {
  Object.defineProperty(WebSocket, name, { enumerable: true, value });
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
}
for (const property of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url']) {
  Object.defineProperty(WebSocket.prototype, property, {
    ...Object.getOwnPropertyDescriptor(WebSocket.prototype, property),
    enumerable: true,
  });
}
defineEventAttributes(WebSocket.prototype);
WebSocket.prototype.addEventListener = addEventListener;
WebSocket.prototype.removeEventListener = removeEventListener;

function listOf(p: string | string[] | undefined): string[] {
  return p === undefined ? [] : Array.isArray(p) ? p : [p];
}

function isValidStatusCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

/**
 * The callback of send/ping/pong: none when falsy, as ws takes it; anything else that is not a
 * function is refused before a byte goes (ws throws from the middle of its frame write).
 */
function callbackArg(cb: unknown): SendCallback | undefined {
  if (!cb) return undefined;
  if (typeof cb === 'function') return cb as SendCallback;
  const err = new TypeError(`The "cb" argument must be of type function. Received ${shown(cb)}`);
  throw Object.assign(err, { code: 'ERR_INVALID_ARG_TYPE' });
}

/** ws's answer to send/ping/pong on a closing or closed WebSocket. */
function sendAfterClose(ws: WebSocket, data: unknown, callback: unknown): void {
  if (data) ws._bufferedAmount += byteLength(data);
  const cb = callbackArg(callback);
  if (cb) process.nextTick(cb, notOpenError(ws._readyState));
}

/**
 * The types of ws's API, as @types/ws declares them on the class (`WebSocket.RawData`,
 * `WebSocket.ServerOptions`, …): code written for ws names them so.
 */
export declare namespace WebSocket {
  /** What a 'message' listener receives: a Buffer, or as `binaryType` says for binary messages. */
  type RawData = Buffer | ArrayBuffer | Buffer[];
  /** A message as the EventTarget side gives it: text as a string. */
  type Data = string | RawData;
  /** Certificate and key data. */
  type CertMeta = ClientCertMeta;
  /** ws's client options (with every `http.request`/`https.request` option). */
  interface ClientOptions extends ClientRequestOptions {
    finishRequest?: FinishRequestCallback;
  }
  type PerMessageDeflateOptions = DeflateOptions;
  type ServerOptions<
    W extends typeof WebSocket = typeof WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = ServerOptionsOf<W, R>;
  type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> = VerifyClientSync<Request>;
  type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> = VerifyClientAsync<Request>;
  /** Called with the request instead of `req.end()`: the caller ends it. */
  type FinishRequestCallback = (request: ClientRequest, websocket: WebSocket) => void;
  /** The events of the EventTarget side (`addEventListener`, `onmessage`, …). */
  interface Event {
    type: string;
    target: WebSocket;
  }
  interface ErrorEvent extends Event {
    // biome-ignore lint/suspicious/noExplicitAny: as @types/ws types it (code written for ws reads `event.error.code`)
    error: any;
    message: string;
  }
  interface CloseEvent extends Event {
    wasClean: boolean;
    code: number;
    reason: string;
  }
  interface MessageEvent extends Event {
    data: Data;
  }
  interface WebSocketEventMap {
    open: Event;
    error: ErrorEvent;
    close: CloseEvent;
    message: MessageEvent;
  }
  interface EventListenerOptions {
    once?: boolean;
  }
  type AddressInfo = NetAddressInfo;
}

export type RawData = WebSocket.RawData;
export type Data = WebSocket.Data;

type EventListenerOf<K extends keyof WebSocket.WebSocketEventMap> =
  | ((event: WebSocket.WebSocketEventMap[K]) => void)
  | { handleEvent(event: WebSocket.WebSocketEventMap[K]): void };

type Listener<T extends unknown[]> = (this: WebSocket, ...args: T) => void;

/**
 * ws's typed events, for the methods @types/ws types them on (`prependListener` and
 * `prependOnceListener` keep EventEmitter's untyped listener, as there: a listener written against
 * that still compiles).
 */
export interface WebSocket {
  addEventListener<K extends keyof WebSocket.WebSocketEventMap>(
    type: K,
    listener: EventListenerOf<K>,
    options?: WebSocket.EventListenerOptions,
  ): void;
  removeEventListener<K extends keyof WebSocket.WebSocketEventMap>(type: K, listener: EventListenerOf<K>): void;
  on(event: 'message', listener: Listener<[data: RawData, isBinary: boolean]>): this;
  on(event: 'close', listener: Listener<[code: number, reason: Buffer]>): this;
  on(event: 'error', listener: Listener<[err: Error]>): this;
  on(event: 'open', listener: Listener<[]>): this;
  on(event: 'ping' | 'pong', listener: Listener<[data: Buffer]>): this;
  on(event: 'upgrade', listener: Listener<[res: IncomingMessage]>): this;
  on(event: 'unexpected-response', listener: Listener<[req: ClientRequest, res: IncomingMessage]>): this;
  on(event: 'redirect', listener: Listener<[url: string, req: ClientRequest]>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  on(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  once(event: 'message', listener: Listener<[data: RawData, isBinary: boolean]>): this;
  once(event: 'close', listener: Listener<[code: number, reason: Buffer]>): this;
  once(event: 'error', listener: Listener<[err: Error]>): this;
  once(event: 'open', listener: Listener<[]>): this;
  once(event: 'ping' | 'pong', listener: Listener<[data: Buffer]>): this;
  once(event: 'upgrade', listener: Listener<[res: IncomingMessage]>): this;
  once(event: 'unexpected-response', listener: Listener<[req: ClientRequest, res: IncomingMessage]>): this;
  once(event: 'redirect', listener: Listener<[url: string, req: ClientRequest]>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  once(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  off(event: 'message', listener: Listener<[data: RawData, isBinary: boolean]>): this;
  off(event: 'close', listener: Listener<[code: number, reason: Buffer]>): this;
  off(event: 'error', listener: Listener<[err: Error]>): this;
  off(event: 'open', listener: Listener<[]>): this;
  off(event: 'ping' | 'pong', listener: Listener<[data: Buffer]>): this;
  off(event: 'upgrade', listener: Listener<[res: IncomingMessage]>): this;
  off(event: 'unexpected-response', listener: Listener<[req: ClientRequest, res: IncomingMessage]>): this;
  off(event: 'redirect', listener: Listener<[url: string, req: ClientRequest]>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  off(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  addListener(event: 'message', listener: Listener<[data: RawData, isBinary: boolean]>): this;
  addListener(event: 'close', listener: Listener<[code: number, reason: Buffer]>): this;
  addListener(event: 'error', listener: Listener<[err: Error]>): this;
  addListener(event: 'open', listener: Listener<[]>): this;
  addListener(event: 'ping' | 'pong', listener: Listener<[data: Buffer]>): this;
  addListener(event: 'upgrade', listener: Listener<[res: IncomingMessage]>): this;
  addListener(event: 'unexpected-response', listener: Listener<[req: ClientRequest, res: IncomingMessage]>): this;
  addListener(event: 'redirect', listener: Listener<[url: string, req: ClientRequest]>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  addListener(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  removeListener(event: 'message', listener: Listener<[data: RawData, isBinary: boolean]>): this;
  removeListener(event: 'close', listener: Listener<[code: number, reason: Buffer]>): this;
  removeListener(event: 'error', listener: Listener<[err: Error]>): this;
  removeListener(event: 'open', listener: Listener<[]>): this;
  removeListener(event: 'ping' | 'pong', listener: Listener<[data: Buffer]>): this;
  removeListener(event: 'upgrade', listener: Listener<[res: IncomingMessage]>): this;
  removeListener(event: 'unexpected-response', listener: Listener<[req: ClientRequest, res: IncomingMessage]>): this;
  removeListener(event: 'redirect', listener: Listener<[url: string, req: ClientRequest]>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  removeListener(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
}
