/**
 * permessage-deflate on a stream: the two ordered lines that zlib's asynchronous work needs.
 * Received pieces go through the inflate line (compressed ones are inflated, bounded by
 * `readMessageMax`, and their text validated after inflating; plain ones behind them wait their
 * turn); messages to send go through the deflate line (compressed ones are deflated; plain ones and
 * the close frame behind them wait their turn). The stream delivers and frames what comes out.
 */
import { DeflateCodec } from '../codec/deflate.js';
import { WebSocketError } from '../errors.js';
import type { DeflateParams } from '../proto/deflate-params.js';
import { Utf8Validator } from '../proto/utf8.js';
import { Serial } from './serial.js';

export interface DeflateHost {
  /** A received piece, inflated if it was compressed, in order; `from`: the read it is a view of (null: its own memory). */
  deliver(data: Buffer, fin: boolean, binary: boolean, from: Buffer | null): void;
  /** Inflating failed (1009 or 1007): the connection fails with this error. */
  fail(err: WebSocketError): void;
  /** The inflate line emptied. */
  inflateIdle(): void;
}

export interface DeflateLineOptions {
  level: number;
  memLevel: number;
  /** Messages smaller than this go uncompressed when our compressor resets after each message. */
  threshold: number;
  /** Largest inflated message. */
  readMessageMax: number;
  /** Inflated text is checked for UTF-8. */
  validateUtf8: boolean;
}

export class DeflateLines {
  private readonly codec: DeflateCodec;
  private readonly inflating: Serial;
  private readonly deflating = new Serial();
  /** Inflated bytes of the message in progress. */
  private inflatedSize = 0;
  private utf8: Utf8Validator | null = null;
  /** Inflating failed: nothing more is delivered. */
  failed = false;
  /** The writeSome() message in progress is compressed. */
  writingCompressed = false;
  /** The connection closed: the decompressor goes once the inflate line is empty. */
  private closing = false;
  /**
   * Our compressor keeps its window from message to message (no `*_no_context_takeover` for our side): a message
   * it took must then reach the peer, whose inflater needs it for the next ones.
   */
  readonly contextTakeover: boolean;

  constructor(
    role: 'server' | 'client',
    params: DeflateParams,
    private readonly o: DeflateLineOptions,
    private readonly host: DeflateHost,
  ) {
    this.codec = new DeflateCodec(role, params, { level: o.level, memLevel: o.memLevel });
    this.contextTakeover = !(role === 'server' ? params.serverNoContextTakeover : params.clientNoContextTakeover);
    this.inflating = new Serial(() => this.inflateEmptied());
  }

  private inflateEmptied(): void {
    if (this.closing) this.codec.close();
    this.host.inflateIdle();
  }

  get inflateIdle(): boolean {
    return this.inflating.idle;
  }

  /** Pieces waiting to be inflated (the stream stops reading when too many do). */
  get inflateBacklog(): number {
    return this.inflating.waiting;
  }

  get deflateIdle(): boolean {
    return this.deflating.idle;
  }

  /** Takes a received piece if it must go through the inflate line (compressed, or behind one); `from`: the read it is a view of. */
  receive(data: Buffer, fin: boolean, binary: boolean, compressed: boolean, from: Buffer | null): boolean {
    if (!compressed && this.inflating.idle) return false;
    this.inflating.run((next) => this.inflate(data, fin, binary, compressed, from, next));
    return true;
  }

  /** Runs `fn` once the pieces received before it are inflated and delivered (not after a failure). */
  afterInflating(fn: () => void): void {
    this.inflating.run((next) => {
      try {
        if (!this.failed) fn();
      } finally {
        next();
      }
    });
  }

  private inflate(
    data: Buffer,
    fin: boolean,
    binary: boolean,
    compressed: boolean,
    from: Buffer | null,
    next: () => void,
  ): void {
    if (this.failed) return next();
    if (!compressed) {
      this.host.deliver(data, fin, binary, from);
      return next();
    }
    this.codec.decompress(data, fin, this.inflatedSize, this.o.readMessageMax, (err, out) => {
      if (err === null && !binary && this.o.validateUtf8) {
        const v = (this.utf8 ??= new Utf8Validator());
        if (!v.write(out!) || (fin && !v.end()))
          err = new WebSocketError('ERR_WS_BAD_FRAME_PAYLOAD', 'inflated text is not UTF-8');
      }
      if (err !== null) {
        this.failed = true;
        this.host.fail(err);
      } else {
        this.inflatedSize = fin ? 0 : this.inflatedSize + out!.length;
        if (out!.length > 0 || fin) this.host.deliver(out!, fin, binary, null);
      }
      next();
    });
  }

  /**
   * Whether a whole message of `size` bytes is compressed, unless the writer said no: every one
   * while our compressor keeps its window (a short message then costs a few bytes, referring to
   * earlier ones), else those at or above the threshold (as `ws` does). Some peers mishandle an
   * uncompressed message once permessage-deflate is agreed (libwebsockets' client, up to at least
   * 4.3, delivers it again and again: warmcat/libwebsockets#2794), so the common case sends none.
   */
  shouldCompress(size: number, compress: boolean | undefined): boolean {
    return compress !== false && (this.contextTakeover || size >= this.o.threshold);
  }

  /**
   * Sends `payload` in its turn: compressed first when `compress` (`fin` ends the message), then
   * handed to `emit` with whether it was compressed; `onError` if compressing failed.
   */
  send(
    payload: Buffer,
    fin: boolean,
    compress: boolean,
    emit: (body: Buffer, compressed: boolean) => void,
    onError: (err: WebSocketError) => void,
    withdrawn?: () => boolean,
  ): void {
    this.deflating.run((next) => {
      // Withdrawn before its turn: the compressor never sees it, so the peer's context stays as ours.
      if (withdrawn?.() === true) return next();
      if (!compress) {
        emit(payload, false);
        return next();
      }
      this.codec.compress(payload, fin, (err, out) => {
        if (err) onError(err);
        else emit(out!, true);
        next();
      });
    });
  }

  /** Runs `fn` once the messages before it are compressed and queued (the close frame). */
  after(fn: () => void): void {
    if (this.deflating.idle) fn();
    else
      this.deflating.run((next) => {
        fn();
        next();
      });
  }

  /**
   * The connection closed: nothing more can be sent, so messages still compressing fail; pieces
   * already received were whole in hand and still inflate and are delivered, in order (the
   * decompressor goes when that line is empty).
   */
  close(): void {
    this.closing = true;
    if (this.inflating.idle) this.codec.close();
    else this.codec.closeCompressor();
  }
}
