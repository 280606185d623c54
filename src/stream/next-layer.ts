/**
 * The next layer: what a WebSocketStream reads from and writes to. Any Node Duplex (net.Socket,
 * tls.TLSSocket, a PassThrough pair, an HTTP/2 stream) is adapted by `DuplexLayer`; a custom
 * transport implements `NextLayer` directly.
 */
import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';

/** Where a next layer delivers what it reads. */
export interface LayerSink {
  onData(chunk: Buffer): void;
  /** The peer ended its side (TCP FIN, TLS close_notify, end of stream). */
  onEnd(): void;
  onError(err: Error): void;
  /** The layer is closed and released; called once, last. */
  onClose(): void;
}

/** The interface a custom next layer implements. */
export interface NextLayer {
  /** Starts delivering to `sink` (data read before this is delivered first). Called once. */
  attach(sink: LayerSink): void;
  /** Stops delivering to the sink without closing anything (the layer stays usable by its owner). */
  detach(): void;
  /** Writes the buffers in order, as one batch where the layer can; `cb` once all are handed on (or failed). */
  write(chunks: Buffer[], cb: (err?: Error | null) => void): void;
  /** Stop and restart reading (backpressure towards the peer). */
  pause(): void;
  resume(): void;
  /** Ends our sending side once queued writes are out (TCP FIN / TLS close_notify). */
  end(): void;
  /** Releases the layer at once. */
  destroy(err?: Error): void;
  /** Bytes written but not yet handed to the operating system. */
  readonly writableLength: number;
  /** Whether the layer is closed. */
  readonly destroyed: boolean;
}

/** Whether `x` looks like a Node Duplex stream. */
function isDuplex(x: unknown): x is Duplex {
  const d = x as Duplex;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.on === 'function' &&
    typeof d.write === 'function' &&
    typeof d.pause === 'function' &&
    typeof d.resume === 'function' &&
    typeof d.destroy === 'function'
  );
}

function isNextLayer(x: unknown): x is NextLayer {
  const l = x as NextLayer;
  return typeof l === 'object' && l !== null && typeof l.attach === 'function' && typeof l.write === 'function';
}

/** What DuplexLayer uses of an Http2Stream (node:http2 does not export the class). */
interface ResettableStream {
  /** Sends RST_STREAM with `code`, then destroys the stream. */
  close(code: number): void;
  readonly closed: boolean;
  readonly rstCode: number | undefined;
  /** The stream was closed (RST_STREAM, either way) while its writable side was open. */
  readonly aborted: boolean;
  readonly session: { readonly destroyed: boolean } | undefined;
}
/** RFC 9113 §7 NO_ERROR and CANCEL (http2.constants'), without importing node:http2 for two numbers. */
const NGHTTP2_NO_ERROR = 0x0;
const NGHTTP2_CANCEL = 0x8;

/**
 * What a socket destroyed by us with writes still buffered in it fails them with: the error node's Writable
 * gives them otherwise (ERR_STREAM_DESTROYED), but one for all. Without an error of its own, node makes a
 * new Error per buffered write (~7 µs each): a subscriber backed up with 30,000 frames cost 200 ms, and
 * a server closing 2,000 of them stalled for minutes. Its 'error' event is ours, not a failure (see discardsQuietly).
 */
const DISCARDED_WRITES: Error = Object.assign(new Error('Cannot call write after a stream was destroyed'), {
  code: 'ERR_STREAM_DESTROYED',
});

/**
 * Whether `d` may be destroyed with DISCARDED_WRITES: a socket whose 'error' and 'close' only we hear. Anyone
 * else listening (`once(socket, 'close')`, `finished()`, an app's `socket.on('close', (hadError) => …)` on ws's
 * `_socket`) would see an error where node's destroy() gives none.
 */
function discardsQuietly(d: Duplex): boolean {
  return (
    d instanceof Socket &&
    d.listeners('error').every((l) => l === onDuplexError || l === ignoreError) &&
    d.listeners('close').every((l) => l === onDuplexClose)
  );
}

function isResettable(d: Duplex): d is Duplex & ResettableStream {
  const r = d as Duplex & Partial<ResettableStream>;
  return typeof r.close === 'function' && 'rstCode' in r;
}

const kLayer = Symbol('ws-stream.layer');
/**
 * A layer let go of the duplex half-open (`handOver`): the next one to attach restores node's default when it
 * detaches. The value is what the duplex had written then (`bytesWritten`), to tell an answer written by hand.
 */
const kHalfOpenHeld = Symbol('ws-stream.halfOpenHeld');
type Tagged = Duplex & { [kLayer]?: DuplexLayer; [kHalfOpenHeld]?: number };

/** What a net.Socket (or tls.TLSSocket) has written so far; 0 for another Duplex. */
function bytesWrittenOf(d: Duplex): number {
  const n = (d as { bytesWritten?: unknown }).bytesWritten;
  return typeof n === 'number' ? n : 0;
}

// Listeners shared by every connection (`this` is the duplex): no closures per connection.
function onDuplexData(this: Tagged, chunk: Buffer | string): void {
  this[kLayer]?.sink?.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
}
function onDuplexEnd(this: Tagged): void {
  const layer = this[kLayer];
  if (!layer) return;
  layer.readEnded = true;
  layer.sink?.onEnd();
  layer.releaseIfDone();
}
function onDuplexFinish(this: Tagged): void {
  const layer = this[kLayer];
  if (!layer) return;
  layer.finished = true;
  layer.releaseIfDone();
}
/**
 * An HTTP/2 stream's 'end': node emits it for the peer's END_STREAM and for its RST_STREAM alike, and
 * makes the reset known ('aborted', `rstCode`, 'close') only after, within the same read of the
 * connection. The end is told on the next turn of the event loop, or at 'close' if that comes first,
 * as an end or as the reset it was.
 */
function onH2StreamEnd(this: Tagged): void {
  const layer = this[kLayer];
  if (!layer || layer.h2End !== H2End.None) return;
  layer.h2End = H2End.Pending;
  setImmediate(settleH2End, layer);
}
function settleH2End(layer: DuplexLayer): void {
  if (layer.h2End !== H2End.Pending) return;
  layer.h2End = H2End.Told;
  if (layer.resetByPeer()) layer.reportReset();
  else if (!layer.failed) onDuplexEnd.call(layer.duplex as Tagged); // (node's 'error' told the reset already)
}
function onDuplexError(this: Tagged, err: Error): void {
  const layer = this[kLayer];
  if (!layer || err === DISCARDED_WRITES) return;
  layer.failed = true;
  layer.sink?.onError(err);
}
function onDuplexClose(this: Tagged): void {
  const layer = this[kLayer];
  if (!layer || layer.closed) return;
  if (layer.h2End === H2End.Pending) settleH2End(layer);
  // A reset that ended no reading side ('end' waits for a reader that paused): node destroyed the stream at once.
  else if (layer.h2End === H2End.None && layer.resetByPeer()) layer.reportReset();
  layer.closed = true;
  layer.sink?.onClose();
}
function ignoreError(): void {}
/**
 * The peer's FIN on a duplex held half-open with no layer attached. Once its owner wrote to it by hand (an
 * HTTP answer to a request that readRequest read), no layer comes: node's default applies again, and node
 * ends our side after this 'end' as it would have (else the socket stayed half-open for good).
 */
function onHeldEnd(this: Tagged): void {
  const held = this[kHalfOpenHeld];
  if (held === undefined || this[kLayer] !== undefined || bytesWrittenOf(this) === held) return;
  this[kHalfOpenHeld] = undefined;
  this.allowHalfOpen = false;
}

/** Where an HTTP/2 stream's 'end' is: not come, come and not told yet (a reset may follow), told. */
const enum H2End {
  None,
  Pending,
  Told,
}

/** Where `h2End` sits in DuplexLayer's `bits`: its two bits above the flags. */
const h2EndShift = 8;
/** DuplexLayer's flags (its `bits`). */
const enum Bit {
  Closed = 1,
  ReadEnded = 2,
  Finished = 4,
  Failed = 8,
  Ended = 16,
  HalfOpenSet = 32,
  Destroying = 64,
  PlainSocket = 128,
  H2EndMask = 3 << 8,
  CloseWatched = 1 << 10,
}

/**
 * The watches of `watchClose` by owner, until the duplex closes or their owner attaches (a rare wait: no field per
 * layer). One per owner: a layer given to two streams (`new WebSocketStream(layer)` twice) tells each of them.
 */
const closeWatches = new WeakMap<DuplexLayer, Map<LayerSink, () => void>>();

/** Adapts a Duplex to the NextLayer interface. */
export class DuplexLayer implements NextLayer {
  /** @internal */ sink: LayerSink | null = null;
  /** The booleans below and `h2End`, as bits of one field (`Bit`): one word per idle connection, not eight. */
  private bits = 0;
  /** The HTTP/2 stream's session, kept: node clears `stream.session` when it destroys the stream. */
  private readonly h2Session: ResettableStream['session'];

  constructor(readonly duplex: Duplex) {
    const plainSocket =
      duplex instanceof Socket &&
      (duplex as { encrypted?: boolean }).encrypted !== true &&
      this.write === DuplexLayer.prototype.write;
    if (plainSocket) this.bits = Bit.PlainSocket;
    this.h2Session = isResettable(duplex) ? duplex.session : undefined;
  }

  private flag(bit: Bit, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit;
  }

  /** @internal */ get closed(): boolean {
    return (this.bits & Bit.Closed) !== 0;
  }
  set closed(on: boolean) {
    this.flag(Bit.Closed, on);
  }
  /** @internal The peer ended its side ('end'). */ get readEnded(): boolean {
    return (this.bits & Bit.ReadEnded) !== 0;
  }
  set readEnded(on: boolean) {
    this.flag(Bit.ReadEnded, on);
  }
  /** @internal Our end() is done ('finish'). */ get finished(): boolean {
    return (this.bits & Bit.Finished) !== 0;
  }
  set finished(on: boolean) {
    this.flag(Bit.Finished, on);
  }
  /** @internal The duplex emitted 'error'. */ get failed(): boolean {
    return (this.bits & Bit.Failed) !== 0;
  }
  set failed(on: boolean) {
    this.flag(Bit.Failed, on);
  }
  /** @internal Over HTTP/2: where the stream's 'end' is. */ get h2End(): H2End {
    return ((this.bits & Bit.H2EndMask) >> h2EndShift) as H2End;
  }
  set h2End(end: H2End) {
    this.bits = (this.bits & ~Bit.H2EndMask) | (end << h2EndShift);
  }
  private get ended(): boolean {
    return (this.bits & Bit.Ended) !== 0;
  }
  private set ended(on: boolean) {
    this.flag(Bit.Ended, on);
  }
  /** attach() made the duplex half-open (detach() restores it). */
  private get halfOpenSet(): boolean {
    return (this.bits & Bit.HalfOpenSet) !== 0;
  }
  private set halfOpenSet(on: boolean) {
    this.flag(Bit.HalfOpenSet, on);
  }
  /** We destroyed the duplex: a reset then is ours, not the peer's. */
  private get destroying(): boolean {
    return (this.bits & Bit.Destroying) !== 0;
  }
  private set destroying(on: boolean) {
    this.flag(Bit.Destroying, on);
  }
  /** The duplex is a net.Socket without TLS, and `write` is this class's own (a subclass may watch writes). */
  private get plainSocket(): boolean {
    return (this.bits & Bit.PlainSocket) !== 0;
  }

  attach(sink: LayerSink): void {
    if ((this.bits & Bit.CloseWatched) !== 0) this.unwatchClose(sink);
    this.sink = sink;
    const d = this.duplex as Tagged;
    d[kLayer] = this;
    d.on('data', onDuplexData);
    const onEnd = this.h2Session !== undefined ? onH2StreamEnd : onDuplexEnd;
    d.on('end', onEnd);
    d.on('error', onDuplexError);
    d.on('close', onDuplexClose);
    // The stream ends our side itself once its close frame is out (`#layerEnd`): a duplex that node
    // would end at the peer's FIN (net.Socket's default) could not send the answer to a close that
    // came with that FIN behind a message still compressing, nor the echo of that message.
    if (d[kHalfOpenHeld] !== undefined) {
      d[kHalfOpenHeld] = undefined;
      d.off('end', onHeldEnd);
      this.halfOpenSet = true;
    } else if (d.allowHalfOpen === false) {
      d.allowHalfOpen = true;
      this.halfOpenSet = true;
    }
    d.resume();
    if (d.destroyed) queueMicrotask(() => onDuplexClose.call(d));
    // The peer's FIN came while no layer listened (between readRequest and accept): told now, after
    // what the caller does in this call (accept's `head`, whose bytes came before it).
    else if (d.readableEnded) queueMicrotask(() => onEnd.call(d));
  }

  detach(): void {
    this.release(false);
  }

  /**
   * @internal Calls `onClose` once the duplex closes or the peer ends its side ('end': a socket held half-open, as
   * node:http's 'upgrade' hands one over, does not close at the peer's FIN), on a microtask if it has already, unless
   * `owner` is attached first (the layer's own events tell it then): `whenClosed()` before any handshake, when
   * nothing of the stream listens. Another sink attached meanwhile (readRequest or rejectUpgrade given this layer)
   * leaves it be. (A FIN behind bytes nobody read yet comes as 'end' only once they are read.) A failure of the
   * duplex ('error': a reset) is its close too: nothing else of the stream listens yet, and an 'error' event
   * nobody hears would end the process.
   */
  watchClose(owner: LayerSink, onClose: () => void): void {
    let watches = (this.bits & Bit.CloseWatched) !== 0 ? closeWatches.get(this)! : undefined;
    if (watches?.has(owner)) return;
    const d = this.duplex;
    if (d.destroyed || d.readableEnded) {
      queueMicrotask(onClose);
      return;
    }
    const listener = (): void => {
      this.unwatchClose(owner);
      onClose();
    };
    if (watches === undefined) {
      watches = new Map();
      closeWatches.set(this, watches);
      this.flag(Bit.CloseWatched, true);
    }
    watches.set(owner, listener);
    d.once('end', listener);
    d.once('close', listener);
    d.once('error', listener);
  }

  /** Ends the watch of `owner`, if it holds one. */
  private unwatchClose(owner: LayerSink): void {
    const watches = closeWatches.get(this);
    const listener = watches?.get(owner);
    if (listener === undefined) return;
    watches!.delete(owner);
    if (watches!.size === 0) {
      this.flag(Bit.CloseWatched, false);
      closeWatches.delete(this);
    }
    this.duplex.off('end', listener);
    this.duplex.off('close', listener);
    this.duplex.off('error', listener);
  }

  /**
   * @internal Detaches, leaving the duplex half-open for the next layer attached to it: `readRequest` hands
   * the socket on so, so that a FIN that came with the request (behind a close frame, say) does not make node
   * end our side before `accept` or `rejectUpgrade` can answer. The next layer's detach restores node's default.
   */
  handOver(): void {
    this.release(true);
  }

  private release(keepHalfOpen: boolean): void {
    const d = this.duplex as Tagged;
    d.pause();
    d.off('data', onDuplexData);
    d.off('end', onDuplexEnd);
    d.off('end', onH2StreamEnd);
    d.off('error', onDuplexError);
    d.off('close', onDuplexClose);
    d.off('finish', onDuplexFinish);
    d[kLayer] = undefined;
    if (this.halfOpenSet) {
      if (keepHalfOpen) {
        d[kHalfOpenHeld] = bytesWrittenOf(d);
        d.on('end', onHeldEnd);
      } else {
        d.allowHalfOpen = false;
      }
      this.halfOpenSet = false;
    }
    // Until its owner listens again, an error must not crash the process as an unhandled event.
    if (d.listenerCount('error') === 0) d.once('error', ignoreError);
    this.sink = null;
  }

  /**
   * @internal Whether `writeUnwaited` may be used now: a plain TCP socket (its write of no bytes, which the
   * stream may queue behind, is harmless), open, with nothing of ours still buffered in it.
   */
  canWriteUnwaited(): boolean {
    const d = this.duplex;
    return this.plainSocket && d.writableLength === 0 && !d.destroyed && d.writable;
  }

  /**
   * @internal Writes `chunk` without a callback, so that Node schedules nothing when the OS takes it at once.
   * True when the socket buffers nothing after it: the OS took it, or the write failed within the call (a reset
   * the socket had not read yet, which node reports a tick later: the stream asks the socket, `errored`). False
   * when the chunk is still buffered in the socket (the caller then learns when it is out by writing nothing
   * with a callback: callbacks come in order).
   */
  writeUnwaited(chunk: Buffer): boolean {
    this.duplex.write(chunk);
    return this.duplex.writableLength === 0;
  }

  write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    const d = this.duplex;
    if (d.destroyed || !d.writable) {
      queueMicrotask(() => cb(new Error('write after the next layer was closed')));
      return;
    }
    if (chunks.length === 1) {
      d.write(chunks[0], cb);
      return;
    }
    d.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) d.write(chunks[i]);
    d.write(chunks[last], cb);
    d.uncork();
  }

  pause(): void {
    this.duplex.pause();
  }

  resume(): void {
    this.duplex.resume();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.duplex.destroyed) return;
    this.duplex.once('finish', onDuplexFinish);
    this.duplex.end();
  }

  /**
   * @internal Both sides are done: releases the duplex, as Node's own streams do themselves (autoDestroy). One that
   * does not (duplexify's, over a PassThrough pair, as fastify's injectWS makes) would otherwise never emit 'close'.
   */
  releaseIfDone(): void {
    if (this.readEnded && this.finished && !this.duplex.destroyed) this.duplex.destroy();
  }

  destroy(err?: Error): void {
    const d = this.duplex;
    this.destroying = true;
    // RFC 8441 §5: over HTTP/2, TCP's RST is RST_STREAM with CANCEL; node's destroy() of an open
    // stream resets it with NO_ERROR, which tells the peer its request was answered (RFC 9113 §8.1).
    if (isResettable(d) && !d.closed && !d.destroyed) d.close(NGHTTP2_CANCEL);
    d.destroy(err ?? (d.writableLength > 0 && discardsQuietly(d) ? DISCARDED_WRITES : undefined));
  }

  /**
   * @internal Whether the peer reset this HTTP/2 stream (RST_STREAM, RFC 8441 §5's TCP RST): closed while our
   * side was open, or with an error code after we ended it. Not when we closed it, nor when the whole session
   * went (its end is the stream's end, as connect() reports it: ERR_WS_EOF).
   */
  resetByPeer(): boolean {
    const d = this.duplex;
    if (!isResettable(d) || this.destroying || this.failed || this.h2Session?.destroyed !== false) return false;
    return d.closed && (d.aborted || (d.rstCode !== undefined && d.rstCode !== NGHTTP2_NO_ERROR));
  }

  /**
   * @internal Tells the sink of the peer's reset as a failure of the layer, as a TCP reset is told (ECONNRESET).
   * Node reports codes other than NO_ERROR and CANCEL itself ('error', ERR_HTTP2_STREAM_ERROR); these two get
   * an error of the same code here.
   */
  reportReset(): void {
    const rstCode = (this.duplex as Duplex & ResettableStream).rstCode ?? NGHTTP2_CANCEL;
    const name =
      rstCode === NGHTTP2_NO_ERROR ? 'NGHTTP2_NO_ERROR' : rstCode === NGHTTP2_CANCEL ? 'NGHTTP2_CANCEL' : rstCode;
    const err = Object.assign(new Error(`Stream closed with error code ${name}`), {
      code: 'ERR_HTTP2_STREAM_ERROR',
    });
    this.failed = true;
    this.sink?.onError(err);
  }

  get writableLength(): number {
    return this.duplex.writableLength;
  }

  get destroyed(): boolean {
    return this.duplex.destroyed;
  }
}

/** The next layer for `x`: a NextLayer as it is, a Duplex adapted. */
export function toNextLayer(x: Duplex | NextLayer): NextLayer {
  if (isNextLayer(x)) return x;
  if (isDuplex(x)) return new DuplexLayer(x);
  throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'the next layer must be a Duplex stream or implement NextLayer');
}

/**
 * Attaches `sink` to `layer`. A custom layer destroyed before it told its close to no sink (DuplexLayer tells a
 * destroyed Duplex's to the sink it attaches): `sink` hears it on a microtask, so whoever waits on it (a handshake,
 * `readRequest`) ends at once rather than at its deadline, or never without one.
 */
export function attachSink(layer: NextLayer, sink: LayerSink): void {
  layer.attach(sink);
  if (!(layer instanceof DuplexLayer) && layer.destroyed) queueMicrotask(() => sink.onClose());
}

/**
 * Whether `err` is node's TLS refusing the server's certificate (self-signed, an unknown CA, another
 * name, expired): no retry can mend it. The code is on the error itself or on its `cause` (connect()'s
 * ERR_WS_NEXT_LAYER, a broker client's wrapper). Here, with the next layers, as the one TLS helper
 * the CLI and the brokers share.
 */
export function untrustedCertificate(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_(GET|VERIFY)/.test(code)) return true;
  }
  return false;
}
